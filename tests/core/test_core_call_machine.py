"""CallMachine transitions, one by one: inputs in, commands and events out.

These drive the "announce, then dial" flow (customer_dial_timing = after_announcement); the
default flow, where the customer is dialed at the agent's confirmation, has its own file
(test_core_call_dial_timing.py)."""

from __future__ import annotations

import logging

import msgspec
import pytest
from call_events_factory import (
    Driver,
    destroyed,
    dial,
    dtmf,
    entered_bridge,
    failed,
    hangup_request,
    ok,
    playback_finished,
    stasis_end,
    stasis_start,
    state_change,
)

from core.ari_commands import (
    AddToBridge,
    CreateBridge,
    CreateChannel,
    DestroyBridge,
    DialChannel,
    HangupChannel,
    OriginateChannel,
    PlayMedia,
    RecordBridge,
    StartMusicOnHold,
    StartRinging,
    StopMusicOnHold,
    StopPlayback,
    StopRinging,
)
from core.ari_events import UnhandledEvent
from core.call import CallMachine
from core.call_actions import ENDING_STEPS
from core.call_config import (
    CallPrompts,
    CallSettings,
    CustomerDialMethod,
    CustomerDialTiming,
    HoldAudio,
)
from core.call_events import CallStepChanged
from core.call_inputs import CallInput, CallStart, ChannelsListed, HangupFromUi
from core.call_outcomes import FINAL_STEPS
from core.domain import CallOutcome, CallStep, Party
from core.leg import END_NOT_SEEN
from core.timers import CancelTimer, StartTimer, TimerFired

AGENT, CUSTOMER, BRIDGE = "c1-agent", "c1-customer", "c1-bridge"
ANNOUNCE, PRESS1, NOTICE = "c1-pb-announce", "c1-pb-press1", "c1-pb-notice"
SETTINGS = CallSettings(
    agent_ring_timeout_s=22,
    customer_ring_timeout_s=30,
    stasis_guard_s=5,
    customer_dial_timing=CustomerDialTiming.AFTER_ANNOUNCEMENT,
)


def to_announcing(d: Driver) -> None:
    d.feed(CallStart(), stasis_start(AGENT, "Up", "agent", "c1"))
    assert d.m.step == CallStep.ANNOUNCING


def to_customer_dialing(d: Driver) -> None:
    to_announcing(d)
    d.feed(playback_finished(ANNOUNCE))
    assert d.m.step == CallStep.CUSTOMER_DIALING


def to_connected(d: Driver) -> None:
    to_customer_dialing(d)
    d.feed(stasis_start(CUSTOMER, "Up", "customer", "c1"))
    d.feed(ok(CreateBridge(bridge_id=BRIDGE, name="c1")))
    d.feed(ok(AddToBridge(bridge_id=BRIDGE, channel_ids=(AGENT, CUSTOMER)), 204))
    assert d.m.step == CallStep.CONNECTED


# ------------------------------------------------------------------ requested
def test_start_originates_agent_leg_with_identity_and_ring_timer() -> None:
    d = Driver.make(SETTINGS)
    out = d.feed(CallStart())
    originate = d.of(OriginateChannel, out)[0]
    assert originate.channel_id == AGENT
    assert originate.app_args == "agent,c1"
    assert originate.timeout_s == 22
    assert originate.other_channel_id is None  # PJSIP: one channel
    assert originate.variables == {
        "EVS_CALL_ID": "c1",
        "EVS_ROLE": "agent",
        "EVS_AGENT_ID": "a1",
        "EVS_CUSTOMER_NUMBER": "+33622222222",
        "EVS_WORKSTATION": "mobile",
        "EVS_CONTACT_ID": "k1",
    }
    assert StartTimer("agent_answer", 27) in out
    assert d.m.step == CallStep.AGENT_DIALING
    assert d.events == [CallStepChanged("c1", CallStep.AGENT_DIALING, 101.0, "")]


def test_local_agent_endpoint_names_the_second_half() -> None:
    d = Driver.make(SETTINGS, agent_endpoint="Local/answer@sim-phones")
    originate = d.of(OriginateChannel, d.feed(CallStart()))[0]
    assert originate.other_channel_id == "c1-agent-2"
    assert "c1-agent-2" in d.m.channel_ids()


@pytest.mark.parametrize(
    ("req", "reason"),
    [
        ({"customer_number": "0612345678"}, "invalid_number"),
        ({"customer_number": "+33 6"}, "invalid_number"),
        ({"agent_endpoint": ""}, "no_workstation"),
        ({"customer_endpoint": ""}, "invalid_number"),
    ],
)
def test_bad_request_is_rejected_without_dialing(req: dict[str, str], reason: str) -> None:
    d = Driver.make(SETTINGS, **req)
    out = d.feed(CallStart())
    assert not d.of(OriginateChannel, out)
    assert d.m.step == CallStep.REJECTED
    record = d.record()
    assert record.outcome == CallOutcome.REJECTED
    assert record.reason == reason


def test_ui_hangup_before_start_cancels_without_any_command() -> None:
    d = Driver.make(SETTINGS)
    out = d.feed(HangupFromUi(by="a1"))
    assert out == []
    assert d.m.step == CallStep.ENDED
    assert d.record().outcome == CallOutcome.CANCELLED
    assert d.record().hung_up_first == Party.UI


