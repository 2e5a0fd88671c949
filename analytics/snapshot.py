"""Read the store while a running product holds it: a consistent copy, opened read-only.

DuckDB lets one process hold a database file read-write and refuses every other process,
even read-only (a file lock). `evscallpro stats` and `export` run in another process than
the product, so when the file is held they read a snapshot: the database file and its
write-ahead log (`<db>.wal`) are copied to a private temporary folder, the copy is opened
read-only (DuckDB replays the copied log in memory) and the folder is removed on close.

Consistency: the writer appends to the log on each commit and rewrites the main file only at
a checkpoint. A copy taken while either changes could be torn, so the size and modification
time of both files are compared before and after the copy; a copy that does not match, or
that DuckDB refuses, is taken again (a few times, with a short pause). What the snapshot
holds is what the writer had committed when the copy was taken (records still in its
buffer, at most one flush interval, are not in it).

Cost: the copy reads the whole file (about a second per GB on a local disk) and needs that
much free space in the temporary folder. The product itself never waits for it: copying
takes no lock that DuckDB's writer uses.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

ATTEMPTS = 5
PAUSE_S = 0.2


class SnapshotError(RuntimeError):
    """No consistent copy could be taken (the file kept changing, or DuckDB refused it)."""


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


class Snapshot:
    """A read-only connection on a private copy of `path`; `close()` removes the copy."""

    def __init__(self, path: str | Path, attempts: int = ATTEMPTS) -> None:
        source = Path(path)
        wal = source.with_name(source.name + ".wal")
        self._folder = Path(tempfile.mkdtemp(prefix="evscallpro-snapshot-"))
        copy = self._folder / source.name
        last_error: Exception | None = None
        try:
            for attempt in range(attempts):
                if attempt:
                    time.sleep(PAUSE_S)
                before = (_signature(source), _signature(wal))
                shutil.copyfile(source, copy)
                copy_wal = copy.with_name(copy.name + ".wal")
                with contextlib.suppress(FileNotFoundError):
                    copy_wal.unlink()
                if before[1] is not None:
                    try:
                        shutil.copyfile(wal, copy_wal)
                    except FileNotFoundError:  # checkpointed meanwhile: take it again
                        continue
                if (_signature(source), _signature(wal)) != before:
                    continue
                try:
                    self.con = duckdb.connect(str(copy), read_only=True)
                    return
                except duckdb.Error as exc:
                    last_error = exc
            raise SnapshotError(
                f"no consistent copy of {source} after {attempts} attempts"
                + (f" ({last_error})" if last_error else " (the file kept changing)")
            )
        except BaseException:
            shutil.rmtree(self._folder, ignore_errors=True)
            raise

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.close()
        shutil.rmtree(self._folder, ignore_errors=True)
