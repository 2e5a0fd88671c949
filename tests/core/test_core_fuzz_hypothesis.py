"""Property-based fuzzing (hypothesis) of the ARI events the core is fed.

Events are generated as raw JSON the way Asterisk sends them on the events socket: valid-looking
ones (each type with its fields, ids of the live call or strangers) and malformed ones (a field
of the wrong type, missing, extra keys, unknown or missing `type`, huge numbers, bytes that are
not JSON at all). Each goes through `decode_event_json`, the decoder actors/ari_link.py uses,
then into the pure machines through their public API only (`receive`, `commands_to_send`,
`events_emitted`, `is_finished`), mixed with the replies to the commands they sent and their
timers:

- CallMachine: no exception escapes, its own error path is never taken (no ERROR log), and
  once the legs are gone and the guards fired the call has ended with exactly one record;
- AgentMachine, fed the call's events as the actor forwards them plus random agent requests:
  never refuses with `internal_error`, never stays on a call that ended, and is available
  again after the wrap-up is qualified;
- SupervisionMachine: same, and exactly one SupervisionEnded.

Example counts are modest (the suite runs on two cores); the seeded random fuzzers in
test_core_call_fuzz.py / test_core_fuzz_others.py walk more paths with typed inputs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from call_events_factory import Driver, destroyed, dial, dtmf, ok, playback_finished
from call_events_factory import stasis_start as typed_stasis_start
from call_events_factory import state_change as typed_state_change
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.agent import (
    AgentMachine,
    LogIn,
    LogOut,
    Pause,
    SetAvailable,
    SubmitDisposition,
)
from core.ari_commands import (
    AddToBridge,
    AriCommandFailed,
    AriCommandSucceeded,
    CreateBridge,
)
from core.ari_events import HANDLED_TYPES, AriEvent, UnhandledEvent, decode_event_json
from core.call_config import CallRequest, CallSettings, CustomerDialMethod
from core.call_inputs import CallStart, HangupFromUi
from core.domain import AgentState, CallStep, SupervisionMode, WorkstationMode
from core.supervision import (
    CallFinished,
    SetSupervisionMode,
    StartSupervision,
    StopSupervision,
    SupervisionEnded,
    SupervisionMachine,
    SupervisionState,
)
from core.timers import CancelTimer, StartTimer, TimerFired

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

AGENT, CUSTOMER = "c1-agent", "c1-customer"
SID = "c1-sup-s1"
CALL_IDS = (AGENT, CUSTOMER, f"{AGENT}-2", f"{CUSTOMER}-2", "c1-bridge", "stranger", "")
SUPERVISION_IDS = (f"{SID}-leg", f"{SID}-snoop-1", f"{SID}-snoop-2", f"{SID}-bridge",
                   f"{SID}-bridge-1", f"{SID}-bridge-2", "c1-bridge", AGENT)
PLAYBACKS = ("c1-pb-announce", "c1-pb-press1", "c1-pb-notice", "pb-x", "")
CALL_TIMERS = ("agent_answer", "agent_confirm", "announce", "customer_answer", "bridge",
               "notice", "ending", "wrap_up", "")
STATES = ("Up", "Down", "Ringing", "Ring", "Busy", "Dialing", "")
DIALSTATUS = ("", "RINGING", "PROGRESS", "ANSWER", "BUSY", "NOANSWER", "CONGESTION",
              "CHANUNAVAIL", "CANCEL")
OTHER_TYPES = ("ChannelTalkingStarted", "ChannelConnectedLine", "ChannelCallerId", "",
               "stasisstart")

# ----------------------------------------------------------------------------- strategies
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.lists(st.integers(min_value=-3, max_value=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(min_value=0, max_value=9), max_size=2),
)
short_text = st.text(max_size=8)


def ids_from(pool: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(pool), st.sampled_from(pool), short_text)


def field_strategies(pool: tuple[str, ...]) -> dict[str, st.SearchStrategy[Any]]:
    ids = ids_from(pool)
    channel = st.fixed_dictionaries(
        {"id": ids},
        optional={
            "state": st.one_of(st.sampled_from(STATES), short_text),
            "name": short_text,
            "language": st.sampled_from(("en", "fr", "")),
            "caller": st.fixed_dictionaries({}, optional={"number": short_text,
                                                           "name": short_text}),
            "channelvars": st.dictionaries(short_text, short_text, max_size=2),
        },
    )
    bridge = st.fixed_dictionaries(
        {"id": ids},
        optional={"channels": st.lists(ids, max_size=3),
                  "bridge_type": st.sampled_from(("mixing", "holding", ""))},
    )
    playback = st.fixed_dictionaries(
        {"id": st.one_of(st.sampled_from(PLAYBACKS), short_text)},
        optional={"state": st.sampled_from(("done", "failed", "playing", "")),
                  "target_uri": ids.map(lambda c: f"channel:{c}")},
    )
    recording = st.fixed_dictionaries(
        {"name": st.one_of(st.sampled_from(("c1", "c1-rec", "")), short_text)},
        optional={"state": st.sampled_from(("recording", "done", "failed", "")),
                  "target_uri": ids.map(lambda c: f"bridge:{c}"),
                  "cause": short_text},
    )
    cause = st.one_of(st.sampled_from((0, 1, 16, 17, 19, 21, 32, 34, 127)),
                      st.integers(min_value=-1, max_value=1000))
    return {
        "channel": channel, "peer": channel, "caller": channel, "replace_channel": channel,
        "args": st.lists(st.one_of(st.sampled_from(("agent", "customer", "c1")), short_text),
                         max_size=3),
        "cause": cause, "soft": st.booleans(), "cause_txt": short_text,
        "tech_cause": st.one_of(st.none(), st.integers(min_value=0, max_value=700)),
        "digit": st.one_of(st.sampled_from(("1", "2", "#", "*", "")), st.text(max_size=2)),
        "duration_ms": st.integers(min_value=0, max_value=5000),
        "variable": short_text, "value": short_text,
        "dialstatus": st.one_of(st.sampled_from(DIALSTATUS), short_text),
        "dialstring": short_text, "forward": short_text,
        "bridge": bridge, "playback": playback, "recording": recording,
        "timestamp": short_text, "application": st.sampled_from(("evscallpro", "other")),
    }


SHAPES: dict[str, tuple[str, ...]] = {
    "StasisStart": ("channel", "args", "replace_channel"),
    "StasisEnd": ("channel",),
    "ChannelStateChange": ("channel",),
    "ChannelHangupRequest": ("channel", "cause", "soft", "tech_cause"),
    "ChannelDestroyed": ("channel", "cause", "cause_txt", "tech_cause"),
    "ChannelDtmfReceived": ("channel", "digit", "duration_ms"),
    "ChannelVarset": ("variable", "value", "channel"),
    "Dial": ("peer", "dialstatus", "dialstring", "forward", "caller"),
    "ChannelEnteredBridge": ("bridge", "channel"),
    "ChannelLeftBridge": ("bridge", "channel"),
    "BridgeDestroyed": ("bridge",),
    "PlaybackStarted": ("playback",),
    "PlaybackContinuing": ("playback",),
    "PlaybackFinished": ("playback",),
    "RecordingStarted": ("recording",),
    "RecordingFinished": ("recording",),
    "RecordingFailed": ("recording",),
    "ApplicationReplaced": (),
}


def test_shapes_cover_every_event_type_the_core_decodes() -> None:
    assert set(SHAPES) == set(HANDLED_TYPES)


@st.composite
def wire_event(draw: st.DrawFn, pool: tuple[str, ...]) -> bytes:
    """One events-socket message: valid-looking, malformed, or not an event at all."""
    fields = field_strategies(pool)
    kind = draw(st.one_of(st.sampled_from(sorted(SHAPES)), st.sampled_from(sorted(SHAPES)),
                          st.sampled_from(OTHER_TYPES)))
    shape = draw(st.sampled_from(("valid", "valid", "malformed", "garbage")))
    event: dict[str, Any] = {"type": kind}
    names = SHAPES.get(kind, ("channel",))
    if shape == "valid":
        for name in names:
            if name in ("channel", "peer", "bridge", "playback", "recording") or draw(
                    st.booleans()):
                event[name] = draw(fields[name])
    elif shape == "malformed":
        for name in names + tuple(draw(st.lists(st.sampled_from(sorted(fields)), max_size=2))):
            if draw(st.booleans()):
                event[name] = draw(st.one_of(fields[name], junk))
        if draw(st.integers(min_value=0, max_value=5)) == 0:
            event["type"] = draw(junk)
        if draw(st.integers(min_value=0, max_value=5)) == 0:
            event.pop("type")
    else:
        return draw(st.one_of(
            st.binary(max_size=20),
            st.just(b"[]"), st.just(b"null"), st.just(b'"StasisStart"'),
            st.just(json.dumps(event).encode()[:-3]),  # cut short
            st.just(b'{"type": "StasisStart", "channel": {"id": "c1-agent"}, "type": 5}'),
        ))
    return json.dumps(event).encode()


def decoded(data: bytes) -> AriEvent | UnhandledEvent:
    event = decode_event_json(data)  # what actors/ari_link.py does with each message
    assert isinstance(event, (*AriEvent.__args__, UnhandledEvent))  # type: ignore[attr-defined]
    return event


@contextmanager
def errors_logged() -> Iterator[list[str]]:
    """ERROR and worse from the core's loggers: a machine's own error path was taken."""
    found: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(f"{record.name}: {record.getMessage()}")

    handler = Catch(level=logging.ERROR)
    core_log = logging.getLogger("core")
    core_log.addHandler(handler)
    try:
        yield found
    finally:
        core_log.removeHandler(handler)


def command_reply(data: st.DataObject, sent: list[Any]) -> Any:
    ari = [c for c in sent if not isinstance(c, StartTimer | CancelTimer)]
    if not ari:
        return TimerFired(data.draw(st.sampled_from(CALL_TIMERS)))
    command = data.draw(st.sampled_from(ari))
    if data.draw(st.booleans()):
        return AriCommandSucceeded(command=command, status=data.draw(
            st.sampled_from((200, 201, 204))), body=data.draw(st.one_of(st.none(), junk)))
    return AriCommandFailed(command=command, status=data.draw(
        st.sampled_from((0, 400, 404, 409, 422, 500, 503))), message=data.draw(short_text))


def happy_path(settings_: CallSettings) -> list[Any]:
    """The normal call, typed, so the random noise can start at any step."""
    steps: list[Any] = [typed_stasis_start(AGENT, "Up")]
    if settings_.acceptance:
        steps.append(dtmf(AGENT, "1"))
    steps.append(playback_finished("c1-pb-announce"))
    if settings_.customer_dial_method == CustomerDialMethod.CREATE_DIAL:
        steps += [typed_stasis_start(CUSTOMER, "Down"), dial(CUSTOMER, "RINGING"),
                  typed_state_change(CUSTOMER, "Up")]
    else:
        steps += [dial(CUSTOMER, "RINGING"), typed_stasis_start(CUSTOMER, "Up")]
    steps.append(ok(CreateBridge(bridge_id="c1-bridge", name="c1")))
    steps.append(ok(AddToBridge(bridge_id="c1-bridge", channel_ids=(AGENT, CUSTOMER))))
    return steps


def close_call(d: Driver) -> None:
    """Whatever happened: the legs end and the guards fire."""
    d.feed(destroyed(AGENT, 16), destroyed(CUSTOMER, 16), TimerFired("notice"))
    d.feed(TimerFired("ending"), HangupFromUi(by="a1"), TimerFired("ending"))


call_settings = st.builds(
    CallSettings,
    acceptance=st.booleans(),
    customer_dial_method=st.sampled_from(list(CustomerDialMethod)),
)


# ----------------------------------------------------------------------------- CallMachine
@FUZZ
@given(data=st.data(), cfg=call_settings, prefix=st.integers(min_value=0, max_value=10),
       events=st.lists(wire_event(CALL_IDS), min_size=1, max_size=14))
def test_call_machine_survives_any_ari_events(data: st.DataObject, cfg: CallSettings,
                                              prefix: int, events: list[bytes]) -> None:
    with errors_logged() as errors:
        d = Driver.make(cfg)
        d.feed(CallStart())
        for step in happy_path(cfg)[:prefix]:
            d.feed(step)
        for raw in events:
            d.feed(decoded(raw))
            if data.draw(st.booleans()):
                d.feed(command_reply(data, d.commands))
        close_call(d)
    assert errors == []
    assert d.m.is_finished
    assert d.m.step in (CallStep.ENDED, CallStep.FAILED, CallStep.REJECTED)
    record = d.record()  # exactly one CallEnded
    assert record.ended_at >= record.started_at
    d.feed(*(decoded(raw) for raw in events))  # after the end: ignored, nothing more said
    assert len(d.ended()) == 1


# ----------------------------------------------------------------------------- AgentMachine
@FUZZ
@given(data=st.data(), cfg=call_settings, events=st.lists(wire_event(CALL_IDS), max_size=12))
def test_agent_machine_follows_a_fuzzed_call_back_to_available(
        data: st.DataObject, cfg: CallSettings, events: list[bytes]) -> None:
    with errors_logged() as errors:
        agent = AgentMachine("a1", workstation=WorkstationMode.MOBILE,
                             mobile_number="+33611111111", wrap_up_max_s=data.draw(
                                 st.sampled_from((None, 30.0))))
        assert agent.receive(LogIn(), 1.0) is None
        agent.receive(SetAvailable(), 1.0)
        request = agent.request_call("+33622222222", "c1", 2.0)
        assert isinstance(request, CallRequest)
        d = Driver.make(cfg)

        def forward() -> None:
            for event in d.events[forwarded[0]:]:
                refusal = agent.receive(event, d.now)  # type: ignore[arg-type]
                assert refusal is None or refusal.code != "internal_error", refusal
            forwarded[0] = len(d.events)

        forwarded = [0]
        d.feed(CallStart())
        for step in happy_path(cfg)[:data.draw(st.integers(min_value=0, max_value=10))]:
            d.feed(step)
        forward()
        for raw in events:
            d.feed(decoded(raw))
            if data.draw(st.booleans()):
                d.feed(command_reply(data, d.commands))
            forward()
            if data.draw(st.integers(min_value=0, max_value=4)) == 0:  # the agent clicks
                click: Any = data.draw(st.sampled_from(
                    (SetAvailable(), Pause(reason="break"), LogOut(), TimerFired("wrap_up"),
                     SubmitDisposition(call_id="c1", code="sale"))))
                refusal = agent.receive(click, d.now)
                assert refusal is None or refusal.code != "internal_error", refusal
            assert agent.view().state == agent.state
        close_call(d)
        forward()
        assert agent.state != AgentState.ON_CALL
        agent.receive(SubmitDisposition(call_id="c1", code="sale"), d.now)
        agent.receive(LogIn(), d.now)
        agent.receive(SetAvailable(), d.now)
    assert errors == []
    assert agent.state == AgentState.AVAILABLE
    assert len(d.ended()) == 1


# ----------------------------------------------------------------------------- SupervisionMachine
@FUZZ
@given(data=st.data(), mode=st.sampled_from(list(SupervisionMode)),
       events=st.lists(wire_event(SUPERVISION_IDS), min_size=1, max_size=14))
def test_supervision_machine_survives_any_ari_events(
        data: st.DataObject, mode: SupervisionMode, events: list[bytes]) -> None:
    sent: list[Any] = []
    ended: list[Any] = []
    with errors_logged() as errors:
        m = SupervisionMachine("c1", "s1", "PJSIP/agent-1002", AGENT, "c1-bridge")

        def feed(inp: Any) -> None:
            m.receive(inp, 1.0)
            sent.extend(m.commands_to_send())
            ended.extend(e for e in m.events_emitted() if isinstance(e, SupervisionEnded))

        feed(StartSupervision(mode))
        for raw in events:
            feed(decoded(raw))
            choice = data.draw(st.integers(min_value=0, max_value=5))
            if choice <= 1:
                feed(command_reply(data, sent))
            elif choice == 2:
                feed(SetSupervisionMode(data.draw(st.sampled_from(list(SupervisionMode)))))
            elif choice == 3:
                feed(TimerFired(data.draw(st.sampled_from(("supervisor_answer", "ending")))))
        if data.draw(st.booleans()):
            feed(CallFinished())
        feed(StopSupervision())
        feed(destroyed(f"{SID}-leg", 16))
        feed(TimerFired("ending"))
    assert errors == []
    assert m.is_finished
    assert m.state in (SupervisionState.ENDED, SupervisionState.FAILED)
    assert len(ended) == 1
