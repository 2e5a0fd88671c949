"""SupervisionMachine: listen, whisper, barge, switching, and a clean end; S11/P10 replays."""

from __future__ import annotations

from typing import Any

import pytest
from call_events_factory import (
    destroyed,
    dtmf,
    entered_bridge,
    failed,
    hangup_request,
    ok,
    stasis_end,
    stasis_start,
)
from call_replay import Replay, load_trace

from core.ari_commands import (
    AddToBridge,
    CreateBridge,
    DestroyBridge,
    HangupChannel,
    OriginateChannel,
    PlayMedia,
    SnoopChannel,
)
from core.ari_events import ChannelEnteredBridge, ChannelLeftBridge, event_channel_id
from core.bridge import (
    CallFinished,
    SetSupervisionMode,
    StartSupervision,
    StopSupervision,
    SupervisionEnded,
    SupervisionMachine,
    SupervisionSettings,
    SupervisionState,
)
from core.domain import SupervisionMode
from core.timers import StartTimer, TimerFired

SID = "c1-sup-s1"
LEG, BRIDGE, CALL_BRIDGE, AGENT = f"{SID}-leg", f"{SID}-bridge", "c1-bridge", "c1-agent"


class Sup:
    def __init__(
        self, endpoint: str = "PJSIP/agent-1002", settings: SupervisionSettings | None = None
    ) -> None:
        self.m = SupervisionMachine("c1", "s1", endpoint, AGENT, CALL_BRIDGE, settings)
        self.commands: list[Any] = []
        self.events: list[Any] = []
        self.now = 0.0

    def feed(self, *inputs: Any) -> list[Any]:
        new: list[Any] = []
        for inp in inputs:
            self.now += 1.0
            self.m.receive(inp, self.now)
            new += self.m.commands_to_send()
            self.events += self.m.events_emitted()
        self.commands += new
        return new

    def ended(self) -> list[SupervisionEnded]:
        return [e for e in self.events if isinstance(e, SupervisionEnded)]


def listening(s: Sup) -> None:
    s.feed(StartSupervision(SupervisionMode.LISTEN))
    snoop = next(c for c in s.commands if isinstance(c, SnoopChannel))
    s.feed(ok(CreateBridge(bridge_id=BRIDGE)), ok(snoop), stasis_start(LEG, "Up"))
    add = next(c for c in s.commands if isinstance(c, AddToBridge))
    s.feed(ok(add, 204))
    assert s.m.state == SupervisionState.LISTENING


def test_listen_calls_the_supervisor_and_bridges_a_spy_snoop() -> None:
    s = Sup()
    out = s.feed(StartSupervision(SupervisionMode.LISTEN))
    originate = next(c for c in out if isinstance(c, OriginateChannel))
    assert originate.channel_id == LEG
    assert originate.app_args == "supervisor,c1"
    assert originate.variables["EVS_SUPERVISOR_ID"] == "s1"
    assert StartTimer("supervisor_answer", 27.0) in out
    # prepared while the supervisor's phone rings
    assert CreateBridge(bridge_id=BRIDGE, name="supervise-c1") in out
    snoop = next(c for c in out if isinstance(c, SnoopChannel))
    assert (snoop.channel_id, snoop.spy, snoop.whisper) == (AGENT, "both", "none")
    assert snoop.app_args == "snoop,c1"
    assert s.m.state == SupervisionState.DIALING
    out = s.feed(ok(CreateBridge(bridge_id=BRIDGE)), stasis_start(snoop.snoop_id, "Up"))
    assert not [c for c in out if isinstance(c, AddToBridge)]  # the supervisor is not up yet
    out = s.feed(stasis_start(LEG, "Up"))
    assert AddToBridge(bridge_id=BRIDGE, channel_ids=(snoop.snoop_id, LEG)) in out
    assert s.m.state == SupervisionState.JOINING
    s.feed(entered_bridge(BRIDGE, snoop.snoop_id, []), entered_bridge(BRIDGE, LEG, []))
    assert s.m.state == SupervisionState.LISTENING
    assert s.m.monitored() == ("s1", SupervisionMode.LISTEN)


