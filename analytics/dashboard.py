"""The statistics page's numbers: a handful of SQL aggregates over the store, one filter.

`dashboard(con, StatsFilter(...))` answers everything the "Statistiques / Statistics" page
shows in six queries (calls, calls per bucket, per agent/workstation/day with the agent leg,
wrap-up time, agent state time, agent-leg costs), run side by side (analytics.page_pool);
long windows read their finished days from the per-day rollup (analytics.rollup). Windows are half-open [start, end) in naive UTC, like the
store; buckets (hours, days) are in the call center's zone (`tz`), computed in SQL from the
zone's UTC offsets over the window, so a DST change inside the window is right.

Definitions (the page's help text says the same in words):
- attempted: outcome not `rejected`; connected: both legs bridged;
  connect_rate = connected / attempted;
- talk: customer-leg billable seconds of connected calls (p50/p90 by `quantile_cont`);
- handle time of a connected call = talk + its wrap-up (the agent's `wrap_up` state interval
  after that call, `call_connected`); AHT = average over connected calls;
- agent-leg setup: agent answered - request (the click), over calls whose agent answered;
- acceptance ("press 1"): of the calls where the agent was asked (agent_confirming_at),
  those that went on to the announcement; voicemail guard: outcome agent_not_confirmed (the
  agent leg answered but nobody pressed 1: a voicemail, or an agent who did not accept);
- billed seconds: agent leg = that leg's billable seconds (calls.agent_billable_seconds),
  customer leg = talk; per agent (the agent lines) and per local day (over the selected
  agents: one agent's days when the agent filter is set);
- dropped: a connected call ended by the system, or whose agent leg ended with a Q.850 cause
  other than normal clearing (16), normal unspecified (31) or unknown (0): the agent's phone
  or network lost the call; drop rate = dropped / connected, per workstation mode;
- who hung up first: `hung_up_first` of connected calls;
- occupancy = (on_call + wrap_up) / (available + on_call + wrap_up), paused excluded,
  intervals clipped to the window (campaign does not apply: state time is not per campaign).
- agent-leg cost per mode (per-call legs vs persistent sessions): analytics/leg_costs.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import msgspec

from analytics import page_pool
from analytics.leg_costs import ModeCost, agent_leg_costs
from analytics.stats import StatsError, _window
from core.costs import LegCost
from core.domain import AgentState, CallOutcome, Party, WorkstationMode

NORMAL_CAUSES = (0, 16, 31)
MAX_CUSTOM_DAYS = 366


class PeriodChoice(StrEnum):
    TODAY = "today"
    YESTERDAY = "yesterday"
    LAST_7_DAYS = "7d"
    LAST_30_DAYS = "30d"
    CUSTOM = "custom"


class StatsFilter(msgspec.Struct, frozen=True, kw_only=True):
    start: datetime  # naive UTC, inclusive
    end: datetime  # naive UTC, exclusive
    tz: str = "UTC"
    agent_id: str | None = None
    workstation: str | None = None
    campaign_contacts: tuple[str, ...] | None = None  # the campaign's contact ids, if any


class Bucket(msgspec.Struct, frozen=True):
    start: datetime  # local time of the bucket's start
    outcome: str
    calls: int


class AgentLine(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    calls: int
    attempted: int
    connected: int
    talk_seconds: float
    wrap_up_seconds: float
    agent_billed_seconds: float
    customer_billed_seconds: float
    dropped: int
    occupancy: float | None
    on_call_seconds: float
    wrap_up_state_seconds: float
    available_seconds: float
    paused_seconds: float

    @property
    def connect_rate(self) -> float | None:
        return self.connected / self.attempted if self.attempted else None

    @property
    def average_handle_seconds(self) -> float | None:
        if not self.connected:
            return None
        return (self.talk_seconds + self.wrap_up_seconds) / self.connected


class BilledDay(msgspec.Struct, frozen=True, kw_only=True):
    """One local day, over the agents the filter selects (per agent: `AgentLine`)."""

    day: date  # local day
    agent_billed_seconds: float
    customer_billed_seconds: float


class ModeQuality(msgspec.Struct, frozen=True, kw_only=True):
    workstation: str
    connected: int
    dropped: int

    @property
    def drop_rate(self) -> float | None:
        return self.dropped / self.connected if self.connected else None


class Dashboard(msgspec.Struct, frozen=True, kw_only=True):
    filter: StatsFilter
    bucket: str  # "hour" or "day"
    calls: int
    attempted: int
    connected: int
    connect_rate: float | None
    talk_average: float | None
    talk_p50: float | None
    talk_p90: float | None
    talk_seconds: float
    wrap_up_seconds: float
    average_handle_seconds: float | None
    setup_average: float | None
    setup_p50: float | None
    setup_p90: float | None
    confirm_asked: int
    confirm_accepted: int
    acceptance_rate: float | None
    voicemail_guard: int
    agent_billed_seconds: float
    customer_billed_seconds: float
    hung_up_first: dict[str, int]
    modes: list[ModeQuality]
    series: list[Bucket]
    agents: list[AgentLine]
    billed_days: list[BilledDay]
    # what the agent legs cost per mode, per call vs persistent (analytics.leg_costs)
    leg_costs: list[ModeCost] = []


# --- periods ---------------------------------------------------------------------------------


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise StatsError(f"unknown time zone {tz!r} (an IANA name like Europe/Paris)") from None


def _utc(local_day: date, tzinfo: ZoneInfo) -> datetime:
    return datetime.combine(local_day, time(), tzinfo=tzinfo).astimezone(UTC).replace(tzinfo=None)


def period_window(
    choice: PeriodChoice | str,
    today: date,
    tz: str = "UTC",
    first: date | None = None,
    last: date | None = None,
) -> tuple[datetime, datetime]:
    """[start, end) in naive UTC for a period of whole local days ending today (`today` is
    the local date). custom: `first` to `last`, both included."""
    try:
        kind = PeriodChoice(choice)
    except ValueError:
        raise StatsError(f"unknown period {choice!r} (today, yesterday, 7d, 30d, custom)") from None
    tzinfo = zone(tz)
    if kind is PeriodChoice.TODAY:
        lo, hi = today, today
    elif kind is PeriodChoice.YESTERDAY:
        lo = hi = today - timedelta(days=1)
    elif kind is PeriodChoice.LAST_7_DAYS:
        lo, hi = today - timedelta(days=6), today
    elif kind is PeriodChoice.LAST_30_DAYS:
        lo, hi = today - timedelta(days=29), today
    else:
        if first is None or last is None:
            raise StatsError("a custom period needs a first and a last day")
        if last < first:
            raise StatsError(f"the last day {last} is before the first day {first}")
        if (last - first).days >= MAX_CUSTOM_DAYS:
            raise StatsError(f"a custom period is at most {MAX_CUSTOM_DAYS} days")
        lo, hi = first, last
    return _utc(lo, tzinfo), _utc(hi + timedelta(days=1), tzinfo)


def _offsets(lo: datetime, hi: datetime, tzinfo: ZoneInfo) -> list[tuple[datetime, int]]:
    """[(from UTC instant, offset in seconds)] covering [lo, hi): the zone's offset changes."""
    def offset(at: datetime) -> int:
        delta = at.replace(tzinfo=UTC).astimezone(tzinfo).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    segments = [(lo, offset(lo))]
    probe = lo
    while probe < hi:  # hourly probes find every change (DST changes happen on the hour)
        nxt = min(probe + timedelta(hours=1), hi)
        if offset(nxt) != segments[-1][1] and nxt < hi:
            segments.append((nxt, offset(nxt)))
        probe = nxt
    return segments


