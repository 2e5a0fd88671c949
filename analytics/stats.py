"""Call-center statistics as SQL over the store (calls, call_report, agent_state_intervals).

Each function takes a DuckDB connection (a reader from `store.connect_reader`, or the writer's
`CallStore.cursor()`), opens its own cursor (safe from any thread), runs one query and returns
typed Structs. Windows are half-open [start, end) in naive UTC; a `date` means that UTC day, except where a
`tz` argument (IANA name) asks for the call center's local day.
Bad arguments (unknown outcome or period, end before start, silly limits) raise `StatsError`
with the reason. Records still in the writer's buffer (at most its flush interval) are not
visible yet.

Definitions a supervisor can check by hand:
- attempted: calls that went past the request (outcome not `rejected`);
- customer_dialed: calls whose customer leg was dialed; connected: both legs bridged;
- connect_rate = connected / attempted; customer_answer_rate = connected / customer_dialed;
- talk time: billable seconds of the customer leg of connected calls;
- occupancy = (on_call + wrap_up) / (available + on_call + wrap_up), paused time excluded,
  each agent state interval clipped to the window.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import msgspec

from core.agent import AUTO_DISPOSITION
from core.domain import AgentState, CallOutcome


class StatsError(ValueError):
    """A statistics request that cannot be answered as asked."""


class Period(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class OutcomeCount(msgspec.Struct, frozen=True):
    period_start: datetime
    outcome: str
    calls: int


class ConnectRate(msgspec.Struct, frozen=True, kw_only=True):
    calls: int
    attempted: int
    customer_dialed: int
    connected: int
    connect_rate: float | None
    customer_answer_rate: float | None


class TalkTime(msgspec.Struct, frozen=True, kw_only=True):
    connected_calls: int
    total_seconds: float
    average_seconds: float | None
    p50_seconds: float | None
    p90_seconds: float | None
    p95_seconds: float | None


class AgentOccupancy(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    available_seconds: float
    paused_seconds: float
    on_call_seconds: float
    wrap_up_seconds: float
    occupancy: float | None

    @property
    def logged_in_seconds(self) -> float:
        return (
            self.available_seconds
            + self.paused_seconds
            + self.on_call_seconds
            + self.wrap_up_seconds
        )


class AgentDaySummary(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    day: date
    calls: int
    connected: int
    talk_seconds: float
    average_talk_seconds: float | None
    qualified: int  # calls the agent qualified (a disposition other than the wrap-up
    # timer's automatic "not_qualified")
    occupancy: AgentOccupancy | None


class CallHistoryItem(msgspec.Struct, frozen=True, kw_only=True):
    call_id: str
    started_at: datetime
    ended_at: datetime
    customer_number: str
    contact_id: str | None
    outcome: str
    reason: str
    talk_seconds: float
    hung_up_first: str | None
    disposition: str | None
    recording_name: str | None


class RecordingItem(msgspec.Struct, frozen=True, kw_only=True):
    call_id: str
    agent_id: str
    recording_name: str
    started_at: datetime
    talk_seconds: float
    outcome: str
    customer_number: str
    disposition: str | None


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    start: datetime
    end: datetime
    outcomes: dict[str, int]
    connect: ConnectRate
    talk: TalkTime
    agents: list[AgentOccupancy]


# --- helpers ---------------------------------------------------------------------------------


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    cursor = con.cursor()
    try:
        return cursor.execute(sql, params).fetchall()
    finally:
        cursor.close()


def day_window(day: date, tz: str | None = None) -> tuple[datetime, datetime]:
    """[start, end) of `day` as naive UTC; with `tz` (IANA name) the call center's local day,
    23 or 25 hours long on daylight-saving changes."""
    if tz is None:
        start = datetime.combine(day, time())
        return start, start + timedelta(days=1)
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise StatsError(f"unknown time zone {tz!r} (an IANA name like Europe/Paris)") from None

    def utc(local_day: date) -> datetime:
        moment = datetime.combine(local_day, time(), tzinfo=zone)
        return moment.astimezone(UTC).replace(tzinfo=None)

    return utc(day), utc(day + timedelta(days=1))


def _window(start: datetime | date, end: datetime | date) -> tuple[datetime, datetime]:
    lo = start if isinstance(start, datetime) else datetime.combine(start, time())
    hi = end if isinstance(end, datetime) else datetime.combine(end, time())
    for bound in (lo, hi):
        if bound.tzinfo is not None:
            raise StatsError("pass naive UTC datetimes (the store keeps UTC without zone)")
    if hi <= lo:
        raise StatsError(f"empty window: end {hi.isoformat()} is not after start {lo.isoformat()}")
    return lo, hi


def _outcome(value: str | CallOutcome | None) -> str | None:
    if value is None:
        return None
    try:
        return CallOutcome(value).value
    except ValueError:
        known = ", ".join(o.value for o in CallOutcome)
        raise StatsError(f"unknown outcome {value!r} (one of: {known})") from None


def _limit(value: int, ceiling: int = 10_000) -> int:
    if not 1 <= value <= ceiling:
        raise StatsError(f"limit must be between 1 and {ceiling}, not {value}")
    return value


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- calls -----------------------------------------------------------------------------------


def calls_per_outcome(
    con: duckdb.DuckDBPyConnection,
    start: datetime | date,
    end: datetime | date,
    period: Period | str = Period.DAY,
) -> list[OutcomeCount]:
    try:
        unit = Period(period).value
    except ValueError:
        raise StatsError(f"unknown period {period!r} (hour, day, week or month)") from None
    lo, hi = _window(start, end)
    rows = _query(
        con,
        """
        SELECT date_trunc(?, started_at) AS period_start, outcome, count(*) AS calls
        FROM calls WHERE started_at >= ? AND started_at < ?
        GROUP BY ALL ORDER BY period_start, outcome
        """,
        [unit, lo, hi],
    )
    return [OutcomeCount(p, o, int(n)) for p, o, n in rows]


def connect_rate(
    con: duckdb.DuckDBPyConnection,
    start: datetime | date,
    end: datetime | date,
    agent_id: str | None = None,
) -> ConnectRate:
    lo, hi = _window(start, end)
    ((calls, attempted, dialed, connected),) = _query(
        con,
        """
        SELECT count(*),
               count(*) FILTER (WHERE outcome <> 'rejected'),
               count(*) FILTER (WHERE customer_dialing_at IS NOT NULL),
               count(*) FILTER (WHERE connected_at IS NOT NULL)
        FROM calls
        WHERE started_at >= ? AND started_at < ? AND (? IS NULL OR agent_id = ?)
        """,
        [lo, hi, agent_id, agent_id],
    )
    return ConnectRate(
        calls=int(calls),
        attempted=int(attempted),
        customer_dialed=int(dialed),
        connected=int(connected),
        connect_rate=_rate(int(connected), int(attempted)),
        customer_answer_rate=_rate(int(connected), int(dialed)),
    )


def talk_time(
    con: duckdb.DuckDBPyConnection,
    start: datetime | date,
    end: datetime | date,
    agent_id: str | None = None,
) -> TalkTime:
    lo, hi = _window(start, end)
    ((n, total, avg, quantiles),) = _query(
        con,
        """
        SELECT count(*), coalesce(sum(talk_seconds), 0), avg(talk_seconds),
               quantile_cont(talk_seconds, [0.5, 0.9, 0.95])
        FROM calls
        WHERE connected_at IS NOT NULL AND started_at >= ? AND started_at < ?
          AND (? IS NULL OR agent_id = ?)
        """,
        [lo, hi, agent_id, agent_id],
    )
    p50, p90, p95 = quantiles if quantiles is not None else (None, None, None)
    return TalkTime(
        connected_calls=int(n),
        total_seconds=float(total),
        average_seconds=avg,
        p50_seconds=p50,
        p90_seconds=p90,
        p95_seconds=p95,
    )


# --- agents ----------------------------------------------------------------------------------


def agent_occupancy(
    con: duckdb.DuckDBPyConnection,
    start: datetime | date,
    end: datetime | date,
    agent_id: str | None = None,
) -> list[AgentOccupancy]:
    lo, hi = _window(start, end)
    rows = _query(
        con,
        """
        SELECT agent_id, state,
               sum(date_diff('microsecond', greatest(started_at, ?), least(ended_at, ?))) / 1e6
        FROM agent_state_intervals
        WHERE ended_at > ? AND started_at < ? AND (? IS NULL OR agent_id = ?)
        GROUP BY ALL
        """,
        [lo, hi, lo, hi, agent_id, agent_id],
    )
    per_agent: dict[str, dict[str, float]] = {}
    for agent, state, seconds in rows:
        per_agent.setdefault(agent, {})[state] = float(seconds)
    return [_occupancy(agent, states) for agent, states in sorted(per_agent.items())]


def _occupancy(agent_id: str, seconds: dict[str, float]) -> AgentOccupancy:
    available = seconds.get(AgentState.AVAILABLE, 0.0)
    on_call = seconds.get(AgentState.ON_CALL, 0.0)
    wrap_up = seconds.get(AgentState.WRAP_UP, 0.0)
    staffed = available + on_call + wrap_up
    return AgentOccupancy(
        agent_id=agent_id,
        available_seconds=available,
        paused_seconds=seconds.get(AgentState.PAUSED, 0.0),
        on_call_seconds=on_call,
        wrap_up_seconds=wrap_up,
        occupancy=(on_call + wrap_up) / staffed if staffed > 0 else None,
    )


def agent_daily_summary(
    con: duckdb.DuckDBPyConnection,
    day: date,
    agent_id: str | None = None,
    tz: str | None = None,
) -> list[AgentDaySummary]:
    """One line per agent who called or was logged in that day (UTC, or local to `tz`)."""
    lo, hi = day_window(day, tz)
    rows = _query(
        con,
        """
        SELECT agent_id, count(*),
               count(*) FILTER (WHERE connected_at IS NOT NULL),
               coalesce(sum(talk_seconds) FILTER (WHERE connected_at IS NOT NULL), 0),
               avg(talk_seconds) FILTER (WHERE connected_at IS NOT NULL),
               count(disposition) FILTER (WHERE disposition <> ?)
        FROM call_report
        WHERE started_at >= ? AND started_at < ? AND (? IS NULL OR agent_id = ?)
        GROUP BY agent_id
        """,
        [AUTO_DISPOSITION, lo, hi, agent_id, agent_id],
    )
    occupancy = {o.agent_id: o for o in agent_occupancy(con, lo, hi, agent_id)}
    summaries = {
        agent: AgentDaySummary(
            agent_id=agent,
            day=day,
            calls=int(calls),
            connected=int(connected),
            talk_seconds=float(talk),
            average_talk_seconds=avg,
            qualified=int(qualified),
            occupancy=occupancy.get(agent),
        )
        for agent, calls, connected, talk, avg, qualified in rows
    }
    for agent, occ in occupancy.items():
        if agent not in summaries:
            summaries[agent] = AgentDaySummary(
                agent_id=agent,
                day=day,
                calls=0,
                connected=0,
                talk_seconds=0.0,
                average_talk_seconds=None,
                qualified=0,
                occupancy=occ,
            )
    return [summaries[a] for a in sorted(summaries)]


def calls_for_agent(
    con: duckdb.DuckDBPyConnection,
    agent_id: str,
    day: date,
    limit: int = 500,
    tz: str | None = None,
) -> list[CallHistoryItem]:
    """The agent's own calls of that day (UTC, or local to `tz`), newest first: the desktop's
    history panel."""
    lo, hi = day_window(day, tz)
    rows = _query(
        con,
        """
        SELECT call_id, started_at, ended_at, customer_number, contact_id, outcome, reason,
               talk_seconds, hung_up_first, disposition, recording_name
        FROM call_report
        WHERE agent_id = ? AND started_at >= ? AND started_at < ?
        ORDER BY started_at DESC, call_id
        LIMIT ?
        """,
        [agent_id, lo, hi, _limit(limit)],
    )
    return [
        CallHistoryItem(
            call_id=r[0],
            started_at=r[1],
            ended_at=r[2],
            customer_number=r[3],
            contact_id=r[4],
            outcome=r[5],
            reason=r[6],
            talk_seconds=float(r[7]),
            hung_up_first=r[8],
            disposition=r[9],
            recording_name=r[10],
        )
        for r in rows
    ]


def recordings(
    con: duckdb.DuckDBPyConnection,
    *,
    agent_id: str | None = None,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
    outcome: str | CallOutcome | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[RecordingItem]:
    """Recorded calls for supervisors, newest first, filtered by agent, window and outcome."""
    lo, hi = _window(
        start if start is not None else datetime.min,
        end if end is not None else datetime.max,
    )
    if offset < 0:
        raise StatsError(f"offset must be >= 0, not {offset}")
    wanted = _outcome(outcome)
    rows = _query(
        con,
        """
        SELECT call_id, agent_id, recording_name, started_at, talk_seconds, outcome,
               customer_number, disposition
        FROM call_report
        WHERE recording_name IS NOT NULL
          AND started_at >= ? AND started_at < ?
          AND (? IS NULL OR agent_id = ?)
          AND (? IS NULL OR outcome = ?)
        ORDER BY started_at DESC, call_id
        LIMIT ? OFFSET ?
        """,
        [lo, hi, agent_id, agent_id, wanted, wanted, _limit(limit), offset],
    )
    return [
        RecordingItem(
            call_id=r[0],
            agent_id=r[1],
            recording_name=r[2],
            started_at=r[3],
            talk_seconds=float(r[4]),
            outcome=r[5],
            customer_number=r[6],
            disposition=r[7],
        )
        for r in rows
    ]


def summary(
    con: duckdb.DuckDBPyConnection, start: datetime | date, end: datetime | date
) -> Summary:
    lo, hi = _window(start, end)
    outcomes: dict[str, int] = {}
    for row in _query(
        con,
        "SELECT outcome, count(*) FROM calls WHERE started_at >= ? AND started_at < ? "
        "GROUP BY outcome ORDER BY count(*) DESC, outcome",
        [lo, hi],
    ):
        outcomes[row[0]] = int(row[1])
    return Summary(
        start=lo,
        end=hi,
        outcomes=outcomes,
        connect=connect_rate(con, lo, hi),
        talk=talk_time(con, lo, hi),
        agents=agent_occupancy(con, lo, hi),
    )
