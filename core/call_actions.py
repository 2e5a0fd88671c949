"""What the call machine does, as small named actions: dial a leg, play a prompt, hold,
bridge, hang up, conclude, finish, and the call's record. `core.call.CallMachine` decides
WHEN (its transition table picks a handler per step and input); these say HOW.

Pure like the machine: actions queue commands and events in the outbox of `core.machine`.
"""

from __future__ import annotations

import logging
import math
from enum import Enum
from typing import Any

import msgspec

from core.ari_commands import (
    AddToBridge,
    AriCommand,
    AriCommandFailed,
    CreateBridge,
    CreateChannel,
    DestroyBridge,
    HangupChannel,
    OriginateChannel,
    PlayMedia,
    RecordBridge,
    SetChannelVar,
    StartMusicOnHold,
    StartRinging,
    StopMusicOnHold,
    StopPlayback,
    StopRinging,
)
from core.call_config import (
    CallRequest,
    CallSettings,
    CustomerDialMethod,
    CustomerDialTiming,
    HoldAudio,
)
from core.call_events import CallEnded, CallEvent, CallStepChanged
from core.call_inputs import ChannelsListed
from core.call_outcomes import CUSTOMER_OUTCOMES, FINAL_STEPS, final_step_for
from core.call_record import call_record
from core.domain import CallOutcome, CallStep, LegRole, Party, SupervisionMode
from core.ids import agent_channel_id, app_args, call_bridge_id, customer_channel_id, playback_id
from core.leg import END_NOT_SEEN, END_TELEPHONY_RESTARTED, FailureKind, Leg
from core.machine import Machine
from core.records import CallRecord, LegRecord, StepTime
from core.timers import TimerCommand
from core.views import CallView

log = logging.getLogger("core.call")  # the call machine's one logger

CallCommand = AriCommand | TimerCommand


# Timer names (one machine's namespace).
T_AGENT_ANSWER = "agent_answer"
T_AGENT_CONFIRM = "agent_confirm"
T_ANNOUNCE = "announce"
T_CUSTOMER_ANSWER = "customer_answer"
T_BRIDGE = "bridge"
T_NOTICE = "notice"
T_ENDING = "ending"
PLAYBACKS = ("announce", "press1", "notice")  # what the call plays to the agent
_LIVE_TIMERS = (T_AGENT_ANSWER, T_AGENT_CONFIRM, T_ANNOUNCE, T_CUSTOMER_ANSWER, T_BRIDGE)

# Set on the legs of a call adopted connected: a 404 says the leg ended between Asterisk's
# listing and the adopted call owning its channels (its end was routed to nobody).
ADOPTED_PROBE = "EVS_ADOPTED"

# Reasons of calls whose end the core did not see (events socket down, core restarted).
TELEPHONY_RESTARTED = "telephony_restarted"  # Asterisk's startup time changed meanwhile
TELEPHONY_SHUTDOWN = "telephony_shutdown"  # Asterisk hung the legs up to stop or restart
# Stopping what already stopped (the prompt finished, the channel hung up during teardown)
# is an expected race, not a fault: ARI answers 404 and there is nothing left to do.
_STOPS_AND_HANGUPS = (StopPlayback, StopMusicOnHold, StopRinging, HangupChannel)

ENDING_STEPS = frozenset({CallStep.ENDING_NOTICE, CallStep.ENDING, CallStep.ENDING_BRIDGE})


class BridgeState(Enum):
    """The call bridge in Asterisk: never asked for, CreateBridge unanswered, or existing
    (it must then be destroyed at the end: Asterisk keeps empty bridges)."""

    NONE = "none"
    REQUESTED = "requested"
    CREATED = "created"


