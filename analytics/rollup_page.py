"""The statistics page from the per-day rollup (analytics.rollup) plus today live.

`dashboard_from_rollup` answers None when the rollup does not apply (a window of at most 50
hours, not made of whole local days, an agent or a campaign filter, a read-only store, no
finished day in the window): `analytics.dashboard` then runs its live queries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from analytics import leg_costs, page_pool, rollup
from analytics.dashboard import (
    BilledDay,
    Bucket,
    Dashboard,
    ModeQuality,
    StatsFilter,
    _agent_lines,
    _local,
    _utc,
    zone,
)
from analytics.leg_costs import ModeCost
from core.costs import LegCost

_PARTIES = rollup._PARTIES


def _plan(flt: StatsFilter, today: date | None) -> tuple[date, date, date] | None:
    """(first day, last finished day, day after the window) or None."""
    if flt.end - flt.start <= timedelta(hours=50):
        return None
    if flt.agent_id or flt.campaign_contacts is not None:
        return None
    tzinfo = zone(flt.tz)
    lo = flt.start.replace(tzinfo=UTC).astimezone(tzinfo)
    hi = flt.end.replace(tzinfo=UTC).astimezone(tzinfo)
    if lo.time() != datetime.min.time() or hi.time() != datetime.min.time():
        return None
    today = today if today is not None else datetime.now(tzinfo).date()
    last_finished = min(hi.date(), today) - timedelta(days=1)
    if last_finished < lo.date():
        return None
    return lo.date(), last_finished, hi.date()


def dashboard_from_rollup(
    con: duckdb.DuckDBPyConnection, flt: StatsFilter, today: date | None,
    costs: dict[str, LegCost] | None = None,
) -> Dashboard | None:
    plan = _plan(flt, today)
    if plan is None:
        return None
    first, last, _ = plan
    tzinfo = zone(flt.tz)

    def local(column: str, lo: datetime, hi: datetime) -> tuple[str, list[Any]]:
        return _local(column, StatsFilter(start=lo, end=hi, tz=flt.tz))

    rng = rollup.DayRange(flt.tz, first, last, lambda d: _utc(d, tzinfo), local)
    return _read(con, flt, rng, _utc(last + timedelta(days=1), tzinfo), costs or {})


class _Finished:
    """The finished days' part of a window, as read from the rollup: the same for every
    fetch until a day of the window is built again (a new version), so kept in memory."""

    def __init__(self, groups: list[tuple[Any, ...]], states: list[tuple[Any, ...]],
                 hist: list[tuple[Any, ...]], legs: list[tuple[Any, ...]]) -> None:
        self.groups, self.states, self.hist, self.legs = groups, states, hist, legs
        self.values: dict[tuple[str, int], list[float]] = {}  # (kind, bucket): sorted values


_CACHE_SIZE = 16
_cache: OrderedDict[tuple[Any, ...], _Finished] = OrderedDict()
_cache_lock = threading.Lock()


def _finished(
    cur: duckdb.DuckDBPyConnection, key: tuple[Any, ...], ws: str, ws_params: list[Any],
    cacheable: bool,
) -> _Finished:
    with _cache_lock:
        hit = _cache.get(key) if cacheable else None
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    days = list(key[1:4])  # tz, first, last
    measures = ", ".join(f"sum({m})" for m in _MEASURES)
    # per agent and workstation (agents, modes, totals), per day and outcome (series, days)
    groups = cur.execute(
        f"""SELECT grouping(agent_id) = 0, agent_id, workstation, day, outcome, {measures}
            FROM stats_rollup_calls WHERE tz = ? AND day >= ? AND day <= ? {ws}
            GROUP BY GROUPING SETS ((agent_id, workstation), (day, outcome))""",
        [*days, *ws_params],
    ).fetchall()
    states = cur.execute(
        f"""SELECT agent_id, state, sum(seconds) FROM stats_rollup_states
            WHERE tz = ? AND day >= ? AND day <= ? {ws} GROUP BY ALL""",
        [*days, *ws_params],
    ).fetchall()
    hist = cur.execute(
        f"""SELECT kind, second, sum(n) FROM stats_rollup_hist
            WHERE tz = ? AND day >= ? AND day <= ? {ws} GROUP BY ALL""",
        [*days, *ws_params],
    ).fetchall()
    legs = cur.execute(
        f"""SELECT day, workstation, legs, seconds, cost, cost_n FROM stats_rollup_legs
            WHERE tz = ? AND day >= ? AND day <= ? {ws}""",
        [*days, *ws_params],
    ).fetchall()
    part = _Finished(groups, states, hist, legs)
    if cacheable:
        with _cache_lock:
            _cache[key] = part
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return part


def _fresh_part(
    cur: duckdb.DuckDBPyConnection, rng: rollup.DayRange, rates: dict[str, LegCost],
    workstation: str | None, ws: str, ws_params: list[Any],
) -> tuple[tuple[Any, ...], _Finished] | None:
    """The window's finished days, built if needed, and their part of the page; None when
    the rollup cannot be built (a read-only store, another process building)."""
    try:
        version = rollup.fresh_days(cur, rng, rates)
    except duckdb.Error:
        return None
    key = (version[0], rng.tz, rng.first, rng.last, workstation, rollup.rates_key(rates),
           *version[1:])
    cur.execute("BEGIN TRANSACTION")  # the four tables as one build left them
    try:
        return key, _finished(cur, key, ws, ws_params, cacheable=version[0] is not None)
    finally:
        cur.execute("COMMIT")


def _bucket_values(
    con: duckdb.DuckDBPyConnection, cur: duckdb.DuckDBPyConnection, part: _Finished,
    key: tuple[Any, ...], rng: rollup.DayRange,
    needed: dict[str, list[int]], ws: str, ws_params: list[Any],
    live: tuple[datetime, datetime] | None,
) -> dict[str, dict[int, list[float]]]:
    """The sorted values of the `needed` buckets per kind: the finished days' from the rollup
    (kept with the part), today's live, merged."""
    with _cache_lock:
        missing = [(k, b) for k, bs in needed.items() for b in bs if (k, b) not in part.values]
    if missing:  # on a cursor of its own: a snapshot taken after the part was built
        rolled = con.cursor()
        try:
            rollup.keep_values(rolled, rng, missing)
            rows = rolled.execute(
                f"""SELECT kind, second, flatten(list(vals)) FROM stats_rollup_values
                    WHERE tz = ? AND day >= ? AND day <= ? {ws}
                      AND second IN (SELECT unnest(?::BIGINT[]))
                      AND kind || ':' || second IN (SELECT unnest(?::VARCHAR[]))
                    GROUP BY ALL""",
                [*key[1:4], *ws_params, sorted({b for _, b in missing}),
                 [f"{k}:{b}" for k, b in missing]],
            ).fetchall()
        finally:
            rolled.close()
        got = {(k, int(b)): sorted(v) for k, b, v in rows}
        with _cache_lock:
            for k, b in missing:
                part.values[(k, b)] = got.get((k, b), [])
    with _cache_lock:
        out = {k: {b: part.values[(k, b)] for b in bs} for k, bs in needed.items()}
    if live is not None and any(needed.values()):
        parts, params = [], []
        for kind, buckets in needed.items():
            if not buckets:
                continue
            expr, cond = rollup.VALUES[kind]
            parts.append(
                f"""SELECT '{kind}', {rollup.bucket_sql(kind)} AS b, list({expr})
                    FROM calls WHERE started_at >= ? AND started_at < ? AND {cond} {ws}
                      AND {rollup.bucket_sql(kind)} IN (SELECT unnest(?::BIGINT[]))
                    GROUP BY b""")
            params += [*live, *ws_params, buckets]
        for kind, b, v in cur.execute(" UNION ALL ".join(parts), params).fetchall():
            out[kind][int(b)] = sorted([*out[kind][int(b)], *v])
    return out


