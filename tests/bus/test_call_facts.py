"""The call metrics of the bus writer: the facts DuckDB reads from a batch are the record's,
and counting them moves the metrics exactly as counting the records one by one does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY
from support.synthetic import dispositions_for, generate_calls

from analytics import metrics
from analytics.store import CallStore
from bus.records import call_facts, encode


def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    names = ("evscallpro_calls_total", "evscallpro_call_setup_seconds",
             "evscallpro_agent_leg_setup_seconds", "evscallpro_call_talk_seconds")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in REGISTRY.collect() if metric.name in names or metric.name + "_total" in names
        for s in metric.samples if not s.name.endswith("_created")
    }


def delta(before: dict[Any, float], after: dict[Any, float]) -> dict[Any, float]:
    return {k: round(v - before.get(k, 0.0), 6) for k, v in after.items()
            if round(v - before.get(k, 0.0), 6)}


def test_facts_from_duckdb_are_the_records_and_count_the_same(tmp_path: Path) -> None:
    records = list(generate_calls(400, prefix="facts"))
    lines = [encode(r) for r in records] + [
        encode(d) for d in dispositions_for(records)  # entries that are not calls: no facts
    ]
    store = CallStore(tmp_path / "calls.duckdb")
    facts: list[tuple[Any, ...]] = []
    store.write_json(lines, facts)
    assert sorted(facts, key=repr) == sorted((call_facts(r) for r in records), key=repr)
    store.write_json(lines[:10], facts)  # a repeat: the upsert path gives its facts too
    assert len(facts) == 10
    store.close()

    before = samples()
    for record in records:
        metrics.record_call_ended(record)
    one_by_one = delta(before, samples())
    before = samples()
    metrics.record_calls_ended(call_facts(r) for r in records)
    batched = delta(before, samples())
    assert one_by_one and batched == one_by_one
    assert sum(v for (name, _), v in batched.items() if name == "evscallpro_calls_total") == 400
