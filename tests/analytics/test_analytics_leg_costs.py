"""The statistics page's cost per agent-leg mode (analytics.leg_costs): per-call legs (a
switched call's legs at their recorded cost, a call that never switched at the configured
rate, a call on a persistent leg left to its session) against the persistent sessions."""

from __future__ import annotations

from datetime import datetime

import duckdb
import msgspec
from test_analytics_agent_legs import sessions

from analytics.dashboard import StatsFilter, dashboard
from analytics.leg_costs import PER_CALL, PERSISTENT, agent_leg_costs
from analytics.store import Batch, create_schema
from core.costs import LegCost
from core.domain import CallOutcome, CallStep, LegRole, WorkstationMode
from core.records import AgentLegRecord, CallRecord, LegRecord, StepTime

T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z
WINDOW = StatsFilter(start=datetime(2026, 5, 28), end=datetime(2026, 5, 30))
RATES = {"mobile": LegCost(per_minute=0.12, per_call=0.05),
         "softphone": LegCost(per_minute=0.0, per_call=0.0)}


def call(call_id: str, *, dialed: bool = True, answered: bool = True, seconds: float = 0.0,
         workstation: WorkstationMode = WorkstationMode.MOBILE,
         legs: tuple[AgentLegRecord, ...] = ()) -> CallRecord:
    steps = [StepTime(CallStep.REQUESTED, T0)]
    if dialed:
        steps.append(StepTime(CallStep.AGENT_DIALING, T0 + 0.1))
    if answered:
        steps.append(StepTime(CallStep.AGENT_ANSWERED, T0 + 3.0))
    return CallRecord(
        call_id=call_id, agent_id="agent-001", customer_number="+33100000000",
        workstation=workstation,
        agent_leg=LegRecord(role=LegRole.AGENT, endpoint="PJSIP/x", channel_id=f"{call_id}-a",
                            billable_seconds=seconds),
        steps=tuple(steps), outcome=CallOutcome.COMPLETED, started_at=T0, ended_at=T0 + 90,
        agent_legs=legs)


def store(*records: object) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    create_schema(con)
    batch = Batch()
    for record in records:
        batch.add(record)
    for table, rows in (("calls", batch.calls), ("call_legs", batch.legs),
                        ("call_agent_legs", batch.agent_legs),
                        ("agent_leg_sessions", batch.sessions)):
        if rows:
            appender = con.appender(table)
            appender.append_rows(rows)
            appender.flush()
    return con


def leg(workstation: WorkstationMode, *, answered: bool, seconds: float,
        cost: float | None) -> AgentLegRecord:
    return AgentLegRecord(workstation=workstation, endpoint="PJSIP/x", channel_id="c",
                          dialed_at=T0, answered_at=T0 + 2 if answered else None,
                          ended_at=T0 + 60, billable_seconds=seconds, cost=cost)


RECORDS = (
    call("single-answered", seconds=120.0),  # 0.05 + 0.12 * 2 = 0.29
    call("single-unanswered", answered=False),  # dialed, never answered: 0
    call("single-softphone", seconds=60.0, workstation=WorkstationMode.SOFTPHONE),  # rate 0
    call("on-session", dialed=False, seconds=300.0),  # bridged onto a persistent leg
    call("switched", seconds=30.0, legs=(
        leg(WorkstationMode.SOFTPHONE, answered=True, seconds=30.0, cost=0.0),
        leg(WorkstationMode.MOBILE, answered=False, seconds=0.0, cost=0.0),
        leg(WorkstationMode.MOBILE, answered=True, seconds=45.0, cost=0.14),
    )),
    *sessions(3),  # in the window: n = 0, 1, 2 (see test_analytics_agent_legs.sessions)
)


def test_per_call_legs_against_persistent_sessions() -> None:
    con = store(*RECORDS)
    per_call, persistent = agent_leg_costs(con, WINDOW, RATES)
    assert per_call.mode == PER_CALL
    assert per_call.legs == 3 + 3  # three single legs + the switched call's three
    assert per_call.seconds == 120.0 + 0.0 + 60.0 + 30.0 + 0.0 + 45.0
    assert per_call.cost == round(0.29 + 0.0 + 0.0 + 0.0 + 0.0 + 0.14, 4)
    expected = sessions(3)
    assert persistent.mode == PERSISTENT
    assert persistent.legs == sum(s.legs for s in expected)
    assert persistent.seconds == sum(s.billable_seconds for s in expected)
    assert persistent.cost == round(sum(s.cost or 0.0 for s in expected), 4)


def test_without_rates_or_recorded_costs_the_cost_is_unknown() -> None:
    unpriced = [msgspec.structs.replace(s, cost=None) for s in sessions(3)]
    con = store(call("single-answered", seconds=120.0), *unpriced)
    per_call, persistent = agent_leg_costs(con, WINDOW, None)
    assert (per_call.legs, per_call.cost) == (1, None)
    assert (persistent.legs, persistent.cost) == (sum(s.legs for s in unpriced), None)


def test_the_filter_applies_and_the_dashboard_carries_the_lines() -> None:
    con = store(*RECORDS)
    other = msgspec.structs.replace(WINDOW, agent_id="agent-999")
    assert [(m.legs, m.seconds) for m in agent_leg_costs(con, other, RATES)] == [
        (0, 0.0), (0, 0.0)]
    board = dashboard(con, WINDOW, use_rollup=False, costs=RATES)
    assert board.leg_costs == agent_leg_costs(con, WINDOW, RATES)
