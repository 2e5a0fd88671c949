"""Metrics of the mid-call switch of the agent leg: a counter by direction and result (every
combination at 0 before its first event) and the switch time of the switched ones."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from analytics import metrics
from core.call_events import AgentLegSwitched
from core.domain import SwitchResult, WorkstationMode


def sample(name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def event(result: SwitchResult, seconds: float) -> AgentLegSwitched:
    return AgentLegSwitched(
        call_id="c1", source=WorkstationMode.SOFTPHONE, target=WorkstationMode.MOBILE,
        result=result, requested_at=100.0, at=100.0 + seconds,
    )


def test_every_direction_and_result_exists_at_start() -> None:
    for direction in ("softphone_to_mobile", "mobile_to_softphone"):
        for result in SwitchResult:
            value = sample("evscallpro_agent_leg_switches_total", direction=direction,
                           result=str(result))
            assert value is not None, (direction, result)
        assert sample("evscallpro_agent_leg_switch_seconds_count", direction=direction) is not None


def test_a_switch_counts_and_only_a_switched_one_is_timed() -> None:
    name, direction = "evscallpro_agent_leg_switches_total", "softphone_to_mobile"
    switched = sample(name, direction=direction, result="switched") or 0.0
    no_answer = sample(name, direction=direction, result="no_answer") or 0.0
    count = sample("evscallpro_agent_leg_switch_seconds_count", direction=direction) or 0.0
    total = sample("evscallpro_agent_leg_switch_seconds_sum", direction=direction) or 0.0
    metrics.agent_leg_switched(event(SwitchResult.SWITCHED, 4.5))
    metrics.agent_leg_switched(event(SwitchResult.NO_ANSWER, 27.0))
    metrics.agent_leg_switched(object())  # odd input: ignored, never raised
    assert sample(name, direction=direction, result="switched") == switched + 1
    assert sample(name, direction=direction, result="no_answer") == no_answer + 1
    assert sample("evscallpro_agent_leg_switch_seconds_count", direction=direction) == count + 1
    assert sample("evscallpro_agent_leg_switch_seconds_sum", direction=direction) == total + 4.5


def test_a_session_counts_by_reason_with_its_calls_and_legs() -> None:
    from core.agent_leg_session import AgentSessionRecord
    from core.domain import WorkstationMode

    for reason in metrics.SESSION_END_REASONS:
        assert sample("evscallpro_agent_sessions_total", end_reason=reason) is not None
    before = sample("evscallpro_agent_sessions_total", end_reason="agent_hung_up") or 0.0
    other = sample("evscallpro_agent_sessions_total", end_reason="other") or 0.0
    calls = sample("evscallpro_agent_session_calls_total") or 0.0
    record = AgentSessionRecord(
        agent_id="a1", workstation=WorkstationMode.MOBILE, endpoint="PJSIP/x", started_at=1.0,
        ended_at=2.0, end_reason="agent_hung_up", calls=7, legs=2,
    )
    metrics.agent_session_ended(record)
    metrics.agent_session_ended(msgspec_replace(record, end_reason="weird: thing", calls=0))
    assert sample("evscallpro_agent_sessions_total", end_reason="agent_hung_up") == before + 1
    assert sample("evscallpro_agent_sessions_total", end_reason="other") == other + 1
    assert sample("evscallpro_agent_session_calls_total") == calls + 7


def msgspec_replace(record: object, **changes: object) -> object:
    import msgspec

    return msgspec.structs.replace(record, **changes)  # type: ignore[type-var]
