"""The timer service fires, cancels and replaces by key without threads of its own; the
link's back-off is capped exponential with full jitter."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from actors.ari_link import backoff_delay
from actors.loop import EventLoopThread
from actors.timers import TimerService


class Inbox:
    def __init__(self) -> None:
        self.items: list[tuple[float, Any]] = []
        self.event = threading.Event()

    def tell(self, message: Any) -> None:
        self.items.append((time.monotonic(), message))
        self.event.set()


@pytest.fixture
def timers() -> Any:
    loop_thread = EventLoopThread("test-timers")
    loop_thread.start()
    yield TimerService(loop_thread)
    loop_thread.stop()


def test_fire_cancel_replace(timers: TimerService) -> None:
    inbox = Inbox()
    started = time.monotonic()
    timers.start(("c1", "a"), 0.05, "a-fired", inbox)
    timers.start(("c1", "b"), 0.05, "b-fired", inbox)
    timers.cancel(("c1", "b"))
    timers.start(("c2", "x"), 10.0, "x-first", inbox)
    timers.start(("c2", "x"), 0.1, "x-replaced", inbox)  # same key: replaces
    timers.start(("c3", "y"), 0.05, "y", inbox)
    timers.cancel_all("c3")  # a call ended: all its timers go
    assert inbox.event.wait(10)
    deadline = time.monotonic() + 10
    while len(inbox.items) < 2 and time.monotonic() < deadline:
        inbox.event.clear()
        inbox.event.wait(0.5)
    assert [m for _, m in inbox.items] == ["a-fired", "x-replaced"]
    assert inbox.items[0][0] - started >= 0.04
    assert timers.pending == 0 and timers.fired == 2


def test_backoff_is_capped_full_jitter() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        cap = min(10.0, 0.2 * 2**attempt)
        samples = [backoff_delay(attempt, 0.2, 10.0, rng) for _ in range(200)]
        assert all(0.0 <= s <= cap for s in samples)
        assert max(samples) > cap * 0.8  # full jitter spreads up to the cap
    assert backoff_delay(10_000, 0.2, 10.0, rng) <= 10.0
