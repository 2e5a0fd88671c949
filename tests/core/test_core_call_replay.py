"""Recorded Asterisk 22 traces (tests/fixtures/ari-traces) replayed through the CallMachine:
the events are the truth; the commands the machine answers with are checked."""

from __future__ import annotations

import msgspec
import pytest
from call_replay import Replay, load_trace

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
from core.call import CallMachine
from core.call_config import (
    CallRequest,
    CallSettings,
    CustomerDialMethod,
    CustomerDialTiming,
    HoldAudio,
)
from core.call_inputs import CallStart, HangupFromUi
from core.domain import CallOutcome, CallStep, Party

# The traces were recorded with "announce, then dial": replayed the same way (the default,
# dialing at the agent's confirmation, is replayed by the *_at_confirmation tests below).
SETTINGS = CallSettings(
    language="en",
    recording=True,
    acceptance_wait_s=5.0,
    customer_dial_timing=CustomerDialTiming.AFTER_ANNOUNCEMENT,
)
S_RUNS = ["", "run2", "run3"]
P_RUNS = ["", "run2"]
NO_ANNOUNCE: dict[str, list[str]] = {
    "customer_being_called": []
}  # traces recorded without an announcement


def machine(
    call_id: str,
    agent_endpoint: str,
    customer_endpoint: str = "Local/answer@sim-phones",
    **settings: object,
) -> CallMachine:
    request = CallRequest(
        call_id=call_id,
        agent_id="agent-7",
        agent_endpoint=agent_endpoint,
        customer_number="+33612345678",
        customer_endpoint=customer_endpoint,
        contact_id="contact-1",
        requested_at=0.0,
    )
    merged = {**msgspec.to_builtins(SETTINGS), **settings}
    return CallMachine(request, msgspec.convert(merged, CallSettings))


def start(m: CallMachine, ids: dict[str, str], at: float = 0.3) -> Replay:
    replay = Replay(m, ids)
    replay.feed(CallStart(), at)
    return replay


def steps_of(replay: Replay) -> list[CallStep]:
    return [s.step for s in replay.record().steps]


# ------------------------------------------------------------------ Local channels (S..)
@pytest.mark.parametrize("run", S_RUNS)
def test_s01_happy_path_bridges_records_and_ends_completed(run: str) -> None:
    m = machine("s01", "Local/answer@sim-phones", "Local/cust-hello-hangup8@sim-phones")
    r = start(
        m,
        {
            "s01-cust": "s01-customer",
            "s01-cust-2": "s01-customer-2",
            "s01-pb-prompt": "s01-pb-announce",
            "s01-rec": "s01",
        },
    )
    r.run(load_trace("S01", run))
    originates = r.commands(OriginateChannel)
    assert [o.channel_id for o in originates] == ["s01-agent", "s01-customer"]
    assert originates[0].other_channel_id == "s01-agent-2"
    assert originates[0].app_args == "agent,s01"
    assert originates[0].variables["EVS_ROLE"] == "agent"
    assert originates[1].variables["EVS_CONTACT_ID"] == "contact-1"
    assert r.commands(PlayMedia)[0].playback_id == "s01-pb-announce"
    assert r.commands(StartMusicOnHold)
    assert r.commands(StopMusicOnHold)
    assert r.commands(CreateBridge) == [CreateBridge(bridge_id="s01-bridge", name="s01")]
    assert r.commands(AddToBridge) == [
        AddToBridge(bridge_id="s01-bridge", channel_ids=("s01-agent", "s01-customer"))
    ]
    assert r.commands(RecordBridge)[0].name == "s01"
    # customer hung up first: the agent leg is hung up, the bridge destroyed
    assert r.commands(HangupChannel) == [HangupChannel(channel_id="s01-agent")]
    assert r.commands(DestroyBridge) == [DestroyBridge(bridge_id="s01-bridge")]
    record = r.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party.CUSTOMER
    assert record.recording_name == "s01"
    assert record.customer_leg is not None
    assert record.customer_leg.hangup_cause == 16
    assert 8.0 < record.customer_leg.billable_seconds < 9.0  # dialplan hangs up ~8.4 s in
    assert record.agent_leg.answered_at is not None and record.agent_leg.answered_at > 2.0
    assert steps_of(r) == [
        CallStep.REQUESTED,
        CallStep.AGENT_DIALING,
        CallStep.AGENT_ANSWERED,
        CallStep.ANNOUNCING,
        CallStep.CUSTOMER_DIALING,
        CallStep.BRIDGING,
        CallStep.CONNECTED,
        CallStep.ENDING,
        CallStep.ENDED,
    ]
    # the MOH is stopped at the customer's answer, before the legs are bridged
    kinds = [type(c) for c in r.all_commands()]
    assert kinds.index(StopMusicOnHold) < kinds.index(AddToBridge)


