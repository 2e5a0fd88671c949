"""The persistent agent leg (core/agent_leg_session.py) and the per-call / persistent choice
on cost (core/agent_leg_mode.py): inputs in, commands and events out."""

from __future__ import annotations

from typing import Any

import pytest
from call_events_factory import (
    destroyed,
    dtmf,
    failed,
    hangup_request,
    ok,
    playback_finished,
    stasis_end,
    stasis_start,
)

from core.agent_leg_mode import AgentLegMode, CallRate, choose_mode, hourly_costs
from core.agent_leg_session import (
    AgentLegSession,
    AgentSessionEnded,
    CallOver,
    CloseSession,
    LegLent,
    LegLost,
    LegUnavailable,
    LendLeg,
    OpenSession,
    ReturnLeg,
    SessionState,
)
from core.ari_commands import (
    HangupChannel,
    OriginateChannel,
    PlayMedia,
    StartMusicOnHold,
    StopMusicOnHold,
    StopPlayback,
)
from core.call_config import CallSettings
from core.costs import LegCost
from core.domain import WorkstationMode
from core.timers import StartTimer, TimerFired

LEG1, LEG2 = "a1-leg-1", "a1-leg-2"
MOBILE = "PJSIP/+33611111111@trunk"
SETTINGS = CallSettings(acceptance_by_workstation={"mobile": True, "softphone": False},
                        agent_leg_costs={"mobile": LegCost(per_minute=0.06, per_call=0.01)})


class Run:
    def __init__(self, settings: CallSettings = SETTINGS) -> None:
        self.m = AgentLegSession("a1", settings)
        self.commands: list[Any] = []
        self.events: list[Any] = []
        self.now = 1000.0

    def feed(self, *inputs: Any, dt: float = 1.0) -> list[Any]:
        out: list[Any] = []
        for inp in inputs:
            self.now += dt
            self.m.receive(inp, self.now)
            new = self.m.commands_to_send()
            out += new
            self.commands += new
            self.events += self.m.events_emitted()
        return out

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def record(self) -> Any:
        (ended,) = self.of(AgentSessionEnded)
        return ended.record


def waiting(workstation: WorkstationMode = WorkstationMode.MOBILE) -> Run:
    r = Run()
    out = r.feed(OpenSession(endpoint=MOBILE, workstation=workstation))
    originate = out[0]
    assert isinstance(originate, OriginateChannel) and originate.channel_id == LEG1
    assert StartTimer("session_answer", 27) in out
    r.feed(ok(originate), stasis_start(LEG1, "Up"))
    assert r.m.state == SessionState.CONFIRMING
    out = r.feed(dtmf(LEG1, "1"))
    assert StartMusicOnHold(channel_id=LEG1, moh_class="default") in out
    assert r.m.state == SessionState.WAITING and r.m.ready
    return r


def test_several_calls_on_one_leg_with_music_between_them() -> None:
    r = waiting()
    for n, call in enumerate(("c1", "c2", "c3"), start=1):
        out = r.feed(LendLeg(call))
        assert out == [StopMusicOnHold(channel_id=LEG1)]
        assert r.of(LegLent)[-1] == LegLent(call_id=call, channel_id=LEG1)  # no ringing
        assert r.m.state == SessionState.IN_CALL
        out = r.feed(ReturnLeg(call), dt=120.0)
        assert out == [StartMusicOnHold(channel_id=LEG1, moh_class="default")]
        assert r.m.calls == n
    assert len([c for c in r.commands if isinstance(c, OriginateChannel)]) == 1


def test_hanging_up_the_mobile_while_waiting_ends_the_session() -> None:
    r = waiting()
    r.feed(LendLeg("c1"), ReturnLeg("c1"))
    r.feed(hangup_request(LEG1, 16), dt=60.0)
    r.feed(stasis_end(LEG1), destroyed(LEG1, 16))
    record = r.record()
    assert r.m.state == SessionState.ENDED
    assert (record.end_reason, record.calls, record.legs) == ("agent_hung_up", 1, 1)
    answered = 1003.0  # the StasisStart (Up) of the only leg (open, ok, then it)
    assert record.billable_seconds == pytest.approx(r.now - answered)
    assert record.cost == pytest.approx(0.01 + 0.06 * (r.now - answered) / 60, abs=1e-4)
    # "Rappeler mon mobile": a new session on the same machine
    out = r.feed(OpenSession(endpoint=MOBILE))
    assert isinstance(out[0], OriginateChannel) and r.m.state == SessionState.DIALING


