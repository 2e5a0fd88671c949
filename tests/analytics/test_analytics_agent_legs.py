"""The agent legs of switched calls (`call_agent_legs`) and the persistent agent-leg sessions
(`agent_leg_sessions`) stored by both write paths: the typed Appender path (CallStore.write)
and the bus writer's bulk JSON path (CallStore.write_json), the same rows either way, and a
batch redelivered changes nothing."""

from __future__ import annotations

from pathlib import Path

import duckdb
import msgspec
from support.synthetic import generate_calls

from analytics.journal import JournalEntry, entry_for, record_key
from analytics.store import Batch, CallStore, create_schema
from core.agent_leg_session import AgentSessionRecord
from core.domain import WorkstationMode
from core.records import AgentLegRecord, CallRecord

TABLES = {
    "call_agent_legs": "call_id, leg_index",
    "agent_leg_sessions": "agent_id, started_at",
    "calls": "call_id",
}
_encoder = msgspec.json.Encoder()


def switched(call: CallRecord, n: int) -> CallRecord:
    """`call` with a softphone first leg then a mobile leg (and a failed try every third)."""
    at = call.started_at
    legs = [
        AgentLegRecord(workstation=WorkstationMode.SOFTPHONE, endpoint=f"PJSIP/{call.agent_id}",
                       channel_id=f"{call.call_id}-a0", dialed_at=at, answered_at=at + 1.5,
                       joined_at=at + 9.25, ended_at=at + 40.0 + n, end_reason="switched_away",
                       hangup_cause=16, billable_seconds=38.5 + n, cost=None),
    ]
    if n % 3 == 0:
        legs.append(AgentLegRecord(workstation=WorkstationMode.MOBILE, endpoint="PJSIP/+336@t",
                                   channel_id=f"{call.call_id}-a1", dialed_at=at + 20.0,
                                   ended_at=at + 45.0, end_reason="no_answer", hangup_cause=19,
                                   cost=0.0))
    legs.append(AgentLegRecord(workstation=WorkstationMode.MOBILE, endpoint="PJSIP/+336@t",
                               channel_id=f"{call.call_id}-a{len(legs)}", dialed_at=at + 30.0,
                               answered_at=at + 36.125, joined_at=at + 40.0 + n,
                               ended_at=at + 100.0, end_reason="call_ended", hangup_cause=16,
                               billable_seconds=63.875, cost=round(0.02 + 0.15 * 63.875 / 60, 4)))
    return msgspec.structs.replace(call, agent_legs=tuple(legs))


def sessions(count: int = 12) -> list[AgentSessionRecord]:
    return [
        AgentSessionRecord(agent_id=f"agent-{n % 4:03d}", workstation=WorkstationMode.MOBILE,
                           endpoint="PJSIP/+33612345678@trunk",
                           started_at=1_780_000_000.0 + n * 900.125,
                           answered_at=None if n % 5 == 4 else 1_780_000_004.5 + n * 900.125,
                           ended_at=1_780_000_600.0 + n * 900.125,
                           end_reason="no_answer" if n % 5 == 4 else "agent_hung_up",
                           calls=0 if n % 5 == 4 else n, legs=1 + n % 2,
                           billable_seconds=0.0 if n % 5 == 4 else 595.5,
                           cost=None if n % 2 else round(0.02 + 0.15 * 595.5 / 60, 4))
        for n in range(count)
    ]


def records() -> list[object]:
    calls = [switched(c, n) if n % 2 else c
             for n, c in enumerate(generate_calls(40, prefix="sw"))]
    return [*calls, *sessions()]


def tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[object, ...]]]:
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY {k}").fetchall() for t, k in TABLES.items()}


def lines_of(items: list[object]) -> list[bytes]:
    return [_encoder.encode(entry_for(r)) for r in items]  # type: ignore[arg-type]