@pytest.mark.parametrize("run", S_RUNS)
def test_s02_agent_busy_never_dials_customer(run: str) -> None:
    r = start(machine("s02", "Local/busy@sim-phones"), {})
    r.run(load_trace("S02", run))
    record = r.record()
    assert record.outcome == CallOutcome.AGENT_BUSY
    assert [o.channel_id for o in r.commands(OriginateChannel)] == ["s02-agent"]
    assert record.customer_leg is None
    assert record.agent_leg.hangup_cause == 17  # ;1 said 0; Dial BUSY decides
    assert record.agent_leg.dial_status == "BUSY"
    assert r.record().outcome == CallOutcome.AGENT_BUSY
    assert isinstance(r.machine, CallMachine) and r.machine.step == CallStep.FAILED


@pytest.mark.parametrize("run", S_RUNS)
def test_s03_agent_no_answer(run: str) -> None:
    r = start(machine("s03", "Local/noanswer@sim-phones"), {})
    r.run(load_trace("S03", run))
    record = r.record()
    assert record.outcome == CallOutcome.AGENT_NO_ANSWER
    assert record.agent_leg.hangup_cause == 19
    assert not r.commands(PlayMedia)


@pytest.mark.parametrize("run", S_RUNS)
@pytest.mark.parametrize(
    ("part", "start_s", "until_s", "reason", "cause"),
    [
        ("a", 0.0, 1.8, "invalid_number", 1),
        ("b", 1.8, 3.3, "congestion", 34),
        ("c", 3.3, 99.0, "rejected", 21),
    ],
)
def test_s04_agent_unreachable(
    run: str, part: str, start_s: float, until_s: float, reason: str, cause: int
) -> None:
    m = machine(f"s04{part}", "Local/x@sim-phones")
    r = Replay(m, {})
    r.feed(CallStart(), start_s)
    r.run(load_trace("S04", run), start=start_s, until=until_s)
    record = r.record()
    assert record.outcome == CallOutcome.AGENT_UNREACHABLE
    assert record.reason == reason
    assert record.agent_leg.hangup_cause == cause


@pytest.mark.parametrize("run", S_RUNS)
def test_s05_customer_busy_agent_hears_why_then_hangs_up(run: str) -> None:
    m = machine("s05", "Local/answer@sim-phones", "Local/busy@sim-phones", hold_audio="ringing")
    r = start(
        m,
        {
            "s05-cust": "s05-customer",
            "s05-cust-2": "s05-customer-2",
            "s05-pb-prompt": "s05-pb-announce",
        },
    )
    r.run(load_trace("S05", run))
    assert r.commands(StartRinging)
    assert r.commands(StopRinging)
    plays = r.commands(PlayMedia)
    assert [p.playback_id for p in plays] == ["s05-pb-announce", "s05-pb-notice"]
    assert plays[1].media == SETTINGS.prompts.customer_busy
    kinds = [type(c) for c in r.all_commands()]
    # the agent leg is hung up only after the notice finished
    notice_at = next(t for t, c in r.sent if isinstance(c, PlayMedia) and "notice" in c.playback_id)
    hangup_at = next(t for t, c in r.sent if isinstance(c, HangupChannel))
    finished_at = _event_time(load_trace("S05", run), "PlaybackFinished", "s05-pb-notice")
    assert hangup_at == pytest.approx(finished_at) and hangup_at > notice_at
    assert kinds.index(StopRinging) < kinds.index(HangupChannel)
    assert r.commands(HangupChannel) == [HangupChannel(channel_id="s05-agent")]
    record = r.record()
    assert record.outcome == CallOutcome.CUSTOMER_BUSY
    assert record.customer_leg is not None and record.customer_leg.hangup_cause == 17
    assert not r.commands(CreateBridge)


