"""What hadolint does not check in Dockerfile.sync / Dockerfile.async and compose.yaml: the facts
the images and the fleet profile promise.

No Docker engine runs in CI, so the files are read as data here, the HEALTHCHECK command is run
against real servers, and scripts/build-images.sh (``make images``) builds and runs the images.
The fleet's nginx configuration runs for real in tests/fleet.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from tests.fleet.nginx import TEMPLATE, placeholders
from tests.servers import ENGINES, RunningServer
from webduo.bench.processes import free_port
from webduo.cli import Mode
from webduo.settings import Settings


ROOT: Final = Path(__file__).resolve().parent.parent
VENV: Final = "/opt/webduo/venv"
# Docker's default `docker stop` grace period: SIGKILL follows SIGTERM after it.
DOCKER_STOP_SECONDS: Final = 10


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def parse(path: Path) -> list[Instruction]:
    """Instructions in order, with continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(arguments.split())))
        pending = ""
    assert not pending, f"{path.name} ends inside a continued line"
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """Each stage's instructions, starting at its FROM; instructions before the first FROM are dropped."""
    result: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def only(stage: list[Instruction], keyword: str) -> Instruction:
    found = [instruction for instruction in stage if instruction.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {found}"
    return found[0]


def exec_form(instruction: Instruction) -> list[str]:
    """The JSON array of an exec-form instruction; shell form fails the test."""
    value = json.loads(instruction.arguments)
    assert isinstance(value, list), f"{instruction.keyword} is not exec form: {instruction.arguments}"
    assert all(isinstance(item, str) for item in value)
    return [str(item) for item in value]


def env_of(stage: list[Instruction]) -> dict[str, str]:
    tokens = [token for env in stage if env.keyword == "ENV" for token in shlex.split(env.arguments)]
    return {key: value for key, _, value in (token.partition("=") for token in tokens)}


def default_port(engine: str) -> int:
    port = Settings.model_fields[f"{engine}_port"].default
    assert isinstance(port, int)
    return port


def dockerfile(engine: str) -> Path:
    return ROOT / f"Dockerfile.{engine}"


def healthcheck_command(engine: str) -> list[str]:
    runtime = stages(parse(dockerfile(engine)))[-1]
    _, _, command = only(runtime, "HEALTHCHECK").arguments.partition(" CMD ")
    assert command, "HEALTHCHECK has no CMD"
    return exec_form(Instruction("HEALTHCHECK", command))


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_base_image_is_a_build_arg_shared_by_both_stages(engine: str) -> None:
    instructions = parse(dockerfile(engine))
    global_args = [i.arguments for i in instructions[: [i.keyword for i in instructions].index("FROM")]]
    assert any(re.fullmatch(r"PYTHON_IMAGE=\S+", arg) for arg in global_args)
    # The venv links to the base's interpreter by absolute path, so both stages need the same base.
    builder, runtime = stages(instructions)
    assert builder[0].arguments == "${PYTHON_IMAGE} AS builder"
    assert runtime[0].arguments == "${PYTHON_IMAGE} AS runtime"


def test_builder_installs_exactly_the_lock_file_with_the_makefiles_uv(engine: str) -> None:
    builder = stages(parse(dockerfile(engine)))[0]
    syncs = [run.arguments for run in builder if run.keyword == "RUN" and re.search(r"\buv sync ", run.arguments)]
    assert syncs, "the builder does not run uv sync"
    for command in syncs:
        assert {"--locked", "--no-dev", "--no-editable"} <= set(command.split())
    assert env_of(builder)["UV_PROJECT_ENVIRONMENT"] == VENV
    makefile_uv = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert makefile_uv is not None
    assert f"ARG UV_VERSION={makefile_uv.group(1)}" in {f"ARG {i.arguments}" for i in builder if i.keyword == "ARG"}


def test_runtime_stage_holds_only_the_venv_and_runs_as_numeric_non_root(engine: str) -> None:
    runtime = stages(parse(dockerfile(engine)))[-1]
    assert not [i for i in runtime if i.keyword in {"RUN", "ADD"}], "the runtime stage must not build anything"
    copies = [i.arguments for i in runtime if i.keyword == "COPY"]
    assert copies == [f"--from=builder {VENV} {VENV}"]
    assert env_of(runtime)["PATH"].startswith(f"{VENV}/bin:")
    user = only(runtime, "USER").arguments
    assert re.fullmatch(r"\d+(:\d+)?", user), f"USER {user} is not numeric"
    assert all(int(part) != 0 for part in user.split(":"))
    assert runtime[-1].keyword == "ENTRYPOINT", "nothing may follow the ENTRYPOINT"
    assert [i.keyword for i in runtime].index("USER") < [i.keyword for i in runtime].index("ENTRYPOINT")


def test_entrypoint_serves_its_engine_on_all_interfaces_in_exec_form(engine: str) -> None:
    runtime = stages(parse(dockerfile(engine)))[-1]
    entrypoint = exec_form(only(runtime, "ENTRYPOINT"))
    assert entrypoint == ["webduo", "serve", "--mode", engine, "--host", "0.0.0.0"]
    assert Mode(engine) is not Mode.both
    assert not [i for i in runtime if i.keyword == "CMD"], "flags given to `docker run` are appended to serve"


def test_exposes_the_settings_default_port_and_stops_with_sigterm_in_time(engine: str) -> None:
    runtime = stages(parse(dockerfile(engine)))[-1]
    assert only(runtime, "EXPOSE").arguments == str(default_port(engine))
    assert only(runtime, "STOPSIGNAL").arguments == "SIGTERM"
    assert float(env_of(runtime)["WEBDUO_GRACEFUL_TIMEOUT"]) < DOCKER_STOP_SECONDS


def test_healthcheck_is_stdlib_python_on_the_configured_port(engine: str) -> None:
    command = healthcheck_command(engine)
    assert command[:2] == ["python3", "-c"]
    assert "urllib.request" in command[2]
    assert f"'WEBDUO_{engine.upper()}_PORT', '{default_port(engine)}'" in command[2]
    assert "/healthz" in command[2]


def run_healthcheck(engine: str, port: int) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK, run here with this interpreter in place of the image's python3."""
    script = healthcheck_command(engine)[2]
    env = {**os.environ, f"WEBDUO_{engine.upper()}_PORT": str(port)}
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30)


