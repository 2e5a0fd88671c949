"""adopt_call: rebuilding a call in the right step from what Asterisk still lists."""

from __future__ import annotations

import pytest
from call_events_factory import (
    Driver,
    destroyed,
    failed,
    hangup_request,
    ok,
    playback_finished,
    request,
    stasis_start,
)

from core.agent import AdoptCall, AgentMachine, LogIn
from core.ari_commands import (
    AddToBridge,
    CreateBridge,
    DestroyBridge,
    HangupChannel,
    OriginateChannel,
    PlayMedia,
    SetChannelVar,
    StopMusicOnHold,
)
from core.ari_events import Bridge, Channel
from core.call import CallMachine
from core.call_config import CallSettings
from core.domain import AgentState, CallOutcome, CallStep, Party
from core.recovery_call import adopt_call
from core.recovery_scan import LiveCall, LiveLeg, live_calls
from core.timers import StartTimer

AGENT, CUSTOMER, BRIDGE = "c1-agent", "c1-customer", "c1-bridge"
SETTINGS = CallSettings()


def leg(role: str, state: str = "Up", bridge: str | None = None) -> LiveLeg:
    return LiveLeg(role=role, channel_id=f"c1-{role}", state=state, bridge_id=bridge)


def adopt(
    agent: LiveLeg | None,
    customer: LiveLeg | None,
    bridge_id: str | None = None,
    last_step: CallStep | None = None,
    settings: CallSettings = SETTINGS,
) -> Driver:
    live = LiveCall(call_id="c1", agent=agent, customer=customer, bridge_id=bridge_id)
    m = adopt_call(request(), settings, live, 500.0, last_step=last_step, connected_at=450.0)
    d = Driver(m)
    d.now = 500.0
    d.commands += m.commands_to_send()
    d.events += m.events_emitted()
    return d


def test_bridged_call_is_adopted_connected_and_ends_normally() -> None:
    d = adopt(leg("agent", bridge=BRIDGE), leg("customer", bridge=BRIDGE), BRIDGE)
    assert d.m.step == CallStep.CONNECTED
    assert d.of(SetChannelVar) == [  # only the probes: are the listed legs still there?
        SetChannelVar(channel_id=AGENT, variable="EVS_ADOPTED", value="1"),
        SetChannelVar(channel_id=CUSTOMER, variable="EVS_ADOPTED", value="1"),
    ]
    assert len(d.commands) == 2
    assert d.m.view().connected_at == 450.0
    out = d.feed(hangup_request(CUSTOMER, 16))
    assert d.of(HangupChannel, out) == [HangupChannel(channel_id=AGENT)]
    out = d.feed(destroyed(CUSTOMER, 16), destroyed(AGENT, 16))
    assert DestroyBridge(bridge_id=BRIDGE) in out
    record = d.record()
    assert record.recovered is True
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party.CUSTOMER
    assert record.recording_name == "c1"
    assert record.agent_leg.billable_seconds == 53.0  # connected_at 450 -> destroyed at 503


def test_both_up_but_not_bridged_sets_the_bridge_up_again() -> None:
    d = adopt(leg("agent"), leg("customer"), None)
    assert d.m.step == CallStep.BRIDGING
    assert d.commands[0] == CreateBridge(bridge_id=BRIDGE, name="c1")
    out = d.feed(ok(CreateBridge(bridge_id=BRIDGE, name="c1")))
    assert AddToBridge(bridge_id=BRIDGE, channel_ids=(AGENT, CUSTOMER)) in out
    out = d.feed(ok(AddToBridge(bridge_id=BRIDGE, channel_ids=(AGENT, CUSTOMER)), 204))
    assert StopMusicOnHold(channel_id=AGENT) in out
    assert d.m.step == CallStep.CONNECTED


def test_ringing_customer_is_adopted_in_customer_dialing() -> None:
    d = adopt(leg("agent"), leg("customer", "Ringing"))
    assert d.m.step == CallStep.CUSTOMER_DIALING
    assert StartTimer("customer_answer", 35.0) in d.commands
    out = d.feed(stasis_start(CUSTOMER, "Up"))
    assert d.of(CreateBridge, out)
    assert d.m.step == CallStep.BRIDGING


