"""Calls whose end the core did not see (issue 10, items 12 and 21): an events-socket outage,
a hang-up button pressed during it, Asterisk restarted or shut down. The record says
"unknown" where the truth is unknown (who hung up first, the cause), marks an end time it
could not see as approximate, and names a call the telephony side cut."""

from __future__ import annotations

from call_events_factory import (
    Driver,
    destroyed,
    failed,
    hangup_request,
    ok,
    stasis_end,
    stasis_start,
)

from core.ari_commands import AddToBridge, CreateBridge, HangupChannel
from core.ari_events import Channel
from core.call_config import CallSettings
from core.call_inputs import CallStart, ChannelsListed, HangupFromUi
from core.call_outcomes import final_step_for
from core.domain import CallOutcome, CallStep, Party
from core.leg import END_NOT_SEEN, END_TELEPHONY_RESTARTED, SOFTHANGUP_SHUTDOWN
from core.recovery_call import adopted_request, lost_call_record
from core.recovery_scan import ari_time, live_calls

AGENT, CUSTOMER, BRIDGE = "c1-agent", "c1-customer", "c1-bridge"


def connected() -> Driver:
    """A connected call (the default timing: the customer is dialed at the agent's answer)."""
    d = Driver.make(CallSettings())
    d.feed(CallStart(), stasis_start(AGENT, "Up", "agent", "c1"))
    d.feed(stasis_start(CUSTOMER, "Up", "customer", "c1"))
    d.feed(ok(CreateBridge(bridge_id=BRIDGE, name="c1")))
    d.feed(ok(AddToBridge(bridge_id=BRIDGE, channel_ids=(AGENT, CUSTOMER)), 204))
    assert d.m.step == CallStep.CONNECTED
    return d


def test_customer_gone_during_an_outage_is_the_one_who_hung_up_with_an_approximate_end() -> None:
    d = connected()
    d.feed(ChannelsListed(channel_ids=frozenset({AGENT}), listed_at=d.now + 0.5), dt=15.0)
    learned = d.now
    assert HangupChannel(channel_id=AGENT) in d.commands  # the agent is not left alone
    d.feed(destroyed(AGENT, 16))
    record = d.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party.CUSTOMER  # the agent's leg was still there
    assert record.reason == "customer_gone_while_core_away"
    leg = record.customer_leg
    assert leg is not None
    assert leg.hangup_cause == 0 and leg.hangup_cause_text == END_NOT_SEEN  # unknown, said
    assert leg.ended_at == learned  # when the core learned it: approximate, flagged above
    assert leg.answered_at is not None
    assert leg.billable_seconds == round(learned - leg.answered_at, 3)


def test_every_leg_gone_during_an_outage_means_who_hung_up_first_is_unknown() -> None:
    d = connected()
    d.feed(ChannelsListed(channel_ids=frozenset(), listed_at=d.now + 0.5))
    record = d.record()  # nothing left to wait for
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first is None  # not "agent_hung_up": nobody knows
    assert record.reason == "ended_while_core_away"
    assert record.agent_leg.hangup_cause_text == END_NOT_SEEN
    assert record.customer_leg is not None
    assert record.customer_leg.hangup_cause_text == END_NOT_SEEN
    assert not [c for c in d.commands if isinstance(c, HangupChannel)]


def test_hang_up_button_during_an_outage_after_the_customer_left_does_not_blame_the_agent() -> None:
    d = connected()
    answered = d.now
    d.feed(HangupFromUi(by="a1"), dt=17.0)  # the customer hung up unseen; the agent clicks
    clicked = d.now
    deletes = d.of(HangupChannel)
    assert {h.channel_id for h in deletes} == {AGENT, CUSTOMER}
    customer_delete = next(h for h in deletes if h.channel_id == CUSTOMER)
    agent_delete = next(h for h in deletes if h.channel_id == AGENT)
    d.feed(failed(customer_delete, 404, "Channel not found"), dt=0.01)
    d.feed(ok(agent_delete, 204))
    d.feed(ChannelsListed(channel_ids=frozenset(), listed_at=d.now + 0.5))  # link back
    record = d.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party.CUSTOMER  # gone before the click's DELETE
    assert record.reason == "customer_gone_before_hangup_from_ui"
    leg = record.customer_leg
    assert leg is not None and leg.hangup_cause_text == END_NOT_SEEN
    assert leg.ended_at is not None and clicked <= leg.ended_at <= clicked + 0.02
    assert leg.billable_seconds >= round(clicked - answered, 3)  # approximate, said so


def test_hang_up_button_finding_both_legs_gone_leaves_the_first_unknown() -> None:
    d = connected()
    d.feed(HangupFromUi(by="a1"))
    for delete in d.of(HangupChannel):
        d.feed(failed(delete, 404, "Channel not found"))
    record = d.record()
    assert record.hung_up_first is None
    assert record.reason == "ended_before_hangup_from_ui"


def test_a_late_channel_destroyed_after_our_404_gives_the_true_cause_and_time() -> None:
    d = connected()
    d.feed(HangupFromUi(by="a1"))
    customer_delete = next(h for h in d.of(HangupChannel) if h.channel_id == CUSTOMER)
    d.feed(failed(customer_delete, 404, "Channel not found"))
    not_found_at = d.now
    d.feed(destroyed(CUSTOMER, 16, "Normal Clearing"))  # the event was only late
    d.feed(destroyed(AGENT, 16))
    leg = d.record().customer_leg
    assert leg is not None
    assert leg.hangup_cause == 16 and leg.hangup_cause_text == "Normal Clearing"
    assert leg.ended_at == not_found_at  # the earlier of the two
    assert d.record().hung_up_first == Party.CUSTOMER