def test_healthcheck_passes_on_a_live_server_and_fails_without_one(server: RunningServer) -> None:
    assert run_healthcheck(server.engine, server.port).returncode == 0
    assert run_healthcheck(server.engine, free_port()).returncode != 0


def normalised(engine: str) -> list[Instruction]:
    """The instructions with everything engine-specific replaced by placeholders."""
    port = str(default_port(engine))
    result = []
    for instruction in parse(dockerfile(engine)):
        arguments = instruction.arguments
        if instruction.keyword == "LABEL":
            arguments = re.sub(r'description="[^"]*"', 'description="..."', arguments)
        arguments = arguments.replace(f"webduo-{engine}", "webduo-ENGINE").replace(f'"--mode", "{engine}"', "MODE")
        arguments = arguments.replace(f"WEBDUO_{engine.upper()}_PORT", "PORT_VAR").replace(port, "PORT")
        result.append(Instruction(instruction.keyword, arguments))
    return result


def test_the_two_dockerfiles_differ_only_in_engine_and_port() -> None:
    sync, aio = normalised("sync"), normalised("async")
    assert sync == aio


def test_dockerignore_admits_only_what_the_builder_copies() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "an allow-list keeps .venv, .env and .git out of the build context"
    admitted = {pattern.removeprefix("!").rstrip("/") for pattern in patterns if pattern.startswith("!")}
    for engine in ENGINES:
        builder = stages(parse(dockerfile(engine)))[0]
        sources = {
            source.rstrip("/")
            for copy in builder
            if copy.keyword == "COPY" and "--from" not in copy.arguments
            for source in copy.arguments.split()[:-1]
        }
        assert sources == admitted


