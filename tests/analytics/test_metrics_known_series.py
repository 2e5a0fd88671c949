"""Known label combinations start at 0 (so rate()/increase() count the first event), the
SRE metrics move, and the dashboard queries them with one unit per axis (issue 10, SREs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from analytics import metrics
from core.domain import CallOutcome, LegRole, WorkstationMode
from core.records import CallRecord, LegRecord

DASHBOARD = Path(__file__).resolve().parents[2] / "docs/grafana/evscallpro-dashboard.json"


def _sample(name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


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
    assert {"origin", "session", "host", "bad_header", "too_many_sockets"} <= refused


def test_unused_websocket_metrics_are_gone() -> None:
    text = metrics.exposition().decode()
    assert "evscallpro_ws_clients" not in text
    assert "evscallpro_ws_messages_total" not in text
    assert "evscallpro_ws_clients" not in DASHBOARD.read_text()
    assert "evscallpro_ws_messages" not in DASHBOARD.read_text()


def test_refused_websockets_count_by_reason() -> None:
    import gateway.metrics

    before = _sample("evscallpro_ws_refused_total", reason="too_many_sockets")
    metrics.ws_refused("too_many_sockets")
    assert _sample("evscallpro_ws_refused_total", reason="too_many_sockets") == before + 1
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
    record = CallRecord(
        call_id="c1", agent_id="a1", customer_number="+33612345678",
        workstation=WorkstationMode.MOBILE,
        agent_leg=LegRecord(role=LegRole.AGENT, endpoint="PJSIP/+33600000001@trunk",
                            channel_id="c1-agent", dialed_at=100.0, answered_at=107.5),
        outcome=CallOutcome.AGENT_NOT_CONFIRMED, started_at=100.0, ended_at=130.0,
    )
    labels = {"workstation": str(record.workstation)}
    before = _sample("evscallpro_agent_leg_setup_seconds_sum", **labels)
    metrics.record_call_ended(record)
    assert record.agent_leg.answered_at is not None
    assert _sample("evscallpro_agent_leg_setup_seconds_sum", **labels) - before == pytest.approx(
        record.agent_leg.answered_at - record.started_at
    )


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