# ------------------------------------------------------------------ agent leg
def test_agent_up_before_stasis_waits_for_stasis_to_play() -> None:
    d = Driver.make(SETTINGS)
    d.feed(CallStart(), dial(AGENT, "RINGING"), state_change(AGENT, "Ringing"))
    out = d.feed(state_change(AGENT, "Up"))
    assert d.m.step == CallStep.AGENT_ANSWERED
    assert not d.of(PlayMedia, out)
    out = d.feed(stasis_start(AGENT, "Up"))
    assert CancelTimer("agent_answer") in out
    play = d.of(PlayMedia, out)[0]
    assert play.playback_id == ANNOUNCE
    assert play.media == CallSettings().prompts.customer_being_called
    assert play.lang == "fr"
    assert d.m.step == CallStep.ANNOUNCING


@pytest.mark.parametrize(
    ("events", "outcome", "reason"),
    [
        ([dial(AGENT, "BUSY"), destroyed(AGENT, 0)], CallOutcome.AGENT_BUSY, "busy"),
        ([destroyed(AGENT, 19)], CallOutcome.AGENT_NO_ANSWER, "no_answer"),
        (
            [hangup_request(AGENT, 1, tech=404), destroyed(AGENT, 1, tech=404)],
            CallOutcome.AGENT_UNREACHABLE,
            "invalid_number",
        ),
        (
            [dial(AGENT, "CONGESTION"), destroyed(AGENT, 0)],
            CallOutcome.AGENT_UNREACHABLE,
            "congestion",
        ),
        ([destroyed(AGENT, 21, tech=603)], CallOutcome.AGENT_UNREACHABLE, "rejected"),
        ([destroyed(AGENT, 0)], CallOutcome.AGENT_UNREACHABLE, "unreachable"),
    ],
)
def test_agent_leg_failures(events: list, outcome: CallOutcome, reason: str) -> None:  # type: ignore[type-arg]
    d = Driver.make(SETTINGS)
    d.feed(CallStart())
    out = d.feed(*events)
    assert not d.of(HangupChannel, out)  # Asterisk already ended it
    record = d.record()
    assert record.outcome == outcome
    assert record.reason == reason
    assert record.customer_leg is None
    assert d.m.step == CallStep.FAILED
    assert CancelTimer("agent_answer") in out


def test_local_busy_cause_comes_from_the_second_half_when_it_arrives_first() -> None:
    d = Driver.make(SETTINGS, agent_endpoint="Local/busy@sim-phones")
    d.feed(CallStart(), destroyed("c1-agent-2", 17, "User busy"), destroyed(AGENT, 0))
    record = d.record()
    assert record.outcome == CallOutcome.AGENT_BUSY
    assert record.agent_leg.hangup_cause == 17


def test_agent_answer_timeout_hangs_up_with_no_answer() -> None:
    d = Driver.make(SETTINGS)
    d.feed(CallStart())
    out = d.feed(TimerFired("agent_answer"))
    assert d.of(HangupChannel, out) == [HangupChannel(channel_id=AGENT, reason="no_answer")]
    assert d.m.step == CallStep.ENDING
    d.feed(destroyed(AGENT, 19))
    record = d.record()
    assert record.outcome == CallOutcome.AGENT_NO_ANSWER
    assert record.hung_up_first == Party.SYSTEM


def test_stale_timer_is_ignored() -> None:
    d = Driver.make(SETTINGS)
    d.feed(CallStart())
    assert d.feed(TimerFired("announce"), TimerFired("customer_answer")) == []
    assert d.m.step == CallStep.AGENT_DIALING


@pytest.mark.parametrize(
    ("status", "message", "outcome"),
    [
        (500, "Allocation failed", CallOutcome.AGENT_UNREACHABLE),
        (400, "Invalid endpoint specified", CallOutcome.AGENT_UNREACHABLE),
        (409, "Channel with given unique ID already exists", CallOutcome.INTERNAL_ERROR),
        (401, "Authentication required", CallOutcome.INTERNAL_ERROR),
    ],
)
def test_agent_originate_http_error(status: int, message: str, outcome: CallOutcome) -> None:
    d = Driver.make(SETTINGS)
    originate = d.of(OriginateChannel, d.feed(CallStart()))[0]
    d.feed(failed(originate, status, message))
    record = d.record()
    assert record.outcome == outcome
    assert record.reason == f"http {status}: {message}"
    assert record.agent_leg.ended_at is not None


def test_agent_originate_without_answer_hangs_up_defensively() -> None:
    d = Driver.make(SETTINGS)
    originate = d.of(OriginateChannel, d.feed(CallStart()))[0]
    out = d.feed(failed(originate, 0, "timeout"))
    hangup = d.of(HangupChannel, out)
    assert hangup == [HangupChannel(channel_id=AGENT)]
    assert d.ended() == []
    d.feed(failed(hangup[0], 404, "Channel not found"))
    assert d.record().outcome == CallOutcome.INTERNAL_ERROR


# ------------------------------------------------------------------ acceptance
ACCEPT = msgspec.structs.replace(SETTINGS, acceptance=True, acceptance_wait_s=4.0)


