"""One ARI bridge, from its creation to Asterisk's word that it is gone.

A `BridgeMachine` owns ONE bridge id for its whole life. Its owner (a supervision today; the
call's own bridge later) picks a fresh id for every bridge it makes, never an id used before:
on a real Asterisk a deleted bridge's id is not free when DELETE answers 204 (a create under
the same id answered 409, then addChannel answered 404, see ../shared/ari-traces/README.md,
"Later facts"). A 409 on create is therefore a real answer: the machine reports
`BridgeOpenFailed` and its owner makes a new bridge under a new id.

What the machine knows it learns from Asterisk, not from its own requests: a 204 on addChannel
means "accepted", so membership comes only from ChannelEnteredBridge / ChannelLeftBridge, and
the bridge is gone only on BridgeDestroyed or a 404 to DELETE. A DELETE that fails (5xx, no
answer) or whose BridgeDestroyed does not come is sent again after a back-off.

Orders (owner -> machine) and the transition table (state: input -> commands, next state):

  creating  (start)                    -> CreateBridge                          -> creating
            CreateBridge ok            -> queued AddToBridge / RecordBridge,
                                          BridgeOpened                          -> open
            CreateBridge failed        -> BridgeOpenFailed, queued adds refused -> failed
                 (no answer: it may exist -> DestroyBridge                      -> closing)
            AddMembers / StartBridgeRecording -> queued
            CloseBridge                -> remembered; DELETE once created
  open      AddMembers(ids)            -> AddToBridge
            RemoveMembers(ids)         -> RemoveFromBridge
            StartBridgeRecording       -> RecordBridge;  StopBridgeRecording -> StopRecording
            AddToBridge failed         -> MembersRefused (404: bridge gone -> closed)
            ChannelEnteredBridge / ChannelLeftBridge -> MemberEntered / MemberLeft
            RecordingStarted / Finished / Failed, RecordBridge failed -> Recording* reports
            CloseBridge                -> DestroyBridge, timer confirm           -> closing
            BridgeDestroyed            -> BridgeClosed (vanished)                -> closed
  closing   DestroyBridge 404 / BridgeDestroyed -> BridgeClosed                 -> closed
            DestroyBridge failed (5xx, no answer) -> timer retry (back-off)
            timer confirm / retry      -> DestroyBridge again (a 404 confirms)
"""

from __future__ import annotations

import logging
from enum import StrEnum

import msgspec

from core.ari_commands import (
    AddToBridge,
    AriCommand,
    AriCommandFailed,
    AriCommandSucceeded,
    CreateBridge,
    DestroyBridge,
    RecordBridge,
    RemoveFromBridge,
    StopRecording,
)
from core.ari_events import (
    AriEvent,
    BridgeDestroyed,
    ChannelEnteredBridge,
    ChannelLeftBridge,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    UnhandledEvent,
)
from core.timers import CancelTimer, StartTimer, TimerCommand, TimerFired

log = logging.getLogger(__name__)

T_CONFIRM = "bridge_destroy_confirm"
T_RETRY = "bridge_destroy_retry"


class BridgeState(StrEnum):
    CREATING = "creating"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"
    FAILED = "failed"  # never created: nothing to destroy


# ----------------------------------------------------------------------------- orders
class AddMembers(msgspec.Struct, frozen=True, tag="bridge_add_members"):
    channel_ids: tuple[str, ...]


class RemoveMembers(msgspec.Struct, frozen=True, tag="bridge_remove_members"):
    channel_ids: tuple[str, ...]


class StartBridgeRecording(msgspec.Struct, frozen=True, tag="bridge_start_recording"):
    name: str
    format: str = "wav"
    if_exists: str = "fail"
    max_duration_s: int = 0
    beep: bool = False


class StopBridgeRecording(msgspec.Struct, frozen=True, tag="bridge_stop_recording"):
    pass


class CloseBridge(msgspec.Struct, frozen=True, tag="bridge_close"):
    pass


BridgeOrder = AddMembers | RemoveMembers | StartBridgeRecording | StopBridgeRecording | CloseBridge


# ----------------------------------------------------------------------------- reports
class BridgeOpened(msgspec.Struct, frozen=True, tag="bridge_opened"):
    bridge_id: str


class BridgeOpenFailed(msgspec.Struct, frozen=True, tag="bridge_open_failed"):
    bridge_id: str
    status: int
    message: str


class MemberEntered(msgspec.Struct, frozen=True, tag="bridge_member_entered"):
    bridge_id: str
    channel_id: str


class MemberLeft(msgspec.Struct, frozen=True, tag="bridge_member_left"):
    bridge_id: str
    channel_id: str


