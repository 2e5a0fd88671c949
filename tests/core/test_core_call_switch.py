"""The mid-call switch of the agent leg (core/call_switch.py): inputs in, commands and
events out. The customer's channel never leaves the bridge: no RemoveFromBridge, no hang-up
of the customer, until the call ends."""

from __future__ import annotations

import msgspec
import pytest
from call_events_factory import (
    Driver,
    destroyed,
    dtmf,
    entered_bridge,
    failed,
    hangup_request,
    ok,
    playback_finished,
    stasis_end,
    stasis_start,
)

from core.ari_commands import (
    AddToBridge,
    CreateBridge,
    HangupChannel,
    OriginateChannel,
    PlayMedia,
    StartMusicOnHold,
    StopMusicOnHold,
    StopPlayback,
)
from core.call import CallMachine
from core.call_config import CallPrompts, CallRequest, CallSettings
from core.call_events import AgentLegSwitched, CallStepChanged
from core.call_inputs import CallStart, HangupFromUi, SwitchAgentLeg
from core.costs import LegCost, leg_cost
from core.domain import CallOutcome, CallStep, Party, SwitchResult, WorkstationMode
from core.timers import StartTimer, TimerFired

OLD, NEW, CUSTOMER, BRIDGE = "c1-agent", "c1-agent-s1", "c1-customer", "c1-bridge"
HOLD_PB, PRESS1_PB = "c1-pb-switch-hold", "c1-pb-switch-press1"
SOFTPHONE = "PJSIP/webrtc-4001"
MOBILE = "PJSIP/+33611111111@trunk"
SETTINGS = CallSettings(
    acceptance_by_workstation={"mobile": True, "softphone": False},
    agent_ring_timeout_s=22,
    stasis_guard_s=5,
)
ENDPOINT = {WorkstationMode.SOFTPHONE: SOFTPHONE, WorkstationMode.MOBILE: MOBILE}


def connected(
    workstation: WorkstationMode = WorkstationMode.SOFTPHONE, settings: CallSettings = SETTINGS
) -> Driver:
    request = CallRequest(
        call_id="c1",
        agent_id="a1",
        agent_endpoint=ENDPOINT[workstation],
        customer_number="+33622222222",
        customer_endpoint="PJSIP/+33622222222@trunk",
        workstation=workstation,
        requested_at=100.0,
    )
    d = Driver(CallMachine(request, settings))
    d.feed(CallStart(), stasis_start(OLD, "Up", "agent", "c1"))
    if settings.acceptance_for(workstation):
        d.feed(dtmf(OLD, "1"))
    d.feed(stasis_start(CUSTOMER, "Up", "customer", "c1"))
    d.feed(ok(CreateBridge(bridge_id=BRIDGE, name="c1")))
    d.feed(ok(AddToBridge(bridge_id=BRIDGE, channel_ids=(OLD, CUSTOMER)), 204))
    assert d.m.step == CallStep.CONNECTED
    return d


def switch(d: Driver, target: WorkstationMode) -> list[object]:
    out = d.feed(SwitchAgentLeg(target=target, endpoint=ENDPOINT[target], requested_by="a1"))
    assert d.m.step == CallStep.SWITCHING
    return list(out)


def switched(d: Driver) -> list[AgentLegSwitched]:
    return [e for e in d.events if isinstance(e, AgentLegSwitched)]


def customer_never_left(d: Driver) -> None:
    """Nothing took the customer out of the bridge before the call's end."""
    end = next(
        (i for i, c in enumerate(d.commands) if c == HangupChannel(channel_id=CUSTOMER)),
        len(d.commands),
    )
    assert not any(type(c).__name__ == "RemoveFromBridge" for c in d.commands)
    assert all(
        not (isinstance(c, HangupChannel) and c.channel_id == CUSTOMER) for c in d.commands[:end]
    )


def end_by_customer(d: Driver) -> None:
    d.feed(hangup_request(CUSTOMER, 16), destroyed(CUSTOMER, 16))
    agent = d.m.agent.channel_id
    d.feed(destroyed(agent, 16))