_MEASURES = ["calls", "attempted", "connected", "talk", "agent_billed", "dropped", "asked",
             "accepted", "guarded", "setup_sum", "setup_n", *(f"hung_{p}" for p in _PARTIES)]


def _live_groups(
    cur: duckdb.DuckDBPyConnection, local: str, params: list[Any], ws: str
) -> list[tuple[Any, ...]]:
    # today's few hundred groups count once per agent and once per day (as the grouping
    # sets over the rollup do): summed in Python, not by a second GROUP BY in SQL
    out: list[tuple[Any, ...]] = []
    for day, agent_id, mode, outcome, *values in cur.execute(
        rollup.calls_groups_sql(local, ws), params
    ).fetchall():
        out.append((True, agent_id, mode, None, None, *values))
        out.append((False, None, None, day, outcome, *values))
    return out


def _live_states(
    cur: duckdb.DuckDBPyConnection, lo: datetime, hi: datetime, ws: str, ws_params: list[Any]
) -> list[tuple[Any, ...]]:
    return [
        (agent_id, state, seconds)
        for agent_id, _, state, seconds in cur.execute(
            rollup.states_sql(ws), [lo, hi, lo, hi, *ws_params, lo, hi, *ws_params]
        ).fetchall()
    ]


def _live_legs(
    cur: duckdb.DuckDBPyConnection, flt: StatsFilter, lo: datetime, rates: dict[str, LegCost],
    ws: str, ws_params: list[Any], live: bool,
) -> tuple[list[tuple[Any, ...]], ModeCost]:
    """Today's per-call agent-leg groups (if the window reaches today), the sessions' line."""
    legs: list[tuple[Any, ...]] = []
    if live:
        sql, params = leg_costs.per_call_sql(rates, f"c.started_at >= ? AND c.started_at < ? {ws}")
        legs = cur.execute(sql, [lo, flt.end, *ws_params, *params]).fetchall()
    return legs, leg_costs.sessions_line(cur, flt, rates)


