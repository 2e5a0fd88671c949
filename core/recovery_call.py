"""A call adopted after the core restarted (or lost its events socket): rebuilt from what
Asterisk still had, it only has to end cleanly and leave one record.

Same surface as CallMachine (`receive(inp, at)`, `commands_to_send()`, `events_emitted()`,
`view()`), so a CallActor runs it unchanged. Transition table:

  connected  (both legs Up in the call bridge)
    agent or customer gone  -> Hangup the other; hung_up_first = that party -> ending
    HangupFromUi            -> Hangup both; hung_up_first = ui              -> ending
  ending     (also the start when the call is not bridged: every live leg is hung up)
    every leg ChannelDestroyed (or 404 on its hang-up), or timer ending
                            -> DestroyBridge (if any), CallEnded            -> ended | failed

The record says `recovered=True`; steps before the adoption are unknown, except the
connection time when the journal kept it.
"""

from __future__ import annotations

import logging

import msgspec

from core.ari_commands import (
    AriCommandFailed,
    DestroyBridge,
    HangupChannel,
)
from core.ari_events import (
    ChannelDestroyed,
    ChannelHangupRequest,
    StasisEnd,
    event_channel_id,
)
from core.call_config import CallRequest
from core.call_events import CallEnded, CallEvent, CallStepChanged
from core.call_inputs import HangupFromUi
from core.domain import CallOutcome, CallStep, LegRole, Party, WorkstationMode
from core.records import CallRecord, LegRecord, StepTime
from core.recovery_scan import LiveCall, LiveLeg
from core.timers import StartTimer, TimerCommand, TimerFired
from core.views import CallView

log = logging.getLogger(__name__)

T_ENDING = "ending"
ENDING_GUARD_S = 10.0


class _AdoptedLeg:
    def __init__(self, leg: LiveLeg, endpoint: str) -> None:
        self.role = LegRole(leg.role)
        self.channel_id = leg.channel_id
        self.local2_id = leg.local2_id
        self.endpoint = endpoint
        self.up = leg.state == "Up"
        self.going = False
        self.destroyed = False
        self.hangup_sent = False
        self.cause = 0
        self.cause_text = ""
        self.ended_at: float | None = None

    def owns(self, channel_id: str | None) -> bool:
        return channel_id is not None and channel_id in (self.channel_id, self.local2_id)


def adopted_request(live: LiveCall, at: float) -> CallRequest:
    """A CallRequest rebuilt from the EVS_* channel variables (what the record needs)."""
    v = live.variables
    workstation = v.get("EVS_WORKSTATION", "mobile")
    if workstation not in {m.value for m in WorkstationMode}:
        workstation = "mobile"
    return CallRequest(
        call_id=live.call_id,
        agent_id=v.get("EVS_AGENT_ID", ""),
        agent_endpoint=live.agent.name if live.agent else "",
        customer_number=v.get("EVS_CUSTOMER_NUMBER", ""),
        customer_endpoint=live.customer.name if live.customer else "",
        workstation=WorkstationMode(workstation),
        contact_id=v.get("EVS_CONTACT_ID") or None,
        requested_at=at,
    )


