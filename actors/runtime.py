"""Pykka actors on a shared pool of worker threads, instead of one thread per actor.

A `PooledActor` is a plain Pykka actor (ActorRef, tell, ask, proxies, on_start / on_stop /
on_failure, ActorRegistry), but it owns no thread: its inbox is a deque, and the first
message put into an idle inbox schedules the actor on an `ActorPool`. A worker takes the
actor, handles up to `throughput` of its messages (one at a time, in order: an actor never
runs on two workers at once), then gives it back to the end of the queue if mail is left.

Why: with a thread per actor, each message between two threads costs a condition notify,
an OS wake-up and a GIL hand-over (16-18 us of the sender's CPU, and ~2 context switches
per ARI event with 1,000 CallActor threads). On the pool, a message to an actor is a deque
append, and a busy worker drains many actors' messages per wake-up.

The rule that makes this safe is the design's own: an actor never blocks on another. A
future's `get()` on a pool worker, while the answer is not there yet, raises
`BlockingOnActorError` instead of deadlocking the worker (the actor it waits for may be
queued behind it). Actors that do blocking I/O (the DuckDB writer) stay ThreadingActors.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import deque
from typing import Any

import pykka
from pykka import ActorDeadError, messages
from pykka._envelope import Envelope

log = logging.getLogger(__name__)

DEFAULT_THROUGHPUT = 32  # messages of one actor per turn, then the next actor's turn


class BlockingOnActorError(RuntimeError):
    """An actor waited on another actor's answer (it would stall its pool worker)."""


_worker = threading.local()


def on_pool_worker() -> bool:
    return getattr(_worker, "pool", None) is not None


class PoolFuture(pykka.ThreadingFuture[Any]):
    def get(self, *, timeout: float | None = None) -> Any:
        if on_pool_worker() and self._result is None and self._get_hook is None:
            raise BlockingOnActorError(
                "an actor must not wait on another actor's answer: tell it, and handle the "
                "reply as a message"
            )
        return super().get(timeout=timeout)


class ActorPool:
    """Worker threads shared by many actors; a FIFO of actors that have mail."""

    def __init__(self, name: str, workers: int = 1) -> None:
        self.name = name
        self.workers = max(1, workers)
        self._ready: deque[PooledActor] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._idle = 0
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()

    def _ensure_started(self) -> None:
        if len(self._threads) == self.workers:
            return
        with self._start_lock:
            while len(self._threads) < self.workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def schedule(self, actor: PooledActor) -> None:
        self._ensure_started()
        with self._cond:
            self._ready.append(actor)
            if self._idle:
                self._cond.notify()

    def _work(self) -> None:
        _worker.pool = self
        ready = self._ready
        cond = self._cond
        while True:
            with cond:
                while not ready:
                    self._idle += 1
                    cond.wait()
                    self._idle -= 1
                actor = ready.popleft()
            try:
                actor._run_turn()
            except BaseException:
                log.exception("actor pool %s: %s failed outside its guard", self.name, actor)


def _default_workers() -> int:
    raw = os.environ.get("EVS_ACTOR_WORKERS", "")
    try:
        return max(1, int(raw)) if raw else 1
    except ValueError:
        return 1


_default_pool: ActorPool | None = None
_default_lock = threading.Lock()


def default_pool() -> ActorPool:
    global _default_pool
    if _default_pool is None:
        with _default_lock:
            if _default_pool is None:
                _default_pool = ActorPool("evs-actors", _default_workers())
    return _default_pool


class PooledInbox:
    """Pykka's ActorInbox protocol on a deque; `put` schedules the idle actor."""

    __slots__ = ("_dead", "_lock", "_mail", "_scheduled", "actor")

    def __init__(self) -> None:
        self._mail: deque[Envelope[Any]] = deque()
        self._lock = threading.Lock()
        self._scheduled = True  # until the actor is started: mail waits, nothing runs
        self._dead = False
        self.actor: PooledActor | None = None

    def put(self, envelope: Envelope[Any], /) -> None:
        with self._lock:
            if self._dead:
                late = True
            else:
                late = False
                self._mail.append(envelope)
                if self._scheduled:
                    return
                self._scheduled = True
        if late:
            answer_late_mail(envelope, self.actor)
            return
        actor = self.actor
        assert actor is not None
        actor.actor_pool.schedule(actor)

    def get(self) -> Envelope[Any]:
        return self._mail.popleft()

    def empty(self) -> bool:
        return not self._mail

    def take(self) -> Envelope[Any] | None:
        """The next message, or None (and the inbox idle again: the next put schedules)."""
        with self._lock:
            if self._mail:
                return self._mail.popleft()
            self._scheduled = False
            return None

    def close(self) -> None:
        """The actor stopped: what is put from now on is answered at once, never queued."""
        with self._lock:
            self._dead = True
            self._scheduled = True


class PooledActor(pykka.Actor):
    """A Pykka actor run by an `ActorPool` (the process's default one unless overridden)."""

    actor_pool: ActorPool
    throughput: int = DEFAULT_THROUGHPUT

    @staticmethod
    def _create_actor_inbox() -> Any:
        return PooledInbox()

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return PoolFuture()

    def _start_actor_loop(self) -> None:
        if not hasattr(self, "actor_pool"):
            self.actor_pool = default_pool()
        inbox: PooledInbox = self.actor_inbox  # type: ignore[assignment]
        inbox.actor = self
        self._set_up = False
        self.actor_pool.schedule(self)  # the inbox stays "scheduled" from its creation

    def _run_turn(self) -> None:
        inbox: PooledInbox = self.actor_inbox  # type: ignore[assignment]
        if not self._set_up:
            self._set_up = True
            self._actor_loop_setup()
        envelope = None
        for _ in range(self.throughput):
            if self.actor_stopped.is_set():
                break
            envelope = inbox.take()
            if envelope is None:  # idle again: the next put schedules the actor
                break
            self._handle_envelope(envelope)
        if self.actor_stopped.is_set():
            self._tear_down()
        elif envelope is not None:  # its turn is used up, mail may be left: to the queue's end
            self.actor_pool.schedule(self)

    def _tear_down(self) -> None:
        """Answer what is left (ActorDeadError), as Pykka's own loop does; late mail too."""
        inbox: PooledInbox = self.actor_inbox  # type: ignore[assignment]
        inbox.close()
        self._actor_loop_teardown()

    def _handle_envelope(self, envelope: Envelope[Any]) -> None:
        """One message, exactly as pykka.Actor._actor_loop_running handles it."""
        try:
            response = self._handle_receive(envelope.message)
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)
        except Exception:
            if envelope.reply_to is not None:
                log.info("Exception returned from %s to caller:", self, exc_info=sys.exc_info())
                envelope.reply_to.set_exception()
            else:
                self._handle_failure(*sys.exc_info())
                try:
                    self.on_failure(*sys.exc_info())
                except Exception:
                    self._handle_failure(*sys.exc_info())
        except BaseException:
            log.debug("%r in %s. Stopping all actors.", sys.exc_info()[1], self)
            self._stop()
            pykka.ActorRegistry.stop_all(block=False)


def answer_late_mail(envelope: Envelope[Any], actor: Any) -> None:
    """A message put after the actor stopped: an ask() gets ActorDeadError, not a hang."""
    if envelope.reply_to is None:
        return
    if isinstance(envelope.message, messages._ActorStop):
        envelope.reply_to.set(None)
    else:
        envelope.reply_to.set_exception(
            exc_info=(ActorDeadError, ActorDeadError(f"{actor} stopped"), None)
        )
