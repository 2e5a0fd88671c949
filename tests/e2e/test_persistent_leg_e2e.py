"""The persistent agent leg against the simulator (first wiring: CallCenterApp.
open_agent_session -> AgentSessionActor; the agent's actor lends the leg to each call):
several calls on one leg with no ringing of the mobile per call, the leg dropped mid-call
(the customer holds while it is called again), and the agent hanging up the mobile ending
the session. The mobile +33600000007 answers and presses 1 (asterisk/sim/default.toml)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import msgspec
from e2e_support import FAST_CALL, WAIT_S, Core

from asterisk.sim.testing import SimulatorThread
from core.agent_leg_session import AgentSessionRecord, SessionState
from core.domain import CallOutcome, CallStep, WorkstationMode
from core.records import CallRecord
from core.views import AgentView, CallView
from evscallpro.core_config import AgentDirectoryEntry

MOBILE = "+33600000007"
SESSION_CALL = msgspec.structs.replace(FAST_CALL, acceptance_by_workstation={"mobile": True})


def wait_until(probe: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    pause = threading.Event()
    for _ in range(int(timeout / 0.05)):
        value = probe()
        if value:
            return value
        pause.wait(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def session_core(make_core: Callable[..., Core]) -> Core:
    alice = AgentDirectoryEntry(agent_id="a1", display_name="Alice", mobile_number=MOBILE,
                                workstation=WorkstationMode.MOBILE)
    core = make_core(call=SESSION_CALL, agents=(alice,))
    assert core.app.log_in("a1") is None
    assert core.app.open_agent_session("a1") is None
    ready(core, calls=0)
    return core


def ready(core: Core, calls: int) -> Any:
    return wait_until(
        lambda: (v := core.app.sessions.view("a1")) is not None
        and v.state == SessionState.WAITING and v.calls == calls and v,
        f"the session waiting after {calls} calls",
    )


def call_and_record(core: Core, customer: str) -> CallRecord:
    count = len([r for r in core.sink.records if isinstance(r, CallRecord)])
    assert core.app.place_call("a1", customer) is None
    record = core.sink.wait_for(
        lambda _: len([r for r in core.sink.records if isinstance(r, CallRecord)]) > count,
        WAIT_S,
    )
    assert record is not None
    last = [r for r in core.sink.records if isinstance(r, CallRecord)][-1]
    assert core.app.qualify("a1", last.call_id, "sale") is None
    return last


def test_several_calls_on_one_leg(make_core: Callable[..., Core]) -> None:
    core = session_core(make_core)
    first = call_and_record(core, "+33600000008")  # answers, hangs up after 5 s
    ready(core, calls=1)
    second = call_and_record(core, "+33600000008")
    ready(core, calls=2)
    for record in (first, second):
        assert record.outcome == CallOutcome.COMPLETED, record.reason
        assert record.agent_leg.channel_id == "a1-leg-1"  # the same leg, never rung again
        assert record.agent_leg.hangup_cause_text == "returned to the agent's session"
        assert record.customer_leg is not None and record.customer_leg.answered_at is not None
    assert first.steps[1].step == CallStep.AGENT_ANSWERED  # no agent_dialing step
    desk = core.views.wait_for(lambda v: isinstance(v, AgentView) and v.leg_session_calls == 2
                               and v.leg_session == "waiting")
    assert desk is not None  # the desk sees the session (gateway: agent_status.html)


def test_leg_dropped_mid_call_is_called_again_and_hanging_up_ends_the_session(
    make_core: Callable[..., Core], sim: SimulatorThread
) -> None:
    core = session_core(make_core)
    assert core.app.place_call("a1", "+33600000001") is None  # answers and stays
    connected = core.views.wait_for(
        lambda v: isinstance(v, CallView) and v.step == CallStep.CONNECTED)
    assert connected is not None
    mark = len(core.views.views)
    sim.far_end_hangup("a1-leg-1", 16)  # the mobile drops
    back = core.views.wait_for(
        lambda v: isinstance(v, CallView) and v.step == CallStep.CONNECTED
        and v.call_id == connected.call_id, after=mark)
    assert back is not None, "the call did not get its agent back"
    assert core.app.hang_up("a1", connected.call_id) is None
    record = core.record(connected.call_id)
    assert [leg.channel_id for leg in record.agent_legs] == ["a1-leg-1", "a1-leg-2"]
    assert [leg.end_reason for leg in record.agent_legs] == ["hung_up", "call_ended"]
    assert core.app.qualify("a1", record.call_id, "sale") is None
    ready(core, calls=1)
    sim.far_end_hangup("a1-leg-2", 16)  # the agent ends the session by hanging up
    ended = wait_until(
        lambda: (v := core.app.sessions.view("a1")) is not None
        and v.state == SessionState.ENDED and v, "the session ended")
    assert ended.reason == "agent_hung_up"
    (session,) = core.app.sessions.records("a1")
    assert (session.calls, session.legs, session.end_reason) == (1, 2, "agent_hung_up")
    # stored like a call's record: the record sink gets it (-> outbox/writer -> DuckDB)
    stored = core.sink.wait_for(lambda r: isinstance(r, AgentSessionRecord), WAIT_S)
    assert stored == session


def test_persistent_mode_opens_the_session_after_the_first_call(
    make_core: Callable[..., Core],
) -> None:
    """[costs] agent_leg_mode = "persistent": the first call rings the mobile as usual, then
    the agent's actor keeps the mobile on the line for the next ones."""
    alice = AgentDirectoryEntry(agent_id="a1", display_name="Alice", mobile_number=MOBILE,
                                workstation=WorkstationMode.MOBILE)
    settings = msgspec.structs.replace(SESSION_CALL, agent_leg_mode="persistent")
    core = make_core(call=settings, agents=(alice,))
    assert core.app.log_in("a1") is None
    first = call_and_record(core, "+33600000008")
    assert first.agent_leg.channel_id == f"{first.call_id}-agent"  # per call, rung
    opened = core.views.wait_for(
        lambda x: isinstance(x, AgentView) and x.leg_session == "waiting")
    assert opened is not None, "the policy did not open the session"
    second = call_and_record(core, "+33600000008")
    assert second.agent_leg.channel_id == "a1-leg-1"
    assert second.outcome == CallOutcome.COMPLETED, second.reason