def test_switch_to_whisper_replaces_the_snoop() -> None:
    s = Sup()
    listening(s)
    first = next(c for c in s.commands if isinstance(c, SnoopChannel)).snoop_id
    out = s.feed(SetSupervisionMode(SupervisionMode.WHISPER))
    assert HangupChannel(channel_id=first) in out
    snoop = next(c for c in out if isinstance(c, SnoopChannel))
    assert snoop.whisper == "out" and snoop.snoop_id != first
    assert s.m.state == SupervisionState.JOINING
    out = s.feed(stasis_end(first), ok(snoop))
    assert AddToBridge(bridge_id=BRIDGE, channel_ids=(snoop.snoop_id,)) in out
    s.feed(ok(AddToBridge(bridge_id=BRIDGE, channel_ids=(snoop.snoop_id,)), 204))
    assert s.m.state == SupervisionState.WHISPERING
    assert s.m.monitored() == ("s1", SupervisionMode.WHISPER)


def test_barge_moves_the_supervisor_into_the_call_bridge() -> None:
    s = Sup()
    listening(s)
    snoop = next(c for c in s.commands if isinstance(c, SnoopChannel)).snoop_id
    out = s.feed(SetSupervisionMode(SupervisionMode.BARGE))
    assert HangupChannel(channel_id=snoop) in out
    assert DestroyBridge(bridge_id=BRIDGE) in out
    assert AddToBridge(bridge_id=CALL_BRIDGE, channel_ids=(LEG,)) in out
    s.feed(ok(AddToBridge(bridge_id=CALL_BRIDGE, channel_ids=(LEG,)), 204))
    assert s.m.state == SupervisionState.BARGING
    # and back to listening: a new private bridge and snoop, the leg moves back
    out = s.feed(SetSupervisionMode(SupervisionMode.LISTEN))
    assert CreateBridge(bridge_id=BRIDGE, name="supervise-c1") in out
    new_snoop = next(c for c in out if isinstance(c, SnoopChannel))
    out = s.feed(ok(CreateBridge(bridge_id=BRIDGE)), ok(new_snoop))
    assert AddToBridge(bridge_id=BRIDGE, channel_ids=(new_snoop.snoop_id, LEG)) in out


@pytest.mark.parametrize("stop", [StopSupervision(), CallFinished()])
def test_stop_hangs_up_snoop_and_leg_then_ends(stop: Any) -> None:
    s = Sup()
    listening(s)
    snoop = next(c for c in s.commands if isinstance(c, SnoopChannel)).snoop_id
    out = s.feed(stop)
    assert HangupChannel(channel_id=snoop) in out
    assert HangupChannel(channel_id=LEG) in out
    assert DestroyBridge(bridge_id=BRIDGE) in out
    assert s.m.state == SupervisionState.ENDING
    s.feed(hangup_request(snoop, 32, soft=True), stasis_end(snoop))  # no ChannelDestroyed
    assert s.ended() == []
    s.feed(stasis_end(LEG), destroyed(LEG, 16))
    assert [e.reason for e in s.ended()] == [
        "stopped" if isinstance(stop, StopSupervision) else "call_ended"
    ]
    assert s.m.state == SupervisionState.ENDED
    assert s.m.monitored() is None


def test_supervisor_hanging_up_cleans_up() -> None:
    s = Sup()
    listening(s)
    snoop = next(c for c in s.commands if isinstance(c, SnoopChannel)).snoop_id
    out = s.feed(hangup_request(LEG, 16))
    assert HangupChannel(channel_id=snoop) in out
    assert HangupChannel(channel_id=LEG) not in out
    s.feed(stasis_end(snoop), destroyed(LEG, 16))
    assert [e.reason for e in s.ended()] == ["supervisor_hung_up"]


def test_snoop_ended_by_asterisk_means_the_call_is_gone() -> None:
    s = Sup()
    listening(s)
    snoop = next(c for c in s.commands if isinstance(c, SnoopChannel)).snoop_id
    out = s.feed(stasis_end(snoop))
    assert HangupChannel(channel_id=LEG) in out
    s.feed(destroyed(LEG, 16))
    assert [e.reason for e in s.ended()] == ["agent_leg_gone"]


def test_supervisor_busy_fails_and_cleans_the_snoop() -> None:
    s = Sup()
    out = s.feed(StartSupervision(SupervisionMode.WHISPER))
    snoop = next(c for c in out if isinstance(c, SnoopChannel))
    s.feed(ok(CreateBridge(bridge_id=BRIDGE)), ok(snoop))  # prepared while the phone rang
    out = s.feed(destroyed(LEG, 17, tech=486))
    assert HangupChannel(channel_id=snoop.snoop_id) in out
    assert DestroyBridge(bridge_id=BRIDGE) in out
    assert s.ended() == []  # until the snoop has left Stasis
    s.feed(stasis_end(snoop.snoop_id))
    ended = s.ended()
    assert len(ended) == 1 and ended[0].failed
    assert ended[0].reason == "supervisor_busy"
    assert s.m.state == SupervisionState.FAILED


