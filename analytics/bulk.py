"""Bulk upsert of records that arrive already encoded as JSON (`JournalEntry` lines).

The bus carries each record as the JSON of an `analytics.journal.JournalEntry`; decoding
tens of thousands of them into Python objects and then into row tuples costs more than
DuckDB needs to store them. Here the lines go to DuckDB as they are: one newline-delimited
file per batch, parsed by DuckDB's JSON reader into a staging table, then turned into the
rows of `calls`, `call_legs`, `call_agent_legs`, `dispositions`, `agent_state_intervals`
and `agent_leg_sessions` in SQL — the same
columns `analytics.rows` builds one record at a time (tests/analytics/test_analytics_bulk.py
holds the two paths to the same table contents) — all in one transaction.

A batch that DuckDB cannot parse raises; the caller then stores its lines one at a time
through the typed path to find and keep aside the bad one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import duckdb

BULK_CHECKPOINT_THRESHOLD = "1GB"  # CallStore.write_json: checkpoint rarely (BENCHMARKS.md)

_LEG = (
    'STRUCT("role" VARCHAR, endpoint VARCHAR, channel_id VARCHAR, dialed_at DOUBLE, '
    "ringing_at DOUBLE, answered_at DOUBLE, ended_at DOUBLE, hangup_cause INTEGER, "
    "hangup_cause_text VARCHAR, tech_cause INTEGER, dial_status VARCHAR, "
    "billable_seconds DOUBLE)"
)
_DISPOSITION = (
    "STRUCT(call_id VARCHAR, agent_id VARCHAR, code VARCHAR, comment VARCHAR, "
    "callback_at VARCHAR, submitted_at DOUBLE)"
)
_AGENT_LEG = (
    "STRUCT(workstation VARCHAR, endpoint VARCHAR, channel_id VARCHAR, dialed_at DOUBLE, "
    "answered_at DOUBLE, joined_at DOUBLE, ended_at DOUBLE, end_reason VARCHAR, "
    "hangup_cause INTEGER, billable_seconds DOUBLE, cost DOUBLE)"
)
_CALL = (
    "STRUCT(call_id VARCHAR, agent_id VARCHAR, contact_id VARCHAR, customer_number VARCHAR, "
    "workstation VARCHAR, outcome VARCHAR, reason VARCHAR, hung_up_first VARCHAR, "
    "recording_name VARCHAR, started_at DOUBLE, connected_at DOUBLE, ended_at DOUBLE, "
    f'recovered BOOLEAN, steps STRUCT("step" VARCHAR, "at" DOUBLE)[], agent_leg {_LEG}, '
    f"customer_leg {_LEG}, disposition {_DISPOSITION}, agent_legs {_AGENT_LEG}[])"
)
_INTERVAL = (
    'STRUCT(agent_id VARCHAR, "state" VARCHAR, started_at DOUBLE, ended_at DOUBLE, '
    "pause_reason VARCHAR, workstation VARCHAR, call_id VARCHAR, call_connected BOOLEAN)"
)
_SESSION = (
    "STRUCT(agent_id VARCHAR, workstation VARCHAR, endpoint VARCHAR, started_at DOUBLE, "
    "answered_at DOUBLE, ended_at DOUBLE, end_reason VARCHAR, calls INTEGER, legs INTEGER, "
    "billable_seconds DOUBLE, cost DOUBLE)"
)


def _ts(expr: str) -> str:
    """Epoch seconds -> naive UTC TIMESTAMP at microsecond precision (as analytics.rows.ts)."""
    return f"make_timestamp(CAST(floor(({expr}) * 1000000 + 0.5) AS BIGINT))"


def _first_step(step: str) -> str:
    return _ts(f"list_filter(c.steps, lambda s: s.step = '{step}')[1].at")


_ENTRY_NO = "row_number() OVER () AS entry_no, "
_STAGE = f"""
CREATE OR REPLACE TEMP TABLE bulk_entries AS
SELECT {_ENTRY_NO}* FROM read_json(?, format = 'newline_delimited',
    columns = {{'call': '{_CALL}', 'disposition': '{_DISPOSITION}', 'interval': '{_INTERVAL}',
               'agent_leg_session': '{_SESSION}'}})