class MembersRefused(msgspec.Struct, frozen=True, tag="bridge_members_refused"):
    bridge_id: str
    channel_ids: tuple[str, ...]
    status: int
    message: str


class RecordingReport(msgspec.Struct, frozen=True, tag="bridge_recording"):
    bridge_id: str
    name: str
    state: str  # started | finished | failed
    duration_s: int | None = None
    message: str = ""


class BridgeClosed(msgspec.Struct, frozen=True, tag="bridge_closed"):
    """Asterisk confirmed the bridge is gone (BridgeDestroyed or 404); `asked`: we deleted it."""

    bridge_id: str
    asked: bool = True


BridgeReport = (
    BridgeOpened
    | BridgeOpenFailed
    | MemberEntered
    | MemberLeft
    | MembersRefused
    | RecordingReport
    | BridgeClosed
)

BridgeInput = BridgeOrder | AriCommandSucceeded | AriCommandFailed | TimerFired | AriEvent


class BridgeSettings(msgspec.Struct, frozen=True, kw_only=True):
    bridge_type: str = "mixing"
    # After a 204 to DELETE, how long BridgeDestroyed may take before DELETE is sent again.
    confirm_s: float = 2.0
    # Waits between DELETEs that failed (5xx, no answer); the last one repeats.
    retry_s: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


