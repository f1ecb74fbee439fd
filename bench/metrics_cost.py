"""What ``Metrics.answered()`` costs a request: microseconds a call, in one process and with ``--workers``.

Run from the repository root (~20 s)::

    .venv/bin/python bench/metrics_cost.py [--calls 200000] [--repeat 5]

Each mode runs in a fresh interpreter, because prometheus-client picks where values live
(memory, or mmap'ed files under ``PROMETHEUS_MULTIPROC_DIR``) when it is first imported. The
calls cycle through a few routes, statuses and latencies, as a server's would; the best of
``--repeat`` timings is reported. Time is this process's CPU time, all threads together: other
processes on a shared machine do not inflate it, and the background flushes of multiprocess
mode, which happen during the timing, are in the number. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import timeit
from typing import Final


MULTIPROCESS_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
# What a server answers: mostly /hello, a few errors, latencies across several buckets.
CALLS: Final = (
    ("hello", 200, 0.00012),
    ("hello", 200, 0.0004),
    ("echo", 200, 0.0007),
    ("unmatched", 404, 0.0002),
    ("hello", 200, 0.003),
    ("weather", 200, 0.08),
)


def measure(calls: int, repeat: int) -> float:
    """Microseconds per ``answered()`` call in this interpreter, the best of ``repeat`` runs."""
    from webduo.core.metrics import process_metrics

    answered = process_metrics().answered
    rounds = max(1, calls // len(CALLS))
    statement = "\n".join(f"answered({route!r}, {status}, {seconds})" for route, status, seconds in CALLS)
    timings = timeit.repeat(
        statement, timer=time.process_time, number=rounds, repeat=repeat, globals={"answered": answered}
    )
    best = min(timings)
    return best / (rounds * len(CALLS)) * 1e6


def run_mode(multiprocess: bool, calls: int, repeat: int) -> float:
    env = {key: value for key, value in os.environ.items() if key != MULTIPROCESS_VARIABLE}
    with tempfile.TemporaryDirectory(prefix="webduo-metrics-bench-") as folder:
        if multiprocess:
            env[MULTIPROCESS_VARIABLE] = folder
        command = [sys.executable, __file__, "--child", "--calls", str(calls), "--repeat", str(repeat)]
        output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return float(json.loads(output))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.calls, args.repeat)))
        return
    for name, multiprocess in (("one process", False), ("multiprocess (--workers)", True)):
        print(f"{name:>26}: {run_mode(multiprocess, args.calls, args.repeat):.2f} us per answered()")


if __name__ == "__main__":
    main()
