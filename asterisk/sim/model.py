"""Live objects of the simulated Asterisk: channels, bridges, playbacks, recordings.

Mutable on purpose (the engine is their only writer, on one event loop); each knows how
to render its ARI JSON snapshot. Names follow Asterisk 22: `Local/<exten>@<ctx>-<8 hex>;1`,
`PJSIP/<endpoint>-<8 hex>`, `Snoop/<spied id>-<8 hex>`, `Recorder/ARI-<8 hex>;2`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


def ari_timestamp(epoch: float | None = None) -> str:
    """Asterisk's format: 2026-11-26T20:54:51.378+0000."""
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class ChannelKind(StrEnum):
    LOCAL_1 = "local;1"
    LOCAL_2 = "local;2"
    PJSIP = "pjsip"
    SNOOP = "snoop"


CAUSE_TEXT: dict[int, str] = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    27: "Destination out of order",
    28: "Invalid number format (incomplete number)",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    58: "Bearer capability not available",
    127: "Interworking, unspecified",
}

# DELETE /channels/{id}?reason=... -> Q.850 cause (Asterisk's ari/resource_channels.c)
HANGUP_REASONS: dict[str, int] = {
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 19,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 38,
    "answered_elsewhere": 26,
}

# Q.850 cause -> SIP response Asterisk puts on the wire (and in tech_cause)
CAUSE_TO_SIP: dict[int, int] = {1: 404, 17: 486, 19: 480, 21: 403, 34: 503, 38: 500, 127: 500}
SIP_TO_CAUSE: dict[int, int] = {404: 1, 486: 17, 480: 19, 603: 21, 403: 21, 503: 34, 487: 16}


@dataclass(slots=True)
class CallerId:
    name: str = ""
    number: str = ""

    def json(self) -> dict[str, str]:
        return {"name": self.name, "number": self.number}


@dataclass(slots=True)
class Dialplan:
    context: str
    exten: str
    priority: int = 1
    app_name: str = ""
    app_data: str = ""

    def json(self) -> dict[str, Any]:
        return {
            "context": self.context,
            "exten": self.exten,
            "priority": self.priority,
            "app_name": self.app_name,
            "app_data": self.app_data,
        }


@dataclass(slots=True, eq=False)
class Channel:
    id: str
    name: str
    kind: ChannelKind
    app: str  # the Stasis app subscribed to this channel's events
    dialplan: Dialplan
    state: str = "Down"
    protocol_id: str = ""
    caller: CallerId = field(default_factory=CallerId)
    connected: CallerId = field(default_factory=CallerId)
    language: str = "en"
    creationtime: str = field(default_factory=ari_timestamp)
    variables: dict[str, str] = field(default_factory=dict)
    in_stasis: bool = False
    stasis_args: list[str] = field(default_factory=list)
    bridge_id: str | None = None
    peer: Channel | None = None  # the other Local half
    leg: Any = None  # engine.FarEnd driving this channel, if any
    snoops: list[str] = field(default_factory=list)
    spied_id: str | None = None
    hanging_up: bool = False
    moh: bool = False
    ringing: bool = False
    answered_at: float | None = None
    had_media: bool = False  # answered or early media: PJSIP reports RTP QoS on hang-up
    pending_callerid: bool = False  # Local ;2: a caller-id update not yet reported
    home_app: tuple[str, str] = ("", "")  # dialplan app shown again once Stasis is left

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": self.protocol_id,
            "caller": self.caller.json(),
            "connected": self.connected.json(),
            "accountcode": "",
            "dialplan": self.dialplan.json(),
            "creationtime": self.creationtime,
            "language": self.language,
        }


@dataclass(slots=True, eq=False)
class Bridge:
    id: str
    bridge_type: str = "mixing"
    name: str = ""
    creationtime: str = field(default_factory=ari_timestamp)
    members: list[str] = field(default_factory=list)
    apps: dict[str, int] = field(default_factory=dict)  # app -> subscription count
    recording: str | None = None
    recorder_name: str = ""
    native_rtp: bool = False  # two answered PJSIP legs bridged directly (QoS ...BRIDGED)
    tech: str = "simple_bridge"  # re-evaluated after each change, not during it (V4)

    @property
    def technology(self) -> str:
        return "holding_bridge" if self.bridge_type == "holding" else self.tech

    def settle_technology(self) -> None:
        """Asterisk picks the bridge technology after a change: softmix from three
        parties (the recorder counts), native_rtp for two answered PJSIP legs."""
        parties = len(self.members) + (1 if self.recorder_name else 0)
        if parties >= 3:
            self.tech = "softmix"
        elif self.native_rtp:
            self.tech = "native_rtp"
        else:
            self.tech = "simple_bridge"

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "technology": self.technology,
            "bridge_type": self.bridge_type,
            "bridge_class": "stasis",
            "creator": "Stasis",
            "name": self.name,
            "channels": list(self.members),
            "creationtime": self.creationtime,
            "video_mode": "talker",
        }


@dataclass(slots=True, eq=False)
class Playback:
    id: str
    media: list[str]
    target_uri: str
    language: str
    app: str
    channel_id: str
    index: int = 0
    state: str = "queued"
    task: asyncio.Task[None] | None = None

    @property
    def media_uri(self) -> str:
        return self.media[self.index]

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "media_uri": self.media_uri}
        if self.index + 1 < len(self.media):
            body["next_media_uri"] = self.media[self.index + 1]
        body.update(target_uri=self.target_uri, language=self.language, state=self.state)
        return body


@dataclass(slots=True, eq=False)
class LiveRecording:
    name: str
    format: str
    target_uri: str
    bridge_id: str
    started_at: float
    state: str = "queued"
    max_duration_s: float = 0.0
    announced: bool = False  # RecordingStarted sent (a bridge with members)
    append: bool = False
    timer: asyncio.TimerHandle | None = None

    def json(self, duration: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "format": self.format,
            "state": self.state,
            "target_uri": self.target_uri,
        }
        if duration is not None:
            body["duration"] = duration
        return body


@dataclass(slots=True)
class Counters:
    """Asterisk's global channel-name counters (lowercase 8-hex)."""

    unique: int = 0  # Local and Recorder channels
    pjsip: int = 0
    snoop: int = 0
    uniqueid: int = 0
    epoch: int = field(default_factory=lambda: int(time.time()))

    def next_uniqueid(self) -> str:
        """Asterisk's channel uniqueid, used when the client gives no id: 1795726706.262."""
        self.uniqueid += 1
        return f"{self.epoch}.{self.uniqueid}"

    def next_unique(self) -> str:
        value = f"{self.unique:08x}"
        self.unique += 1
        return value

    def next_pjsip(self) -> str:
        """chan_pjsip numbers its channels on its own (P01: carrier-00000000 next to
        Recorder/ARI-00000000)."""
        value = f"{self.pjsip:08x}"
        self.pjsip += 1
        return value

    def next_snoop(self) -> str:
        value = f"{self.snoop:08x}"
        self.snoop += 1
        return value