def test_acceptance_prompt_then_digit_1_announces() -> None:
    d = Driver.make(ACCEPT)
    out = d.feed(CallStart(), stasis_start(AGENT))
    assert d.m.step == CallStep.AGENT_CONFIRMING
    assert d.of(PlayMedia, out)[0].playback_id == PRESS1
    assert StartTimer("agent_confirm", ACCEPT.acceptance_timeout_s) in out
    assert d.feed(dtmf(AGENT, "2")) == []  # other digits wait
    out = d.feed(dtmf(AGENT, "1"))
    assert CancelTimer("agent_confirm") in out
    assert StopPlayback(playback_id=PRESS1) in out
    assert d.of(PlayMedia, out)[0].playback_id == ANNOUNCE
    assert d.m.step == CallStep.ANNOUNCING


def test_acceptance_timeout_hangs_up_and_never_dials_customer() -> None:
    d = Driver.make(ACCEPT)
    d.feed(CallStart(), stasis_start(AGENT))
    out = d.feed(playback_finished(PRESS1))
    assert StartTimer("agent_confirm", 4.0) in out
    out = d.feed(TimerFired("agent_confirm"))
    assert d.of(HangupChannel, out) == [HangupChannel(channel_id=AGENT, reason="rejected")]
    d.feed(hangup_request(AGENT, 32, soft=True), stasis_end(AGENT), destroyed(AGENT, 21))
    record = d.record()
    assert record.outcome == CallOutcome.AGENT_NOT_CONFIRMED
    assert record.reason == "no_digit"
    assert not [o for o in d.of(OriginateChannel) if o.channel_id == CUSTOMER]


def test_agent_hanging_up_during_acceptance_is_not_confirmed() -> None:
    d = Driver.make(ACCEPT)
    d.feed(CallStart(), stasis_start(AGENT))
    out = d.feed(hangup_request(AGENT, 16), stasis_end(AGENT), destroyed(AGENT, 16))
    assert not d.of(HangupChannel, out)
    assert d.record().outcome == CallOutcome.AGENT_NOT_CONFIRMED
    assert d.record().hung_up_first == Party.AGENT


# ------------------------------------------------------------------ announcing
@pytest.mark.parametrize("how", ["finished", "failed_playback", "http_error", "timer"])
def test_announce_end_starts_hold_and_dials_customer(how: str) -> None:
    d = Driver.make(SETTINGS)
    out = d.feed(CallStart(), stasis_start(AGENT))
    play = d.of(PlayMedia, out)[0]
    inputs: dict[str, CallInput] = {
        "finished": playback_finished(ANNOUNCE),
        "failed_playback": playback_finished(ANNOUNCE, "failed"),
        "http_error": failed(play, 404, "Channel not found"),
        "timer": TimerFired("announce"),
    }
    out = d.feed(inputs[how])
    assert StartMusicOnHold(channel_id=AGENT, moh_class="default") in out
    originate = d.of(OriginateChannel, out)[0]
    assert originate.channel_id == CUSTOMER
    assert originate.app_args == "customer,c1"
    assert originate.variables["EVS_ROLE"] == "customer"
    assert originate.timeout_s == 30
    assert StartTimer("customer_answer", 35) in out
    assert d.m.step == CallStep.CUSTOMER_DIALING


def test_ringing_hold_audio_and_no_announcement() -> None:
    settings = msgspec.structs.replace(
        SETTINGS, hold_audio=HoldAudio.RINGING, prompts=CallPrompts(customer_being_called=())
    )
    d = Driver.make(settings)
    out = d.feed(CallStart(), stasis_start(AGENT))
    assert not d.of(PlayMedia, out)
    assert StartRinging(channel_id=AGENT) in out
    assert d.m.step == CallStep.CUSTOMER_DIALING


def test_agent_hangs_up_during_announcement() -> None:
    d = Driver.make(SETTINGS)
    to_announcing(d)
    d.feed(hangup_request(AGENT, 16), stasis_end(AGENT), destroyed(AGENT, 16))
    assert d.record().outcome == CallOutcome.AGENT_ABANDONED


# ------------------------------------------------------------------ customer leg
@pytest.mark.parametrize(
    ("events", "outcome", "prompt"),
    [
        (
            [dial(CUSTOMER, "BUSY"), destroyed(CUSTOMER, 17, tech=486)],
            CallOutcome.CUSTOMER_BUSY,
            "customer_busy",
        ),
        ([destroyed(CUSTOMER, 19)], CallOutcome.CUSTOMER_NO_ANSWER, "customer_no_answer"),
        (
            [destroyed(CUSTOMER, 34, tech=503)],
            CallOutcome.CUSTOMER_CONGESTION,
            "customer_unreachable",
        ),
        (
            [destroyed(CUSTOMER, 1, tech=404)],
            CallOutcome.CUSTOMER_INVALID_NUMBER,
            "customer_invalid_number",
        ),
        ([destroyed(CUSTOMER, 21, tech=603)], CallOutcome.CUSTOMER_REJECTED, "customer_busy"),
    ],
)
def test_customer_failure_tells_the_agent_then_hangs_up(
    events: list,
    outcome: CallOutcome,
    prompt: str,  # type: ignore[type-arg]
) -> None:
    d = Driver.make(SETTINGS)
    to_customer_dialing(d)
    out = d.feed(*events)
    assert StopMusicOnHold(channel_id=AGENT) in out
    notice = d.of(PlayMedia, out)
    assert notice[0].playback_id == NOTICE
    assert notice[0].media == getattr(SETTINGS.prompts, prompt)
    assert not d.of(HangupChannel, out)  # not before the agent heard why
    assert d.m.step == CallStep.ENDING_NOTICE
    out = d.feed(playback_finished(NOTICE))
    assert d.of(HangupChannel, out) == [HangupChannel(channel_id=AGENT)]
    assert d.m.step == CallStep.ENDING
    d.feed(stasis_end(AGENT), destroyed(AGENT, 16))
    record = d.record()
    assert record.outcome == outcome
    assert record.hung_up_first == Party.CUSTOMER
    assert d.m.step == CallStep.FAILED
    assert not d.of(CreateBridge)


