"""Agent and call gauges over several nodes' views: newest view wins, a restarted node's old
state is forgotten, snapshots fill the picture and never revive what ended."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from bus.protocol import SequencedAgent, SequencedCall, Snapshot, ViewChange
from bus.view_gauges import FleetGauges
from core.domain import AgentState, CallStep
from core.views import AgentView, CallView


def agent(agent_id: str, state: AgentState) -> AgentView:
    return AgentView(agent_id=agent_id, display_name=agent_id, state=state, state_since=0.0)


def call(call_id: str, step: CallStep) -> CallView:
    return CallView(call_id=call_id, agent_id="a", step=step, customer_number="+33100000000")


def agent_change(node: str, seq: int, view: AgentView, incarnation: int = 1) -> ViewChange:
    return ViewChange(node=node, incarnation=incarnation, seq=seq, agent=view)


def call_change(node: str, seq: int, view: CallView, incarnation: int = 1) -> ViewChange:
    return ViewChange(node=node, incarnation=incarnation, seq=seq, call=view)


def agents(state: AgentState) -> float:
    return REGISTRY.get_sample_value("evscallpro_agents", {"state": state.value}) or 0.0


def in_progress() -> float:
    return REGISTRY.get_sample_value("evscallpro_calls_in_progress") or 0.0


@pytest.fixture
def gauges() -> Iterator[FleetGauges]:
    fleet = FleetGauges()
    yield fleet
    for node in ("n1", "n2"):
        fleet.forget(node)


def test_views_of_two_nodes_add_up_and_the_newest_view_of_each_wins(gauges: FleetGauges) -> None:
    assert gauges.apply(agent_change("n1", 1, agent("a1", AgentState.AVAILABLE)))  # new node
    assert not gauges.apply(agent_change("n1", 2, agent("a1", AgentState.ON_CALL)))
    assert not gauges.apply(agent_change("n1", 1, agent("a2", AgentState.AVAILABLE)))
    assert gauges.apply(agent_change("n2", 1, agent("b1", AgentState.AVAILABLE)))
    assert not gauges.apply(agent_change("n1", 1, agent("a1", AgentState.PAUSED)))  # stale
    assert (agents(AgentState.AVAILABLE), agents(AgentState.ON_CALL)) == (2, 1)
    assert agents(AgentState.PAUSED) == 0

    gauges.apply(call_change("n1", 1, call("c1", CallStep.AGENT_DIALING)))
    gauges.apply(call_change("n2", 1, call("c2", CallStep.CONNECTED)))
    assert in_progress() == 2
    gauges.apply(call_change("n1", 2, call("c1", CallStep.ENDED)))
    assert in_progress() == 1
    assert gauges.apply(call_change("n2", 3, call("c2", CallStep.ENDED)))  # seq 2 missed: a gap
    assert in_progress() == 0


def test_a_restarted_node_forgets_its_old_incarnation_and_ignores_late_changes(
    gauges: FleetGauges,
) -> None:
    gauges.apply(agent_change("n1", 1, agent("a1", AgentState.ON_CALL)))
    gauges.apply(call_change("n1", 1, call("c1", CallStep.CONNECTED)))
    assert in_progress() == 1
    assert gauges.apply(agent_change("n1", 1, agent("a2", AgentState.OFFLINE), incarnation=2))
    assert in_progress() == 0  # c1 belonged to the dead incarnation: the snapshot will say
    assert agents(AgentState.ON_CALL) == 0 and agents(AgentState.OFFLINE) == 1
    assert not gauges.apply(call_change("n1", 2, call("c9", CallStep.CONNECTED)))  # incarnation 1
    assert in_progress() == 0


def test_a_snapshot_fills_the_node_keeps_newer_views_and_revives_no_ended_call(
    gauges: FleetGauges,
) -> None:
    gauges.apply(agent_change("n1", 5, agent("a1", AgentState.PAUSED)))
    gauges.apply(call_change("n1", 4, call("c1", CallStep.ENDED)))
    snapshot = Snapshot(
        node="n1",
        incarnation=1,
        agents=[SequencedAgent(4, agent("a1", AgentState.AVAILABLE)),  # older than seq 5
                SequencedAgent(2, agent("a2", AgentState.WRAP_UP))],
        calls=[SequencedCall(3, call("c1", CallStep.CONNECTED)),  # taken before c1 ended
               SequencedCall(1, call("c2", CallStep.CUSTOMER_DIALING))],
    )
    gauges.load(snapshot)
    assert agents(AgentState.PAUSED) == 1 and agents(AgentState.AVAILABLE) == 0
    assert agents(AgentState.WRAP_UP) == 1
    assert in_progress() == 1  # c2 only
    gauges.apply(agent_change("n1", 1, agent("x", AgentState.AVAILABLE), incarnation=2))
    gauges.load(snapshot)  # a late answer from the dead incarnation changes nothing
    assert agents(AgentState.WRAP_UP) == 0 and in_progress() == 0
