"""Switchboard routing: each typed event reaches the owner of its channel / bridge / playback /
recording, bridge membership reaches both owners, unknown ids are dropped and counted."""

from __future__ import annotations

import threading
from typing import Any

import pykka
import pytest

from actors.messages import Arrived, ClaimRoutes, GetStats, ReleaseRoutes
from actors.switchboard import Routes, Switchboard
from core.ari_events import decode_event


class Collector(pykka.ThreadingActor):
    def __init__(self, expected: int) -> None:
        super().__init__()
        self.got: list[Any] = []
        self.expected = expected
        self.done = threading.Event()

    def on_receive(self, message: Any) -> Any:
        if message == "get":
            return list(self.got)
        self.got.append(message)
        if len(self.got) >= self.expected:
            self.done.set()
        return None


def ev(kind: str, **fields: Any) -> Any:
    return decode_event({"type": kind, **fields})


@pytest.fixture
def board() -> Any:
    ref = Switchboard.start()
    yield ref
    pykka.ActorRegistry.stop_all()


def test_routes_by_channel_bridge_playback_and_recording(board: Any) -> None:
    call = Collector.start(expected=6)
    bridge_owner = Collector.start(expected=2)
    board.tell(
        ClaimRoutes(
            owner=call,
            channel_ids=("c1-agent", "c1-agent-2"),
            playback_ids=("pb1",),
            recording_names=("rec1",),
        )
    )
    board.tell(ClaimRoutes(owner=bridge_owner, bridge_ids=("b1",)))

    board.tell(ev("StasisStart", channel={"id": "c1-agent", "state": "Up"}, args=["agent", "c1"]))
    board.tell(ev("ChannelVarset", variable="X", value="1", channel={"id": "c1-agent-2"}))
    board.tell(ev("Dial", peer={"id": "c1-agent"}, dialstatus="RINGING"))
    board.tell(ev("PlaybackStarted", playback={"id": "pb1", "target_uri": "channel:c1-agent"}))
    board.tell(ev("RecordingStarted", recording={"name": "rec1", "target_uri": "bridge:b1"}))
    board.tell(ev("ChannelEnteredBridge", bridge={"id": "b1"}, channel={"id": "c1-agent"}))
    board.tell(ev("BridgeDestroyed", bridge={"id": "b1"}))
    board.tell(ev("StasisStart", channel={"id": "stranger"}))

    assert call.proxy().done.get().wait(10)
    assert bridge_owner.proxy().done.get().wait(10)
    got = [type(m).__name__ for m in call.ask("get")]
    assert got == [
        "StasisStart",
        "ChannelVarset",
        "Dial",
        "PlaybackStarted",
        "RecordingStarted",
        "ChannelEnteredBridge",
    ]
    assert [type(m).__name__ for m in bridge_owner.ask("get")] == [
        "ChannelEnteredBridge",
        "BridgeDestroyed",
    ]
    stats = board.ask(GetStats())
    assert stats.dropped == 1
    assert stats.routed == 8


def test_playback_falls_back_to_target_channel_and_release_stops_routing(board: Any) -> None:
    call = Collector.start(expected=1)
    board.tell(ClaimRoutes(owner=call, channel_ids=("c2-agent",)))
    board.tell(
        ev("PlaybackFinished", playback={"id": "unclaimed", "target_uri": "channel:c2-agent"})
    )
    assert call.proxy().done.get().wait(10)
    board.tell(ReleaseRoutes(channel_ids=("c2-agent",)))
    board.tell(ev("StasisEnd", channel={"id": "c2-agent"}))
    stats = board.ask(GetStats())  # asks are queued behind the tells: all handled
    assert stats.routes == 0
    assert stats.dropped == 1
    assert len(call.ask("get")) == 1  # type: ignore[arg-type]


def test_unknown_and_malformed_events_are_counted_not_fatal(board: Any) -> None:
    board.tell(ev("ChannelTalkingStarted", channel={"id": "x"}))
    board.tell(ev("StasisStart", channel="not a channel"))
    board.tell(object())
    stats = board.ask(GetStats())
    assert stats.unhandled == 2
    assert board.is_alive()


def test_dead_owner_is_forgotten(board: Any) -> None:
    call = Collector.start(expected=1)
    board.tell(ClaimRoutes(owner=call, channel_ids=("c3", "c3-2")))
    call.stop()
    board.tell(ev("StasisEnd", channel={"id": "c3"}))
    stats = board.ask(GetStats())
    assert stats.routes == 0
    assert stats.dropped == 1