def _read(
    con: duckdb.DuckDBPyConnection, flt: StatsFilter, rng: rollup.DayRange,
    live_lo: datetime, rates: dict[str, LegCost],
) -> Dashboard | None:
    ws, ws_params = rollup._ws(flt.workstation)
    live = (live_lo, flt.end) if flt.end > live_lo else None
    local, lp = _local("started_at", StatsFilter(start=live_lo, end=max(flt.end, live_lo),
                                                 tz=flt.tz))
    part_job = page_pool.submit(con, _fresh_part, rng, rates, flt.workstation, ws, ws_params)
    if live is not None:  # today (and any day after it), live, with the rollup's SQL
        groups_job = page_pool.submit(con, _live_groups, local, [*lp, *live, *ws_params], ws)
        states_job = page_pool.submit(con, _live_states, *live, ws, ws_params)
    cur = con.cursor()
    try:
        cur.execute("BEGIN TRANSACTION")  # today's histograms and values: one snapshot
        try:
            hist_rows = []
            if live is not None:
                hist_rows = cur.execute(
                    rollup.live_hist_sql(ws), [*live, *ws_params, *live, *ws_params]
                ).fetchall()
            # today's agent legs here too: this thread would otherwise wait for the others
            live_legs = _live_legs(cur, flt, live_lo, rates, ws, ws_params, live is not None)
            fresh = part_job.result()
            if fresh is None:
                return None
            key, part = fresh
            hist_rows += part.hist
            return _page(con, cur, flt, rng, part, key, hist_rows, live, ws, ws_params,
                         groups_job.result() if live is not None else [],
                         states_job.result() if live is not None else [],
                         live_legs, rates)
        finally:
            cur.execute("COMMIT")
    finally:
        cur.close()


