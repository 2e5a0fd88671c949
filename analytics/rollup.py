"""Per-day rollup of finished days for the statistics page's long windows (issue 9).

A window of whole local days longer than 50 hours (7d, 30d, custom) splits in two: the
finished days (before today in the call center's zone), read from small per-day tables, and
today, queried live from `calls` / `agent_state_intervals` with the same SQL that builds the
tables. Windows of at most 50 hours (hourly buckets), a campaign or an agent filter keep the
live queries of `analytics.dashboard` (the page's figures are the same either way).

The tables, keyed by (tz, local day), are built by the reader (lazily, at the first fetch
that needs a day; on the reader's own cursor, so the writer never waits), never by the writer:
- `stats_rollup_calls`: per agent, workstation and outcome: counts and sums;
- `stats_rollup_states`: per agent, workstation and state: seconds clipped to the day, plus
  `wrap_up_connected`: wrap-up seconds after connected calls, by the day they start in;
- `stats_rollup_hist`: per workstation, talk times counted per second, setup times per 10 ms;
- `stats_rollup_values`: the values of the buckets the percentiles asked for, kept at the
  first ask (`keep_values`; `stats_rollup_buckets`: the days and buckets kept);
- `stats_rollup_legs`: per workstation, the per-call agent legs (analytics.leg_costs) at the
  leg rates the days were built with (`stats_rollup_days.rates`: other rates, built again);
- `stats_rollup_days`: the day's row counts when built (calls started that day, state
  intervals started that day). Every fetch counts the window's rows (a scan of `started_at`
  only) and compares; a record that arrives late for a finished day (adopted after a restart,
  a replayed journal) changes a count, and the days that differ are built again (for an
  interval: its day and the later ones, which it may overlap). A record rewritten in place
  for a finished day (same call id, same count) is not seen: `forget` drops the rollup.

Percentiles stay exact (the same values and interpolation as DuckDB's `quantile_cont`): the
histograms (finished days + today live) give how many values lie below each bucket, so the
ranks a percentile needs fall in known buckets; only the values of those (at most four)
buckets are read: the finished days' from `stats_rollup_values`, today's from `calls`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

import duckdb
import msgspec

from analytics import leg_costs
from core.costs import LegCost
from core.domain import CallOutcome, Party

NORMAL_CAUSES = (0, 16, 31)
WRAP_CONNECTED = "wrap_up_connected"
_PARTIES = [p.value for p in Party]

DDL = (
    """CREATE TABLE IF NOT EXISTS stats_rollup_days (
        tz VARCHAR NOT NULL, day DATE NOT NULL,
        calls BIGINT NOT NULL, intervals BIGINT NOT NULL, rates VARCHAR NOT NULL,
        built_at TIMESTAMP NOT NULL, PRIMARY KEY (tz, day))""",
    f"""CREATE TABLE IF NOT EXISTS stats_rollup_calls (
        tz VARCHAR NOT NULL, day DATE NOT NULL, agent_id VARCHAR NOT NULL,
        workstation VARCHAR NOT NULL, outcome VARCHAR NOT NULL,
        calls BIGINT, attempted BIGINT, connected BIGINT, talk DOUBLE, agent_billed DOUBLE,
        dropped BIGINT, asked BIGINT, accepted BIGINT, guarded BIGINT,
        setup_sum DOUBLE, setup_n BIGINT,
        {", ".join(f"hung_{p} BIGINT" for p in _PARTIES)})""",
    """CREATE TABLE IF NOT EXISTS stats_rollup_states (
        tz VARCHAR NOT NULL, day DATE NOT NULL, agent_id VARCHAR NOT NULL,
        workstation VARCHAR NOT NULL, state VARCHAR NOT NULL, seconds DOUBLE)""",
    """CREATE TABLE IF NOT EXISTS stats_rollup_hist (
        tz VARCHAR NOT NULL, day DATE NOT NULL, workstation VARCHAR NOT NULL,
        kind VARCHAR NOT NULL, second BIGINT NOT NULL, n BIGINT NOT NULL)""",
    # the values of the histogram buckets the percentiles asked for, kept at the first ask
    # (`stats_rollup_buckets`: the days and buckets kept): the exact percentiles read the few
    # buckets their ranks fall in from here instead of scanning the window's calls
    """CREATE TABLE IF NOT EXISTS stats_rollup_values (
        tz VARCHAR NOT NULL, day DATE NOT NULL, workstation VARCHAR NOT NULL,
        kind VARCHAR NOT NULL, second BIGINT NOT NULL, vals DOUBLE[] NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS stats_rollup_buckets (
        tz VARCHAR NOT NULL, day DATE NOT NULL, kind VARCHAR NOT NULL, second BIGINT NOT NULL)""",
    # per-call agent legs (analytics.leg_costs.per_call_sql), at the rates of `rates`
    """CREATE TABLE IF NOT EXISTS stats_rollup_legs (
        tz VARCHAR NOT NULL, day DATE NOT NULL, workstation VARCHAR NOT NULL,
        legs BIGINT NOT NULL, seconds DOUBLE NOT NULL, cost DOUBLE NOT NULL,
        cost_n BIGINT NOT NULL)""",
)
TABLES = ("stats_rollup_days", "stats_rollup_calls", "stats_rollup_states", "stats_rollup_hist",
          "stats_rollup_values", "stats_rollup_buckets", "stats_rollup_legs")
SETUP = "(epoch(agent_answered_at) - epoch(started_at))"
VALUES = {"talk": ("talk_seconds", "connected_at IS NOT NULL"),
          "setup": (SETUP, "agent_answered_at IS NOT NULL")}
# histogram buckets per kind: talk times spread over minutes (1 s), setup times over a few
# seconds (10 ms), so that a bucket holds a small share of the values
SCALE = {"talk": 1, "setup": 100}


def bucket_sql(kind: str) -> str:
    expr = VALUES[kind][0]
    return f"CAST(floor({expr} * {SCALE[kind]}) AS BIGINT)"

_build_lock = threading.Lock()


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    (present,) = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name IN (SELECT unnest(?))",
        [list(TABLES)],
    ).fetchone() or (0,)
    if present == len(TABLES):
        return  # the DDL costs ~3 ms per fetch, this check ~0.5
    with _build_lock:  # a rollup of an older layout: derived data, dropped and built again
        for table in TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
        for ddl in DDL:
            con.execute(ddl)


def rates_key(rates: dict[str, LegCost]) -> str:
    """The leg rates a day's `stats_rollup_legs` was built with: other rates, other costs."""
    return msgspec.json.encode(
        sorted((mode, r.per_call, r.per_minute) for mode, r in rates.items())
    ).decode()


def forget(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every built day: the next fetches build them again from the records."""
    for table in TABLES:
        con.execute(f"DELETE FROM {table}")


# --- the per-day groups: the same SQL builds the rollup and reads today live ----------------


def calls_groups_sql(local: str, ws: str) -> str:
    normal = ", ".join(str(c) for c in NORMAL_CAUSES)
    hung = ", ".join(
        f"count(*) FILTER (WHERE connected_at IS NOT NULL AND hung_up_first = '{p}')"
        for p in _PARTIES
    )
    return f"""
        SELECT CAST({local} AS DATE) AS day, agent_id, workstation, outcome,
               count(*),
               count(*) FILTER (WHERE outcome <> 'rejected'),
               count(*) FILTER (WHERE connected_at IS NOT NULL),
               coalesce(sum(talk_seconds) FILTER (WHERE connected_at IS NOT NULL), 0),
               coalesce(sum(agent_billable_seconds), 0),
               count(*) FILTER (WHERE connected_at IS NOT NULL AND (
                   hung_up_first = 'system' OR agent_hangup_cause NOT IN ({normal}))),
               count(agent_confirming_at),
               count(*) FILTER (WHERE agent_confirming_at IS NOT NULL
                                  AND announcing_at IS NOT NULL),
               count(*) FILTER (WHERE outcome = '{CallOutcome.AGENT_NOT_CONFIRMED.value}'),
               coalesce(sum({SETUP}), 0), count({SETUP}),
               {hung}
        FROM calls WHERE started_at >= ? AND started_at < ? {ws}
        GROUP BY ALL"""


def live_hist_sql(ws: str) -> str:
    """Per kind and bucket over [?, ?) (+ ws): today's part of a window's histograms, which
    needs neither the day nor the workstation (the rollup's are built from `values_sql`)."""
    return " UNION ALL ".join(
        f"""SELECT '{kind}' AS kind, {bucket_sql(kind)} AS second, count(*) AS n
            FROM calls WHERE started_at >= ? AND started_at < ? AND {cond} {ws}
            GROUP BY ALL"""
        for kind, (_, cond) in VALUES.items()
    )


def hist_sql(local: str, ws: str) -> str:
    parts = [
        f"""SELECT CAST({local} AS DATE) AS day, workstation, '{kind}' AS kind,
                   {bucket_sql(kind)} AS second, count(*) AS n
            FROM calls WHERE started_at >= ? AND started_at < ? AND {cond} {ws}
            GROUP BY ALL"""
        for kind, (_, cond) in VALUES.items()
    ]
    return " UNION ALL ".join(parts)


def states_sql(ws: str) -> str:
    """Seconds per agent, workstation and state clipped to [?, ?), then the wrap-up after
    connected calls started in it. Parameters: lo, hi, lo, hi, lo, hi (+ ws twice)."""
    return f"""
        SELECT agent_id, workstation, state,
               sum(date_diff('microsecond', greatest(started_at, ?), least(ended_at, ?))) / 1e6
        FROM agent_state_intervals WHERE ended_at > ? AND started_at < ? {ws}
        GROUP BY ALL
        UNION ALL
        SELECT agent_id, workstation, '{WRAP_CONNECTED}', sum(seconds)
        FROM agent_state_intervals
        WHERE state = 'wrap_up' AND call_connected AND started_at >= ? AND started_at < ? {ws}
        GROUP BY ALL"""


def _ws(workstation: str | None) -> tuple[str, list[Any]]:
    return ("AND workstation = ?", [workstation]) if workstation else ("", [])


# --- fingerprints ----------------------------------------------------------------------------


def _fingerprint_sql(local: str | None) -> tuple[str, str]:
    """Rows per local day (calls, intervals started that day): a count reads only
    `started_at`, which the window's filter reads anyway (sums of other columns cost 10 times
    more at 1 M calls)."""
    day = f"CAST({local} AS DATE)" if local else "NULL"
    calls = f"""SELECT {day}, count(*) FROM calls
                WHERE started_at >= ? AND started_at < ? GROUP BY ALL"""
    intervals = f"""SELECT {day}, count(*) FROM agent_state_intervals
                    WHERE started_at >= ? AND started_at < ? GROUP BY ALL"""
    return calls, intervals


# --- the rollup ------------------------------------------------------------------------------


class DayRange:
    """Local days [first, last] of a zone, with the SQL that maps a UTC column to them."""

    def __init__(self, tz: str, first: date, last: date, utc: Any, local: Any) -> None:
        self.tz, self.first, self.last, self.utc = tz, first, last, utc
        self.lo, self.hi = utc(first), utc(last + timedelta(days=1))
        self._local = local

    def local(self, column: str) -> tuple[str, list[Any]]:
        return self._local(column, self.lo, self.hi)  # type: ignore[no-any-return]

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


_VERSION_SQL = """
    SELECT count(*), coalesce(sum(calls), 0), coalesce(sum(intervals), 0), max(built_at),
           (SELECT path FROM duckdb_databases() WHERE database_name = current_database()),
           (SELECT count(*) FROM calls WHERE started_at >= ? AND started_at < ?),
           (SELECT count(*) FROM agent_state_intervals WHERE started_at >= ? AND started_at < ?)
    FROM stats_rollup_days WHERE tz = ? AND day >= ? AND day <= ? AND rates = ?"""


def fresh_days(
    con: duckdb.DuckDBPyConnection, rng: DayRange, rates: dict[str, LegCost] | None = None
) -> tuple[Any, ...]:
    """Build the days of `rng` that are missing, built at other leg rates, or whose records
    changed since built. Answers the built days' version: (database file, days, calls,
    intervals, last built_at), a new one whenever a day of the window is built again; the
    file is None for an in-memory database."""
    key = rates_key(rates or {})
    params = [rng.lo, rng.hi, rng.lo, rng.hi, rng.tz, rng.first, rng.last, key]
    try:
        stored = con.execute(_VERSION_SQL, params).fetchone()
    except (duckdb.CatalogException, duckdb.BinderException):  # no rollup, or an older one
        ensure_tables(con)
        stored = con.execute(_VERSION_SQL, params).fetchone()
    assert stored is not None
    days, calls, intervals, built_at, path, calls_now, intervals_now = stored
    if days == len(rng.days()) and (calls, intervals) == (calls_now, intervals_now):
        # every day built and nothing changed: the common case, two cheap count scans
        return (path, days, calls, intervals, built_at)
    with _build_lock:
        _rebuild_changed(con, rng, rates or {}, key)
    stored = con.execute(_VERSION_SQL, params).fetchone()
    assert stored is not None
    return (stored[4], *stored[:4])


def _rebuild_changed(
    con: duckdb.DuckDBPyConnection, rng: DayRange, rates: dict[str, LegCost], key: str
) -> None:
    local, lp = rng.local("started_at")
    calls_fp, intervals_fp = _fingerprint_sql(local)
    seen: dict[date, list[int]] = {d: [0, 0] for d in rng.days()}
    for day, n in con.execute(calls_fp, [*lp, rng.lo, rng.hi]).fetchall():
        seen[day][0] = int(n)
    for day, n in con.execute(intervals_fp, [*lp, rng.lo, rng.hi]).fetchall():
        seen[day][1] = int(n)
    stored = {
        row[0]: [int(v) for v in row[1:]]
        for row in con.execute(
            """SELECT day, calls, intervals
               FROM stats_rollup_days WHERE tz = ? AND day >= ? AND day <= ? AND rates = ?""",
            [rng.tz, rng.first, rng.last, key],
        ).fetchall()
    }
    stale: set[date] = set()
    interval_change: date | None = None
    for day in rng.days():
        old = stored.get(day)
        if old is None or old[0] != seen[day][0]:
            stale.add(day)
        if old is None or old[1] != seen[day][1]:
            interval_change = day if interval_change is None else min(interval_change, day)
    if interval_change is not None:  # an interval may overlap the days after its start
        stale.update(d for d in rng.days() if d >= interval_change)
    if not stale:
        return
    first, last = min(stale), max(stale)
    sub = DayRange(rng.tz, first, last, rng.utc, rng._local)
    days = sorted(stale)
    con.execute("BEGIN TRANSACTION")
    try:
        for table in TABLES:
            con.execute(
                f"DELETE FROM {table} WHERE tz = ? AND day IN (SELECT unnest(?::DATE[]))",
                [rng.tz, days],
            )
        _insert_days(con, sub, stale, seen, rates, key)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _insert_days(
    con: duckdb.DuckDBPyConnection, rng: DayRange, stale: set[date], seen: dict[date, list[int]],
    rates: dict[str, LegCost], key: str,
) -> None:
    keep = list(stale)
    local, lp = rng.local("started_at")
    con.execute(
        f"""INSERT INTO stats_rollup_calls
            SELECT ?, * FROM ({calls_groups_sql(local, '')}) g
            WHERE g.day IN (SELECT unnest(?::DATE[]))""",
        [rng.tz, *lp, rng.lo, rng.hi, keep],
    )
    con.execute(
        f"""INSERT INTO stats_rollup_hist
            SELECT ?, * FROM ({hist_sql(local, '')}) h
            WHERE h.day IN (SELECT unnest(?::DATE[]))""",
        [rng.tz, *lp, rng.lo, rng.hi, *lp, rng.lo, rng.hi, keep],
    )
    c_local, c_lp = rng.local("c.started_at")
    legs_sql, legs_params = leg_costs.per_call_sql(
        rates, "c.started_at >= ? AND c.started_at < ?", f"CAST({c_local} AS DATE)")
    con.execute(
        f"""INSERT INTO stats_rollup_legs
            SELECT ?, * FROM ({legs_sql}) g WHERE g.day IN (SELECT unnest(?::DATE[]))""",
        [rng.tz, *c_lp, rng.lo, rng.hi, *legs_params, keep],
    )
    for day in sorted(stale):  # states: clipped to each day, one query per day
        lo, hi = rng.utc(day), rng.utc(day + timedelta(days=1))
        con.execute(
            f"INSERT INTO stats_rollup_states SELECT ?, ?, * FROM ({states_sql('')})",
            [rng.tz, day, lo, hi, lo, hi, lo, hi],
        )
        fp = seen[day]
        con.execute(
            "INSERT INTO stats_rollup_days VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP)",
            [rng.tz, day, *fp, key],
        )


# --- exact percentiles from histograms -------------------------------------------------------


def _ranks(
    hist: dict[int, int], qs: Iterable[float]
) -> tuple[dict[int, int], Callable[[int], int], list[tuple[float, int, int]], list[int]]:
    """Ranks below each bucket, rank -> bucket, (rank, floor, ceiling) per q, the buckets
    those ranks fall in."""
    total = sum(hist.values())
    seconds = sorted(s for s, n in hist.items() if n)
    below: dict[int, int] = {}
    acc = 0
    for s in seconds:
        below[s] = acc
        acc += hist[s]

    def bucket(rank: int) -> int:
        lo, hi = 0, len(seconds) - 1
        while lo < hi:  # the last second whose first rank is <= rank
            mid = (lo + hi + 1) // 2
            if below[seconds[mid]] <= rank:
                lo = mid
            else:
                hi = mid - 1
        return seconds[lo]

    wanted = []
    for q in qs:
        rn = (total - 1) * q
        wanted.append((rn, math.floor(rn), math.ceil(rn)))
    needed = sorted({bucket(r) for _, f, c in wanted for r in (f, c)})
    return below, bucket, wanted, needed


def needed_buckets(hist: dict[int, int], qs: Iterable[float] = (0.5, 0.9)) -> list[int]:
    """The buckets whose values `exact_quantiles` reads (none for no value)."""
    return _ranks(hist, qs)[3] if sum(hist.values()) else []


def exact_quantiles(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    hist: dict[int, int],
    where: str,
    params: list[Any],
    qs: Iterable[float] = (0.5, 0.9),
    fetch: Callable[[list[int]], dict[int, list[float]]] | None = None,
) -> list[float] | None:
    """`quantile_cont` of the `kind` values the filter selects, from their per-second counts
    and the values of the few seconds the ranks fall in (`fetch(buckets)`: each bucket's
    values, sorted; by default read from `calls` with the filter). None when the counts no
    longer match the values (a record written in between): the caller then asks DuckDB."""
    if sum(hist.values()) == 0:
        return [math.nan for _ in qs]
    below, bucket, wanted, needed = _ranks(hist, qs)
    values = (fetch or (lambda b: bucket_values(con, kind, b, where, params)))(needed)
    for s in needed:
        if len(values.get(s, ())) != hist[s]:
            return None

    def at(rank: int) -> float:
        s = bucket(rank)
        return values[s][rank - below[s]]

    out = []
    for rn, f, c in wanted:
        lo_v = at(f)
        out.append(lo_v if f == c else lo_v + (at(c) - lo_v) * (rn - f))
    return out


def bucket_values(
    con: duckdb.DuckDBPyConnection, kind: str, buckets: list[int], where: str, params: list[Any]
) -> dict[int, list[float]]:
    """The sorted `kind` values of `buckets`, over the calls `where` selects."""
    expr, cond = VALUES[kind]
    rows = con.execute(
        f"""SELECT {bucket_sql(kind)} AS b, list_sort(list({expr})) FROM calls
            WHERE {where} AND {cond} AND {bucket_sql(kind)} IN (SELECT unnest(?::BIGINT[]))
            GROUP BY b""",
        [*params, buckets],
    ).fetchall()
    return {int(b): list(v) for b, v in rows}


def keep_values(
    con: duckdb.DuckDBPyConnection, rng: DayRange, wanted: list[tuple[str, int]]
) -> None:
    """Keep in `stats_rollup_values` the values of the `wanted` (kind, bucket)s over the
    built days of `rng` that do not have them yet: one scan of the days' calls per kind, the
    first time a percentile's rank falls in a bucket (then read from here)."""
    with _build_lock:  # one filler at a time, and never while days are built again
        have = {
            (kind, int(second)): int(n)
            for kind, second, n in con.execute(
                """SELECT kind, second, count(*) FROM stats_rollup_buckets
                   WHERE tz = ? AND day >= ? AND day <= ?
                     AND second IN (SELECT unnest(?::BIGINT[])) GROUP BY ALL""",
                [rng.tz, rng.first, rng.last, sorted({b for _, b in wanted})],
            ).fetchall()
        }
        todo = [(k, b) for k, b in wanted if have.get((k, b), 0) < len(rng.days())]
        if not todo:
            return
        local, lp = rng.local("started_at")
        con.execute("BEGIN TRANSACTION")
        try:
            for kind in sorted({k for k, _ in todo}):
                buckets = sorted({b for k, b in todo if k == kind})
                con.execute(  # the days already kept for a bucket are kept again: dropped first
                    """DELETE FROM stats_rollup_values WHERE tz = ? AND day >= ? AND day <= ?
                         AND kind = ? AND second IN (SELECT unnest(?::BIGINT[]))""",
                    [rng.tz, rng.first, rng.last, kind, buckets],
                )
                con.execute(
                    """DELETE FROM stats_rollup_buckets WHERE tz = ? AND day >= ? AND day <= ?
                         AND kind = ? AND second IN (SELECT unnest(?::BIGINT[]))""",
                    [rng.tz, rng.first, rng.last, kind, buckets],
                )
                expr, cond = VALUES[kind]
                con.execute(
                    f"""INSERT INTO stats_rollup_values
                        SELECT ?, CAST({local} AS DATE) AS day, workstation, ?,
                               {bucket_sql(kind)} AS b, list({expr})
                        FROM calls WHERE started_at >= ? AND started_at < ? AND {cond}
                          AND {bucket_sql(kind)} IN (SELECT unnest(?::BIGINT[]))
                        GROUP BY ALL""",
                    [rng.tz, *lp, kind, rng.lo, rng.hi, buckets],
                )
                con.execute(
                    """INSERT INTO stats_rollup_buckets
                       SELECT ?, d, ?, b FROM unnest(?::DATE[]) t(d), unnest(?::BIGINT[]) u(b)""",
                    [rng.tz, kind, rng.days(), buckets],
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time())
