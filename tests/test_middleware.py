"""The request-id middleware on its own: generated ids are well-formed and never repeat, across forks too."""

from __future__ import annotations

import os
import re

from webduo.core.http import Request
from webduo.core.middleware import RequestIdMiddleware


GENERATED = re.compile(r"[0-9a-f]{32}")


def generated_id() -> str:
    return RequestIdMiddleware().on_request(Request("GET", "/hello")).request_id


def test_generated_ids_are_32_hex_digits_and_distinct() -> None:
    ids = [generated_id() for _ in range(10_000)]
    assert all(GENERATED.fullmatch(request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_worker_does_not_repeat_its_masters_ids() -> None:
    # Pre-forked workers inherit the master's generator state; each must draw its own ids.
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the ids it would give, then leave without running cleanups
        os.close(read_end)
        os.write(write_end, " ".join(generated_id() for _ in range(100)).encode())
        os._exit(0)
    os.close(write_end)
    parent_ids = {generated_id() for _ in range(100)}
    with os.fdopen(read_end, "rb") as reader:
        child_ids = set(reader.read().decode().split())
    os.waitpid(pid, 0)
    assert len(child_ids) == 100
    assert not parent_ids & child_ids