def test_a_normal_ui_hang_up_still_says_the_ui_was_first() -> None:
    d = connected()
    d.feed(HangupFromUi(by="a1"))
    d.feed(destroyed(AGENT, 16), destroyed(CUSTOMER, 16))
    record = d.record()
    assert record.hung_up_first == Party.UI
    assert record.reason == "hangup_from_ui:a1"


def test_telephony_restarted_while_away_names_the_restart() -> None:
    d = connected()
    d.feed(ChannelsListed(channel_ids=frozenset(), listed_at=d.now + 0.5, telephony_restarted=True))
    record = d.record()
    assert record.outcome == CallOutcome.TELEPHONY_RESTARTED
    assert record.reason == "telephony_restarted"
    assert record.hung_up_first == Party.SYSTEM
    assert record.agent_leg.hangup_cause_text == END_TELEPHONY_RESTARTED
    assert d.m.step == final_step_for(CallOutcome.TELEPHONY_RESTARTED) == CallStep.FAILED


def test_telephony_restarted_while_the_customer_rang_is_not_a_customer_failure() -> None:
    d = Driver.make(CallSettings())
    d.feed(CallStart(), stasis_start(AGENT, "Up", "agent", "c1"))
    d.feed(ok(next(o for o in d.commands if getattr(o, "channel_id", "") == CUSTOMER)))  # type: ignore[arg-type]
    assert d.m.step == CallStep.CUSTOMER_DIALING
    d.feed(ChannelsListed(channel_ids=frozenset(), listed_at=d.now + 0.5, telephony_restarted=True))
    record = d.record()
    assert record.outcome == CallOutcome.TELEPHONY_RESTARTED
    assert record.customer_leg is not None
    assert record.customer_leg.hangup_cause_text == END_TELEPHONY_RESTARTED


def test_asterisk_shutting_down_hangs_up_with_cause_16_and_is_recorded_as_such() -> None:
    """`core restart now`: every channel gets a soft hang-up request with
    AST_SOFTHANGUP_SHUTDOWN (4), then ChannelDestroyed cause 16, "Normal Clearing"."""
    d = connected()
    d.feed(hangup_request(CUSTOMER, SOFTHANGUP_SHUTDOWN, soft=True))
    d.feed(hangup_request(AGENT, SOFTHANGUP_SHUTDOWN, soft=True))
    d.feed(stasis_end(CUSTOMER), destroyed(CUSTOMER, 16, "Normal Clearing"))
    d.feed(stasis_end(AGENT), destroyed(AGENT, 16, "Normal Clearing"))
    record = d.record()
    assert record.outcome == CallOutcome.TELEPHONY_RESTARTED  # not "completed"
    assert record.reason == "telephony_shutdown"
    assert record.hung_up_first == Party.SYSTEM
    assert record.customer_leg is not None and record.customer_leg.hangup_cause == 16


def test_our_own_soft_hang_up_is_not_a_shutdown() -> None:
    d = connected()
    d.feed(hangup_request(CUSTOMER, 16))  # the customer's BYE
    d.feed(hangup_request(AGENT, 32, soft=True))  # our DELETE (AST_SOFTHANGUP_EXPLICIT)
    d.feed(destroyed(CUSTOMER, 16), destroyed(AGENT, 16))
    assert d.record().outcome == CallOutcome.COMPLETED
    assert d.record().hung_up_first == Party.CUSTOMER


def test_a_call_lost_while_the_core_was_away_says_what_is_unknown() -> None:
    request = Driver.make().m.request
    away = lost_call_record(request, CallStep.CONNECTED, 110.0, 200.0)
    assert away.outcome == CallOutcome.COMPLETED and away.hung_up_first is None
    assert away.agent_leg.hangup_cause_text == END_NOT_SEEN
    restarted = lost_call_record(
        request, CallStep.CONNECTED, 110.0, 200.0, telephony_restarted=True
    )
    assert restarted.outcome == CallOutcome.TELEPHONY_RESTARTED
    assert restarted.reason == "telephony_restarted"


def test_adopted_legs_take_their_times_from_asterisks_channel_data() -> None:
    created = "2026-12-03T10:00:00.250+0000"
    assert ari_time(created) == 1796292000.25
    assert ari_time("") is None
    channels = [
        Channel(id=AGENT, name="PJSIP/carrier-1", state="Up", creationtime=created),
        Channel(id=CUSTOMER, name="PJSIP/carrier-2", state="Ringing", creationtime=created),
    ]
    [call] = live_calls(channels, [])
    assert call.agent is not None and call.agent.created_at == 1796292000.25
    request = adopted_request(call, at=1796292100.0)
    assert request.requested_at == 1796292000.25  # not the moment of adoption
    from core.recovery_call import adopt_call

    m = adopt_call(request, CallSettings(), call, at=1796292100.0)
    assert m.agent.dialed_at == 1796292000.25
    assert m.customer is not None and m.customer.dialed_at == 1796292000.25