class CallActions(Machine[CallStep, AriCommand, CallEvent]):
    """The call's state (besides the step) and the actions of the call flow."""

    _log = log

    def __init__(self, request: CallRequest, settings: CallSettings) -> None:
        super().__init__(f"call {request.call_id}", CallStep.REQUESTED)
        self.request = request
        self.settings = settings
        self.call_id = request.call_id
        self.bridge_id = call_bridge_id(request.call_id)
        self.agent = Leg(LegRole.AGENT, request.agent_endpoint, agent_channel_id(self.call_id))
        self.customer: Leg | None = None
        self._step_since = request.requested_at
        self._steps: list[StepTime] = [StepTime(CallStep.REQUESTED, request.requested_at)]
        self.outcome: CallOutcome | None = None
        self.reason = ""
        self.hung_up_first: Party | None = None
        self.connected_at: float | None = None
        self.ended_at: float | None = None
        self.recording_name: str | None = None
        self.recovered = False
        self._bridge = BridgeState.NONE
        self._in_bridge: set[str] = set()  # channels seen entering the call bridge
        self._hold: HoldAudio | None = None
        # The "customer is being called" prompt plays while the customer rings
        # (customer_dial_timing = at_confirmation): the hold audio waits for its end.
        self._announcing = False
        self._ended_before_ui = False  # a UI hang-up found a leg already gone (see below)

    # ----------------------------------------------------------------- surface
    @property
    def step(self) -> CallStep:
        return self._state

    @property
    def is_finished(self) -> bool:
        return self._state in FINAL_STEPS

    def view(self, monitored_by: tuple[tuple[str, SupervisionMode], ...] = ()) -> CallView:
        """The UI snapshot; `monitored_by` comes from the live SupervisionMachines."""
        return CallView(
            call_id=self.call_id,
            agent_id=self.request.agent_id,
            step=self._state,
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

    def record(self) -> CallRecord:
        """The call record as known now (final once the call is finished)."""
        ended_at = self.ended_at if self.ended_at is not None else self._step_since
        legs: list[LegRecord | None] = [self.agent.record(), None]
        if self.customer is not None:
            legs[1] = self.customer.record()
        if self.is_finished:  # a leg never seen destroyed ends with the call
            legs = [
                leg if leg is None or leg.ended_at is not None else _close(leg, ended_at)
                for leg in legs
            ]
        return call_record(
            self.request,
            outcome=self.outcome or CallOutcome.INTERNAL_ERROR,
            ended_at=ended_at,
            reason=self.reason,
            agent_leg=legs[0],
            customer_leg=legs[1],
            steps=tuple(self._steps),
            hung_up_first=self.hung_up_first,
            recording_name=self.recording_name,
            connected_at=self.connected_at,
            recovered=self.recovered,
        )

    def abort(self, reason: str, at: float) -> None:
        """The shell running this call failed: hang up every leg not known gone and end NOW
        as internal_error (nobody will feed the ChannelDestroyed events any more)."""
        if self.is_finished:
            return
        self.outcome = None  # whatever was decided, the call ends on this failure
        self._conclude(CallOutcome.INTERNAL_ERROR, reason[:300], Party.SYSTEM)
        for leg in self._legs():
            if not leg.destroyed and (leg is not self.agent or self._state != CallStep.REQUESTED):
                self._hang_up(leg)
                leg.mark_destroyed(at)
        self._finish(at)

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
        return tuple(playback_id(self.call_id, what) for what in PLAYBACKS)

    # ----------------------------------------------------------------- the call flow
    def _set_step(self, step: CallStep, at: float, reason: str = "") -> None:
        if not self._move(step, reason):
            return
        self._step_since = at
        self._steps.append(StepTime(step, at))
        self._emit(
            CallStepChanged(call_id=self.call_id, step=step, at=at, reason=reason or self.reason)
        )

    def _request_problem(self) -> str:
        return self.request.problem()

    def _originate_agent(self, at: float) -> None:
        agent = self.agent
        agent.dialed_at = at
        agent.create_pending = True
        self._send(
            OriginateChannel(
                channel_id=agent.channel_id,
                endpoint=agent.endpoint,
                app=self.settings.app,
                app_args=app_args(LegRole.AGENT, self.call_id),
                caller_id=self.settings.caller_id_to_agent,
                timeout_s=self.settings.agent_ring_timeout_s,
                variables=self._variables(LegRole.AGENT),
                other_channel_id=agent.local2_id,
            )
        )
        self._start_timer(
            T_AGENT_ANSWER, self.settings.agent_ring_timeout_s + self.settings.stasis_guard_s
        )
        self._set_step(CallStep.AGENT_DIALING, at)

    def _agent_ready(self, at: float) -> None:
        """The agent is Up and in Stasis: ask for "press 1", or announce the customer."""
        self._cancel_timer(T_AGENT_ANSWER)
        if self.settings.acceptance_for(self.request.workstation):
            self._play(self.agent, "press1", self.settings.prompts.press_1_to_accept)
            self._start_timer(T_AGENT_CONFIRM, self.settings.acceptance_timeout_s)
            self._set_step(CallStep.AGENT_CONFIRMING, at)
        else:
            self._agent_confirmed(at)

    def _agent_confirmed(self, at: float) -> None:
        """The agent answered (and pressed 1 where acceptance is on). At confirmation (the
        default): dial the customer now, while the agent hears the prompt and then the hold
        audio. After the announcement: the prompt first (announcing), then dial."""
        if self.settings.customer_dial_timing == CustomerDialTiming.AFTER_ANNOUNCEMENT:
            self._announce(at)
            return
        media = self.settings.prompts.customer_being_called
        if media:
            self._play(self.agent, "announce", media)
            self._start_timer(T_ANNOUNCE, self.settings.prompt_guard_s)
            self._announcing = True
        self._dial_customer(at)

    def _announcement_over(self, at: float, stop: bool = False) -> None:
        """The prompt that plays while the customer rings ended (or its guard fired, then
        `stop` it): the hold audio follows."""
        if not self._announcing:
            return
        self._stop_announcement(stop)
        self._start_hold()

    def _stop_announcement(self, stop: bool = True) -> None:
        """The customer answered or failed, or the guard fired: the prompt has no more to
        say (a playback still running would also hold back what Asterisk does next on the
        agent's channel: bridging, the notice)."""
        if not self._announcing:
            return
        self._announcing = False
        self._cancel_timer(T_ANNOUNCE)
        if stop:
            self._send(StopPlayback(playback_id=playback_id(self.call_id, "announce")))

    def _announce(self, at: float) -> None:
        self._set_step(CallStep.ANNOUNCING, at)
        media = self.settings.prompts.customer_being_called
        if not media:  # no announcement configured: straight to hold audio and dialing
            self._dial_customer(at)
            return
        self._play(self.agent, "announce", media)
        self._start_timer(T_ANNOUNCE, self.settings.prompt_guard_s)

    def _dial_customer(self, at: float) -> None:
        """Dial the customer; the agent hears the hold audio now, or after the prompt that
        is still playing (at_confirmation)."""
        if not self._announcing:
            self._cancel_timer(T_ANNOUNCE)
            self._start_hold()
        customer = Leg(
            LegRole.CUSTOMER, self.request.customer_endpoint, customer_channel_id(self.call_id)
        )
        self.customer = customer
        customer.create_pending = True
        settings = self.settings
        common: dict[str, Any] = {
            "channel_id": customer.channel_id,
            "endpoint": customer.endpoint,
            "app": settings.app,
            "app_args": app_args(LegRole.CUSTOMER, self.call_id),
            "variables": self._variables(LegRole.CUSTOMER),
            "other_channel_id": customer.local2_id,
        }
        if settings.customer_dial_method == CustomerDialMethod.CREATE_DIAL:
            self._send(CreateChannel(**common))  # /dial once it is in Stasis
        else:
            customer.dialed_at = at
            caller_id, timeout_s = settings.caller_id_to_customer, settings.customer_ring_timeout_s
            self._send(OriginateChannel(**common, caller_id=caller_id, timeout_s=timeout_s))
        self._start_timer(
            T_CUSTOMER_ANSWER, settings.customer_ring_timeout_s + settings.stasis_guard_s
        )
        self._set_step(CallStep.CUSTOMER_DIALING, at)

    def _customer_failed(self, at: float, kind: FailureKind, detail: str, party: Party) -> None:
        customer = self.customer
        assert customer is not None
        self._cancel_timer(T_CUSTOMER_ANSWER)
        outcome = CUSTOMER_OUTCOMES[kind]
        self._conclude(outcome, f"{kind}: {detail}" if detail else str(kind), party)
        if not customer.destroyed and not customer.hangup_sent:
            self._hang_up(customer, reason="no_answer" if detail == "timeout" else "normal")
        self._play_notice(kind, at)

    def _play_notice(self, kind: FailureKind, at: float) -> None:
        """Tell the agent why (ending_notice), then hang the agent leg up."""
        self._stop_announcement()
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
        self._play(self.agent, "notice", media)
        self._start_timer(T_NOTICE, self.settings.prompt_guard_s)
        self._set_step(CallStep.ENDING_NOTICE, at, str(kind))

    def _customer_answered(self, at: float) -> None:
        """Stop what the agent hears (the prompt, the hold audio), then bridge."""
        self._cancel_timer(T_CUSTOMER_ANSWER)
        self._stop_announcement()
        self._stop_hold()
        self.connected_at = at
        self._create_bridge()
        self._start_timer(T_BRIDGE, self.settings.bridge_guard_s)
        self._set_step(CallStep.BRIDGING, at)

    def _create_bridge(self) -> None:
        self._bridge = BridgeState.REQUESTED
        self._send(CreateBridge(bridge_id=self.bridge_id, name=self.call_id))

    def _add_to_bridge(self) -> None:
        customer = self.customer
        assert customer is not None
        self._send(
            AddToBridge(
                bridge_id=self.bridge_id,
                channel_ids=(self.agent.channel_id, customer.channel_id),
            )
        )

    def _record_bridge(self) -> None:
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

    def _conclude_ends_not_seen(self, when: str = "while_core_away") -> None:
        """A connected call whose legs vanished unseen: the one still there did not hang up
        first; with none left, who did is unknown (hung_up_first None)."""
        gone = [leg for leg in self._legs() if leg.end_not_seen]
        if not gone:
            return
        if len(gone) == len(self._legs()):
            self._conclude(CallOutcome.COMPLETED, f"ended_{when}", None)
        else:
            party = Party(str(gone[0].role))
            self._conclude(CallOutcome.COMPLETED, f"{party}_gone_{when}", party)

    def _gone_before_hang_up(self) -> None:
        """Our DELETE found a leg gone, its end never seen: when the hang-up button decided a
        connected call's end, the UI was not first after all (that leg ended before)."""
        decided_by_ui = self.outcome == CallOutcome.COMPLETED and self.hung_up_first == Party.UI
        if not (decided_by_ui or self._ended_before_ui):
            return
        self._ended_before_ui = True
        self.outcome = None
        self._conclude_ends_not_seen("before_hangup_from_ui")

    def _fail_everything(self, outcome: CallOutcome, reason: str, at: float) -> None:
        self._conclude(outcome, reason, Party.SYSTEM)
        if self._state == CallStep.REQUESTED:
            self._finish(at)
        else:
            self._hang_up_all(at)

    def _hang_up_all(self, at: float, reason: str = "normal") -> None:
        """Hang up every live leg (ending the notice first) -> ending, guarded by a timer."""
        if self._state == CallStep.ENDING_NOTICE:
            self._cancel_timer(T_NOTICE)
        for name in _LIVE_TIMERS:
            self._cancel_timer(name)
        self._announcing = False  # the hang-up ends the prompt
        for leg in self._legs():
            if not leg.going:  # a leg already hanging up needs no DELETE
                self._hang_up(leg, reason)
        self._set_step(CallStep.ENDING, at)
        self._start_timer(T_ENDING, self.settings.ending_guard_s)
        self._maybe_finish(at)

    def _maybe_finish(self, at: float) -> None:
        """In an ending step: finish once every leg is destroyed and no CreateBridge is
        unanswered (ending_bridge waits for it: a bridge created late is destroyed too)."""
        if self._state == CallStep.ENDING_NOTICE:
            if not self.agent.going:
                return
            self._cancel_timer(T_NOTICE)  # the agent hung up during the notice
            self._start_timer(T_ENDING, self.settings.ending_guard_s)
            self._set_step(CallStep.ENDING, at)
        if not all(leg.destroyed for leg in self._legs()):
            return
        if self._bridge == BridgeState.REQUESTED:
            self._set_step(CallStep.ENDING_BRIDGE, at)
        else:
            self._finish(at)

    def _finish(self, at: float) -> None:
        if self.is_finished:
            return
        self._cancel_all_timers()
        if self._bridge != BridgeState.NONE:  # requested: the ending guard fired
            self._send(DestroyBridge(bridge_id=self.bridge_id))
        if self.outcome is None:
            self._conclude(CallOutcome.INTERNAL_ERROR, "ended_without_outcome", Party.SYSTEM)
        assert self.outcome is not None
        self.ended_at = at
        self._set_step(final_step_for(self.outcome), at, str(self.outcome))
        self._emit(CallEnded(record=self.record()))

    # ----------------------------------------------------------------- helpers
    def _fold_vanished_legs(self, listed: ChannelsListed, at: float) -> bool:
        """Legs that vanished during an events-socket outage end, their end not seen: cause
        unknown, end time = now (approximate). Who hung up first is known only when one leg
        of a connected call is still there; a restart of Asterisk cut them all. True when a
        leg changed (the machine then takes it as any leg change)."""
        vanished = self._vanished_legs(listed)
        if not vanished:
            return False
        text = END_TELEPHONY_RESTARTED if listed.telephony_restarted else END_NOT_SEEN
        for leg in vanished:
            leg.mark_gone_unseen(at, text)
        if listed.telephony_restarted:
            self._conclude(CallOutcome.TELEPHONY_RESTARTED, TELEPHONY_RESTARTED, Party.SYSTEM)
        elif self._state in (CallStep.BRIDGING, CallStep.CONNECTED):
            self._conclude_ends_not_seen()
        return True

    def _probe_listed_legs(self) -> None:
        """A call adopted connected sends nothing else: ask about each listed leg once, so
        one that ended before the adopted call owned its channels is found (404)."""
        for leg in self._legs():
            self._send(SetChannelVar(channel_id=leg.channel_id, variable=ADOPTED_PROBE, value="1"))

    def _probe_found_gone(self, channel_id: str, at: float) -> bool:
        """A probed leg is gone, its end not seen: as if a listing had missed it. True when
        a leg changed."""
        leg = self._leg_with_id(channel_id)
        if leg is None or leg.destroyed:
            return False
        leg.mark_gone_unseen(at)
        if self._state in (CallStep.BRIDGING, CallStep.CONNECTED):
            self._conclude_ends_not_seen()
        return True

    def _vanished_legs(self, listed: ChannelsListed) -> list[Leg]:
        """Legs known to exist before the listing was asked for, not destroyed since, and
        not in it: they vanished while the events socket was down (Asterisk replays none)."""
        listed_at = math.inf if listed.listed_at is None else listed.listed_at
        return [leg for leg in self._legs() if leg.vanished(listed.channel_ids, listed_at)]

    def _created_leg_answered(self, channel_id: str, status: int, at: float) -> Leg | None:
        """The originate/create of a leg answered. The leg when our DELETE had already got a
        404 for it: the channel now exists (2xx, or maybe on no answer) and is hung up again,
        or it never will (an HTTP error) and the leg is marked destroyed. Else None."""
        leg = self._leg_with_id(channel_id)
        if leg is None:
            return None
        leg.create_pending = False
        if 200 <= status < 300:
            leg.known(at)
        if not leg.hangup_missed or leg.destroyed:
            return None
        leg.hangup_missed = False
        if 200 <= status < 300 or status == 0:
            self._hang_up(leg)
        else:
            leg.mark_destroyed(at)
        return leg

    def _log_failure(self, failed: AriCommandFailed) -> None:
        quiet = failed.status == 404 and isinstance(failed.command, _STOPS_AND_HANGUPS)
        log.log(
            logging.DEBUG if quiet else logging.WARNING,
            "call %s: %s failed: %s",
            self.call_id,
            type(failed.command).__name__,
            http_detail(failed),
        )

    def _legs(self) -> list[Leg]:
        legs = [self.agent]
        if self.customer is not None:
            legs.append(self.customer)
        return legs

    def _leg_with_id(self, channel_id: str) -> Leg | None:
        return next((leg for leg in self._legs() if leg.channel_id == channel_id), None)

    def _hang_up(self, leg: Leg, reason: str = "normal") -> None:
        leg.hangup_sent = True
        self._send(HangupChannel(channel_id=leg.channel_id, reason=reason))

    def _play(self, leg: Leg, what: str, media: tuple[str, ...]) -> None:
        self._send(
            PlayMedia(
                channel_id=leg.channel_id,
                playback_id=playback_id(self.call_id, what),
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


def http_detail(failed: AriCommandFailed) -> str:
    return f"http {failed.status}: {failed.message}"


def _close(leg: LegRecord, at: float) -> LegRecord:
    return msgspec.structs.replace(leg, ended_at=at)