def test_stasis_start_nobody_owns_is_reported_other_unowned_events_are_not() -> None:
    reported: list[str] = []
    seen = threading.Event()

    def unowned(channel_id: str) -> None:
        reported.append(channel_id)
        seen.set()

    board: Any = Switchboard.start(on_unowned_stasis=unowned)
    try:
        owner = Collector.start(expected=1)
        board.tell(ClaimRoutes(owner=owner, channel_ids=("c1-agent",)))
        board.tell(ev("ChannelVarset", variable="X", value="1", channel={"id": "late-customer"}))
        board.tell(ev("StasisStart", channel={"id": "c1-agent"}, args=["agent", "c1"]))
        board.tell(ev("StasisStart", channel={"id": "late-customer"}, args=["customer", "c9"]))
        assert seen.wait(2)
        assert owner.proxy().done.get().wait(2)
        stats = board.ask(GetStats())
        assert stats.dropped == 2
        assert reported == ["late-customer"]  # the owned one and the Varset are not reported
    finally:
        pykka.ActorRegistry.stop_all()


# ---------------------------------------------------------------- Routes: the direct lane
def test_routes_shared_with_the_switchboard_route_on_the_callers_thread() -> None:
    """A claim applied on the actor's thread is in force at once: an event routed right after
    it, from another thread (the ARI link's loop), reaches the owner without any hop through
    the Switchboard actor, which sees the same table (GetStats)."""
    routes = Routes()
    board: Any = Switchboard.start(routes=routes)
    try:
        owner = Collector.start(expected=2)
        routes.claim(ClaimRoutes(owner=owner, channel_ids=("c1-agent",)))
        arrived = Arrived(event=ev("StasisStart", channel={"id": "c1-agent"}), at=0.0)
        link = threading.Thread(target=routes.route, args=(arrived,))
        link.start()
        link.join(2)
        board.tell(ev("ChannelVarset", variable="X", value="1", channel={"id": "c1-agent"}))
        assert owner.proxy().done.get().wait(2)
        got = owner.ask("get")
        assert got[0] is arrived  # the envelope itself, its arrival time kept
        assert type(got[1]).__name__ == "ChannelVarset"
        stats = board.ask(GetStats())
        assert (stats.routed, stats.dropped, stats.routes) == (2, 0, 1)
        routes.release(ReleaseRoutes(channel_ids=("c1-agent",)))
        routes.route(ev("ChannelVarset", variable="X", value="2", channel={"id": "c1-agent"}))
        stats = board.ask(GetStats())
        assert (stats.routed, stats.dropped, stats.routes) == (2, 1, 0)
    finally:
        pykka.ActorRegistry.stop_all()


def test_routes_forget_a_dead_owner_and_count_unhandled_and_unowned() -> None:
    reported: list[str] = []
    routes = Routes(on_unowned_stasis=reported.append)
    owner = Collector.start(expected=1)
    try:
        routes.claim(ClaimRoutes(owner=owner, channel_ids=("c1-agent", "c1-customer")))
        owner.stop()
        routes.route(ev("ChannelVarset", variable="X", value="1", channel={"id": "c1-agent"}))
        routes.route(Arrived(event=decode_event({"type": "ChannelTalkingStarted"}), at=0.0))
        routes.route(ev("StasisStart", channel={"id": "stray"}))
        stats = routes.stats()
        assert (stats.routed, stats.dropped, stats.unhandled) == (0, 2, 1)
        assert stats.routes == 0  # the dead owner's other channel is forgotten too
        assert reported == ["stray"]
    finally:
        pykka.ActorRegistry.stop_all()


def test_an_executor_with_shared_routes_claims_before_sending_and_releases_at_once() -> None:
    """With `deps.routes`, the ids a command creates are routed to the actor by the time the
    port is asked to send it (no message to the Switchboard in between), and released on
    the actor's thread when it ends."""
    from actors.commands import CommandExecutor
    from actors.deps import ActorDeps
    from core.ari_commands import CreateBridge, OriginateChannel

    routes = Routes()
    owner = Collector.start(expected=1)
    seen_at_send: list[int] = []

    class Port:
        def send(self, command: Any, reply_to: Any) -> None:
            seen_at_send.append(routes.stats().routes)

    class NoSwitchboard:
        def tell(self, message: Any) -> None:
            raise AssertionError(f"told the Switchboard {message!r}")

    class NoTimers:
        def cancel_all(self, scope: str) -> None:
            pass

    deps = ActorDeps(
        switchboard=NoSwitchboard(),  # type: ignore[arg-type]
        port=Port(),  # type: ignore[arg-type]
        timers=NoTimers(),  # type: ignore[arg-type]
        sink=None,  # type: ignore[arg-type]
        routes=routes,
    )
    try:
        executor = CommandExecutor(deps, owner, "c1")
        executor.send_ari(
            OriginateChannel(endpoint="PJSIP/+33611111111@trunk", channel_id="c1-agent", app="t")
        )
        executor.send_ari(CreateBridge(bridge_id="c1"))
        assert seen_at_send == [1, 2]
        routes.route(ev("StasisStart", channel={"id": "c1-agent"}))
        assert owner.proxy().done.get().wait(2)
        executor.release_all()
        assert routes.stats().routes == 0
    finally:
        pykka.ActorRegistry.stop_all()
