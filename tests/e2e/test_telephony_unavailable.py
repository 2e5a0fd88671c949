"""Calls that the telephony link cannot carry end at once, named for the link, never the
agent; the core's TelephonyHealth says why (for /healthz)."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e_support import WAIT_S, Core, ViewLog, core_config

from actors.messages import AriAppReplaced, AriLinkDown, AriLinkUp
from actors.sinks import MemoryRecordSink
from asterisk.sim.testing import SimulatorThread
from core.domain import AgentState, CallOutcome
from core.records import CallRecord
from core.telephony import TelephonyState
from core.views import AgentView
from evscallpro.root import CallCenterApp


@pytest.fixture
def watched_core(sim: SimulatorThread) -> Iterator[tuple[Core, queue.Queue[Any]]]:
    notices: queue.Queue[Any] = queue.Queue()
    sink = MemoryRecordSink()
    views = ViewLog()
    app = CallCenterApp(core_config(sim), sink=sink, on_link_notice=notices.put)
    app.subscribe(views)
    app.start(wait_for_link_s=WAIT_S)
    try:
        yield Core(app, sink, views), notices
    finally:
        app.stop()


def wait_notice(notices: queue.Queue[Any], kind: type[Any]) -> Any:
    while True:
        notice = notices.get(timeout=WAIT_S)
        if isinstance(notice, kind):
            return notice


def place_and_get_record(core: Core) -> CallRecord:
    assert core.app.log_in("a1") is None
    assert core.app.place_call("a1", "+33600000002") is None
    record = core.sink.wait_for(lambda r: isinstance(r, CallRecord), WAIT_S)
    assert record is not None, "the call left no record"
    return record  # type: ignore[no-any-return]


def agent_available_again(core: Core) -> bool:
    def available(view: Any) -> bool:
        return isinstance(view, AgentView) and view.state == AgentState.AVAILABLE

    on_call = core.views.wait_for(
        lambda v: isinstance(v, AgentView) and v.state == AgentState.ON_CALL
    )
    assert on_call is not None
    return core.views.wait_for(available, after=core.views.views.index(on_call)) is not None


def test_health_is_up_while_the_link_is(watched_core: tuple[Core, queue.Queue[Any]]) -> None:
    core, _ = watched_core
    health = core.app.telephony_health()
    assert health.ok and health.state == TelephonyState.UP and health.app == "evscallpro"
    assert health.why_unavailable() == ""


def test_app_taken_over_ends_calls_at_once_as_telephony_unavailable(
    watched_core: tuple[Core, queue.Queue[Any]], make_core: Callable[..., Core],
    sim: SimulatorThread,
) -> None:
    core, notices = watched_core
    make_core()  # another program opens an events socket under the same app name
    wait_notice(notices, AriAppReplaced)
    health = core.app.telephony_health()
    assert health.state == TelephonyState.APP_REPLACED and not health.ok
    assert "ApplicationReplaced" in health.why_unavailable()

    record = place_and_get_record(core)
    assert record.outcome == CallOutcome.TELEPHONY_UNAVAILABLE, record
    assert "taken over" in record.reason
    assert record.agent_id == "a1"
    assert agent_available_again(core)  # nothing to qualify, the agent is not blamed
    assert not [c for c in sim.state()["channels"] if c["id"].startswith(record.call_id)]


def test_link_down_ends_calls_at_once_and_they_work_again_once_it_is_back(
    watched_core: tuple[Core, queue.Queue[Any]], sim: SimulatorThread
) -> None:
    core, notices = watched_core
    sim.refuse_websockets(3600.0)
    sim.drop_websockets()
    wait_notice(notices, AriLinkDown)
    health = core.app.telephony_health()
    assert health.state == TelephonyState.DOWN
    assert health.why_unavailable().startswith("the ARI link is down")

    record = place_and_get_record(core)
    assert record.outcome == CallOutcome.TELEPHONY_UNAVAILABLE, record
    assert "ARI link is down" in record.reason
    assert agent_available_again(core)

    sim.refuse_websockets(0.0)
    wait_notice(notices, AriLinkUp)
    assert core.app.telephony_health().ok