def test_supervisor_no_answer_timer_and_http_error() -> None:
    s = Sup()
    s.feed(StartSupervision(SupervisionMode.BARGE))
    out = s.feed(TimerFired("supervisor_answer"))
    assert HangupChannel(channel_id=LEG, reason="no_answer") in out
    s.feed(destroyed(LEG, 16))
    assert s.ended()[0].reason == "supervisor_no_answer"

    s2 = Sup()
    originate = next(
        c
        for c in s2.feed(StartSupervision(SupervisionMode.BARGE))
        if isinstance(c, OriginateChannel)
    )
    s2.feed(failed(originate, 500, "Allocation failed"))
    assert s2.ended()[0].reason == "http 500: Allocation failed"
    assert s2.ended()[0].failed


def test_barge_from_the_start_never_snoops() -> None:
    s = Sup()
    s.feed(StartSupervision(SupervisionMode.BARGE), stasis_start(LEG, "Up"))
    assert not [c for c in s.commands if isinstance(c, SnoopChannel | CreateBridge)]
    assert AddToBridge(bridge_id=CALL_BRIDGE, channel_ids=(LEG,)) in s.commands


def test_ending_guard_and_junk() -> None:
    s = Sup()
    listening(s)
    s.feed(stasis_start("someone-else"), destroyed("someone-else", 16))
    assert s.m.state == SupervisionState.LISTENING
    s.feed(StopSupervision())
    s.feed(TimerFired("ending"))
    assert len(s.ended()) == 1
    assert s.feed(StopSupervision(), TimerFired("ending")) == []


# ------------------------------------------------------------------ replays
@pytest.mark.parametrize(("trace", "run"), [("S11", ""), ("S11", "run2"), ("P10", "")])
def test_supervision_replay(trace: str, run: str) -> None:
    p = trace[0].lower() + trace[1:]  # "s11" / "p10"
    ids = {
        f"{p}-sup": f"{p}-sup-x-leg",
        f"{p}-sup-2": f"{p}-sup-x-leg-2",
        f"{p}-snoop-listen": f"{p}-sup-x-snoop-1",
        f"{p}-snoop-whisper": f"{p}-sup-x-snoop-2",
        f"{p}-listen-bridge": f"{p}-sup-x-bridge",
    }
    data = load_trace(trace, run)
    endpoint = next(
        (s.get("query") or s.get("body") or {}).get("endpoint", "")
        for s in data["steps"]
        if s["kind"] == "request" and "supervisor" in str(s.get("query") or s.get("body"))
    )
    m = SupervisionMachine(p, "x", endpoint, f"{p}-agent", f"{p}-bridge")

    def concerns(event: Any) -> bool:
        if isinstance(event, ChannelEnteredBridge | ChannelLeftBridge):
            return event.channel is not None and event.channel.id in m.channel_ids()
        cid = event_channel_id(event)
        return cid is not None and cid in m.channel_ids()

    r = Replay(m, ids, concerns)
    start = next(s["t_ms"] for s in data["steps"] if "LISTEN" in s.get("text", "")) / 1000
    r.feed(StartSupervision(SupervisionMode.LISTEN), start)
    states: list[SupervisionState] = []
    for needle, mode in (("WHISPER", SupervisionMode.WHISPER), ("BARGE", SupervisionMode.BARGE)):
        until = next(s["t_ms"] for s in data["steps"] if needle in s.get("text", "")) / 1000
        r.run(data, start=start, until=until)
        states.append(m.state)
        r.feed(SetSupervisionMode(mode), until)
        start = until
    until = next(s["t_ms"] for s in data["steps"] if "teardown" in s.get("text", "")) / 1000
    r.run(data, start=start, until=until)
    states.append(m.state)
    r.feed(StopSupervision(), until)
    r.run(data, start=until)
    assert states == [
        SupervisionState.LISTENING,
        SupervisionState.WHISPERING,
        SupervisionState.BARGING,
    ]
    snoops = r.commands(SnoopChannel)
    assert [(c.snoop_id, c.whisper) for c in snoops] == [
        (f"{p}-sup-x-snoop-1", "none"),
        (f"{p}-sup-x-snoop-2", "out"),
    ]
    assert AddToBridge(bridge_id=f"{p}-bridge", channel_ids=(f"{p}-sup-x-leg",)) in r.commands(
        AddToBridge
    )
    assert m.state == SupervisionState.ENDED
    assert [e.reason for e in r.events if isinstance(e, SupervisionEnded)] == ["stopped"]


