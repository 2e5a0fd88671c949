"""Live supervision of one Connect-to-Phone call by one supervisor: listen, whisper, barge.

The supervisor's own phone is called the way an agent's is (originate to the supervisor's
endpoint, answered = Up and in Stasis). Then, depending on the mode:

- listen:  a snoop on the agent leg (spy=both, whisper=none) and the supervisor leg share a
           private mixing bridge: the supervisor hears both sides, nobody hears the supervisor.
- whisper: the same with a snoop whispering toward the agent (spy=both, whisper=out): only
           the agent hears the supervisor.
- barge:   the supervisor leg joins the call bridge (addChannel moves a bridged channel).
           Only once Asterisk says it entered (ChannelEnteredBridge) are the snoop hung up and
           the private bridge closed: deleting a bridge while the supervisor leg is still in
           it, at the same time as the move, left the leg in no bridge on a real Asterisk.

The private bridge is owned by a bridge machine (core/bridge.py, a BridgeActor in the actor
layer): this machine emits `OpenBridge` / `OrderBridge` and reads its reports. Every private
bridge gets a fresh id `<sid>-bridge-<n>` (a deleted id is not free at once on Asterisk: 409
on create, then 404 on addChannel); a bridge whose create is refused is replaced by a new one.
Where the supervisor leg and the snoop are is known only from ChannelEnteredBridge /
ChannelLeftBridge, never from a 204: the screen says "listening", "whispering" or "barging"
only while Asterisk says the leg is in the right bridge.

Ids (sid = `<call_id>-sup-<supervisor_id>`): supervisor leg `<sid>-leg` (Local ;2 half
`<sid>-leg-2`), snoops `<sid>-snoop-<n>` (a new one per mode switch), private bridges
`<sid>-bridge-<n>`; app args `supervisor,<call_id>` / `snoop,<call_id>`; variables
EVS_CALL_ID, EVS_ROLE=supervisor, EVS_SUPERVISOR_ID. `supervision_of()` reads a sid back.

Transition table (state: input -> commands, next state):

  requested   StartSupervision(mode) -> Originate supervisor leg, timer answer, and for
                                        listen/whisper OpenBridge(private) + SnoopChannel
                                                                               -> dialing
  dialing     leg Up in Stasis, acceptance off -> (mode set-up below)          -> joining
              leg Up in Stasis, acceptance on (a mobile, like an agent's)
                                     -> Play press-1 on the leg, timer confirm  -> confirming
  confirming  DTMF 1 on the leg      -> (mode set-up below)                    -> joining
              timer confirm          -> Hangup leg, reason supervisor_not_confirmed -> ending
              (so a supervisor's voicemail is never bridged into a customer call)
              leg destroyed, never Up -> reason busy/no_answer/...              -> failed
              timer answer           -> Hangup leg (no_answer)                  -> ending
              AriCommandFailed(originate) -> reason "http <status>: ..."        -> failed
  joining / listening / whispering / barging, towards the target mode:
    listen|whisper: OpenBridge(private, fresh id) when none; SnoopChannel(agent, whisper
                    none|out) when no snoop of the right kind (the old one is hung up);
                    AddMembers(snoop), AddMembers(leg) once each per private bridge;
                    leg and snoop entered the private bridge       -> listening | whispering
    barge:          AddToBridge(call bridge, leg); leg entered the call bridge -> barging,
                    then Hangup snoop, CloseBridge(private)
    SetSupervisionMode(mode)       -> re-run the set-up towards `mode`     -> joining
    leg left the bridge of its mode unasked -> re-add it (at most 3 times)  -> joining
    BridgeOpenFailed / bridge closed under us -> a new private bridge, new id (at most 3)
    timer join (nothing entered in time)  -> the same as StopSupervision
  any live state
    StopSupervision / CallFinished -> Hangup snoop and leg, CloseBridge(private)   -> ending
    supervisor leg gone            -> Hangup snoop, CloseBridge(private)           -> ending
    snoop gone unasked in listen/whisper (the agent leg ended) -> same as CallFinished
  ending      leg ChannelDestroyed and every snoop StasisEnd (a deleted snoop sends no
              ChannelDestroyed), or timer ending  -> SupervisionEnded            -> ended

`monitored()` gives the (supervisor id, mode) pair for CallView.monitored_by. When
`settings.notify_agent` names media, the agent hears it once, when supervision first starts.
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
    HangupChannel,
    OriginateChannel,
    PlayMedia,
    SnoopChannel,
)
from core.ari_events import (
    AriEvent,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelLeftBridge,
    StasisEnd,
    StasisStart,
    UnhandledEvent,
    event_channel_id,
)
from core.bridge import (
    AddMembers,
    BridgeClosed,
    BridgeCommand,
    BridgeOpened,
    BridgeOpenFailed,
    BridgeReport,
    CloseBridge,
    MemberEntered,
    MemberLeft,
    MembersRefused,
    OpenBridge,
    OrderBridge,
    RecordingReport,
)
from core.domain import LegRole, SupervisionMode
from core.leg import Leg
from core.machine import Machine
from core.timers import TimerFired

log = logging.getLogger(__name__)

T_ANSWER = "supervisor_answer"
T_CONFIRM = "supervisor_confirm"
T_ENDING = "ending"
T_JOIN = "join"
MAX_REJOINS = 3  # the leg thrown out of its bridge, re-added this many times at most
MAX_BRIDGES = 3  # private bridges refused (409...) replaced this many times at most


def supervision_sid(call_id: str, supervisor_id: str) -> str:
    return f"{call_id}-sup-{supervisor_id}"


def supervision_of(resource_id: str) -> str | None:
    """The sid of a supervision's leg (`;1` or `;2`), snoop or private bridge id, else None."""
    head, sep, tail = resource_id.rpartition("-")
    if not sep or "-sup-" not in head:
        return None
    if tail == "leg":
        return head
    if tail == "2" and head.endswith("-leg"):
        return head[: -len("-leg")]
    if tail.isdigit():
        sid, _, kind = head.rpartition("-")
        if kind in ("snoop", "bridge") and "-sup-" in sid:
            return sid
    return None


