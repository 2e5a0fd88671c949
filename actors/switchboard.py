"""The Switchboard: routes each typed ARI event to the actor that owns its channel, bridge,
playback or recording.

Owners register their ids (chosen client-side before the command is sent, so no event can
arrive before the route) with `ClaimRoutes` and drop them with `ReleaseRoutes`. An event
nobody owns is dropped with a debug log and counted; a StasisStart nobody owns (a channel of
our app that no actor expects: maybe an orphan) is also reported to `on_unowned_stasis`.
Bridge membership events go to both the channel's owner and the bridge's owner when they
differ.

`Routes` is the table with its counters, shared by the Switchboard actor and, in the core
(evscallpro/root.py), by the ARI link and the actors themselves: an actor's claims and
releases are applied at once, on its own thread, before its command is sent (a few dict
operations under a lock), and the link routes each decoded event on the loop thread, straight
to its owner's inbox. Each event then crosses one thread boundary instead of two (issue 12's
profile: the hops, not the machines, were the cost). The Switchboard actor still takes every
message it took before (claims, releases, events told by the reconciler or tests, GetStats)
and applies them to the same Routes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pykka

from actors.messages import (
    Arrived,
    ClaimRoutes,
    GetStats,
    ReleaseRoutes,
    SwitchboardStats,
    Teller,
)
from actors.runtime import PooledActor
from core.ari_events import (
    AriEvent,
    BridgeDestroyed,
    ChannelEnteredBridge,
    ChannelLeftBridge,
    PlaybackContinuing,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    StasisStart,
    UnhandledEvent,
    event_channel_id,
)

log = logging.getLogger(__name__)


def _target(uri: str, kind: str) -> str | None:
    """'channel:abc' -> 'abc' when kind == 'channel'."""
    prefix = kind + ":"
    return uri[len(prefix) :] if uri.startswith(prefix) else None


class RoutingTable:
    """Plain routing state (no threads): id -> owner, per id kind."""

    def __init__(self) -> None:
        self.channels: dict[str, Teller] = {}
        self.bridges: dict[str, Teller] = {}
        self.playbacks: dict[str, Teller] = {}
        self.recordings: dict[str, Teller] = {}

    def claim(self, msg: ClaimRoutes) -> None:
        for table, keys in self._tables(msg):
            for key in keys:
                table[key] = msg.owner

    def release(self, msg: ReleaseRoutes) -> None:
        for table, keys in self._tables(msg):
            for key in keys:
                table.pop(key, None)

    def forget_owner(self, owner: Teller) -> None:
        for table in (self.channels, self.bridges, self.playbacks, self.recordings):
            for key in [k for k, v in table.items() if v == owner]:
                del table[key]

    def size(self) -> int:
        return len(self.channels) + len(self.bridges) + len(self.playbacks) + len(self.recordings)

    def _tables(
        self, msg: ClaimRoutes | ReleaseRoutes
    ) -> list[tuple[dict[str, Teller], tuple[str, ...]]]:
        return [
            (self.channels, msg.channel_ids),
            (self.bridges, msg.bridge_ids),
            (self.playbacks, msg.playback_ids),
            (self.recordings, msg.recording_names),
        ]

    def owners_of(self, event: AriEvent) -> list[Teller]:
        """The distinct owners `event` must reach (possibly none)."""
        owners: list[Teller] = []

        def add(owner: Teller | None) -> None:
            if owner is not None and owner not in owners:
                owners.append(owner)

        match event:
            case ChannelEnteredBridge() | ChannelLeftBridge():
                channel_id = event_channel_id(event)
                if channel_id:
                    add(self.channels.get(channel_id))
                add(self.bridges.get(event.bridge.id))
            case BridgeDestroyed():
                add(self.bridges.get(event.bridge.id))
            case PlaybackStarted() | PlaybackContinuing() | PlaybackFinished():
                owner = self.playbacks.get(event.playback.id)
                if owner is None:
                    channel = _target(event.playback.target_uri, "channel")
                    owner = self.channels.get(channel) if channel else None
                add(owner)
            case RecordingStarted() | RecordingFinished() | RecordingFailed():
                owner = self.recordings.get(event.recording.name)
                if owner is None:
                    bridge = _target(event.recording.target_uri, "bridge")
                    owner = self.bridges.get(bridge) if bridge else None
                add(owner)
            case _:
                channel_id = event_channel_id(event)
                if channel_id:
                    add(self.channels.get(channel_id))
        return owners


class Routes:
    """The routing table and its counters, safe to use from any thread (see the module)."""

    def __init__(self, on_unowned_stasis: Callable[[str], None] | None = None) -> None:
        self.on_unowned_stasis = on_unowned_stasis
        self.table = RoutingTable()
        self.routed = 0
        self.dropped = 0
        self.unhandled = 0
        self._lock = threading.Lock()  # held for dict operations only, never while telling

    def claim(self, msg: ClaimRoutes) -> None:
        with self._lock:
            self.table.claim(msg)

    def release(self, msg: ReleaseRoutes) -> None:
        with self._lock:
            self.table.release(msg)

    def stats(self) -> SwitchboardStats:
        with self._lock:
            return SwitchboardStats(
                routed=self.routed,
                dropped=self.dropped,
                unhandled=self.unhandled,
                routes=self.table.size(),
            )

    def route(self, message: object) -> None:
        """An `Arrived` (or a bare event) to every owner of its event; any thread."""
        event = message.event if isinstance(message, Arrived) else message
        if isinstance(event, UnhandledEvent):
            with self._lock:
                self.unhandled += 1
            return
        if not isinstance(event, AriEvent):
            with self._lock:
                self.dropped += 1
            log.warning("Switchboard: not a routable message: %s", type(message).__name__)
            return
        with self._lock:
            owners = self.table.owners_of(event)
            if not owners:
                self.dropped += 1
        if not owners:
            log.debug("no owner for %s (%s)", type(event).__name__, event_channel_id(event))
            if isinstance(event, StasisStart) and self.on_unowned_stasis is not None:
                self.on_unowned_stasis(event.channel.id)
            return
        told = 0
        for owner in owners:
            try:
                owner.tell(message)
                told += 1
            except pykka.ActorDeadError:
                with self._lock:
                    self.table.forget_owner(owner)
        with self._lock:
            self.routed += told
            self.dropped += len(owners) - told


class Switchboard(PooledActor):
    def __init__(
        self,
        on_unowned_stasis: Callable[[str], None] | None = None,
        routes: Routes | None = None,
    ) -> None:
        super().__init__()
        self.routes = routes if routes is not None else Routes(on_unowned_stasis)
        self.table = self.routes.table

    def on_receive(self, message: object) -> SwitchboardStats | None:
        try:
            return self._handle(message)
        except Exception:  # a bad message must never stop the Switchboard
            log.exception("Switchboard failed on %s", type(message).__name__)
            return None

    def _handle(self, message: object) -> SwitchboardStats | None:
        match message:
            case ClaimRoutes():
                self.routes.claim(message)
            case ReleaseRoutes():
                self.routes.release(message)
            case GetStats():
                return self.routes.stats()
            case _:  # Arrived, or an event told directly (tests, the reconciler)
                self.routes.route(message)
        return None


SwitchboardRef = pykka.ActorRef[Switchboard]
"""How the other parts hold the Switchboard (typed; `tell` routes, `ask(GetStats())`)."""
