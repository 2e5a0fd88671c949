"""The agent and call gauges of the analytics process, kept from every node's views.

`evscallpro_agents{state}` and `evscallpro_calls_in_progress` cover all nodes. In one process
`analytics.metrics.ViewMetrics` keeps them from the core's views; over the bus the views of
several nodes arrive as `ViewChange`s, each view with its own (incarnation, seq), and a node
may restart: its calls and agents of the previous incarnation must not stay counted. So the
state is kept per node, as a gateway keeps it (bus.protocol): a change applies only if its
(incarnation, seq) is newer than the one held for that view; a node's new incarnation
forgets what its previous one said; a snapshot (`GetSnapshot`, asked at start, on a new
incarnation and on a gap in a view's sequence) replaces the node's state. The gauges are
set from the sum over the nodes after each change. Calls in progress are counted from the
call views (each has its own sequence), not from the calls inside agent views.

No I/O here: `evscallpro.analytics_process` subscribes to `evs.view.*`, asks the snapshots,
and feeds this class.
"""

from __future__ import annotations

import collections
import threading

from analytics import metrics
from bus.protocol import Snapshot, ViewChange
from core.call_outcomes import FINAL_STEPS
from core.domain import AgentState
from core.views import AgentView, CallView


class _NodeViews:
    def __init__(self, incarnation: int) -> None:
        self.incarnation = incarnation
        self.agents: dict[str, tuple[int, AgentState]] = {}  # agent id -> (seq, state)
        self.calls: dict[str, int] = {}  # call id -> seq of its view (calls in progress)
        self.ended: dict[str, int] = {}  # the last ENDED_KEPT ended calls, oldest first


ENDED_KEPT = 10_000  # ended calls remembered per node, so a stale view cannot revive one


class FleetGauges:
    """Thread-safe; `apply` returns True when the node's state needs a snapshot."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nodes: dict[str, _NodeViews] = {}

    def apply(self, change: ViewChange) -> bool:
        with self._lock:
            node = self._nodes.get(change.node)
            wanted = False
            if node is None or change.incarnation > node.incarnation:
                node = self._nodes[change.node] = _NodeViews(change.incarnation)
                wanted = True  # a node new to us, or restarted: ask for the whole picture
            elif change.incarnation < node.incarnation:
                return False  # a change from before the node restarted
            if change.agent is not None:
                wanted |= self._agent(node, change.seq, change.agent)
            elif change.call is not None:
                wanted |= self._call(node, change.seq, change.call)
            self._publish()
            return wanted

    def load(self, snapshot: Snapshot) -> None:
        """The node's whole state, unless a newer incarnation was seen meanwhile; views
        newer than the snapshot's (applied since it was taken) are kept."""
        with self._lock:
            held = self._nodes.get(snapshot.node)
            if held is not None and held.incarnation > snapshot.incarnation:
                return
            node = held if held is not None and held.incarnation == snapshot.incarnation \
                else _NodeViews(snapshot.incarnation)
            self._nodes[snapshot.node] = node
            for agent in snapshot.agents:
                self._agent(node, agent.seq, agent.view, gap_check=False)
            for call in snapshot.calls:
                self._call(node, call.seq, call.view, gap_check=False)
            self._publish()

    def forget(self, node_id: str) -> None:
        with self._lock:
            self._nodes.pop(node_id, None)
            self._publish()

    def _agent(self, node: _NodeViews, seq: int, view: AgentView, gap_check: bool = True) -> bool:
        held = node.agents.get(view.agent_id)
        if held is not None and held[0] >= seq:
            return False  # stale: a newer view of this agent is held
        node.agents[view.agent_id] = (seq, view.state)
        return gap_check and seq != (held[0] + 1 if held is not None else 1)

    def _call(self, node: _NodeViews, seq: int, view: CallView, gap_check: bool = True) -> bool:
        held = node.calls.get(view.call_id, node.ended.get(view.call_id))
        if held is not None and held >= seq:
            return False
        if view.step in FINAL_STEPS:
            node.calls.pop(view.call_id, None)
            node.ended[view.call_id] = seq
            if len(node.ended) > ENDED_KEPT:
                del node.ended[next(iter(node.ended))]
        else:
            node.calls[view.call_id] = seq
        return gap_check and seq != (held + 1 if held is not None else 1)

    def _publish(self) -> None:
        states: collections.Counter[AgentState | str] = collections.Counter(
            state for node in self._nodes.values() for _seq, state in node.agents.values()
        )
        metrics.set_agents(states)
        metrics.set_calls_in_progress(sum(len(n.calls) for n in self._nodes.values()))