def test_softphone_to_mobile_holds_the_customer_then_swaps_after_press_1() -> None:
    d = connected()
    out = switch(d, WorkstationMode.MOBILE)
    originate = d.of(OriginateChannel, out)[0]  # type: ignore[arg-type]
    assert originate.channel_id == NEW and originate.endpoint == MOBILE
    assert originate.app_args == "agent,c1"
    assert originate.variables["EVS_WORKSTATION"] == "mobile"
    assert StartTimer("switch_answer", 27) in out
    hold = d.of(PlayMedia, out)[0]  # type: ignore[arg-type]
    assert hold.channel_id == CUSTOMER and hold.playback_id == HOLD_PB  # the customer hears it
    assert d.m.view().switching_to == WorkstationMode.MOBILE
    assert d.m.view().workstation == WorkstationMode.SOFTPHONE  # still on the softphone

    out = d.feed(playback_finished(HOLD_PB))
    assert StartMusicOnHold(channel_id=CUSTOMER, moh_class="default") in out
    out = d.feed(ok(originate), stasis_start(NEW, "Up", "agent", "c1"))
    press1 = d.of(PlayMedia, out)[0]  # type: ignore[arg-type]
    assert press1.channel_id == NEW and press1.playback_id == PRESS1_PB
    assert not d.of(AddToBridge, out)  # type: ignore[arg-type]
    out = d.feed(dtmf(NEW, "1"))
    assert StopPlayback(playback_id=PRESS1_PB) in out
    assert StopMusicOnHold(channel_id=CUSTOMER) in out
    assert AddToBridge(bridge_id=BRIDGE, channel_ids=(NEW,)) in out
    assert d.m.step == CallStep.SWITCHING  # the 204 is not "in the bridge"
    d.feed(ok(AddToBridge(bridge_id=BRIDGE, channel_ids=(NEW,)), 204))
    assert d.m.step == CallStep.SWITCHING
    requested_at = switched(d) == [] and d.m.switching is not None and d.m.switching.requested_at
    out = d.feed(entered_bridge(BRIDGE, NEW, [OLD, CUSTOMER, NEW]))
    assert HangupChannel(channel_id=OLD) in out  # the old leg goes only now
    assert d.m.step == CallStep.CONNECTED
    (event,) = switched(d)
    assert event.result == SwitchResult.SWITCHED
    assert (event.source, event.target) == (WorkstationMode.SOFTPHONE, WorkstationMode.MOBILE)
    assert event.requested_at == requested_at and event.at == d.now
    view = d.m.view()
    assert view.workstation == WorkstationMode.MOBILE and view.switching_to is None
    assert view.switch_result == "switched"

    d.feed(destroyed(OLD, 16))  # the old leg's end does not end the call
    assert d.m.step == CallStep.CONNECTED
    end_by_customer(d)
    customer_never_left(d)
    record = d.record()
    assert record.outcome == CallOutcome.COMPLETED and record.hung_up_first == Party.CUSTOMER
    assert record.agent_leg.channel_id == OLD  # the first agent leg
    first, second = record.agent_legs
    assert (first.workstation, first.end_reason) == (WorkstationMode.SOFTPHONE, "switched_away")
    assert (second.workstation, second.end_reason) == (WorkstationMode.MOBILE, "call_ended")
    assert second.joined_at == event.at and second.answered_at is not None
    assert first.ended_at is not None and second.ended_at == record.ended_at
    assert first.ended_at <= second.ended_at


def test_mobile_to_softphone_joins_at_the_answer_without_press_1() -> None:
    d = connected(WorkstationMode.MOBILE)
    switch(d, WorkstationMode.SOFTPHONE)
    out = d.feed(stasis_start(NEW, "Up", "agent", "c1"))
    assert AddToBridge(bridge_id=BRIDGE, channel_ids=(NEW,)) in out
    assert StopPlayback(playback_id=HOLD_PB) in out  # the prompt was still playing
    assert not any(isinstance(c, PlayMedia) and c.channel_id == NEW for c in out)
    d.feed(entered_bridge(BRIDGE, NEW, [OLD, CUSTOMER, NEW]))
    assert d.m.view().workstation == WorkstationMode.SOFTPHONE
    d.feed(destroyed(OLD, 16))
    d.feed(HangupFromUi(by="a1"))
    assert HangupChannel(channel_id=NEW) in d.commands
    d.feed(destroyed(NEW, 16), destroyed(CUSTOMER, 16))
    record = d.record()
    assert [leg.workstation for leg in record.agent_legs] == ["mobile", "softphone"]
    customer_never_left(d)


