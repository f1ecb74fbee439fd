"""The fleet of docs/scaling.md on loopback, without Docker: nginx with deploy/nginx/webduo.conf.template
in front of two replicas of each engine, Redis as their shared cache, the Open-Meteo stand-in.

Replicas crash (SIGKILL to the whole process group) and Redis stops while clients keep sending;
no client may see the difference.
"""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from tests.fleet.support import MIX, Fleet, Load, new_place, redis_command, weather_miss
from webduo.bench.processes import LOOPBACK
from webduo.testing.openmeteo import FakeOpenMeteo


# Six client threads, four replicas, Redis and nginx keep both cores busy: in a parallel run (make pytest), these
# share one worker with the bench's locust runs, so that no two loads compete for the CPU.
pytestmark = [pytest.mark.fleet, pytest.mark.load]

# Requests to complete before a fault and after it: enough for every replica to have had some.
BEFORE: int = 40
AFTER: int = 120


def test_each_engine_is_served_by_its_own_replicas(fleet: Fleet, engine: str) -> None:
    response = httpx.get(f"{fleet.url(engine)}/hello", headers={"X-Request-ID": "fleet-1"})
    assert response.status_code == 200
    assert response.headers["x-powered-by"].endswith(f"({engine})")
    assert response.headers["x-request-id"] == "fleet-1", "nginx passes the client's request id on"


def test_killing_a_replica_mid_load_fails_no_request(fleet: Fleet, engine: str) -> None:
    victim = fleet.replicas[engine][0]
    with Load(fleet.url(engine)) as load:
        load.wait_for(BEFORE)
        victim.kill()
        killed_at = load.done
        load.wait_for(killed_at + AFTER)
    assert load.failures() == []
    assert not victim.running
    # nginx did send to the dead replica, and moved on: the retries, not luck, kept the clients whole.
    assert fleet.address(victim) in fleet.nginx_errors()


def test_stopping_redis_mid_load_still_answers_200(fleet: Fleet, engine: str) -> None:
    with Load(fleet.url(engine)) as load:
        load.wait_for(BEFORE)
        fleet.redis.stop()
        stopped_at = load.done
        load.wait_for(stopped_at + AFTER)
    assert load.failures() == []
    assert load.count(weather_miss, since=stopped_at) >= AFTER // len(MIX) - 1, "misses went on after the stop"


def test_concurrent_identical_misses_make_one_upstream_call(
    fleet: Fleet, engine: str, openmeteo: FakeOpenMeteo
) -> None:
    # Slow answers keep the first call in the air while the others arrive: all of them are misses.
    openmeteo.state.script(default="slow", slow_seconds=0.5)
    place, clients = new_place(), 100
    start = threading.Barrier(clients)
    statuses: list[int | None] = [None] * clients

    def ask(number: int) -> None:
        with httpx.Client(base_url=fleet.url(engine), timeout=15.0) as client:
            start.wait()
            statuses[number] = client.get("/weather", params=place).status_code

    threads = [threading.Thread(target=ask, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * clients
    assert openmeteo.state.count() == 1
    assert int(redis_command(fleet.redis_port, "DBSIZE")[1:]) >= 1, "the answer is cached in Redis"


def test_a_weather_502_is_not_retried_on_another_replica(fleet: Fleet, engine: str, openmeteo: FakeOpenMeteo) -> None:
    openmeteo.state.script(default="503")
    response = httpx.get(f"{fleet.url(engine)}/weather", params=new_place(), timeout=15.0)
    assert response.status_code == 502
    # One replica's own attempts, not those of every replica nginx could have tried next.
    assert openmeteo.state.count() == response.json()["error"]["detail"]["attempts"]


def test_no_replica_left_is_a_502_in_the_envelope(fleet: Fleet, engine: str) -> None:
    for replica in fleet.replicas[engine]:
        replica.kill()
    response = httpx.get(f"{fleet.url(engine)}/hello", headers={"X-Request-ID": "fleet-2"})
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "fleet-2"
    assert response.json() == {
        "error": {
            "status": 502,
            "message": "Bad Gateway",
            "detail": "No replica could answer the request.",
            "request_id": "fleet-2",
        }
    }


def test_a_body_over_the_proxy_limit_is_a_413_in_the_envelope(fleet: Fleet, engine: str) -> None:
    response = httpx.post(f"{fleet.url(engine)}/echo", content=b"x" * (3 * 1024 * 1024), timeout=15.0)
    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["status"], error["detail"]) == (413, "Request body exceeds the proxy's limit.")
    assert len(error["request_id"]) == 32, "nginx's own id when the client sent none"
    # Under the proxy's limit and over webduo's, webduo answers its own 413, passed through.
    response = httpx.post(f"{fleet.url(engine)}/echo", content=b"x" * (1536 * 1024), timeout=15.0)
    assert response.status_code == 413
    assert response.json()["error"]["detail"] == "Request body exceeds the limit of 1048576 bytes."


def test_a_request_nginx_cannot_parse_is_a_400_in_the_envelope(fleet: Fleet, engine: str) -> None:
    port = int(fleet.url(engine).rsplit(":", 1)[1])
    with socket.create_connection((LOOPBACK, port), timeout=5) as conn:
        conn.sendall(b"GET /hello HTTP/1.1\r\nHost: fleet\r\nno colon here\r\n\r\n")
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head.lower()
    assert body.startswith(b'{"error":{"status":400,"message":"Bad Request","detail":"The proxy could not parse')
