"""The agent's day on the real core (CallCenterApp and its actors on the ARI simulator):
the do-not-call list refuses before anything is dialed and is counted, a sign-out during a
call applies when it ends, and evscallpro_agents counts every configured agent."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from analytics import metrics
from asterisk.sim.testing import SimulatorThread
from core.call_config import CallSettings, DialTemplates
from core.domain import AgentState, WorkstationMode
from core.views import AgentView, CallView
from evscallpro.do_not_call import import_csv, list_path, write_numbers
from evscallpro.root import AgentDirectoryEntry, CallCenterApp, CoreConfig

pytestmark = pytest.mark.slow

FAST_CALL = CallSettings(
    language="en", acceptance_timeout_s=3.0, acceptance_wait_s=1.0, stasis_guard_s=3.0,
    prompt_guard_s=3.0, bridge_guard_s=3.0, ending_guard_s=3.0,
)
AGENTS = ("alice", "bob", "carol")


def refused_total() -> float:
    return REGISTRY.get_sample_value("evscallpro_do_not_call_refused_total") or 0.0


@pytest.fixture
def core(tmp_path: Path) -> Iterator[tuple[CallCenterApp, metrics.ViewMetrics]]:
    sim = SimulatorThread(time_scale=20.0).start()
    config = CoreConfig(
        ari_url=sim.base_url, ari_user=sim.username, ari_password=sim.password,
        app="evscallpro", templates=DialTemplates(trunk="carrier"), call=FAST_CALL,
        agents=tuple(
            AgentDirectoryEntry(agent_id=a, display_name=a.title(),
                                softphone_endpoint=f"agent-100{i}",
                                workstation=WorkstationMode.SOFTPHONE)
            for i, a in enumerate(AGENTS, start=1)
        ),
        backoff_base_s=0.05, backoff_cap_s=0.5,
        do_not_call_path=str(list_path(tmp_path)),
    )
    app = CallCenterApp(config)
    gauges = metrics.ViewMetrics()
    app.subscribe(gauges.on_view)  # before start, as the Stack does
    app.start(wait_for_link_s=15.0)
    try:
        yield app, gauges
    finally:
        app.stop()
        sim.stop()


def agent_counts() -> dict[str, float]:
    return {
        state.value: REGISTRY.get_sample_value("evscallpro_agents", {"state": state.value}) or 0.0
        for state in AgentState
    }


def wait_view(app: CallCenterApp, test: Callable[[AgentView], bool], timeout: float = 15.0) -> None:
    seen = threading.Event()

    def listener(view: AgentView | CallView) -> None:
        if isinstance(view, AgentView) and test(view):
            seen.set()

    unsubscribe = app.subscribe(listener)
    try:
        if any(test(v) for v in app.snapshot()):
            return
        assert seen.wait(timeout)
    finally:
        unsubscribe()


def test_every_configured_agent_is_counted_in_one_state(
        core: tuple[CallCenterApp, metrics.ViewMetrics]) -> None:
    app, _ = core
    counts = agent_counts()
    assert counts["offline"] == 3 and sum(counts.values()) == 3  # nobody signed in yet
    assert app.log_in("alice") is None
    wait_view(app, lambda v: v.agent_id == "alice" and v.state == AgentState.AVAILABLE)
    counts = agent_counts()
    assert counts["offline"] == 2 and counts["available"] == 1 and sum(counts.values()) == 3


def test_do_not_call_refuses_before_dialing_and_counts(
        core: tuple[CallCenterApp, metrics.ViewMetrics], tmp_path: Path) -> None:
    app, _ = core
    numbers, report = import_csv("nom;téléphone\nDupont;06 00 00 00 08\nX;12\n", "FR")
    assert report.total == 1 and [r.line for r in report.rejected] == [3]
    write_numbers(list_path(tmp_path), numbers)  # imported while the product runs
    assert app.log_in("alice") is None
    before = refused_total()
    refusal = app.place_call("alice", "+33600000008")
    assert refusal is not None and refusal.code == "do_not_call"
    assert refused_total() == before + 1
    assert app.live_call_ids() == []  # nothing was dialed
    assert app.snapshot()[0].state == AgentState.AVAILABLE
    assert app.place_call("alice", "+33600000001") is None  # another number is dialed


def test_sign_out_during_a_call_applies_when_it_ends(
        core: tuple[CallCenterApp, metrics.ViewMetrics]) -> None:
    app, _ = core
    assert app.log_in("bob") is None
    # +33600000008: the simulator's customer who answers, then hangs up after 5 s.
    assert app.place_call("bob", "+33600000008") is None
    wait_view(app, lambda v: v.agent_id == "bob" and v.call is not None
              and v.call.step == "connected")
    assert app.log_out("bob") is None  # kept: the call goes on
    assert next(v for v in app.snapshot() if v.agent_id == "bob").state == AgentState.ON_CALL
    wait_view(app, lambda v: v.agent_id == "bob" and v.state == AgentState.OFFLINE)
    bob = next(v for v in app.snapshot() if v.agent_id == "bob")
    assert bob.awaiting_disposition is None
