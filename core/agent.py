"""The agent's availability and workstation, and the gate every Connect-to-Phone call passes.

Transition table (state: input -> next state; anything else is refused with a reason code):

  offline    LogIn                               -> available
  available  Pause(reason)                       -> paused
             request_call(number) accepted       -> on_call (the CallRequest is returned)
             LogOut                              -> offline
  paused     SetAvailable                        -> available
             Pause(other reason)                 -> paused (reason updated)
             LogOut                              -> offline
  on_call    CallStepChanged / CallView          -> on_call (the call view is refreshed)
             CallEnded, customer never dialed     -> available (nothing to qualify:
               (rejected, agent_busy, agent_no_answer, agent_unreachable, agent_not_confirmed,
               telephony_unavailable;
               no disposition is written)
             CallEnded, other outcome            -> wrap_up (timer wrap_up if configured)
             Pause(reason)                       -> on_call, pause remembered for after wrap-up
  wrap_up    SubmitDisposition(call id matches)  -> available (or paused if a pause is pending)
             timer wrap_up                       -> same, with disposition code "not_qualified"
             Pause(reason)                       -> wrap_up, pause remembered
  any        SetWorkstation(mode, mobile number) -> same state (refused while on_call; the
               mobile number must pass policy.check_agent_mobile and be no one else's;
               a new number emits MobileNumberChanged, the audit trail)
  on_call    LogOut                              -> on_call, sign-out remembered: when the
                                                    call ends the agent goes offline (a call
                                                    to qualify is closed "not_qualified")
  wrap_up    LogOut                              -> offline (disposition "not_qualified")
  offline / available / paused
             AdoptCall(call view) (core restart)  -> on_call

Refusal codes: agent_offline, agent_not_available, agent_on_call, no_workstation,
no_softphone, invalid_number, number_not_allowed, do_not_call (the number is on the
opposition list given with `use_do_not_call`), unknown_call, disposition_required,
bad_dial_template. `receive` returns the refusal (or None) so the gateway can answer at once;
events (`AgentStateChanged`, `DispositionSubmitted`) and timer commands drain as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import msgspec

from core.call_config import CallRequest, DialTemplates
from core.call_events import CallEnded, CallStepChanged
from core.call_inputs import SwitchAgentLeg
from core.call_outcomes import final_step_for
from core.do_not_call import REFUSAL_CODE as DO_NOT_CALL
from core.do_not_call import DoNotCallCheck
from core.domain import AgentState, CallOutcome, CallStep, WorkstationMode
from core.domain import Refusal as Refusal  # re-exported: the agent's answers
from core.machine import Machine
from core.phone import DialingPolicy, NumberProblem
from core.records import CallRecord, Disposition
from core.timers import CancelTimer, StartTimer, TimerCommand, TimerFired
from core.views import AgentView, CallView

log = logging.getLogger(__name__)

T_WRAP_UP = "wrap_up"
# Calls that ended before the customer was dialed: there was no conversation to qualify.
# Customer-side failures (busy, no answer...) do go to wrap-up: the agent may book a callback.
NOTHING_TO_QUALIFY = frozenset(
    {
        CallOutcome.REJECTED,
        CallOutcome.AGENT_BUSY,
        CallOutcome.AGENT_NO_ANSWER,
        CallOutcome.AGENT_UNREACHABLE,
        CallOutcome.AGENT_NOT_CONFIRMED,
        CallOutcome.TELEPHONY_UNAVAILABLE,
    }
)
AUTO_DISPOSITION = "not_qualified"


class LogIn(msgspec.Struct, frozen=True, tag="log_in"):
    pass


class LogOut(msgspec.Struct, frozen=True, tag="log_out"):
    pass


class SetAvailable(msgspec.Struct, frozen=True, tag="set_available"):
    pass


class Pause(msgspec.Struct, frozen=True, tag="pause"):
    reason: str = ""


class SetWorkstation(msgspec.Struct, frozen=True, tag="set_workstation"):
    mode: WorkstationMode
    mobile_number: str | None = None
    by: str | None = None  # who asked (the audit trail); None: the agent


class AdoptCall(msgspec.Struct, frozen=True, tag="adopt_call"):
    """After a core restart: this agent has a live call rebuilt from Asterisk."""

    call: CallView


class SubmitDisposition(msgspec.Struct, frozen=True, tag="submit_disposition"):
    call_id: str
    code: str
    comment: str = ""
    callback_at: str | None = None


AgentInput = (
    LogIn
    | LogOut
    | SetAvailable
    | Pause
    | SetWorkstation
    | SubmitDisposition
    | AdoptCall
    | CallStepChanged
    | CallEnded
    | CallView
    | TimerFired
)


class AgentStateChanged(msgspec.Struct, frozen=True, tag="agent_state_changed"):
    agent_id: str
    state: AgentState
    at: float
    reason: str = ""


class DispositionSubmitted(msgspec.Struct, frozen=True, tag="disposition_submitted"):
    disposition: Disposition


class MobileNumberChanged(msgspec.Struct, frozen=True, tag="mobile_number_changed"):
    """Audit: the number dialed first on this agent's calls (at the call center's cost)
    changed. Written durably by the actor (audit log) and logged."""

    agent_id: str
    old_number: str | None
    new_number: str
    by: str
    at: float


AgentEvent = AgentStateChanged | DispositionSubmitted | MobileNumberChanged


class AgentMachine(Machine[AgentState, TimerCommand, AgentEvent]):
    _log = log
    # The agent's day (see "Sign-out during a call" and "Do-not-call" below); class-level
    # defaults so the constructor stays as it is.
    _pending_log_out: bool = False
    _do_not_call: DoNotCallCheck | None = None

    def __init__(
        self,
        agent_id: str,
        display_name: str = "",
        *,
        workstation: WorkstationMode | None = None,
        mobile_number: str | None = None,
        softphone_endpoint: str | None = None,
        templates: DialTemplates | None = None,
        policy: DialingPolicy | None = None,
        wrap_up_max_s: float | None = None,
        since: float = 0.0,
        numbers_of_others: Mapping[str, str] | None = None,
    ) -> None:
        """`numbers_of_others`: E.164 number -> id of the person (agent or supervisor) whose
        configured phone it is; no one else may take it as their mobile."""
        super().__init__(f"agent {agent_id}", AgentState.OFFLINE)
        self.agent_id = agent_id
        self.display_name = display_name or agent_id
        self.templates = templates or DialTemplates()
        self.policy = policy or DialingPolicy()
        self.softphone_endpoint = softphone_endpoint
        self.wrap_up_max_s = wrap_up_max_s
        self.workstation = workstation
        self.numbers_of_others = dict(numbers_of_others or {})
        self.mobile_number: str | None = None
        if mobile_number:
            checked = self._mobile_refusal(mobile_number)
            if isinstance(checked, str):
                self.mobile_number = checked
            else:
                log.warning("agent %s: mobile number ignored: %s", agent_id, checked.detail)
        self._since = since
        self.pause_reason: str | None = None
        self._pending_pause: str | None = None
        self.call: CallView | None = None
        self.call_id: str | None = None
        self.awaiting: CallRecord | None = None
        self._awaiting_view: CallView | None = None

    # ----------------------------------------------------------------- surface
    @property
    def state(self) -> AgentState:
        return self._state

    def view(self) -> AgentView:
        return AgentView(
            agent_id=self.agent_id,
            display_name=self.display_name,
            state=self._state,
            state_since=self._since,
            workstation=self.workstation,
            mobile_number=self.mobile_number,
            pause_reason=self.pause_reason if self._state == AgentState.PAUSED else None,
            call=self.call if self._state == AgentState.ON_CALL else None,
            awaiting_disposition=self._awaiting_view,
        )

    def receive(self, inp: AgentInput, at: float) -> Refusal | None:
        """Feed one input; a refusal says why it was not applied. Never raises."""
        try:
            return self._dispatch(inp, at)
        except Exception:
            log.exception("agent %s: error handling %s", self.agent_id, type(inp).__name__)
            return Refusal("internal_error", "the agent state machine failed on this input")

    def request_call(
        self, customer_number: str, call_id: str, at: float, contact_id: str | None = None
    ) -> CallRequest | Refusal:
        """The gate of Connect-to-Phone: a CallRequest to start, or why not."""
        refusal = self._call_refusal()
        if refusal is not None:
            return refusal
        checked = self.policy.check(customer_number)
        if isinstance(checked, NumberProblem):
            code = "invalid_number" if checked.code == "invalid_number" else "number_not_allowed"
            return Refusal(code, checked.detail)
        listed = self._do_not_call_refusal(checked)
        if listed is not None:
            return listed
        agent_endpoint = self._agent_endpoint()
        customer_endpoint = self.templates.render(self.templates.customer, number=checked)
        if not agent_endpoint or not customer_endpoint:
            return Refusal("bad_dial_template", "a dial template names an unknown placeholder")
        assert self.workstation is not None
        self.call_id = call_id
        self.call = None
        self._set_state(AgentState.ON_CALL, at, call_id)
        return CallRequest(
            call_id=call_id,
            agent_id=self.agent_id,
            agent_endpoint=agent_endpoint,
            customer_number=checked,
            customer_endpoint=customer_endpoint,
            workstation=self.workstation,
            contact_id=contact_id,
            requested_at=at,
        )

    def switch_request(self, call_id: str, target: WorkstationMode) -> SwitchAgentLeg | Refusal:
        """The gate of the mid-call switch (core/call_switch.py): the agent's connected call
        moves to `target` (its dial string rendered here, as for a call), or why not. The
        agent's workstation for the next calls does not change."""
        view = self.call
        if self._state != AgentState.ON_CALL or self.call_id != call_id or view is None:
            return Refusal("unknown_call", f"no live call {call_id!r} for this agent")
        if view.step == CallStep.SWITCHING:
            return Refusal("switch_in_progress", "the call is already being moved")
        if view.step != CallStep.CONNECTED:
            return Refusal("switch_not_connected", "only a connected call can be moved")
        if view.workstation == target:
            return Refusal("switch_same_workstation", f"the call is already on your {target}")
        endpoint = self.leg_endpoint(target)
        if isinstance(endpoint, Refusal):
            return endpoint
        return SwitchAgentLeg(target=target, endpoint=endpoint, requested_by=self.agent_id)

    def leg_endpoint(self, workstation: WorkstationMode) -> str | Refusal:
        """The dial string of this agent's phone on `workstation` (a switch's new leg, a
        persistent leg), or why there is none."""
        templates = self.templates
        if workstation == WorkstationMode.MOBILE:
            if not self.mobile_number:
                return Refusal("no_mobile", "no mobile number is set for you")
            endpoint = templates.render(templates.mobile, number=self.mobile_number)
        else:
            if not self.softphone_endpoint:
                return Refusal("no_softphone", "no softphone endpoint is configured for you")
            endpoint = templates.render(templates.softphone, endpoint=self.softphone_endpoint)
        if not endpoint:
            return Refusal("bad_dial_template", "a dial template names an unknown placeholder")
        return endpoint

    # ----------------------------------------------------------------- inputs
    def _dispatch(self, inp: AgentInput, at: float) -> Refusal | None:
        match inp:
            case LogIn():
                return self._log_in(at)
            case LogOut():
                return self._log_out(at)
            case SetAvailable():
                return self._set_available(at)
            case Pause(reason=reason):
                return self._pause(reason, at)
            case SetWorkstation(mode=mode, mobile_number=number, by=by):
                return self._set_workstation(mode, number, by or self.agent_id, at)
            case SubmitDisposition():
                return self._submit(inp, at)
            case AdoptCall(call=view):
                return self._adopt_call(view, at)
            case CallStepChanged(call_id=call_id) if call_id == self.call_id:
                return None
            case CallView(call_id=call_id) if call_id == self.call_id:
                self.call = inp
                return None
            case CallEnded(record=record):
                return self._call_ended(record, at)
            case TimerFired(name=name) if name == T_WRAP_UP:
                return self._wrap_up_expired(at)
            case _:
                log.debug("agent %s: ignoring %s", self.agent_id, type(inp).__name__)
                return None

    def _log_in(self, at: float) -> Refusal | None:
        self._pending_log_out = False  # signed in again before the call ended: stays
        if self._state != AgentState.OFFLINE:
            return None  # already logged in: idempotent
        self._set_state(AgentState.AVAILABLE, at, "log_in")
        return None

    def _log_out(self, at: float) -> Refusal | None:
        if self._state in (AgentState.ON_CALL, AgentState.WRAP_UP):
            return self._log_out_after_call(at)
        self.pause_reason = None
        self._set_state(AgentState.OFFLINE, at, "log_out")
        return None

    def _set_available(self, at: float) -> Refusal | None:
        if self._state == AgentState.OFFLINE:
            return Refusal("agent_offline", "log in first")
        if self._state == AgentState.WRAP_UP:
            return Refusal("disposition_required", "qualify the last call first")
        if self._state == AgentState.ON_CALL:
            self._pending_pause = None
            return None
        self.pause_reason = None
        self._set_state(AgentState.AVAILABLE, at, "set_available")
        return None

    def _pause(self, reason: str, at: float) -> Refusal | None:
        if self._state == AgentState.OFFLINE:
            return Refusal("agent_offline", "log in first")
        if self._state in (AgentState.ON_CALL, AgentState.WRAP_UP):
            self._pending_pause = reason
            return None
        self.pause_reason = reason
        if self._state == AgentState.PAUSED:
            self._set_state(AgentState.PAUSED, at, reason, force=True)
        else:
            self._set_state(AgentState.PAUSED, at, reason)
        return None

    def _set_workstation(
        self, mode: WorkstationMode, number: str | None, by: str, at: float
    ) -> Refusal | None:
        if self._state == AgentState.ON_CALL:
            return Refusal("agent_on_call", "the workstation cannot change during a call")
        if mode == WorkstationMode.SOFTPHONE:
            if not self.softphone_endpoint:
                return Refusal("no_softphone", "no softphone endpoint is configured for you")
            self.workstation = mode
            return None
        raw = number if number is not None else self.mobile_number
        if not raw:
            return Refusal("no_workstation", "a mobile workstation needs a mobile number")
        checked = self._mobile_refusal(raw)
        if isinstance(checked, Refusal):
            log.warning(
                "agent %s: mobile number %r refused (%s: %s), asked by %s",
                self.agent_id, raw, checked.code, checked.detail, by,
            )
            return checked
        self.workstation = mode
        if checked != self.mobile_number:
            self._events.append(
                MobileNumberChanged(
                    agent_id=self.agent_id,
                    old_number=self.mobile_number,
                    new_number=checked,
                    by=by,
                    at=at,
                )
            )
            self.mobile_number = checked
        return None

    def _mobile_refusal(self, raw: str) -> str | Refusal:
        """The E.164 number when it may be this agent's mobile: it is dialed first on every
        call, so it passes the dialing policy for agents' mobiles (no premium-rate, no
        foreign number, allowed prefixes) and is not someone else's phone (toll fraud)."""
        checked = self.policy.check_agent_mobile(raw)
        if isinstance(checked, NumberProblem):
            code = "invalid_number" if checked.code == "invalid_number" else "number_not_allowed"
            return Refusal(code, checked.detail)
        owner = self.numbers_of_others.get(checked)
        if owner is not None and owner != self.agent_id:
            return Refusal("number_not_allowed", f"{checked} is another person's phone")
        return checked

    def _submit(self, submit: SubmitDisposition, at: float) -> Refusal | None:
        if self._state != AgentState.WRAP_UP or self.awaiting is None:
            return Refusal("unknown_call", "no call is waiting for a qualification")
        if submit.call_id != self.awaiting.call_id:
            return Refusal("unknown_call", f"call {submit.call_id!r} is not the one to qualify")
        if not submit.code.strip():
            return Refusal("disposition_required", "choose a disposition")
        self._close_wrap_up(submit.code.strip(), submit.comment, submit.callback_at, at)
        return None

    def _call_ended(self, record: CallRecord, at: float) -> Refusal | None:
        if self._state != AgentState.ON_CALL or record.call_id != self.call_id:
            log.info("agent %s: CallEnded for %s ignored", self.agent_id, record.call_id)
            return None
        self.call = None
        self.call_id = None
        if record.outcome in NOTHING_TO_QUALIFY:
            self._after_call(at, f"no_customer_conversation:{record.outcome}")
            return None
        self.awaiting = record
        self._awaiting_view = _ended_view(record)
        if self._pending_log_out:  # signed out during the call: nobody is left to qualify
            self._close_wrap_up(AUTO_DISPOSITION, "", None, at, timer_fired=True)
            return None
        if self.wrap_up_max_s:
            self._commands.append(StartTimer(name=T_WRAP_UP, seconds=self.wrap_up_max_s))
        self._set_state(AgentState.WRAP_UP, at, str(record.outcome))
        return None

    def _adopt_call(self, view: CallView, at: float) -> Refusal | None:
        if self._state == AgentState.ON_CALL and self.call_id != view.call_id:
            return Refusal("agent_on_call", f"already on call {self.call_id}")
        if self._state == AgentState.WRAP_UP:
            return Refusal("disposition_required", "qualify the last call first")
        self.call_id = view.call_id
        self.call = view
        self.workstation = self.workstation or view.workstation
        self._set_state(AgentState.ON_CALL, at, "adopted")
        return None

    def _wrap_up_expired(self, at: float) -> Refusal | None:
        if self._state == AgentState.WRAP_UP:
            self._close_wrap_up(AUTO_DISPOSITION, "", None, at, timer_fired=True)
        return None

    def _close_wrap_up(
        self,
        code: str,
        comment: str,
        callback_at: str | None,
        at: float,
        timer_fired: bool = False,
    ) -> None:
        assert self.awaiting is not None
        disposition = Disposition(
            call_id=self.awaiting.call_id,
            agent_id=self.agent_id,
            code=code,
            comment=comment,
            callback_at=callback_at,
            submitted_at=at,
        )
        self._events.append(DispositionSubmitted(disposition=disposition))
        if self.wrap_up_max_s and not timer_fired:
            self._commands.append(CancelTimer(name=T_WRAP_UP))
        self.awaiting = None
        self._awaiting_view = None
        self._after_call(at, "qualified" if not timer_fired else "wrap_up_timeout")

    def _after_call(self, at: float, reason: str) -> None:
        if self._pending_log_out:
            self._apply_pending_log_out(at)
            return
        if self._pending_pause is not None:
            self.pause_reason, self._pending_pause = self._pending_pause, None
            self._set_state(AgentState.PAUSED, at, self.pause_reason)
        else:
            self._set_state(AgentState.AVAILABLE, at, reason)

    # ----------------------------------------------------------------- sign-out during a call
    def _log_out_after_call(self, at: float) -> Refusal | None:
        """LogOut while on_call is kept for when the call ends; in wrap_up (the call has
        ended, the agent leaves without qualifying) it closes the wrap-up "not_qualified"
        and applies at once."""
        self._pending_log_out = True
        self._pending_pause = None
        if self._state == AgentState.WRAP_UP and self.awaiting is not None:
            self._close_wrap_up(AUTO_DISPOSITION, "", None, at)
        return None

    def _apply_pending_log_out(self, at: float) -> None:
        self._pending_log_out = False
        self._pending_pause = None
        self.pause_reason = None
        self._set_state(AgentState.OFFLINE, at, "log_out")

    @property
    def log_out_pending(self) -> bool:
        return self._pending_log_out

    # ----------------------------------------------------------------- do-not-call
    def use_do_not_call(self, check: DoNotCallCheck | None) -> None:
        """The opposition list every requested number is checked against (None: none)."""
        self._do_not_call = check

    def _do_not_call_refusal(self, e164: str) -> Refusal | None:
        check = self._do_not_call
        if check is not None and check.listed(e164):
            return Refusal(DO_NOT_CALL, f"{e164} is on the do-not-call list")
        return None

    # ----------------------------------------------------------------- helpers
    def _call_refusal(self) -> Refusal | None:
        if self._state == AgentState.OFFLINE:
            return Refusal("agent_offline", "log in first")
        if self._state in (AgentState.ON_CALL, AgentState.WRAP_UP):
            return Refusal("agent_on_call", f"you are {self._state}")
        if self._state != AgentState.AVAILABLE:
            return Refusal("agent_not_available", f"you are {self._state}")
        if self.workstation is None:
            return Refusal("no_workstation", "choose a workstation (softphone or mobile)")
        if self.workstation == WorkstationMode.MOBILE and not self.mobile_number:
            return Refusal("no_workstation", "a mobile workstation needs a mobile number")
        if self.workstation == WorkstationMode.SOFTPHONE and not self.softphone_endpoint:
            return Refusal("no_softphone", "no softphone endpoint is configured for you")
        return None

    def _agent_endpoint(self) -> str:
        templates = self.templates
        if self.workstation == WorkstationMode.SOFTPHONE:
            return templates.render(templates.softphone, endpoint=self.softphone_endpoint or "")
        return templates.render(templates.mobile, number=self.mobile_number or "")

    def _set_state(
        self, state: AgentState, at: float, reason: str = "", force: bool = False
    ) -> None:
        if not self._move(state, reason) and not force:
            return
        self._since = at
        self._events.append(
            AgentStateChanged(agent_id=self.agent_id, state=state, at=at, reason=reason)
        )


def _ended_view(record: CallRecord) -> CallView:
    return CallView(
        call_id=record.call_id,
        agent_id=record.agent_id,
        step=final_step_for(record.outcome),
        customer_number=record.customer_number,
        contact_id=record.contact_id,
        outcome=record.outcome,
        reason=record.reason,
        workstation=record.workstation,
        step_since=record.ended_at,
        connected_at=record.connected_at,
        ended_at=record.ended_at,
        recording_name=record.recording_name,
        ended_by=record.hung_up_first,
    )