def test_leg_dropped_mid_call_is_called_again_while_the_customer_holds() -> None:
    r = waiting()
    r.feed(LendLeg("c1"))
    out = r.feed(hangup_request(LEG1, 16))
    assert r.of(LegLost) == [LegLost(call_id="c1")]
    assert r.m.state == SessionState.RECALLING
    recall = [c for c in out if isinstance(c, OriginateChannel)]
    assert recall and recall[0].channel_id == LEG2
    r.feed(destroyed(LEG1, 16), stasis_start(LEG2, "Up"))
    assert not r.of(LegLent)[1:]  # not before the 1 on a mobile
    r.feed(dtmf(LEG2, "1"))
    assert r.of(LegLent)[-1] == LegLent(call_id="c1", channel_id=LEG2)
    assert r.m.state == SessionState.IN_CALL
    r.feed(ReturnLeg("c1"), CloseSession("log_out"), destroyed(LEG2, 16))
    record = r.record()
    assert (record.legs, record.calls, record.end_reason) == (2, 1, "log_out")


def test_a_call_that_ends_while_its_leg_is_recalled_frees_the_session() -> None:
    """The customer hangs up on hold while the mobile is called again: the leg, once back,
    waits for the next call instead of being lent to a call that is gone."""
    r = waiting()
    r.feed(LendLeg("c1"))
    r.feed(hangup_request(LEG1, 16))
    assert r.m.state == SessionState.RECALLING
    r.feed(CallOver("c1"))
    r.feed(destroyed(LEG1, 16), stasis_start(LEG2, "Up"), dtmf(LEG2, "1"))
    assert [e for e in r.of(LegLent) if e.channel_id == LEG2] == []  # not lent again
    assert r.m.state == SessionState.WAITING
    assert r.m.calls == 1
    r.feed(CallOver("c1"))  # said twice (the return and the end): changes nothing
    assert r.m.state == SessionState.WAITING and r.m.calls == 1


def test_a_call_over_before_its_leg_drop_is_seen_never_lends_the_leg_again() -> None:
    """The call's end crosses the mobile's hang-up: the session does not call the mobile
    back for a call that is gone; the leg lost while waiting ends the session."""
    r = waiting()
    r.feed(LendLeg("c1"))
    r.feed(CallOver("c1"))
    assert r.m.state == SessionState.WAITING and r.m.calls == 1
    out = r.feed(hangup_request(LEG1, 16), destroyed(LEG1, 16))
    assert not [c for c in out if isinstance(c, OriginateChannel)]
    assert r.m.state in (SessionState.ENDING, SessionState.ENDED)


def test_recall_failing_leaves_the_call_without_agent_and_ends_the_session() -> None:
    r = waiting()
    r.feed(LendLeg("c1"), hangup_request(LEG1, 16), destroyed(LEG1, 16))
    r.feed(destroyed(LEG2, 17))  # busy
    assert r.of(LegUnavailable) == [LegUnavailable(call_id="c1", reason="recall_busy")]
    assert r.record().end_reason == "busy"


def test_a_call_while_the_leg_is_not_ready_is_told_so() -> None:
    r = Run()
    r.feed(OpenSession(endpoint=MOBILE))
    r.feed(LendLeg("c1"))
    assert r.of(LegUnavailable) == [LegUnavailable(call_id="c1", reason="session_dialing")]
    assert not r.of(LegLent)


@pytest.mark.parametrize(
    ("inputs", "reason"),
    [
        ([TimerFired("session_answer")], "no_answer"),
        ([destroyed(LEG1, 17)], "busy"),
        ([stasis_start(LEG1, "Up"), playback_finished("a1-leg-1-pb-press1"),
          TimerFired("session_confirm")], "not_confirmed"),  # the voicemail answered
    ],
)
def test_the_first_leg_failing_ends_the_session_with_its_reason(
    inputs: list[Any], reason: str
) -> None:
    r = Run()
    r.feed(OpenSession(endpoint=MOBILE))
    r.feed(*inputs)
    if not r.of(AgentSessionEnded):
        assert HangupChannel(channel_id=LEG1) in r.commands
        r.feed(destroyed(LEG1, 16))
    record = r.record()
    assert (record.end_reason, record.calls, record.answered_at) == (reason, 0, None)


def test_unregistered_softphone_session_fails_at_once() -> None:
    r = Run()
    out = r.feed(OpenSession(endpoint="PJSIP/webrtc-4001", workstation=WorkstationMode.SOFTPHONE))
    r.feed(failed(out[0], 500, "Allocation failed"))
    record = r.record()
    assert record.end_reason.startswith("unreachable: http 500")
    assert record.cost is None  # no costs for the softphone here


