"""Export the store to CSV or Parquet with DuckDB's own COPY (no row passes through Python).

calls          call_report: one row per call with its disposition
legs           call_legs of the calls started in the window
agent_states   agent_state_intervals overlapping the window
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path

import duckdb

from analytics.stats import StatsError


class ExportFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


class ExportTable(StrEnum):
    CALLS = "calls"
    LEGS = "legs"
    AGENT_STATES = "agent_states"


_SELECT: dict[ExportTable, str] = {
    ExportTable.CALLS: (
        "SELECT * FROM call_report WHERE started_at >= ? AND started_at < ? "
        "ORDER BY started_at, call_id"
    ),
    ExportTable.LEGS: (
        "SELECT l.* FROM call_legs l JOIN calls c USING (call_id) "
        "WHERE c.started_at >= ? AND c.started_at < ? ORDER BY c.started_at, l.call_id, l.role"
    ),
    ExportTable.AGENT_STATES: (
        "SELECT * FROM agent_state_intervals WHERE ended_at > ? AND started_at < ? "
        "ORDER BY agent_id, started_at"
    ),
}
_OPTIONS: dict[ExportFormat, str] = {
    ExportFormat.CSV: "FORMAT csv, HEADER true",
    ExportFormat.PARQUET: "FORMAT parquet, COMPRESSION zstd",
}


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def export(
    con: duckdb.DuckDBPyConnection,
    out: str | Path,
    fmt: ExportFormat | str = ExportFormat.CSV,
    *,
    table: ExportTable | str = ExportTable.CALLS,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    """Write the rows of `table` in [start, end) to `out`; returns the number of rows."""
    try:
        kind = ExportFormat(fmt)
    except ValueError:
        raise StatsError(f"unknown export format {fmt!r} (csv or parquet)") from None
    try:
        what = ExportTable(table)
    except ValueError:
        raise StatsError(f"unknown export table {table!r} (calls, legs, agent_states)") from None
    lo = start or datetime(1970, 1, 1)
    hi = end or datetime(9999, 1, 1)
    if hi <= lo:
        raise StatsError(f"empty window: {hi.isoformat()} is not after {lo.isoformat()}")
    target = Path(out)
    if target.parent and not target.parent.exists():
        raise StatsError(f"directory {target.parent} does not exist")
    sql = f"COPY ({_SELECT[what]}) TO {_sql_string(str(target))} ({_OPTIONS[kind]})"
    cursor = con.cursor()
    try:
        rows = cursor.execute(sql, [lo, hi]).fetchall()
    finally:
        cursor.close()
    return int(rows[0][0]) if rows else 0
