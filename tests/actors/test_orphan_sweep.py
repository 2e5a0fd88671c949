"""The orphan sweeper's shell: it sweeps every interval and at once when triggered, hangs up
what the Reconciler calls orphans, counts only hang-ups that happened, and skips a sweep the
Reconciler declines (recovery pending)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from actors.ari_port import AriRequest
from actors.loop import EventLoopThread
from actors.orphan_sweep import OrphanSweeper


class FakeReconciler:
    app = "evscallpro"
    journal = None
    busy = False

    def __init__(self, answers: list[tuple[str, ...] | None]) -> None:
        self.answers = answers
        self.calls = 0

    def live_call_refs(self) -> dict[str, Any]:
        return {}

    async def orphan_legs(self) -> tuple[str, ...] | None:
        self.calls += 1
        return self.answers.pop(0) if self.answers else ()


class FakePort:
    def __init__(self, statuses: dict[str, int]) -> None:
        self.statuses = statuses
        self.deleted: list[str] = []

    async def request(self, req: AriRequest) -> tuple[int, Any, str]:
        if req.method == "GET":  # the listing for supervision leftovers: none here
            return 200, [], ""
        assert req.method == "DELETE"
        channel_id = req.path.rsplit("/", 1)[1]
        self.deleted.append(channel_id)
        return self.statuses.get(channel_id, 204), None, ""


@pytest.fixture
def loop_thread() -> Iterator[EventLoopThread]:
    thread = EventLoopThread(name="test-orphan-loop")
    thread.start()
    yield thread
    thread.stop()


def make(
    loop_thread: EventLoopThread,
    answers: list[tuple[str, ...] | None],
    statuses: dict[str, int],
    interval_s: float,
) -> tuple[OrphanSweeper, FakeReconciler, FakePort, list[tuple[str, ...]], threading.Event]:
    reconciler, port = FakeReconciler(answers), FakePort(statuses)
    hung: list[tuple[str, ...]] = []
    done = threading.Event()

    def on_hung_up(channels: tuple[str, ...]) -> None:
        hung.append(channels)
        done.set()

    sweeper = OrphanSweeper(
        loop_thread,
        port,  # type: ignore[arg-type]
        reconciler,  # type: ignore[arg-type]
        interval_s=interval_s,
        on_hung_up=on_hung_up,
    )
    return sweeper, reconciler, port, hung, done


def test_periodic_sweep_hangs_up_orphans_and_counts_only_real_hang_ups(
    loop_thread: EventLoopThread,
) -> None:
    sweeper, reconciler, port, hung, done = make(
        loop_thread,
        [None, ("x-agent", "y-customer", "z-agent")],  # first sweep declined: recovery pending
        {"y-customer": 404, "z-agent": 500},
        interval_s=0.02,
    )
    sweeper.start()
    try:
        assert done.wait(2)
        assert reconciler.calls >= 2
        assert sorted(port.deleted) == ["x-agent", "y-customer", "z-agent"]
        assert hung == [("x-agent",)]  # 404: gone by itself; 500: not hung up
        assert sweeper.hung_up_total == 1
    finally:
        sweeper.stop()


def test_trigger_sweeps_at_once(loop_thread: EventLoopThread) -> None:
    sweeper, _, _, hung, done = make(loop_thread, [("late-customer",)], {}, interval_s=3600.0)
    sweeper.start()
    try:
        sweeper.trigger()
        assert done.wait(2)
        assert hung == [("late-customer",)]
    finally:
        sweeper.stop()


def test_a_bad_interval_is_refused(loop_thread: EventLoopThread) -> None:
    with pytest.raises(ValueError, match="interval"):
        make(loop_thread, [], {}, interval_s=0)