def test_call_view_carries_the_supervisors() -> None:
    from call_events_factory import request

    from core.call import CallMachine
    from core.call_config import CallSettings

    s = Sup()
    listening(s)
    pair = s.m.monitored()
    assert pair is not None
    view = CallMachine(request(), CallSettings()).view(monitored_by=(pair,))
    assert view.monitored_by == (("s1", SupervisionMode.LISTEN),)


def test_agent_is_told_once_when_configured() -> None:
    from core.ari_commands import PlayMedia
    from core.bridge import SupervisionSettings

    s = Sup()
    s.m = SupervisionMachine(
        "c1",
        "s1",
        "PJSIP/agent-1002",
        AGENT,
        CALL_BRIDGE,
        SupervisionSettings(notify_agent=("sound:conf-now-recording",), language="en"),
    )
    listening(s)
    plays = [c for c in s.commands if isinstance(c, PlayMedia)]
    assert plays == [
        PlayMedia(
            channel_id=AGENT,
            playback_id=f"{SID}-pb-notify",
            media=("sound:conf-now-recording",),
            lang="en",
        )
    ]
    s.feed(SetSupervisionMode(SupervisionMode.BARGE))
    s.feed(ok(AddToBridge(bridge_id=CALL_BRIDGE, channel_ids=(LEG,)), 204))
    assert s.m.state == SupervisionState.BARGING
    assert len([c for c in s.commands if isinstance(c, PlayMedia)]) == 1
    # not configured: silent (the default)
    quiet = Sup()
    listening(quiet)
    assert not [c for c in quiet.commands if isinstance(c, PlayMedia)]


def test_stop_whose_hangup_outran_the_originate_still_hangs_the_supervisor_up() -> None:
    """A DELETE can reach Asterisk before the originate (ARI requests run concurrently): its
    404 does not end the leg while the originate is unanswered; once it answers, the new
    channel is hung up, so the supervisor's phone is not left ringing after the end."""
    s = Sup()
    out = s.feed(StartSupervision(SupervisionMode.BARGE))
    originate = next(c for c in out if isinstance(c, OriginateChannel))
    s.feed(StopSupervision())
    s.feed(failed(HangupChannel(channel_id=LEG), 404, "Channel not found"))
    assert s.ended() == []
    out = s.feed(ok(originate))
    assert [c for c in out if isinstance(c, HangupChannel)] == [HangupChannel(channel_id=LEG)]
    s.feed(destroyed(LEG, 16))
    assert len(s.ended()) == 1 and s.m.state == SupervisionState.ENDED


def test_stop_whose_hangup_outran_a_refused_originate_ends() -> None:
    s = Sup()
    out = s.feed(StartSupervision(SupervisionMode.BARGE))
    originate = next(c for c in out if isinstance(c, OriginateChannel))
    s.feed(StopSupervision(), failed(HangupChannel(channel_id=LEG), 404, "Channel not found"))
    assert s.ended() == []
    out = s.feed(failed(originate, 500, "Allocation failed"))
    assert not [c for c in out if isinstance(c, HangupChannel)]
    assert len(s.ended()) == 1


def test_snoop_dropped_before_it_existed_is_hung_up_once_created() -> None:
    """Stop while the snoop is being created: the DELETE's 404 does not count it gone; once
    SnoopChannel answers, the snoop is hung up, and the end waits for it."""
    s = Sup()
    out = s.feed(StartSupervision(SupervisionMode.LISTEN))
    snoop = next(c for c in out if isinstance(c, SnoopChannel))
    originate = next(c for c in out if isinstance(c, OriginateChannel))
    s.feed(ok(originate))
    out = s.feed(StopSupervision())
    assert HangupChannel(channel_id=snoop.snoop_id) in out
    s.feed(failed(HangupChannel(channel_id=snoop.snoop_id), 404, "Channel not found"))
    s.feed(destroyed(LEG, 16))
    assert s.ended() == []  # the snoop may be created yet
    out = s.feed(ok(snoop))
    assert [c for c in out if isinstance(c, HangupChannel)] == [
        HangupChannel(channel_id=snoop.snoop_id)
    ]
    s.feed(hangup_request(snoop.snoop_id, 32, soft=True), stasis_end(snoop.snoop_id))
    assert len(s.ended()) == 1


