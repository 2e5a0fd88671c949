"""Shared state of the simulated Asterisk and the helpers that emit ARI events.

`EngineBase` holds every live object and knows how to announce a change; the behaviour
lives in mixins (`bridging.BridgeOps`, `playbacks.PlaybackOps`) and in `engine.Engine`.
All of it runs on one asyncio loop, so nothing here needs a lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from pathlib import Path
from typing import Any, Protocol

from asterisk.sim import sounds
from asterisk.sim.apps import AppRegistry
from asterisk.sim.config import SimConfig
from asterisk.sim.model import (
    CAUSE_TEXT,
    Bridge,
    CallerId,
    Channel,
    ChannelKind,
    Counters,
    LiveRecording,
    Playback,
    ari_timestamp,
)
from asterisk.sim.phones import PhoneBook
from asterisk.sim.recordings import RecordingStore

log = logging.getLogger(__name__)


class SipSide(Protocol):
    """What the engine asks of the SIP-over-WebSocket side (`sip_ws.WebrtcEndpoints`)."""

    def is_webrtc(self, name: str) -> bool: ...

    def is_registered(self, name: str) -> bool: ...

    def new_leg(self, channel: Channel, dialstring: str, via_dial: bool, endpoint: str,
                name: str) -> Any: ...


class AriError(Exception):
    """An ARI error answer: status and JSON body ({"message": ...} unless said otherwise)."""

    def __init__(self, status: int, message: str, key: str = "message") -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.body = {key: message}


def parse_caller_id(text: str) -> CallerId:
    """`"EVS CallPro" <+33100000000>` -> name, number."""
    text = text.strip()
    if "<" in text and text.endswith(">"):
        name, _, number = text[:-1].rpartition("<")
        return CallerId(name.strip().strip('"'), number.strip())
    return CallerId("", text)


class EngineBase:
    def __init__(self, config: SimConfig, recordings_dir: Path) -> None:
        self.config = config
        self.phones = PhoneBook(config)
        self.registry = AppRegistry(config.asterisk_id)
        self.store = RecordingStore(recordings_dir)
        self.counters = Counters()
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.dissolving: dict[str, Bridge] = {}  # deleted with channels in: id still taken
        self.playbacks: dict[str, Playback] = {}
        self.channel_playbacks: dict[str, deque[Playback]] = {}
        self.live_recordings: dict[str, LiveRecording] = {}
        self.startup_time = ari_timestamp()
        self.originates = 0
        self.sip: SipSide | None = None  # the SIP-over-WebSocket side (sip_ws.py), if served
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    # ------------------------------------------------------------------ event helpers
    def _emit(self, app: str, kind: str, **fields: Any) -> None:
        event: dict[str, Any] = {"type": kind, "timestamp": ari_timestamp()}
        event.update(fields)
        self.registry.deliver(app, event)

    def _chan_event(self, channel: Channel, kind: str, **fields: Any) -> None:
        if channel.app:
            self._emit(channel.app, kind, channel=channel.json(), **fields)

    def _varset(self, channel: Channel, variable: str, value: str) -> None:
        channel.variables[variable] = value
        if channel.app:
            self._emit(channel.app, "ChannelVarset", variable=variable, value=value,
                       channel=channel.json())

    def _set_state(self, channel: Channel, state: str) -> None:
        if channel.state != state:
            log.debug("channel %s state %s -> %s", channel.id, channel.state, state)
            channel.state = state
            self._chan_event(channel, "ChannelStateChange")

    def _hangup_request(self, channel: Channel, cause: int | None, soft: bool = False,
                        tech_cause: int | None = None) -> None:
        # W02 A: a BYE without Reason gives a HangupRequest with no cause key at all
        fields: dict[str, Any] = {} if cause is None else {"cause": cause}
        if soft:
            fields["soft"] = True
        if tech_cause is not None:
            fields["tech_cause"] = tech_cause
        self._chan_event(channel, "ChannelHangupRequest", **fields)

    def _destroyed(self, channel: Channel, cause: int, tech_cause: int | None = None) -> None:
        fields: dict[str, Any] = {"cause": cause, "cause_txt": CAUSE_TEXT.get(cause, "Unknown")}
        if tech_cause is not None:
            fields["tech_cause"] = tech_cause
        # S01: a destroyed channel is back at its originate location; a ;2 at none
        channel.dialplan.app_name, channel.dialplan.app_data = channel.home_app
        if channel.pending_callerid:
            self._apply_peer_connected(channel)
        if channel.kind is not ChannelKind.SNOOP:  # S11: a snoop has no ChannelDestroyed
            self._chan_event(channel, "ChannelDestroyed", **fields)
        if channel.pending_callerid:  # S01: a ;2 reports its caller id after dying
            self._emit_callerid(channel, after_death=True)
        self._forget(channel)

    def _forget(self, channel: Channel) -> None:
        if self.channels.get(channel.id) is channel:
            del self.channels[channel.id]
            self._channels_changed(channel)
        if channel.app:
            self.registry.remove_channel(channel.app, channel.id)
        queue = self.channel_playbacks.pop(channel.id, None)
        for playback in queue or ():
            if playback.task is not None:
                playback.task.cancel()
            if self.playbacks.get(playback.id) is playback:
                del self.playbacks[playback.id]

    def _channels_changed(self, channel: Channel) -> None:
        """A channel of a PJSIP endpoint came or went (EndpointStateChange, endpoints.py)."""

    # ------------------------------------------------------------------ lookups
    def channel(self, channel_id: str, message: str = "Channel not found",
                status: int = 404) -> Channel:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise AriError(status, message)
        return channel

    def stasis_channel(self, channel_id: str) -> Channel:
        channel = self.channel(channel_id)
        if not channel.in_stasis:
            raise AriError(409, "Channel not in Stasis application")
        return channel

    def bridge(self, bridge_id: str) -> Bridge:
        bridge = self.bridges.get(bridge_id)
        if bridge is None:
            raise AriError(404, "Bridge not found")
        return bridge

    def sound_seconds(self, name: str, language: str = "en") -> float:
        """Length of `sound:name` in `language` (asterisk/sim/sounds.py); negative: missing."""
        return sounds.sound_seconds(name, language, self.config.sounds)

    def list_sounds(self, lang: str | None, fmt: str | None) -> list[dict[str, Any]]:
        found = sounds.list_sounds(self.config.sounds, lang, fmt)
        if not found:
            raise AriError(404, "No sounds found that matched the query")
        return found

    def get_sound(self, name: str) -> dict[str, Any]:
        found = sounds.sound_json(name, self.config.sounds)
        if found is None:
            raise AriError(404, "Sound not found")
        return found

    def _media_reaches(self, channel: Channel) -> None:
        """Audio now flows toward a Local ;1 (bridge, MOH, playback): its ;2, waiting in
        Answer() for media, moves on (Asterisk waits up to 500 ms, S01 vs S13 D)."""
        two = channel.peer if channel.kind is ChannelKind.LOCAL_1 else None
        leg = two.leg if two is not None else None
        event = getattr(leg, "media", None)
        if isinstance(event, asyncio.Event):
            event.set()

    def _apply_peer_connected(self, two: Channel) -> None:
        """A Local ;2's caller id becomes its ;1's connected line (applied lazily, S01)."""
        one = two.peer
        if one is not None:
            two.caller = CallerId(one.connected.name, one.connected.number)

    def _emit_callerid(self, channel: Channel, after_death: bool = False) -> None:
        """ChannelCallerId on a Local ;2; "Number Unavailable" only for the empty caller
        reported after the channel died (S01, S10), "Allowed" otherwise (S11 sup-2)."""
        if channel.pending_callerid:
            self._apply_peer_connected(channel)
        channel.pending_callerid = False
        if not (after_death and not channel.caller.number):
            self._chan_event(channel, "ChannelCallerId", caller_presentation=0,
                             caller_presentation_txt="Presentation Allowed, Not Screened")
        else:
            self._chan_event(channel, "ChannelCallerId", caller_presentation=67,
                             caller_presentation_txt="Number Unavailable")
