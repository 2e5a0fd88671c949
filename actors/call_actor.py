"""CallActor: one per Connect-to-Phone call, core's CallMachine in the shared actor shell
(actors/machine_actor.py).

It feeds the machine ARI events (routed by the Switchboard), REST outcomes (from the ARI
port), timer expiries, UI hang-ups and the channel listings of a reconnect
(`ChannelsListed`); the machine decides everything. The actor passes on what the machine
emits: step changes become CallViews for the agent actor and the gateway hub, the single
CallRecord goes to the record sink and the live-calls journal; then it releases its routes
and stops.

Failure containment: an exception while handling a message ends THIS call only: the machine
is aborted (`CallMachine.abort`: live legs hung up, an `internal_error` record), the actor
stops; if the machine itself is broken, the actor hangs up the channels it created and writes
a bare `internal_error` record (core.call_record). Other calls never notice (each call has
its own actor and thread).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec

from actors.deps import ActorDeps
from actors.machine_actor import NOT_A_QUERY, MachineActor
from actors.messages import AdoptedCall, ClaimRoutes, GetCallView, Monitoring, UiHangUp
from analytics import metrics
from core.ari_commands import HangupChannel
from core.call import CallMachine
from core.call_config import CallRequest
from core.call_events import AgentLegReturned, AgentLegSwitched, CallEnded, CallStepChanged
from core.call_inputs import CallStart, HangupFromUi
from core.call_record import call_record
from core.domain import CallOutcome, CallStep, SupervisionMode
from core.ids import is_local_half
from core.records import CallRecord
from core.softphone import named_record
from core.views import CallView

log = logging.getLogger(__name__)

CallEndedListener = Callable[[CallRecord], None]


class CallActor(MachineActor[CallMachine]):
    def __init__(
        self,
        request: CallRequest,
        machine: CallMachine,
        deps: ActorDeps,
        on_ended: CallEndedListener | None = None,
        adopted: bool = False,
        agent: Any = None,
    ) -> None:
        super().__init__(machine, deps, timer_scope=request.call_id)
        self.request = request
        self.on_ended = on_ended
        self.adopted = adopted
        self.agent = agent  # ActorRef[AgentActor] told every view and the end, or None
        self.monitors: dict[str, SupervisionMode] = {}
        self._journaled_connected = False

    def started(self) -> None:
        self._journal("started", time.time())
        if not self.adopted:
            self.feed(CallStart())
            return
        # A call rebuilt after a restart: own its ids, then run its first commands.
        machine = self.machine
        self.executor.claim(
            ClaimRoutes(
                owner=self.actor_ref,
                channel_ids=machine.channel_ids(),
                bridge_ids=(machine.bridge_id,),
                playback_ids=machine.playback_ids(),
                recording_names=(self.request.call_id,),
            )
        )
        # Hung up by hand only if the machine itself breaks (see `failed`).
        self.executor.channels.extend(c for c in machine.channel_ids() if not is_local_half(c))
        # The agent learns of the call before any of its views (same sender: FIFO).
        self.tell_peer(self.agent, AdoptedCall(call_ref=self.actor_ref, view=self.view()))
        self.drain()

    def answer(self, message: Any) -> Any:
        return self.view() if isinstance(message, GetCallView) else NOT_A_QUERY

    def handle(self, message: Any) -> None:
        match message:
            case UiHangUp(requested_by=by):
                self.feed(HangupFromUi(by=by))
            case Monitoring(supervisor_id=supervisor_id, mode=mode):
                if mode is None:
                    self.monitors.pop(supervisor_id, None)
                else:
                    self.monitors[supervisor_id] = mode
                self._publish()
            case _:  # ARI events, REST outcomes, TimerFired, ChannelsListed: the machine's
                self.feed(message)

    def on_event(self, event: Any) -> None:
        match event:
            case CallStepChanged(step=step):
                connected_at = self.machine.connected_at
                answered = step in (CallStep.BRIDGING, CallStep.CONNECTED)
                if answered and connected_at is not None and not self._journaled_connected:
                    self._journaled_connected = True  # the customer answered
                    self._journal("connected", connected_at)
                self._publish()
            case AgentLegSwitched():
                metrics.agent_leg_switched(event)
                log.info(
                    "call %s: agent leg %s -> %s: %s %s",
                    event.call_id, event.source, event.target, event.result, event.reason,
                )
                self._publish()  # the desk says how the switch ended
            case AgentLegReturned():  # a persistent leg: back to the agent's session
                self.tell_peer(self.agent, event)
            case CallEnded(record=record):
                named = named_record(record)  # core/softphone.py, until call.py names them
                self.tell_peer(self.agent, msgspec.structs.replace(event, record=named))
                self._finish(named)

    def failed(self, exc: Exception) -> None:
        if self.machine.is_finished:  # failed after the end (a listener): the record is out
            self.end()
            return
        reason = f"{type(exc).__name__}: {exc}"
        try:
            self.machine.abort(reason, time.time())
            self.drain()  # the hang-ups, then CallEnded: the record is written, the actor stops
        except Exception:  # the machine itself is broken: hang up what we created, record it
            log.exception("call %s: abort failed", self.request.call_id)
            if self.finished:
                return
            for channel_id in self.executor.channels:
                self.deps.port.send(HangupChannel(channel_id=channel_id), None)
            outcome = CallOutcome.INTERNAL_ERROR
            record = call_record(
                self.request, outcome=outcome, ended_at=time.time(), reason=reason[:300]
            )
            self.tell_peer(self.agent, CallEnded(record=record))
            self._finish(record)

    def view(self, record: CallRecord | None = None) -> CallView:
        monitors = () if self.finished else tuple(sorted(self.monitors.items()))
        view = self.machine.view(monitored_by=monitors)
        if record is not None:  # the record's names win (named_record)
            view = msgspec.structs.replace(view, outcome=record.outcome, reason=record.reason)
        return view

    def _publish(self) -> None:
        view = self.view()
        self.tell_peer(self.agent, view)
        self.deps.publish(view)

    def _finish(self, record: CallRecord) -> None:
        self.finished = True
        self._journal("ended", record.ended_at)
        try:
            self.deps.sink.write(record)
        except Exception:
            log.exception("record sink failed for call %s", record.call_id)
        self.deps.publish(self.view(record))
        if self.on_ended is not None:
            try:
                self.on_ended(record)
            except Exception:
                log.exception("call-ended listener failed for %s", record.call_id)
        self.end()

    def _journal(self, what: str, at: float) -> None:
        journal = self.deps.journal
        if journal is None:
            return
        try:
            if what == "started":
                journal.started(self.request, at)
            elif what == "connected":
                journal.connected(self.request.call_id, at)
            else:
                journal.ended(self.request.call_id, at)
        except OSError:
            log.exception("call journal write failed (%s)", what)
