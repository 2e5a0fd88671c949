"""The Connect-to-Phone call: the core dials the agent's phone, then the customer, then
bridges them. Pure (Sans-I/O): inputs in through `receive(inp, at)`, ARI and timer commands
out through `commands_to_send()`, step changes and the final record through
`events_emitted()`. The machine never reads the clock and never raises on bad input.

Identity (so a restarted core can rebuild the call from Asterisk's channels):
  agent leg `<call_id>-agent`, customer leg `<call_id>-customer` (Local ;2 halves `<id>-2`),
  bridge `<call_id>-bridge`, recording `<call_id>`, playbacks `<call_id>-pb-<what>`;
  app args `agent,<call_id>` / `customer,<call_id>`; channel variables EVS_CALL_ID,
  EVS_ROLE, EVS_AGENT_ID, EVS_CONTACT_ID, EVS_CUSTOMER_NUMBER, EVS_WORKSTATION.

Transition table (step: input -> commands, next step). "agent/customer gone" means a
ChannelHangupRequest not asked by us, StasisEnd or ChannelDestroyed of that leg's channel.

  requested
    CallStart, request valid     -> Originate agent, timer agent_answer     -> agent_dialing
    CallStart, request invalid   -> (nothing)                               -> rejected
    HangupFromUi                 -> (nothing), outcome cancelled            -> ended
  agent_dialing
    agent Up (StateChange/Dial ANSWER) before StasisStart                   -> agent_answered
    agent StasisStart Up         -> (see agent_answered)
    agent ChannelDestroyed, never Up -> outcome agent_busy | agent_no_answer |
                                    agent_unreachable (cause / Dial status) -> failed
    AriCommandFailed(originate)  -> outcome agent_unreachable (HTTP 4xx/5xx) or
                                    internal_error (no answer, 401, 409)    -> failed
    timer agent_answer           -> Hangup agent (no_answer)                -> ending
  agent_answered (Up; waits for StasisStart to be able to play)
    in Stasis and acceptance on  -> Play press-1, timer agent_confirm       -> agent_confirming
    in Stasis, acceptance off    -> Play announce, timer announce           -> announcing
  agent_confirming
    DTMF "1"                     -> StopPlayback, Play announce             -> announcing
    press-1 prompt finished      -> timer agent_confirm (acceptance_wait_s)
    timer agent_confirm          -> Hangup agent (rejected), agent_not_confirmed -> ending
    agent gone                   -> outcome agent_not_confirmed             -> ending
  announcing
    announce finished/failed, timer announce (at once when no announce media is configured)
                                 -> MOH (or ring) on agent, Originate (or Create) customer,
                                    timer customer_answer                   -> customer_dialing
    agent gone                   -> outcome agent_abandoned                 -> ending
  customer_dialing
    customer created (StasisStart Down, create_dial) -> Dial customer
    customer final Dial status, create_dial, still alive -> Hangup customer
    customer Up and in Stasis    -> CreateBridge, timer bridge              -> connected
    customer ChannelDestroyed, never Up -> outcome customer_busy | customer_no_answer |
                                    customer_congestion | customer_invalid_number |
                                    customer_rejected; stop hold, Play notice, timer notice
                                                                            -> ending
    timer customer_answer        -> Hangup customer (no_answer), notice    -> ending
    AriCommandFailed(originate/create/dial customer) -> customer_congestion or
                                    internal_error, notice                  -> ending
    agent gone                   -> Hangup customer, outcome agent_abandoned -> ending
  connected
    CreateBridge ok (or 409)     -> AddToBridge(agent, customer)
    AddToBridge ok / both entered -> stop hold, RecordBridge (if enabled)
    bridge failed / timer bridge -> Hangup both, outcome internal_error     -> ending
    agent or customer gone       -> Hangup the other, outcome completed     -> ending
  any step before ended
    HangupFromUi                 -> Hangup live legs; outcome cancelled before connected,
                                    completed once connected                -> ending
  ending
    notice finished/failed, timer notice -> Hangup agent
    every dialed leg ChannelDestroyed (or 404 on its hangup), no CreateBridge unanswered,
    timer ending                 -> DestroyBridge (if created), CallEnded  -> ended | failed
    CreateBridge ok              -> (destroyed at the end: Asterisk keeps empty bridges)

A 404 on a hang-up sent while the leg's originate/create is unanswered does not end the leg
(the DELETE outran it): once the originate answers, the leg is hung up again.

Commands that depend on an earlier one wait for its `AriCommandSucceeded` (AddToBridge
after CreateBridge, RecordBridge after AddToBridge), so the actor may run commands
concurrently. Final steps: ended (completed, cancelled), failed (every other outcome),
rejected. Exactly one `CallEnded` is emitted, last.
"""

from __future__ import annotations

import logging

import msgspec

from core.ari_commands import (
    AddToBridge,
    AriCommand,
    AriCommandFailed,
    AriCommandSucceeded,
    CreateBridge,
    CreateChannel,
    DestroyBridge,
    DialChannel,
    HangupChannel,
    OriginateChannel,
    PlayMedia,
    RecordBridge,
    StartMusicOnHold,
    StartRinging,
    StopMusicOnHold,
    StopPlayback,
    StopRinging,
)
from core.ari_events import (
    BridgeDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    PlaybackFinished,
    RecordingFailed,
    RecordingStarted,
    UnhandledEvent,
    event_channel_id,
)
from core.call_config import CallRequest, CallSettings, CustomerDialMethod, HoldAudio
from core.call_events import CallEnded, CallEvent, CallStepChanged
from core.call_inputs import CallInput, CallStart, HangupFromUi
from core.domain import CallOutcome, CallStep, LegRole, Party, SupervisionMode
from core.leg import FINAL_DIAL_STATUSES, FailureKind, Leg
from core.records import CallRecord, LegRecord, StepTime
from core.recovery_scan import LiveLeg
from core.timers import CancelTimer, StartTimer, TimerCommand, TimerFired
from core.views import CallView