def test_customer_answer_timeout() -> None:
    d = Driver.make(SETTINGS)
    to_customer_dialing(d)
    out = d.feed(TimerFired("customer_answer"))
    assert HangupChannel(channel_id=CUSTOMER, reason="no_answer") in out
    assert d.of(PlayMedia, out)[0].media == SETTINGS.prompts.customer_no_answer
    out = d.feed(destroyed(CUSTOMER, 16), TimerFired("notice"))  # the notice never finished
    assert HangupChannel(channel_id=AGENT) in out
    d.feed(destroyed(AGENT, 16))
    assert d.record().outcome == CallOutcome.CUSTOMER_NO_ANSWER
    assert d.record().hung_up_first == Party.SYSTEM


def test_customer_originate_http_error_is_congestion_with_message() -> None:
    d = Driver.make(SETTINGS)
    to_customer_dialing(d)
    originate = next(o for o in d.of(OriginateChannel) if o.channel_id == CUSTOMER)
    out = d.feed(failed(originate, 500, "Allocation failed"))
    assert d.of(PlayMedia, out)[0].playback_id == NOTICE
    d.feed(playback_finished(NOTICE), destroyed(AGENT, 16))
    record = d.record()
    assert record.outcome == CallOutcome.CUSTOMER_CONGESTION
    assert "Allocation failed" in record.reason


def test_agent_hangs_up_while_customer_rings() -> None:
    d = Driver.make(SETTINGS)
    to_customer_dialing(d)
    d.feed(dial(CUSTOMER, "RINGING"))
    out = d.feed(hangup_request(AGENT, 16), stasis_end(AGENT))
    assert d.of(HangupChannel, out) == [HangupChannel(channel_id=CUSTOMER)]
    assert not d.of(StopMusicOnHold, out)  # the agent is gone: nothing to stop
    d.feed(destroyed(AGENT, 16), dial(CUSTOMER, "NOANSWER"), destroyed(CUSTOMER, 16))
    record = d.record()
    assert record.outcome == CallOutcome.AGENT_ABANDONED
    assert record.customer_leg is not None
    assert record.customer_leg.ringing_at is not None


def test_ui_hangup_while_customer_rings_cancels_both_legs() -> None:
    d = Driver.make(SETTINGS)
    to_customer_dialing(d)
    out = d.feed(HangupFromUi(by="a1"))
    assert {h.channel_id for h in d.of(HangupChannel, out)} == {AGENT, CUSTOMER}
    d.feed(destroyed(AGENT, 16))
    assert d.ended() == []  # still waiting for the customer leg
    d.feed(destroyed(CUSTOMER, 16))
    assert d.record().outcome == CallOutcome.CANCELLED
    assert d.m.step == CallStep.ENDED


def test_ui_hangup_during_notice_skips_it() -> None:
    d = Driver.make(SETTINGS)
    to_customer_dialing(d)
    d.feed(destroyed(CUSTOMER, 17))
    out = d.feed(HangupFromUi(by="a1"))
    assert HangupChannel(channel_id=AGENT) in out
    assert CancelTimer("notice") in out
    d.feed(destroyed(AGENT, 16))
    assert d.record().outcome == CallOutcome.CUSTOMER_BUSY


def test_agent_hangs_up_during_notice() -> None:
    d = Driver.make(SETTINGS)
    to_customer_dialing(d)
    d.feed(destroyed(CUSTOMER, 17))
    out = d.feed(hangup_request(AGENT, 16), stasis_end(AGENT), destroyed(AGENT, 16))
    assert not d.of(HangupChannel, out)
    assert d.record().outcome == CallOutcome.CUSTOMER_BUSY


# ------------------------------------------------------------------ create + dial
CREATE = msgspec.structs.replace(SETTINGS, customer_dial_method=CustomerDialMethod.CREATE_DIAL)


def test_create_dial_dials_once_created_and_answer_is_state_up() -> None:
    d = Driver.make(CREATE)
    to_announcing(d)
    out = d.feed(playback_finished(ANNOUNCE))
    assert d.of(CreateChannel, out)[0].channel_id == CUSTOMER
    out = d.feed(stasis_start(CUSTOMER, "Down"))
    assert d.of(DialChannel, out) == [DialChannel(channel_id=CUSTOMER, caller=AGENT, timeout_s=30)]
    assert d.m.step == CallStep.CUSTOMER_DIALING
    out = d.feed(dial(CUSTOMER, "RINGING"), state_change(CUSTOMER, "Up"))
    assert d.of(CreateBridge, out) == [CreateBridge(bridge_id=BRIDGE, name="c1")]
    assert d.m.step == CallStep.BRIDGING


