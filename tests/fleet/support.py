"""A webduo fleet on loopback: Redis, two replicas of each engine and nginx in front, as real
processes the tests can crash, stop and start again; and a load to send through it meanwhile."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Final

import httpx

from tests.fleet.nginx import TEMPLATE, executable, main_config, nginx_command, render
from tests.servers import ENGINES
from tests.weather.support import fast_env
from webduo.bench.processes import (
    LOOPBACK,
    free_port,
    has_exited,
    signal_group,
    start_group,
    stop_group,
    wait_for_exit,
    wait_until_answering,
)
from webduo.core.weather.shared_cache import RETRY_SECONDS
from webduo.testing.openmeteo import FakeOpenMeteo


REPLICAS: Final = 2
# Sync replicas pre-fork two workers, so a shared cache must hold across processes, not only replicas.
SERVE_FLAGS: Final = {"sync": ("--workers", "2", "--threads", "4"), "async": ("--workers", "2")}
START_TIMEOUT_S: Final = 30.0
# A cache to lose, not a database to keep: nothing written to disk.
REDIS_FLAGS: Final = ("--save", "", "--appendonly", "no", "--protected-mode", "yes")


@dataclass
class Child:
    """One process of the fleet (and whatever it forks), which a test may crash and the fleet restart."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    ready: Callable[[Child], None]
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = start_group(self.command, self.log, self.env, append=True)

    @property
    def running(self) -> bool:
        return self.process is not None and not has_exited(self.process)

    def wait_ready(self) -> None:
        self.ready(self)

    def kill(self) -> None:
        """SIGKILL the whole group at once: a crash, with no drain and no goodbye to open connections."""
        assert self.process is not None, f"{self.name} never started"
        signal_group(self.process.pid, signal.SIGKILL)
        wait_for_exit(self.process, None)
        self.stop()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period; reaped either way."""
        if self.process is not None:
            stop_group(self.process)

    def log_tail(self, size: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else "(no log)"


def redis_command(port: int, *words: str, timeout: float = 2.0) -> bytes:
    """One RESP command on a new connection; the first line of the reply (``+PONG``, ``:3``, ``-ERR ...``).

    Enough for PING, FLUSHALL and DBSIZE: webduo's Redis client is not the tests' to borrow.
    """
    payload = f"*{len(words)}\r\n" + "".join(f"${len(word.encode())}\r\n{word}\r\n" for word in words)
    reply = b""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as conn:
        conn.sendall(payload.encode())
        while b"\r\n" not in reply:
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.split(b"\r\n", 1)[0]


def answering_redis(child: Child, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert child.running, f"redis-server exited:\n{child.log_tail()}"
        try:
            if redis_command(port, "PING") == b"+PONG":
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"redis-server did not answer PING within {START_TIMEOUT_S} s:\n{child.log_tail()}")


def answering_http(child: Child, urls: Sequence[str]) -> None:
    assert child.process is not None
    for url in urls:
        wait_until_answering(url, child.process, child.log, timeout=START_TIMEOUT_S)


_places = itertools.count()


def new_place() -> dict[str, str]:
    """Coordinates no test asked for before in this session: a sure miss for every cache."""
    number = next(_places)
    return {"lat": f"{-80 + (number // 1000) / 100:.2f}", "lon": f"{-170 + (number % 1000) / 100:.2f}"}


class Fleet:
    """Redis, :data:`REPLICAS` replicas of each engine on loopback ports and nginx in front of them.

    Every replica is told ``WEBDUO_CACHE_URL`` (the shared cache) and calls ``weather``, the
    Open-Meteo stand-in. :meth:`stop` stops all of it, whatever state a test left it in.
    """

    def __init__(self, root: Path, weather: FakeOpenMeteo) -> None:
        nginx, redis = executable("nginx"), executable("redis-server")
        assert nginx is not None, "nginx must be installed"
        assert redis is not None, "redis-server must be installed"
        self.root = root
        self.redis_port = free_port()
        self.cache_url = f"redis://{LOOPBACK}:{self.redis_port}/0"
        base_env = {**os.environ, "WEBDUO_LOG_LEVEL": "WARNING", "WEBDUO_CPU_POOL_SIZE": "1"}
        replica_env = {**base_env, **fast_env(weather), "WEBDUO_CACHE_URL": self.cache_url}
        self.redis = Child(
            "redis",
            [redis, "--port", str(self.redis_port), "--bind", LOOPBACK, *REDIS_FLAGS, "--dir", str(root)],
            base_env,
            root / "redis.log",
            partial(answering_redis, port=self.redis_port),
        )
        self.replicas: dict[str, list[Child]] = {engine: [] for engine in ENGINES}
        for engine in ENGINES:
            for number in range(REPLICAS):
                port = free_port()
                command = [sys.executable, "-m", "webduo", "serve", "--mode", engine, "--host", LOOPBACK]
                self.replicas[engine].append(
                    Child(
                        f"{engine}-{number}",
                        [*command, "--port", str(port), *SERVE_FLAGS[engine]],
                        replica_env,
                        root / f"{engine}-{number}-{port}.log",
                        partial(answering_http, urls=[f"http://{LOOPBACK}:{port}/healthz"]),
                    )
                )
        self.ports = {engine: free_port() for engine in ENGINES}
        prefix = root / "nginx"
        prefix.mkdir()
        (prefix / "webduo.conf").write_text(render(TEMPLATE.read_text(), self.template_values()))
        (prefix / "nginx.conf").write_text(main_config(prefix, prefix / "webduo.conf"))
        self.nginx_error_log = prefix / "error.log"
        self.nginx = Child(
            "nginx",
            nginx_command(nginx, prefix),
            base_env,
            prefix / "stdout.log",
            partial(answering_http, urls=[f"{self.url(engine)}/healthz" for engine in ENGINES]),
        )

    def template_values(self) -> dict[str, str | list[str]]:
        """What compose's environment gives the nginx image, for loopback and this fleet's ports."""
        return {
            "FLEET_BIND": LOOPBACK,
            "FLEET_SYNC_PORT": str(self.ports["sync"]),
            "FLEET_ASYNC_PORT": str(self.ports["async"]),
            **{
                f"FLEET_{engine.upper()}_SERVER": [self.address(child) for child in self.replicas[engine]]
                for engine in ENGINES
            },
        }

    @staticmethod
    def address(replica: Child) -> str:
        return f"{LOOPBACK}:{replica.command[replica.command.index('--port') + 1]}"

    def url(self, engine: str) -> str:
        """nginx's base URL for ``engine``'s replicas."""
        return f"http://{LOOPBACK}:{self.ports[engine]}"

    @property
    def backends(self) -> list[Child]:
        return [self.redis, *(replica for engine in ENGINES for replica in self.replicas[engine])]

    @property
    def children(self) -> list[Child]:
        return [*self.backends, self.nginx]

    def start(self) -> None:
        self._start(self.backends)

    def heal(self) -> None:
        """Whatever a test crashed or stopped runs again, the cache is empty, and nginx starts afresh,
        having forgotten which replicas failed."""
        self.nginx.stop()
        down = [child for child in self.backends if not child.running]
        self._start(down)
        assert redis_command(self.redis_port, "FLUSHALL") == b"+OK"
        if self.redis in down:
            # A replica that saw Redis fail keeps to its own cache for RETRY_SECONDS before it tries
            # Redis again: until then the fleet does not share one cache, whatever the test expects.
            time.sleep(RETRY_SECONDS + 0.5)

    def _start(self, backends: list[Child]) -> None:
        # Backends all at once, so that their start-ups overlap; nginx once they answer, as the
        # 502s of replicas still starting would take them out of its rotation.
        for child in backends:
            child.stop()  # reaps a crashed one
            child.start()
        for child in backends:
            child.wait_ready()
        self.nginx.start()
        self.nginx.wait_ready()

    def stop(self) -> None:
        """Stop everything, nginx first; one that fails to stop does not keep the others running."""
        with ExitStack() as stack:
            for child in self.children:  # an ExitStack unwinds last in, first out: nginx first
                stack.callback(child.stop)

    def nginx_errors(self) -> str:
        return self.nginx_error_log.read_text(errors="replace") if self.nginx_error_log.exists() else ""


Call = Callable[[httpx.Client, int], httpx.Response]


def hello(client: httpx.Client, number: int) -> httpx.Response:
    return client.get("/hello")


def echo(client: httpx.Client, number: int) -> httpx.Response:
    return client.post("/echo", json={"number": number})


def io_task(client: httpx.Client, number: int) -> httpx.Response:
    """Slow enough that a replica crashed at any moment has requests in flight."""
    return client.get("/io_task", params={"delay_ms": "50"})


def weather_miss(client: httpx.Client, number: int) -> httpx.Response:
    return client.get("/weather", params=new_place())


MIX: Final[tuple[Call, ...]] = (hello, echo, io_task, weather_miss)


@dataclass(frozen=True)
class Outcome:
    call: str
    status: int | None
    problem: str = ""


@dataclass
class Load:
    """``clients`` threads sending ``calls`` in turn to ``base_url`` until the block ends; every outcome kept."""

    base_url: str
    calls: Sequence[Call] = MIX
    clients: int = 6
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _client(self, first: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=15.0) as client:
            for number in itertools.count(first, self.clients):
                if self._stop.is_set():
                    return
                call = self.calls[number % len(self.calls)]
                try:
                    response = call(client, number)
                    outcome = Outcome(call.__name__, response.status_code, "" if response.is_success else response.text)
                except httpx.HTTPError as exc:
                    outcome = Outcome(call.__name__, None, repr(exc))
                with self._lock:
                    self.outcomes.append(outcome)

    @property
    def done(self) -> int:
        with self._lock:
            return len(self.outcomes)

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        """Until ``count`` requests have completed, in any way; a generous bound, not a speed test."""
        deadline = time.monotonic() + timeout
        while self.done < count:
            assert time.monotonic() < deadline, f"only {self.done} of {count} requests completed in {timeout} s"
            time.sleep(0.02)

    def failures(self) -> list[Outcome]:
        with self._lock:
            return [outcome for outcome in self.outcomes if outcome.status != 200]

    def count(self, call: Call, since: int = 0) -> int:
        with self._lock:
            return sum(outcome.call == call.__name__ for outcome in self.outcomes[since:])