class SupervisionState(StrEnum):
    REQUESTED = "requested"
    DIALING = "dialing"
    CONFIRMING = "confirming"  # the supervisor's phone answered; waiting for "1"
    JOINING = "joining"
    LISTENING = "listening"
    WHISPERING = "whispering"
    BARGING = "barging"
    ENDING = "ending"
    ENDED = "ended"
    FAILED = "failed"


_MODE_STATES = {
    SupervisionMode.LISTEN: SupervisionState.LISTENING,
    SupervisionMode.WHISPER: SupervisionState.WHISPERING,
    SupervisionMode.BARGE: SupervisionState.BARGING,
}
_FINAL = frozenset({SupervisionState.ENDED, SupervisionState.FAILED})
_JOINED_STATES = frozenset({SupervisionState.JOINING, *_MODE_STATES.values()})
_LIVE_STATES = frozenset(
    {SupervisionState.DIALING, SupervisionState.CONFIRMING, *_JOINED_STATES}
)


class StartSupervision(msgspec.Struct, frozen=True, tag="supervision_start"):
    mode: SupervisionMode = SupervisionMode.LISTEN


class SetSupervisionMode(msgspec.Struct, frozen=True, tag="supervision_mode"):
    mode: SupervisionMode


class StopSupervision(msgspec.Struct, frozen=True, tag="supervision_stop"):
    pass


class CallFinished(msgspec.Struct, frozen=True, tag="call_finished"):
    """The supervised call ended (the actor tells this on the call's CallEnded)."""


SupervisionInput = (
    StartSupervision
    | SetSupervisionMode
    | StopSupervision
    | CallFinished
    | TimerFired
    | AriCommandSucceeded
    | AriCommandFailed
    | AriEvent
    | UnhandledEvent
    | BridgeReport
)


class SupervisionStateChanged(msgspec.Struct, frozen=True, tag="supervision_state_changed"):
    call_id: str
    supervisor_id: str
    state: SupervisionState
    mode: SupervisionMode
    at: float
    reason: str = ""


class SupervisionEnded(msgspec.Struct, frozen=True, tag="supervision_ended"):
    call_id: str
    supervisor_id: str
    at: float
    reason: str
    failed: bool = False


SupervisionEvent = SupervisionStateChanged | SupervisionEnded