def test_create_dial_busy_channel_left_in_stasis_is_hung_up() -> None:
    d = Driver.make(CREATE, customer_endpoint="Local/busy@sim-phones")
    to_announcing(d)
    d.feed(playback_finished(ANNOUNCE), stasis_start(CUSTOMER, "Down"))
    out = d.feed(dial(CUSTOMER, ""), dial(CUSTOMER, "BUSY"))
    assert d.of(HangupChannel, out) == [HangupChannel(channel_id=CUSTOMER)]
    out = d.feed(hangup_request(CUSTOMER, 32, soft=True), stasis_end(CUSTOMER))
    out = d.feed(destroyed(CUSTOMER, 16))
    assert d.of(PlayMedia, out)[0].media == SETTINGS.prompts.customer_busy
    d.feed(playback_finished(NOTICE), destroyed(AGENT, 16))
    assert d.record().outcome == CallOutcome.CUSTOMER_BUSY


def test_create_dial_http_error_on_dial() -> None:
    d = Driver.make(CREATE)
    to_announcing(d)
    d.feed(playback_finished(ANNOUNCE))
    dial_cmd = d.of(DialChannel, d.feed(stasis_start(CUSTOMER, "Down")))[0]
    out = d.feed(failed(dial_cmd, 500, "boom"))
    assert HangupChannel(channel_id=CUSTOMER) in out
    assert d.of(PlayMedia, out)[0].playback_id == NOTICE
    assert d.m.outcome == CallOutcome.CUSTOMER_CONGESTION


# ------------------------------------------------------------------ connected
def test_customer_answer_stops_moh_then_bridges_then_records() -> None:
    d = Driver.make(SETTINGS)
    to_customer_dialing(d)
    out = d.feed(dial(CUSTOMER, "ANSWER"), stasis_start(CUSTOMER, "Up"))
    # what the agent hears stops at the customer's answer, before the legs are bridged
    assert StopMusicOnHold(channel_id=AGENT) in out
    assert d.of(CreateBridge, out) == [CreateBridge(bridge_id=BRIDGE, name="c1")]
    assert CancelTimer("customer_answer") in out
    assert StartTimer("bridge", SETTINGS.bridge_guard_s) in out
    assert not d.of(AddToBridge, out)  # waits for the bridge to exist
    out = d.feed(ok(CreateBridge(bridge_id=BRIDGE, name="c1")))
    assert d.of(AddToBridge, out) == [AddToBridge(bridge_id=BRIDGE, channel_ids=(AGENT, CUSTOMER))]
    out = d.feed(ok(AddToBridge(bridge_id=BRIDGE, channel_ids=(AGENT, CUSTOMER)), 204))
    assert not d.of(StopMusicOnHold, out)  # stopped once, at the answer
    assert d.of(RecordBridge, out) == [RecordBridge(bridge_id=BRIDGE, name="c1", format="wav")]
    assert CancelTimer("bridge") in out
    view = d.m.view()
    assert view.step == CallStep.CONNECTED
    assert view.connected_at is not None
    assert view.recording_name == "c1"


def test_bridge_entered_events_also_count_as_bridged_and_409_as_created() -> None:
    settings = msgspec.structs.replace(SETTINGS, recording=False)
    d = Driver.make(settings)
    to_customer_dialing(d)
    d.feed(stasis_start(CUSTOMER, "Up"))
    out = d.feed(failed(CreateBridge(bridge_id=BRIDGE, name="c1"), 409, "Bridge exists"))
    assert d.of(AddToBridge, out)
    d.feed(entered_bridge(BRIDGE, AGENT, [AGENT]))
    assert d.m.step == CallStep.BRIDGING
    d.feed(entered_bridge(BRIDGE, CUSTOMER, [AGENT, CUSTOMER]))
    assert d.m.step == CallStep.CONNECTED
    assert len(d.of(StopMusicOnHold)) == 1
    assert not d.of(RecordBridge)


@pytest.mark.parametrize("how", ["add_failed", "timer"])
def test_bridge_failure_ends_everything_as_internal_error(how: str) -> None:
    d = Driver.make(SETTINGS)
    to_customer_dialing(d)
    d.feed(stasis_start(CUSTOMER, "Up"), ok(CreateBridge(bridge_id=BRIDGE, name="c1")))
    add = d.of(AddToBridge)[0]
    inp = failed(add, 400, "Channel not found") if how == "add_failed" else TimerFired("bridge")
    out = d.feed(inp)
    assert {h.channel_id for h in d.of(HangupChannel, out)} == {AGENT, CUSTOMER}
    out = d.feed(destroyed(AGENT, 16), destroyed(CUSTOMER, 16))
    assert DestroyBridge(bridge_id=BRIDGE) in out
    assert d.record().outcome == CallOutcome.INTERNAL_ERROR


@pytest.mark.parametrize(
    ("gone", "other", "party"), [(AGENT, CUSTOMER, Party.AGENT), (CUSTOMER, AGENT, Party.CUSTOMER)]
)
def test_either_side_hanging_up_ends_the_other(gone: str, other: str, party: Party) -> None:
    d = Driver.make(SETTINGS)
    to_connected(d)
    out = d.feed(hangup_request(gone, 16))
    assert d.of(HangupChannel, out) == [HangupChannel(channel_id=other)]
    d.feed(stasis_end(gone), destroyed(gone, 16))
    assert d.ended() == []
    out = d.feed(hangup_request(other, 32, soft=True), destroyed(other, 16))
    assert DestroyBridge(bridge_id=BRIDGE) in out
    record = d.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == party
    assert record.agent_leg.billable_seconds > 0
    assert record.customer_leg is not None and record.customer_leg.billable_seconds > 0
    assert d.m.step == CallStep.ENDED
    assert d.m.view().ended_by == party


