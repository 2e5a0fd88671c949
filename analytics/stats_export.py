"""Export the calls the statistics page shows (its filter) as CSV or Parquet, by DuckDB COPY.

Built on `analytics.export` (formats and COPY options). A CSV opened in a spreadsheet runs a
cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return as a formula (CSV/formula
injection: a contact's name or a comment typed by anyone could be `=HYPERLINK(...)`); in the
CSV every text cell that starts so is prefixed with a single quote `'`, as OWASP advises
(a `+33...` number thus reads `'+33...`). Parquet keeps the values as they are (typed
columns, no formula evaluation).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from analytics.dashboard import StatsFilter, check_filter, filter_sql
from analytics.export import _OPTIONS, ExportFormat, _sql_string, csv_safe_select
from analytics.stats import StatsError


class ExportTooLarge(StatsError):
    """More calls than the caller allows in one export (the web page holds a download in
    memory: it asks for at most `limit` rows)."""

    def __init__(self, rows: int, limit: int) -> None:
        super().__init__(f"{rows} calls to export, more than the limit of {limit}")
        self.rows = rows
        self.limit = limit


def export_filtered_calls(
    con: duckdb.DuckDBPyConnection,
    out: str | Path,
    fmt: ExportFormat | str,
    flt: StatsFilter,
    max_rows: int | None = None,
) -> int:
    """Write the calls (call_report: one row per call with its disposition) that `flt`
    selects to `out`, oldest first; returns the number of rows. With `max_rows`, more calls
    than that raise `ExportTooLarge` before anything is written."""
    try:
        kind = ExportFormat(fmt)
    except ValueError:
        raise StatsError(f"unknown export format {fmt!r} (csv or parquet)") from None
    check_filter(flt)
    target = Path(out)
    if not target.parent.is_dir():
        raise StatsError(f"directory {target.parent} does not exist")
    where, params = filter_sql(flt)
    cursor = con.cursor()
    try:
        if max_rows is not None:
            ((count,),) = cursor.execute(f"SELECT count(*) FROM calls WHERE {where}",
                                         params).fetchall()
            if count > max_rows:
                raise ExportTooLarge(int(count), max_rows)
    finally:
        cursor.close()
    select = f"SELECT * FROM call_report WHERE {where}"
    cursor = con.cursor()
    try:
        if kind is ExportFormat.CSV:  # formula cells neutralised, as every CSV export
            select = csv_safe_select(cursor, select, list(params))
        select += " ORDER BY started_at, call_id"
        sql = f"COPY ({select}) TO {_sql_string(str(target))} ({_OPTIONS[kind]})"
        rows = cursor.execute(sql, params).fetchall()
    finally:
        cursor.close()
    return int(rows[0][0]) if rows else 0
