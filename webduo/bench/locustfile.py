"""The locust users ``webduo bench`` runs; also loadable by hand with ``locust -f bench/locustfile.py``.

Loaded only by a locust process (gevent monkey-patches whatever imports locust), never by a
server or the CLI. A scenario is a set of these user classes, named on locust's command line.
Every user loops without think time (a closed loop), so throughput is users / latency and the
I/O ideal is exactly ``users / delay``.
"""

from __future__ import annotations

import os
from typing import Any, Final

from locust import FastHttpUser, constant, constant_throughput, events, task
from locust.env import Environment


IO_DELAY_MS: Final = int(os.environ.get("WEBDUO_BENCH_IO_DELAY_MS", "100"))
CPU_N: Final = int(os.environ.get("WEBDUO_BENCH_CPU_N", "100000"))
# Set by `webduo bench` when /weather is loaded: its servers call a stand-in, or --weather at a target.
WEATHER: Final = os.environ.get("WEBDUO_BENCH_WEATHER") == "1"
WEATHER_QUERY: Final = os.environ.get("WEBDUO_BENCH_WEATHER_QUERY", "lat=52.52&lon=13.41")


@events.init.add_listener  # type: ignore[untyped-decorator]  # locust leaves EventHook untyped
def leave_the_json_report_to_the_master(environment: Environment, **_kwargs: Any) -> None:
    """Only the master may write ``--json-file``: it holds every worker's stats.

    Locust clears ``--csv`` and ``--html`` in the workers that ``--processes`` forks, but not
    ``--json-file`` (2.47): each worker also writes it as it exits, with no stats, and whichever
    process exits last wins. The bench then read an empty report of a run that went well.
    """
    options = environment.parsed_options
    if options is not None and options.worker:
        options.json_file = None


class WebduoUser(FastHttpUser):
    """Shared client settings: bounded timeouts so a stuck server cannot outlive the run."""

    abstract = True
    wait_time = constant(0)
    network_timeout = 15.0
    connection_timeout = 5.0


def hello(user: WebduoUser) -> None:
    user.client.get("/hello")


def echo(user: WebduoUser) -> None:
    user.client.post("/echo", json={"bench": True, "values": [1, 2, 3]})


def io_task(user: WebduoUser) -> None:
    user.client.get(f"/io_task?delay_ms={IO_DELAY_MS}", name="/io_task")


def cpu_task(user: WebduoUser) -> None:
    user.client.get(f"/cpu_task?n={CPU_N}", name="/cpu_task")


def weather(user: WebduoUser) -> None:
    user.client.get(f"/weather?{WEATHER_QUERY}", name="/weather")


def error_task(user: WebduoUser) -> None:
    """The 500 is the expected answer: it counts as a success when it is the error envelope."""
    with user.client.get("/error_task", catch_response=True) as response:
        envelope = response.json().get("error") if response.status_code == 500 else None
        if isinstance(envelope, dict) and envelope.get("status") == 500:
            response.success()
        else:
            response.failure(f"expected the 500 envelope, got {response.status_code}")


class MixedUser(WebduoUser):
    """Every endpoint, weighted roughly like a small API's traffic."""

    @task(4)
    def get_hello(self) -> None:
        hello(self)

    @task(2)
    def post_echo(self) -> None:
        echo(self)

    @task(3)
    def get_io_task(self) -> None:
        io_task(self)

    @task(1)
    def get_cpu_task(self) -> None:
        cpu_task(self)

    @task(2 if WEATHER else 0)  # weight 0: never picked when no stand-in runs
    def get_weather(self) -> None:
        weather(self)

    @task(1)
    def get_error_task(self) -> None:
        error_task(self)


class IoUser(WebduoUser):
    """Only ``/io_task``: the I/O-bound load of the io-heavy and io-sweep scenarios."""

    @task
    def get_io_task(self) -> None:
        io_task(self)


class CpuUser(WebduoUser):
    """Only ``/cpu_task``: the CPU-bound load of the cpu-heavy scenario."""

    @task
    def get_cpu_task(self) -> None:
        cpu_task(self)


class HelloProbeUser(WebduoUser):
    """Two users asking /hello 10 times a second each: how quick a trivial request stays under load."""

    fixed_count = 2
    wait_time = constant_throughput(10)

    @task
    def get_hello(self) -> None:
        hello(self)
