"""Export the store to CSV or Parquet with DuckDB's own COPY (no row passes through Python).

calls          call_report: one row per call with its disposition
legs           call_legs of the calls started in the window
agent_states   agent_state_intervals overlapping the window

CSV is opened in spreadsheets, which run a cell that starts with `=`, `+`, `-`, `@`, a tab
or a carriage return as a formula (`=HYPERLINK(...)` typed as a qualification comment).
Every text column of a CSV export is neutralised in the SQL itself: such a cell gets a
leading `'` (OWASP's advice), which spreadsheets show as text. Parquet keeps the values.
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


# A text cell starting with one of these is a formula to a spreadsheet (CSV injection).
CSV_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGERS_SQL = ", ".join(f"chr({ord(c)})" for c in CSV_FORMULA_TRIGGERS)
_QUOTE_SQL = "chr(39)"  # the leading ' that makes a spreadsheet read the cell as text


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def csv_safe_select(cursor: duckdb.DuckDBPyConnection, select: str, params: list[object]) -> str:
    """`select` wrapped so that its VARCHAR columns cannot start a spreadsheet formula: a
    cell starting with a trigger gets a leading `'`; other columns pass as they are.

    For anyone building a CSV export on DuckDB COPY (e.g. the statistics page)."""
    columns = cursor.execute(f"DESCRIBE {select}", params).fetchall()
    parts = []
    for name, kind, *_ in columns:
        col = _sql_identifier(str(name))
        if str(kind) == "VARCHAR":
            parts.append(
                f"CASE WHEN left({col}, 1) IN ({_TRIGGERS_SQL}) THEN {_QUOTE_SQL} || {col} "
                f"ELSE {col} END AS {col}"
            )
        else:
            parts.append(col)
    return f"SELECT {', '.join(parts)} FROM ({select}) AS unsafe"


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
    cursor = con.cursor()
    try:
        select = _SELECT[what]
        if kind == ExportFormat.CSV:
            select = csv_safe_select(cursor, select, [lo, hi])
        sql = f"COPY ({select}) TO {_sql_string(str(target))} ({_OPTIONS[kind]})"
        rows = cursor.execute(sql, [lo, hi]).fetchall()
    finally:
        cursor.close()
    return int(rows[0][0]) if rows else 0