def test_the_image_carries_the_license(engine: str) -> None:
    # The runtime stage holds only the venv: the licence reaches it inside webduo's wheel.
    builder = stages(parse(dockerfile(engine)))[0]
    copied = {source for copy in builder if copy.keyword == "COPY" for source in copy.arguments.split()[:-1]}
    assert "LICENSE" in copied
    assert re.search(r'^license-files = \["LICENSE"\]$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)


def test_compose_builds_and_publishes_both_engines() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    for engine in ENGINES:
        port = default_port(engine)
        assert re.search(rf"^\s+dockerfile: Dockerfile\.{engine}$", compose, re.MULTILINE)
        assert re.search(rf'^\s+- "{port}:{port}"$', compose, re.MULTILINE)


def test_compose_locust_runs_the_bench_users_from_the_locked_locust() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    tag = re.search(r"^\s+image: locustio/locust:(\S+)", compose, re.MULTILINE)
    assert tag is not None
    locked = re.findall(r'^name = "locust"\nversion = "([^"]+)"$', (ROOT / "uv.lock").read_text(), re.MULTILINE)
    assert tag.group(1) in locked
    mount = re.search(r"^\s+- \./(\S+):/mnt/locust/locustfile\.py:ro$", compose, re.MULTILINE)
    assert mount is not None
    # The file is mounted alone into locust's image, where webduo is not installed.
    tree = ast.parse((ROOT / mount.group(1)).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {name.split(".")[0] for name in imported} <= {"__future__", "locust", *sys.stdlib_module_names}


def compose_services() -> dict[str, Any]:
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    assert isinstance(services, dict)
    return services


def in_profile(profile: str) -> dict[str, Any]:
    return {name: service for name, service in compose_services().items() if profile in service.get("profiles", [])}


def test_compose_fleet_is_nginx_redis_and_replicas_of_each_engine() -> None:
    assert set(in_profile("fleet")) == {"nginx", "redis", *(f"fleet-{engine}" for engine in ENGINES)}
    services = compose_services()
    for engine in ENGINES:
        assert "profiles" not in services[engine], "`docker compose up` still starts both engines alone"


@pytest.mark.parametrize("engine", ENGINES)
def test_compose_fleet_replicas_share_the_redis_cache_behind_nginx(engine: str) -> None:
    replica = compose_services()[f"fleet-{engine}"]
    assert replica["build"] == {"context": ".", "dockerfile": f"Dockerfile.{engine}"}
    assert replica["image"] == compose_services()[engine]["image"]
    assert replica["deploy"]["replicas"] >= 2
    assert "ports" not in replica, "two replicas cannot publish one host port"
    assert replica["environment"]["WEBDUO_CACHE_URL"] == "redis://redis:6379/0"
    assert replica["environment"]["WEBDUO_LOG_LEVEL"] == "INFO"
    assert replica["depends_on"] == {"redis": {"condition": "service_started"}}
    assert replica["cap_drop"] == ["ALL"]


def test_compose_fleet_redis_keeps_nothing_on_disk() -> None:
    redis = compose_services()["redis"]
    assert re.fullmatch(r"redis:\d+\.\d+-alpine", redis["image"]), "a pinned minor version"
    command = redis["command"]
    assert command[command.index("--save") + 1] == ""
    assert command[command.index("--appendonly") + 1] == "no"
    assert "ports" not in redis


def test_compose_fleet_nginx_fills_in_the_template_and_publishes_each_engine() -> None:
    nginx = compose_services()["nginx"]
    assert re.fullmatch(r"nginx:\d+\.\d+-alpine", nginx["image"]), "a pinned minor version"
    # The image's entrypoint runs envsubst on templates/*.template into conf.d/, replacing default.conf.
    assert nginx["volumes"] == [
        f"./{TEMPLATE.relative_to(ROOT)}:/etc/nginx/templates/default.conf.template:ro",
    ]
    environment = nginx["environment"]
    assert set(environment) == placeholders(TEMPLATE.read_text())
    assert environment["FLEET_BIND"] == "0.0.0.0"
    published = {int(environment[f"FLEET_{engine.upper()}_PORT"]) for engine in ENGINES}
    assert sorted(nginx["ports"]) == sorted(f"{port}:{port}" for port in published)
    assert not published & {default_port(engine) for engine in ENGINES}, "the engines alone keep their ports"
    for engine in ENGINES:
        # The service name resolves to every replica; the port is the one the image serves on.
        assert environment[f"FLEET_{engine.upper()}_SERVER"] == f"fleet-{engine}:{default_port(engine)}"
        assert nginx["depends_on"][f"fleet-{engine}"] == {"condition": "service_healthy"}