def test_softphone_session_needs_no_press_1() -> None:
    r = Run()
    r.feed(OpenSession(endpoint="PJSIP/webrtc-4001", workstation=WorkstationMode.SOFTPHONE))
    out = r.feed(stasis_start(LEG1, "Up"))
    assert not any(isinstance(c, PlayMedia) for c in out)
    assert r.m.state == SessionState.WAITING


def test_press_1_is_stopped_once_pressed() -> None:
    r = Run()
    r.feed(OpenSession(endpoint=MOBILE), stasis_start(LEG1, "Up"))
    out = r.feed(dtmf(LEG1, "1"))
    assert StopPlayback(playback_id="a1-leg-1-pb-press1") in out


# -- per call or persistent, on cost ---------------------------------------------------------
MOBILE_COST = LegCost(per_minute=0.06, per_call=0.05)


def test_hourly_costs_follow_the_formulas() -> None:
    costs = hourly_costs(MOBILE_COST, calls_per_hour=20, setup_minutes=0.5, talk_minutes=2.0)
    assert costs.per_call == pytest.approx(20 * 0.05 + 0.06 * 20 * 2.5, abs=1e-4)
    assert costs.persistent == pytest.approx(60 * 0.06 + 0.05 / 8, abs=1e-4)


def test_automatic_goes_persistent_when_calls_are_frequent_and_back_when_rare() -> None:
    busy = choose_mode(AgentLegMode.AUTOMATIC, MOBILE_COST, 40, 0.5, 1.0)
    assert busy == AgentLegMode.PERSISTENT  # 40 set-ups and 20 min of "press 1" saved
    quiet = choose_mode(AgentLegMode.AUTOMATIC, MOBILE_COST, 4, 0.5, 1.0,
                        current=AgentLegMode.PERSISTENT)
    assert quiet == AgentLegMode.PER_CALL  # 54 idle minutes paid for 4 calls
    assert choose_mode(AgentLegMode.PERSISTENT, MOBILE_COST, 1, 0.5, 1.0) == "persistent"
    assert choose_mode(AgentLegMode.AUTOMATIC, None, 40, 0.5, 1.0) == "per_call"
    assert choose_mode(AgentLegMode.AUTOMATIC, MOBILE_COST, None, 0.5, 1.0) == "per_call"


def test_automatic_does_not_flap_at_break_even() -> None:
    cost = LegCost(per_minute=0.06, per_call=0.0)
    # 24 calls/h of 2.5 min: the leg is up 60 min either way: equal costs, keep the mode
    for current in (AgentLegMode.PER_CALL, AgentLegMode.PERSISTENT):
        assert choose_mode(AgentLegMode.AUTOMATIC, cost, 24, 0.5, 2.0, current=current) == current


def test_call_rate_over_the_window() -> None:
    rate = CallRate(window_s=3600, min_calls=3)
    assert rate.per_hour(0.0) is None
    for at in (0.0, 600.0, 1200.0):
        rate.call_started(at)
    assert rate.per_hour(1800.0) == pytest.approx(3 * 3600 / 1800)
    assert rate.per_hour(5000.0) is None  # the early calls left the window


def test_the_policy_turns_persistent_for_a_busy_agent_and_back() -> None:
    from core.agent_leg_mode import LegModePolicy
    from core.domain import CallOutcome, LegRole
    from core.records import CallRecord, LegRecord

    def record(at: float) -> CallRecord:
        agent = LegRecord(role=LegRole.AGENT, endpoint="x", channel_id="c-agent",
                          answered_at=at + 10)
        customer = LegRecord(role=LegRole.CUSTOMER, endpoint="y", channel_id="c-customer",
                             answered_at=at + 40, billable_seconds=60.0)
        return CallRecord(call_id="c", agent_id="a1", customer_number="+33622222222",
                          workstation=WorkstationMode.MOBILE, agent_leg=agent,
                          customer_leg=customer, outcome=CallOutcome.COMPLETED,
                          started_at=at, connected_at=at + 40, ended_at=at + 100)

    policy = LegModePolicy(AgentLegMode.AUTOMATIC, MOBILE_COST)
    assert policy.decide(0.0) == AgentLegMode.PER_CALL  # nothing seen yet
    at = 0.0
    for _ in range(30):  # one call every 2 minutes: 30 per hour
        policy.call_started(at)
        policy.call_ended(record(at))
        at += 120.0
    assert policy.decide(at) == AgentLegMode.PERSISTENT
    quiet = at + 3600.0 * 2  # then 3 calls an hour
    for _ in range(3):
        policy.call_started(quiet)
        policy.call_ended(record(quiet))
        quiet += 1200.0
    assert policy.decide(quiet) == AgentLegMode.PER_CALL
    fixed = LegModePolicy(AgentLegMode.PERSISTENT, None)
    assert fixed.decide(0.0) == AgentLegMode.PERSISTENT