def _local(column: str, flt: StatsFilter) -> tuple[str, list[Any]]:
    """SQL for `column` (naive UTC) shifted to local time, cheap per row (no ICU)."""
    segments = _offsets(flt.start, flt.end, zone(flt.tz))
    if len(segments) == 1:
        return f"({column} + to_seconds(?))", [segments[0][1]]
    cases = " ".join(f"WHEN {column} < ? THEN ?" for _ in segments[1:])
    params: list[Any] = []
    for (_, before), (change, _) in pairwise(segments):
        params += [change, before]
    params.append(segments[-1][1])
    return f"({column} + to_seconds(CASE {cases} ELSE ? END))", params


# --- the filter ------------------------------------------------------------------------------


def person_clauses(
    flt: StatsFilter, clauses: list[str], params: list[Any], alias: str = ""
) -> tuple[list[str], list[Any]]:
    """`clauses` and `params` with the filter's agent and workstation added (on `alias`)."""
    p = f"{alias}." if alias else ""
    if flt.agent_id:
        clauses.append(f"{p}agent_id = ?")
        params.append(flt.agent_id)
    if flt.workstation:
        clauses.append(f"{p}workstation = ?")
        params.append(flt.workstation)
    return clauses, params


def _where(flt: StatsFilter, alias: str = "") -> tuple[str, list[Any]]:
    p = f"{alias}." if alias else ""
    clauses, params = person_clauses(
        flt, [f"{p}started_at >= ?", f"{p}started_at < ?"], [flt.start, flt.end], alias
    )
    if flt.campaign_contacts is not None:
        clauses.append(f"{p}contact_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(flt.campaign_contacts))
    return " AND ".join(clauses), params


def check_filter(flt: StatsFilter) -> StatsFilter:
    _window(flt.start, flt.end)
    zone(flt.tz)
    if flt.workstation is not None and flt.workstation not in {m.value for m in WorkstationMode}:
        raise StatsError(f"unknown workstation mode {flt.workstation!r} (softphone or mobile)")
    return flt


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    cursor = con.cursor()
    try:
        return cursor.execute(sql, list(params)).fetchall()
    finally:
        cursor.close()


# --- the page --------------------------------------------------------------------------------


def dashboard(
    con: duckdb.DuckDBPyConnection,
    flt: StatsFilter,
    today: date | None = None,
    *,
    use_rollup: bool = True,
    costs: dict[str, LegCost] | None = None,
) -> Dashboard:
    """The page's figures. A window of whole local days longer than 50 hours, without an
    agent or a campaign filter, reads its finished days (before `today`, the local date,
    now by default) from the per-day rollup (analytics.rollup) and today live; the figures
    are the same as the live queries' (`use_rollup=False`; tests/analytics/test_analytics_rollup.py)."""
    check_filter(flt)
    from analytics import rollup_page  # the rollup path builds on this module's helpers

    board = rollup_page.dashboard_from_rollup(con, flt, today, costs) if use_rollup else None
    if board is not None:
        return board
    where, params = _where(flt)
    bucket = "hour" if flt.end - flt.start <= timedelta(hours=50) else "day"
    parties = [p.value for p in Party]
    party_counts = ", ".join(
        f"count(*) FILTER (WHERE connected_at IS NOT NULL AND hung_up_first = '{p}')"
        for p in parties
    )
    # the queries are independent: side by side on their own cursors (analytics.page_pool)
    main_job = page_pool.submit(
        con,
        _query,
        f"""
        SELECT count(*),
               count(*) FILTER (WHERE outcome <> 'rejected'),
               count(*) FILTER (WHERE connected_at IS NOT NULL),
               avg(talk_seconds) FILTER (WHERE connected_at IS NOT NULL),
               quantile_cont(talk_seconds, [0.5, 0.9]) FILTER (WHERE connected_at IS NOT NULL),
               coalesce(sum(talk_seconds) FILTER (WHERE connected_at IS NOT NULL), 0),
               avg(epoch(agent_answered_at) - epoch(started_at)),
               quantile_cont(epoch(agent_answered_at) - epoch(started_at), [0.5, 0.9]),
               count(agent_confirming_at),
               count(*) FILTER (WHERE agent_confirming_at IS NOT NULL
                                  AND announcing_at IS NOT NULL),
               count(*) FILTER (WHERE outcome = '{CallOutcome.AGENT_NOT_CONFIRMED.value}'),
               {party_counts}
        FROM calls WHERE {where}
        """,
        params,
    )
    local, local_params = _local("started_at", flt)
    series_job = page_pool.submit(
        con,
        _query,
        f"""
        SELECT date_trunc('{bucket}', {local}) AS b, outcome, count(*)
        FROM calls WHERE {where} GROUP BY ALL ORDER BY b, outcome
        """,
        [*local_params, *params],
    )
    legs_job = page_pool.submit(con, _legs, flt)
    wrap_job = page_pool.submit(con, _wrap_up, flt)
    states_job = page_pool.submit(con, _states, flt)
    leg_lines = agent_leg_costs(con, flt, costs)  # on this thread, which would wait anyway

    ((calls, attempted, connected, talk_avg, talk_q, talk_sum, setup_avg, setup_q, asked,
      accepted, guarded, *hung),) = main_job.result()
    talk_p50, talk_p90 = talk_q if talk_q is not None else (None, None)
    setup_p50, setup_p90 = setup_q if setup_q is not None else (None, None)
    series = [Bucket(b, o, int(n)) for b, o, n in series_job.result()]
    per_agent, modes, billed_days = legs_job.result()
    wrap = wrap_job.result()
    states = states_job.result()
    agents = _agent_lines(per_agent, wrap, states)
    wrap_total = sum(wrap.values())
    return Dashboard(
        filter=flt,
        bucket=bucket,
        calls=int(calls),
        attempted=int(attempted),
        connected=int(connected),
        connect_rate=connected / attempted if attempted else None,
        talk_average=talk_avg,
        talk_p50=talk_p50,
        talk_p90=talk_p90,
        talk_seconds=float(talk_sum),
        wrap_up_seconds=wrap_total,
        average_handle_seconds=(float(talk_sum) + wrap_total) / connected if connected else None,
        setup_average=setup_avg,
        setup_p50=setup_p50,
        setup_p90=setup_p90,
        confirm_asked=int(asked),
        confirm_accepted=int(accepted),
        acceptance_rate=accepted / asked if asked else None,
        voicemail_guard=int(guarded),
        agent_billed_seconds=sum(a.agent_billed_seconds for a in agents),
        customer_billed_seconds=float(talk_sum),
        hung_up_first={p: int(n) for p, n in zip(parties, hung, strict=True) if n},
        modes=modes,
        series=series,
        agents=agents,
        billed_days=billed_days,
        leg_costs=leg_lines,
    )


_ZERO = (0, 0, 0, 0.0, 0.0, 0)


def _agent_lines(
    per_agent: dict[str, tuple[int, int, int, float, float, int]],
    wrap: dict[str, float],
    states: dict[str, dict[str, float]],
) -> list[AgentLine]:
    agents = []
    for agent_id in sorted(set(per_agent) | set(states)):
        a = per_agent.get(agent_id, _ZERO)
        s = states.get(agent_id, {})
        available = s.get(AgentState.AVAILABLE, 0.0)
        on_call = s.get(AgentState.ON_CALL, 0.0)
        wrap_state = s.get(AgentState.WRAP_UP, 0.0)
        staffed = available + on_call + wrap_state
        agents.append(
            AgentLine(
                agent_id=agent_id,
                calls=a[0],
                attempted=a[1],
                connected=a[2],
                talk_seconds=a[3],
                wrap_up_seconds=wrap.get(agent_id, 0.0),
                agent_billed_seconds=a[4],
                customer_billed_seconds=a[3],
                dropped=a[5],
                occupancy=(on_call + wrap_state) / staffed if staffed > 0 else None,
                on_call_seconds=on_call,
                wrap_up_state_seconds=wrap_state,
                available_seconds=available,
                paused_seconds=s.get(AgentState.PAUSED, 0.0),
            )
        )
    return agents


def _legs(
    con: duckdb.DuckDBPyConnection, flt: StatsFilter
) -> tuple[dict[str, tuple[int, int, int, float, float, int]], list[ModeQuality], list[BilledDay]]:
    """Per agent, workstation and local day: calls, connected, talk, agent-leg billed, drops.
    The agent leg's billable seconds and cause are columns of `calls` (schema version 2):
    no join with `call_legs`, which cost more than the rest of the page together."""
    where, params = _where(flt)
    local, local_params = _local("started_at", flt)
    normal = ", ".join(str(c) for c in NORMAL_CAUSES)
    rows = _query(
        con,
        f"""
        SELECT agent_id, workstation, CAST({local} AS DATE) AS day,
               count(*),
               count(*) FILTER (WHERE outcome <> 'rejected'),
               count(*) FILTER (WHERE connected_at IS NOT NULL),
               coalesce(sum(talk_seconds) FILTER (WHERE connected_at IS NOT NULL), 0),
               coalesce(sum(agent_billable_seconds), 0),
               count(*) FILTER (WHERE connected_at IS NOT NULL AND (
                   hung_up_first = 'system' OR agent_hangup_cause NOT IN ({normal})))
        FROM calls
        WHERE {where}
        GROUP BY ALL
        """,
        [*local_params, *params],
    )
    agents: dict[str, list[float]] = {}
    modes: dict[str, list[int]] = {}
    days: dict[date, list[float]] = {}
    for agent_id, mode, day, n, att, conn, talk, billed, dropped in rows:
        a = agents.setdefault(agent_id, [0, 0, 0, 0.0, 0.0, 0])
        for i, v in enumerate((n, att, conn, talk, billed, dropped)):
            a[i] += v
        m = modes.setdefault(mode, [0, 0])
        m[0] += conn
        m[1] += dropped
        d = days.setdefault(day, [0.0, 0.0])
        d[0] += billed
        d[1] += talk
    return (
        {k: (int(v[0]), int(v[1]), int(v[2]), float(v[3]), float(v[4]), int(v[5]))
         for k, v in agents.items()},
        [ModeQuality(workstation=k, connected=v[0], dropped=v[1]) for k, v in sorted(modes.items())],
        [
            BilledDay(day=day, agent_billed_seconds=v[0], customer_billed_seconds=v[1])
            for day, v in sorted(days.items())
        ],
    )


def _wrap_up(con: duckdb.DuckDBPyConnection, flt: StatsFilter) -> dict[str, float]:
    """Wrap-up seconds per agent after connected calls. Without a campaign filter the
    intervals answer alone (`call_connected`, their own agent and workstation; a wrap-up
    counts in the window it starts in); a campaign needs the calls' contacts: joined."""
    if flt.campaign_contacts is None:
        clauses, params = person_clauses(
            flt,
            ["state = 'wrap_up'", "call_connected", "started_at >= ?", "started_at < ?"],
            [flt.start, flt.end],
        )
        sql = (f"SELECT agent_id, sum(seconds) FROM agent_state_intervals "
               f"WHERE {' AND '.join(clauses)} GROUP BY ALL")
        return {agent: float(seconds) for agent, seconds in _query(con, sql, params)}
    where, where_params = _where(flt, "c")
    rows = _query(
        con,
        f"""
        SELECT i.agent_id, sum(i.seconds)
        FROM agent_state_intervals i JOIN calls c ON c.call_id = i.call_id
        WHERE i.state = 'wrap_up' AND i.started_at >= ? AND i.started_at < ?
          AND c.connected_at IS NOT NULL AND {where}
        GROUP BY ALL
        """,
        # a wrap-up starts when its call ends: at most a day after the call started
        [flt.start, flt.end + timedelta(days=1), *where_params],
    )
    return {agent: float(seconds) for agent, seconds in rows}


def _states(con: duckdb.DuckDBPyConnection, flt: StatsFilter) -> dict[str, dict[str, float]]:
    clauses, params = person_clauses(flt, ["ended_at > ?", "started_at < ?"], [flt.start, flt.end])
    rows = _query(
        con,
        f"""
        SELECT agent_id, state,
               sum(date_diff('microsecond', greatest(started_at, ?), least(ended_at, ?))) / 1e6
        FROM agent_state_intervals WHERE {' AND '.join(clauses)}
        GROUP BY ALL
        """,
        [flt.start, flt.end, *params],
    )
    out: dict[str, dict[str, float]] = {}
    for agent, state, seconds in rows:
        out.setdefault(agent, {})[state] = float(seconds)
    return out


def filter_sql(flt: StatsFilter) -> tuple[str, list[Any]]:
    """The WHERE clause (on call_report / calls) of the calls the filter selects, for exports."""
    return _where(flt)