class SupervisionSettings(msgspec.Struct, frozen=True, kw_only=True):
    app: str = "evscallpro"
    # Played to the agent when supervision first reaches listen/whisper/barge ("this call
    # may be monitored"); empty: the agent is not told.
    notify_agent: tuple[str, ...] = ()
    language: str = "fr"
    caller_id: str = ""
    ring_timeout_s: int = 22
    stasis_guard_s: float = 5.0
    ending_guard_s: float = 10.0
    # Joining a mode (the leg and snoop entering their bridge) that takes longer ends it.
    join_guard_s: float = 10.0
    # "Press 1" on the supervisor's leg before it joins (a mobile's voicemail must not be
    # bridged into a customer call), as [acceptance] asks for an agent's leg.
    acceptance: bool = False
    press_1_to_accept: tuple[str, ...] = ("sound:vm-press", "sound:digits/1")
    acceptance_timeout_s: float = 20.0


class _Snoop:
    def __init__(self, snoop_id: str, whisper: str) -> None:
        self.id = snoop_id
        self.whisper = whisper
        self.ready = False  # exists (HTTP 200 or StasisStart)
        self.gone = False  # StasisEnd (a deleted snoop gives no ChannelDestroyed)
        self.hangup_sent = False
        self.added_to: str | None = None  # the private bridge it was ordered into
        self.bridged = False  # in the private bridge, per ChannelEnteredBridge
        self.pending = True  # SnoopChannel sent, not answered (a DELETE may outrun it)
        self.hangup_missed = False  # our DELETE got 404 while pending: send it again


class _Private:
    """The private bridge of this moment, as its bridge machine reported it."""

    def __init__(self, bridge_id: str) -> None:
        self.id = bridge_id
        self.leg_added = False


