"""The bulk JSON path stores exactly what the typed row path stores."""

from __future__ import annotations

import math

import duckdb
import msgspec
from support.synthetic import dispositions_for, generate_calls

from analytics.bulk import upsert_json_lines
from analytics.intervals import AgentStateInterval
from analytics.journal import entry_for
from analytics.store import Batch, create_schema
from core.domain import AgentState

TABLES = {
    "calls": "call_id",
    "call_legs": "call_id, role",
    "dispositions": "call_id",
    "agent_state_intervals": "agent_id, started_at",
}


def records() -> list[object]:
    calls = list(generate_calls(300, prefix="bulk"))
    intervals = [
        AgentStateInterval(agent_id=f"a{n % 7}", state=AgentState.AVAILABLE,
                           started_at=1_764_000_000.0 + n * 3.25, ended_at=1_764_000_001.5 + n * 3.25,
                           pause_reason=None, workstation="mobile")
        for n in range(50)
    ]
    return [*calls, *dispositions_for(calls), *intervals]


def tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[object, ...]]]:
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY {k}").fetchall() for t, k in TABLES.items()}


def test_bulk_and_row_paths_give_the_same_tables() -> None:
    typed, bulk = duckdb.connect(), duckdb.connect()
    create_schema(typed)
    create_schema(bulk)
    batch = Batch()
    for record in records():
        batch.add(record)
    for table, rows in (("calls", batch.calls), ("call_legs", batch.legs),
                        ("dispositions", batch.dispositions),
                        ("agent_state_intervals", batch.intervals)):
        appender = typed.appender(table)
        appender.append_rows(rows)
        appender.flush()
    encoder = msgspec.json.Encoder()
    lines = [encoder.encode(entry_for(r)) for r in records()]  # type: ignore[arg-type]
    assert upsert_json_lines(bulk, lines) == len(lines)
    expected, got = tables(typed), tables(bulk)
    for table in TABLES:
        assert len(got[table]) == len(expected[table]) > 0, table
        assert got[table] == expected[table], table


def test_last_entry_wins_within_a_batch_and_a_replay_changes_nothing() -> None:
    con = duckdb.connect()
    create_schema(con)
    first, *_ = generate_calls(1, prefix="again")
    later = msgspec.structs.replace(first, reason="second version")
    encoder = msgspec.json.Encoder()
    lines = [encoder.encode(entry_for(first)), encoder.encode(entry_for(later))]
    upsert_json_lines(con, lines)
    upsert_json_lines(con, lines)
    assert con.execute("SELECT count(*), any_value(reason) FROM calls").fetchall() == [
        (1, "second version")
    ]


def test_intervals_equal_to_the_microsecond_are_one_row_the_last_one() -> None:
    """The key is the started_at TIMESTAMP (microseconds), not the epoch float it comes from."""
    con = duckdb.connect()
    create_schema(con)
    encoder = msgspec.json.Encoder()
    started = 1_764_000_000.25
    lines = [
        encoder.encode(entry_for(AgentStateInterval(
            agent_id="a1", state=AgentState.AVAILABLE, started_at=at, ended_at=at + 5.0,
            pause_reason=None, workstation=workstation)))
        for at, workstation in ((started, "mobile"), (math.nextafter(started, 2e9), "softphone"))
    ]
    assert lines[0] != lines[1]
    upsert_json_lines(con, lines)
    assert con.execute("SELECT count(*), any_value(workstation) FROM agent_state_intervals"
                       ).fetchall() == [(1, "softphone")]
