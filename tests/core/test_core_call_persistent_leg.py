"""A call on the agent's persistent leg (CallRequest.lent_agent_leg, core/call_switch.py's
part of it; the session is core/agent_leg_session.py): the leg is not dialed, the customer is
at once; at the end the leg is given back, never hung up; a leg dropped mid-call holds the
customer until the session calls it again (or cannot)."""

from __future__ import annotations

from call_events_factory import (
    Driver,
    destroyed,
    entered_bridge,
    hangup_request,
    ok,
    stasis_end,
    stasis_start,
)

from core.ari_commands import (
    AddToBridge,
    CreateBridge,
    HangupChannel,
    OriginateChannel,
    PlayMedia,
    StopMusicOnHold,
)
from core.call import CallMachine
from core.call_config import CallRequest, CallSettings
from core.call_events import AgentLegDropped, AgentLegReturned
from core.call_inputs import AgentLegRestored, AgentLegUnavailable, CallStart, HangupFromUi
from core.domain import CallOutcome, CallStep, Party, WorkstationMode
from core.timers import TimerFired

LEG1, LEG2, CUSTOMER, BRIDGE = "a1-leg-1", "a1-leg-2", "c1-customer", "c1-bridge"
SETTINGS = CallSettings(acceptance_by_workstation={"mobile": True})


def lent_call() -> Driver:
    request = CallRequest(
        call_id="c1", agent_id="a1", agent_endpoint="PJSIP/+33611111111@trunk",
        customer_number="+33622222222", customer_endpoint="PJSIP/+33622222222@trunk",
        workstation=WorkstationMode.MOBILE, requested_at=100.0, lent_agent_leg=LEG1,
    )
    d = Driver(CallMachine(request, SETTINGS))
    out = d.feed(CallStart())
    originates = [c for c in out if isinstance(c, OriginateChannel)]
    assert [o.channel_id for o in originates] == [CUSTOMER]  # no ringing of the agent
    assert any(isinstance(c, PlayMedia) and c.channel_id == LEG1 for c in out)  # "calling..."
    assert d.m.step == CallStep.CUSTOMER_DIALING and LEG1 in d.m.channel_ids()
    d.feed(stasis_start(CUSTOMER, "Up"), ok(CreateBridge(bridge_id=BRIDGE, name="c1")))
    out = d.feed(ok(AddToBridge(bridge_id=BRIDGE, channel_ids=(LEG1, CUSTOMER)), 204))
    assert d.m.step == CallStep.CONNECTED
    return d


def returned(d: Driver) -> list[AgentLegReturned]:
    return [e for e in d.events if isinstance(e, AgentLegReturned)]


def test_the_customer_hanging_up_gives_the_leg_back_to_the_session() -> None:
    d = lent_call()
    out = d.feed(hangup_request(CUSTOMER, 16), destroyed(CUSTOMER, 16))
    assert not any(isinstance(c, HangupChannel) and c.channel_id == LEG1 for c in d.commands)
    assert returned(d) == [AgentLegReturned(call_id="c1", channel_id=LEG1)]
    record = d.record()
    assert (record.outcome, record.hung_up_first) == (CallOutcome.COMPLETED, Party.CUSTOMER)
    assert record.agent_leg.hangup_cause_text == "returned to the agent's session"
    assert out  # the bridge is destroyed: the leg leaves it for the session's music


def test_the_hang_up_button_gives_the_leg_back_too() -> None:
    d = lent_call()
    out = d.feed(HangupFromUi(by="a1"))
    assert HangupChannel(channel_id=CUSTOMER) in out
    assert HangupChannel(channel_id=LEG1) not in out and len(returned(d)) == 1
    d.feed(destroyed(CUSTOMER, 16))
    assert d.record().outcome == CallOutcome.COMPLETED


def test_a_dropped_leg_holds_the_customer_until_the_session_calls_it_again() -> None:
    d = lent_call()
    out = d.feed(hangup_request(LEG1, 16))
    assert [e for e in d.events if isinstance(e, AgentLegDropped)] == [
        AgentLegDropped(call_id="c1", channel_id=LEG1)]
    assert any(isinstance(c, PlayMedia) and c.channel_id == CUSTOMER for c in out)  # "hold"
    assert not any(isinstance(c, HangupChannel) for c in out)
    assert d.m.step == CallStep.SWITCHING
    d.feed(stasis_end(LEG1), destroyed(LEG1, 16))
    out = d.feed(AgentLegRestored(channel_id=LEG2))
    assert AddToBridge(bridge_id=BRIDGE, channel_ids=(LEG2,)) in out
    assert not any(isinstance(c, OriginateChannel) for c in out)  # the session dialed it
    d.feed(entered_bridge(BRIDGE, LEG2, [CUSTOMER, LEG2]))
    assert d.m.step == CallStep.CONNECTED and d.m.agent.channel_id == LEG2
    d.feed(hangup_request(CUSTOMER, 16), destroyed(CUSTOMER, 16))
    assert returned(d) == [AgentLegReturned(call_id="c1", channel_id=LEG2)]
    record = d.record()
    assert [leg.channel_id for leg in record.agent_legs] == [LEG1, LEG2]
    assert [leg.end_reason for leg in record.agent_legs] == ["hung_up", "call_ended"]


def test_the_session_failing_to_call_it_again_ends_the_call() -> None:
    d = lent_call()
    d.feed(hangup_request(LEG1, 16), destroyed(LEG1, 16))
    out = d.feed(AgentLegUnavailable(reason="recall_busy"))
    assert HangupChannel(channel_id=CUSTOMER) in out
    assert not any(isinstance(c, HangupChannel) and c.channel_id == "" for c in d.commands)
    d.feed(destroyed(CUSTOMER, 16))
    record = d.record()
    assert record.outcome == CallOutcome.COMPLETED and record.hung_up_first == Party.AGENT


def test_the_session_never_answering_ends_the_call_by_its_guard() -> None:
    d = lent_call()
    d.feed(hangup_request(LEG1, 16), destroyed(LEG1, 16))
    out = d.feed(TimerFired("switch_answer"))
    assert HangupChannel(channel_id=CUSTOMER) in out
    assert StopMusicOnHold(channel_id=CUSTOMER) not in out  # hung up, not taken off hold
    assert not any(isinstance(c, HangupChannel) and c.channel_id == "" for c in d.commands)