def test_ringing_agent_is_adopted_in_agent_dialing() -> None:
    d = adopt(leg("agent", "Ringing"), None)
    assert d.m.step == CallStep.AGENT_DIALING
    out = d.feed(stasis_start(AGENT, "Up"))
    # the agent answered: the customer is dialed at once while the prompt plays
    assert d.of(PlayMedia, out)[0].playback_id == "c1-pb-announce"
    assert [o.channel_id for o in d.of(OriginateChannel, out)] == [CUSTOMER]
    out = d.feed(playback_finished("c1-pb-announce"))
    assert not d.of(OriginateChannel, out)


def test_answered_agent_without_customer_resumes_only_when_journal_says_so() -> None:
    resumed = adopt(leg("agent"), None, last_step=CallStep.AGENT_CONFIRMING)
    assert resumed.m.step == CallStep.CUSTOMER_DIALING  # dialed at the confirmation
    assert resumed.of(PlayMedia)
    assert [o.channel_id for o in resumed.of(OriginateChannel)] == [CUSTOMER]
    unknown = adopt(leg("agent"), None, last_step=CallStep.CUSTOMER_DIALING)
    assert not unknown.of(OriginateChannel)  # never risk calling the customer twice
    assert unknown.of(PlayMedia)[0].media == SETTINGS.prompts.customer_unreachable
    assert unknown.m.step == CallStep.ENDING_NOTICE
    out = unknown.feed(playback_finished("c1-pb-notice"))
    assert unknown.of(HangupChannel, out) == [HangupChannel(channel_id=AGENT)]
    unknown.feed(destroyed(AGENT, 16))
    assert unknown.record().reason == "recovered_incomplete"
    assert unknown.record().outcome == CallOutcome.INTERNAL_ERROR


def test_agent_gone_while_away_hangs_up_the_customer() -> None:
    d = adopt(None, leg("customer", "Ringing"))
    assert d.of(HangupChannel) == [HangupChannel(channel_id=CUSTOMER)]
    d.feed(destroyed(CUSTOMER, 16))
    record = d.record()
    assert record.outcome == CallOutcome.AGENT_ABANDONED
    assert record.recovered is True
    connected = adopt(None, leg("customer", "Up", BRIDGE), BRIDGE)
    connected.feed(destroyed(CUSTOMER, 16))
    assert connected.record().outcome == CallOutcome.COMPLETED


def test_adopt_from_listed_channels_and_bridges() -> None:
    channels = [
        Channel(id=AGENT, name="PJSIP/carrier-00000001", state="Up"),
        Channel(id=CUSTOMER, name="PJSIP/carrier-00000002", state="Up"),
        Channel(id="unrelated", state="Up"),
    ]
    bridges = [Bridge(id=BRIDGE, channels=[AGENT, CUSTOMER, "1795726706.262"])]
    (live,) = live_calls(channels, bridges, {AGENT: {"EVS_CALL_ID": "c1"}})
    m = adopt_call(request(), SETTINGS, live, 10.0)
    assert m.step == CallStep.CONNECTED
    assert all(isinstance(c, SetChannelVar) for c in m.commands_to_send())  # probes only


@pytest.mark.parametrize("order", [1, -1])
def test_a_switched_call_is_adopted_with_the_agent_leg_in_the_bridge(order: int) -> None:
    """Mid-switch or after it, two agent legs exist: the call's is the one in the bridge."""
    channels = [
        Channel(id=AGENT, name="PJSIP/agent-1001-00000001", state="Up"),
        Channel(id="c1-agent-s1", name="PJSIP/carrier-00000003", state="Up"),
        Channel(id=CUSTOMER, name="PJSIP/carrier-00000002", state="Up"),
    ]
    bridges = [Bridge(id=BRIDGE, channels=["c1-agent-s1", CUSTOMER])]
    (live,) = live_calls(channels[::order], bridges)
    assert live.agent is not None and live.agent.channel_id == "c1-agent-s1"
    m = adopt_call(request(), SETTINGS, live, 10.0)
    assert m.step == CallStep.CONNECTED and m.agent.channel_id == "c1-agent-s1"


