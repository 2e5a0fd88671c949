"""What the core asks of Asterisk: one frozen Struct per ARI operation it uses.

Machines emit these; the ARI port (actors/ari_port.py) turns each into one REST request and
answers the emitting actor with `AriCommandSucceeded` or `AriCommandFailed` carrying the same
command, so a machine learns of an HTTP error as an ordinary input, never as an exception.
"""

from __future__ import annotations

from typing import Any

import msgspec


class _Command(msgspec.Struct, frozen=True, tag_field="op"):
    pass


class OriginateChannel(_Command, frozen=True, tag="originate"):
    """POST /channels/{channel_id}. With a Local endpoint, Asterisk names the ;2 half
    `other_channel_id`; channel variables land on that ;2 half (see the traces)."""

    channel_id: str
    endpoint: str
    app: str
    app_args: str = ""
    caller_id: str = ""
    timeout_s: int = 30
    variables: dict[str, str] = {}
    other_channel_id: str | None = None
    originator: str | None = None


class CreateChannel(_Command, frozen=True, tag="create"):
    """POST /channels/create: the channel exists in Stasis before it is dialed."""

    channel_id: str
    endpoint: str
    app: str
    app_args: str = ""
    variables: dict[str, str] = {}
    other_channel_id: str | None = None
    originator: str | None = None


class DialChannel(_Command, frozen=True, tag="dial"):
    """POST /channels/{channel_id}/dial on a created channel."""

    channel_id: str
    caller: str | None = None
    timeout_s: int = 30


class AnswerChannel(_Command, frozen=True, tag="answer"):
    channel_id: str


class StartRinging(_Command, frozen=True, tag="ring"):
    channel_id: str


class StopRinging(_Command, frozen=True, tag="ring_stop"):
    channel_id: str


class StartMusicOnHold(_Command, frozen=True, tag="moh"):
    channel_id: str
    moh_class: str = "default"


class StopMusicOnHold(_Command, frozen=True, tag="moh_stop"):
    channel_id: str


class PlayMedia(_Command, frozen=True, tag="play"):
    """POST /channels/{channel_id}/play/{playback_id}; several media play one after another."""

    channel_id: str
    playback_id: str
    media: tuple[str, ...]
    lang: str = "en"


class StopPlayback(_Command, frozen=True, tag="playback_stop"):
    playback_id: str


class HangupChannel(_Command, frozen=True, tag="hangup"):
    """DELETE /channels/{channel_id}. `reason` is ARI's word (normal, busy, congestion,
    no_answer, ...); the real cause only shows in ChannelDestroyed."""

    channel_id: str
    reason: str = "normal"


class SetChannelVar(_Command, frozen=True, tag="setvar"):
    channel_id: str
    variable: str
    value: str


class SendDtmf(_Command, frozen=True, tag="dtmf"):
    channel_id: str
    dtmf: str


class SnoopChannel(_Command, frozen=True, tag="snoop"):
    """POST /channels/{channel_id}/snoop/{snoop_id}. spy/whisper: none, both, out, in."""

    channel_id: str
    snoop_id: str
    app: str
    spy: str = "both"
    whisper: str = "none"
    app_args: str = ""


class CreateBridge(_Command, frozen=True, tag="bridge_create"):
    bridge_id: str
    name: str = ""
    type: str = "mixing"


class AddToBridge(_Command, frozen=True, tag="bridge_add"):
    bridge_id: str
    channel_ids: tuple[str, ...]


class RemoveFromBridge(_Command, frozen=True, tag="bridge_remove"):
    bridge_id: str
    channel_ids: tuple[str, ...]


class DestroyBridge(_Command, frozen=True, tag="bridge_destroy"):
    bridge_id: str


class RecordBridge(_Command, frozen=True, tag="bridge_record"):
    bridge_id: str
    name: str
    format: str = "wav"
    if_exists: str = "fail"
    max_duration_s: int = 0
    beep: bool = False


class StopRecording(_Command, frozen=True, tag="recording_stop"):
    name: str


AriCommand = (
    OriginateChannel
    | CreateChannel
    | DialChannel
    | AnswerChannel
    | StartRinging
    | StopRinging
    | StartMusicOnHold
    | StopMusicOnHold
    | PlayMedia
    | StopPlayback
    | HangupChannel
    | SetChannelVar
    | SendDtmf
    | SnoopChannel
    | CreateBridge
    | AddToBridge
    | RemoveFromBridge
    | DestroyBridge
    | RecordBridge
    | StopRecording
)


class AriCommandSucceeded(msgspec.Struct, frozen=True, tag="ari_ok"):
    """The REST answer to a command: 2xx, with the decoded JSON body when there is one."""

    command: AriCommand
    status: int
    body: Any = None


class AriCommandFailed(msgspec.Struct, frozen=True, tag="ari_failed"):
    """An HTTP error (status >= 400, `message` from ARI's body) or no answer at all
    (status 0: connection refused, timeout)."""

    command: AriCommand
    status: int
    message: str


AriCommandOutcome = AriCommandSucceeded | AriCommandFailed