def test_typed_and_bulk_paths_store_the_same_agent_legs_and_sessions(tmp_path: Path) -> None:
    typed, bulk = CallStore(tmp_path / "typed.duckdb"), CallStore(tmp_path / "bulk.duckdb")
    batch = Batch()
    for record in records():
        batch.add(record)
    assert typed.write(batch) == 40 + 12
    assert bulk.write_json(lines_of(records())) == 40 + 12
    expected, got = tables(typed.con), tables(bulk.con)
    for table in TABLES:
        assert got[table] == expected[table], table
    # 20 switched calls: 7 with three legs (n % 3 == 0 among the odd n), 13 with two
    assert len(expected["call_agent_legs"]) == 7 * 3 + 13 * 2
    assert len(expected["agent_leg_sessions"]) == 12
    legs = typed.con.execute(
        "SELECT leg_index, workstation, end_reason, joined_at IS NULL, cost FROM call_agent_legs "
        "WHERE call_id = 'sw-0000003' ORDER BY leg_index").fetchall()
    assert legs == [(0, "softphone", "switched_away", False, None),
                    (1, "mobile", "no_answer", True, 0.0),
                    (2, "mobile", "call_ended", False, round(0.02 + 0.15 * 63.875 / 60, 4))]
    typed.close()
    bulk.close()


def test_a_redelivered_batch_changes_nothing() -> None:
    con = duckdb.connect()
    create_schema(con)
    from analytics.bulk import upsert_json_lines

    lines = lines_of(records())
    upsert_json_lines(con, lines)
    before = tables(con)
    upsert_json_lines(con, lines)  # the whole batch again (its ack was lost)
    upsert_json_lines(con, lines[5:25] + lines[-3:])  # part of it, mixed
    assert tables(con) == before


def test_the_typed_path_rewrites_the_same_rows_on_replay(tmp_path: Path) -> None:
    store = CallStore(tmp_path / "replay.duckdb")
    for _ in range(2):
        batch = Batch()
        for record in records():
            batch.add(record)
        store.write(batch)
    assert store.count("call_agent_legs") == 47
    assert store.count("agent_leg_sessions") == 12
    store.close()


def test_last_session_entry_wins_within_a_batch() -> None:
    con = duckdb.connect()
    create_schema(con)
    from analytics.bulk import upsert_json_lines

    first = sessions(1)[0]
    later = msgspec.structs.replace(first, end_reason="closed", calls=9)
    upsert_json_lines(con, lines_of([first, later]))
    assert con.execute("SELECT count(*), any_value(end_reason), any_value(calls) "
                       "FROM agent_leg_sessions").fetchall() == [(1, "closed", 9)]


def test_a_session_record_goes_through_the_journal_entry() -> None:
    session = sessions(1)[0]
    line = _encoder.encode(entry_for(session))
    assert b'"agent_leg_session"' in line
    assert msgspec.json.decode(line, type=JournalEntry).record == session
    assert record_key(session) == f"agent_leg_session:agent-000@{session.started_at}"
    # a line written before the field existed still decodes
    old = b'{"disposition":{"call_id":"c1","agent_id":"a1","code":"sale"}}'
    assert msgspec.json.decode(old, type=JournalEntry).record.call_id == "c1"  # type: ignore[union-attr]


def test_a_version_3_store_gets_the_new_tables(tmp_path: Path) -> None:
    path = tmp_path / "v3.duckdb"
    con = duckdb.connect(str(path))
    create_schema(con)
    con.execute("DROP TABLE call_agent_legs")
    con.execute("DROP TABLE agent_leg_sessions")
    con.execute("UPDATE schema_info SET value = '3' WHERE key = 'version'")
    con.close()
    store = CallStore(path)
    assert store.count("call_agent_legs") == 0
    assert store.count("agent_leg_sessions") == 0
    assert store.con.execute("SELECT value FROM schema_info WHERE key = 'version'").fetchall() == [
        ("4",)]
    store.close()


def test_the_in_process_writer_stores_what_it_is_told(start_writer, db_path: str) -> None:  # type: ignore[no-untyped-def]
    from analytics_helpers import WAIT_S, count_rows

    ref, _box = start_writer(batch_size=1000, flush_interval_s=60.0)
    for record in records():
        ref.tell(record)
    ref.stop(timeout=WAIT_S)  # flushed on stop
    assert count_rows(db_path, "agent_leg_sessions") == 12
    assert count_rows(db_path, "call_agent_legs") == 47
