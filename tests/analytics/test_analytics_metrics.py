"""Prometheus exposition carries every evscallpro_* metric, and the helpers move them."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.synthetic import generate_calls

from analytics import metrics
from core.domain import AgentState, CallOutcome, CallStep
from core.views import AgentView, CallView

DASHBOARD = Path(__file__).resolve().parents[2] / "docs/grafana/evscallpro-dashboard.json"


def _sample(name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def test_exposition_names_every_metric() -> None:
    metrics.ari_event("StasisStart")
    metrics.ari_command("originate", ok=True, seconds=0.01)
    metrics.ws_message("in")
    text = metrics.exposition().decode()
    for name in metrics.METRIC_NAMES:
        assert re.search(rf"^# TYPE {name} ", text, re.MULTILINE), name


def test_call_ended_counts_outcome_workstation_and_talk() -> None:
    record = next(r for r in generate_calls(50) if r.outcome is CallOutcome.COMPLETED)
    labels = {"outcome": "completed", "workstation": str(record.workstation)}
    before = _sample("evscallpro_calls_total", **labels)
    talk_before = _sample("evscallpro_call_talk_seconds_count")
    setup_before = _sample("evscallpro_call_setup_seconds_sum")
    metrics.record_call_ended(record)
    assert _sample("evscallpro_calls_total", **labels) == before + 1
    assert _sample("evscallpro_call_talk_seconds_count") == talk_before + 1
    assert record.connected_at is not None
    assert _sample("evscallpro_call_setup_seconds_sum") - setup_before == pytest.approx(
        record.connected_at - record.started_at
    )


def test_call_ended_tolerates_an_odd_record() -> None:
    before = _sample("evscallpro_calls_total", outcome="unknown", workstation="unknown")
    metrics.record_call_ended(object())
    assert _sample("evscallpro_calls_total", outcome="unknown", workstation="unknown") == before + 1


def test_view_metrics_track_agents_and_live_calls() -> None:
    views = metrics.ViewMetrics()

    def agent(agent_id: str, state: AgentState) -> AgentView:
        return AgentView(agent_id=agent_id, display_name=agent_id, state=state, state_since=0.0)

    def call(call_id: str, step: CallStep) -> CallView:
        return CallView(call_id=call_id, agent_id="a1", step=step, customer_number="+1")

    views.on_view(agent("a1", AgentState.AVAILABLE))
    views.on_view(agent("a2", AgentState.AVAILABLE))
    views.on_view(agent("a3", AgentState.PAUSED))
    assert _sample("evscallpro_agents", state="available") == 2
    views.on_view(call("c1", CallStep.AGENT_DIALING))
    views.on_view(call("c2", CallStep.CONNECTED))
    views.on_view(agent("a1", AgentState.ON_CALL))
    assert _sample("evscallpro_agents", state="available") == 1
    assert _sample("evscallpro_agents", state="on_call") == 1
    assert _sample("evscallpro_calls_in_progress") == 2
    views.on_view(call("c1", CallStep.FAILED))
    views.on_view(call("c2", CallStep.ENDED))
    assert _sample("evscallpro_calls_in_progress") == 0


def test_ari_helpers_count_each_event_type_and_command_result() -> None:
    before = _sample("evscallpro_ari_events_total", type="ChannelDestroyed")
    for _ in range(3):
        metrics.ari_event("ChannelDestroyed")
    assert _sample("evscallpro_ari_events_total", type="ChannelDestroyed") == before + 3
    errors = _sample("evscallpro_ari_commands_total", op="hangup", result="error")
    metrics.ari_command("hangup", ok=False, seconds=0.2)
    assert _sample("evscallpro_ari_commands_total", op="hangup", result="error") == errors + 1


def test_agents_gauge_is_absolute() -> None:
    metrics.set_agents({AgentState.AVAILABLE: 3, "on_call": 2})
    assert _sample("evscallpro_agents", state="available") == 3
    assert _sample("evscallpro_agents", state="on_call") == 2
    metrics.set_agents({AgentState.AVAILABLE: 1})
    assert _sample("evscallpro_agents", state="on_call") == 0


def test_headless_http_server_serves_metrics() -> None:
    server, thread = metrics.start_http_server(0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
        assert "evscallpro_ari_connected" in body
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_dashboard_queries_only_known_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(exprs) >= 10
    import gateway.metrics  # noqa: F401  (registers the gateway's evscallpro_gateway_* metrics)

    registered = {
        family.name for family in text_string_to_metric_families(metrics.exposition().decode())
    }
    used = set()
    for expr in exprs:
        for name in re.findall(r"evscallpro_[a-z_]+", expr):
            base = re.sub(r"_(bucket|count|sum|total)$", "", name)
            assert base in registered, f"{name} in {expr!r} is not exposed"
            used.add(base)
    assert len(used & {re.sub(r"_total$", "", n) for n in metrics.METRIC_NAMES}) >= 12