class RecoveredCallMachine:
    def __init__(
        self,
        live: LiveCall,
        request: CallRequest,
        at: float,
        connected_at: float | None = None,
        ending_guard_s: float = ENDING_GUARD_S,
    ) -> None:
        self.call_id = live.call_id
        self.request = request
        self.bridge_id = live.bridge_id
        self.legs = [
            _AdoptedLeg(leg, endpoint)
            for leg, endpoint in (
                (live.agent, request.agent_endpoint),
                (live.customer, request.customer_endpoint),
            )
            if leg is not None
        ]
        self.was_bridged = live.bridged
        self.connected_at = (
            connected_at if connected_at is not None else (at if live.bridged else None)
        )
        self.hung_up_first: Party | None = None
        self.outcome: CallOutcome | None = None
        self.reason = ""
        self.ended_at: float | None = None
        self._ending_guard_s = ending_guard_s
        self._steps: list[StepTime] = []
        self._step = CallStep.CONNECTED
        self._step_since = at
        self._commands: list[HangupChannel | DestroyBridge | TimerCommand] = []
        self._events: list[CallEvent] = []
        self.recovered = True
        if live.bridged:
            self._set_step(CallStep.CONNECTED, at, "adopted")
        else:
            self.outcome = CallOutcome.INTERNAL_ERROR
            self.reason = "recovered_incomplete"
            self.hung_up_first = Party.SYSTEM
            self._end_all(at)

    # ----------------------------------------------------------------- surface
    @property
    def step(self) -> CallStep:
        return self._step

    @property
    def is_finished(self) -> bool:
        return self._step in (CallStep.ENDED, CallStep.FAILED)

    def channel_ids(self) -> tuple[str, ...]:
        ids: list[str] = []
        for leg in self.legs:
            ids.append(leg.channel_id)
            if leg.local2_id:
                ids.append(leg.local2_id)
        return tuple(ids)

    def commands_to_send(self) -> list[HangupChannel | DestroyBridge | TimerCommand]:
        commands, self._commands = self._commands, []
        return commands

    def events_emitted(self) -> list[CallEvent]:
        events, self._events = self._events, []
        return events

    def receive(self, inp: object, at: float) -> None:
        if self.is_finished:
            return
        try:
            self._dispatch(inp, at)
        except Exception:
            log.exception("recovered call %s: error on %s", self.call_id, type(inp).__name__)
            self.outcome = self.outcome or CallOutcome.INTERNAL_ERROR
            self.reason = self.reason or "machine_error"
            self._end_all(at)

    def view(self) -> CallView:
        return CallView(
            call_id=self.call_id,
            agent_id=self.request.agent_id,
            step=self._step,
            customer_number=self.request.customer_number,
            contact_id=self.request.contact_id,
            outcome=self.outcome if self.is_finished else None,
            reason=self.reason,
            workstation=self.request.workstation,
            step_since=self._step_since,
            connected_at=self.connected_at,
            ended_at=self.ended_at,
            recording_name=self.call_id if self.was_bridged else None,
        )

    # ----------------------------------------------------------------- inputs
    def _dispatch(self, inp: object, at: float) -> None:
        match inp:
            case HangupFromUi():
                if self.hung_up_first is None:
                    self.hung_up_first = Party.UI
                self._complete(at)
            case TimerFired(name=name) if name == T_ENDING:
                for leg in self.legs:
                    leg.destroyed = True
                self._maybe_finish(at)
            case AriCommandFailed(command=HangupChannel(channel_id=cid), status=404):
                self._leg_destroyed(cid, 0, "", at)
            case ChannelDestroyed():
                self._leg_destroyed(event_channel_id(inp), inp.cause, inp.cause_txt, at)
            case ChannelHangupRequest() | StasisEnd():
                self._leg_gone(event_channel_id(inp), at)
            case _:
                pass

    def _leg(self, channel_id: str | None) -> _AdoptedLeg | None:
        for leg in self.legs:
            if leg.owns(channel_id):
                return leg
        return None

    def _leg_gone(self, channel_id: str | None, at: float) -> None:
        leg = self._leg(channel_id)
        if leg is None or leg.going:
            return
        leg.going = True
        if not leg.hangup_sent and self.hung_up_first is None:
            self.hung_up_first = Party.AGENT if leg.role == LegRole.AGENT else Party.CUSTOMER
        self._complete(at)

    def _leg_destroyed(self, channel_id: str | None, cause: int, text: str, at: float) -> None:
        leg = self._leg(channel_id)
        if leg is None:
            return
        if channel_id == leg.channel_id or not leg.cause:
            leg.cause, leg.cause_text = cause or leg.cause, text or leg.cause_text
        if channel_id == leg.channel_id:
            leg.destroyed = True
            leg.ended_at = at
        self._leg_gone(channel_id, at)
        self._maybe_finish(at)

    def _complete(self, at: float) -> None:
        if self.outcome is None:
            self.outcome = CallOutcome.COMPLETED
        self._end_all(at)

    def _end_all(self, at: float) -> None:
        if self._step != CallStep.ENDING:
            for leg in self.legs:
                if not leg.hangup_sent and not leg.destroyed:
                    leg.hangup_sent = True
                    self._commands.append(HangupChannel(channel_id=leg.channel_id))
            self._commands.append(StartTimer(name=T_ENDING, seconds=self._ending_guard_s))
            self._set_step(CallStep.ENDING, at)
        self._maybe_finish(at)

    def _maybe_finish(self, at: float) -> None:
        if self._step != CallStep.ENDING or not all(leg.destroyed for leg in self.legs):
            return
        if self.bridge_id:
            self._commands.append(DestroyBridge(bridge_id=self.bridge_id))
        self.ended_at = at
        final = CallStep.ENDED if self.outcome == CallOutcome.COMPLETED else CallStep.FAILED
        self._set_step(final, at, str(self.outcome))
        self._events.append(CallEnded(record=self.record()))

    def _set_step(self, step: CallStep, at: float, reason: str = "") -> None:
        if step == self._step and self._steps:
            return
        log.info("recovered call %s: %s -> %s %s", self.call_id, self._step, step, reason)
        self._step, self._step_since = step, at
        self._steps.append(StepTime(step, at))
        self._events.append(CallStepChanged(call_id=self.call_id, step=step, at=at, reason=reason))

    def record(self) -> CallRecord:
        ended_at = self.ended_at if self.ended_at is not None else self._step_since

        def leg_record(leg: _AdoptedLeg | None, role: LegRole) -> LegRecord | None:
            if leg is None:
                return None
            answered = self.connected_at if leg.up else None
            end = leg.ended_at or ended_at
            return LegRecord(
                role=role,
                endpoint=leg.endpoint,
                channel_id=leg.channel_id,
                answered_at=answered,
                ended_at=end,
                hangup_cause=leg.cause,
                hangup_cause_text=leg.cause_text,
                billable_seconds=max(0.0, end - answered) if answered else 0.0,
            )

        agent = next((leg for leg in self.legs if leg.role == LegRole.AGENT), None)
        customer = next((leg for leg in self.legs if leg.role == LegRole.CUSTOMER), None)
        agent_record = leg_record(agent, LegRole.AGENT) or LegRecord(
            role=LegRole.AGENT,
            endpoint=self.request.agent_endpoint,
            channel_id=f"{self.call_id}-agent",
            ended_at=ended_at,
        )
        return CallRecord(
            call_id=self.call_id,
            agent_id=self.request.agent_id,
            contact_id=self.request.contact_id,
            customer_number=self.request.customer_number,
            workstation=self.request.workstation,
            agent_leg=agent_record,
            customer_leg=leg_record(customer, LegRole.CUSTOMER),
            steps=tuple(self._steps),
            outcome=self.outcome or CallOutcome.INTERNAL_ERROR,
            reason=self.reason,
            hung_up_first=self.hung_up_first,
            recording_name=self.call_id if self.was_bridged else None,
            started_at=self.request.requested_at,
            connected_at=self.connected_at,
            ended_at=ended_at,
            recovered=True,
        )


def lost_call_record(
    request: CallRequest, last_step: CallStep, connected_at: float | None, at: float
) -> CallRecord:
    """A call the journal knew as live that Asterisk no longer has: it ended while the core
    was away; only what the journal kept is known."""
    was_connected = last_step == CallStep.CONNECTED
    return CallRecord(
        call_id=request.call_id,
        agent_id=request.agent_id,
        contact_id=request.contact_id,
        customer_number=request.customer_number,
        workstation=request.workstation,
        agent_leg=LegRecord(
            role=LegRole.AGENT,
            endpoint=request.agent_endpoint,
            channel_id=f"{request.call_id}-agent",
            ended_at=at,
        ),
        steps=(StepTime(last_step, connected_at or request.requested_at),),
        outcome=CallOutcome.COMPLETED if was_connected else CallOutcome.INTERNAL_ERROR,
        reason="ended_while_core_away" if was_connected else "lost_while_core_away",
        hung_up_first=None,
        recording_name=request.call_id if was_connected else None,
        started_at=request.requested_at,
        connected_at=connected_at,
        ended_at=at,
        recovered=True,
    )


def replace_request(request: CallRequest, **changes: object) -> CallRequest:
    return msgspec.structs.replace(request, **changes)