def test_new_leg_not_answering_leaves_the_call_where_it_was_and_says_why() -> None:
    d = connected()
    switch(d, WorkstationMode.MOBILE)
    d.feed(playback_finished(HOLD_PB))
    out = d.feed(TimerFired("switch_answer"))
    assert HangupChannel(channel_id=NEW, reason="no_answer") in out
    assert StopMusicOnHold(channel_id=CUSTOMER) in out
    assert HangupChannel(channel_id=OLD) not in out
    assert d.m.step == CallStep.CONNECTED
    (event,) = switched(d)
    assert event.result == SwitchResult.NO_ANSWER
    view = d.m.view()
    assert view.switch_result == "no_answer" and view.workstation == WorkstationMode.SOFTPHONE
    assert view.switching_to is None
    d.feed(destroyed(NEW, 19))  # its end, after the switch failed: nothing more
    assert d.m.step == CallStep.CONNECTED
    end_by_customer(d)
    customer_never_left(d)
    record = d.record()
    assert [leg.end_reason for leg in record.agent_legs] == ["call_ended", "no_answer"]
    assert record.agent_legs[1].answered_at is None and record.agent_legs[1].joined_at is None


def test_voicemail_answering_never_presses_1_and_is_not_confirmed() -> None:
    d = connected()
    switch(d, WorkstationMode.MOBILE)
    d.feed(stasis_start(NEW, "Up", "agent", "c1"))  # the voicemail picks up
    d.feed(playback_finished(PRESS1_PB))
    assert StartTimer("switch_confirm", SETTINGS.acceptance_wait_s) in d.commands
    out = d.feed(TimerFired("switch_confirm"))
    assert HangupChannel(channel_id=NEW) in out
    assert not d.of(AddToBridge, out)  # type: ignore[arg-type]
    assert switched(d)[0].result == SwitchResult.NOT_CONFIRMED
    assert d.m.step == CallStep.CONNECTED
    end_by_customer(d)
    d.feed(destroyed(NEW, 16))
    customer_never_left(d)
    assert d.record().agent_legs[1].end_reason == "not_confirmed"


@pytest.mark.parametrize(
    ("cause", "result"),
    [(17, SwitchResult.BUSY), (19, SwitchResult.NO_ANSWER), (34, SwitchResult.UNREACHABLE)],
)
def test_new_leg_failing_is_named(cause: int, result: SwitchResult) -> None:
    d = connected()
    switch(d, WorkstationMode.MOBILE)
    out = d.feed(destroyed(NEW, cause))
    assert not any(isinstance(c, HangupChannel) for c in out)
    assert switched(d)[0].result == result
    assert d.m.step == CallStep.CONNECTED


def test_softphone_not_registered_is_unreachable_with_the_reason() -> None:
    d = connected(WorkstationMode.MOBILE)
    out = switch(d, WorkstationMode.SOFTPHONE)
    originate = d.of(OriginateChannel, out)[0]  # type: ignore[arg-type]
    d.feed(failed(originate, 500, "Allocation failed"))
    (event,) = switched(d)
    assert event.result == SwitchResult.UNREACHABLE
    assert event.reason.startswith("softphone_not_registered (http 500")
    assert d.m.step == CallStep.CONNECTED
    end_by_customer(d)
    assert d.record().agent_legs[1].end_reason == "unreachable"


