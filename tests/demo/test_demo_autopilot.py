"""`evscallpro demo --autopilot`: agent2 and agent3 work on their own (call, qualify, call
again) through the CallCenter port, and their calls and qualifications reach the records."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from actors.sinks import MemoryRecordSink
from core.domain import AgentState, CallOutcome
from core.records import CallRecord, Disposition
from evscallpro.demo import AUTOPILOT_AGENTS, Demo
from evscallpro.demo_autopilot import disposition_for

pytestmark = pytest.mark.timeout(90)

WAIT_S = 45.0


def test_piloted_agents_call_and_qualify_on_their_own(tmp_path: Path) -> None:
    records = MemoryRecordSink()
    two_each = threading.Event()

    def count(_: object) -> None:
        done = [r.agent_id for r in records.records if isinstance(r, Disposition)]
        if all(done.count(agent) >= 2 for agent in AUTOPILOT_AGENTS):
            two_each.set()

    records.add_listener(count)
    demo = Demo(
        data_dir=str(tmp_path),
        port=0,
        ari_port=0,
        time_scale=20.0,
        flush_interval_s=0.05,
        extra_sinks=[records],
        autopilot=True,
    ).start()
    try:
        assert demo.autopilot is not None
        assert "Autopilot: agent2, agent3" in demo.banner()
        assert two_each.wait(WAIT_S), records.records
        calls = {r.call_id: r for r in records.records if isinstance(r, CallRecord)}
        for disposition in (r for r in records.records if isinstance(r, Disposition)):
            assert disposition.call_id in calls  # qualifies the call it made
            assert calls[disposition.call_id].agent_id == disposition.agent_id
        assert {r.agent_id for r in calls.values()} == set(AUTOPILOT_AGENTS)
        assert demo.stack is not None
        states = {v.agent_id: v.state for v in demo.stack.call_center.snapshot()}
        assert states["agent1"] == AgentState.OFFLINE  # left for the visitor
    finally:
        demo.stop()
    assert demo.autopilot is None


def test_disposition_follows_the_outcome() -> None:
    rng = random.Random(1)
    assert disposition_for(CallOutcome.CUSTOMER_INVALID_NUMBER, rng) == "wrong_number"
    assert disposition_for(CallOutcome.CUSTOMER_BUSY, rng) == "callback"
    answered = {disposition_for(CallOutcome.COMPLETED, rng) for _ in range(50)}
    assert answered == {"sale", "callback", "not_interested"}
