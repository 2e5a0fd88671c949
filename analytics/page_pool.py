"""The statistics page's independent queries, run side by side.

`submit(con, job, *args)` runs `job(cursor, *args)` on a cursor of its own (its own
snapshot, taken after the page was asked for: every record committed before the request is
counted) on a small shared pool, so that a page's queries overlap instead of waiting on one
another (DuckDB runs a small query on one thread: on 2 cores two of them go side by side).
Queries that must agree with each other (a histogram and its buckets' values) stay on one
cursor in one transaction. `PARALLEL = False` runs every job at once on the caller's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import duckdb

T = TypeVar("T")
PARALLEL = True
WORKERS = 3
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def submit(con: duckdb.DuckDBPyConnection, job: Callable[..., T], *args: Any) -> Future[T]:
    global _pool
    cursor = con.cursor()

    def run() -> T:
        try:
            return job(cursor, *args)
        finally:
            cursor.close()

    if not PARALLEL:
        done: Future[T] = Future()
        try:
            done.set_result(run())
        except Exception as exc:  # handed to the caller by result(), as from the pool
            done.set_exception(exc)
        return done
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="stats-page")
    return _pool.submit(run)
