"""What every core machine shares: an outbox of commands and events, named timers, and one
step setter that logs `old -> new`.

A machine never does I/O: it queues commands (ARI requests, `StartTimer`/`CancelTimer`) and
events (step changes, records) while it handles an input; the actor that runs it drains both
with `commands_to_send()` and `events_emitted()` after each input (actors/machine_actor.py).
The call (core.call), the agent (core.agent) and the supervision (core.supervision) machines are
built on it.
"""

from __future__ import annotations

import logging
from typing import Generic, TypeVar

from core.timers import CancelTimer, StartTimer, TimerCommand

log = logging.getLogger(__name__)

StepT = TypeVar("StepT")
CommandT = TypeVar("CommandT")
EventT = TypeVar("EventT")


class Machine(Generic[StepT, CommandT, EventT]):
    """`_state` is the current step; `_name` prefixes every log line ("call c1"), written to
    the subclass's `_log` (each machine keeps its own logger name)."""

    _log: logging.Logger = log

    def __init__(self, name: str, step: StepT) -> None:
        self._name = name
        self._state = step
        self._timers: set[str] = set()
        self._commands: list[CommandT | TimerCommand] = []
        self._events: list[EventT] = []

    def commands_to_send(self) -> list[CommandT | TimerCommand]:
        commands, self._commands = self._commands, []
        return commands

    def events_emitted(self) -> list[EventT]:
        events, self._events = self._events, []
        return events

    def _send(self, command: CommandT | TimerCommand) -> None:
        self._commands.append(command)

    def _emit(self, event: EventT) -> None:
        self._events.append(event)

    def _move(self, step: StepT, reason: str = "") -> bool:
        """Set the step; False (and nothing logged) when it is already the step."""
        if step == self._state:
            return False
        self._log.info("%s: %s -> %s %s", self._name, self._state, step, reason)
        self._state = step
        return True

    def _start_timer(self, name: str, seconds: float) -> None:
        """Arm (or re-arm) a timer; the actor feeds `TimerFired(name)` back when it expires."""
        self._timers.add(name)
        self._send(StartTimer(name=name, seconds=seconds))

    def _cancel_timer(self, name: str) -> None:
        if name in self._timers:
            self._timers.discard(name)
            self._send(CancelTimer(name=name))

    def _cancel_all_timers(self) -> None:
        for name in sorted(self._timers):
            self._send(CancelTimer(name=name))
        self._timers.clear()

    def _timer_is_armed(self, name: str) -> bool:
        """Consume a TimerFired: True when `name` was armed (and is not any more)."""
        if name not in self._timers:
            self._log.debug("%s: stale timer %s", self._name, name)
            return False
        self._timers.discard(name)
        return True
