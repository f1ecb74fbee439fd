"""The ``webduo`` command: thin — it turns flags into :class:`Settings` and hands over.

Engines, aiohttp and locust are imported inside the commands that need them, so
``webduo --help`` stays fast and a sync server never loads the async stack.
"""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal


# Typer's rich-rendered help imports ~0.2 s of rich on every --help; plain help starts in ~0.15 s.
os.environ.setdefault("TYPER_USE_RICH", "0")

import typer

from webduo import __version__
from webduo.bench.scenarios import MIN_DURATION_S, RAMP_UP_SECONDS, ScenarioName
from webduo.settings_help import FLAG_HELP


if TYPE_CHECKING:
    from webduo.settings import Settings

# Repeated from Settings on purpose: importing pydantic-settings here would triple --help's start-up time.
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


app = typer.Typer(
    name="webduo",
    help="One route table, two HTTP servers: sync (raw sockets) and async (aiohttp).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Mode(str, enum.Enum):
    sync = "sync"
    async_ = "async"
    both = "both"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"webduo {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """webduo: the same routes on a synchronous socket server and on aiohttp."""


def load_settings(**overrides: Any) -> Settings:
    """Defaults < ``WEBDUO_*`` env / ``.env`` < the flags given (``None`` means not given)."""
    from pydantic import ValidationError

    from webduo.settings import Settings, settings_problems

    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        for problem in settings_problems(exc):
            typer.secho(f"error: {problem}", fg="red", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    mode: Annotated[
        Mode, typer.Option(help="Which engine to run; 'both' runs each in its own process, and stops both if one ends.")
    ] = Mode.sync,
    host: Annotated[str | None, typer.Option(help=FLAG_HELP["--host"])] = None,
    port: Annotated[int | None, typer.Option(help=FLAG_HELP["--port"])] = None,
    log_level: Annotated[
        str | None, typer.Option(metavar="<DEBUG|INFO|WARNING|ERROR>", help=FLAG_HELP["--log-level"])
    ] = None,
    workers: Annotated[int | None, typer.Option(help=FLAG_HELP["--workers"])] = None,
    threads: Annotated[int | None, typer.Option(help=FLAG_HELP["--threads"])] = None,
    weather_url: Annotated[str | None, typer.Option(help=FLAG_HELP["--weather-url"])] = None,
    loop: Annotated[str | None, typer.Option(metavar="<auto|asyncio|uvloop>", help=FLAG_HELP["--loop"])] = None,
) -> None:
    """Run a server in the foreground until Ctrl-C or SIGTERM.

    Exit code 0 after a stop signal; 1 when an engine could not start (its port is taken, say),
    or, with --mode both, when one ended by itself.
    """
    from webduo.engines.prefork import record_stop_signals

    # From here on a stop signal is kept, not fatal: settings and the engine take ~1 s to import.
    early_signals = record_stop_signals()
    if mode is Mode.both and port is not None:
        typer.secho("error: --port needs --mode sync or async; both use their own ports", fg="red", err=True)
        raise typer.Exit(2)
    port_field = "async_port" if mode is Mode.async_ else "sync_port"
    # Checked here in every mode, so a bad value is reported once, before any engine starts.
    settings = load_settings(
        host=host,
        log_level=log_level,
        workers=workers,
        threads=threads,
        weather_url=weather_url,
        loop=loop,
        **{port_field: port},
    )
    if mode is Mode.both:
        from webduo.engines.both import serve as serve_both

        serve_both(settings, early_signals)
        return
    from webduo.engines.errors import StartupError

    if mode is Mode.sync:
        from webduo.engines.sync.server import serve as serve_engine
    else:
        from webduo.engines.aio.server import serve as serve_engine
    try:
        serve_engine(settings)
    except StartupError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None


class UnitSystem(str, enum.Enum):
    metric = "metric"
    imperial = "imperial"


@app.command()
def weather(
    lat: Annotated[float | None, typer.Option(help="Latitude in degrees, -90..90 (north positive).")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude in degrees, -180..180 (east positive).")] = None,
    city: Annotated[str | None, typer.Option(help="A place name, looked up with Open-Meteo geocoding.")] = None,
    country: Annotated[str | None, typer.Option(help="ISO country code narrowing --city, e.g. DE.")] = None,
    units: Annotated[UnitSystem, typer.Option(help="Unit system.")] = UnitSystem.metric,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of a table.")] = False,
    weather_url: Annotated[str | None, typer.Option(help=FLAG_HELP["--weather-url"])] = None,
    geocoding_url: Annotated[str | None, typer.Option(help=FLAG_HELP["--geocoding-url"])] = None,
) -> None:
    """Show the current weather at coordinates or a named place.

    Data by Open-Meteo.com. Exit code 1 when no place (or more than one) matches, or Open-Meteo
    fails; 2 for bad arguments, before any request.
    """
    from rich.console import Console

    from webduo.core.weather.command import CommandError, fetch_report
    from webduo.weather_table import report_table

    settings = load_settings(weather_url=weather_url, geocoding_url=geocoding_url)
    try:
        report = fetch_report(settings, lat=lat, lon=lon, city=city, country=country, units=units.value)
    except CommandError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(exc.exit_code) from None
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        Console().print(report_table(report))


@app.command()
def openapi(
    out: Annotated[Path | None, typer.Option(help="Write the document to this file instead of stdout.")] = None,
) -> None:
    """Print the OpenAPI 3.1 document that both engines serve.

    The same bytes as GET /openapi.json on either engine. Exit code 2 when --out cannot be written.
    """
    from webduo.core.routes import contract

    document = contract(load_settings().custom_header_name)
    if out is None:
        sys.stdout.buffer.write(document)
        sys.stdout.flush()
        return
    try:
        out.write_bytes(document)
    except OSError as exc:  # no such directory, a directory, no permission: one line, not a traceback
        typer.secho(f"error: cannot write {out}: {exc.strerror or exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def _measurable(duration: int) -> int:
    """Refuse a run too short to keep a steady second: its report would present noise as figures."""
    if duration < MIN_DURATION_S:
        raise typer.BadParameter(
            f"{duration} s is too short to measure anything: the first {RAMP_UP_SECONDS} s ramp up and the last"
            f" is cut short; give at least {MIN_DURATION_S}."
        )
    return duration


# Flags that shape the servers the bench starts: with --target it starts none, so they would be ignored.
SERVER_FLAGS = {
    "mode": "--mode",
    "workers": "--workers",
    "threads": "--threads",
    "server_log_level": "--server-log-level",
    "weather_url": "--weather-url",
}


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the user typed option ``name``, as opposed to leaving its default."""
    # By name: typer bundles its own copy of click, whose ParameterSource is private to it.
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _check_bench_flags(ctx: typer.Context, target: str | None, weather_url: str | None) -> None:
    """Exit 2 on a URL the bench must not load, or on server flags given with ``--target``."""
    from webduo.bench.urls import ON_LOOPBACK, on_loopback, target_problem

    problems = []
    if weather_url is not None and not on_loopback(weather_url):
        problems.append(f"--weather-url {ON_LOOPBACK}")
    if target is not None:
        problem = target_problem(target)
        if problem is not None:
            problems.append(f"--target {problem}")
        given = [flag for name, flag in SERVER_FLAGS.items() if _given(ctx, name)]
        if given:
            problems.append(f"{', '.join(given)} set up the servers the bench starts; with --target it starts none")
    for problem in problems:
        typer.secho(f"error: {problem}", fg="red", err=True)
    if problems:
        raise typer.Exit(2)


@app.command()
def bench(
    ctx: typer.Context,
    scenario: Annotated[
        list[ScenarioName] | None,
        typer.Option(
            help="What load to run; repeat for several. io-sweep grows the users 1, 4, 16, ... [default mixed]"
        ),
    ] = None,
    mode: Annotated[Mode, typer.Option(help="Which servers to compare; each gets the identical profile.")] = Mode.both,
    users: Annotated[int, typer.Option(min=1, max=512, help="Concurrent locust users (the sweep's top level).")] = 16,
    spawn_rate: Annotated[
        float | None, typer.Option(min=0.1, max=512, help="Users started per second. [default: all in 1 s]")
    ] = None,
    duration: Annotated[
        int,
        typer.Option(
            max=300,
            callback=_measurable,
            help=f"Seconds per run (per server, per user level); at least {MIN_DURATION_S}, as the first"
            f" {RAMP_UP_SECONDS} s ramp up and are left out of the figures.",
        ),
    ] = 20,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Sync server: worker processes.")] = 2,
    threads: Annotated[int, typer.Option(min=1, max=64, help="Sync server: threads per worker.")] = 4,
    io_delay_ms: Annotated[int, typer.Option(min=0, max=10_000, help="delay_ms of each /io_task.")] = 100,
    cpu_n: Annotated[int, typer.Option(min=0, max=2_000_000, help="n of each /cpu_task.")] = 100_000,
    server_log_level: Annotated[
        LogLevel,
        typer.Option(case_sensitive=False, help="Servers' log level; INFO logs every request, which costs throughput."),
    ] = "WARNING",
    weather_url: Annotated[
        str | None,
        typer.Option(
            help="A loopback Open-Meteo forecast endpoint for the servers to call. [default: a stand-in the bench"
            " starts]"
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="Load a webduo deployment already running at this loopback base URL (a fleet behind nginx,"
            " say) instead of starting servers.",
        ),
    ] = None,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Locust processes generating the load; more than 1 forks locust, so that on a larger machine"
            " the load generator is not the bottleneck.",
        ),
    ] = 1,
    weather: Annotated[
        bool | None,
        typer.Option(
            "--weather/--no-weather",
            help="Load /weather. [default: yes against the bench's own servers, which call the stand-in; no with"
            " --target, whose upstream may be the real Open-Meteo]",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Directory for the reports, plots and raw locust files.")] = Path(
        "bench-results"
    ),
) -> None:
    """Load the servers with locust and write a report with plots.

    It starts each server it compares on 127.0.0.1, or loads a deployment already running on
    loopback (--target); the report is Markdown, the plots PNG.
    Every server and locust process started is stopped on exit, Ctrl-C included.

    \b
    Exit codes:
      0    every request answered as expected
      1    a request failed (on an endpoint other than /error_task)
      2    bad usage: a flag's value, or an --out that cannot be written
      3    could not run or measure: a server, locust or the stand-in failed,
           the target did not answer, a run completed no request, the bench
           extra is missing, or the results could not be written
      130  interrupted (Ctrl-C or SIGTERM)
    """
    import importlib.util

    from webduo.bench.paths import output_problem

    _check_bench_flags(ctx, target, weather_url)
    problem = output_problem(out)
    if problem is not None:
        typer.secho(f"error: --out: {problem}", fg="red", err=True)
        raise typer.Exit(2)
    missing = [name for name in ("locust", "matplotlib") if importlib.util.find_spec(name) is None]
    if missing:
        typer.secho(
            f"error: webduo bench needs {' and '.join(missing)}: pip install 'webduo[bench]'", fg="red", err=True
        )
        raise typer.Exit(3)

    from rich.console import Console

    from webduo.bench.runner import BenchFailed, BenchOptions, run_bench
    from webduo.bench.scenarios import SCENARIOS

    engines: tuple[Literal["sync", "async"], ...] = ("sync", "async") if mode is Mode.both else (mode.value,)
    options = BenchOptions(
        scenarios=tuple(SCENARIOS[name] for name in dict.fromkeys(scenario or [ScenarioName.mixed])),
        engines=engines,
        users=users,
        spawn_rate=spawn_rate,
        duration_s=duration,
        workers=workers,
        threads=threads,
        out=out,
        io_delay_ms=io_delay_ms,
        cpu_n=cpu_n,
        server_log_level=server_log_level,
        weather_url=weather_url,
        target=target,
        processes=processes,
        weather=weather,
    )
    console = Console()
    try:
        results = run_bench(options, console)
    except BenchFailed as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(3) from None
    except OSError as exc:  # disk full, directory removed meanwhile: the results are incomplete
        typer.secho(f"error: cannot write the results: {exc}", fg="red", err=True)
        raise typer.Exit(3) from None
    except KeyboardInterrupt:
        typer.secho("interrupted: every server and locust process was stopped", fg="yellow", err=True)
        raise typer.Exit(130) from None
    failed = [
        f"{run.server.label} ({run.users} users): {entry.label} failed {entry.failures} times"
        for result in results
        for run in result.runs
        for entry in run.failed_endpoints()
    ]
    for line in failed:
        typer.secho(f"failure: {line}", fg="red", err=True)
    raise typer.Exit(1 if failed else 0)


def main() -> None:
    app()
