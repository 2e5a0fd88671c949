"""The statistics page from the per-day rollup (analytics.rollup) plus today live.

`dashboard_from_rollup` answers None when the rollup does not apply (a window of at most 50
hours, not made of whole local days, an agent or a campaign filter, a read-only store, no
finished day in the window): `analytics.dashboard` then runs its live queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from analytics import leg_costs, rollup
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
    cur = con.cursor()
    try:
        try:
            rollup.ensure_tables(cur)
            rollup.fresh_days(cur, rng, costs)
        except duckdb.Error:
            return None  # a read-only store, or another process building: the live path
        cur.execute("BEGIN TRANSACTION")  # one snapshot for the rollup and today's rows
        try:
            return _read(cur, flt, rng, _utc(last + timedelta(days=1), tzinfo), costs or {})
        finally:
            cur.execute("COMMIT")
    finally:
        cur.close()


def _read(
    cur: duckdb.DuckDBPyConnection, flt: StatsFilter, rng: rollup.DayRange,
    live_lo: datetime, rates: dict[str, LegCost],
) -> Dashboard:
    ws, ws_params = rollup._ws(flt.workstation)
    key = [flt.tz, rng.first, rng.last]
    measures = ["calls", "attempted", "connected", "talk", "agent_billed", "dropped", "asked",
                "accepted", "guarded", "setup_sum", "setup_n", *(f"hung_{p}" for p in _PARTIES)]
    rolled = (f"SELECT day, agent_id, workstation, outcome, {', '.join(measures)} "
              f"FROM stats_rollup_calls WHERE tz = ? AND day >= ? AND day <= ? {ws}")
    union_params: list[Any] = [*key, *ws_params]
    if flt.end > live_lo:  # today (and any day after it), live, with the same columns
        local, lp = _local("started_at", StatsFilter(start=live_lo, end=flt.end, tz=flt.tz))
        rolled += " UNION ALL " + rollup.calls_groups_sql(local, ws)
        union_params += [*lp, live_lo, flt.end, *ws_params]
    # per agent and workstation (agents, modes, totals), per day and outcome (series, days)
    sums = ", ".join(f"sum({m})" for m in measures)
    groups = cur.execute(
        f"""SELECT grouping(agent_id) = 0, agent_id, workstation, day, outcome, {sums}
            FROM ({rolled}) g
            GROUP BY GROUPING SETS ((agent_id, workstation), (day, outcome))""",
        union_params,
    ).fetchall()
    states_rows = cur.execute(
        f"""SELECT agent_id, state, sum(seconds) FROM stats_rollup_states
            WHERE tz = ? AND day >= ? AND day <= ? {ws} GROUP BY ALL""",
        [*key, *ws_params],
    ).fetchall()
    hist_rows = cur.execute(
        f"""SELECT kind, second, sum(n) FROM stats_rollup_hist
            WHERE tz = ? AND day >= ? AND day <= ? {ws} GROUP BY ALL""",
        [*key, *ws_params],
    ).fetchall()
    if flt.end > live_lo:
        states_rows += [
            (agent_id, state, seconds)
            for agent_id, _, state, seconds in cur.execute(
                rollup.states_sql(ws),
                [live_lo, flt.end, live_lo, flt.end, *ws_params, live_lo, flt.end, *ws_params],
            ).fetchall()
        ]
        hist_rows += [
            (kind, second, n)
            for _, _, kind, second, n in cur.execute(
                rollup.hist_sql(local, ws),
                [*lp, live_lo, flt.end, *ws_params, *lp, live_lo, flt.end, *ws_params],
            ).fetchall()
        ]

    hist: dict[str, dict[int, int]] = {"talk": defaultdict(int), "setup": defaultdict(int)}
    for kind, second, n in hist_rows:
        hist[kind][int(second)] += int(n)
    where = f"started_at >= ? AND started_at < ? {ws}"
    params = [flt.start, flt.end, *ws_params]

    def values(kind: str) -> Callable[[list[int]], dict[int, list[float]]]:
        def fetch(buckets: list[int]) -> dict[int, list[float]]:
            got = rollup.rolled_values(cur, flt.tz, rng.first, rng.last, kind, buckets,
                                       ws, ws_params)
            if flt.end > live_lo:  # today's values of the same buckets, live
                live = rollup.bucket_values(cur, kind, buckets, f"started_at >= ? AND "
                                            f"started_at < ? {ws}", [live_lo, flt.end, *ws_params])
                for b, v in live.items():
                    got[b] = sorted([*got.get(b, []), *v])
            return got
        return fetch

    quantiles = {kind: _quantiles(cur, kind, hist[kind], where, params, values(kind))
                 for kind in hist}
    legs = cur.execute(
        f"""SELECT day, workstation, legs, seconds, cost, cost_n FROM stats_rollup_legs
            WHERE tz = ? AND day >= ? AND day <= ? {ws}""",
        [*key, *ws_params],
    ).fetchall()
    if flt.end > live_lo:
        legs_sql, legs_params = leg_costs.per_call_sql(
            rates, f"c.started_at >= ? AND c.started_at < ? {ws}")
        legs += cur.execute(legs_sql, [live_lo, flt.end, *ws_params, *legs_params]).fetchall()
    leg_lines = [leg_costs.per_call_line(rates, legs), leg_costs.sessions_line(cur, flt, rates)]

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
    params: list[Any], fetch: Callable[[list[int]], dict[int, list[float]]],
) -> tuple[float | None, float | None]:
    if not any(hist.values()):
        return None, None
    exact = rollup.exact_quantiles(cur, kind, hist, where, params, fetch=fetch)
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
