"""The subset of ARI events the core understands, as frozen msgspec Structs.

Field names and shapes are Asterisk 22's (see tests/fixtures/ari-traces). Decoding is
lenient about extra keys (Asterisk adds fields between versions) and strict about types.
`decode_event` never raises: an event type the core does not use, or a malformed one,
comes back as `UnhandledEvent` carrying the raw type name and the reason.
"""

from __future__ import annotations

from typing import Any

import msgspec


class CallerId(msgspec.Struct, frozen=True):
    name: str = ""
    number: str = ""


class DialplanCEP(msgspec.Struct, frozen=True):
    context: str = ""
    exten: str = ""
    priority: int = 0
    app_name: str = ""
    app_data: str = ""


class Channel(msgspec.Struct, frozen=True):
    id: str
    name: str = ""
    state: str = "Down"
    protocol_id: str = ""
    caller: CallerId = CallerId()
    connected: CallerId = CallerId()
    accountcode: str = ""
    dialplan: DialplanCEP = DialplanCEP()
    creationtime: str = ""
    language: str = "en"
    channelvars: dict[str, str] | None = None


class Bridge(msgspec.Struct, frozen=True):
    id: str
    technology: str = ""
    bridge_type: str = "mixing"
    bridge_class: str = ""
    creator: str = ""
    name: str = ""
    channels: list[str] = []
    creationtime: str = ""
    video_mode: str = ""


class Playback(msgspec.Struct, frozen=True):
    id: str
    media_uri: str = ""
    target_uri: str = ""
    language: str = ""
    state: str = ""
    next_media_uri: str | None = None


class LiveRecording(msgspec.Struct, frozen=True):
    name: str
    format: str = ""
    state: str = ""
    target_uri: str = ""
    duration: int | None = None
    cause: str | None = None


class _Event(msgspec.Struct, frozen=True, tag_field="type", forbid_unknown_fields=False):
    timestamp: str = ""
    application: str = ""
    asterisk_id: str = ""


class StasisStart(_Event, frozen=True, tag="StasisStart"):
    channel: Channel = Channel(id="")
    args: list[str] = []
    replace_channel: Channel | None = None


class StasisEnd(_Event, frozen=True, tag="StasisEnd"):
    channel: Channel = Channel(id="")


class ChannelStateChange(_Event, frozen=True, tag="ChannelStateChange"):
    channel: Channel = Channel(id="")


class ChannelHangupRequest(_Event, frozen=True, tag="ChannelHangupRequest"):
    channel: Channel = Channel(id="")
    cause: int = 0
    soft: bool = False
    tech_cause: int | None = None


class ChannelDestroyed(_Event, frozen=True, tag="ChannelDestroyed"):
    channel: Channel = Channel(id="")
    cause: int = 0
    cause_txt: str = ""
    tech_cause: int | None = None


class ChannelDtmfReceived(_Event, frozen=True, tag="ChannelDtmfReceived"):
    channel: Channel = Channel(id="")
    digit: str = ""
    duration_ms: int = 0


class ChannelVarset(_Event, frozen=True, tag="ChannelVarset"):
    variable: str = ""
    value: str = ""
    channel: Channel | None = None


class Dial(_Event, frozen=True, tag="Dial"):
    peer: Channel = Channel(id="")
    dialstatus: str = ""
    dialstring: str | None = None
    forward: str | None = None
    caller: Channel | None = None


class ChannelEnteredBridge(_Event, frozen=True, tag="ChannelEnteredBridge"):
    bridge: Bridge = Bridge(id="")
    channel: Channel | None = None


class ChannelLeftBridge(_Event, frozen=True, tag="ChannelLeftBridge"):
    bridge: Bridge = Bridge(id="")
    channel: Channel = Channel(id="")


class BridgeDestroyed(_Event, frozen=True, tag="BridgeDestroyed"):
    bridge: Bridge = Bridge(id="")


class PlaybackStarted(_Event, frozen=True, tag="PlaybackStarted"):
    playback: Playback = Playback(id="")


class PlaybackContinuing(_Event, frozen=True, tag="PlaybackContinuing"):
    playback: Playback = Playback(id="")


class PlaybackFinished(_Event, frozen=True, tag="PlaybackFinished"):
    playback: Playback = Playback(id="")


class RecordingStarted(_Event, frozen=True, tag="RecordingStarted"):
    recording: LiveRecording = LiveRecording(name="")


class RecordingFinished(_Event, frozen=True, tag="RecordingFinished"):
    recording: LiveRecording = LiveRecording(name="")


class RecordingFailed(_Event, frozen=True, tag="RecordingFailed"):
    recording: LiveRecording = LiveRecording(name="")


class ApplicationReplaced(_Event, frozen=True, tag="ApplicationReplaced"):
    pass


class UnhandledEvent(msgspec.Struct, frozen=True):
    """An event the core does not act on, or one that failed to decode (reason says why)."""

    type: str
    reason: str = ""


AriEvent = (
    StasisStart
    | StasisEnd
    | ChannelStateChange
    | ChannelHangupRequest
    | ChannelDestroyed
    | ChannelDtmfReceived
    | ChannelVarset
    | Dial
    | ChannelEnteredBridge
    | ChannelLeftBridge
    | BridgeDestroyed
    | PlaybackStarted
    | PlaybackContinuing
    | PlaybackFinished
    | RecordingStarted
    | RecordingFinished
    | RecordingFailed
    | ApplicationReplaced
)

HANDLED_TYPES: frozenset[str] = frozenset(
    cls.__struct_config__.tag
    for cls in AriEvent.__args__
)

_json_decoder: msgspec.json.Decoder[AriEvent] = msgspec.json.Decoder(AriEvent)


def decode_event(raw: dict[str, Any]) -> AriEvent | UnhandledEvent:
    """Turn one already-parsed event dict (as aioari hands it) into a typed Struct."""
    kind = raw.get("type")
    if not isinstance(kind, str):
        return UnhandledEvent(type="?", reason="event has no 'type'")
    if kind not in HANDLED_TYPES:
        return UnhandledEvent(type=kind)
    try:
        event: AriEvent = msgspec.convert(raw, AriEvent)
        return event
    except msgspec.ValidationError as exc:
        return UnhandledEvent(type=kind, reason=str(exc))


def decode_event_json(data: bytes | str) -> AriEvent | UnhandledEvent:
    """Decode one raw events-WebSocket message."""
    try:
        return _json_decoder.decode(data)
    except msgspec.ValidationError as exc:
        # Unknown tag or wrong field type: fall back to the dict path for a precise verdict.
        try:
            raw = msgspec.json.decode(data)
        except msgspec.DecodeError:
            return UnhandledEvent(type="?", reason=str(exc))
        if isinstance(raw, dict):
            return decode_event(raw)
        return UnhandledEvent(type="?", reason=str(exc))
    except msgspec.DecodeError as exc:
        return UnhandledEvent(type="?", reason=str(exc))


def event_channel_id(event: AriEvent | UnhandledEvent) -> str | None:
    """The channel an event is about (Dial: the dialed peer), for routing."""
    match event:
        case Dial(peer=peer):
            return peer.id
        case ChannelEnteredBridge(channel=channel) | ChannelVarset(channel=channel):
            return channel.id if channel is not None else None
        case (
            StasisStart(channel=channel)
            | StasisEnd(channel=channel)
            | ChannelStateChange(channel=channel)
            | ChannelHangupRequest(channel=channel)
            | ChannelDestroyed(channel=channel)
            | ChannelDtmfReceived(channel=channel)
            | ChannelLeftBridge(channel=channel)
        ):
            return channel.id
        case _:
            return None
