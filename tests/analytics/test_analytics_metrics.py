"""Prometheus exposition carries every evscallpro_* metric, and the helpers move them."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from analytics import metrics
from analytics.synthetic import generate_calls
from core.domain import AgentState, CallOutcome, CallStep, WorkstationMode
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
    text = metrics.exposition().decode()
    for name in metrics.METRIC_NAMES:
        assert re.search(rf"^# TYPE {name} ", text, re.MULTILINE), name


def _series(name: str) -> list[dict[str, str]]:
    return [
        sample.labels
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
        if sample.name == name
    ]


def test_every_known_label_combination_exists_before_its_first_event() -> None:
    """A counter first scraped at 1 is no increase for rate(): known series start at 0."""
    import gateway.metrics
    from gateway.actions import AGENT_ACTIONS, SUPERVISOR_ACTIONS

    calls = {(s["outcome"], s["workstation"]) for s in _series("evscallpro_calls_total")}
    for outcome in CallOutcome:
        for mode in WorkstationMode:
            assert (outcome.value, mode.value) in calls
    commands = {(s["op"], s["result"]) for s in _series("evscallpro_ari_commands_total")}
    for op in ("originate", "hangup", "bridge_destroy", "bridge_record", "play", "snoop"):
        assert {(op, "ok"), (op, "error")} <= commands
    assert set(metrics.ARI_OPERATIONS) <= {op for op, _ in commands}
    histogram = {s["op"] for s in _series("evscallpro_ari_command_seconds_count")}
    assert set(metrics.ARI_OPERATIONS) <= histogram
    events = {s["type"] for s in _series("evscallpro_ari_events_total")}
    assert {"StasisStart", "ChannelDestroyed", "ApplicationReplaced"} <= events
    legs = {s["workstation"] for s in _series("evscallpro_agent_leg_setup_seconds_count")}
    assert legs == {mode.value for mode in WorkstationMode}
    actions = {(s["action"], s["result"]) for s in _series("evscallpro_gateway_actions_total")}
    for cls in AGENT_ACTIONS | SUPERVISOR_ACTIONS:
        for result in ("ok", "denied", "error"):
            assert (cls.__name__, result) in actions
    assert ("invalid", "bad_message") in actions
    logins = {s["result"] for s in _series("evscallpro_gateway_logins_total")}
    assert set(gateway.metrics.LOGIN_RESULTS) <= logins
    assert {"ok", "failed", "throttled"} <= logins
    refused = {s["reason"] for s in _series("evscallpro_ws_refused_total")}
    assert {"origin", "session", "sockets_per_session", "sockets_per_user"} <= refused


def test_unused_websocket_metrics_are_gone() -> None:
    text = metrics.exposition().decode()
    assert "evscallpro_ws_clients" not in text
    assert "evscallpro_ws_messages_total" not in text
    assert "evscallpro_ws_clients" not in DASHBOARD.read_text()
    assert "evscallpro_ws_messages" not in DASHBOARD.read_text()


def test_refused_websockets_count_by_reason() -> None:
    import gateway.metrics

    before = _sample("evscallpro_ws_refused_total", reason="sockets_per_user")
    metrics.ws_refused("sockets_per_user")
    assert _sample("evscallpro_ws_refused_total", reason="sockets_per_user") == before + 1
    origin = _sample("evscallpro_ws_refused_total", reason="origin")
    gateway.metrics.HANDSHAKES_REFUSED.labels("origin").inc()  # the gateway's handshake checks
    assert _sample("evscallpro_ws_refused_total", reason="origin") == origin + 1


def test_application_replaced_marks_the_stasis_app_lost_until_reconnected() -> None:
    metrics.ari_connected(True)
    assert _sample("evscallpro_ari_app_replaced") == 0
    metrics.ari_event("ApplicationReplaced")
    assert _sample("evscallpro_ari_app_replaced") == 1
    assert _sample("evscallpro_ari_connected") == 1
    metrics.ari_connected(False)  # the link giving up does not hide the takeover
    assert _sample("evscallpro_ari_app_replaced") == 1
    metrics.ari_connected(True)
    assert _sample("evscallpro_ari_app_replaced") == 0


def test_agent_leg_setup_time_by_workstation() -> None:
    record = next(
        r for r in generate_calls(50) if r.agent_leg.answered_at is not None
    )
    labels = {"workstation": str(record.workstation)}
    before = _sample("evscallpro_agent_leg_setup_seconds_sum", **labels)
    metrics.record_call_ended(record)
    assert record.agent_leg.answered_at is not None
    assert _sample("evscallpro_agent_leg_setup_seconds_sum", **labels) - before == pytest.approx(
        record.agent_leg.answered_at - record.started_at
    )


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


def test_ari_helpers_use_cached_children_and_bound_labels() -> None:
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


def _expected_unit(expr: str) -> str:
    """What a query measures, from its shape: seconds, per minute, per second, or a count."""
    if expr.startswith("histogram_quantile") or "_seconds_sum" in expr:
        return "s"
    if "rate(" in expr and "increase(" not in expr:
        return "opm" if expr.endswith("* 60") else "ops"
    return "short"


def test_dashboard_keeps_units_apart_on_one_axis() -> None:
    """Each axis of a time series carries one unit: per-second rates never share an axis
    with counts or gauges (an SRE reads 0.02 frames/s against 40 clients as nothing)."""
    dashboard = json.loads(DASHBOARD.read_text())
    checked = 0
    for panel in dashboard["panels"]:
        if panel["type"] != "timeseries":
            continue
        defaults = panel["fieldConfig"]["defaults"]
        by_ref: dict[str, dict[str, str]] = {}
        for override in panel["fieldConfig"].get("overrides", []):
            assert override["matcher"]["id"] == "byFrameRefID", panel["title"]
            props = {p["id"]: p["value"] for p in override["properties"]}
            by_ref[override["matcher"]["options"]] = props
        axes: dict[str, set[str]] = {}
        for target in panel["targets"]:
            props = by_ref.get(target["refId"], {})
            unit = props.get("unit", defaults["unit"])
            axis = props.get("custom.axisPlacement", "left")
            expected = _expected_unit(target["expr"])
            if expected in ("s", "ops", "opm"):
                assert unit == expected, f"{panel['title']}: {target['expr']} shown as {unit}"
            else:
                assert unit in ("short", "none"), f"{panel['title']}: {target['expr']} as {unit}"
            axes.setdefault(axis, set()).add(unit)
            checked += 1
        for axis, units in axes.items():
            assert len(units) == 1, f"{panel['title']}: {axis} axis mixes {sorted(units)}"
    assert checked >= 20


def test_dashboard_has_the_sre_panels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = " ".join(
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    )
    assert 'min(up{job=~"$job"})' in exprs
    assert 'evscallpro_gateway_logins_total{job=~"$job",result!="ok"}' in exprs
    assert "evscallpro_ws_refused_total" in exprs
    assert "evscallpro_orphan_channels_hung_up_total" in exprs
    assert "evscallpro_ari_app_replaced" in exprs