@pytest.mark.parametrize("run", S_RUNS)
def test_s06_customer_no_answer(run: str) -> None:
    m = machine("s06", "Local/answer@sim-phones", "Local/noanswer@sim-phones")
    r = start(
        m,
        {
            "s06-cust": "s06-customer",
            "s06-cust-2": "s06-customer-2",
            "s06-pb-prompt": "s06-pb-announce",
        },
    )
    r.run(load_trace("S06", run))
    r.finish()
    record = r.record()
    assert record.outcome == CallOutcome.CUSTOMER_NO_ANSWER
    notice = [p for p in r.commands(PlayMedia) if p.playback_id == "s06-pb-notice"]
    assert notice and notice[0].media == SETTINGS.prompts.customer_no_answer
    assert record.customer_leg is not None and record.customer_leg.hangup_cause == 19
    # the recorder hung the agent up itself before any notice: nothing left for us to do
    assert not r.commands(HangupChannel)


@pytest.mark.parametrize("run", S_RUNS)
def test_s07_agent_hangs_up_while_customer_rings(run: str) -> None:
    m = machine("s07", "Local/answer-hangup3@sim-phones", "Local/noanswer@sim-phones")
    r = start(
        m,
        {
            "s07-cust": "s07-customer",
            "s07-cust-2": "s07-customer-2",
            "s07-pb-prompt": "s07-pb-announce",
        },
    )
    r.run(load_trace("S07", run))
    assert r.commands(HangupChannel) == [HangupChannel(channel_id="s07-customer")]
    record = r.record()
    assert record.outcome == CallOutcome.AGENT_ABANDONED
    assert record.hung_up_first == Party.AGENT
    assert record.customer_leg is not None and record.customer_leg.answered_at is None


@pytest.mark.parametrize("run", S_RUNS)
def test_s08_agent_hangs_up_during_bridge(run: str) -> None:
    m = machine("s08", "Local/answer-hangup12@sim-phones", "Local/answer@sim-phones")
    r = start(
        m,
        {
            "s08-cust": "s08-customer",
            "s08-cust-2": "s08-customer-2",
            "s08-pb-prompt": "s08-pb-announce",
            "s08-rec": "s08",
        },
    )
    r.run(load_trace("S08", run))
    assert HangupChannel(channel_id="s08-customer") in r.commands(HangupChannel)
    record = r.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party.AGENT
    assert record.connected_at is not None


@pytest.mark.parametrize("run", S_RUNS)
def test_s09a_agent_presses_1_then_customer_is_dialed(run: str) -> None:
    m = machine("s09a", "Local/answer-dtmf1@sim-phones", acceptance=True)
    r = start(m, {"s09a-pb-press1": "s09a-pb-press1"})
    r.run(load_trace("S09", run), until=3.9)
    assert r.commands(PlayMedia)[0].media == SETTINGS.prompts.press_1_to_accept
    assert r.commands(StopPlayback) == [StopPlayback(playback_id="s09a-pb-press1")]
    assert m.step in (CallStep.ANNOUNCING, CallStep.ENDING, CallStep.FAILED)
    assert CallStep.ANNOUNCING in [s.step for s in m.record().steps]
    assert CallStep.AGENT_CONFIRMING in [s.step for s in m.record().steps]


@pytest.mark.parametrize("run", S_RUNS)
def test_s09b_no_digit_means_not_confirmed_and_customer_never_dialed(run: str) -> None:
    m = machine("s09b", "Local/answer@sim-phones", acceptance=True)
    r = Replay(m, {"s09b-pb-fr": "s09b-pb-press1"})
    r.feed(CallStart(), 3.9)
    r.run(load_trace("S09", run), start=3.9)
    record = r.record()
    assert record.outcome == CallOutcome.AGENT_NOT_CONFIRMED
    assert r.commands(HangupChannel) == [HangupChannel(channel_id="s09b-agent", reason="rejected")]
    assert [o.channel_id for o in r.commands(OriginateChannel)] == ["s09b-agent"]
    assert record.agent_leg.hangup_cause == 21


@pytest.mark.parametrize("run", S_RUNS)
def test_s10a_create_dial_customer_answers(run: str) -> None:
    m = machine(
        "s10",
        "Local/answer@sim-phones",
        customer_dial_method="create_dial",
        prompts={**msgspec.to_builtins(SETTINGS.prompts), **NO_ANNOUNCE},
    )
    r = start(m, {"s10a-cust": "s10-customer", "s10a-cust-2": "s10-customer-2"})
    r.run(load_trace("S10", run), until=7.3)
    creates = r.commands(CreateChannel)
    assert [c.channel_id for c in creates] == ["s10-customer"]
    assert r.commands(DialChannel) == [
        DialChannel(channel_id="s10-customer", caller="s10-agent", timeout_s=30)
    ]
    record = r.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.connected_at is not None


