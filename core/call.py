"""The Connect-to-Phone call: the core dials the agent's phone, then the customer, then
bridges them. Pure (Sans-I/O): inputs in through `receive(inp, at)`, ARI and timer commands
out through `commands_to_send()`, step changes and the final record through
`events_emitted()`. The machine never reads the clock and never raises on bad input.

How it reads (like h11's `_state.py`): `receive` first turns an input into an input KIND
(`Kind`), doing the bookkeeping every step shares (a leg folds its channel's event, a
CreateBridge answer is noted); then `TRANSITIONS[(step, kind)]` picks the one handler for
that step. A (step, kind) that is not in the table is an unexpected input: logged, ignored.
`ChannelsListed` (after an events-socket outage) folds the legs that vanished in as
destroyed; `abort()` (the actor failed) hangs up the live legs and ends at once.
Names, app args and channel variables: core.ids; adoption after a restart:
core.recovery_call; the actions the handlers call (dial, play, hang up, finish): core.call_actions.

Steps: requested -> agent_dialing -> agent_answered -> [agent_confirming] -> customer_dialing
(dialed at the agent's confirmation while the agent hears the "customer is being called"
prompt, then hold audio; with customer_dial_timing = after_announcement: announcing first,
then customer_dialing) -> bridging (prompt and hold audio stopped at the answer) ->
connected -> ending (ending_notice first when the agent hears why the customer failed;
ending_bridge last when a CreateBridge is still unanswered) -> ended (completed, cancelled)
| failed (every other outcome) | rejected (core.call_outcomes).
"Agent/customer gone" means a ChannelHangupRequest not asked by us, StasisEnd or
ChannelDestroyed of that leg's channel. A 404 on a hang-up sent while the leg's
originate/create is unanswered does not end the leg (the DELETE outran it): once the
originate answers, the leg is hung up again. Commands that depend on an earlier one wait for
its `AriCommandSucceeded` (AddToBridge after CreateBridge). Exactly one `CallEnded`, last.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from core.ari_commands import (
    AddToBridge,
    AriCommandFailed,
    AriCommandSucceeded,
    CreateBridge,
    CreateChannel,
    DialChannel,
    HangupChannel,
    OriginateChannel,
    PlayMedia,
    RecordBridge,
    SetChannelVar,
    StopPlayback,
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
from core.call_actions import (
    ADOPTED_PROBE,
    T_AGENT_ANSWER,
    T_AGENT_CONFIRM,
    T_ANNOUNCE,
    T_BRIDGE,
    T_CUSTOMER_ANSWER,
    T_ENDING,
    T_NOTICE,
    TELEPHONY_SHUTDOWN,
    BridgeState,
    CallCommand,
    http_detail,
)
from core.call_config import E164, CustomerDialMethod
from core.call_inputs import (
    AgentLegRestored,
    AgentLegUnavailable,
    CallInput,
    CallStart,
    ChannelsListed,
    HangupFromUi,
    SwitchAgentLeg,
)
from core.call_outcomes import AGENT_OUTCOMES, outcome_for_http_error
from core.call_switch import (
    PB_HOLD,
    PB_PRESS1,
    T_SWITCH_ANSWER,
    T_SWITCH_BRIDGE,
    T_SWITCH_CONFIRM,
    SwitchActions,
)
from core.domain import CallOutcome, CallStep, Party
from core.ids import playback_id
from core.leg import FINAL_DIAL_STATUSES, FailureKind
from core.timers import TimerFired

__all__ = ["E164", "CallCommand", "CallMachine", "Kind"]

log = logging.getLogger(__name__)

S = CallStep


class Kind(StrEnum):
    """What an input means to the call, whatever its type."""

    START = "start"
    UI_HANGUP = "ui_hangup"
    LEG_CHANGED = "leg_changed"  # a leg's channel event (or a 404 on its hang-up) was folded in
    AGENT_DIGIT = "agent_digit"
    ANNOUNCE_DONE = "announce_done"  # the announce prompt finished (or failed)
    PRESS1_DONE = "press1_done"
    NOTICE_DONE = "notice_done"
    AGENT_ORIGINATE_FAILED = "agent_originate_failed"
    CUSTOMER_REQUEST_FAILED = "customer_request_failed"  # originate / create / dial
    BRIDGE_CREATED = "bridge_created"  # CreateBridge answered 2xx (or 409: it exists)
    CREATE_BRIDGE_FAILED = "create_bridge_failed"
    ADD_TO_BRIDGE_FAILED = "add_to_bridge_failed"
    BRIDGED = "bridged"  # AddToBridge answered, or both legs seen entering the bridge
    AGENT_ANSWER_TIMER = T_AGENT_ANSWER
    AGENT_CONFIRM_TIMER = T_AGENT_CONFIRM
    ANNOUNCE_TIMER = T_ANNOUNCE
    CUSTOMER_ANSWER_TIMER = T_CUSTOMER_ANSWER
    BRIDGE_TIMER = T_BRIDGE
    NOTICE_TIMER = T_NOTICE
    ENDING_TIMER = T_ENDING
    # -- the mid-call switch of the agent leg (core/call_switch.py)
    SWITCH = "switch"  # SwitchAgentLeg
    SWITCH_DIGIT = "switch_digit"  # a DTMF on the new agent leg
    SWITCH_HOLD_DONE = "switch_hold_done"  # the customer's "please hold" finished
    SWITCH_PRESS1_DONE = "switch_press1_done"
    SWITCH_JOINED = "switch_joined"  # the new agent leg entered the call's bridge
    SWITCH_ORIGINATE_FAILED = "switch_originate_failed"
    AGENT_LEG_RESTORED = "agent_leg_restored"  # the persistent leg, called again
    AGENT_LEG_UNAVAILABLE = "agent_leg_unavailable"
    SWITCH_ANSWER_TIMER = T_SWITCH_ANSWER
    SWITCH_CONFIRM_TIMER = T_SWITCH_CONFIRM
    SWITCH_BRIDGE_TIMER = T_SWITCH_BRIDGE


_TIMER_KINDS = {str(kind): kind for kind in Kind if kind.name.endswith("_TIMER")}
_PLAYBACK_KINDS = {
    "announce": Kind.ANNOUNCE_DONE,
    "press1": Kind.PRESS1_DONE,
    "notice": Kind.NOTICE_DONE,
    PB_HOLD: Kind.SWITCH_HOLD_DONE,
    PB_PRESS1: Kind.SWITCH_PRESS1_DONE,
}

Handler = Callable[["CallMachine", Any, float], None]


class CallMachine(SwitchActions):
    """One Connect-to-Phone call, from the agent's request to its `CallRecord`."""

    # ----------------------------------------------------------------- public surface
    def receive(self, inp: CallInput, at: float) -> None:
        """Feed one input. Never raises: a bug ends the call as internal_error."""
        if self.is_finished:
            log.debug("call %s: ignoring %s after the end", self.call_id, type(inp).__name__)
            return
        self._now = at
        try:
            self._classify(inp, at)
        except Exception:
            log.exception("call %s: error handling %s", self.call_id, type(inp).__name__)
            try:
                self._fail_everything(CallOutcome.INTERNAL_ERROR, "machine_error", at)
            except Exception:  # the error path itself failed: hand over what we have
                log.critical("call %s: cannot end cleanly", self.call_id, exc_info=True)

    # ----------------------------------------------------------------- input -> kind
    def _on(self, kind: Kind, inp: Any, at: float) -> None:
        handler = TRANSITIONS.get((self._state, kind))
        if handler is None:
            log.debug("call %s: unexpected %s in %s, ignored", self.call_id, kind, self._state)
            return
        handler(self, inp, at)

    def _classify(self, inp: CallInput, at: float) -> None:
        match inp:
            case CallStart():
                self._on(Kind.START, inp, at)
            case HangupFromUi():
                self._on(Kind.UI_HANGUP, inp, at)
            case SwitchAgentLeg():
                self._on(Kind.SWITCH, inp, at)
            case AgentLegRestored():
                self._on(Kind.AGENT_LEG_RESTORED, inp, at)
            case AgentLegUnavailable():
                self._on(Kind.AGENT_LEG_UNAVAILABLE, inp, at)
            case TimerFired(name=name) if self._timer_is_armed(name) and name in _TIMER_KINDS:
                self._on(_TIMER_KINDS[name], inp, at)
            case AriCommandSucceeded():
                self._command_ok(inp, at)
            case AriCommandFailed():
                self._command_failed(inp, at)
            case ChannelsListed() if self._fold_vanished_legs(inp, at):
                self._on(Kind.LEG_CHANGED, inp, at)
            case PlaybackFinished(playback=playback):
                self._playback_done(playback.id, playback.state, at)
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
                switch = self.switching
                if switch is not None and switch.leg.channel_id in self._in_bridge:
                    self._on(Kind.SWITCH_JOINED, inp, at)
                elif customer and {self.agent.channel_id, customer.channel_id} <= self._in_bridge:
                    self._on(Kind.BRIDGED, inp, at)
            case TimerFired() | UnhandledEvent() | BridgeDestroyed():
                pass
            case _:
                self._channel_event(inp, at)

    def _channel_event(self, event: Any, at: float) -> None:
        channel_id = event_channel_id(event)
        if channel_id is None:
            return
        leg = next((leg for leg in self._legs() if leg.owns(channel_id)), None)
        if leg is None:
            log.debug("call %s: event for unknown channel %s", self.call_id, channel_id)
        elif isinstance(event, ChannelDtmfReceived) and channel_id == self.agent.channel_id:
            self._on(Kind.AGENT_DIGIT, event, at)
        elif isinstance(event, ChannelDtmfReceived) and self._is_switch_leg(channel_id):
            self._on(Kind.SWITCH_DIGIT, event, at)
        else:
            leg.observe(event, at)
            if leg.cut_by_shutdown:  # Asterisk is stopping: the call is cut whatever follows
                self._conclude(CallOutcome.TELEPHONY_RESTARTED, TELEPHONY_SHUTDOWN, Party.SYSTEM)
            self._on(Kind.LEG_CHANGED, event, at)

    def _command_ok(self, ok: AriCommandSucceeded, at: float) -> None:
        command = ok.command
        if isinstance(command, OriginateChannel | CreateChannel):
            self._created_leg_answered(command.channel_id, ok.status, at)
        elif isinstance(command, CreateBridge) and command.bridge_id == self.bridge_id:
            self._bridge_exists(ok, at)
        elif isinstance(command, AddToBridge) and command.bridge_id == self.bridge_id:
            self._on(Kind.BRIDGED, ok, at)

    def _command_failed(self, failed: AriCommandFailed, at: float) -> None:
        command, status = failed.command, failed.status
        self._log_failure(failed)
        if isinstance(command, OriginateChannel | CreateChannel):
            missed = self._created_leg_answered(command.channel_id, status, at)
            if missed is not None:  # hung up again, or gone for good
                if missed.destroyed:
                    self._on(Kind.LEG_CHANGED, failed, at)
                return
        customer = self.customer
        match command:
            case OriginateChannel(channel_id=cid) if cid == self.agent.channel_id:
                self._on(Kind.AGENT_ORIGINATE_FAILED, failed, at)
            case OriginateChannel(channel_id=cid) if self._is_switch_leg(cid):
                self._on(Kind.SWITCH_ORIGINATE_FAILED, failed, at)
            case (
                OriginateChannel(channel_id=cid)
                | CreateChannel(channel_id=cid)
                | DialChannel(channel_id=cid)
            ) if customer is not None and cid == customer.channel_id:
                self._on(Kind.CUSTOMER_REQUEST_FAILED, failed, at)
            case HangupChannel(channel_id=cid) if status == 404:
                leg = self._leg_with_id(cid)
                if leg is not None and leg.create_pending:
                    leg.hangup_missed = True  # the DELETE outran the originate
                elif leg is not None and not leg.destroyed:
                    leg.mark_gone_unseen(at)  # gone before our DELETE: its end was not seen
                    self._gone_before_hang_up()
                self._on(Kind.LEG_CHANGED, failed, at)
            case SetChannelVar(channel_id=cid, variable=var) if (
                var == ADOPTED_PROBE and status == 404
            ):
                if self._probe_found_gone(cid, at):
                    self._on(Kind.LEG_CHANGED, failed, at)
            case CreateBridge() if status == 409:
                self._bridge_exists(failed, at)
            case CreateBridge():
                self._on(Kind.CREATE_BRIDGE_FAILED, failed, at)
            case AddToBridge():
                self._on(Kind.ADD_TO_BRIDGE_FAILED, failed, at)
            case PlayMedia(playback_id=pb):
                self._playback_done(pb, "failed", at)
            case RecordBridge():
                self.recording_name = None
            case _:
                pass

    def _bridge_exists(self, answer: Any, at: float) -> None:
        if self._bridge != BridgeState.CREATED:  # else a duplicate answer
            self._bridge = BridgeState.CREATED
            self._on(Kind.BRIDGE_CREATED, answer, at)

    def _playback_done(self, pb: str, state: str, at: float) -> None:
        if state == "failed":
            log.warning("call %s: playback %s failed", self.call_id, pb)
        for what, kind in _PLAYBACK_KINDS.items():
            if pb == playback_id(self.call_id, what):
                self._on(kind, pb, at)

    # ----------------------------------------------------------------- handlers
    def _place_call(self, _: Any, at: float) -> None:
        self._step_since = at
        problem = self._request_problem()
        if problem:
            self._conclude(CallOutcome.REJECTED, problem, None)
            self._finish(at)
        else:
            self._originate_agent(at)

    def _cancel(self, ui: HangupFromUi, at: float) -> None:
        self._conclude(CallOutcome.CANCELLED, f"hangup_from_ui:{ui.by}", Party.UI)
        if self._state == S.REQUESTED:
            self._finish(at)
        else:
            self._hang_up_all(at)

    def _hang_up_answered(self, ui: HangupFromUi, at: float) -> None:
        self._conclude(CallOutcome.COMPLETED, f"hangup_from_ui:{ui.by}", Party.UI)
        self._hang_up_all(at)

    def _agent_progress(self, _: Any, at: float) -> None:
        """agent_dialing / agent_answered: the agent leg changed."""
        agent = self.agent
        if not agent.up and agent.destroyed:
            outcome = AGENT_OUTCOMES.get(agent.failure_kind(), CallOutcome.AGENT_UNREACHABLE)
            self._conclude(outcome, str(agent.failure_kind()), Party.AGENT)
            self._finish(at)
        elif agent.up and agent.going:
            self._conclude(CallOutcome.AGENT_ABANDONED, "agent_hung_up", Party.AGENT)
            self._hang_up_all(at)
        elif agent.up and self._state == S.AGENT_DIALING:
            self._set_step(S.AGENT_ANSWERED, at)
            self._agent_progress(_, at)
        elif agent.ready:
            self._agent_ready(at)

    def _agent_no_answer(self, _: Any, at: float) -> None:
        self._conclude(CallOutcome.AGENT_NO_ANSWER, "timeout", Party.SYSTEM)
        self._hang_up_all(at, reason="no_answer")

    def _agent_originate_failed(self, failed: AriCommandFailed, at: float) -> None:
        outcome = outcome_for_http_error(failed.status) or CallOutcome.AGENT_UNREACHABLE
        self._conclude(outcome, http_detail(failed), Party.SYSTEM)
        if failed.status == 0:
            # No answer from Asterisk: the channel may exist. Hang it up; a 404 ends the call.
            self._hang_up_all(at)
        else:
            self.agent.mark_destroyed(at)
            self._finish(at)

    def _agent_digit(self, event: ChannelDtmfReceived, at: float) -> None:
        if event.digit != "1":
            log.info("call %s: agent pressed %r, waiting for 1", self.call_id, event.digit)
            return
        self._cancel_timer(T_AGENT_CONFIRM)
        self._send(StopPlayback(playback_id=playback_id(self.call_id, "press1")))
        self._agent_confirmed(at)

    def _wait_for_digit(self, _: Any, at: float) -> None:
        self._start_timer(T_AGENT_CONFIRM, self.settings.acceptance_wait_s)

    def _agent_not_confirmed(self, _: Any, at: float) -> None:
        self._conclude(CallOutcome.AGENT_NOT_CONFIRMED, "no_digit", Party.SYSTEM)
        self._hang_up_all(at, reason="rejected")

    def _agent_gone_before_customer(self, _: Any, at: float) -> None:
        """agent_confirming / announcing: only the agent hanging up matters."""
        if self.agent.going:
            confirming = self._state == S.AGENT_CONFIRMING
            outcome = CallOutcome.AGENT_NOT_CONFIRMED if confirming else CallOutcome.AGENT_ABANDONED
            self._conclude(outcome, "agent_hung_up", Party.AGENT)
            self._hang_up_all(at)

    def _dial(self, _: Any, at: float) -> None:
        """announcing (after_announcement): the prompt ended, or its guard fired."""
        self._dial_customer(at)

    def _hold_after_announcement(self, _: Any, at: float) -> None:
        """customer_dialing (at_confirmation): the prompt ended; the hold audio follows."""
        self._announcement_over(at)

    def _announcement_too_long(self, _: Any, at: float) -> None:
        self._announcement_over(at, stop=True)

    def _customer_progress(self, _: Any, at: float) -> None:
        """customer_dialing: either leg changed."""
        agent, customer = self.agent, self.customer
        assert customer is not None
        creating = self.settings.customer_dial_method == CustomerDialMethod.CREATE_DIAL
        if agent.going and not agent.hangup_sent:
            self._conclude(CallOutcome.AGENT_ABANDONED, "agent_hung_up", Party.AGENT)
            self._hang_up_all(at)
        elif not customer.up and customer.destroyed:
            self._customer_failed(at, customer.failure_kind(), "", Party.CUSTOMER)
        elif creating and customer.in_stasis and not customer.dial_sent and not customer.going:
            customer.dial_sent = True
            customer.dialed_at = at
            self._send(
                DialChannel(
                    channel_id=customer.channel_id,
                    caller=agent.channel_id,
                    timeout_s=self.settings.customer_ring_timeout_s,
                )
            )
        elif creating and customer.dial_status in FINAL_DIAL_STATUSES and not customer.up:
            if not customer.going:  # a created channel stays in Stasis after a failed /dial
                self._hang_up(customer)
        elif customer.ready:
            self._customer_answered(at)

    def _customer_no_answer(self, _: Any, at: float) -> None:
        self._customer_failed(at, FailureKind.NO_ANSWER, "timeout", Party.SYSTEM)

    def _customer_request_failed(self, failed: AriCommandFailed, at: float) -> None:
        customer = self.customer
        assert customer is not None
        if isinstance(failed.command, DialChannel) or failed.status == 0:
            self._hang_up(customer)  # the channel (created, or maybe originated) exists
        else:
            customer.mark_destroyed(at)
        if outcome_for_http_error(failed.status) is CallOutcome.INTERNAL_ERROR:
            self._conclude(CallOutcome.INTERNAL_ERROR, http_detail(failed), Party.SYSTEM)
            self._play_notice(FailureKind.UNREACHABLE, at)
        else:
            self._customer_failed(at, FailureKind.CONGESTION, http_detail(failed), Party.SYSTEM)

    def _add_legs(self, _: Any, at: float) -> None:
        self._add_to_bridge()

    def _bridged(self, _: Any, at: float) -> None:
        self._cancel_timer(T_BRIDGE)
        self._stop_hold()
        self._record_bridge()
        self._set_step(S.CONNECTED, at)

    def _bridge_failed(self, inp: Any, at: float) -> None:
        reason = (
            f"bridge: {http_detail(inp)}" if isinstance(inp, AriCommandFailed) else "bridge_timeout"
        )
        self._fail_everything(CallOutcome.INTERNAL_ERROR, reason, at)

    def _party_hung_up(self, _: Any, at: float) -> None:
        """bridging / connected: the first side to hang up ends the call, completed (a
        persistent agent leg dropping is called again instead: core/call_switch.py)."""
        if self._lent_leg_dropped(at):
            return
        for leg, party in ((self.agent, Party.AGENT), (self.customer, Party.CUSTOMER)):
            if leg is not None and leg.going and not leg.hangup_sent:
                self._conclude(CallOutcome.COMPLETED, f"{party}_hung_up", party)
                self._hang_up_all(at)
                return

    def _end_notice(self, _: Any, at: float) -> None:
        self._hang_up_all(at)

    def _finish_when_all_gone(self, _: Any, at: float) -> None:
        self._maybe_finish(at)

    def _bridge_not_created(self, _: Any, at: float) -> None:
        if self._bridge == BridgeState.REQUESTED:  # nothing to destroy; the end may go on
            self._bridge = BridgeState.NONE
        self._maybe_finish(at)

    def _legs_not_destroyed_in_time(self, _: Any, at: float) -> None:
        log.warning("call %s: legs not destroyed in time, closing the record", self.call_id)
        for leg in self._legs():
            leg.mark_gone_unseen(at)  # cause unknown, end approximate (said in the record)
        self._finish(at)