log = logging.getLogger(__name__)

CallCommand = AriCommand | TimerCommand

FINAL_STEPS = frozenset({CallStep.ENDED, CallStep.FAILED, CallStep.REJECTED})

# Timer names (one machine's namespace).
T_AGENT_ANSWER = "agent_answer"
T_AGENT_CONFIRM = "agent_confirm"
T_ANNOUNCE = "announce"
T_CUSTOMER_ANSWER = "customer_answer"
T_BRIDGE = "bridge"
T_NOTICE = "notice"
T_ENDING = "ending"

_AGENT_OUTCOMES: dict[FailureKind, CallOutcome] = {
    FailureKind.BUSY: CallOutcome.AGENT_BUSY,
    FailureKind.NO_ANSWER: CallOutcome.AGENT_NO_ANSWER,
}
_CUSTOMER_OUTCOMES: dict[FailureKind, CallOutcome] = {
    FailureKind.BUSY: CallOutcome.CUSTOMER_BUSY,
    FailureKind.NO_ANSWER: CallOutcome.CUSTOMER_NO_ANSWER,
    FailureKind.CONGESTION: CallOutcome.CUSTOMER_CONGESTION,
    FailureKind.INVALID_NUMBER: CallOutcome.CUSTOMER_INVALID_NUMBER,
    FailureKind.REJECTED: CallOutcome.CUSTOMER_REJECTED,
    FailureKind.UNREACHABLE: CallOutcome.CUSTOMER_CONGESTION,
}
_SUCCESS_OUTCOMES = frozenset({CallOutcome.COMPLETED, CallOutcome.CANCELLED})
_BEFORE_CUSTOMER = frozenset(
    {
        CallStep.AGENT_DIALING,
        CallStep.AGENT_ANSWERED,
        CallStep.AGENT_CONFIRMING,
        CallStep.ANNOUNCING,
    }
)


def agent_channel_id(call_id: str) -> str:
    return f"{call_id}-agent"


def customer_channel_id(call_id: str) -> str:
    return f"{call_id}-customer"


def bridge_id_for(call_id: str) -> str:
    return f"{call_id}-bridge"


def outcome_for_http_error(status: int) -> CallOutcome | None:
    """An originate refused by Asterisk: the endpoint is wrong or cannot be allocated
    (agent unreachable), or the core itself is at fault (no answer, auth, id clash)."""
    if status in (0, 401, 403, 404, 409):
        return CallOutcome.INTERNAL_ERROR
    return None


