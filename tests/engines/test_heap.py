"""The start-up heap is frozen once a worker is ready, so collections while serving skip it."""

from __future__ import annotations

import subprocess
import sys


def test_freezing_moves_the_start_up_heap_out_of_collection_after_freeing_its_garbage() -> None:
    program = """
import gc
import weakref
from webduo.engines.heap import freeze_startup_heap
import webduo.core.app  # what a worker imports before it serves

class Cycle:
    pass

garbage = Cycle()
garbage.me = garbage  # start-up garbage in a reference cycle: collected, not frozen
freed = weakref.ref(garbage)
del garbage
assert gc.get_freeze_count() == 0
freeze_startup_heap()
assert gc.get_freeze_count() > 1000, gc.get_freeze_count()
assert freed() is None
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
