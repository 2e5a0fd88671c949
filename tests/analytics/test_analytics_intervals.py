"""AgentIntervalTracker: AgentView snapshots -> closed state intervals."""

from __future__ import annotations

import msgspec

from analytics.intervals import AgentIntervalTracker
from core.domain import AgentState, CallStep, WorkstationMode
from core.views import AgentView, CallView


def view(state: AgentState, since: float, agent: str = "a1", **kw: object) -> AgentView:
    return AgentView(
        agent_id=agent,
        display_name=agent,
        state=state,
        state_since=since,
        workstation=WorkstationMode.SOFTPHONE,
        **kw,  # type: ignore[arg-type]
    )


def call(call_id: str) -> CallView:
    return CallView(call_id=call_id, agent_id="a1", step=CallStep.CONNECTED, customer_number="+1")


def test_each_state_change_closes_the_previous_interval() -> None:
    tracker = AgentIntervalTracker()
    assert tracker.observe(view(AgentState.AVAILABLE, 100.0)) == []
    (closed,) = tracker.observe(view(AgentState.ON_CALL, 130.0, call=call("c1")))
    assert (closed.state, closed.started_at, closed.ended_at, closed.seconds) == (
        AgentState.AVAILABLE, 100.0, 130.0, 30.0,
    )  # fmt: skip
    (on_call,) = tracker.observe(view(AgentState.WRAP_UP, 190.0, awaiting_disposition=call("c1")))
    assert (on_call.state, on_call.call_id, on_call.seconds) == (AgentState.ON_CALL, "c1", 60.0)
    assert on_call.workstation == "softphone"


def test_repeated_snapshot_of_same_state_closes_nothing() -> None:
    tracker = AgentIntervalTracker()
    tracker.observe(view(AgentState.AVAILABLE, 100.0))
    assert tracker.observe(view(AgentState.AVAILABLE, 100.0)) == []
    assert tracker.open_agents == 1


def test_new_pause_reason_is_a_new_interval() -> None:
    tracker = AgentIntervalTracker()
    tracker.observe(view(AgentState.PAUSED, 100.0, pause_reason="lunch"))
    (lunch,) = tracker.observe(view(AgentState.PAUSED, 160.0, pause_reason="training"))
    assert (lunch.pause_reason, lunch.seconds) == ("lunch", 60.0)


def test_offline_closes_and_opens_nothing() -> None:
    tracker = AgentIntervalTracker()
    tracker.observe(view(AgentState.AVAILABLE, 100.0))
    (closed,) = tracker.observe(view(AgentState.OFFLINE, 400.0))
    assert closed.seconds == 300.0
    assert tracker.open_agents == 0
    assert tracker.close_all(1000.0) == []


def test_close_all_at_shutdown_and_agents_are_independent() -> None:
    tracker = AgentIntervalTracker()
    tracker.observe(view(AgentState.AVAILABLE, 100.0, agent="a1"))
    tracker.observe(view(AgentState.PAUSED, 150.0, agent="a2", pause_reason="break"))
    closed = sorted(tracker.close_all(200.0), key=lambda i: i.agent_id)
    assert [(i.agent_id, i.state, i.seconds) for i in closed] == [
        ("a1", AgentState.AVAILABLE, 100.0),
        ("a2", AgentState.PAUSED, 50.0),
    ]
    assert tracker.open_agents == 0


def test_snapshot_back_in_time_yields_no_negative_interval() -> None:
    tracker = AgentIntervalTracker()
    tracker.observe(view(AgentState.AVAILABLE, 100.0))
    assert tracker.observe(view(AgentState.PAUSED, 90.0, pause_reason="x")) == []


def test_a_wrap_up_says_whether_its_call_was_connected() -> None:
    """The statistics page's handle time adds the wrap-up of connected calls only."""
    tracker = AgentIntervalTracker()
    talked = msgspec.structs.replace(call("c1"), connected_at=150.0)
    unanswered = call("c2")  # never connected: connected_at None
    tracker.observe(view(AgentState.ON_CALL, 100.0, call=talked))
    (on_call,) = tracker.observe(view(AgentState.WRAP_UP, 200.0, awaiting_disposition=talked))
    assert on_call.call_connected is None
    (wrap1,) = tracker.observe(view(AgentState.ON_CALL, 230.0, call=unanswered))
    assert (wrap1.state, wrap1.call_id, wrap1.call_connected) == (AgentState.WRAP_UP, "c1", True)
    tracker.observe(view(AgentState.WRAP_UP, 260.0, awaiting_disposition=unanswered))
    (wrap2,) = tracker.observe(view(AgentState.AVAILABLE, 300.0))
    assert (wrap2.call_id, wrap2.call_connected) == ("c2", False)