def _page(
    con: duckdb.DuckDBPyConnection, cur: duckdb.DuckDBPyConnection, flt: StatsFilter,
    rng: rollup.DayRange, part: _Finished, key: tuple[Any, ...], hist_rows: list[tuple[Any, ...]],
    live: tuple[datetime, datetime] | None, ws: str, ws_params: list[Any],
    live_groups: list[tuple[Any, ...]], live_states: list[tuple[Any, ...]],
    live_legs: tuple[list[tuple[Any, ...]], ModeCost], rates: dict[str, LegCost],
) -> Dashboard:
    groups = [*part.groups, *live_groups]
    states_rows = [*part.states, *live_states]
    leg_lines = [leg_costs.per_call_line(rates, [*part.legs, *live_legs[0]]), live_legs[1]]
    hist: dict[str, dict[int, int]] = {"talk": defaultdict(int), "setup": defaultdict(int)}
    for kind, second, n in hist_rows:
        hist[kind][int(second)] += int(n)
    where = f"started_at >= ? AND started_at < ? {ws}"
    params = [flt.start, flt.end, *ws_params]
    needed = {kind: rollup.needed_buckets(h) for kind, h in hist.items()}
    found = _bucket_values(con, cur, part, key, rng, needed, ws, ws_params, live)
    quantiles = {kind: _quantiles(cur, kind, hist[kind], where, params, found[kind])
                 for kind in hist}

    totals = [0] * 11 + [0] * len(_PARTIES)
    agents: dict[str, list[float]] = {}
    modes: dict[str, list[int]] = {}
    days: dict[date, list[float]] = {}
    series: dict[tuple[date, str], int] = defaultdict(int)
    for by_agent, agent_id, mode, day, outcome, *values in groups:
        n, att, conn, talk, billed, dropped = values[:6]
        if not by_agent:
            d = days.setdefault(day, [0.0, 0.0])
            d[0] += billed
            d[1] += talk
            if n:
                series[(day, outcome)] += n
            continue
        for i, v in enumerate(values):
            totals[i] += v
        a = agents.setdefault(agent_id, [0, 0, 0, 0.0, 0.0, 0])
        for i, v in enumerate((n, att, conn, talk, billed, dropped)):
            a[i] += v
        m = modes.setdefault(mode, [0, 0])
        m[0] += conn
        m[1] += dropped
    (calls, attempted, connected, talk_sum, _billed, _dropped, asked, accepted, guarded,
     setup_sum, setup_n, *hung) = totals

    wrap: dict[str, float] = defaultdict(float)
    states: dict[str, dict[str, float]] = {}
    for agent_id, state, seconds in states_rows:
        if seconds is None:
            continue
        if state == rollup.WRAP_CONNECTED:
            wrap[agent_id] += float(seconds)
        else:
            per = states.setdefault(agent_id, {})
            per[state] = per.get(state, 0.0) + float(seconds)
    per_agent = {
        k: (int(v[0]), int(v[1]), int(v[2]), float(v[3]), float(v[4]), int(v[5]))
        for k, v in agents.items()
    }
    lines = _agent_lines(per_agent, wrap, states)
    wrap_total = sum(wrap.values())
    talk_p50, talk_p90 = quantiles["talk"]
    setup_p50, setup_p90 = quantiles["setup"]
    return Dashboard(
        filter=flt,
        bucket="day",
        calls=int(calls),
        attempted=int(attempted),
        connected=int(connected),
        connect_rate=connected / attempted if attempted else None,
        talk_average=float(talk_sum) / connected if connected else None,
        talk_p50=talk_p50,
        talk_p90=talk_p90,
        talk_seconds=float(talk_sum),
        wrap_up_seconds=wrap_total,
        average_handle_seconds=(float(talk_sum) + wrap_total) / connected if connected else None,
        setup_average=float(setup_sum) / setup_n if setup_n else None,
        setup_p50=setup_p50,
        setup_p90=setup_p90,
        confirm_asked=int(asked),
        confirm_accepted=int(accepted),
        acceptance_rate=accepted / asked if asked else None,
        voicemail_guard=int(guarded),
        agent_billed_seconds=sum(a.agent_billed_seconds for a in lines),
        customer_billed_seconds=float(talk_sum),
        hung_up_first={p: int(n) for p, n in zip(_PARTIES, hung, strict=True) if n},
        modes=[ModeQuality(workstation=k, connected=int(v[0]), dropped=int(v[1]))
               for k, v in sorted(modes.items())],
        series=[Bucket(rollup.local_midnight(day), outcome, int(n))
                for (day, outcome), n in sorted(series.items())],
        agents=lines,
        billed_days=[BilledDay(day=day, agent_billed_seconds=v[0], customer_billed_seconds=v[1])
                     for day, v in sorted(days.items())],
        leg_costs=leg_lines,
    )


def _quantiles(
    cur: duckdb.DuckDBPyConnection, kind: str, hist: dict[int, int], where: str,
    params: list[Any], found: dict[int, list[float]],
) -> tuple[float | None, float | None]:
    if not any(hist.values()):
        return None, None
    exact = rollup.exact_quantiles(cur, kind, hist, where, params, fetch=lambda _: found)
    if exact is None:  # the counts and the values disagree: ask DuckDB over the window
        expr, cond = rollup.VALUES[kind]
        row = cur.execute(
            f"SELECT quantile_cont({expr}, [0.5, 0.9]) FROM calls WHERE {where} AND {cond}",
            params,
        ).fetchone()
        exact = list(row[0]) if row and row[0] is not None else None
    if exact is None:
        return None, None
    return float(exact[0]), float(exact[1])