def test_new_leg_hanging_up_before_joining_fails_the_switch() -> None:
    d = connected()
    switch(d, WorkstationMode.MOBILE)
    d.feed(stasis_start(NEW, "Up", "agent", "c1"), hangup_request(NEW, 16), stasis_end(NEW))
    assert switched(d)[0].result == SwitchResult.HUNG_UP
    assert d.m.step == CallStep.CONNECTED


def test_bridge_not_joined_in_time_fails_the_switch() -> None:
    d = connected(WorkstationMode.MOBILE)
    switch(d, WorkstationMode.SOFTPHONE)
    d.feed(stasis_start(NEW, "Up", "agent", "c1"))
    out = d.feed(TimerFired("switch_bridge"))
    assert HangupChannel(channel_id=NEW) in out
    assert switched(d)[0].result == SwitchResult.BRIDGE_FAILED
    assert d.m.view().workstation == WorkstationMode.MOBILE


def test_old_leg_hanging_up_during_the_switch_keeps_the_customer_on_hold() -> None:
    d = connected()
    switch(d, WorkstationMode.MOBILE)
    out = d.feed(hangup_request(OLD, 16), stasis_end(OLD), destroyed(OLD, 16))
    assert d.m.step == CallStep.SWITCHING
    assert not any(isinstance(c, HangupChannel) for c in out)
    d.feed(stasis_start(NEW, "Up", "agent", "c1"), dtmf(NEW, "1"))
    d.feed(entered_bridge(BRIDGE, NEW, [CUSTOMER, NEW]))
    assert d.m.step == CallStep.CONNECTED
    assert switched(d)[0].result == SwitchResult.SWITCHED
    end_by_customer(d)
    customer_never_left(d)
    assert [leg.end_reason for leg in d.record().agent_legs] == ["hung_up", "call_ended"]


def test_old_leg_gone_and_new_leg_failing_ends_the_call() -> None:
    d = connected()
    switch(d, WorkstationMode.MOBILE)
    d.feed(hangup_request(OLD, 16), destroyed(OLD, 16))
    out = d.feed(destroyed(NEW, 17))
    assert HangupChannel(channel_id=CUSTOMER) in out
    d.feed(destroyed(CUSTOMER, 16))
    record = d.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.reason == "agent_hung_up_during_switch"
    assert record.hung_up_first == Party.AGENT
    assert [leg.end_reason for leg in record.agent_legs] == ["hung_up", "busy"]


def test_softphone_going_offline_during_the_switch_drops_only_the_old_leg() -> None:
    d = connected()
    switch(d, WorkstationMode.MOBILE)
    out = d.feed(HangupFromUi(by="softphone_offline"))
    assert out == [HangupChannel(channel_id=OLD)]
    assert d.m.step == CallStep.SWITCHING
    d.feed(destroyed(OLD, 16))
    d.feed(stasis_start(NEW, "Up", "agent", "c1"), dtmf(NEW, "1"))
    d.feed(entered_bridge(BRIDGE, NEW, [CUSTOMER, NEW]))
    assert d.m.step == CallStep.CONNECTED
    end_by_customer(d)
    assert d.record().outcome == CallOutcome.COMPLETED


def test_customer_hanging_up_during_the_switch_ends_the_call_and_the_new_leg() -> None:
    d = connected()
    switch(d, WorkstationMode.MOBILE)
    out = d.feed(hangup_request(CUSTOMER, 16))
    assert HangupChannel(channel_id=NEW) in out and HangupChannel(channel_id=OLD) in out
    assert switched(d)[0].result == SwitchResult.CALL_ENDED
    d.feed(destroyed(CUSTOMER, 16), destroyed(OLD, 16))
    assert not d.ended()  # the new leg is not gone yet
    d.feed(destroyed(NEW, 16))
    record = d.record()
    assert record.hung_up_first == Party.CUSTOMER
    assert record.agent_legs[1].end_reason == "call_ended"


def test_hang_up_button_during_the_switch_ends_everything() -> None:
    d = connected()
    switch(d, WorkstationMode.MOBILE)
    out = d.feed(HangupFromUi(by="a1"))
    assert {c.channel_id for c in out if isinstance(c, HangupChannel)} == {OLD, NEW, CUSTOMER}
    assert d.m.step == CallStep.ENDING