def test_agent_machine_adopts_a_live_call() -> None:
    a = AgentMachine("a1")
    a.receive(LogIn(), 1.0)
    both = LiveCall(
        call_id="c1",
        agent=leg("agent", bridge=BRIDGE),
        customer=leg("customer", bridge=BRIDGE),
        bridge_id=BRIDGE,
    )
    m = adopt_call(request(), SETTINGS, both, 2.0)
    assert a.receive(AdoptCall(call=m.view()), 2.0) is None
    assert a.state == AgentState.ON_CALL
    assert a.call_id == "c1"
    refusal = a.receive(AdoptCall(call=CallMachine(request(call_id="c2"), SETTINGS).view()), 3.0)
    assert refusal is not None and refusal.code == "agent_on_call"


def test_customer_hung_up_during_the_gap_closes_a_connected_call() -> None:
    """S13 part B: the customer hung up while the events socket was down; Asterisk lists the
    agent alone in the call bridge."""
    d = adopt(leg("agent", bridge=BRIDGE), None, BRIDGE, last_step=CallStep.CONNECTED)
    assert d.of(HangupChannel) == [HangupChannel(channel_id=AGENT)]
    assert not d.of(PlayMedia)  # no "unreachable" notice for a call that took place
    out = d.feed(destroyed(AGENT, 16))
    assert DestroyBridge(bridge_id=BRIDGE) in out
    record = d.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party.CUSTOMER
    assert record.reason == "customer_gone_while_core_away"
    assert record.connected_at == 450.0
    assert record.recording_name == "c1"
    # without a journal, being in the call bridge is enough to know
    bare = adopt(leg("agent", bridge=BRIDGE), None, BRIDGE)
    assert bare.m.outcome == CallOutcome.COMPLETED


def test_customer_gone_between_listing_and_adoption_ends_the_connected_call() -> None:
    """Faults bench, core SIGKILLed: the customer hung up after Asterisk listed both legs
    bridged but before the adopted call owned its channels, so its end was never routed to
    the call. The probe of the listed legs finds it gone (404): the call ends by itself."""
    d = adopt(
        leg("agent", bridge=BRIDGE),
        leg("customer", bridge=BRIDGE),
        BRIDGE,
        last_step=CallStep.CONNECTED,
    )
    assert d.m.step == CallStep.CONNECTED
    probe = SetChannelVar(channel_id=CUSTOMER, variable="EVS_ADOPTED", value="1")
    assert probe in d.commands
    out = d.feed(failed(probe, 404, "Channel not found"))
    assert d.of(HangupChannel, out) == [HangupChannel(channel_id=AGENT)]
    out = d.feed(destroyed(AGENT, 16))
    assert DestroyBridge(bridge_id=BRIDGE) in out
    record = d.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party.CUSTOMER
    assert record.reason == "customer_gone_while_core_away"
    assert record.customer_leg is not None
    assert record.customer_leg.hangup_cause == 0  # its end was not seen


def test_probe_of_a_leg_still_there_changes_nothing() -> None:
    d = adopt(leg("agent", bridge=BRIDGE), leg("customer", bridge=BRIDGE), BRIDGE)
    for probe in d.of(SetChannelVar):
        assert d.feed(ok(probe, 204)) == []
    assert d.m.step == CallStep.CONNECTED
    # a leg that ends after the adoption owns its channels is seen as usual
    d.feed(hangup_request(AGENT, 16))
    d.feed(destroyed(AGENT, 16), destroyed(CUSTOMER, 16))
    assert d.record().hung_up_first == Party.AGENT


def test_agent_gone_from_a_connected_call_destroys_the_bridge() -> None:
    d = adopt(None, leg("customer", bridge=BRIDGE), BRIDGE)
    out = d.feed(destroyed(CUSTOMER, 16))
    assert DestroyBridge(bridge_id=BRIDGE) in out
    assert d.record().hung_up_first == Party.AGENT