"""

_CALLS = f"""
INSERT OR REPLACE INTO calls
SELECT c.call_id, c.agent_id, c.contact_id, c.customer_number, c.workstation, c.outcome,
       coalesce(c.reason, ''), c.hung_up_first, c.recording_name, {_ts("c.started_at")},
       {_first_step("agent_dialing")}, {_first_step("agent_answered")},
       {_first_step("announcing")}, {_first_step("customer_dialing")},
       {_ts("c.connected_at")}, {_ts("c.ended_at")}, c.connected_at - c.started_at,
       coalesce(c.customer_leg.billable_seconds, 0.0), coalesce(c.recovered, false),
       '[' || array_to_string(list_transform(coalesce(c.steps, []),
            lambda s: '["' || s.step || '",' || CAST(s.at AS VARCHAR) || ']'), ',') || ']',
       {_first_step("agent_confirming")}, coalesce(c.agent_leg.billable_seconds, 0.0),
       coalesce(c.agent_leg.hangup_cause, 0)
FROM (SELECT entry_no, "call" AS c FROM bulk_entries WHERE "call" IS NOT NULL)
"""
_CALLS_LAST = "QUALIFY row_number() OVER (PARTITION BY c.call_id ORDER BY entry_no DESC) = 1"

_LEGS = f"""
INSERT OR REPLACE INTO call_legs
SELECT call_id, l.role, l.endpoint, l.channel_id, {_ts("l.dialed_at")}, {_ts("l.ringing_at")},
       {_ts("l.answered_at")}, {_ts("l.ended_at")}, coalesce(l.hangup_cause, 0),
       coalesce(l.hangup_cause_text, ''), l.tech_cause, coalesce(l.dial_status, ''),
       coalesce(l.billable_seconds, 0.0)
FROM (SELECT entry_no, "call".call_id AS call_id,
             unnest(["call".agent_leg, "call".customer_leg]) AS l
      FROM bulk_entries WHERE "call" IS NOT NULL)
WHERE l IS NOT NULL
"""
_LEGS_LAST = "QUALIFY row_number() OVER (PARTITION BY call_id, l.role ORDER BY entry_no DESC) = 1"

# A call's agent legs (only a switched call has any): leg_index is the position in the list.
_AGENT_LEGS = f"""
INSERT OR REPLACE INTO call_agent_legs
SELECT call_id, leg_index, l.workstation, l.endpoint, l.channel_id, {_ts("l.dialed_at")},
       {_ts("l.answered_at")}, {_ts("l.joined_at")}, {_ts("l.ended_at")},
       coalesce(l.end_reason, ''), coalesce(l.hangup_cause, 0),
       coalesce(l.billable_seconds, 0.0), l.cost
FROM (SELECT entry_no, "call".call_id AS call_id,
             unnest(range(len("call".agent_legs))) AS leg_index,
             unnest("call".agent_legs) AS l
      FROM bulk_entries WHERE len("call".agent_legs) > 0)
"""
_AGENT_LEGS_LAST = (
    "QUALIFY row_number() OVER (PARTITION BY call_id, leg_index ORDER BY entry_no DESC) = 1"
)

_SESSIONS = f"""
INSERT OR REPLACE INTO agent_leg_sessions
SELECT s.agent_id, {_ts("s.started_at")}, s.workstation, s.endpoint, {_ts("s.answered_at")},
       {_ts("s.ended_at")}, coalesce(s.end_reason, ''), coalesce(s.calls, 0),
       coalesce(s.legs, 0), coalesce(s.billable_seconds, 0.0), s.cost
FROM (SELECT entry_no, agent_leg_session AS s FROM bulk_entries
      WHERE agent_leg_session IS NOT NULL)
"""
_SESSIONS_LAST = (
    f"QUALIFY row_number() OVER (PARTITION BY s.agent_id, {_ts('s.started_at')} "
    "ORDER BY entry_no DESC) = 1"
)

_DISPOSITIONS = f"""
INSERT OR REPLACE INTO dispositions
SELECT d.call_id, d.agent_id, d.code, coalesce(d.comment, ''), d.callback_at,
       CASE WHEN d.submitted_at > 0 THEN {_ts("d.submitted_at")} END