M = CallMachine
_ENDING = (S.ENDING_NOTICE, S.ENDING, S.ENDING_BRIDGE)
# (step, what happened) -> the handler. Read it against the call flow; anything else is
# unexpected in that step (logged at debug level and ignored). UI hang-ups and leg changes
# in every step are listed; inputs a step does not expect are not.
TRANSITIONS: dict[tuple[CallStep, Kind], Handler] = {
    (S.REQUESTED, Kind.START): M._place_call,
    (S.REQUESTED, Kind.UI_HANGUP): M._cancel,
    # -- the agent's phone rings
    (S.AGENT_DIALING, Kind.LEG_CHANGED): M._agent_progress,
    (S.AGENT_DIALING, Kind.AGENT_ANSWER_TIMER): M._agent_no_answer,
    (S.AGENT_DIALING, Kind.AGENT_ORIGINATE_FAILED): M._agent_originate_failed,
    (S.AGENT_DIALING, Kind.UI_HANGUP): M._cancel,
    (S.AGENT_ANSWERED, Kind.LEG_CHANGED): M._agent_progress,  # waits for StasisStart
    (S.AGENT_ANSWERED, Kind.AGENT_ANSWER_TIMER): M._agent_no_answer,
    (S.AGENT_ANSWERED, Kind.UI_HANGUP): M._cancel,
    # -- "press 1 to accept"
    (S.AGENT_CONFIRMING, Kind.AGENT_DIGIT): M._agent_digit,
    (S.AGENT_CONFIRMING, Kind.PRESS1_DONE): M._wait_for_digit,
    (S.AGENT_CONFIRMING, Kind.AGENT_CONFIRM_TIMER): M._agent_not_confirmed,
    (S.AGENT_CONFIRMING, Kind.LEG_CHANGED): M._agent_gone_before_customer,
    (S.AGENT_CONFIRMING, Kind.UI_HANGUP): M._cancel,
    # -- the agent is confirmed: the customer's phone rings at once (at_confirmation, the
    #    default) while the agent hears "we are calling the customer", then hold audio; the
    #    customer answering or failing cuts the prompt short (customer_dialing rows below)
    (S.CUSTOMER_DIALING, Kind.ANNOUNCE_DONE): M._hold_after_announcement,
    (S.CUSTOMER_DIALING, Kind.ANNOUNCE_TIMER): M._announcement_too_long,
    # -- or (after_announcement) "we are calling the customer" first, then dial
    (S.ANNOUNCING, Kind.ANNOUNCE_DONE): M._dial,
    (S.ANNOUNCING, Kind.ANNOUNCE_TIMER): M._dial,
    (S.ANNOUNCING, Kind.LEG_CHANGED): M._agent_gone_before_customer,
    (S.ANNOUNCING, Kind.UI_HANGUP): M._cancel,
    # -- the customer's phone rings; the agent hears the prompt or the hold audio
    (S.CUSTOMER_DIALING, Kind.LEG_CHANGED): M._customer_progress,
    (S.CUSTOMER_DIALING, Kind.CUSTOMER_ANSWER_TIMER): M._customer_no_answer,
    (S.CUSTOMER_DIALING, Kind.CUSTOMER_REQUEST_FAILED): M._customer_request_failed,
    (S.CUSTOMER_DIALING, Kind.UI_HANGUP): M._cancel,
    # -- the customer answered: prompt and hold audio stopped, CreateBridge, AddToBridge, record
    (S.BRIDGING, Kind.BRIDGE_CREATED): M._add_legs,
    (S.BRIDGING, Kind.BRIDGED): M._bridged,
    (S.BRIDGING, Kind.CREATE_BRIDGE_FAILED): M._bridge_failed,
    (S.BRIDGING, Kind.ADD_TO_BRIDGE_FAILED): M._bridge_failed,
    (S.BRIDGING, Kind.BRIDGE_TIMER): M._bridge_failed,
    (S.BRIDGING, Kind.LEG_CHANGED): M._party_hung_up,
    (S.BRIDGING, Kind.UI_HANGUP): M._hang_up_answered,
    (S.CONNECTED, Kind.LEG_CHANGED): M._party_hung_up,
    (S.CONNECTED, Kind.UI_HANGUP): M._hang_up_answered,
    # both legs seen entering before CreateBridge answered (not seen with Asterisk)
    (S.CONNECTED, Kind.BRIDGE_CREATED): M._add_legs,
    (S.CONNECTED, Kind.CREATE_BRIDGE_FAILED): M._bridge_failed,
    (S.CONNECTED, Kind.ADD_TO_BRIDGE_FAILED): M._bridge_failed,
    # -- the agent leg moves to another workstation (core/call_switch.py): the customer
    #    holds in the bridge while the new leg rings, [presses 1], joins; the old one goes
    (S.CONNECTED, Kind.SWITCH): M._switch_requested,
    (S.SWITCHING, Kind.LEG_CHANGED): M._switch_progress,
    (S.SWITCHING, Kind.SWITCH_HOLD_DONE): M._switch_hold_done,
    (S.SWITCHING, Kind.SWITCH_PRESS1_DONE): M._switch_press1_done,
    (S.SWITCHING, Kind.SWITCH_DIGIT): M._switch_digit,
    (S.SWITCHING, Kind.SWITCH_JOINED): M._switch_joined,
    (S.SWITCHING, Kind.SWITCH_ANSWER_TIMER): M._switch_no_answer,
    (S.SWITCHING, Kind.SWITCH_CONFIRM_TIMER): M._switch_not_confirmed,
    (S.SWITCHING, Kind.SWITCH_BRIDGE_TIMER): M._switch_bridge_failed,
    (S.SWITCHING, Kind.ADD_TO_BRIDGE_FAILED): M._switch_bridge_failed,
    (S.SWITCHING, Kind.SWITCH_ORIGINATE_FAILED): M._switch_originate_failed,
    (S.SWITCHING, Kind.UI_HANGUP): M._switch_ui_hangup,
    (S.SWITCHING, Kind.AGENT_LEG_RESTORED): M._agent_leg_restored,
    (S.SWITCHING, Kind.AGENT_LEG_UNAVAILABLE): M._agent_leg_unavailable,
    # -- ending: the notice, then the legs' ChannelDestroyed, then a late CreateBridge
    (S.ENDING_NOTICE, Kind.NOTICE_DONE): M._end_notice,
    (S.ENDING_NOTICE, Kind.NOTICE_TIMER): M._end_notice,
    (S.ENDING_NOTICE, Kind.UI_HANGUP): M._end_notice,
    (S.ENDING, Kind.ADD_TO_BRIDGE_FAILED): M._bridge_failed,  # hang up again, re-arm the guard
    (S.ENDING_BRIDGE, Kind.ADD_TO_BRIDGE_FAILED): M._bridge_failed,
}
for _step in _ENDING:
    TRANSITIONS[(_step, Kind.LEG_CHANGED)] = M._finish_when_all_gone
    TRANSITIONS[(_step, Kind.BRIDGE_CREATED)] = M._finish_when_all_gone  # destroyed at the end
    TRANSITIONS[(_step, Kind.CREATE_BRIDGE_FAILED)] = M._bridge_not_created
    TRANSITIONS[(_step, Kind.ENDING_TIMER)] = M._legs_not_destroyed_in_time
    TRANSITIONS[(_step, Kind.AGENT_ORIGINATE_FAILED)] = M._agent_originate_failed
