"""AgentActor: one per agent, a thin shell around core's AgentMachine.

The composition root `ask()`s it for the UI's requests (log in, pause, place a call...) so a
refusal reaches the browser at once; CallActors `tell()` it their views and their end. It
never asks a peer: a call it accepts is started through the call factory, which returns a
new CallActor's ref without waiting on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pykka

from actors.call_actor import internal_error_record
from actors.commands import CommandExecutor
from actors.deps import ActorDeps
from actors.messages import AdoptedCall, UiHangUp
from core.agent import (
    AdoptCall,
    AgentMachine,
    DispositionSubmitted,
    MobileNumberChanged,
    Refusal,
)
from core.call_config import CallRequest
from core.call_events import CallEnded, CallStepChanged
from core.domain import CallOutcome
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


class GetAgentView(msgspec.Struct, frozen=True):
    pass


class AgentActor(pykka.ThreadingActor):
    def __init__(
        self,
        machine: AgentMachine,
        deps: ActorDeps,
        start_call: CallFactory,
        audit: AuditTrail | None = None,
    ) -> None:
        super().__init__()
        self.machine = machine
        self.deps = deps
        self.start_call = start_call
        self.audit = audit
        self.call_ref: Any = None
        self.executor: CommandExecutor | None = None
        self._last_published: AgentView | None = None

    def on_start(self) -> None:
        self.executor = CommandExecutor(
            self.deps, self.actor_ref, timer_scope=f"agent:{self.machine.agent_id}"
        )
        # Every configured agent is seen from the start (offline until they sign in), so
        # evscallpro_agents counts each one in exactly one state.
        self._last_published = self.machine.view()
        self.deps.publish(self._last_published)

    def on_receive(self, message: Any) -> Any:
        try:
            return self._handle(message)
        except Exception as exc:  # never let one bad message stop the agent
            log.exception("agent %s failed on %s", self.machine.agent_id, type(message).__name__)
            return Refusal("internal_error", f"{type(exc).__name__}")

    def _handle(self, message: Any) -> Any:
        now = time.time()
        match message:
            case GetAgentView():
                return self.machine.view()
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
                try:
                    self.call_ref = self.start_call(result, self.actor_ref)
                except Exception as exc:  # no call actor: the agent must not stay on_call
                    return self._call_not_started(result, exc, now)
                return None
            case HangUpCall(call_id=call_id, by=by):
                if self.call_ref is None or self.machine.call_id != call_id:
                    return Refusal("unknown_call", f"no live call {call_id!r} for this agent")
                try:
                    self.call_ref.tell(UiHangUp(requested_by=by))
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
            case TimerFired() if self.executor and not self.executor.is_current(message):
                pass  # a replaced or cancelled timer's late firing
            case CallView() | CallStepChanged() | TimerFired():
                self.machine.receive(message, now)
                self._flush(publish=isinstance(message, CallView))
            case CallEnded(record=record):
                if record.call_id == self.machine.call_id:
                    self.call_ref = None
                self.machine.receive(message, now)
                self._flush(publish=True)
            case _:
                log.debug("agent %s ignores %s", self.machine.agent_id, type(message).__name__)
        return None

    def _call_not_started(self, request: CallRequest, exc: Exception, at: float) -> Refusal:
        """The machine already went on_call; end that call at once (nothing was dialed, so
        nothing to qualify) and refuse, as for any other request the core cannot serve."""
        log.exception("agent %s: call %s not started", self.machine.agent_id, request.call_id)
        reason = f"call_not_started: {type(exc).__name__}"
        record = msgspec.structs.replace(
            internal_error_record(request, reason, at, [], at), outcome=CallOutcome.REJECTED
        )
        self.machine.receive(CallEnded(record=record), at)
        self._flush(publish=True)
        return Refusal("internal_error", "the call could not be started")

    def _flush(self, publish: bool = False) -> None:
        assert self.executor is not None
        self.executor.execute(self.machine.commands_to_send())
        events = self.machine.events_emitted()
        for event in events:
            if isinstance(event, DispositionSubmitted):
                try:
                    self.deps.sink.write(event.disposition)
                except Exception:
                    log.exception("disposition sink failed")
            elif isinstance(event, MobileNumberChanged) and self.audit is not None:
                self.audit(event)
        # Publish whenever what the agent sees changed (a workstation change emits no event),
        # or when asked to (a call view update the desktop must show).
        view: AgentView = self.machine.view()
        if events or publish or view != self._last_published:
            self._last_published = view
            self.deps.publish(view)
