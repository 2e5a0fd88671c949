"""The one shell every machine actor runs in: inbox -> machine.receive -> drain the outbox
-> ARI port / timers / listeners.

A `MachineActor` owns one pure machine of core/ (a call, an agent, a supervision). For each
told message it: answers queries (`answer`), drops the late firing of a replaced timer,
unwraps `Arrived` events (and records their event -> command latency when the message made
the machine send something), then hands the message to `handle` (which usually `feed`s it to
the machine, stamped `at=time.time()`). `drain` executes the machine's commands (ARI
requests after their routes are claimed, timers) and passes each emitted event to
`on_event`. An exception anywhere in that path never kills the actor: it is logged and
`failed(exc)` decides (a call ends as internal_error, a supervision hangs its legs up, an
agent refuses the request). `Shutdown` stops the actor WITHOUT touching Asterisk.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Generic, Protocol, TypeVar

import pykka

from actors.commands import CommandExecutor
from actors.deps import ActorDeps
from actors.messages import Arrived, Shutdown
from actors.runtime import PooledActor
from analytics import metrics
from core.timers import TimerFired

log = logging.getLogger(__name__)

NOT_A_QUERY = object()


class RunnableMachine(Protocol):
    """What the shell needs of a core machine (core.machine.Machine provides the outbox)."""

    def receive(self, inp: Any, at: float) -> Any: ...

    def commands_to_send(self) -> list[Any]: ...

    def events_emitted(self) -> list[Any]: ...


M = TypeVar("M", bound=RunnableMachine)


class MachineActor(PooledActor, Generic[M]):
    def __init__(self, machine: M, deps: ActorDeps, timer_scope: str) -> None:
        super().__init__()
        self.machine = machine
        self.deps = deps
        self.timer_scope = timer_scope  # timer keys are (scope, name): one namespace each
        self.executor = CommandExecutor(deps, None, timer_scope)
        self.finished = False

    # -- hooks (override) ------------------------------------------------------------------
    def started(self) -> None:
        """First input(s) to the machine, once the actor can be told replies."""

    def answer(self, message: Any) -> Any:
        """The reply to an ask()ed query, or NOT_A_QUERY."""
        return NOT_A_QUERY

    def handle(self, message: Any) -> Any:
        self.feed(message)
        return None

    def on_event(self, event: Any) -> None:
        """One event the machine emitted (a step change, a record...)."""

    def failed(self, exc: Exception) -> Any:
        """`handle` or `drain` raised: contain it (the return value answers an ask())."""
        return None

    # -- the shell ---------------------------------------------------------------------------
    def on_start(self) -> None:
        self.executor.owner = self.actor_ref
        self._guarded(lambda _: self.started(), None)

    def on_receive(self, message: Any) -> Any:
        reply = self.answer(message)
        if reply is not NOT_A_QUERY:
            return reply
        if isinstance(message, Shutdown):
            self.end()
            return None
        if self.finished:
            return None
        if isinstance(message, TimerFired) and not self.executor.is_current(message):
            log.debug("%s: late firing of a replaced timer %s", self.timer_scope, message.name)
            return None
        arrived_at = None
        if isinstance(message, Arrived):
            arrived_at, message = message.at, message.event
        sent_before = self.executor.sent
        result = self._guarded(self.handle, message)
        if arrived_at is not None and self.executor.sent > sent_before:
            metrics.event_to_command(time.perf_counter() - arrived_at)
        return result

    def on_failure(self, *args: Any) -> None:  # pragma: no cover - pykka internal safety net
        log.error("%s crashed outside the guard", self.timer_scope)

    def feed(self, inp: Any) -> Any:
        result = self.machine.receive(inp, time.time())
        self.drain()
        return result

    def drain(self) -> list[Any]:
        self.executor.execute(self.machine.commands_to_send())
        events = self.machine.events_emitted()
        for event in events:
            self.on_event(event)
        return events

    def tell_peer(self, ref: Any, message: Any) -> None:
        """Tell another actor, never waiting on it; a peer already gone is only logged."""
        if ref is None:
            return
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            log.warning("%s: peer gone, %s not told", self.timer_scope, type(message).__name__)

    def end(self) -> None:
        """Release the routes and timers, and stop."""
        self.finished = True
        self.executor.release_all()
        self.stop()

    def _guarded(self, fn: Any, message: Any) -> Any:
        try:
            return fn(message)
        except Exception as exc:
            log.exception("%s failed on %s", self.timer_scope, type(message).__name__)
            try:
                return self.failed(exc)
            except Exception:
                log.critical("%s: cannot end cleanly; stopping", self.timer_scope, exc_info=True)
                self.end()
                return None