@pytest.mark.parametrize("run", S_RUNS)
def test_s14_ui_hangup_ends_both_legs_completed(run: str) -> None:
    m = machine(
        "s14",
        "Local/answer@sim-phones",
        prompts={**msgspec.to_builtins(SETTINGS.prompts), **NO_ANNOUNCE},
    )
    r = start(
        m,
        {
            "s14-cust": "s14-customer",
            "s14-cust-2": "s14-customer-2",
            "s14-pb-prompt": "s14-pb-announce",
            "s14-rec": "s14",
        },
    )
    r.run(load_trace("S14", run), until=7.8, inject={"UI hang-up": HangupFromUi(by="agent-7")})
    hangups = {h.channel_id for h in r.commands(HangupChannel)}
    assert hangups == {"s14-agent", "s14-customer"}
    record = r.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party.UI
    assert record.reason == "hangup_from_ui:agent-7"


# ------------------------------------------------------------------ PJSIP trunk (P..)
@pytest.mark.parametrize("run", P_RUNS)
def test_p01_pjsip_happy_path(run: str) -> None:
    m = machine("p01", "PJSIP/+33600000001@carrier", "PJSIP/+33600000002@carrier")
    r = start(m, {"p01-cust": "p01-customer", "p01-pb-prompt": "p01-pb-announce", "p01-rec": "p01"})
    r.run(load_trace("P01", run))
    assert r.commands(OriginateChannel)[0].other_channel_id is None
    record = r.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party.CUSTOMER
    assert record.recording_name == "p01"


@pytest.mark.parametrize("run", P_RUNS)
def test_p02_pjsip_agent_busy(run: str) -> None:
    r = start(machine("p02", "PJSIP/+33600000007@carrier"), {})
    r.run(load_trace("P02", run))
    record = r.record()
    assert record.outcome == CallOutcome.AGENT_BUSY
    assert record.agent_leg.tech_cause == 486


@pytest.mark.parametrize("run", P_RUNS)
def test_p03_pjsip_agent_no_answer(run: str) -> None:
    r = start(machine("p03", "PJSIP/+33600000008@carrier"), {})
    r.run(load_trace("P03", run))
    assert r.record().outcome == CallOutcome.AGENT_NO_ANSWER


@pytest.mark.parametrize("run", P_RUNS)
@pytest.mark.parametrize(
    ("part", "start_s", "until_s", "outcome", "reason", "tech"),
    [
        ("a", 0.0, 1.8, CallOutcome.AGENT_UNREACHABLE, "invalid_number", 404),
        ("b", 1.8, 3.3, CallOutcome.AGENT_UNREACHABLE, "congestion", 503),
        ("c", 3.3, 7.8, CallOutcome.AGENT_UNREACHABLE, "rejected", 603),
        ("d", 7.8, 12.3, CallOutcome.AGENT_UNREACHABLE, "rejected", 403),
        ("e", 12.3, 99.0, CallOutcome.AGENT_NO_ANSWER, "no_answer", 480),
    ],
)
def test_p04_pjsip_causes(
    run: str,
    part: str,
    start_s: float,
    until_s: float,
    outcome: CallOutcome,
    reason: str,
    tech: int,
) -> None:
    m = machine(f"p04{part}", "PJSIP/+33600000004@carrier")
    r = Replay(m, {})
    r.feed(CallStart(), start_s)
    r.run(load_trace("P04", run), start=start_s, until=until_s)
    record = r.record()
    assert record.outcome == outcome
    assert record.reason == reason
    assert record.agent_leg.tech_cause == tech


@pytest.mark.parametrize("run", P_RUNS)
def test_p05a_pjsip_create_dial_customer_busy(run: str) -> None:
    m = machine(
        "p05",
        "PJSIP/+33600000001@carrier",
        "PJSIP/+33600000002@carrier",
        customer_dial_method="create_dial",
        hold_audio="ringing",
    )
    r = start(m, {"p05a-cust": "p05-customer", "p05-pb-prompt": "p05-pb-announce"})
    r.run(load_trace("P05", run), until=6.2)
    assert r.commands(DialChannel)[0].caller == "p05-agent"
    record_outcome = m.outcome
    assert record_outcome == CallOutcome.CUSTOMER_BUSY
    notice = [p for p in r.commands(PlayMedia) if p.playback_id == "p05-pb-notice"]
    assert notice and notice[0].media == SETTINGS.prompts.customer_busy
    r.finish()  # the notice never finishes in this trace: its guard timer hangs the agent up
    assert HangupChannel(channel_id="p05-agent") in r.commands(HangupChannel)


