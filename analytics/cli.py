"""`evscallpro stats` and `evscallpro export`: read the call-record store from the shell.

Both open the DuckDB file read-only. While the product holds it read-write (another process:
DuckDB then refuses even a read-only open), they read a consistent snapshot instead
(`analytics.snapshot`: a private copy of the file and its log, removed afterwards) and say so
on stderr; the product never waits for them. Dates are UTC.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from analytics.export import ExportFormat, ExportTable, export
from analytics.snapshot import Snapshot, SnapshotError
from analytics.stats import AgentDaySummary, StatsError, Summary, agent_daily_summary, summary
from analytics.store import DEFAULT_DB_PATH, StoreBusy, connect_reader

DB_ENV = "EVSCALLPRO_DB"


def _when(text: str) -> datetime:
    """ISO date or date-time (UTC, no zone)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date or date-time (e.g. 2026-05-28 or 2026-05-28T14:00)"
        ) from None
    if moment.tzinfo is not None:
        raise argparse.ArgumentTypeError(f"{text!r}: give UTC without a zone")
    return moment


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        default=Path(os.environ.get(DB_ENV, str(DEFAULT_DB_PATH))),
        help=f"DuckDB file (default ${DB_ENV} or {DEFAULT_DB_PATH})",
    )
    parser.add_argument("--from", dest="start", type=_when, help="UTC start, inclusive")
    parser.add_argument("--to", dest="end", type=_when, help="UTC end, exclusive")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    stats = sub.add_parser("stats", help="print a summary of the call records")
    _add_common(stats)
    stats.add_argument("--agents", action="store_true", help="add one line per agent (per day)")
    stats.add_argument(
        "--tz", default=None, help="days of the --agents lines in this IANA zone (default UTC)"
    )
    stats.set_defaults(handler=run_stats)

    exp = sub.add_parser("export", help="export call records to CSV or Parquet (DuckDB COPY)")
    _add_common(exp)
    exp.add_argument("--format", choices=[f.value for f in ExportFormat], default="csv")
    exp.add_argument("--out", type=Path, required=True, help="output file")
    exp.add_argument(
        "--table", choices=[t.value for t in ExportTable], default=ExportTable.CALLS.value
    )
    exp.set_defaults(handler=run_export)


class _Store:
    """The store for one command: read-only, or a snapshot while the product holds it."""

    def __init__(self, con: duckdb.DuckDBPyConnection, snapshot: Snapshot | None = None) -> None:
        self.con = con
        self._snapshot = snapshot

    def close(self) -> None:
        if self._snapshot is not None:
            self._snapshot.close()
        else:
            self.con.close()


def _open(db: Path) -> _Store | None:
    try:
        return _Store(connect_reader(db))
    except StoreBusy:
        pass
    except (FileNotFoundError, duckdb.Error) as exc:
        print(f"evscallpro: {exc}", file=sys.stderr)
        return None
    try:
        snapshot = Snapshot(db)
    except (SnapshotError, OSError) as exc:
        print(f"evscallpro: {db} is held by the running product and {exc}", file=sys.stderr)
        return None
    print(f"evscallpro: {db} is held by the running product: reading a snapshot of it "
          "(what it had committed a moment ago)", file=sys.stderr)
    return _Store(snapshot.con, snapshot)


def run_export(args: argparse.Namespace) -> int:
    store = _open(args.db)
    if store is None:
        return 2
    try:
        rows = export(store.con, args.out, args.format, table=args.table, start=args.start, end=args.end)
    except (StatsError, duckdb.Error) as exc:
        print(f"evscallpro export: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"{rows} rows -> {args.out}")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    store = _open(args.db)
    if store is None:
        return 2
    con = store.con
    end = args.end or datetime.combine(date.today() + timedelta(days=1), datetime.min.time())
    start = args.start or end - timedelta(days=1)
    try:
        result = summary(con, start, end)
        print(format_summary(result))
        if args.agents:
            day = start.date()
            while datetime.combine(day, datetime.min.time()) < end:
                for line in agent_daily_summary(con, day, tz=args.tz):
                    print(_agent_line(line))
                day += timedelta(days=1)
    except (StatsError, duckdb.Error) as exc:
        print(f"evscallpro stats: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def format_summary(s: Summary) -> str:
    total = sum(s.outcomes.values())
    lines = [
        f"Calls {s.start:%Y-%m-%d %H:%M} -> {s.end:%Y-%m-%d %H:%M} UTC: {total}",
        *(f"  {outcome:<26}{n:>9}" for outcome, n in s.outcomes.items()),
        f"Connect rate {_pct(s.connect.connect_rate)} "
        f"({s.connect.connected}/{s.connect.attempted} attempted), "
        f"customer answer rate {_pct(s.connect.customer_answer_rate)}",
        f"Talk time: avg {_secs(s.talk.average_seconds)}, p50 {_secs(s.talk.p50_seconds)}, "
        f"p90 {_secs(s.talk.p90_seconds)}, p95 {_secs(s.talk.p95_seconds)} "
        f"over {s.talk.connected_calls} connected calls",
    ]
    if s.agents:
        lines.append("Occupancy per agent:")
        lines += [f"  {a.agent_id:<24}{_pct(a.occupancy):>8}" for a in s.agents]
    return "\n".join(lines)


def _agent_line(a: AgentDaySummary) -> str:
    occ = a.occupancy.occupancy if a.occupancy is not None else None
    return (
        f"{a.day} {a.agent_id:<20} calls {a.calls:>5} connected {a.connected:>5} "
        f"talk {a.talk_seconds:>9.0f}s avg {_secs(a.average_talk_seconds):>8} "
        f"qualified {a.qualified:>5} occupancy {_pct(occ):>7}"
    )