class SupervisionMachine(
    Machine[SupervisionState, AriCommand | BridgeCommand, SupervisionEvent]
):
    _log = log

    def __init__(
        self,
        call_id: str,
        supervisor_id: str,
        supervisor_endpoint: str,
        agent_channel_id: str,
        call_bridge_id: str,
        settings: SupervisionSettings | None = None,
    ) -> None:
        super().__init__(
            f"supervision {supervision_sid(call_id, supervisor_id)}", SupervisionState.REQUESTED
        )
        self.call_id = call_id
        self.supervisor_id = supervisor_id
        self.agent_channel_id = agent_channel_id
        self.call_bridge_id = call_bridge_id
        self.settings = settings or SupervisionSettings()
        self.sid = supervision_sid(call_id, supervisor_id)
        self.leg = Leg(LegRole.SUPERVISOR, supervisor_endpoint, f"{self.sid}-leg")
        self.mode = SupervisionMode.LISTEN
        self.reason = ""
        self._snoop: _Snoop | None = None
        self._old_snoops: list[_Snoop] = []
        self._snoop_count = 0
        self._private: _Private | None = None
        self._bridge_count = 0
        self._bridge_refusals = 0
        self._leg_in: str | None = None  # the bridge the supervisor leg is in (per events)
        self._barge_add_sent = False
        self._rejoins = 0
        self._agent_notified = False
        self._confirmed = not self.settings.acceptance  # pressed 1 (or not asked to)
        self._failed = False  # the supervision never started (leg busy, refused...)

    # ----------------------------------------------------------------- surface
    @property
    def state(self) -> SupervisionState:
        return self._state

    @property
    def is_finished(self) -> bool:
        return self._state in _FINAL

    @property
    def private_bridge_id(self) -> str | None:
        return self._private.id if self._private is not None else None

    def channel_ids(self) -> tuple[str, ...]:
        ids = [self.leg.channel_id]
        if self.leg.local2_id:
            ids.append(self.leg.local2_id)
        ids += [s.id for s in self._all_snoops()]
        return tuple(ids)

    def monitored(self) -> tuple[str, SupervisionMode] | None:
        if self._state in _MODE_STATES.values():
            return (self.supervisor_id, self.mode)
        return None

    def receive(self, inp: SupervisionInput, at: float) -> None:
        if self.is_finished:
            return
        try:
            self._dispatch(inp, at)
        except Exception:
            log.exception("supervision %s: error on %s", self.sid, type(inp).__name__)
            self._stop(at, "machine_error")

    # ----------------------------------------------------------------- dispatch
    def _dispatch(self, inp: SupervisionInput, at: float) -> None:
        match inp:
            case StartSupervision(mode=mode):
                self._start(mode, at)
            case SetSupervisionMode(mode=mode):
                self._switch(mode, at)
            case StopSupervision():
                self._stop(at, "stopped")
            case CallFinished():
                self._stop(at, "call_ended")
            case TimerFired(name=name):
                self._on_timer(name, at)
            case AriCommandSucceeded(command=command):
                self._on_ok(command, at)
            case AriCommandFailed():
                self._on_failed(inp, at)
            case ChannelEnteredBridge(bridge=bridge, channel=channel) if channel is not None:
                self._on_entered(bridge.id, channel.id, at)
            case ChannelLeftBridge(bridge=bridge, channel=channel):
                self._on_left(bridge.id, channel.id, at)
            case ChannelDtmfReceived(digit=digit, channel=channel) if (
                channel is not None and channel.id == self.leg.channel_id
            ):
                self._on_digit(digit, at)
            case BridgeOpened() | MemberEntered() | MemberLeft() | RecordingReport():
                pass  # membership is read from the channel events above
            case BridgeOpenFailed() | BridgeClosed() | MembersRefused():
                self._on_bridge_trouble(inp, at)
            case UnhandledEvent():
                pass
            case _:
                self._on_channel_event(inp, at)

    def _start(self, mode: SupervisionMode, at: float) -> None:
        if self._state != SupervisionState.REQUESTED:
            return
        self.mode = mode
        self.leg.dialed_at = at
        self.leg.create_pending = True
        self._commands.append(
            OriginateChannel(
                channel_id=self.leg.channel_id,
                endpoint=self.leg.endpoint,
                app=self.settings.app,
                app_args=f"supervisor,{self.call_id}",
                caller_id=self.settings.caller_id,
                timeout_s=self.settings.ring_timeout_s,
                variables={
                    "EVS_CALL_ID": self.call_id,
                    "EVS_ROLE": "supervisor",
                    "EVS_SUPERVISOR_ID": self.supervisor_id,
                },
                other_channel_id=self.leg.local2_id,
            )
        )
        self._start_timer(T_ANSWER, self.settings.ring_timeout_s + self.settings.stasis_guard_s)
        self._set_state(SupervisionState.DIALING, at)
        self._reconcile(at)

    def _switch(self, mode: SupervisionMode, at: float) -> None:
        if self._state not in _LIVE_STATES or mode == self.mode:
            return
        self.mode = mode
        self._rejoins = 0
        if self._state not in (SupervisionState.DIALING, SupervisionState.CONFIRMING):
            self._joining(at, f"switch to {mode}")
        self._reconcile(at)

    def _joining(self, at: float, reason: str) -> None:
        self._set_state(SupervisionState.JOINING, at, reason)
        self._start_timer(T_JOIN, self.settings.join_guard_s)

    def _on_channel_event(self, event: AriEvent, at: float) -> None:
        channel_id = event_channel_id(event)
        if channel_id is None:
            return
        if self.leg.owns(channel_id):
            self.leg.observe(event, at)
            self._after_leg_change(at)
            return
        for snoop in self._all_snoops():
            if snoop.id != channel_id:
                continue
            if isinstance(event, StasisStart):
                snoop.ready = True
                snoop.pending = False
                self._reconcile(at)
            elif isinstance(event, StasisEnd):
                snoop.gone = True
                snoop.bridged = False
                self._after_snoop_gone(snoop, at)
            return

    def _after_leg_change(self, at: float) -> None:
        leg = self.leg
        if self._state == SupervisionState.DIALING:
            if not leg.up and leg.destroyed:
                self._cancel_timer(T_ANSWER)
                self._stop(at, f"supervisor_{leg.failure_kind()}", failed=True)
            elif leg.ready:
                self._cancel_timer(T_ANSWER)
                if self._confirmed:
                    self._joining(at, "")
                    self._reconcile(at)
                else:
                    self._ask_confirmation(at)
            elif leg.up and leg.going:
                self._stop(at, "supervisor_hung_up")
        elif self._state == SupervisionState.ENDING:
            self._maybe_finish(at)
        elif leg.going and not leg.hangup_sent:
            self._stop(at, "supervisor_hung_up")

    def _ask_confirmation(self, at: float) -> None:
        self._set_state(SupervisionState.CONFIRMING, at, "press 1")
        self._commands.append(
            PlayMedia(
                channel_id=self.leg.channel_id,
                playback_id=f"{self.sid}-pb-press1",
                media=self.settings.press_1_to_accept,
                lang=self.settings.language,
            )
        )
        self._start_timer(T_CONFIRM, self.settings.acceptance_timeout_s)

    def _on_digit(self, digit: str, at: float) -> None:
        if self._state != SupervisionState.CONFIRMING or digit != "1":
            return
        self._confirmed = True
        self._cancel_timer(T_CONFIRM)
        self._joining(at, "pressed 1")
        self._reconcile(at)

    def _after_snoop_gone(self, snoop: _Snoop, at: float) -> None:
        if self._state == SupervisionState.ENDING:
            self._maybe_finish(at)
        elif snoop is self._snoop and not snoop.hangup_sent:
            if self.mode == SupervisionMode.BARGE:
                return  # not needed any more: barge lets go of it anyway
            # Asterisk ended the snoop itself: the agent leg is gone.
            self._stop(at, "agent_leg_gone")

    def _on_timer(self, name: str, at: float) -> None:
        if not self._timer_is_armed(name):
            return
        if name == T_ANSWER and self._state == SupervisionState.DIALING:
            self._stop(at, "supervisor_no_answer", hangup_reason="no_answer")
        elif name == T_CONFIRM and self._state == SupervisionState.CONFIRMING:
            self._stop(at, "supervisor_not_confirmed")
        elif name == T_JOIN and self._state == SupervisionState.JOINING:
            self._stop(at, f"join_timeout: {self.mode}")
        elif name == T_ENDING and self._state == SupervisionState.ENDING:
            self._finish(at, self.reason, self._failed)

    def _on_ok(self, command: AriCommand, at: float) -> None:
        match command:
            case OriginateChannel(channel_id=cid) if cid == self.leg.channel_id:
                self.leg.create_pending = False
                if self.leg.hangup_missed and not self.leg.destroyed:
                    # our DELETE outran the originate (404): the leg exists now, end it
                    self.leg.hangup_missed = False
                    self._commands.append(HangupChannel(channel_id=cid))
            case SnoopChannel(snoop_id=sid):
                for snoop in self._all_snoops():
                    if snoop.id == sid:
                        snoop.ready = True
                        snoop.pending = False
                        if snoop.hangup_missed:  # dropped before it existed: end it now
                            snoop.hangup_missed = snoop.gone = False
                            self._commands.append(HangupChannel(channel_id=sid))
                self._reconcile(at)
            case _:
                pass  # a 204 on addChannel is "accepted", not "in the bridge"

    def _on_failed(self, failed: AriCommandFailed, at: float) -> None:
        detail = f"http {failed.status}: {failed.message}"
        log.warning(
            "supervision %s: %s failed: %s", self.sid, type(failed.command).__name__, detail
        )
        match failed.command:
            case OriginateChannel() if self.leg.hangup_missed:
                self.leg.create_pending = self.leg.hangup_missed = False
                if failed.status == 0:  # it may exist: hang it up again, a 404 ends it
                    self._commands.append(HangupChannel(channel_id=self.leg.channel_id))
                else:
                    self.leg.mark_destroyed(at)
                    self._maybe_finish(at)
            case OriginateChannel() if self._state == SupervisionState.DIALING:
                self._cancel_timer(T_ANSWER)
                if failed.status == 0:
                    self._stop(at, detail)
                else:
                    self.leg.mark_destroyed(at)
                    self._stop(at, detail, failed=True)
            case HangupChannel(channel_id=cid) if failed.status == 404:
                if cid == self.leg.channel_id and self.leg.create_pending:
                    self.leg.hangup_missed = True  # the DELETE outran the originate
                elif cid == self.leg.channel_id:
                    self.leg.mark_destroyed(at)
                for snoop in self._all_snoops():
                    if snoop.id == cid and snoop.pending:
                        snoop.hangup_missed = True  # the DELETE outran the SnoopChannel
                    elif snoop.id == cid:
                        snoop.gone = True
                self._maybe_finish(at)
            case SnoopChannel(snoop_id=sid):
                for snoop in self._all_snoops():
                    if snoop.id == sid:
                        snoop.pending = snoop.hangup_missed = False
                self._stop(at, f"setup_failed: {detail}")
                self._maybe_finish(at)
            case AddToBridge(bridge_id=bid) if bid == self.call_bridge_id:
                self._stop(at, f"setup_failed: {detail}")
            case _:
                pass

    # ----------------------------------------------------------------- membership
    def _on_entered(self, bridge_id: str, channel_id: str, at: float) -> None:
        if channel_id == self.leg.channel_id:
            self._leg_in = bridge_id
            if bridge_id == self.call_bridge_id:
                self._barge_add_sent = False
        else:
            for snoop in self._all_snoops():
                if snoop.id == channel_id:
                    snoop.bridged = bridge_id == self.private_bridge_id
        self._reconcile(at)

    def _on_left(self, bridge_id: str, channel_id: str, at: float) -> None:
        if channel_id == self.leg.channel_id:
            if self._leg_in == bridge_id:
                self._leg_in = None
            if bridge_id == self.call_bridge_id:
                self._barge_add_sent = False
            elif self._private is not None and bridge_id == self._private.id:
                self._private.leg_added = False
        else:
            for snoop in self._all_snoops():
                if snoop.id == channel_id and bridge_id == snoop.added_to:
                    snoop.bridged = False
                    if snoop is self._snoop and not snoop.gone:
                        snoop.added_to = None  # thrown out: add it again
        if self._state in _MODE_STATES.values() and not self._mode_reached():
            # Asterisk moved the leg (or snoop) out of the bridge of its mode: the screen must
            # not say "barging" while the supervisor is in no bridge. Join again.
            self._rejoins += 1
            if self._rejoins > MAX_REJOINS:
                self._stop(at, f"left_bridge: {bridge_id}")
                return
            self._joining(at, f"left {bridge_id}")
        self._reconcile(at)

    def _on_bridge_trouble(
        self, report: BridgeOpenFailed | BridgeClosed | MembersRefused, at: float
    ) -> None:
        private = self._private
        if private is None or report.bridge_id != private.id:
            return
        if isinstance(report, MembersRefused) and report.status != 404:
            # a channel that is gone (400) ends through its own events; anything else here
            # is a set-up failure
            if report.status != 400:
                self._stop(at, f"setup_failed: http {report.status}: {report.message}")
            return
        # The bridge is refused (409: its id is taken) or gone: make a new one, new id.
        self._private = None
        if self._state not in _LIVE_STATES:
            return
        self._bridge_refusals += 1
        if self._bridge_refusals > MAX_BRIDGES:
            detail = getattr(report, "message", "bridge gone")
            self._stop(at, f"setup_failed: private bridge: {detail}")
            return
        if self._state in _MODE_STATES.values():
            self._joining(at, f"bridge {report.bridge_id} lost")
        self._reconcile(at)

    # ----------------------------------------------------------------- set-up
    def _reconcile(self, at: float) -> None:
        """Send what is still missing to reach `self.mode` (idempotent). While the supervisor's
        phone rings, the private bridge and the snoop are prepared already."""
        if self._state not in _LIVE_STATES:
            return
        if self.mode == SupervisionMode.BARGE:
            self._toward_barge()
        else:
            self._toward_private()
        self._check_mode_reached(at)

    def _leg_ready(self) -> bool:
        """Up in Stasis and, when [acceptance] asks for it, confirmed with "1"."""
        return self.leg.ready and self._confirmed

    def _toward_barge(self) -> None:
        if not self._leg_ready():
            return
        if self._leg_in == self.call_bridge_id:
            # In the call bridge (Asterisk said so): only now let go of the private side.
            self._drop_snoop()
            self._close_private_bridge()
        elif not self._barge_add_sent:
            self._barge_add_sent = True
            self._commands.append(
                AddToBridge(bridge_id=self.call_bridge_id, channel_ids=(self.leg.channel_id,))
            )

    def _toward_private(self) -> None:
        if self._private is None:
            self._bridge_count += 1
            self._private = _Private(f"{self.sid}-bridge-{self._bridge_count}")
            self._commands.append(
                OpenBridge(bridge_id=self._private.id, name=f"supervise-{self.call_id}")
            )
        private = self._private
        whisper = "out" if self.mode == SupervisionMode.WHISPER else "none"
        if self._snoop is None or self._snoop.whisper != whisper or self._snoop.gone:
            self._drop_snoop()
            self._snoop_count += 1
            self._snoop = _Snoop(f"{self.sid}-snoop-{self._snoop_count}", whisper)
            self._commands.append(
                SnoopChannel(
                    channel_id=self.agent_channel_id,
                    snoop_id=self._snoop.id,
                    app=self.settings.app,
                    spy="both",
                    whisper=whisper,
                    app_args=f"snoop,{self.call_id}",
                )
            )
        snoop = self._snoop
        if snoop.ready and snoop.added_to != private.id:
            snoop.added_to = private.id
            self._order(private.id, AddMembers(channel_ids=(snoop.id,)))
        if self._leg_ready() and self._leg_in != private.id and not private.leg_added:
            private.leg_added = True
            self._order(private.id, AddMembers(channel_ids=(self.leg.channel_id,)))

    def _mode_reached(self) -> bool:
        if self.mode == SupervisionMode.BARGE:
            return self._leg_in == self.call_bridge_id
        snoop, private = self._snoop, self._private
        return (
            private is not None
            and self._leg_in == private.id
            and snoop is not None
            and snoop.bridged
        )

    def _check_mode_reached(self, at: float) -> None:
        if self._state != SupervisionState.JOINING or not self._mode_reached():
            return
        self._cancel_timer(T_JOIN)
        self._set_state(_MODE_STATES[self.mode], at)
        if self.settings.notify_agent and not self._agent_notified:
            self._agent_notified = True
            self._commands.append(
                PlayMedia(
                    channel_id=self.agent_channel_id,
                    playback_id=f"{self.sid}-pb-notify",
                    media=self.settings.notify_agent,
                    lang=self.settings.language,
                )
            )

    def _order(self, bridge_id: str, order: AddMembers | CloseBridge) -> None:
        self._commands.append(OrderBridge(bridge_id=bridge_id, order=order))

    def _drop_snoop(self) -> None:
        snoop, self._snoop = self._snoop, None
        if snoop is None:
            return
        self._old_snoops.append(snoop)
        if not snoop.gone and not snoop.hangup_sent:
            snoop.hangup_sent = True
            self._commands.append(HangupChannel(channel_id=snoop.id))

    def _close_private_bridge(self) -> None:
        private, self._private = self._private, None
        if private is not None:
            self._order(private.id, CloseBridge())

    # ----------------------------------------------------------------- ending
    def _stop(
        self, at: float, reason: str, hangup_reason: str = "normal", failed: bool = False
    ) -> None:
        """End: hang up the leg and the snoops, close the private bridge (a supervisor who
        never answered too: the snoop and bridge were prepared while the phone rang)."""
        if self._state == SupervisionState.ENDING or self.is_finished:
            return
        self.reason = reason
        self._failed = failed
        self._cancel_timer(T_ANSWER)
        self._cancel_timer(T_CONFIRM)
        self._cancel_timer(T_JOIN)
        if self._state == SupervisionState.REQUESTED:
            self._finish(at, reason, failed)
            return
        self._drop_snoop()
        self._close_private_bridge()
        leg = self.leg
        if not leg.going:
            leg.hangup_sent = True
            self._commands.append(HangupChannel(channel_id=leg.channel_id, reason=hangup_reason))
        self._set_state(SupervisionState.ENDING, at, reason)
        self._start_timer(T_ENDING, self.settings.ending_guard_s)
        self._maybe_finish(at)

    def _maybe_finish(self, at: float) -> None:
        if self._state != SupervisionState.ENDING:
            return
        snoops = self._all_snoops()
        if self.leg.destroyed and all((s.gone or not s.ready) and not s.pending for s in snoops):
            self._finish(at, self.reason, self._failed)

    def _finish(self, at: float, reason: str, failed: bool = False) -> None:
        self._cancel_all_timers()
        self.reason = reason
        self._set_state(SupervisionState.FAILED if failed else SupervisionState.ENDED, at, reason)
        self._events.append(
            SupervisionEnded(
                call_id=self.call_id,
                supervisor_id=self.supervisor_id,
                at=at,
                reason=reason,
                failed=failed,
            )
        )

    # ----------------------------------------------------------------- helpers
    def _all_snoops(self) -> list[_Snoop]:
        return self._old_snoops + ([self._snoop] if self._snoop is not None else [])

    def _set_state(self, state: SupervisionState, at: float, reason: str = "") -> None:
        if not self._move(state, reason):
            return
        self._events.append(
            SupervisionStateChanged(
                call_id=self.call_id,
                supervisor_id=self.supervisor_id,
                state=state,
                mode=self.mode,
                at=at,
                reason=reason,
            )
        )