@pytest.mark.parametrize("run", P_RUNS)
def test_p06_pjsip_agent_hangs_up_while_customer_rings(run: str) -> None:
    m = machine("p06", "PJSIP/+33600000001@carrier", "PJSIP/+33600000003@carrier")
    r = start(m, {"p06-cust": "p06-customer", "p06-pb-prompt": "p06-pb-announce"})
    r.run(load_trace("P06", run))
    assert r.commands(HangupChannel) == [HangupChannel(channel_id="p06-customer")]
    assert r.record().outcome == CallOutcome.AGENT_ABANDONED


@pytest.mark.parametrize("run", P_RUNS)
def test_p07b_pjsip_no_digit_not_confirmed(run: str) -> None:
    m = machine("p07b", "PJSIP/+33600000001@carrier", acceptance=True)
    r = Replay(m, {"p07b-pb-fr": "p07b-pb-press1"})
    r.feed(CallStart(), 3.95)
    r.run(load_trace("P07", run), start=3.95)
    assert r.record().outcome == CallOutcome.AGENT_NOT_CONFIRMED


@pytest.mark.parametrize("run", P_RUNS)
def test_p09_pjsip_ui_hangup(run: str) -> None:
    m = machine(
        "p09",
        "PJSIP/+33600000001@carrier",
        "PJSIP/+33600000002@carrier",
        prompts={**msgspec.to_builtins(SETTINGS.prompts), **NO_ANNOUNCE},
    )
    r = start(m, {"p09-cust": "p09-customer", "p09-pb-prompt": "p09-pb-announce", "p09-rec": "p09"})
    r.run(load_trace("P09", run), until=7.85, inject={"UI hang-up": HangupFromUi(by="agent-7")})
    record = r.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party.UI
    assert record.agent_leg.hangup_cause == 16


def test_settings_override_helper_is_applied() -> None:
    m = machine("x", "PJSIP/a", hold_audio="ringing", customer_dial_method="create_dial")
    assert m.settings.hold_audio == HoldAudio.RINGING
    assert m.settings.customer_dial_method == CustomerDialMethod.CREATE_DIAL


def _event_time(trace: dict[str, object], kind: str, playback_id: str) -> float:
    for step in trace["steps"]:  # type: ignore[attr-defined]
        event = step.get("event") or {}
        if event.get("type") == kind and event.get("playback", {}).get("id") == playback_id:
            return float(step["t_ms"]) / 1000.0
    raise AssertionError(f"no {kind} for {playback_id}")


def test_s12_originate_http_500_is_agent_unreachable_with_message() -> None:
    m = machine("s12-bad1", "PJSIP/1000")
    r = Replay(m, {"s12-bad1": "s12-bad1-agent"})
    r.feed(CallStart(), 0.3)
    r.run(load_trace("S12"), until=0.3048 + 0.0001)
    record = r.record()
    assert record.outcome == CallOutcome.AGENT_UNREACHABLE
    assert record.reason == "http 500: Allocation failed"


@pytest.mark.parametrize(("old", "start_s"), [("s12-noctx", 0.306), ("s12-noext", 1.3086)])
def test_s12_unknown_context_or_extension_is_agent_unreachable(old: str, start_s: float) -> None:
    m = machine("x", "Local/123@no-such-context")
    r = Replay(m, {old: "x-agent", f"{old}-2": "x-agent-2"})
    r.feed(CallStart(), start_s)
    r.run(load_trace("S12"), start=start_s, until=start_s + 1.0)
    record = r.record()
    assert record.outcome == CallOutcome.AGENT_UNREACHABLE
    assert record.reason == "unreachable"
    assert record.agent_leg.hangup_cause == 0