class BridgeMachine:
    def __init__(self, bridge_id: str, name: str = "", settings: BridgeSettings | None = None):
        self.bridge_id = bridge_id
        self.name = name
        self.settings = settings or BridgeSettings()
        self.members: set[str] = set()  # from ChannelEnteredBridge / ChannelLeftBridge only
        self.recording: str | None = None
        self._state = BridgeState.CREATING
        self._queued: list[AriCommand] = []
        self._create_sent = False
        self._close_asked = False
        self._destroy_attempts = 0
        self._timers: set[str] = set()
        self._commands: list[AriCommand | TimerCommand] = []
        self._reports: list[BridgeReport] = []

    # ----------------------------------------------------------------- surface
    @property
    def state(self) -> BridgeState:
        return self._state

    @property
    def is_finished(self) -> bool:
        return self._state in (BridgeState.CLOSED, BridgeState.FAILED)

    def open(self) -> None:
        """Send the create request (once, at the start)."""
        if self._state == BridgeState.CREATING and not self._create_sent:
            self._create_sent = True
            self._commands.append(
                CreateBridge(
                    bridge_id=self.bridge_id, name=self.name, type=self.settings.bridge_type
                )
            )

    def commands_to_send(self) -> list[AriCommand | TimerCommand]:
        commands, self._commands = self._commands, []
        return commands

    def reports_emitted(self) -> list[BridgeReport]:
        reports, self._reports = self._reports, []
        return reports

    def receive(self, inp: BridgeInput | UnhandledEvent) -> None:
        if self.is_finished:
            return
        match inp:
            case AddMembers() | RemoveMembers() | StartBridgeRecording() | StopBridgeRecording():
                self._order(inp)
            case CloseBridge():
                self._close()
            case AriCommandSucceeded(command=command):
                self._on_ok(command)
            case AriCommandFailed():
                self._on_failed(inp)
            case TimerFired(name=name) if name in self._timers:
                self._timers.discard(name)
                if self._state == BridgeState.CLOSING:
                    self._destroy()
            case ChannelEnteredBridge(bridge=bridge, channel=channel) if (
                channel is not None and bridge.id == self.bridge_id
            ):
                self.members.add(channel.id)
                self._reports.append(MemberEntered(self.bridge_id, channel.id))
            case ChannelLeftBridge(bridge=bridge, channel=channel) if bridge.id == self.bridge_id:
                self.members.discard(channel.id)
                self._reports.append(MemberLeft(self.bridge_id, channel.id))
            case BridgeDestroyed(bridge=bridge) if bridge.id == self.bridge_id:
                self._closed()
            case RecordingStarted(recording=rec) if rec.name == self.recording:
                self._reports.append(RecordingReport(self.bridge_id, rec.name, "started"))
            case RecordingFinished(recording=rec) if rec.name == self.recording:
                self.recording = None
                self._reports.append(
                    RecordingReport(self.bridge_id, rec.name, "finished", rec.duration)
                )
            case RecordingFailed(recording=rec) if rec.name == self.recording:
                self.recording = None
                self._reports.append(
                    RecordingReport(self.bridge_id, rec.name, "failed", message=rec.cause or "")
                )
            case _:
                pass

    # ----------------------------------------------------------------- orders
    def _order(self, order: BridgeOrder) -> None:
        command: AriCommand
        match order:
            case AddMembers(channel_ids=ids):
                command = AddToBridge(bridge_id=self.bridge_id, channel_ids=ids)
            case RemoveMembers(channel_ids=ids):
                command = RemoveFromBridge(bridge_id=self.bridge_id, channel_ids=ids)
            case StartBridgeRecording():
                self.recording = order.name
                command = RecordBridge(
                    bridge_id=self.bridge_id,
                    name=order.name,
                    format=order.format,
                    if_exists=order.if_exists,
                    max_duration_s=order.max_duration_s,
                    beep=order.beep,
                )
            case _:
                if self.recording is None:
                    return
                command = StopRecording(name=self.recording)
        if self._state == BridgeState.CREATING:
            self._queued.append(command)
        elif self._state == BridgeState.OPEN:
            self._commands.append(command)
        elif isinstance(command, AddToBridge):
            self._reports.append(
                MembersRefused(self.bridge_id, command.channel_ids, 0, "bridge closing")
            )

    def _close(self) -> None:
        self._close_asked = True
        if self._state == BridgeState.OPEN:
            self._state = BridgeState.CLOSING
            self._destroy()

    def _destroy(self) -> None:
        self._destroy_attempts += 1
        self._commands.append(DestroyBridge(bridge_id=self.bridge_id))

    # ----------------------------------------------------------------- outcomes
    def _on_ok(self, command: AriCommand) -> None:
        match command:
            case CreateBridge(bridge_id=bid) if bid == self.bridge_id:
                if self._state != BridgeState.CREATING:
                    return
                self._state = BridgeState.OPEN
                self._reports.append(BridgeOpened(self.bridge_id))
                if self._close_asked:  # closed before it existed: nothing to add
                    self._queued.clear()
                    self._state = BridgeState.CLOSING
                    self._destroy()
                    return
                self._commands.extend(self._queued)
                self._queued.clear()
            case DestroyBridge(bridge_id=bid) if bid == self.bridge_id:
                # 204 means accepted: wait for BridgeDestroyed, else ask again (404 confirms).
                self._start_timer(T_CONFIRM, self.settings.confirm_s)

    def _on_failed(self, failed: AriCommandFailed) -> None:
        status, message = failed.status, failed.message
        match failed.command:
            case CreateBridge(bridge_id=bid) if bid == self.bridge_id:
                log.warning("bridge %s: create -> %s %s", bid, status, message)
                refused = [c for c in self._queued if isinstance(c, AddToBridge)]
                self._queued.clear()
                self._reports.append(BridgeOpenFailed(bid, status, message))
                for add in refused:
                    self._reports.append(MembersRefused(bid, add.channel_ids, status, message))
                if status == 0:  # no answer: it may exist, make sure it does not
                    self._state = BridgeState.CLOSING
                    self._destroy()
                else:
                    self._state = BridgeState.FAILED
            case AddToBridge(bridge_id=bid, channel_ids=ids) if bid == self.bridge_id:
                self._reports.append(MembersRefused(bid, ids, status, message))
                if status == 404:  # "Bridge not found": it is gone
                    self._closed()
            case RecordBridge(bridge_id=bid, name=name) if bid == self.bridge_id:
                if self.recording == name:
                    self.recording = None
                self._reports.append(
                    RecordingReport(bid, name, "failed", message=f"http {status}: {message}")
                )
            case DestroyBridge(bridge_id=bid) if bid == self.bridge_id:
                if status == 404:
                    self._closed()
                else:
                    retry = self.settings.retry_s
                    wait = retry[min(self._destroy_attempts, len(retry)) - 1] if retry else 1.0
                    log.warning(
                        "bridge %s: DELETE -> %s %s; again in %.1fs", bid, status, message, wait
                    )
                    self._start_timer(T_RETRY, wait)
            case _:
                pass

    def _closed(self) -> None:
        for name in sorted(self._timers):
            self._commands.append(CancelTimer(name=name))
        self._timers.clear()
        self._state = BridgeState.CLOSED
        self.members.clear()
        self._reports.append(BridgeClosed(self.bridge_id, asked=self._close_asked))

    def _start_timer(self, name: str, seconds: float) -> None:
        self._timers.add(name)
        self._commands.append(StartTimer(name=name, seconds=seconds))


# ----------------------------------------------------------------------------- for owners
class OpenBridge(msgspec.Struct, frozen=True, tag="bridge_open"):
    """An owner machine asks for a new bridge under a fresh id (its actor starts a BridgeActor
    around a BridgeMachine; the bridge's reports come back to the owner)."""

    bridge_id: str
    name: str = ""


class OrderBridge(msgspec.Struct, frozen=True, tag="bridge_order"):
    """An owner machine's order to one of its bridges."""

    bridge_id: str
    order: BridgeOrder


BridgeCommand = OpenBridge | OrderBridge
