"""The Switchboard: routes each typed ARI event to the actor that owns its channel, bridge,
playback or recording.

Owners register their ids (chosen client-side before the command is sent, so no event can
arrive before the route) with `ClaimRoutes` and drop them with `ReleaseRoutes`. An event
nobody owns is dropped with a debug log and counted; a StasisStart nobody owns (a channel of
our app that no actor expects: maybe an orphan) is also reported to `on_unowned_stasis`.
Bridge membership events go to both the channel's owner and the bridge's owner when they
differ.
"""

from __future__ import annotations

import logging
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


class Switchboard(pykka.ThreadingActor):
    def __init__(self, on_unowned_stasis: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.on_unowned_stasis = on_unowned_stasis
        self.table = RoutingTable()
        self.routed = 0
        self.dropped = 0
        self.unhandled = 0

    def on_receive(self, message: object) -> SwitchboardStats | None:
        try:
            return self._handle(message)
        except Exception:  # a bad message must never stop the Switchboard
            log.exception("Switchboard failed on %s", type(message).__name__)
            return None

    def _handle(self, message: object) -> SwitchboardStats | None:
        match message:
            case ClaimRoutes():
                self.table.claim(message)
            case ReleaseRoutes():
                self.table.release(message)
            case GetStats():
                return SwitchboardStats(
                    routed=self.routed,
                    dropped=self.dropped,
                    unhandled=self.unhandled,
                    routes=self.table.size(),
                )
            case Arrived(event=UnhandledEvent()) | UnhandledEvent():
                self.unhandled += 1
            case Arrived(event=event) if not isinstance(event, UnhandledEvent):
                self._route(event, message)
            case _ if isinstance(message, AriEvent):  # told directly (tests, the reconciler)
                self._route(message, message)
            case _:
                self.dropped += 1
                log.warning("Switchboard: not a routable message: %s", type(message).__name__)
        return None

    def _route(self, event: AriEvent, envelope: Arrived | AriEvent) -> None:
        """Tell `envelope` (the event, or its Arrived wrapper) to every owner of `event`."""
        owners = self.table.owners_of(event)
        if not owners:
            self.dropped += 1
            log.debug("no owner for %s (%s)", type(event).__name__, event_channel_id(event))
            if isinstance(event, StasisStart) and self.on_unowned_stasis is not None:
                self.on_unowned_stasis(event.channel.id)
            return
        for owner in owners:
            try:
                owner.tell(envelope)
                self.routed += 1
            except pykka.ActorDeadError:
                self.table.forget_owner(owner)
                self.dropped += 1


SwitchboardRef = pykka.ActorRef[Switchboard]
"""How the other parts hold the Switchboard (typed; `tell` routes, `ask(GetStats())`)."""
