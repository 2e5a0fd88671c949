"""The core process's cyclic-GC setting (evscallpro/gc_tuning.py): applied once, what it sets."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from evscallpro import gc_tuning


@pytest.fixture
def fresh_gc() -> Iterator[None]:
    """Python's own settings around the test, and the once-per-process flag reset."""
    thresholds, tuned = gc.get_threshold(), gc_tuning._tuned
    gc_tuning._tuned = False
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    gc_tuning._tuned = tuned


def test_tuning_freezes_what_survives_and_spaces_the_collections(fresh_gc: None) -> None:
    kept = [object() for _ in range(10)] + [{} for _ in range(10)]
    assert gc.get_freeze_count() == 0
    assert gc_tuning.tune_cyclic_gc() is True
    assert gc.get_threshold() == gc_tuning.THRESHOLDS
    assert gc.get_freeze_count() >= len(kept) // 2  # the dicts at least (tracked objects)


def test_tuning_happens_once_per_process(fresh_gc: None) -> None:
    assert gc_tuning.tune_cyclic_gc((30_000, 10, 10)) is True
    gc.set_threshold(700, 10, 10)  # someone changed it since: a second core start keeps it
    assert gc_tuning.tune_cyclic_gc() is False
    assert gc.get_threshold() == (700, 10, 10)
