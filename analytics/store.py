"""The DuckDB call-record store: open the file, create the schema, upsert batches of rows.

Writes go through DuckDB's Appender (`connection.appender(table, action="upsert")`), all
tables of one batch in one transaction: a batch is in the store entirely or not at all. The
measurement that chose it is in docs/analytics.md and BENCHMARKS.md.

Concurrency (DuckDB's rules): one process holds the file read-write; inside that process any
number of connections/cursors may read. `connect_reader` opens a reader that works both in
the core's process (a second connection on the same database instance) and in a separate
process while no core runs (read-only); a separate process while the core runs gets a
`StoreBusy` error that says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from analytics import schema
from analytics.bulk import BULK_CHECKPOINT_THRESHOLD, upsert_json_lines
from analytics.intervals import AgentStateInterval
from analytics.rows import (
    Row,
    RowError,
    agent_leg_rows,
    agent_session_row,
    call_row,
    disposition_row,
    interval_row,
    leg_rows,
)
from core.agent_leg_session import AgentSessionRecord
from core.records import CallRecord, Disposition

log = logging.getLogger(__name__)

DEFAULT_DB_PATH = Path("data/evscallpro.duckdb")


class StoreBusy(RuntimeError):
    """The database file is held read-write by another process (a running core)."""


@dataclass
class Batch:
    calls: list[Row] = field(default_factory=list)
    legs: list[Row] = field(default_factory=list)
    dispositions: list[Row] = field(default_factory=list)
    intervals: list[Row] = field(default_factory=list)
    agent_legs: list[Row] = field(default_factory=list)  # call_agent_legs (switched calls)
    sessions: list[Row] = field(default_factory=list)  # agent_leg_sessions

    def __len__(self) -> int:
        """The number of records (a call's legs come with it and do not count)."""
        return len(self.calls) + len(self.dispositions) + len(self.intervals) + len(self.sessions)

    def extend(self, other: Batch) -> None:
        self.calls += other.calls
        self.legs += other.legs
        self.dispositions += other.dispositions
        self.intervals += other.intervals
        self.agent_legs += other.agent_legs
        self.sessions += other.sessions

    def add(self, record: object) -> None:
        """The rows of one record (a CallRecord also brings its legs and disposition)."""
        if isinstance(record, CallRecord):
            calls, legs, agent_legs = call_row(record), leg_rows(record), agent_leg_rows(record)
            self.calls.append(calls)
            self.legs.extend(legs)
            self.agent_legs.extend(agent_legs)
            if record.disposition is not None:
                self.dispositions.append(disposition_row(record.disposition))
        elif isinstance(record, Disposition):
            self.dispositions.append(disposition_row(record))
        elif isinstance(record, AgentStateInterval):
            self.intervals.append(interval_row(record))
        elif isinstance(record, AgentSessionRecord):
            self.sessions.append(agent_session_row(record))
        else:
            raise RowError(f"not a record: {type(record).__name__}")


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> list[tuple]:  # type: ignore[type-arg]
    """Execute and fetch everything (this DuckDB refuses new work while a result is pending)."""
    return con.execute(sql, list(params)).fetchall()


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    for statement in schema.DDL:
        _run(con, statement)
    stored = _run(con, "SELECT value FROM schema_info WHERE key = 'version'")
    version = int(stored[0][0]) if stored else schema.SCHEMA_VERSION
    if version < 2:
        for statement in schema.BACKFILL_V2:
            _run(con, statement)
    if version < 3:
        for statement in schema.BACKFILL_V3:
            _run(con, statement)
    _run(
        con,
        "INSERT OR REPLACE INTO schema_info VALUES ('version', ?)",
        [str(schema.SCHEMA_VERSION)],
    )


def _dedupe(rows: list[Row], key: tuple[int, ...]) -> list[Row]:
    """Last row wins per key: an upsert may not touch the same key twice in one statement."""
    if len(rows) < 2:
        return rows
    if len(key) == 1:
        (k,) = key
        if len({row[k] for row in rows}) == len(rows):
            return rows  # the usual case: no duplicate, no copy
        return list({row[k]: row for row in rows}.values())
    latest: dict[tuple[object, ...], Row] = {}
    for row in rows:
        latest[tuple(row[i] for i in key)] = row
    return list(latest.values()) if len(latest) != len(rows) else rows


class CallStore:
    """The single read-write connection; used by the AnalyticsWriter only."""

    def __init__(self, path: str | Path = DEFAULT_DB_PATH) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            raise StoreBusy(f"{self.path}: {exc}") from exc
        create_schema(self.con)
        self._bulk_threshold_set = False

    def write(self, batch: Batch) -> int:
        """Upsert every row of the batch in one transaction; returns the number of records."""
        if not len(batch) and not batch.legs:
            return 0
        self.con.begin()
        try:
            self._append("calls", _dedupe(batch.calls, (0,)))
            self._append("call_legs", _dedupe(batch.legs, (0, 1)))
            self._append("dispositions", _dedupe(batch.dispositions, (0,)))
            # agent_state_intervals' key is (agent_id, started_at): columns 0 and 2.
            self._append("agent_state_intervals", _dedupe(batch.intervals, (0, 2)))
            self._append("call_agent_legs", _dedupe(batch.agent_legs, (0, 1)))
            # agent_leg_sessions' key is (agent_id, started_at): columns 0 and 1.
            self._append("agent_leg_sessions", _dedupe(batch.sessions, (0, 1)))
            self.con.commit()
        except Exception:
            try:
                self.con.rollback()
            except duckdb.Error:
                log.exception("rollback failed")
            raise
        return len(batch)

    def write_json(
        self, lines: Sequence[bytes]) -> int:
        """Upsert records given as JSON `JournalEntry` lines (analytics.bulk), one transaction.

        The bus writer's store checkpoints after 1 GB of write-ahead log instead of DuckDB's
        16 MB: at the default, every other 20,000-record batch paid a checkpoint costing up
        to 4x the batch itself, more as the table grew (BENCHMARKS.md). The price: a restart
        after a crash replays up to that much log."""
        if not self._bulk_threshold_set:  # once per connection: a statement costs too
            _run(self.con, f"SET checkpoint_threshold = '{BULK_CHECKPOINT_THRESHOLD}'")
            self._bulk_threshold_set = True
        return upsert_json_lines(self.con, lines, spool_dir=self.path.parent)

    def _append(self, table: str, rows: list[Row]) -> None:
        if not rows:
            return
        appender = self.con.appender(table, action="upsert")
        appender.append_rows(rows)
        appender.flush()

    def count(self, table: str) -> int:
        if table not in ("calls", "call_legs", "dispositions", "agent_state_intervals",
                         "call_agent_legs", "agent_leg_sessions"):
            raise ValueError(f"unknown table {table!r}")
        return int(_run(self.con, f"SELECT count(*) FROM {table}")[0][0])

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A reader on the same database instance (for in-process statistics)."""
        return self.con.cursor()

    def checkpoint(self) -> None:
        _run(self.con, "CHECKPOINT")

    def close(self) -> None:
        self.con.close()


def connect_reader(path: str | Path = DEFAULT_DB_PATH) -> duckdb.DuckDBPyConnection:
    """A connection for statistics/exports; see the module docstring for when each kind is used."""
    target = Path(path)
    if not target.exists():
        raise FileNotFoundError(f"no analytics database at {target} (no call recorded yet?)")
    try:
        return duckdb.connect(str(target), read_only=True)
    except duckdb.ConnectionException:
        # This process already holds the file read-write (the core's writer): share it.
        return duckdb.connect(str(target))
    except duckdb.IOException as exc:
        raise StoreBusy(
            f"{target} is held by a running core ({exc}); "
            "read statistics through the running core, or stop it first"
        ) from exc