def test_snoop_refused_while_ending_lets_the_supervision_end() -> None:
    s = Sup()
    out = s.feed(StartSupervision(SupervisionMode.LISTEN))
    snoop = next(c for c in out if isinstance(c, SnoopChannel))
    s.feed(StopSupervision(), destroyed(LEG, 16))
    assert s.ended() == []
    s.feed(failed(snoop, 404, "Provided channel was not found"))
    assert len(s.ended()) == 1


# ------------------------------------------------------------------ press 1 on the supervisor's leg
GUARDED = SupervisionSettings(acceptance=True, acceptance_timeout_s=15.0)


def answered_guarded(mode: SupervisionMode = SupervisionMode.LISTEN) -> tuple[Sup, list[Any]]:
    s = Sup("PJSIP/+33612345678@carrier", GUARDED)
    s.feed(StartSupervision(mode))
    prepared = [c for c in s.commands if isinstance(c, CreateBridge | SnoopChannel)]
    for command in prepared:
        s.feed(ok(command))
    out = s.feed(stasis_start(LEG, "Up"))
    return s, out


def test_a_supervisors_mobile_must_press_1_before_it_joins() -> None:
    s, out = answered_guarded()
    assert s.m.state == SupervisionState.CONFIRMING
    assert PlayMedia(
        channel_id=LEG, playback_id=f"{SID}-pb-press1",
        media=("sound:vm-press", "sound:digits/1"), lang="fr",
    ) in out
    assert StartTimer("supervisor_confirm", 15.0) in out
    assert not [c for c in out if isinstance(c, AddToBridge)]  # not bridged yet
    assert not s.feed(dtmf(LEG, "2"))  # another key does nothing
    assert s.m.state == SupervisionState.CONFIRMING
    out = s.feed(dtmf(LEG, "1"))
    add = next(c for c in out if isinstance(c, AddToBridge))
    assert add.bridge_id == BRIDGE and LEG in add.channel_ids
    s.feed(ok(add, 204))
    assert s.m.state == SupervisionState.LISTENING


def test_a_voicemail_that_never_presses_1_is_never_bridged_into_the_call() -> None:
    for mode in (SupervisionMode.LISTEN, SupervisionMode.BARGE):
        s, _ = answered_guarded(mode)
        out = s.feed(TimerFired(name="supervisor_confirm"))
        assert HangupChannel(channel_id=LEG) in out
        assert not [c for c in s.commands if isinstance(c, AddToBridge)]
        assert s.m.state == SupervisionState.ENDING
        assert s.m.reason == "supervisor_not_confirmed"


def test_barge_waits_for_1_too() -> None:
    s, out = answered_guarded(SupervisionMode.BARGE)
    assert not [c for c in out if isinstance(c, AddToBridge)]
    out = s.feed(dtmf(LEG, "1"))
    assert AddToBridge(bridge_id=CALL_BRIDGE, channel_ids=(LEG,)) in out


def test_the_factory_guards_a_mobile_supervisor_like_an_agents_mobile() -> None:
    from actors.deps import ActorDeps
    from core.call_config import CallSettings
    from core.domain import WorkstationMode
    from evscallpro.core_config import CoreConfig, SupervisorEntry
    from evscallpro.supervisions import SupervisionFactory

    call = CallSettings(
        acceptance_by_workstation={"mobile": True, "softphone": False}, acceptance_timeout_s=9
    )
    factory = SupervisionFactory(CoreConfig(call=call), ActorDeps(None, None, None, None))  # type: ignore[arg-type]
    mobile = factory.settings_for(
        SupervisorEntry(supervisor_id="s1", endpoint="PJSIP/x", workstation=WorkstationMode.MOBILE)
    )
    softphone = factory.settings_for(SupervisorEntry(supervisor_id="s2", endpoint="PJSIP/y"))
    assert mobile.acceptance and mobile.acceptance_timeout_s == 9
    assert not softphone.acceptance