@pytest.mark.parametrize("run", P_RUNS)
def test_p08a_early_media_then_answer_connects_on_answer_only(run: str) -> None:
    m = machine(
        "p08",
        "PJSIP/+33600000001@carrier",
        "PJSIP/+33600000009@carrier",
        prompts={**msgspec.to_builtins(SETTINGS.prompts), **NO_ANNOUNCE},
    )
    r = start(m, {"p08a-cust": "p08-customer", "p08a-bridge": "p08-bridge"})
    r.run(load_trace("P08", run))
    assert HangupChannel(channel_id="p08-agent") in r.commands(HangupChannel)
    record = r.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.customer_leg is not None
    assert record.customer_leg.ringing_at is not None  # 183 PROGRESS
    assert record.connected_at is not None and record.connected_at > 4.7
    assert record.hung_up_first == Party.CUSTOMER


@pytest.mark.parametrize("run", P_RUNS)
def test_p08c_early_media_then_404_is_invalid_number(run: str) -> None:
    m = machine(
        "p08",
        "PJSIP/+33600000001@carrier",
        "PJSIP/+33600000013@carrier",
        customer_dial_method="create_dial",
        prompts={**msgspec.to_builtins(SETTINGS.prompts), **NO_ANNOUNCE},
    )
    r = start(m, {"p08c-cust": "p08-customer"})
    r.run(load_trace("P08", run))
    assert r.commands(DialChannel) == [
        DialChannel(channel_id="p08-customer", caller="p08-agent", timeout_s=30)
    ]
    notice = [p for p in r.commands(PlayMedia) if p.playback_id == "p08-pb-notice"]
    assert notice and notice[0].media == SETTINGS.prompts.customer_invalid_number
    record = r.record()
    assert record.outcome == CallOutcome.CUSTOMER_INVALID_NUMBER
    assert record.customer_leg is not None and record.customer_leg.tech_cause == 404


# ------------------------------------------------------------------ dialing at confirmation
@pytest.mark.parametrize("run", S_RUNS)
def test_s01_at_confirmation_dials_with_the_prompt_and_still_completes(run: str) -> None:
    """The same recorded call with the default timing: the customer's originate leaves with
    the prompt, at the agent's StasisStart; the hold audio follows the prompt's end."""
    m = machine(
        "s01",
        "Local/answer@sim-phones",
        "Local/cust-hello-hangup8@sim-phones",
        customer_dial_timing="at_confirmation",
    )
    r = start(
        m,
        {
            "s01-cust": "s01-customer",
            "s01-cust-2": "s01-customer-2",
            "s01-pb-prompt": "s01-pb-announce",
            "s01-rec": "s01",
        },
    )
    r.run(load_trace("S01", run))
    kinds = [type(c) for c in r.all_commands()]
    customer = [o for o in r.commands(OriginateChannel) if o.channel_id == "s01-customer"]
    assert len(customer) == 1
    # the customer's originate leaves before any hold audio (with the prompt: same input,
    # see dialed_at below)
    assert kinds.index(PlayMedia) < kinds.index(OriginateChannel, 1)
    assert kinds.index(StartMusicOnHold) > kinds.index(OriginateChannel, 1)
    assert kinds.index(StopMusicOnHold) < kinds.index(AddToBridge)
    record = r.record()
    assert record.outcome == CallOutcome.COMPLETED
    assert record.customer_leg is not None and record.customer_leg.dialed_at is not None
    answered = record.agent_leg.answered_at
    assert answered is not None
    # dialed at the agent's StasisStart (Up and in Stasis), a few ms after its answer
    assert 0.0 <= record.customer_leg.dialed_at - answered < 0.05
    assert CallStep.ANNOUNCING not in steps_of(r)


@pytest.mark.parametrize("run", S_RUNS)
def test_s09a_at_confirmation_dials_when_1_is_pressed(run: str) -> None:
    m = machine(
        "s09a",
        "Local/answer-dtmf1@sim-phones",
        acceptance=True,
        customer_dial_timing="at_confirmation",
    )
    r = start(m, {"s09a-pb-press1": "s09a-pb-press1"})
    r.run(load_trace("S09", run), until=3.9)
    assert r.commands(StopPlayback) == [StopPlayback(playback_id="s09a-pb-press1")]
    kinds = [type(c) for c in r.all_commands()]
    assert kinds.index(StopPlayback) < kinds.index(OriginateChannel, 1)  # dialed on the "1"
    steps = [s.step for s in m.record().steps]
    assert CallStep.CUSTOMER_DIALING in steps
    assert CallStep.ANNOUNCING not in steps
