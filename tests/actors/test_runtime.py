"""Pykka actors on a shared pool (actors/runtime.py): Pykka's contract kept (order, ask,
on_start before any message, stop, failures), one actor never on two workers at once, and
an actor that waits on another gets an error instead of stalling its worker."""

from __future__ import annotations

import threading
from typing import Any

import pykka
import pytest

from actors.runtime import ActorPool, BlockingOnActorError, PooledActor


class Recorder(PooledActor):
    def __init__(self, pool: ActorPool, log: list[Any] | None = None) -> None:
        super().__init__()
        self.actor_pool = pool
        self.log = log if log is not None else []
        self.running = 0
        self.overlaps = 0
        self.guard = threading.Lock()

    def on_start(self) -> None:
        self.log.append("start")

    def on_stop(self) -> None:
        self.log.append("stop")

    def on_receive(self, message: Any) -> Any:
        with self.guard:
            self.running += 1
            if self.running > 1:
                self.overlaps += 1
        try:
            if message == "boom":
                raise ValueError("boom")
            if isinstance(message, tuple) and message[0] == "ask":
                return message[1].ask("hello")
            self.log.append(message)
            return ("echo", message)
        finally:
            with self.guard:
                self.running -= 1


@pytest.fixture()
def pool() -> ActorPool:
    return ActorPool("test-actors", workers=2)


def test_messages_are_handled_in_order_after_on_start(pool: ActorPool) -> None:
    log: list[Any] = []
    ref = Recorder.start(pool, log)
    for i in range(500):
        ref.tell(i)
    assert ref.ask("last", timeout=5) == ("echo", "last")
    assert log[0] == "start"
    assert log[1:] == [*range(500), "last"]
    ref.stop(timeout=5)
    assert log[-1] == "stop"
    assert not ref.is_alive()


def test_an_actor_never_runs_on_two_workers_at_once(pool: ActorPool) -> None:
    refs = [Recorder.start(pool) for _ in range(20)]
    senders = [
        threading.Thread(target=lambda r=ref: [r.tell(i) for i in range(300)]) for ref in refs
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    for ref in refs:
        assert ref.ask("done", timeout=5) == ("echo", "done")
        actor = ref.proxy().log.get(timeout=5)
        assert actor[1:] == [*range(300), "done"]
        assert ref.proxy().overlaps.get(timeout=5) == 0
        ref.stop(timeout=5)
    assert pool.workers == 2


def test_ask_gets_the_exception_and_the_actor_lives_on(pool: ActorPool) -> None:
    ref = Recorder.start(pool)
    with pytest.raises(ValueError, match="boom"):
        ref.ask("boom", timeout=5)
    assert ref.ask("after", timeout=5) == ("echo", "after")
    ref.stop(timeout=5)


def test_a_told_failure_stops_the_actor_and_later_asks_fail_at_once(pool: ActorPool) -> None:
    ref = Recorder.start(pool)
    ref.tell("boom")
    assert ref.actor_stopped.wait(5)
    with pytest.raises(pykka.ActorDeadError):
        ref.ask("too late", timeout=5)


def test_a_stopped_actor_answers_queued_and_late_mail_with_actor_dead(pool: ActorPool) -> None:
    ref = Recorder.start(pool)
    ref.stop(timeout=5)
    inbox = ref.actor_inbox
    future = pykka.ThreadingFuture()
    inbox.put(pykka._envelope.Envelope("late", reply_to=future))
    with pytest.raises(pykka.ActorDeadError):
        future.get(timeout=1)


def test_an_actor_waiting_on_another_gets_an_error_not_a_stalled_worker() -> None:
    single = ActorPool("test-one-worker", workers=1)
    waiter = Recorder.start(single)
    other = Recorder.start(single)
    with pytest.raises(BlockingOnActorError):
        waiter.ask(("ask", other), timeout=5)
    # the worker is free: both still answer
    assert other.ask("x", timeout=5) == ("echo", "x")
    assert waiter.ask("y", timeout=5) == ("echo", "y")
    waiter.stop(timeout=5)
    other.stop(timeout=5)


def test_many_actors_share_a_few_threads(pool: ActorPool) -> None:
    before = threading.active_count()
    refs = [Recorder.start(pool) for _ in range(300)]
    for ref in refs:
        ref.tell("hi")
    assert all(ref.ask("ok", timeout=5) == ("echo", "ok") for ref in refs)
    assert threading.active_count() - before <= pool.workers
    for ref in refs:
        ref.stop(block=False)
    for ref in refs:
        assert ref.actor_stopped.wait(5)


def test_posts_to_the_loop_keep_their_order_and_share_wake_ups() -> None:
    from actors.loop import EventLoopThread

    loop_thread = EventLoopThread("test-hand-over")
    loop_thread.start()
    try:
        seen: list[int] = []
        done = threading.Event()
        hold = threading.Event()
        loop_thread.post(hold.wait, 5)  # the loop is busy while the posts below pile up
        for i in range(1000):
            loop_thread.post(seen.append, i)
        loop_thread.post(done.set)
        hold.set()
        assert done.wait(5)
        assert seen == list(range(1000))
        assert loop_thread._hand_over.wakeups <= 3
    finally:
        loop_thread.stop()


def test_a_failing_post_does_not_lose_the_next_ones() -> None:
    from actors.loop import EventLoopThread

    loop_thread = EventLoopThread("test-hand-over-failure")
    loop_thread.start()
    try:
        done = threading.Event()
        loop_thread.post(lambda: 1 / 0)
        loop_thread.post(done.set)
        assert done.wait(5)
    finally:
        loop_thread.stop()
