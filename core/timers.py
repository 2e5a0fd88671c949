"""Timer commands and the timer input: machines ask for time, the actor keeps it.

A machine never reads the clock. It emits `StartTimer(name, seconds)`; the actor that runs the
machine arms a timer and, when it expires, feeds `TimerFired(name)` back with the current time.
Starting a timer under a name that is already armed replaces it. `CancelTimer` for an unknown
name is a no-op. Names are local to one machine instance.
"""

from __future__ import annotations

import msgspec


class StartTimer(msgspec.Struct, frozen=True, tag="timer_start"):
    name: str
    seconds: float


class CancelTimer(msgspec.Struct, frozen=True, tag="timer_cancel"):
    name: str


class TimerFired(msgspec.Struct, frozen=True, tag="timer_fired"):
    name: str
    # Set by the actor layer, ignored by machines: a timer replaced or cancelled after it
    # fired, while its TimerFired still waited in the actor's inbox, is told apart from the
    # timer that replaced it.
    generation: int = 0


TimerCommand = StartTimer | CancelTimer