class CallMachine:
    """One Connect-to-Phone call, from the agent's request to its `CallRecord`."""

    def __init__(self, request: CallRequest, settings: CallSettings) -> None:
        self.request = request
        self.settings = settings
        self.call_id = request.call_id
        self.bridge_id = bridge_id_for(request.call_id)
        self.agent = Leg(LegRole.AGENT, request.agent_endpoint, agent_channel_id(self.call_id))
        self.customer: Leg | None = None
        self._step = CallStep.REQUESTED
        self._step_since = request.requested_at
        self._steps: list[StepTime] = [StepTime(CallStep.REQUESTED, request.requested_at)]
        self.outcome: CallOutcome | None = None
        self.reason = ""
        self.hung_up_first: Party | None = None
        self.connected_at: float | None = None
        self.ended_at: float | None = None
        self.recording_name: str | None = None
        self._bridge_created = False
        self._bridge_pending = False  # CreateBridge sent, not answered yet
        self._bridged = False
        self._in_bridge: set[str] = set()  # channels seen entering the call bridge
        self._hold: HoldAudio | None = None
        self._notice_playing = False
        self._timers: set[str] = set()
        self._commands: list[CallCommand] = []
        self._events: list[CallEvent] = []
        self.recovered = False

    # ----------------------------------------------------------------- recovery
    @classmethod
    def adopt(
        cls,
        request: CallRequest,
        settings: CallSettings,
        *,
        agent: LiveLeg | None,
        customer: LiveLeg | None,
        bridge_id: str | None,
        at: float,
        last_step: CallStep | None = None,
        connected_at: float | None = None,
    ) -> CallMachine:
        """Rebuild a call after a core restart from the legs Asterisk still lists (GET
        /channels, /bridges; see core.recovery_scan). `last_step` is what a journal kept, if
        any. The record will say `recovered=True`. Rules:

        - both legs Up            -> connected (bridged, or the bridge is set up again)
        - agent Up, customer Down -> customer_dialing (the customer still rings)
        - agent Up, no customer   -> announcing / agent_confirming again when the journal
                                     says the customer was never dialed, else the agent
                                     hears the "unreachable" notice, then ending
                                     (internal_error "recovered_incomplete")
        - agent Down (ringing)    -> agent_dialing
        - no agent leg            -> ending: the customer leg is hung up (agent_abandoned
                                     before connect, completed after)
        - agent Up, no customer, but the call was connected (journal, or the agent is still
          in the call bridge)     -> ending, completed, the customer hung up first
        Commands to send at once (and a CallStepChanged) are queued as usual.
        """
        m = cls(request, settings)
        m.recovered = True
        m._step_since = at
        m._adopt(agent, customer, bridge_id, at, last_step, connected_at)
        return m

    def _adopt(
        self,
        agent: LiveLeg | None,
        customer: LiveLeg | None,
        bridge_id: str | None,
        at: float,
        last_step: CallStep | None,
        connected_at: float | None,
    ) -> None:
        creating = self.settings.customer_dial_method == CustomerDialMethod.CREATE_DIAL
        if customer is not None:
            self.customer = _adopted_leg(
                LegRole.CUSTOMER,
                self.request.customer_endpoint,
                customer,
                at,
                connected_at,
                in_stasis=creating,
            )
            self.customer.dial_sent = creating
        was_connected = (
            last_step == CallStep.CONNECTED
            or bridge_id == self.bridge_id
            or any(leg is not None and leg.bridge_id == self.bridge_id for leg in (agent, customer))
        )
        if agent is None:
            self.agent.mark_destroyed(at)
            customer_up = self.customer is not None and self.customer.up
            outcome = CallOutcome.COMPLETED if customer_up else CallOutcome.AGENT_ABANDONED
            self._gone_while_away(outcome, "agent", Party.AGENT, was_connected, connected_at, at)
            return
        self.agent = _adopted_leg(
            LegRole.AGENT,
            self.request.agent_endpoint,
            agent,
            at,
            connected_at,
            in_stasis=agent.state == "Up",
        )
        if not self.agent.up:
            self._start_timer(
                T_AGENT_ANSWER, self.settings.agent_ring_timeout_s + self.settings.stasis_guard_s
            )
            self._set_step(CallStep.AGENT_DIALING, at, "adopted")
        elif self.customer is not None and self.customer.up:
            self._adopt_connected(bridge_id, agent, customer, at, connected_at)
        elif self.customer is not None:
            self._hold = self.settings.hold_audio
            self._start_timer(
                T_CUSTOMER_ANSWER,
                self.settings.customer_ring_timeout_s + self.settings.stasis_guard_s,
            )
            self._set_step(CallStep.CUSTOMER_DIALING, at, "adopted")
        elif was_connected:  # the customer hung up while the core was away
            self._gone_while_away(
                CallOutcome.COMPLETED, "customer", Party.CUSTOMER, True, connected_at, at
            )
        elif last_step in _BEFORE_CUSTOMER:
            self._agent_ready(at)
        else:  # the customer may have been dialed (and failed) while away: never redial
            self._conclude(CallOutcome.INTERNAL_ERROR, "recovered_incomplete", Party.SYSTEM)
            self._hold = self.settings.hold_audio  # it was probably on: stop it first
            self._play_notice(FailureKind.UNREACHABLE, at)

    def _gone_while_away(
        self,
        outcome: CallOutcome,
        who: str,
        party: Party,
        was_connected: bool,
        connected_at: float | None,
        at: float,
    ) -> None:
        """One leg ended while the core was away: end the other (and the bridge)."""
        if was_connected and outcome == CallOutcome.COMPLETED:
            self.connected_at = connected_at if connected_at is not None else at
            self._bridge_created = True  # destroyed once the legs are gone
            self.recording_name = self.call_id if self.settings.recording else None
        self._conclude(outcome, f"{who}_gone_while_core_away", party)
        self._hang_up_all(at)

    def _adopt_connected(
        self,
        bridge_id: str | None,
        agent: LiveLeg,
        customer: LiveLeg | None,
        at: float,
        connected_at: float | None,
    ) -> None:
        self.connected_at = connected_at if connected_at is not None else at
        self._set_step(CallStep.CONNECTED, at, "adopted")
        bridged = (
            bridge_id == self.bridge_id
            and agent.bridge_id == self.bridge_id
            and customer is not None
            and customer.bridge_id == self.bridge_id
        )
        if bridged:
            self._bridge_created = True
            self._bridged = True
            self.recording_name = self.call_id if self.settings.recording else None
        else:  # set the bridge up again (409 on CreateBridge counts as created)
            self._hold = self.settings.hold_audio
            self._create_bridge()
            self._start_timer(T_BRIDGE, self.settings.bridge_guard_s)

    # ----------------------------------------------------------------- public surface
    @property
    def step(self) -> CallStep:
        return self._step

    @property
    def is_finished(self) -> bool:
        return self._step in FINAL_STEPS

    def channel_ids(self) -> tuple[str, ...]:
        """Every channel id this call owns (for the switchboard's routing table)."""
        ids = [self.agent.channel_id]
        for leg in (self.agent, self.customer_leg()):
            if leg.local2_id:
                ids.append(leg.local2_id)
        ids.append(self.customer_leg().channel_id)
        return tuple(dict.fromkeys(ids))

    def customer_leg(self) -> Leg:
        """The customer leg, dialed or not (its ids are fixed by the call id)."""
        if self.customer is not None:
            return self.customer
        return Leg(
            LegRole.CUSTOMER, self.request.customer_endpoint, customer_channel_id(self.call_id)
        )

    def playback_ids(self) -> tuple[str, ...]:
        return tuple(self._pb(what) for what in ("announce", "press1", "notice"))

    def receive(self, inp: CallInput, at: float) -> None:
        """Feed one input. Never raises: a bug ends the call as internal_error."""
        if self.is_finished:
            log.debug("call %s: ignoring %s after the end", self.call_id, type(inp).__name__)
            return
        try:
            self._dispatch(inp, at)
        except Exception:
            log.exception("call %s: error handling %s", self.call_id, type(inp).__name__)
            try:
                self._fail_everything(CallOutcome.INTERNAL_ERROR, "machine_error", at)
            except Exception:  # the error path itself failed: hand over what we have
                log.critical("call %s: cannot end cleanly", self.call_id, exc_info=True)

    def commands_to_send(self) -> list[CallCommand]:
        commands, self._commands = self._commands, []
        return commands

    def events_emitted(self) -> list[CallEvent]:
        events, self._events = self._events, []
        return events

    def view(self, monitored_by: tuple[tuple[str, SupervisionMode], ...] = ()) -> CallView:
        """The UI snapshot; `monitored_by` comes from the live SupervisionMachines."""
        return CallView(
            call_id=self.call_id,
            agent_id=self.request.agent_id,
            step=self._step,
            customer_number=self.request.customer_number,
            contact_id=self.request.contact_id,
            outcome=self.outcome,
            reason=self.reason,
            workstation=self.request.workstation,
            step_since=self._step_since,
            connected_at=self.connected_at,
            ended_at=self.ended_at,
            recording_name=self.recording_name,
            ended_by=self.hung_up_first if self.outcome is not None else None,
            monitored_by=monitored_by,
        )

    # ----------------------------------------------------------------- dispatch
    def _dispatch(self, inp: CallInput, at: float) -> None:
        match inp:
            case CallStart():
                self._on_start(at)
            case HangupFromUi(by=by):
                self._on_ui_hangup(by, at)
            case TimerFired(name=name):
                self._on_timer(name, at)
            case AriCommandSucceeded():
                self._on_command_ok(inp, at)
            case AriCommandFailed():
                self._on_command_failed(inp, at)
            case UnhandledEvent():
                pass
            case PlaybackFinished(playback=playback):
                self._on_playback_finished(playback.id, playback.state, at)
            case RecordingStarted(recording=recording) if recording.name == self.call_id:
                log.info("call %s: recording %s started", self.call_id, recording.name)
            case RecordingFailed(recording=recording) if recording.name == self.call_id:
                log.warning("call %s: recording failed: %s", self.call_id, recording.cause)
                self.recording_name = None
            case ChannelEnteredBridge(bridge=bridge, channel=channel) if (
                bridge.id == self.bridge_id
            ):
                self._in_bridge.update(bridge.channels)
                if channel is not None:
                    self._in_bridge.add(channel.id)
                customer = self.customer
                if customer and {self.agent.channel_id, customer.channel_id} <= self._in_bridge:
                    self._on_bridged(at)
            case BridgeDestroyed():
                pass
            case _:
                self._on_channel_event(inp, at)

    def _on_channel_event(self, event: CallInput, at: float) -> None:
        channel_id = event_channel_id(event)  # type: ignore[arg-type]
        if channel_id is None:
            return
        if self.agent.owns(channel_id):
            leg = self.agent
        elif self.customer is not None and self.customer.owns(channel_id):
            leg = self.customer
        else:
            log.debug("call %s: event for unknown channel %s", self.call_id, channel_id)
            return
        if (
            isinstance(event, ChannelDtmfReceived)
            and leg is self.agent
            and channel_id == leg.channel_id
        ):
            self._on_agent_digit(event.digit, at)
            return
        leg.observe(event, at)  # type: ignore[arg-type]
        self._advance(at)

    # ----------------------------------------------------------------- inputs
    def _on_start(self, at: float) -> None:
        if self._step != CallStep.REQUESTED:
            log.warning("call %s: CallStart in %s ignored", self.call_id, self._step)
            return
        self._step_since = at
        problem = self._request_problem()
        if problem:
            self._conclude(CallOutcome.REJECTED, problem, None)
            self._finish(at)
            return
        self.agent.dialed_at = at
        self.agent.create_pending = True
        self._send(
            OriginateChannel(
                channel_id=self.agent.channel_id,
                endpoint=self.agent.endpoint,
                app=self.settings.app,
                app_args=f"agent,{self.call_id}",
                caller_id=self.settings.caller_id_to_agent,
                timeout_s=self.settings.agent_ring_timeout_s,
                variables=self._variables(LegRole.AGENT),
                other_channel_id=self.agent.local2_id,
            )
        )
        self._start_timer(
            T_AGENT_ANSWER, self.settings.agent_ring_timeout_s + self.settings.stasis_guard_s
        )
        self._set_step(CallStep.AGENT_DIALING, at)

    def _request_problem(self) -> str:
        return self.request.problem()

    def _on_ui_hangup(self, by: str, at: float) -> None:
        step = self._step
        if step == CallStep.REQUESTED:
            self._conclude(CallOutcome.CANCELLED, f"hangup_from_ui:{by}", Party.UI)
            self._finish(at)
        elif step == CallStep.ENDING:
            if self._notice_playing:
                self._end_notice(at)
        elif step == CallStep.CONNECTED:
            self._conclude(CallOutcome.COMPLETED, f"hangup_from_ui:{by}", Party.UI)
            self._hang_up_all(at)
        else:
            self._conclude(CallOutcome.CANCELLED, f"hangup_from_ui:{by}", Party.UI)
            self._hang_up_all(at)

    def _on_timer(self, name: str, at: float) -> None:
        if name not in self._timers:
            log.debug("call %s: stale timer %s", self.call_id, name)
            return
        self._timers.discard(name)
        step = self._step
        if name == T_AGENT_ANSWER and step in (CallStep.AGENT_DIALING, CallStep.AGENT_ANSWERED):
            self._conclude(CallOutcome.AGENT_NO_ANSWER, "timeout", Party.SYSTEM)
            self._hang_up_all(at, reason="no_answer")
        elif name == T_AGENT_CONFIRM and step == CallStep.AGENT_CONFIRMING:
            self._conclude(CallOutcome.AGENT_NOT_CONFIRMED, "no_digit", Party.SYSTEM)
            self._hang_up_all(at, reason="rejected")
        elif name == T_ANNOUNCE and step == CallStep.ANNOUNCING:
            self._dial_customer(at)
        elif name == T_CUSTOMER_ANSWER and step == CallStep.CUSTOMER_DIALING:
            self._customer_failed(at, FailureKind.NO_ANSWER, "timeout", Party.SYSTEM)
        elif name == T_BRIDGE and step == CallStep.CONNECTED and not self._bridged:
            self._fail_everything(CallOutcome.INTERNAL_ERROR, "bridge_timeout", at)
        elif name == T_NOTICE and self._notice_playing:
            self._end_notice(at)
        elif name == T_ENDING and step == CallStep.ENDING:
            log.warning("call %s: legs not destroyed in time, closing the record", self.call_id)
            for leg in self._legs():
                leg.mark_destroyed(at)
            self._finish(at)

    def _on_command_ok(self, ok: AriCommandSucceeded, at: float) -> None:
        if isinstance(ok.command, OriginateChannel | CreateChannel):
            self._created_leg_missed(ok.command.channel_id, ok.status, at)
        match ok.command:
            case CreateBridge(bridge_id=bridge_id) if bridge_id == self.bridge_id:
                self._on_bridge_created(at)
            case AddToBridge(bridge_id=bridge_id) if bridge_id == self.bridge_id:
                self._on_bridged(at)
            case _:
                pass

    def _on_command_failed(self, failed: AriCommandFailed, at: float) -> None:
        command = failed.command
        detail = f"http {failed.status}: {failed.message}"
        level = logging.DEBUG if _already_gone(failed) else logging.WARNING
        log.log(level, "call %s: %s failed: %s", self.call_id, type(command).__name__, detail)
        if isinstance(command, OriginateChannel | CreateChannel) and self._created_leg_missed(
            command.channel_id, failed.status, at
        ):
            return
        match command:
            case OriginateChannel(channel_id=cid) if cid == self.agent.channel_id:
                if self._step in (CallStep.AGENT_DIALING, CallStep.ENDING):
                    self._agent_originate_failed(failed.status, detail, at)
            case (
                OriginateChannel(channel_id=cid)
                | CreateChannel(channel_id=cid)
                | DialChannel(channel_id=cid)
            ) if self.customer is not None and cid == self.customer.channel_id:
                self._customer_request_failed(failed.status, detail, command, at)
            case HangupChannel(channel_id=cid) if failed.status == 404:
                for leg in self._legs():
                    if leg.channel_id == cid and leg.create_pending:
                        leg.hangup_missed = True  # the DELETE outran the originate
                    elif leg.channel_id == cid:
                        leg.mark_destroyed(at)
                self._advance(at)
            case CreateBridge() if failed.status == 409:
                self._on_bridge_created(at)
            case CreateBridge() if self._step == CallStep.ENDING:
                self._bridge_pending = False  # nothing to destroy; the end may go on
                self._maybe_finish(at)
            case CreateBridge() | AddToBridge():
                self._fail_everything(CallOutcome.INTERNAL_ERROR, f"bridge: {detail}", at)
            case PlayMedia(playback_id=pb):
                self._on_playback_finished(pb, "failed", at)
            case RecordBridge():
                self.recording_name = None
            case _:
                pass

    def _created_leg_missed(self, channel_id: str, status: int, at: float) -> bool:
        """The originate/create of a leg answered. True when our DELETE had already got a
        404 for it: the channel now exists (2xx, or maybe on no answer) and is hung up
        again, or it never will (an HTTP error) and the leg is gone."""
        leg = next((leg for leg in self._legs() if leg.channel_id == channel_id), None)
        if leg is None:
            return False
        leg.create_pending = False
        if not leg.hangup_missed or leg.destroyed:
            return False
        leg.hangup_missed = False
        if 200 <= status < 300 or status == 0:
            self._hang_up(leg)
        else:
            leg.mark_destroyed(at)
            self._advance(at)
        return True

    def _on_agent_digit(self, digit: str, at: float) -> None:
        if self._step != CallStep.AGENT_CONFIRMING:
            return
        if digit != "1":
            log.info("call %s: agent pressed %r, waiting for 1", self.call_id, digit)
            return
        self._cancel_timer(T_AGENT_CONFIRM)
        self._send(StopPlayback(playback_id=self._pb("press1")))
        self._announce(at)

    def _on_playback_finished(self, playback_id: str, state: str, at: float) -> None:
        if state == "failed":
            log.warning("call %s: playback %s failed", self.call_id, playback_id)
        if playback_id == self._pb("announce") and self._step == CallStep.ANNOUNCING:
            self._dial_customer(at)
        elif playback_id == self._pb("press1") and self._step == CallStep.AGENT_CONFIRMING:
            self._start_timer(T_AGENT_CONFIRM, self.settings.acceptance_wait_s)
        elif playback_id == self._pb("notice") and self._notice_playing:
            self._end_notice(at)

    # ----------------------------------------------------------------- progress
    def _advance(self, at: float) -> None:
        """Re-evaluate the current step after a leg changed."""
        step = self._step
        agent = self.agent
        if step in (CallStep.AGENT_DIALING, CallStep.AGENT_ANSWERED):
            if not agent.up and agent.destroyed:
                self._agent_failed(at)
            elif agent.up and agent.going:
                self._conclude(CallOutcome.AGENT_ABANDONED, "agent_hung_up", Party.AGENT)
                self._hang_up_all(at)
            elif agent.up and step == CallStep.AGENT_DIALING:
                self._set_step(CallStep.AGENT_ANSWERED, at)
                self._advance(at)
            elif agent.ready:
                self._agent_ready(at)
        elif step in (CallStep.AGENT_CONFIRMING, CallStep.ANNOUNCING):
            if agent.going:
                if step == CallStep.AGENT_CONFIRMING:
                    outcome = CallOutcome.AGENT_NOT_CONFIRMED
                else:
                    outcome = CallOutcome.AGENT_ABANDONED
                self._conclude(outcome, "agent_hung_up", Party.AGENT)
                self._hang_up_all(at)
        elif step == CallStep.CUSTOMER_DIALING:
            self._advance_customer_dialing(at)
        elif step == CallStep.CONNECTED:
            for leg, party in ((agent, Party.AGENT), (self.customer, Party.CUSTOMER)):
                if leg is not None and leg.going and not leg.hangup_sent:
                    self._conclude(CallOutcome.COMPLETED, f"{party}_hung_up", party)
                    self._hang_up_all(at)
                    break
        if self._step == CallStep.ENDING:
            self._maybe_finish(at)

    def _advance_customer_dialing(self, at: float) -> None:
        agent, customer = self.agent, self.customer
        assert customer is not None
        if agent.going and not agent.hangup_sent:
            self._conclude(CallOutcome.AGENT_ABANDONED, "agent_hung_up", Party.AGENT)
            self._hang_up_all(at)
            return
        if not customer.up and customer.destroyed:
            self._customer_failed(at, customer.failure_kind(), "", Party.CUSTOMER)
            return
        creating = self.settings.customer_dial_method == CustomerDialMethod.CREATE_DIAL
        if creating and customer.in_stasis and not customer.dial_sent and not customer.going:
            customer.dial_sent = True
            customer.dialed_at = at
            self._send(
                DialChannel(
                    channel_id=customer.channel_id,
                    caller=agent.channel_id,
                    timeout_s=self.settings.customer_ring_timeout_s,
                )
            )
            return
        if (
            creating
            and customer.dial_status in FINAL_DIAL_STATUSES
            and not customer.up
            and not customer.going
        ):
            # A created channel stays in Stasis after a failed /dial (Local): end it.
            self._hang_up(customer)
            return
        if customer.ready:
            self._customer_answered(at)

    def _agent_failed(self, at: float) -> None:
        kind = self.agent.failure_kind()
        outcome = _AGENT_OUTCOMES.get(kind, CallOutcome.AGENT_UNREACHABLE)
        self._conclude(outcome, str(kind), Party.AGENT)
        self._finish(at)

    def _agent_originate_failed(self, status: int, detail: str, at: float) -> None:
        outcome = outcome_for_http_error(status) or CallOutcome.AGENT_UNREACHABLE
        self._conclude(outcome, detail, Party.SYSTEM)
        if status == 0:
            # No answer from Asterisk: the channel may exist. Hang it up; a 404 ends the call.
            self._hang_up_all(at)
        else:
            self.agent.mark_destroyed(at)
            self._finish(at)

    def _agent_ready(self, at: float) -> None:
        self._cancel_timer(T_AGENT_ANSWER)
        if self.settings.acceptance_for(self.request.workstation):
            self._play(self.agent, "press1", self.settings.prompts.press_1_to_accept)
            self._start_timer(T_AGENT_CONFIRM, self.settings.acceptance_timeout_s)
            self._set_step(CallStep.AGENT_CONFIRMING, at)
        else:
            self._announce(at)

    def _announce(self, at: float) -> None:
        self._set_step(CallStep.ANNOUNCING, at)
        media = self.settings.prompts.customer_being_called
        if not media:  # no announcement configured: straight to hold audio and dialing
            self._dial_customer(at)
            return
        self._play(self.agent, "announce", media)
        self._start_timer(T_ANNOUNCE, self.settings.prompt_guard_s)

    def _dial_customer(self, at: float) -> None:
        self._cancel_timer(T_ANNOUNCE)
        self._start_hold()
        customer = Leg(
            LegRole.CUSTOMER, self.request.customer_endpoint, customer_channel_id(self.call_id)
        )
        self.customer = customer
        customer.create_pending = True
        common = {
            "channel_id": customer.channel_id,
            "endpoint": customer.endpoint,
            "app": self.settings.app,
            "app_args": f"customer,{self.call_id}",
            "variables": self._variables(LegRole.CUSTOMER),
            "other_channel_id": customer.local2_id,
        }
        if self.settings.customer_dial_method == CustomerDialMethod.CREATE_DIAL:
            self._send(CreateChannel(**common))  # type: ignore[arg-type]
        else:
            customer.dialed_at = at
            self._send(
                OriginateChannel(
                    **common,  # type: ignore[arg-type]
                    caller_id=self.settings.caller_id_to_customer,
                    timeout_s=self.settings.customer_ring_timeout_s,
                )
            )
        self._start_timer(
            T_CUSTOMER_ANSWER,
            self.settings.customer_ring_timeout_s + self.settings.stasis_guard_s,
        )
        self._set_step(CallStep.CUSTOMER_DIALING, at)

    def _customer_request_failed(
        self, status: int, detail: str, command: AriCommand, at: float
    ) -> None:
        if self._step != CallStep.CUSTOMER_DIALING:
            return
        customer = self.customer
        assert customer is not None
        if isinstance(command, DialChannel):
            self._hang_up(customer)  # the created channel still exists
        elif status != 0:
            customer.mark_destroyed(at)
        else:
            self._hang_up(customer)
        if outcome_for_http_error(status) is CallOutcome.INTERNAL_ERROR:
            self._conclude(CallOutcome.INTERNAL_ERROR, detail, Party.SYSTEM)
            self._play_notice(FailureKind.UNREACHABLE, at)
        else:
            self._customer_failed(at, FailureKind.CONGESTION, detail, Party.SYSTEM)

    def _customer_failed(self, at: float, kind: FailureKind, detail: str, party: Party) -> None:
        customer = self.customer
        assert customer is not None
        self._cancel_timer(T_CUSTOMER_ANSWER)
        outcome = _CUSTOMER_OUTCOMES[kind]
        self._conclude(outcome, f"{kind}: {detail}" if detail else str(kind), party)
        if not customer.destroyed and not customer.hangup_sent:
            self._hang_up(customer, reason="no_answer" if detail == "timeout" else "normal")
        self._play_notice(kind, at)

    def _play_notice(self, kind: FailureKind, at: float) -> None:
        """Tell the agent why, then hang the agent leg up (on PlaybackFinished or timer)."""
        self._stop_hold()
        if self.agent.going:
            self._set_step(CallStep.ENDING, at)
            self._maybe_finish(at)
            return
        prompts = self.settings.prompts
        media = {
            FailureKind.BUSY: prompts.customer_busy,
            FailureKind.REJECTED: prompts.customer_busy,
            FailureKind.NO_ANSWER: prompts.customer_no_answer,
            FailureKind.INVALID_NUMBER: prompts.customer_invalid_number,
        }.get(kind, prompts.customer_unreachable)
        self._notice_playing = True
        self._play(self.agent, "notice", media)
        self._start_timer(T_NOTICE, self.settings.prompt_guard_s)
        self._set_step(CallStep.ENDING, at, str(kind))

    def _end_notice(self, at: float) -> None:
        self._notice_playing = False
        self._cancel_timer(T_NOTICE)
        self._hang_up_all(at)

    def _customer_answered(self, at: float) -> None:
        self._cancel_timer(T_CUSTOMER_ANSWER)
        self.connected_at = at
        self._create_bridge()
        self._start_timer(T_BRIDGE, self.settings.bridge_guard_s)
        self._set_step(CallStep.CONNECTED, at)

    def _create_bridge(self) -> None:
        self._bridge_pending = True
        self._send(CreateBridge(bridge_id=self.bridge_id, name=self.call_id))

    def _on_bridge_created(self, at: float) -> None:
        """Created (or 409): it must be destroyed at the end, even when the call is already
        ending (Asterisk keeps empty bridges)."""
        self._bridge_pending = False
        if self._bridge_created:
            return
        self._bridge_created = True
        if self._step == CallStep.ENDING:
            self._maybe_finish(at)
            return
        if self._step != CallStep.CONNECTED:
            return
        customer = self.customer
        assert customer is not None
        self._send(
            AddToBridge(
                bridge_id=self.bridge_id,
                channel_ids=(self.agent.channel_id, customer.channel_id),
            )
        )

    def _on_bridged(self, at: float) -> None:
        if self._bridged or self._step != CallStep.CONNECTED:
            return
        self._bridged = True
        self._cancel_timer(T_BRIDGE)
        self._stop_hold()
        if self.settings.recording:
            self.recording_name = self.call_id
            self._send(
                RecordBridge(
                    bridge_id=self.bridge_id,
                    name=self.call_id,
                    format=self.settings.recording_format,
                )
            )

    # ----------------------------------------------------------------- ending
    def _conclude(self, outcome: CallOutcome, reason: str, party: Party | None) -> None:
        """Decide the outcome once: the first cause of the end wins."""
        if self.outcome is not None:
            return
        self.outcome = outcome
        self.reason = reason
        self.hung_up_first = party
        log.info("call %s: outcome %s (%s)", self.call_id, outcome, reason)

    def _fail_everything(self, outcome: CallOutcome, reason: str, at: float) -> None:
        self._conclude(outcome, reason, Party.SYSTEM)
        if self._step == CallStep.REQUESTED:
            self._finish(at)
        else:
            self._hang_up_all(at)

    def _hang_up_all(self, at: float, reason: str = "normal") -> None:
        for name in (T_AGENT_ANSWER, T_AGENT_CONFIRM, T_ANNOUNCE, T_CUSTOMER_ANSWER, T_BRIDGE):
            self._cancel_timer(name)
        if self._notice_playing:
            self._notice_playing = False
            self._cancel_timer(T_NOTICE)
        for leg in self._legs():
            if not leg.going:  # a leg already hanging up needs no DELETE
                self._hang_up(leg, reason)
        if self._step != CallStep.ENDING:
            self._set_step(CallStep.ENDING, at)
        self._start_timer(T_ENDING, self.settings.ending_guard_s)
        self._maybe_finish(at)

    def _maybe_finish(self, at: float) -> None:
        if self._notice_playing:
            if self.agent.going:  # the agent hung up during the notice
                self._notice_playing = False
                self._cancel_timer(T_NOTICE)
                self._start_timer(T_ENDING, self.settings.ending_guard_s)
            else:
                return
        if all(leg.destroyed for leg in self._legs()) and not self._bridge_pending:
            self._finish(at)

    def _finish(self, at: float) -> None:
        if self.is_finished:
            return
        for name in sorted(self._timers):
            self._send(CancelTimer(name=name))
        self._timers.clear()
        if self._bridge_created or self._bridge_pending:  # pending: the ending guard fired
            self._send(DestroyBridge(bridge_id=self.bridge_id))
        if self.outcome is None:
            self._conclude(CallOutcome.INTERNAL_ERROR, "ended_without_outcome", Party.SYSTEM)
        assert self.outcome is not None
        self.ended_at = at
        if self.outcome == CallOutcome.REJECTED:
            final = CallStep.REJECTED
        elif self.outcome in _SUCCESS_OUTCOMES:
            final = CallStep.ENDED
        else:
            final = CallStep.FAILED
        self._set_step(final, at, str(self.outcome))
        self._events.append(CallEnded(record=self.record()))

    def record(self) -> CallRecord:
        """The call record as known now (final once the call is finished)."""
        ended_at = self.ended_at if self.ended_at is not None else self._step_since
        agent_record = self.agent.record()
        if agent_record.ended_at is None and self.is_finished:
            agent_record = _close(agent_record, ended_at)
        customer_record = None
        if self.customer is not None:
            customer_record = self.customer.record()
            if customer_record.ended_at is None and self.is_finished:
                customer_record = _close(customer_record, ended_at)
        return CallRecord(
            call_id=self.call_id,
            agent_id=self.request.agent_id,
            contact_id=self.request.contact_id,
            customer_number=self.request.customer_number,
            workstation=self.request.workstation,
            agent_leg=agent_record,
            customer_leg=customer_record,
            steps=tuple(self._steps),
            outcome=self.outcome or CallOutcome.INTERNAL_ERROR,
            reason=self.reason,
            hung_up_first=self.hung_up_first,
            recording_name=self.recording_name,
            started_at=self.request.requested_at,
            connected_at=self.connected_at,
            ended_at=ended_at,
            recovered=self.recovered,
        )

    # ----------------------------------------------------------------- helpers
    def _legs(self) -> list[Leg]:
        legs = [self.agent]
        if self.customer is not None:
            legs.append(self.customer)
        return legs

    def _set_step(self, step: CallStep, at: float, reason: str = "") -> None:
        if step == self._step:
            return
        log.info("call %s: %s -> %s %s", self.call_id, self._step, step, reason)
        self._step = step
        self._step_since = at
        self._steps.append(StepTime(step, at))
        self._events.append(
            CallStepChanged(call_id=self.call_id, step=step, at=at, reason=reason or self.reason)
        )

    def _send(self, command: CallCommand) -> None:
        self._commands.append(command)

    def _start_timer(self, name: str, seconds: float) -> None:
        self._timers.add(name)
        self._send(StartTimer(name=name, seconds=seconds))

    def _cancel_timer(self, name: str) -> None:
        if name in self._timers:
            self._timers.discard(name)
            self._send(CancelTimer(name=name))

    def _hang_up(self, leg: Leg, reason: str = "normal") -> None:
        leg.hangup_sent = True
        self._send(HangupChannel(channel_id=leg.channel_id, reason=reason))

    def _pb(self, what: str) -> str:
        return f"{self.call_id}-pb-{what}"

    def _play(self, leg: Leg, what: str, media: tuple[str, ...]) -> None:
        self._send(
            PlayMedia(
                channel_id=leg.channel_id,
                playback_id=self._pb(what),
                media=media,
                lang=self.settings.language,
            )
        )

    def _start_hold(self) -> None:
        if self._hold is not None:
            return
        self._hold = self.settings.hold_audio
        if self._hold == HoldAudio.RINGING:
            self._send(StartRinging(channel_id=self.agent.channel_id))
        else:
            self._send(
                StartMusicOnHold(
                    channel_id=self.agent.channel_id, moh_class=self.settings.moh_class
                )
            )

    def _stop_hold(self) -> None:
        hold, self._hold = self._hold, None
        if hold is None or self.agent.going:
            return
        if hold == HoldAudio.RINGING:
            self._send(StopRinging(channel_id=self.agent.channel_id))
        else:
            self._send(StopMusicOnHold(channel_id=self.agent.channel_id))

    def _variables(self, role: LegRole) -> dict[str, str]:
        request = self.request
        variables = {
            "EVS_CALL_ID": self.call_id,
            "EVS_ROLE": str(role),
            "EVS_AGENT_ID": request.agent_id,
            "EVS_CUSTOMER_NUMBER": request.customer_number,
            "EVS_WORKSTATION": str(request.workstation),
        }
        if request.contact_id:
            variables["EVS_CONTACT_ID"] = request.contact_id
        return variables


def _adopted_leg(
    role: LegRole,
    endpoint: str,
    live: LiveLeg,
    at: float,
    connected_at: float | None,
    in_stasis: bool,
) -> Leg:
    leg = Leg(role, endpoint or live.name, live.channel_id)
    leg.local2_id = live.local2_id
    leg.state = live.state
    leg.in_stasis = in_stasis
    if live.state == "Up":
        leg.answered_at = connected_at if connected_at is not None else at
    return leg


def _close(leg: LegRecord, at: float) -> LegRecord:
    return msgspec.structs.replace(leg, ended_at=at)


# Stopping what already stopped (the prompt finished, the channel hung up during teardown)
# is an expected race, not a fault: ARI answers 404 and there is nothing left to do.
_STOPS_AND_HANGUPS = (StopPlayback, StopMusicOnHold, StopRinging, HangupChannel)


def _already_gone(failed: AriCommandFailed) -> bool:
    return failed.status == 404 and isinstance(failed.command, _STOPS_AND_HANGUPS)
