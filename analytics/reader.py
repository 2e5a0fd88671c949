"""AnalyticsReader: the statistics the UI and supervisors ask for, inside the core's process.

The gateway holds one reader; each method opens its own DuckDB cursor, so any thread may call
it. Queries take milliseconds to tens of milliseconds (BENCHMARKS.md): from the asyncio loop,
call them through `asyncio.to_thread`, never directly.

It connects with DuckDB's default (read-write) configuration on purpose: inside one process
every connection to a file must share one configuration, and the AnalyticsWriter opens the
file read-write. The reader writes only the statistics page's per-day rollup tables
(analytics.rollup, `stats_rollup_*`), on its own cursor: never a record. (A separate process, like `evscallpro stats`, must
use `store.connect_reader`, which opens read-only.)
"""

from __future__ import annotations

import contextlib
import threading
from datetime import date, datetime
from pathlib import Path

import duckdb

from analytics import dashboard as dash
from analytics import stats, stats_export
from analytics.store import DEFAULT_DB_PATH, create_schema
from core.costs import LegCost
from core.domain import CallOutcome


class AnalyticsReader:
    def __init__(
        self, db_path: str | Path = DEFAULT_DB_PATH, costs: dict[str, LegCost] | None = None
    ) -> None:
        self.path = Path(db_path)
        self.costs = costs or {}  # [costs]: the agent legs' rates (the page's cost per mode)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                con = duckdb.connect(str(self.path))
                # The reader may come up before the first write; if the writer creates the
                # schema at the same moment, DuckDB reports a conflict and the tables exist.
                with contextlib.suppress(duckdb.TransactionException):
                    create_schema(con)
                self._con = con
            return self._con

    def calls_for_agent(
        self, agent_id: str, day: date, limit: int = 500, tz: str | None = None
    ) -> list[stats.CallHistoryItem]:
        return stats.calls_for_agent(self._connection(), agent_id, day, limit, tz)

    def agent_daily_summary(
        self, day: date, agent_id: str | None = None, tz: str | None = None
    ) -> list[stats.AgentDaySummary]:
        return stats.agent_daily_summary(self._connection(), day, agent_id, tz)

    def recordings(
        self,
        *,
        agent_id: str | None = None,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        outcome: str | CallOutcome | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> list[stats.RecordingItem]:
        return stats.recordings(
            self._connection(),
            agent_id=agent_id,
            start=start,
            end=end,
            outcome=outcome,
            limit=limit,
            offset=offset,
        )

    def summary(self, start: datetime | date, end: datetime | date) -> stats.Summary:
        return stats.summary(self._connection(), start, end)

    def dashboard(self, flt: dash.StatsFilter) -> dash.Dashboard:
        """The statistics page's numbers (analytics.dashboard)."""
        return dash.dashboard(self._connection(), flt, costs=self.costs)

    def export_calls(
        self, out: str | Path, fmt: str, flt: dash.StatsFilter, max_rows: int | None = None
    ) -> int:
        """The calls `flt` selects, to `out` as CSV or Parquet (analytics.stats_export)."""
        return stats_export.export_filtered_calls(self._connection(), out, fmt, flt, max_rows)

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
