"""AgentActor: one per agent, a thin shell around core's AgentMachine.

The composition root `ask()`s it for the UI's requests (log in, pause, place a call...) so a
refusal reaches the browser at once; CallActors `tell()` it their views and their end. It
never asks a peer: a call it accepts is started through the call factory, which returns a
new CallActor's ref without waiting on it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pykka

from actors.agent_session_actor import AgentSessionActor, LendTo, SessionView
from actors.deps import ActorDeps
from actors.machine_actor import NOT_A_QUERY, MachineActor
from actors.messages import AdoptedCall, UiHangUp
from core.agent import (
    AdoptCall,
    AgentMachine,
    DispositionSubmitted,
    MobileNumberChanged,
    Refusal,
)
from core.agent_leg_mode import AgentLegMode, LegModePolicy
from core.agent_leg_session import (
    AgentLegSession,
    CallOver,
    CloseSession,
    OpenSession,
    ReturnLeg,
    SessionState,
)
from core.call_config import CallRequest, CallSettings
from core.call_events import AgentLegReturned, CallEnded, CallStepChanged
from core.call_outcomes import final_step_for
from core.call_record import call_record
from core.domain import CallOutcome, WorkstationMode
from core.records import StepTime
from core.timers import TimerFired
from core.views import AgentView, CallView

log = logging.getLogger(__name__)

CallFactory = Callable[[CallRequest, Any], Any]  # (request, agent ref) -> CallActor ref
AuditTrail = Callable[[MobileNumberChanged], None]


class AgentRequest(msgspec.Struct, frozen=True):
    """ask() from the root: one AgentMachine input (LogIn, Pause, ...)."""

    input: Any


class PlaceCall(msgspec.Struct, frozen=True):
    customer_number: str
    call_id: str
    contact_id: str | None = None


class HangUpCall(msgspec.Struct, frozen=True):
    call_id: str
    by: str


class SwitchCall(msgspec.Struct, frozen=True):
    """Move the agent's connected call to another workstation (core/call_switch.py)."""

    call_id: str
    target: WorkstationMode


class AttachSession(msgspec.Struct, frozen=True):
    """The agent's persistent-leg session actor (actors/agent_session_actor.py)."""

    session: Any


class OpenAgentSession(msgspec.Struct, frozen=True):
    """Call the agent's phone once for the session (also "Rappeler mon mobile")."""

    workstation: WorkstationMode = WorkstationMode.MOBILE


class CloseAgentSession(msgspec.Struct, frozen=True):
    """Hang up the persistent leg ("Libérer mon mobile")."""


class GetAgentView(msgspec.Struct, frozen=True):
    pass