FROM (SELECT entry_no, coalesce(disposition, "call".disposition) AS d FROM bulk_entries)
WHERE d IS NOT NULL
"""
_DISPOSITIONS_LAST = "QUALIFY row_number() OVER (PARTITION BY d.call_id ORDER BY entry_no DESC) = 1"

_INTERVALS = f"""
INSERT OR REPLACE INTO agent_state_intervals
SELECT i.agent_id, i.state, {_ts("i.started_at")}, {_ts("i.ended_at")},
       greatest(0.0, i.ended_at - i.started_at), i.pause_reason, i.workstation, i.call_id,
       i.call_connected
FROM (SELECT entry_no, "interval" AS i FROM bulk_entries WHERE "interval" IS NOT NULL)
"""
_INTERVALS_LAST = (
    f"QUALIFY row_number() OVER (PARTITION BY i.agent_id, {_ts('i.started_at')} "
    "ORDER BY entry_no DESC) = 1"
)

# Which tables would get one key twice from this batch (a record repeated, a disposition both
# alone and inside its call, two legs of one role): only those pay for the "last entry wins"
# window; an upsert may not touch one key twice in one statement.
_REPEATS = f"""
SELECT count(DISTINCT "call".call_id) < count("call".call_id),
       count(*) FILTER ("call".agent_leg.role = "call".customer_leg.role) > 0,
       count(DISTINCT coalesce(disposition, "call".disposition).call_id)
           < count(coalesce(disposition, "call".disposition)),
       count(DISTINCT ("interval".agent_id, {_ts('"interval".started_at')})) < count("interval"),
       count(DISTINCT (agent_leg_session.agent_id, {_ts("agent_leg_session.started_at")}))
           < count(agent_leg_session)
FROM bulk_entries
"""


def _new_keys(statement: str) -> str:
    """The same rows by a plain INSERT (no conflict check against the stored keys), from
    entries left unnumbered."""
    return statement.replace("INSERT OR REPLACE INTO", "INSERT INTO", 1).replace(
        "SELECT entry_no, ", "SELECT ", 1
    )


_STAGE_NEW = _STAGE.replace(_ENTRY_NO, "", 1)
_INSERTS_NEW = tuple(
    _new_keys(s)
    for s in (_CALLS, _LEGS, _AGENT_LEGS, _DISPOSITIONS, _INTERVALS, _SESSIONS)
)


def upsert_json_lines(
    con: duckdb.DuckDBPyConnection,
    lines: Sequence[bytes],
    spool_dir: Path | None = None,
) -> int:
    """Upsert every record of `lines` (JSON `JournalEntry`s) in one transaction.

    The usual batch brings keys the store has never seen, once each: it is tried first as
    plain INSERTs (about 7 us a record less than INSERT OR REPLACE's conflict handling,
    BENCHMARKS.md). A key already stored (a batch redelivered after a commit whose ack was
    lost) or repeated in the batch makes that transaction fail on the primary key: it is
    rolled back and the batch is upserted again, last entry winning per key.

    """
    if not lines:
        return 0
    fd, name = tempfile.mkstemp(prefix="evs-batch-", suffix=".jsonl", dir=spool_dir)
    try:
        with os.fdopen(fd, "wb") as spool:
            spool.write(b"\n".join(lines))
        try:
            _transaction(con, name, upsert=False)
        except duckdb.ConstraintException:
            _transaction(con, name, upsert=True)
    finally:
        os.unlink(name)
    return len(lines)


def _transaction(
    con: duckdb.DuckDBPyConnection,
    spool: str,
    *,
    upsert: bool,
) -> None:
    con.begin()
    try:
        # Only the upsert's "last entry wins" needs the entries numbered (about 1.5 us each).
        con.execute(_STAGE if upsert else _STAGE_NEW, [spool])
        if upsert:
            calls, legs, dispositions, intervals, sessions = con.execute(_REPEATS).fetchall()[0]
            for statement, last, repeats in (
                (_CALLS, _CALLS_LAST, calls),
                (_LEGS, _LEGS_LAST, calls or legs),
                (_AGENT_LEGS, _AGENT_LEGS_LAST, calls),  # keyed by call id + position
                (_DISPOSITIONS, _DISPOSITIONS_LAST, dispositions),
                (_INTERVALS, _INTERVALS_LAST, intervals),
                (_SESSIONS, _SESSIONS_LAST, sessions),
            ):
                con.execute(statement + last if repeats else statement)
        else:
            for statement in _INSERTS_NEW:
                con.execute(statement)
        con.execute("DROP TABLE bulk_entries")
        con.commit()
    except BaseException:
        con.rollback()
        raise
