"""When the customer is dialed (`customer_dial_timing`): at the agent's confirmation (the
default) the customer rings while the agent hears the "customer is being called" prompt and
then the hold audio; both stop when the customer answers. Every branch that can happen while
the prompt still plays has a defined ending. "Announce, then dial" (after_announcement) stays
a setting; the rest of its flow is covered by test_core_call_machine.py."""

from __future__ import annotations

import msgspec
import pytest
from call_events_factory import (
    Driver,
    destroyed,
    dial,
    dtmf,
    failed,
    hangup_request,
    ok,
    playback_finished,
    stasis_start,
)

from core.ari_commands import (
    CreateBridge,
    CreateChannel,
    DialChannel,
    HangupChannel,
    OriginateChannel,
    PlayMedia,
    StartMusicOnHold,
    StartRinging,
    StopMusicOnHold,
    StopPlayback,
)
from core.call_config import (
    CallPrompts,
    CallSettings,
    CustomerDialMethod,
    CustomerDialTiming,
    HoldAudio,
)
from core.call_inputs import CallStart, HangupFromUi
from core.domain import CallOutcome, CallStep, Party
from core.settings import call_settings
from core.timers import CancelTimer, StartTimer, TimerFired
from evscallpro.settings_file import parse_settings

AGENT, CUSTOMER, BRIDGE = "c1-agent", "c1-customer", "c1-bridge"
ANNOUNCE, PRESS1, NOTICE = "c1-pb-announce", "c1-pb-press1", "c1-pb-notice"
SETTINGS = CallSettings()  # the default: at_confirmation
STOP_ANNOUNCE = StopPlayback(playback_id=ANNOUNCE)


def confirmed(settings: CallSettings = SETTINGS) -> tuple[Driver, list[object]]:
    """The agent answered (no acceptance): what the machine sent at that moment."""
    d = Driver.make(settings)
    d.feed(CallStart())
    return d, list(d.feed(stasis_start(AGENT, "Up", "agent", "c1")))


def customer_originates(d: Driver, out: list[object] | None = None) -> list[OriginateChannel]:
    source = d.commands if out is None else out
    return [c for c in source if isinstance(c, OriginateChannel) and c.channel_id == CUSTOMER]


def test_the_default_is_to_dial_at_the_agents_confirmation() -> None:
    assert SETTINGS.customer_dial_timing == CustomerDialTiming.AT_CONFIRMATION


def test_agent_answer_dials_the_customer_at_once_while_the_prompt_plays() -> None:
    d, out = confirmed()
    # one batch: the prompt on the agent leg and the customer's originate, together
    assert [p.playback_id for p in d.of(PlayMedia, out)] == [ANNOUNCE]  # type: ignore[arg-type]
    assert len(customer_originates(d, out)) == 1  # type: ignore[arg-type]
    assert StartTimer("announce", SETTINGS.prompt_guard_s) in out
    assert StartTimer("customer_answer", 35.0) in out
    assert not d.of(StartMusicOnHold, out)  # type: ignore[arg-type]  # after the prompt
    assert d.m.step == CallStep.CUSTOMER_DIALING
    assert CallStep.ANNOUNCING not in [s.step for s in d.m.record().steps]
    customer = d.m.customer
    assert customer is not None and customer.dialed_at == d.now  # dialed at the answer


def test_press_1_dials_the_customer_at_once() -> None:
    d = Driver.make(msgspec.structs.replace(SETTINGS, acceptance=True))
    d.feed(CallStart(), stasis_start(AGENT, "Up"))
    assert d.m.step == CallStep.AGENT_CONFIRMING
    assert not customer_originates(d)  # nobody is dialed before the agent accepts
    out = d.feed(dtmf(AGENT, "1"))
    assert StopPlayback(playback_id=PRESS1) in out
    assert [p.playback_id for p in d.of(PlayMedia, out)] == [ANNOUNCE]
    assert len(customer_originates(d, out)) == 1  # type: ignore[arg-type]
    assert d.m.step == CallStep.CUSTOMER_DIALING