class AgentActor(MachineActor[AgentMachine]):
    def __init__(
        self,
        machine: AgentMachine,
        deps: ActorDeps,
        start_call: CallFactory,
        audit: AuditTrail | None = None,
        leg_policy: LegModePolicy | None = None,
        session_settings: CallSettings | None = None,
    ) -> None:
        super().__init__(machine, deps, timer_scope=f"agent:{machine.agent_id}")
        self.start_call = start_call
        self.audit = audit
        self.call_ref: Any = None
        self._last_published: AgentView | None = None
        self.session: Any = None  # ActorRef[AgentSessionActor] once attached
        self.session_view: SessionView | None = None  # None once lent, until the next one
        self.session_seen: SessionView | None = None  # the latest, for the desk
        # The agent leg's mode (core/agent_leg_mode.py): with persistent or automatic, the
        # actor opens the agent's session itself (session_settings: the call settings).
        self.leg_policy = leg_policy
        self.session_settings = session_settings
        self._auto_session = False  # the open session was opened by the policy

    def started(self) -> None:
        # Every configured agent is seen from the start (offline until they sign in), so
        # evscallpro_agents counts each one in exactly one state.
        self._last_published = self.machine.view()
        self.deps.publish(self._last_published)

    def answer(self, message: Any) -> Any:
        return self.view() if isinstance(message, GetAgentView) else NOT_A_QUERY

    def view(self) -> AgentView:
        """The machine's view, with the persistent leg's session when there is one."""
        view = self.machine.view()
        session = self.session_seen
        if session is None:
            return view
        return msgspec.structs.replace(
            view, leg_session=str(session.state), leg_session_reason=session.reason,
            leg_session_calls=session.calls,
        )

    def failed(self, exc: Exception) -> Refusal:  # never let one bad message stop the agent
        return Refusal("internal_error", f"{type(exc).__name__}")

    def handle(self, message: Any) -> Any:
        now = time.time()
        match message:
            case AgentRequest(input=inp):
                refusal = self.machine.receive(inp, now)
                self._flush()
                return refusal
            case PlaceCall():
                result = self.machine.request_call(
                    message.customer_number, message.call_id, now, message.contact_id
                )
                if isinstance(result, Refusal):
                    return result
                self._flush()
                if self.leg_policy is not None:
                    self.leg_policy.call_started(now)
                lent = self.session_view if self.session_view and self.session_view.ready else None
                if lent is not None:  # the persistent leg takes the call: no ringing
                    result = msgspec.structs.replace(result, lent_agent_leg=lent.channel_id)
                    self.session_view = None  # lent: not ready until the session says so
                try:
                    self.call_ref = self.start_call(result, self.actor_ref)
                except Exception as exc:  # no call actor: the agent must not stay on_call
                    return self._call_not_started(result, exc, now)
                if lent is not None:
                    self.tell_peer(self.session, LendTo(call_id=result.call_id, call=self.call_ref))
                return None
            case AttachSession(session=session):
                self.session = session
            case CloseAgentSession():
                if self.session is None:
                    return Refusal("no_session", "no persistent leg session is open")
                self.tell_peer(self.session, CloseSession(reason="closed"))
                return None
            case OpenAgentSession(workstation=workstation):
                endpoint = self.machine.leg_endpoint(workstation)
                if isinstance(endpoint, Refusal):
                    return endpoint
                if self.session is None:
                    return Refusal("no_session", "persistent leg sessions are not set up")
                self.tell_peer(self.session, OpenSession(endpoint=endpoint, workstation=workstation))
                return None
            case SessionView():
                self.session_view = self.session_seen = message
                self._flush(publish=True)
            case AgentLegReturned(call_id=call_id):
                self.tell_peer(self.session, ReturnLeg(call_id=call_id))
            case HangUpCall(call_id=call_id, by=by):
                if self.call_ref is None or self.machine.call_id != call_id:
                    return Refusal("unknown_call", f"no live call {call_id!r} for this agent")
                try:
                    self.call_ref.tell(UiHangUp(requested_by=by))
                except pykka.ActorDeadError:
                    return Refusal("unknown_call", "the call already ended")
                return None
            case SwitchCall(call_id=call_id, target=target):
                switch = self.machine.switch_request(call_id, target)
                if isinstance(switch, Refusal):
                    return switch
                if self.call_ref is None:  # an adopted call: see CallCenterPort.switch_agent_leg
                    return Refusal("unknown_call", "the call is not this agent's")
                try:
                    self.call_ref.tell(switch)
                except pykka.ActorDeadError:
                    return Refusal("unknown_call", "the call already ended")
                return None
            case AdoptedCall(call_ref=call_ref, view=view):
                refusal = self.machine.receive(AdoptCall(call=view), now)
                if refusal is None:
                    self.call_ref = call_ref
                else:
                    log.warning(
                        "agent %s refused adopted call %s: %s",
                        self.machine.agent_id,
                        view.call_id,
                        refusal.code,
                    )
                self._flush(publish=True)
            case CallView() | CallStepChanged() | TimerFired():
                self.machine.receive(message, now)
                self._flush(publish=isinstance(message, CallView))
            case CallEnded(record=record):
                if record.call_id == self.machine.call_id:
                    self.call_ref = None
                if self.session is not None:  # a call ended while its leg was being recalled
                    self.tell_peer(self.session, CallOver(call_id=record.call_id))
                self.machine.receive(message, now)
                self._flush(publish=True)
                self._apply_leg_mode(record, now)
            case _:
                log.debug("agent %s ignores %s", self.machine.agent_id, type(message).__name__)
        return None

    def _apply_leg_mode(self, record: Any, now: float) -> None:
        """persistent / automatic: open the agent's session when the policy says so (never
        again after the agent hung the mobile up: "Rappeler mon mobile" is theirs), close
        one the policy opened when per-call is cheaper again."""
        policy, settings = self.leg_policy, self.session_settings
        if policy is None or settings is None:
            return
        policy.call_ended(record)
        mode = policy.decide(now)
        if self.machine.workstation != WorkstationMode.MOBILE:
            return
        seen = self.session_seen
        live = seen is not None and seen.state not in (SessionState.IDLE, SessionState.ENDED)
        refused = seen is not None and seen.reason == "agent_hung_up"
        if mode == AgentLegMode.PERSISTENT and not live and not refused:
            endpoint = self.machine.leg_endpoint(WorkstationMode.MOBILE)
            if isinstance(endpoint, Refusal):
                return
            if self.session is None:
                machine = AgentLegSession(self.machine.agent_id, settings)
                self.session = AgentSessionActor.start(machine, self.deps, self.actor_ref)
            self._auto_session = True
            self.tell_peer(self.session, OpenSession(endpoint=endpoint))
        elif mode == AgentLegMode.PER_CALL and live and self._auto_session:
            self._auto_session = False
            self.tell_peer(self.session, CloseSession(reason="per_call_cheaper"))

    def on_stop(self) -> None:
        if self.session is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self.session.stop(block=False)

    def _call_not_started(self, request: CallRequest, exc: Exception, at: float) -> Refusal:
        """The machine already went on_call; end that call at once (nothing was dialed, so
        nothing to qualify) and refuse, as for any other request the core cannot serve."""
        log.exception("agent %s: call %s not started", self.machine.agent_id, request.call_id)
        outcome = CallOutcome.REJECTED
        record = call_record(
            request,
            outcome=outcome,
            ended_at=at,
            reason=f"call_not_started: {type(exc).__name__}",
            steps=(StepTime(final_step_for(outcome), at),),
        )
        self.machine.receive(CallEnded(record=record), at)
        self._flush(publish=True)
        return Refusal("internal_error", "the call could not be started")

    def on_event(self, event: Any) -> None:
        if isinstance(event, DispositionSubmitted):
            try:
                self.deps.sink.write(event.disposition)
            except Exception:
                log.exception("disposition sink failed")
        elif isinstance(event, MobileNumberChanged) and self.audit is not None:
            self.audit(event)

    def _flush(self, publish: bool = False) -> None:
        events = self.drain()
        # Publish whenever what the agent sees changed (a workstation change emits no event),
        # or when asked to (a call view update the desktop must show).
        view: AgentView = self.view()
        if events or publish or view != self._last_published:
            self._last_published = view
            self.deps.publish(view)
