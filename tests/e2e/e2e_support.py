"""End-to-end fixtures: the ARI simulator in a thread (time-scaled) and the real core
(CallCenterApp and its actors) connected to it. Tests wait on records and views through
events, never on bare sleeps."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors.call_journal import CallJournal
from actors.sinks import MemoryRecordSink
from asterisk.sim.testing import SimulatorThread
from core.call_config import CallRequest, CallSettings, DialTemplates
from core.domain import CallStep, WorkstationMode
from core.ids import agent_channel_id, call_bridge_id, customer_channel_id
from core.views import CallView
from evscallpro.root import AgentDirectoryEntry, CallCenterApp, CoreConfig

TIME_SCALE = 20.0
WAIT_S = 15.0

# Wall-clock guards of the core, shortened so failure paths finish fast (the simulator's
# own durations are sim seconds, divided by TIME_SCALE). The stasis and bridge guards are no
# test's subject here: generous, so a loaded CI machine never turns a slow answer or bridge
# into a timeout.
FAST_CALL = CallSettings(
    language="en",
    acceptance_timeout_s=3.0,
    acceptance_wait_s=1.0,
    stasis_guard_s=10.0,
    prompt_guard_s=3.0,
    bridge_guard_s=10.0,
    ending_guard_s=3.0,
)


class ViewLog:
    """Collects views; `wait_step` blocks until a call reaches a step."""

    def __init__(self) -> None:
        self.views: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, view: Any) -> None:
        with self._cond:
            self.views.append(view)
            self._cond.notify_all()

    def wait_step(self, call_id: str, step: CallStep, timeout: float = WAIT_S) -> CallView | None:
        def found() -> CallView | None:
            for v in self.views:
                if isinstance(v, CallView) and v.call_id == call_id and v.step == step:
                    return v
            return None

        with self._cond:
            self._cond.wait_for(lambda: found() is not None, timeout)
            return found()

    def wait_for(
        self, predicate: Callable[[Any], bool], timeout: float = WAIT_S, after: int = 0
    ) -> Any:
        """The first view from position `after` on matching `predicate` (None on timeout)."""
        with self._cond:
            self._cond.wait_for(lambda: any(predicate(v) for v in self.views[after:]), timeout)
            return next((v for v in self.views[after:] if predicate(v)), None)


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    simulator = SimulatorThread(time_scale=TIME_SCALE).start()
    try:
        yield simulator
    finally:
        simulator.stop()


def core_config(sim: SimulatorThread, **changes: Any) -> CoreConfig:
    config = CoreConfig(
        ari_url=sim.base_url,
        ari_user=sim.username,
        ari_password=sim.password,
        app="evscallpro",
        templates=DialTemplates(trunk="carrier"),
        call=FAST_CALL,
        agents=(
            AgentDirectoryEntry(
                agent_id="a1",
                display_name="Alice",
                mobile_number="+33600000001",
                softphone_endpoint="agent-1001",
                workstation=WorkstationMode.MOBILE,
            ),
        ),
        backoff_base_s=0.05,
        backoff_cap_s=0.5,
    )
    return msgspec.structs.replace(config, **changes)


def bridged_in_sim(sim: SimulatorThread, call_id: str) -> bool:
    """Both legs are in the call's bridge in the simulator, now (a one-shot look at
    Asterisk's side; to wait for the bridge, wait for the call's `connected` step)."""
    legs = {agent_channel_id(call_id), customer_channel_id(call_id)}
    return any(
        bridge["id"] == call_bridge_id(call_id) and legs <= set(bridge["channels"])
        for bridge in sim.state()["bridges"]
    )


def wait_channels(sim: SimulatorThread, channel_ids: set[str], timeout: float = WAIT_S) -> bool:
    """The simulator has every one of `channel_ids` (polled under a deadline)."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while time.monotonic() < deadline:
        if channel_ids <= {c["id"] for c in sim.state()["channels"]}:
            return True
        tick.wait(0.02)
    return False


class Core:
    """A started CallCenterApp plus what tests look at."""

    def __init__(self, app: CallCenterApp, sink: MemoryRecordSink, views: ViewLog) -> None:
        self.app = app
        self.sink = sink
        self.views = views

    def call(
        self,
        agent: str,
        customer: str,
        call_id: str | None = None,
        number: str = "+33600000001",
        **kw: Any,
    ) -> CallRequest:
        request = CallRequest(
            call_id=call_id or f"t{time.monotonic_ns()}",
            agent_id="a1",
            agent_endpoint=agent,
            customer_number=number,
            customer_endpoint=customer,
            requested_at=time.time(),
            **kw,
        )
        self.app.start_call(request)
        return request

    def record(self, call_id: str, timeout: float = WAIT_S) -> Any:
        record = self.sink.wait_for(lambda r: getattr(r, "call_id", None) == call_id, timeout)
        assert record is not None, f"no record for {call_id} within {timeout}s"
        return record


@pytest.fixture
def make_core(sim: SimulatorThread, tmp_path: Path) -> Iterator[Callable[..., Core]]:
    started: list[CallCenterApp] = []

    def make(journal: bool = False, **changes: Any) -> Core:
        sink = MemoryRecordSink()
        views = ViewLog()
        app = CallCenterApp(
            core_config(sim, **changes),
            sink=sink,
            journal=CallJournal(tmp_path / "live-calls.jsonl") if journal else None,
        )
        app.subscribe(views)
        app.start(wait_for_link_s=WAIT_S)
        started.append(app)
        return Core(app, sink, views)

    yield make
    for app in started:
        app.stop()


@pytest.fixture
def core(make_core: Callable[..., Core]) -> Core:
    return make_core()