def test_ui_hangup_when_connected_is_completed_by_ui() -> None:
    d = Driver.make(SETTINGS)
    to_connected(d)
    out = d.feed(HangupFromUi(by="sup-1"))
    assert {h.channel_id for h in d.of(HangupChannel, out)} == {AGENT, CUSTOMER}
    d.feed(destroyed(AGENT, 16), destroyed(CUSTOMER, 16))
    record = d.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party.UI
    assert record.reason == "hangup_from_ui:sup-1"


def test_recording_failure_clears_the_recording_name() -> None:
    from core.ari_events import LiveRecording, RecordingFailed

    d = Driver.make(SETTINGS)
    to_connected(d)
    d.feed(RecordingFailed(recording=LiveRecording(name="c1", cause="disk full")))
    assert d.m.recording_name is None


# ------------------------------------------------------------------ ending and robustness
def test_ending_guard_closes_the_record_when_events_are_lost() -> None:
    d = Driver.make(SETTINGS)
    to_connected(d)
    d.feed(HangupFromUi(by="a1"))
    assert d.ended() == []
    out = d.feed(TimerFired("ending"))
    assert DestroyBridge(bridge_id=BRIDGE) in out
    record = d.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.agent_leg.ended_at is not None
    assert record.agent_leg.hangup_cause_text == END_NOT_SEEN  # its end time is approximate


def test_hangup_404_means_the_leg_is_already_gone() -> None:
    d = Driver.make(SETTINGS)
    to_connected(d)
    d.feed(HangupFromUi(by="a1"))
    for hangup in d.of(HangupChannel):
        d.feed(failed(hangup, 404, "Channel not found"))
    assert d.record().outcome == CallOutcome.COMPLETED


def test_exactly_one_call_ended_and_nothing_after_the_end() -> None:
    d = Driver.make(SETTINGS)
    d.feed(CallStart(), destroyed(AGENT, 17))
    assert len(d.ended()) == 1
    out = d.feed(HangupFromUi(by="a1"), destroyed(AGENT, 16), TimerFired("ending"))
    assert out == []
    assert len(d.ended()) == 1


def test_junk_inputs_are_ignored() -> None:
    d = Driver.make(SETTINGS)
    d.feed(CallStart())
    out = d.feed(
        UnhandledEvent(type="ChannelTalkingStarted"),
        stasis_start("someone-else"),
        destroyed("someone-else", 16),
        playback_finished("other-pb"),
        dtmf(AGENT, "1"),
        CallStart(),
    )
    assert out == []
    assert d.m.step == CallStep.AGENT_DIALING


