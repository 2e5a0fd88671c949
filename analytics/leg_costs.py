"""What the agent legs cost per mode, for the statistics page: legs set up for one call each
(`per_call`) against the persistent agent-leg sessions (`persistent`), over the page's filter.

- per_call: the agent legs the calls of the window dialed themselves. A switched call's legs
  are its rows of `call_agent_legs` (each with the cost its record gave it); a call that never
  switched has its one agent leg in `calls` (dialed: `agent_dialing_at`; answered seconds:
  `agent_billable_seconds`) and its cost from the configured rates (`[costs]`, core/costs.py,
  the same formula as the records'). A call bridged onto a persistent leg dialed no agent leg
  (no `agent_dialing_at`, its agent answered at once): its legs are billed in the session.
- persistent: the `agent_leg_sessions` that started in the window (agent and workstation
  filters apply; a session is not per campaign: with a campaign filter, none), their legs
  dialed, answered seconds and stored cost.

A cost is None when neither the records nor the rates give one (costs not configured).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import duckdb
import msgspec

from core.costs import LegCost

if TYPE_CHECKING:
    from analytics.dashboard import StatsFilter

PER_CALL, PERSISTENT = "per_call", "persistent"


class ModeCost(msgspec.Struct, frozen=True, kw_only=True):
    mode: str  # per_call or persistent
    legs: int  # agent legs dialed
    seconds: float  # their answered (billable) seconds
    cost: float | None  # None: no cost recorded nor configured


def _rate_sql(costs: dict[str, LegCost], workstation: str, seconds: str) -> tuple[str, list[Any]]:
    """SQL for core.costs.leg_cost of an answered leg at the configured rate of its mode
    (NULL for a mode without a rate)."""
    if not costs:
        return "CAST(NULL AS DOUBLE)", []
    cases, params = [], []
    for mode, rate in sorted(costs.items()):
        cases.append(f"WHEN {workstation} = ? THEN round(? + ? * greatest(0.0, {seconds}) / 60.0, 4)")
        params += [mode, rate.per_call, rate.per_minute]
    return f"(CASE {' '.join(cases)} END)", params


def _calls_where(flt: StatsFilter) -> tuple[str, list[Any]]:
    from analytics.dashboard import _where  # the page's filter, on `calls`

    return _where(flt, "c")


def per_call_sql(
    rates: dict[str, LegCost], where: str, day: str = "NULL"
) -> tuple[str, list[Any]]:
    """Per local `day` (SQL over `c`) and workstation: the per-call agent legs of the calls
    `where` (on `c`) selects: legs dialed, answered seconds, the sum and the count of their
    known costs. The page's per_call line is the sum of these groups; the per-day rollup
    (analytics.rollup) keeps them per finished day. Parameters: where's, then the rates'."""
    leg_rate, leg_params = _rate_sql(rates, "l.workstation", "l.billable_seconds")
    call_rate, call_params = _rate_sql(rates, "c.workstation", "c.agent_billable_seconds")
    # only the columns needed, not materialized: `SELECT c.*` materialized every column
    # (the steps' JSON too) and cost more than the rest of the page at 1 M calls
    return f"""
        WITH chosen AS NOT MATERIALIZED (
            SELECT c.call_id, c.workstation, c.agent_dialing_at, c.agent_answered_at,
                   c.agent_billable_seconds, {day} AS day
            FROM calls c
            WHERE {where}
              AND NOT (c.agent_dialing_at IS NULL AND c.agent_answered_at IS NOT NULL)
        ),
        switched AS (
            SELECT c.day, c.workstation, l.answered_at IS NOT NULL AS answered,
                   l.billable_seconds AS seconds,
                   CASE WHEN l.answered_at IS NULL THEN 0.0
                        ELSE coalesce(l.cost, {leg_rate}) END AS cost
            FROM call_agent_legs l JOIN chosen c USING (call_id)
            WHERE l.dialed_at IS NOT NULL
        ),
        single AS (
            SELECT c.day, c.workstation, c.agent_answered_at IS NOT NULL AS answered,
                   coalesce(c.agent_billable_seconds, 0.0) AS seconds,
                   CASE WHEN c.agent_answered_at IS NULL THEN 0.0 ELSE {call_rate} END AS cost
            FROM chosen c
            WHERE c.agent_dialing_at IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM call_agent_legs l WHERE l.call_id = c.call_id)
        ),
        every AS (SELECT * FROM switched UNION ALL SELECT * FROM single)
        SELECT day, workstation, count(*), coalesce(sum(seconds), 0.0),
               coalesce(sum(cost), 0.0), count(cost)
        FROM every GROUP BY ALL""", [*leg_params, *call_params]


def per_call_line(rates: dict[str, LegCost], groups: list[tuple[Any, ...]]) -> ModeCost:
    """The per_call line from `per_call_sql`'s groups (day, workstation, legs, seconds,
    cost sum, cost count)."""
    legs = sum(int(g[2]) for g in groups)
    seconds = sum(float(g[3]) for g in groups)
    cost = sum(float(g[4]) for g in groups)
    known = sum(int(g[5]) for g in groups)
    return ModeCost(mode=PER_CALL, legs=legs, seconds=seconds,
                    cost=sql_round4(cost) if known or rates else None)


def sql_round4(value: float) -> float:
    """DuckDB's round(value, 4) on a DOUBLE: std::round (half away from zero) of value·10⁴."""
    scaled = value * 10_000.0
    whole = math.trunc(scaled)
    if abs(scaled - whole) >= 0.5:
        whole += 1 if scaled > 0 else -1
    return whole / 10_000.0


def sessions_line(
    cursor: duckdb.DuckDBPyConnection, flt: StatsFilter, rates: dict[str, LegCost]
) -> ModeCost:
    from analytics.dashboard import person_clauses  # the page's filter

    session_where, session_params = person_clauses(
        flt, ["s.started_at >= ?", "s.started_at < ?"], [flt.start, flt.end], "s"
    )
    if flt.campaign_contacts is not None:
        session_where.append("false")
    ((s_legs, s_seconds, s_cost),) = cursor.execute(
        f"""
        SELECT coalesce(sum(s.legs), 0), coalesce(sum(s.billable_seconds), 0.0),
               CASE WHEN count(s.cost) > 0 OR ? THEN round(coalesce(sum(s.cost), 0.0), 4) END
        FROM agent_leg_sessions s WHERE {' AND '.join(session_where)}
        """,
        [bool(rates), *session_params],
    ).fetchall()
    return ModeCost(mode=PERSISTENT, legs=int(s_legs), seconds=float(s_seconds),
                    cost=None if s_cost is None else float(s_cost))


def agent_leg_costs(
    con: duckdb.DuckDBPyConnection, flt: StatsFilter, costs: dict[str, LegCost] | None = None
) -> list[ModeCost]:
    """One line per mode (per_call, persistent), zeros included."""
    rates = costs or {}
    where, params = _calls_where(flt)
    sql, rate_params = per_call_sql(rates, where)
    cursor = con.cursor()
    try:
        groups = cursor.execute(sql, [*params, *rate_params]).fetchall()
        return [per_call_line(rates, groups), sessions_line(cursor, flt, rates)]
    finally:
        cursor.close()
