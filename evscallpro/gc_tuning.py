"""Cyclic garbage collection tuned for a process of long-lived actors (issue 12).

The core keeps every live call, agent and supervision as objects that live for minutes (one
Pykka actor, its thread, its machine), plus what the process loaded at start. With Python's
default thresholds (700, 10, 10) the collector kept walking all of them: in
load-tests/core_bench.py at 60 calls/s, then while 1,000 calls ramped up, the collector held
the GIL for 0.9 s over a 15-s phase, with full (generation 2) collections of 80-120 ms, and
those pauses were the maximum event -> command latencies (BENCHMARKS.md, "Load and latency").

`tune_cyclic_gc()`, run once per process when the core starts (evscallpro/root.py):
- collects once, then freezes what survived (`gc.freeze()`: modules, classes, settings,
  the parts already started): the collector never walks them again;
- raises the young-generation threshold to 50,000 net allocations and spaces the older
  collections (20 young collections per middle one, 100 middle ones per full one; Python
  also waits until the long-lived objects grew by a quarter). Most of a call's objects die
  by reference counting; young cycles are still collected, by the young collections.
"""

from __future__ import annotations

import gc
import threading

THRESHOLDS = (50_000, 20, 100)

_lock = threading.Lock()
_tuned = False


def tune_cyclic_gc(thresholds: tuple[int, int, int] = THRESHOLDS) -> bool:
    """Freeze what the process holds now and set the thresholds; once per process (True the
    time it did it)."""
    global _tuned
    with _lock:
        if _tuned:
            return False
        gc.collect()
        gc.freeze()
        gc.set_threshold(*thresholds)
        _tuned = True
        return True
