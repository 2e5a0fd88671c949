"""SupervisionMachine: listen, whisper, barge, switching, and a clean end; every mode
sequence against a fake Asterisk that reuses no bridge id and throws a channel out of a
dissolving bridge; S11/P10 replays. The machine runs with the bridge machines it opens
(tests/core/bridge_host.py), as the actors run them."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from bridge_host import FakeAsterisk, Hosted, entered, left_bridge
from call_events_factory import (
    destroyed,
    dtmf,
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
from core.ari_events import (
    BridgeDestroyed,
    ChannelEnteredBridge,
    ChannelLeftBridge,
    event_channel_id,
)
from core.domain import SupervisionMode
from core.supervision import (
    CallFinished,
    SetSupervisionMode,
    StartSupervision,
    StopSupervision,
    SupervisionEnded,
    SupervisionMachine,
    SupervisionSettings,
    SupervisionState,
    supervision_of,
)
from core.timers import CancelTimer, StartTimer, TimerFired

SID = "c1-sup-s1"
LEG, CALL_BRIDGE, AGENT = f"{SID}-leg", "c1-bridge", "c1-agent"
BRIDGE, BRIDGE2 = f"{SID}-bridge-1", f"{SID}-bridge-2"
L, W, B = SupervisionMode.LISTEN, SupervisionMode.WHISPER, SupervisionMode.BARGE


class Sup:
    def __init__(
        self,
        endpoint: str = "PJSIP/agent-1002",
        settings: SupervisionSettings | None = None,
        m: SupervisionMachine | None = None,
    ) -> None:
        self.m = m or SupervisionMachine("c1", "s1", endpoint, AGENT, CALL_BRIDGE, settings)
        self.host = Hosted(self.m)
        self.commands: list[Any] = []
        self.events: list[Any] = []
        self.now = 0.0

    def feed(self, *inputs: Any) -> list[Any]:
        new: list[Any] = []
        for inp in inputs:
            self.now += 1.0
            self.host.receive(inp, self.now)
            new += self.host.commands_to_send()
            self.events += self.host.events_emitted()
        self.commands += new
        return new

    def ended(self) -> list[SupervisionEnded]:
        return [e for e in self.events if isinstance(e, SupervisionEnded)]

    def snoop_id(self, n: int = 0) -> str:
        return [c for c in self.commands if isinstance(c, SnoopChannel)][n].snoop_id


def listening(s: Sup) -> None:
    s.feed(StartSupervision(SupervisionMode.LISTEN))
    snoop = next(c for c in s.commands if isinstance(c, SnoopChannel))
    s.feed(ok(CreateBridge(bridge_id=BRIDGE)), ok(snoop), stasis_start(LEG, "Up"))
    s.feed(entered(BRIDGE, snoop.snoop_id), entered(BRIDGE, LEG))
    assert s.m.state == SupervisionState.LISTENING


def test_listen_calls_the_supervisor_and_bridges_a_spy_snoop() -> None:
    s = Sup()
    out = s.feed(StartSupervision(SupervisionMode.LISTEN))
    originate = next(c for c in out if isinstance(c, OriginateChannel))
    assert originate.channel_id == LEG
    assert originate.app_args == "supervisor,c1"
    assert originate.variables["EVS_SUPERVISOR_ID"] == "s1"
    assert StartTimer("supervisor_answer", 27.0) in out
    # prepared while the supervisor's phone rings, under a fresh id
    assert CreateBridge(bridge_id=BRIDGE, name="supervise-c1") in out
    snoop = next(c for c in out if isinstance(c, SnoopChannel))
    assert (snoop.channel_id, snoop.spy, snoop.whisper) == (AGENT, "both", "none")
    assert snoop.app_args == "snoop,c1"
    assert s.m.state == SupervisionState.DIALING
    out = s.feed(ok(CreateBridge(bridge_id=BRIDGE)), stasis_start(snoop.snoop_id, "Up"))
    assert AddToBridge(bridge_id=BRIDGE, channel_ids=(snoop.snoop_id,)) in out
    assert AddToBridge(bridge_id=BRIDGE, channel_ids=(LEG,)) not in out  # not up yet
    out = s.feed(stasis_start(LEG, "Up"))
    assert AddToBridge(bridge_id=BRIDGE, channel_ids=(LEG,)) in out
    assert s.m.state == SupervisionState.JOINING
    # A 204 is "accepted", not "in the bridge": the screen says nothing yet.
    s.feed(ok(AddToBridge(bridge_id=BRIDGE, channel_ids=(LEG,)), 204))
    assert s.m.state == SupervisionState.JOINING and s.m.monitored() is None
    s.feed(entered(BRIDGE, snoop.snoop_id), entered(BRIDGE, LEG))
    assert s.m.state == SupervisionState.LISTENING
    assert s.m.monitored() == ("s1", SupervisionMode.LISTEN)


def test_switch_to_whisper_replaces_the_snoop() -> None:
    s = Sup()
    listening(s)
    first = s.snoop_id()
    out = s.feed(SetSupervisionMode(SupervisionMode.WHISPER))
    assert HangupChannel(channel_id=first) in out
    snoop = next(c for c in out if isinstance(c, SnoopChannel))
    assert snoop.whisper == "out" and snoop.snoop_id != first
    assert s.m.state == SupervisionState.JOINING
    out = s.feed(left_bridge(BRIDGE, first), stasis_end(first), ok(snoop))
    assert AddToBridge(bridge_id=BRIDGE, channel_ids=(snoop.snoop_id,)) in out
    s.feed(ok(AddToBridge(bridge_id=BRIDGE, channel_ids=(snoop.snoop_id,)), 204))
    assert s.m.state == SupervisionState.JOINING
    s.feed(entered(BRIDGE, snoop.snoop_id))
    assert s.m.state == SupervisionState.WHISPERING
    assert s.m.monitored() == ("s1", SupervisionMode.WHISPER)


def test_barge_lets_go_of_the_private_side_only_once_in_the_call_bridge() -> None:
    s = Sup()
    listening(s)
    snoop = s.snoop_id()
    out = s.feed(SetSupervisionMode(SupervisionMode.BARGE))
    assert AddToBridge(bridge_id=CALL_BRIDGE, channel_ids=(LEG,)) in out
    assert not [c for c in out if isinstance(c, HangupChannel | DestroyBridge)]
    s.feed(ok(AddToBridge(bridge_id=CALL_BRIDGE, channel_ids=(LEG,)), 204))
    assert s.m.state == SupervisionState.JOINING  # 204 is not "barging"
    out = s.feed(left_bridge(BRIDGE, LEG))
    assert not [c for c in out if isinstance(c, HangupChannel | DestroyBridge)]
    out = s.feed(entered(CALL_BRIDGE, LEG))
    assert s.m.state == SupervisionState.BARGING
    assert HangupChannel(channel_id=snoop) in out
    assert DestroyBridge(bridge_id=BRIDGE) in out
    # and back to listening: a NEW private bridge id and a new snoop, the leg moves back
    out = s.feed(SetSupervisionMode(SupervisionMode.LISTEN))
    assert CreateBridge(bridge_id=BRIDGE2, name="supervise-c1") in out
    new_snoop = next(c for c in out if isinstance(c, SnoopChannel))
    out = s.feed(ok(CreateBridge(bridge_id=BRIDGE2)), ok(new_snoop))
    assert AddToBridge(bridge_id=BRIDGE2, channel_ids=(new_snoop.snoop_id,)) in out
    assert AddToBridge(bridge_id=BRIDGE2, channel_ids=(LEG,)) in out


def test_leg_thrown_out_of_the_call_bridge_is_not_shown_barging() -> None:
    """Asterisk logged the supervisor joining the call bridge and leaving it at once: the
    screen must leave "barging" and the leg is added again."""
    s = Sup()
    s.feed(StartSupervision(B), stasis_start(LEG, "Up"), entered(CALL_BRIDGE, LEG))
    assert s.m.state == SupervisionState.BARGING
    out = s.feed(left_bridge(CALL_BRIDGE, LEG))
    assert s.m.state == SupervisionState.JOINING and s.m.monitored() is None
    assert AddToBridge(bridge_id=CALL_BRIDGE, channel_ids=(LEG,)) in out
    s.feed(entered(CALL_BRIDGE, LEG))
    assert s.m.state == SupervisionState.BARGING
    for _ in range(2):  # thrown out again and again: it gives up and ends cleanly
        s.feed(left_bridge(CALL_BRIDGE, LEG), entered(CALL_BRIDGE, LEG))
    out = s.feed(left_bridge(CALL_BRIDGE, LEG))
    assert HangupChannel(channel_id=LEG) in out
    assert s.m.state == SupervisionState.ENDING


def test_a_409_on_the_private_bridge_makes_a_new_one_under_a_new_id() -> None:
    s = Sup()
    s.feed(StartSupervision(L))
    out = s.feed(failed(CreateBridge(bridge_id=BRIDGE), 409, f"Bridge with id '{BRIDGE}' exists"))
    assert CreateBridge(bridge_id=BRIDGE2, name="supervise-c1") in out
    snoop = next(c for c in s.commands if isinstance(c, SnoopChannel))
    out = s.feed(ok(CreateBridge(bridge_id=BRIDGE2)), ok(snoop), stasis_start(LEG))
    assert AddToBridge(bridge_id=BRIDGE2, channel_ids=(snoop.snoop_id,)) in out
    assert AddToBridge(bridge_id=BRIDGE2, channel_ids=(LEG,)) in out
    s.feed(entered(BRIDGE2, snoop.snoop_id), entered(BRIDGE2, LEG))
    assert s.m.state == SupervisionState.LISTENING


def test_private_bridge_gone_404_on_add_makes_a_new_one() -> None:
    s = Sup()
    s.feed(StartSupervision(L))
    snoop = next(c for c in s.commands if isinstance(c, SnoopChannel))
    s.feed(ok(CreateBridge(bridge_id=BRIDGE)), ok(snoop))
    add = AddToBridge(bridge_id=BRIDGE, channel_ids=(snoop.snoop_id,))
    out = s.feed(failed(add, 404, "Bridge not found"))
    assert CreateBridge(bridge_id=BRIDGE2, name="supervise-c1") in out


def test_join_guard_ends_a_mode_never_reached() -> None:
    s = Sup()
    s.feed(StartSupervision(B), stasis_start(LEG, "Up"))
    out = s.feed(TimerFired("join"))
    assert HangupChannel(channel_id=LEG) in out
    assert s.m.reason == "join_timeout: barge"


# ------------------------------------------------------------------ every mode sequence
def _run_sequence(modes: tuple[SupervisionMode, ...]) -> None:
    s = Sup()
    world = FakeAsterisk(CALL_BRIDGE, (AGENT, "c1-customer"))

    def settle(*inputs: Any) -> None:
        pending = list(inputs)
        while pending:
            out = s.feed(*pending)
            pending = world.answer([c for c in out if not isinstance(c, StartTimer | CancelTimer)])
        # what the screen says is what Asterisk says
        state, where = s.m.state, world.where.get(LEG)
        if state == SupervisionState.BARGING:
            assert where == CALL_BRIDGE
        elif state in (SupervisionState.LISTENING, SupervisionState.WHISPERING):
            kinds = {world.whisper[c] for c in world.snoops_in(where)}
            assert where is not None and where.startswith(f"{SID}-bridge-")
            assert kinds == {"none" if state == SupervisionState.LISTENING else "out"}

    settle(StartSupervision(modes[0]))
    for mode in modes[1:]:
        settle(SetSupervisionMode(mode))
        expected = {L: "listening", W: "whispering", B: "barging"}[mode]
        assert s.m.state == expected, f"{modes}: {s.m.state} after switching to {mode}"
    assert s.m.state == {L: "listening", W: "whispering", B: "barging"}[modes[-1]]
    creates = [c.bridge_id for c in s.commands if isinstance(c, CreateBridge)]
    assert len(creates) == len(set(creates)), f"a bridge id was reused: {creates}"
    assert not [e for e in s.events if getattr(e, "state", None) == SupervisionState.ENDING]
    settle(StopSupervision())
    assert s.m.state == SupervisionState.ENDED and s.ended()[0].reason == "stopped"
    assert set(world.bridges) == {CALL_BRIDGE}, f"left: {set(world.bridges)}"
    assert world.bridges[CALL_BRIDGE] == {AGENT, "c1-customer"}  # the call is untouched
    assert set(world.where) == {AGENT, "c1-customer"}
    assert all(m.is_finished for m in s.host.bridges.values())


def test_listen_whisper_barge_listen_barge_whisper_as_a_person_switches() -> None:
    _run_sequence((L, W, B, L, B, W))  # issue 10, item 18


def test_every_mode_sequence_up_to_five_switches_reaches_each_mode_and_ends_clean() -> None:
    """All 3 + 9 + ... + 243 sequences of 1 to 5 modes (one test: a failure names its
    sequence)."""
    for n in range(1, 6):
        for modes in itertools.product((L, W, B), repeat=n):
            _run_sequence(modes)


def test_supervision_of_reads_ids_back() -> None:
    assert supervision_of(LEG) == SID
    assert supervision_of(f"{LEG}-2") == SID
    assert supervision_of(f"{SID}-snoop-3") == SID
    assert supervision_of(BRIDGE2) == SID
    assert supervision_of("c1-agent") is None
    assert supervision_of("c1-bridge") is None
    assert supervision_of("c1-sup-s1-other-1") is None


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
        f"{p}-listen-bridge": f"{p}-sup-x-bridge-1",
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

    host = Hosted(m)

    def concerns_host(event: Any) -> bool:
        if isinstance(event, BridgeDestroyed):
            return event.bridge.id in host.bridges
        return concerns(event)

    r = Replay(host, ids, concerns_host)
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
    from core.supervision import SupervisionSettings

    s = Sup(
        m=SupervisionMachine(
            "c1",
            "s1",
            "PJSIP/agent-1002",
            AGENT,
            CALL_BRIDGE,
            SupervisionSettings(notify_agent=("sound:conf-now-recording",), language="en"),
        )
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
    s.feed(entered(CALL_BRIDGE, LEG))
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
    assert s.m.state == SupervisionState.JOINING  # a 204 is not "in the bridge"
    s.feed(entered(BRIDGE, s.snoop_id()), entered(BRIDGE, LEG))
    assert s.m.state == SupervisionState.LISTENING


def test_a_voicemail_that_never_presses_1_is_never_bridged_into_the_call() -> None:
    for mode in (SupervisionMode.LISTEN, SupervisionMode.BARGE):
        s, _ = answered_guarded(mode)
        out = s.feed(TimerFired(name="supervisor_confirm"))
        assert HangupChannel(channel_id=LEG) in out
        # the snoop may wait in the private bridge; the supervisor's leg joins nothing
        assert not [c for c in s.commands if isinstance(c, AddToBridge) and LEG in c.channel_ids]
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
