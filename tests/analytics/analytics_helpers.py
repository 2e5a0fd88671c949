"""Shared helpers for tests/analytics: an instrumented store that signals each write."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors.analytics_writer import AnalyticsWriter, WriterConfig
from analytics.store import Batch, CallStore

WAIT_S = 10.0


class SignallingStore(CallStore):
    """A real CallStore that records each committed batch size and can be told to fail."""

    def __init__(self, path: str, fail_times: int = 0) -> None:
        super().__init__(path)
        self.fail_times = fail_times
        self.write_sizes: list[int] = []
        self.failures = 0
        self._cond = threading.Condition()

    def write(self, batch: Batch) -> int:
        with self._cond:
            if self.fail_times > 0:
                self.fail_times -= 1
                self.failures += 1
                self._cond.notify_all()
                import duckdb

                raise duckdb.IOException("simulated disk error")
        written = super().write(batch)
        with self._cond:
            self.write_sizes.append(written)
            self._cond.notify_all()
        return written

    def wait_for(
        self, predicate: Callable[[SignallingStore], bool], timeout: float = WAIT_S
    ) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)


class StoreBox:
    """Keeps the store the writer opened so the test can look at it."""

    def __init__(self, fail_times: int = 0) -> None:
        self.fail_times = fail_times
        self.stores: list[SignallingStore] = []
        self.opened = threading.Event()

    def factory(self, path: str) -> CallStore:
        store = SignallingStore(path, self.fail_times)
        self.stores.append(store)
        self.opened.set()
        return store

    @property
    def store(self) -> SignallingStore:
        assert self.opened.wait(WAIT_S)
        return self.stores[-1]


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "calls.duckdb")


@pytest.fixture
def start_writer(db_path: str) -> Iterator[Callable[..., tuple[Any, StoreBox]]]:
    refs: list[pykka.ActorRef[Any]] = []

    def start(fail_times: int = 0, **config: Any) -> tuple[pykka.ActorRef[Any], StoreBox]:
        box = StoreBox(fail_times)
        cfg = WriterConfig(db_path=db_path, **config)
        ref = AnalyticsWriter.start(cfg, store_factory=box.factory)
        refs.append(ref)
        return ref, box

    yield start
    for ref in refs:
        if ref.is_alive():
            ref.stop(timeout=WAIT_S)


def count_rows(db_path: str, table: str = "calls") -> int:
    """Counts through a fresh connection (the writer must be stopped, or in-process)."""
    import duckdb

    con = duckdb.connect(db_path)
    try:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
    finally:
        con.close()