@pytest.mark.parametrize(
    ("hold", "start"),
    [
        (HoldAudio.MOH, StartMusicOnHold(channel_id=AGENT, moh_class="default")),
        (HoldAudio.RINGING, StartRinging(channel_id=AGENT)),
    ],
)
def test_hold_audio_follows_the_prompt(hold: HoldAudio, start: object) -> None:
    d, _ = confirmed(msgspec.structs.replace(SETTINGS, hold_audio=hold))
    out = d.feed(dial(CUSTOMER, "RINGING"))
    assert not d.of(StartMusicOnHold) and not d.of(StartRinging)
    out = d.feed(playback_finished(ANNOUNCE))
    assert start in out
    assert CancelTimer("announce") in out
    assert d.m.step == CallStep.CUSTOMER_DIALING
    assert not d.feed(playback_finished(ANNOUNCE))  # a duplicate changes nothing


def test_customer_answer_during_the_prompt_stops_it_and_bridges() -> None:
    d, _ = confirmed()
    out = d.feed(stasis_start(CUSTOMER, "Up", "customer", "c1"))
    assert STOP_ANNOUNCE in out
    assert CancelTimer("announce") in out
    assert d.of(CreateBridge, out) == [CreateBridge(bridge_id=BRIDGE, name="c1")]
    kinds = [type(c) for c in out]
    assert kinds.index(StopPlayback) < kinds.index(CreateBridge)  # stopped before bridging
    assert d.m.step == CallStep.BRIDGING
    # the prompt's end (after our stop) starts no hold audio
    assert not d.of(StartMusicOnHold, d.feed(playback_finished(ANNOUNCE)))
    assert not d.of(StopMusicOnHold)  # none was started


def test_customer_answer_after_the_prompt_stops_the_hold_audio_before_bridging() -> None:
    d, _ = confirmed()
    d.feed(playback_finished(ANNOUNCE))
    out = d.feed(stasis_start(CUSTOMER, "Up", "customer", "c1"))
    assert StopMusicOnHold(channel_id=AGENT) in out
    assert STOP_ANNOUNCE not in out
    kinds = [type(c) for c in out]
    assert kinds.index(StopMusicOnHold) < kinds.index(CreateBridge)


@pytest.mark.parametrize(
    ("failure", "outcome", "prompt"),
    [
        ("busy", CallOutcome.CUSTOMER_BUSY, "customer_busy"),
        ("timer", CallOutcome.CUSTOMER_NO_ANSWER, "customer_no_answer"),
        ("unallocated", CallOutcome.CUSTOMER_INVALID_NUMBER, "customer_invalid_number"),
        ("http_503", CallOutcome.CUSTOMER_CONGESTION, "customer_unreachable"),
    ],
)
def test_customer_failing_during_the_prompt_cuts_it_for_the_notice(
    failure: str, outcome: CallOutcome, prompt: str
) -> None:
    d, sent = confirmed()
    inputs: dict[str, list[object]] = {
        "busy": [hangup_request(CUSTOMER, 17), destroyed(CUSTOMER, 17)],
        "timer": [TimerFired("customer_answer")],
        "unallocated": [destroyed(CUSTOMER, 1)],
        "http_503": [failed(customer_originates(d, sent)[0], 503, "unavailable")],  # type: ignore[arg-type]
    }
    out = d.feed(*inputs[failure])  # type: ignore[arg-type]
    assert STOP_ANNOUNCE in out
    notice = d.of(PlayMedia, out)
    assert [p.playback_id for p in notice] == [NOTICE]
    assert notice[0].media == getattr(SETTINGS.prompts, prompt)
    assert d.m.step == CallStep.ENDING_NOTICE
    assert not d.of(StartMusicOnHold)  # the prompt never gave way to hold audio
    # the announce's own end, after the stop, is no reason to start hold audio either
    assert not d.of(StartMusicOnHold, d.feed(playback_finished(ANNOUNCE)))
    out = d.feed(playback_finished(NOTICE))
    assert HangupChannel(channel_id=AGENT) in out
    d.feed(destroyed(AGENT, 16))
    if failure in ("timer", "http_503"):
        d.feed(destroyed(CUSTOMER, 16))
    record = d.record()
    assert record.outcome == outcome
    assert record.customer_leg is not None