def test_empty_hold_prompt_plays_music_at_once() -> None:
    settings = CallSettings(prompts=CallPrompts(agent_switching=()))
    d = connected(settings=settings)
    out = switch(d, WorkstationMode.MOBILE)
    assert StartMusicOnHold(channel_id=CUSTOMER, moh_class="default") in out
    assert not d.of(PlayMedia, out)  # type: ignore[arg-type]


def test_switch_to_the_same_endpoint_is_refused_and_nothing_moves() -> None:
    d = connected()
    out = d.feed(SwitchAgentLeg(target=WorkstationMode.SOFTPHONE, endpoint=SOFTPHONE))
    assert out == [] and d.m.step == CallStep.CONNECTED
    assert switched(d)[0].reason == "same_endpoint"


def test_switch_before_the_call_is_connected_is_ignored() -> None:
    d = Driver.make(SETTINGS)
    d.feed(CallStart())
    out = d.feed(SwitchAgentLeg(target=WorkstationMode.SOFTPHONE, endpoint=SOFTPHONE))
    assert out == [] and d.m.step == CallStep.AGENT_DIALING


def test_a_second_switch_after_the_first_uses_a_new_leg_id() -> None:
    d = connected()
    switch(d, WorkstationMode.MOBILE)
    d.feed(TimerFired("switch_answer"), destroyed(NEW, 16))
    out = switch(d, WorkstationMode.MOBILE)
    assert d.of(OriginateChannel, out)[0].channel_id == "c1-agent-s2"  # type: ignore[arg-type]
    assert "c1-agent-s2" in d.m.channel_ids()
    steps = [e.step for e in d.events if isinstance(e, CallStepChanged)]
    assert steps[-3:] == [CallStep.SWITCHING, CallStep.CONNECTED, CallStep.SWITCHING]


def test_each_agent_leg_has_its_cost_when_costs_are_configured() -> None:
    costs = {"mobile": LegCost(per_minute=0.06, per_call=0.01), "softphone": LegCost()}
    settings = msgspec.structs.replace(SETTINGS, agent_leg_costs=costs)
    d = connected(settings=settings)
    switch(d, WorkstationMode.MOBILE)
    d.feed(stasis_start(NEW, "Up", "agent", "c1"), dtmf(NEW, "1"))
    d.feed(entered_bridge(BRIDGE, NEW, [OLD, CUSTOMER, NEW]), destroyed(OLD, 16))
    d.feed(hangup_request(CUSTOMER, 16), dt=60.0)  # one more minute on the mobile
    d.feed(destroyed(CUSTOMER, 16), destroyed(NEW, 16))
    softphone, mobile = d.record().agent_legs
    assert softphone.cost == 0.0
    assert mobile.cost == pytest.approx(0.01 + 0.06 * mobile.billable_seconds / 60, abs=1e-4)
    assert mobile.billable_seconds > 60


def test_no_costs_configured_means_no_cost() -> None:
    d = connected()
    switch(d, WorkstationMode.MOBILE)
    d.feed(TimerFired("switch_answer"), destroyed(NEW, 19))
    end_by_customer(d)
    assert [leg.cost for leg in d.record().agent_legs] == [None, None]
    assert leg_cost(LegCost(per_minute=1.0, per_call=5.0), answered=False, billable_seconds=90) == 0
    assert leg_cost(LegCost(per_minute=1.0, per_call=5.0), answered=True, billable_seconds=90) == 6.5


def test_new_leg_seen_in_the_bridge_before_it_was_added_still_stops_the_hold() -> None:
    """Never seen with Asterisk (the fuzz found it): the hold must not stay on."""
    d = connected()
    switch(d, WorkstationMode.MOBILE)
    d.feed(playback_finished(HOLD_PB))
    out = d.feed(entered_bridge(BRIDGE, NEW, [OLD, CUSTOMER, NEW]))
    assert StopMusicOnHold(channel_id=CUSTOMER) in out
    assert HangupChannel(channel_id=OLD) in out and d.m.step == CallStep.CONNECTED
