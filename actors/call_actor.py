"""CallActor: one per Connect-to-Phone call, a thin shell around core's CallMachine.

It feeds the machine ARI events (routed by the Switchboard), REST outcomes (from the ARI
port), timer expiries and UI hang-ups, each stamped `at=time.time()`; it executes the
machine's commands and passes on what the machine emits: step changes become CallViews for
subscribers (the agent actor, the gateway hub), the single CallRecord goes to the record sink.
When the call ends the actor releases its routes and stops.

Failure containment: any exception while handling a message ends THIS call only: both legs
are hung up, a record with outcome `internal_error` is written, the actor stops. Other calls
never notice (each call has its own actor and thread).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import msgspec
import pykka

from actors.commands import CommandExecutor
from actors.deps import ActorDeps
from actors.messages import (
    AdoptedCall,
    Arrived,
    ClaimRoutes,
    GetStats,
    Monitoring,
    ReconcileChannels,
    Shutdown,
    UiHangUp,
)
from analytics import metrics
from core.ari_commands import (
    AriCommandSucceeded,
    CreateChannel,
    HangupChannel,
    OriginateChannel,
)
from core.ari_events import Channel, ChannelDestroyed, event_channel_id
from core.call_config import CallRequest
from core.call_events import CallEnded, CallStepChanged
from core.call_inputs import CallStart, HangupFromUi
from core.domain import CallOutcome, CallStep, LegRole, SupervisionMode
from core.records import CallRecord, LegRecord, StepTime
from core.softphone import named_record
from core.timers import TimerFired
from core.views import CallView

log = logging.getLogger(__name__)


class CallMachineLike(Protocol):
    def receive(self, inp: Any, at: float) -> None: ...

    def commands_to_send(self) -> list[Any]: ...

    def events_emitted(self) -> list[Any]: ...


CallEndedListener = Callable[[CallRecord], None]


def internal_error_record(
    request: CallRequest, reason: str, started_at: float, steps: list[StepTime], at: float
) -> CallRecord:
    """The record of a call whose actor failed: the legs were hung up by the actor."""
    agent_channel = f"{request.call_id}-agent"
    return CallRecord(
        call_id=request.call_id,
        agent_id=request.agent_id,
        contact_id=request.contact_id,
        customer_number=request.customer_number,
        workstation=request.workstation,
        agent_leg=LegRecord(
            role=LegRole.AGENT, endpoint=request.agent_endpoint, channel_id=agent_channel
        ),
        steps=(*steps, StepTime(CallStep.FAILED, at)),
        outcome=CallOutcome.INTERNAL_ERROR,
        reason=reason[:300],
        started_at=started_at,
        ended_at=at,
    )


class CallActor(pykka.ThreadingActor):
    def __init__(
        self,
        request: CallRequest,
        machine: CallMachineLike,
        deps: ActorDeps,
        on_ended: CallEndedListener | None = None,
        adopted: bool = False,
        agent: Any = None,
        live_ids: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__()
        self.request = request
        self.machine = machine
        self.deps = deps
        self.on_ended = on_ended
        self.adopted = adopted
        self.agent = agent  # ActorRef[AgentActor] told every view and the end, or None
        self.started_at = request.requested_at or time.time()
        self.step = CallStep.REQUESTED
        self.step_since = self.started_at
        self.connected_at: float | None = None
        self.recording_name: str | None = None
        self.steps: list[StepTime] = []
        self.finished = False
        self.executor: CommandExecutor | None = None
        self.destroyed_ids: set[str] = set()
        # Channels known to exist (events seen, originate/create answered 2xx, or listed when
        # adopted): only those can "vanish" during an ARI outage.
        # Channel id -> when the core first knew it exists (time.perf_counter(): an event's
        # arrival on the loop, an originate's answer when handled; adopted: -inf).
        self.seen_ids: dict[str, float] = dict.fromkeys(live_ids, float("-inf"))
        self.monitors: dict[str, SupervisionMode] = {}

    # -- pykka hooks ----------------------------------------------------------------------
    def on_start(self) -> None:
        self.executor = CommandExecutor(self.deps, self.actor_ref, timer_scope=self.request.call_id)
        self._journal("started")
        if self.adopted:
            self._guarded(self._adopt, None)
        else:
            self._guarded(self._feed, CallStart())

    def _adopt(self, _: Any) -> None:
        """Own the ids of a call rebuilt after a restart, then run its first commands."""
        assert self.executor is not None
        channel_ids = tuple(getattr(self.machine, "channel_ids", tuple)())
        bridge_id = getattr(self.machine, "bridge_id", None)
        self.executor.claim(
            ClaimRoutes(
                owner=self.actor_ref,
                channel_ids=channel_ids,
                bridge_ids=(bridge_id,) if bridge_id else (),
                playback_ids=tuple(getattr(self.machine, "playback_ids", tuple)()),
                recording_names=(self.request.call_id,),
            )
        )
        # The agent learns of the call before any of its views (same sender: FIFO).
        self._tell_agent(AdoptedCall(call_ref=self.actor_ref, view=self.view()))
        self.executor.channels.extend(c for c in channel_ids if not c.endswith("-2"))
        self._flush(None)

    def _journal(self, what: str, at: float | None = None) -> None:
        journal = self.deps.journal
        if journal is None:
            return
        try:
            if what == "started":
                journal.started(self.request, at or time.time())
            elif what == "connected":
                journal.connected(self.request.call_id, at or time.time())
            else:
                journal.ended(self.request.call_id, at or time.time())
        except OSError:
            log.exception("call journal write failed (%s)", what)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, GetStats):
            return self.view()
        if isinstance(message, Shutdown):
            # Root shutdown: leave the call up in Asterisk; the next start adopts it.
            self._release()
            self.stop()
            return None
        self._guarded(self._dispatch, message)
        return None

    def on_failure(self, *args: Any) -> None:  # pragma: no cover - pykka internal safety net
        log.error("CallActor %s crashed outside the guard", self.request.call_id)

    # -- inputs ---------------------------------------------------------------------------
    def _dispatch(self, message: Any) -> None:
        if self.finished:
            return
        assert self.executor is not None
        if isinstance(message, TimerFired) and not self.executor.is_current(message):
            log.debug("call %s: late firing of a replaced timer %s", self.request.call_id, message)
            return
        if isinstance(message, UiHangUp):
            self._feed(HangupFromUi(by=message.requested_by))
        elif isinstance(message, Monitoring):
            if message.mode is None:
                self.monitors.pop(message.supervisor_id, None)
            else:
                self.monitors[message.supervisor_id] = message.mode
            view = self.view()
            self._tell_agent(view)
            self.deps.publish(view)
        elif isinstance(message, ReconcileChannels):
            self._reconcile(message.live_ids, message.listed_at)
        elif isinstance(message, Arrived):
            event = message.event
            channel_id = event_channel_id(event)
            if channel_id:
                self._seen(channel_id, message.at)
            if isinstance(event, ChannelDestroyed):
                self.destroyed_ids.add(event.channel.id)
            assert self.executor is not None
            sent_before = self.executor.sent
            self._feed(event)
            if self.executor.sent > sent_before:
                metrics.event_to_command(time.perf_counter() - message.at)
        else:
            if isinstance(message, ChannelDestroyed):
                self.destroyed_ids.add(message.channel.id)
            if isinstance(message, AriCommandSucceeded) and isinstance(
                message.command, OriginateChannel | CreateChannel
            ):
                self._seen(message.command.channel_id)
                if message.command.other_channel_id:
                    self._seen(message.command.other_channel_id)
            # ARI events, REST outcomes, TimerFired, adoption inputs: the machine's own types.
            self._feed(message)

    def _seen(self, channel_id: str, at: float | None = None) -> None:
        self.seen_ids.setdefault(channel_id, time.perf_counter() if at is None else at)

    def _reconcile(self, live_ids: frozenset[str], listed_at: float | None = None) -> None:
        """Legs that vanished while the events socket was down: tell the machine they are
        gone (;2 halves first, as Asterisk does), so the call ends and leaves its record.
        Only legs known before the listing was asked for count (an originate answered
        after it may have created its channel after it)."""
        assert self.executor is not None
        owned = [cid for claim in self.executor.claimed for cid in claim.channel_ids]
        cutoff = float("inf") if listed_at is None else listed_at
        missing = [
            c
            for c in dict.fromkeys(owned)
            if self.seen_ids.get(c, cutoff) < cutoff
            and c not in live_ids
            and c not in self.destroyed_ids
        ]
        missing.sort(key=lambda cid: not cid.endswith("-2"))
        for channel_id in missing:
            log.warning(
                "call %s: channel %s vanished while we were away", self.request.call_id, channel_id
            )
            self.destroyed_ids.add(channel_id)
            self._feed(
                ChannelDestroyed(
                    channel=Channel(id=channel_id), cause=0, cause_txt="gone during ARI outage"
                )
            )
            if self.finished:
                return

    def _feed(self, inp: Any) -> None:
        self.machine.receive(inp, time.time())
        self._flush(None)

    def _flush(self, _: Any) -> None:
        assert self.executor is not None
        commands = self.machine.commands_to_send()
        events = self.machine.events_emitted()
        self.executor.execute(commands)
        for event in events:
            self._on_machine_event(event)

    def _on_machine_event(self, event: Any) -> None:
        match event:
            case CallStepChanged(step=step, at=at):
                self.steps.append(StepTime(step, at))
                self.step, self.step_since = step, at
                if step == CallStep.CONNECTED:
                    self.connected_at = at
                    self._journal("connected", at)
                view = self.view()
                self._tell_agent(view)
                self.deps.publish(view)
            case CallEnded():
                named = named_record(event.record)  # core/softphone.py, until call.py names them
                self._tell_agent(msgspec.structs.replace(event, record=named))
                self._finish(named)

    # -- the end of a call ------------------------------------------------------------------
    def _finish(self, record: CallRecord) -> None:
        if self.finished:
            return
        self.finished = True
        self.step = CallStep.ENDED if record.outcome == CallOutcome.COMPLETED else CallStep.FAILED
        self.step_since = record.ended_at
        self.recording_name = record.recording_name
        self.connected_at = record.connected_at
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
        self._release()
        self.stop()

    def _tell_agent(self, message: Any) -> None:
        if self.agent is not None:
            try:
                self.agent.tell(message)
            except pykka.ActorDeadError:
                log.warning("agent of call %s is gone", self.request.call_id)

    def _release(self) -> None:
        if self.executor is not None:
            self.executor.release_all()

    def _guarded(self, fn: Callable[[Any], None], arg: Any) -> None:
        try:
            fn(arg)
        except Exception as exc:
            log.exception("call %s failed; ending it", self.request.call_id)
            self._fail(f"{type(exc).__name__}: {exc}")

    def _fail(self, reason: str) -> None:
        if self.finished:
            return
        executor = self.executor
        if executor is not None:
            for channel_id in executor.channels:
                try:
                    self.deps.port.send(HangupChannel(channel_id=channel_id), None)
                except Exception:
                    log.exception("could not hang up %s", channel_id)
        now = time.time()
        record = internal_error_record(self.request, reason, self.started_at, self.steps, now)
        self._tell_agent(CallEnded(record=record))
        self._finish(record)

    # -- views ----------------------------------------------------------------------------
    def view(self, record: CallRecord | None = None) -> CallView:
        view = self._base_view(record)
        if self.monitors and not self.finished:
            view = msgspec.structs.replace(view, monitored_by=tuple(sorted(self.monitors.items())))
        return view

    def _base_view(self, record: CallRecord | None) -> CallView:
        machine_view = getattr(self.machine, "view", None)
        if machine_view is not None:
            try:
                view = machine_view()
                if isinstance(view, CallView) and (record is None or view.outcome is not None):
                    if record is not None:  # the record's names win (named_record)
                        view = msgspec.structs.replace(view, outcome=record.outcome,
                                                       reason=record.reason)
                    return view
            except Exception:
                log.exception("call %s: machine view failed", self.request.call_id)
        return CallView(
            call_id=self.request.call_id,
            agent_id=self.request.agent_id,
            step=self.step,
            customer_number=self.request.customer_number,
            contact_id=self.request.contact_id,
            outcome=record.outcome if record else None,
            reason=record.reason if record else "",
            workstation=self.request.workstation,
            step_since=self.step_since,
            connected_at=self.connected_at,
            ended_at=record.ended_at if record else None,
            recording_name=self.recording_name,
        )