def test_agent_hanging_up_during_the_prompt_hangs_up_the_ringing_customer() -> None:
    d, _ = confirmed()
    d.feed(dial(CUSTOMER, "RINGING"))
    out = d.feed(hangup_request(AGENT, 16), destroyed(AGENT, 16))
    assert HangupChannel(channel_id=CUSTOMER) in out
    assert not d.of(StartMusicOnHold)
    assert d.m.step == CallStep.ENDING
    d.feed(destroyed(CUSTOMER, 16))
    record = d.record()
    assert record.outcome == CallOutcome.AGENT_ABANDONED
    assert record.hung_up_first == Party.AGENT
    assert record.customer_leg is not None and record.customer_leg.answered_at is None


def test_ui_hang_up_during_the_prompt_cancels_and_hangs_up_both_legs() -> None:
    d, _ = confirmed()
    out = d.feed(HangupFromUi(by="a1"))
    assert {h.channel_id for h in d.of(HangupChannel, out)} == {AGENT, CUSTOMER}
    assert CancelTimer("announce") in out
    d.feed(destroyed(AGENT, 16), destroyed(CUSTOMER, 16))
    assert d.m.step == CallStep.ENDED
    assert d.record().outcome == CallOutcome.CANCELLED
    assert d.record().hung_up_first == Party.UI
    assert not d.of(StartMusicOnHold)


def test_a_prompt_that_never_ends_gives_way_to_hold_audio_at_its_guard() -> None:
    d, _ = confirmed()
    out = d.feed(TimerFired("announce"))
    assert STOP_ANNOUNCE in out
    assert StartMusicOnHold(channel_id=AGENT, moh_class="default") in out
    assert d.m.step == CallStep.CUSTOMER_DIALING


def test_no_prompt_configured_means_hold_audio_with_the_dial() -> None:
    silent = msgspec.structs.replace(SETTINGS, prompts=CallPrompts(customer_being_called=()))
    d, out = confirmed(silent)
    assert not d.of(PlayMedia, out)  # type: ignore[arg-type]
    assert StartMusicOnHold(channel_id=AGENT, moh_class="default") in out
    assert len(customer_originates(d, out)) == 1  # type: ignore[arg-type]


def test_create_dial_method_creates_the_customer_channel_at_once() -> None:
    d, out = confirmed(
        msgspec.structs.replace(SETTINGS, customer_dial_method=CustomerDialMethod.CREATE_DIAL)
    )
    assert [c.channel_id for c in d.of(CreateChannel, out)] == [CUSTOMER]  # type: ignore[arg-type]
    assert d.of(PlayMedia, out)  # type: ignore[arg-type]
    out = d.feed(ok(d.of(CreateChannel)[0]), stasis_start(CUSTOMER, "Down"))
    assert [c.channel_id for c in d.of(DialChannel, out)] == [CUSTOMER]  # rings, prompt on
    assert not d.of(StartMusicOnHold)


def test_after_announcement_dials_only_once_the_prompt_ended() -> None:
    d, out = confirmed(
        msgspec.structs.replace(
            SETTINGS, customer_dial_timing=CustomerDialTiming.AFTER_ANNOUNCEMENT
        )
    )
    assert d.m.step == CallStep.ANNOUNCING
    assert not customer_originates(d, out)  # type: ignore[arg-type]
    out = d.feed(playback_finished(ANNOUNCE))
    assert len(customer_originates(d, out)) == 1  # type: ignore[arg-type]
    assert StartMusicOnHold(channel_id=AGENT, moh_class="default") in out
    assert d.m.step == CallStep.CUSTOMER_DIALING


def test_the_setting_is_read_from_the_dial_section_and_checked() -> None:
    default = parse_settings({}, {})
    assert not isinstance(default, list)
    assert call_settings(default).customer_dial_timing == CustomerDialTiming.AT_CONFIRMATION
    later = parse_settings({"dial": {"customer_dial_timing": "after_announcement"}}, {})
    assert not isinstance(later, list)
    assert call_settings(later).customer_dial_timing == CustomerDialTiming.AFTER_ANNOUNCEMENT
    errors = parse_settings({"dial": {"customer_dial_timing": "whenever"}}, {})
    assert isinstance(errors, list) and len(errors) == 1
    assert errors[0] == "dial.customer_dial_timing: Invalid enum value 'whenever'"