def test_a_bug_inside_the_machine_ends_the_call_instead_of_raising(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d = Driver.make(SETTINGS)
    to_announcing(d)

    def boom(*_: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(CallMachine, "_dial_customer", boom)
    out = d.feed(playback_finished(ANNOUNCE))  # must not raise
    assert HangupChannel(channel_id=AGENT) in out
    d.feed(destroyed(AGENT, 16))
    record = d.record()
    assert record.outcome == CallOutcome.INTERNAL_ERROR
    assert record.reason == "machine_error"


def test_step_history_and_view_follow_the_call() -> None:
    d = Driver.make(SETTINGS)
    to_connected(d)
    d.feed(hangup_request(CUSTOMER, 16), destroyed(CUSTOMER, 16), destroyed(AGENT, 16))
    steps = [e.step for e in d.events if isinstance(e, CallStepChanged)]
    assert steps == [
        CallStep.AGENT_DIALING,
        CallStep.AGENT_ANSWERED,
        CallStep.ANNOUNCING,
        CallStep.CUSTOMER_DIALING,
        CallStep.BRIDGING,
        CallStep.CONNECTED,
        CallStep.ENDING,
        CallStep.ENDED,
    ]
    view = d.m.view()
    assert view.outcome == CallOutcome.COMPLETED
    assert view.ended_at == d.now
    assert view.contact_id == "k1"
    record = d.record()
    assert record.steps[0].step == CallStep.REQUESTED
    assert record.started_at == 100.0
    assert msgspec.json.decode(msgspec.json.encode(record), type=type(record)) == record
    # StopRinging is never sent with MOH hold audio
    assert not d.of(StopRinging)


def test_bridged_is_known_from_entered_channels_even_without_member_lists() -> None:
    d = Driver.make(SETTINGS)
    to_customer_dialing(d)
    d.feed(stasis_start(CUSTOMER, "Up"), ok(CreateBridge(bridge_id=BRIDGE, name="c1")))
    d.feed(entered_bridge(BRIDGE, AGENT, []))
    assert not d.of(RecordBridge)
    out = d.feed(entered_bridge(BRIDGE, CUSTOMER, ["1795726706.262"]))  # recorder uniqueid only
    assert d.of(RecordBridge, out)
    assert d.m.step == CallStep.CONNECTED


@pytest.mark.parametrize(("workstation", "confirming"), [("mobile", True), ("softphone", False)])
def test_acceptance_per_workstation(workstation: str, confirming: bool) -> None:
    from call_events_factory import request

    from core.domain import WorkstationMode

    settings = msgspec.structs.replace(
        SETTINGS, acceptance_by_workstation={"mobile": True, "softphone": False}
    )
    req = msgspec.structs.replace(request(), workstation=WorkstationMode(workstation))
    d = Driver(CallMachine(req, settings))
    out = d.feed(CallStart(), stasis_start(AGENT))
    assert (d.m.step == CallStep.AGENT_CONFIRMING) is confirming
    assert d.of(PlayMedia, out)[0].playback_id == (PRESS1 if confirming else ANNOUNCE)


def test_stopping_what_already_stopped_is_not_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    d = Driver.make(SETTINGS)
    to_connected(d)
    caplog.set_level(logging.DEBUG, logger="core.call")
    d.feed(
        failed(StopPlayback(playback_id="c1-announce"), 404, "Playback not found"),
        failed(StopMusicOnHold(channel_id=AGENT), 404, "Channel not found"),
        failed(StopRinging(channel_id=AGENT), 404, "Channel not found"),
    )
    gone = [r for r in caplog.records if "failed: http 404" in r.getMessage()]
    assert len(gone) == 3 and {r.levelno for r in gone} == {logging.DEBUG}
    caplog.clear()
    d.feed(
        failed(StopPlayback(playback_id="c1-announce"), 500, "Internal Server Error"),
        failed(StopMusicOnHold(channel_id=AGENT), 409, "Channel not in Stasis application"),
        failed(RecordBridge(bridge_id=BRIDGE, name="c1", format="wav"), 404, "Bridge not found"),
    )
    real = [r for r in caplog.records if "failed: http" in r.getMessage()]
    assert len(real) == 3 and {r.levelno for r in real} == {logging.WARNING}
    assert d.m.view().step == CallStep.CONNECTED  # none of this ends the call


# ------------------------------------------------------------------ hang-up racing the originate
def test_hangup_404_before_the_originate_answered_does_not_end_the_leg() -> None:
    """ARI runs commands concurrently: a DELETE can reach Asterisk before the originate that
    creates the channel. Its 404 then does not mean "gone": once the originate answers, the
    machine hangs the new channel up instead of leaving it ringing with nobody on the call."""
    d = Driver.make(SETTINGS)
    to_customer_dialing(d)
    originate = next(o for o in d.of(OriginateChannel) if o.channel_id == CUSTOMER)
    d.feed(HangupFromUi(by="a1"))
    d.feed(destroyed(AGENT, 16))
    out = d.feed(failed(HangupChannel(channel_id=CUSTOMER), 404, "Channel not found"))
    assert d.ended() == []  # the customer channel may still be created
    out = d.feed(ok(originate))
    assert d.of(HangupChannel, out) == [HangupChannel(channel_id=CUSTOMER)]
    d.feed(destroyed(CUSTOMER, 16))
    record = d.record()
    assert record.outcome == CallOutcome.CANCELLED
    assert d.m.step == CallStep.ENDED


def test_originate_refused_after_an_early_hangup_404_ends_the_leg() -> None:
    d = Driver.make(SETTINGS)
    to_customer_dialing(d)
    originate = next(o for o in d.of(OriginateChannel) if o.channel_id == CUSTOMER)
    d.feed(HangupFromUi(by="a1"), destroyed(AGENT, 16))
    d.feed(failed(HangupChannel(channel_id=CUSTOMER), 404, "Channel not found"))
    assert d.ended() == []
    out = d.feed(failed(originate, 500, "Allocation failed"))
    assert not d.of(HangupChannel, out)
    assert d.record().outcome == CallOutcome.CANCELLED


def test_agent_hangup_404_before_the_agent_originate_answered() -> None:
    d = Driver.make(SETTINGS)
    out = d.feed(CallStart())
    originate = d.of(OriginateChannel, out)[0]
    d.feed(HangupFromUi(by="a1"))
    d.feed(failed(HangupChannel(channel_id=AGENT), 404, "Channel not found"))
    assert d.ended() == []
    out = d.feed(ok(originate))
    assert d.of(HangupChannel, out) == [HangupChannel(channel_id=AGENT)]
    d.feed(destroyed(AGENT, 16))
    assert d.record().outcome == CallOutcome.CANCELLED


# ------------------------------------------------------------------ bridge created during the end
@pytest.mark.parametrize("answered_before_legs_gone", [True, False])
def test_bridge_created_while_the_call_ends_is_destroyed(answered_before_legs_gone: bool) -> None:
    """Empty bridges persist in Asterisk: a CreateBridge answered after a side hung up must
    still be followed by DestroyBridge, and the record waits for that answer."""
    d = Driver.make(SETTINGS)
    to_customer_dialing(d)
    out = d.feed(stasis_start(CUSTOMER, "Up", "customer", "c1"))
    create = d.of(CreateBridge, out)[0]
    d.feed(hangup_request(AGENT, 16), stasis_end(AGENT))
    assert d.m.step == CallStep.ENDING
    if answered_before_legs_gone:
        d.feed(ok(create))
        out = d.feed(destroyed(AGENT, 16), destroyed(CUSTOMER, 16))
    else:
        d.feed(destroyed(AGENT, 16), destroyed(CUSTOMER, 16))
        assert d.ended() == []  # the bridge may be created yet
        assert d.m.step == CallStep.ENDING_BRIDGE
        out = d.feed(ok(create))
    assert d.of(DestroyBridge, out) == [DestroyBridge(bridge_id=BRIDGE)]
    assert not d.of(AddToBridge)
    assert d.record().outcome == CallOutcome.COMPLETED


def test_bridge_refused_while_the_call_ends_lets_it_end() -> None:
    d = Driver.make(SETTINGS)
    to_customer_dialing(d)
    create = d.of(CreateBridge, d.feed(stasis_start(CUSTOMER, "Up", "customer", "c1")))[0]
    d.feed(hangup_request(CUSTOMER, 16), destroyed(CUSTOMER, 16), destroyed(AGENT, 16))
    assert d.ended() == []
    out = d.feed(failed(create, 500, "boom"))
    assert not d.of(DestroyBridge, out)
    assert d.record().outcome == CallOutcome.COMPLETED


# ------------------------------------------------------------------ the table itself
def test_every_live_step_answers_the_hang_up_button() -> None:
    """The UI's hang-up works in every step before the end (ending steps: the notice only)."""
    from core.call import TRANSITIONS, Kind

    live = [s for s in CallStep if s not in FINAL_STEPS and s not in ENDING_STEPS]
    assert [s for s in live if (s, Kind.UI_HANGUP) not in TRANSITIONS] == []
    assert (CallStep.ENDING_NOTICE, Kind.UI_HANGUP) in TRANSITIONS


def test_an_input_the_step_does_not_expect_is_ignored() -> None:
    d = Driver.make(SETTINGS)
    to_announcing(d)
    before = d.m.record()
    out = d.feed(dtmf(AGENT, "1"), ok(CreateBridge(bridge_id=BRIDGE, name="c1")))
    assert out == [] and d.events[-1] == CallStepChanged("c1", CallStep.ANNOUNCING, d.now - 2)
    assert d.m.step == CallStep.ANNOUNCING and d.m.record() == before


def test_bridging_is_a_step_between_the_customer_answer_and_connected() -> None:
    d = Driver.make(SETTINGS)
    to_customer_dialing(d)
    d.feed(stasis_start(CUSTOMER, "Up", "customer", "c1"))
    assert d.m.step == CallStep.BRIDGING
    assert d.m.view().connected_at == d.now  # talk time counts from the answer
    d.feed(ok(CreateBridge(bridge_id=BRIDGE, name="c1")))
    assert d.m.step == CallStep.BRIDGING
    d.feed(entered_bridge(BRIDGE, AGENT, [AGENT]), entered_bridge(BRIDGE, CUSTOMER, [CUSTOMER]))
    assert d.m.step == CallStep.CONNECTED


def test_abort_hangs_up_the_live_legs_and_ends_at_once() -> None:
    d = Driver.make(SETTINGS)
    to_connected(d)
    d.feed(hangup_request(CUSTOMER, 16))  # the call is already ending, completed
    d.m.abort("RuntimeError: boom", d.now)
    out = d.m.commands_to_send()
    assert HangupChannel(channel_id=CUSTOMER) in out
    assert DestroyBridge(bridge_id=BRIDGE) in out
    d.events.extend(d.m.events_emitted())
    record = d.record()
    assert record.outcome == CallOutcome.INTERNAL_ERROR
    assert record.reason == "RuntimeError: boom"
    assert d.m.step == CallStep.FAILED
    assert record.customer_leg is not None and record.customer_leg.ended_at == d.now


def test_abort_before_the_start_dials_nothing_and_hangs_up_nothing() -> None:
    d = Driver.make(SETTINGS)
    d.m.abort("boom", 101.0)
    assert not d.of(HangupChannel, d.m.commands_to_send())
    (ended,) = [e for e in d.m.events_emitted() if not isinstance(e, CallStepChanged)]
    assert ended.record.outcome == CallOutcome.INTERNAL_ERROR  # type: ignore[union-attr]


def test_channels_listed_ends_a_call_whose_known_leg_vanished() -> None:
    d = Driver.make(SETTINGS)
    d.feed(CallStart())
    d.feed(ok(d.of(OriginateChannel)[0]))  # the agent's channel exists from now on
    known_at = d.now
    d.feed(ChannelsListed(channel_ids=frozenset({AGENT})))
    d.feed(ChannelsListed(channel_ids=frozenset(), listed_at=known_at - 0.5))  # asked before
    assert d.m.step == CallStep.AGENT_DIALING and d.ended() == []
    d.feed(ChannelsListed(channel_ids=frozenset(), listed_at=known_at + 0.5))
    record = d.record()
    assert record.outcome == CallOutcome.AGENT_UNREACHABLE
    assert record.agent_leg.hangup_cause_text == END_NOT_SEEN


def test_channels_listed_before_any_proof_of_a_leg_proves_nothing() -> None:
    d = Driver.make(SETTINGS)
    d.feed(CallStart())  # originate sent, not answered: the channel may not exist yet
    d.feed(ChannelsListed(channel_ids=frozenset()))
    assert d.m.step == CallStep.AGENT_DIALING and d.ended() == []
