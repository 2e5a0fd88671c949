"""The real core (CallCenterApp, actors, call machine) against the ARI simulator, with the
AnalyticsWriter as its record sink and view listener: one call from the agent's desk to the
DuckDB rows the supervisor's statistics read."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest
from analytics_helpers import WAIT_S
from prometheus_client import REGISTRY
from support.sim_core import ViewLog, core_config

from actors.analytics_service import AnalyticsService
from actors.analytics_writer import WriterConfig
from actors.messages import FlushNow, WriterStatus
from actors.sinks import FanOutSink, MemoryRecordSink
from asterisk.sim.testing import SimulatorThread
from core.domain import AgentState, CallOutcome, CallStep
from core.records import CallRecord, Disposition
from core.views import AgentView, CallView
from evscallpro.root import CallCenterApp

pytestmark = pytest.mark.slow


def _sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return value if value is not None else 0.0


def test_a_real_call_lands_in_duckdb_with_legs_disposition_and_agent_states(
    sim: SimulatorThread, db_path: str
) -> None:
    analytics = AnalyticsService(WriterConfig(db_path=db_path, flush_interval_s=0.05))
    analytics.start()
    completed_before = _sample("evscallpro_calls_total", outcome="completed", workstation="mobile")
    memory = MemoryRecordSink()
    views = ViewLog()
    app = CallCenterApp(core_config(sim), sink=FanOutSink(memory, analytics.sink))
    analytics.attach(app)
    app.subscribe(views)
    try:
        app.start(wait_for_link_s=WAIT_S)
        assert app.log_in("a1") is None
        # +33600000008 answers in the simulator and hangs up after 5 (simulated) seconds.
        assert app.place_call("a1", "+33600000008", contact_id="crm-42") is None
        record = memory.wait_for(lambda r: isinstance(r, CallRecord), WAIT_S)
        assert record is not None and record.outcome == CallOutcome.COMPLETED, record
        call_id = record.call_id
        assert any(isinstance(v, CallView) and v.step == CallStep.CONNECTED for v in views.views)
        wrap_up = views.wait_for(
            lambda v: isinstance(v, AgentView) and v.state == AgentState.WRAP_UP
        )
        assert wrap_up is not None
        assert app.qualify("a1", call_id, "sale", comment="two licences") is None
        assert memory.wait_for(lambda r: isinstance(r, Disposition), WAIT_S) is not None
        back = views.wait_for(
            lambda v: (
                isinstance(v, AgentView)
                and v.state == AgentState.AVAILABLE
                and v.awaiting_disposition is None
                and v.state_since >= record.ended_at
            )
        )
        assert back is not None, "the agent never came back from wrap-up"
        assert analytics.writer is not None
        status = analytics.writer.ask(FlushNow(), timeout=WAIT_S)
        assert isinstance(status, WriterStatus) and status.refused == 0
        # The same process reads what the writer committed (the UI's history panel).
        day = datetime.fromtimestamp(record.started_at, UTC).date()
        (mine,) = analytics.reader.calls_for_agent("a1", day)
        assert (mine.call_id, mine.disposition, mine.outcome) == (call_id, "sale", "completed")
        assert _sample("evscallpro_agents", state="available") == 1
        assert _sample("evscallpro_calls_in_progress") == 0
    finally:
        app.stop()
        analytics.stop(timeout=WAIT_S)
    after = _sample("evscallpro_calls_total", outcome="completed", workstation="mobile")
    assert after == completed_before + 1

    con = duckdb.connect(db_path, read_only=True)
    try:
        row = con.execute(
            "SELECT outcome, contact_id, customer_number, disposition, disposition_comment,"
            " connected_at IS NOT NULL, talk_seconds > 0 FROM call_report WHERE call_id = ?",
            [call_id],
        ).fetchall()
        legs = con.execute(
            "SELECT role, channel_id FROM call_legs WHERE call_id = ? ORDER BY role", [call_id]
        ).fetchall()
        states = con.execute(
            "SELECT state, call_id FROM agent_state_intervals WHERE agent_id = 'a1'"
            " ORDER BY started_at"
        ).fetchall()
    finally:
        con.close()
    assert row == [("completed", "crm-42", "+33600000008", "sale", "two licences", True, True)]
    assert legs == [("agent", f"{call_id}-agent"), ("customer", f"{call_id}-customer")]
    assert ("on_call", call_id) in states and ("wrap_up", call_id) in states
    assert states[0][0] == "available"
