"""The DuckDB tables of the call-record store, and the column order the writer appends in.

All timestamps are UTC, stored as naive TIMESTAMP (microseconds); "day" in statistics is a UTC
day. Every table has a primary key so the writer can upsert: replaying the journal after a
crash rewrites the same rows instead of duplicating them.

    calls                   one row per call, whatever its outcome (core.records.CallRecord)
    call_legs               the agent leg and the customer leg of each call (LegRecord)
    dispositions            the agent's qualification, decided in wrap-up (records.Disposition)
    agent_state_intervals   closed [started_at, ended_at) intervals of one agent in one state
    call_agent_legs         every agent leg of a call switched mid-call (AgentLegRecord),
                            keyed by call id + leg index (0 = the first leg)
    agent_leg_sessions      one persistent agent-leg session (AgentSessionRecord), keyed by
                            agent id + started_at
"""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 4
# 2: calls.agent_confirming_at, agent_billable_seconds, agent_hangup_cause
# 3: agent_state_intervals.call_connected
# 4: tables call_agent_legs and agent_leg_sessions (new tables: nothing to backfill, the
#    records written before were not stored)

CALL_COLUMNS: Final = (
    "call_id",
    "agent_id",
    "contact_id",
    "customer_number",
    "workstation",
    "outcome",
    "reason",
    "hung_up_first",
    "recording_name",
    "started_at",
    "agent_dialing_at",
    "agent_answered_at",
    "announcing_at",
    "customer_dialing_at",
    "connected_at",
    "ended_at",
    "setup_seconds",
    "talk_seconds",
    "recovered",
    "steps",
    # version 2, appended (ALTER TABLE adds at the end): what the statistics page reads per
    # call without scanning `steps` or joining `call_legs` (analytics/dashboard.py)
    "agent_confirming_at",
    "agent_billable_seconds",
    "agent_hangup_cause",
)

LEG_COLUMNS: Final = (
    "call_id",
    "role",
    "endpoint",
    "channel_id",
    "dialed_at",
    "ringing_at",
    "answered_at",
    "ended_at",
    "hangup_cause",
    "hangup_cause_text",
    "tech_cause",
    "dial_status",
    "billable_seconds",
)

DISPOSITION_COLUMNS: Final = (
    "call_id",
    "agent_id",
    "code",
    "comment",
    "callback_at",
    "submitted_at",
)

INTERVAL_COLUMNS: Final = (
    "agent_id",
    "state",
    "started_at",
    "ended_at",
    "seconds",
    "pause_reason",
    "workstation",
    "call_id",
    "call_connected",  # version 3, appended: wrap-up of a connected call
)

AGENT_LEG_COLUMNS: Final = (
    "call_id",
    "leg_index",
    "workstation",
    "endpoint",
    "channel_id",
    "dialed_at",
    "answered_at",
    "joined_at",
    "ended_at",
    "end_reason",
    "hangup_cause",
    "billable_seconds",
    "cost",
)

AGENT_SESSION_COLUMNS: Final = (
    "agent_id",
    "started_at",
    "workstation",
    "endpoint",
    "answered_at",
    "ended_at",
    "end_reason",
    "calls",
    "legs",
    "billable_seconds",
    "cost",
)

DDL: Final = (
    """
    CREATE TABLE IF NOT EXISTS schema_info (
        key VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS calls (
        call_id VARCHAR PRIMARY KEY,
        agent_id VARCHAR NOT NULL,
        contact_id VARCHAR,
        customer_number VARCHAR NOT NULL,
        workstation VARCHAR NOT NULL,
        outcome VARCHAR NOT NULL,
        reason VARCHAR NOT NULL DEFAULT '',
        hung_up_first VARCHAR,
        recording_name VARCHAR,
        started_at TIMESTAMP NOT NULL,
        agent_dialing_at TIMESTAMP,
        agent_answered_at TIMESTAMP,
        announcing_at TIMESTAMP,
        customer_dialing_at TIMESTAMP,
        connected_at TIMESTAMP,
        ended_at TIMESTAMP NOT NULL,
        setup_seconds DOUBLE,      -- request -> connected, NULL when never connected
        talk_seconds DOUBLE NOT NULL DEFAULT 0,  -- customer leg billable seconds
        recovered BOOLEAN NOT NULL DEFAULT false,
        steps VARCHAR NOT NULL DEFAULT '[]',     -- JSON [[step, epoch seconds], ...]
        agent_confirming_at TIMESTAMP,           -- the agent was asked to press 1
        agent_billable_seconds DOUBLE,           -- the agent leg's billable seconds
        agent_hangup_cause INTEGER               -- the agent leg's Q.850 cause
    )
    """,
    # a version-1 store gets the version-2 columns (at the end, where the writer appends them)
    "ALTER TABLE calls ADD COLUMN IF NOT EXISTS agent_confirming_at TIMESTAMP",
    "ALTER TABLE calls ADD COLUMN IF NOT EXISTS agent_billable_seconds DOUBLE",
    "ALTER TABLE calls ADD COLUMN IF NOT EXISTS agent_hangup_cause INTEGER",
    """
    CREATE TABLE IF NOT EXISTS call_legs (
        call_id VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        endpoint VARCHAR NOT NULL,
        channel_id VARCHAR NOT NULL,
        dialed_at TIMESTAMP,
        ringing_at TIMESTAMP,
        answered_at TIMESTAMP,
        ended_at TIMESTAMP,
        hangup_cause INTEGER NOT NULL DEFAULT 0,
        hangup_cause_text VARCHAR NOT NULL DEFAULT '',
        tech_cause INTEGER,
        dial_status VARCHAR NOT NULL DEFAULT '',
        billable_seconds DOUBLE NOT NULL DEFAULT 0,
        PRIMARY KEY (call_id, role)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS dispositions (
        call_id VARCHAR PRIMARY KEY,
        agent_id VARCHAR NOT NULL,
        code VARCHAR NOT NULL,
        comment VARCHAR NOT NULL DEFAULT '',
        callback_at VARCHAR,
        submitted_at TIMESTAMP
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS agent_state_intervals (
        agent_id VARCHAR NOT NULL,
        state VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL,
        ended_at TIMESTAMP NOT NULL,
        seconds DOUBLE NOT NULL,
        pause_reason VARCHAR,
        workstation VARCHAR,
        call_id VARCHAR,
        call_connected BOOLEAN,  -- wrap-up only: the call it follows was connected
        PRIMARY KEY (agent_id, started_at)
    )
    """,
    "ALTER TABLE agent_state_intervals ADD COLUMN IF NOT EXISTS call_connected BOOLEAN",
    # version 4
    """
    CREATE TABLE IF NOT EXISTS call_agent_legs (
        call_id VARCHAR NOT NULL,
        leg_index INTEGER NOT NULL,      -- order dialed: 0 the first leg, then one per switch
        workstation VARCHAR NOT NULL,
        endpoint VARCHAR NOT NULL,
        channel_id VARCHAR NOT NULL,
        dialed_at TIMESTAMP,
        answered_at TIMESTAMP,
        joined_at TIMESTAMP,             -- entered the call's bridge, NULL when never
        ended_at TIMESTAMP,
        end_reason VARCHAR NOT NULL DEFAULT '',  -- call_ended, switched_away, no_answer...
        hangup_cause INTEGER NOT NULL DEFAULT 0,
        billable_seconds DOUBLE NOT NULL DEFAULT 0,
        cost DOUBLE,                     -- [costs]; NULL when not configured
        PRIMARY KEY (call_id, leg_index)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS agent_leg_sessions (
        agent_id VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL,
        workstation VARCHAR NOT NULL,
        endpoint VARCHAR NOT NULL,
        answered_at TIMESTAMP,           -- the first leg answered
        ended_at TIMESTAMP NOT NULL,
        end_reason VARCHAR NOT NULL DEFAULT '',  -- agent_hung_up, closed, no_answer...
        calls INTEGER NOT NULL DEFAULT 0,        -- customers bridged onto the session
        legs INTEGER NOT NULL DEFAULT 0,         -- legs dialed (1 + recalls)
        billable_seconds DOUBLE NOT NULL DEFAULT 0,
        cost DOUBLE,                     -- [costs]; NULL when not configured
        PRIMARY KEY (agent_id, started_at)
    )
    """,
    # The view statistics and exports read: one row per call with its disposition.
    """
    CREATE OR REPLACE VIEW call_report AS
    SELECT c.*, d.code AS disposition, d.comment AS disposition_comment,
           d.callback_at AS callback_at
    FROM calls c LEFT JOIN dispositions d USING (call_id)
    """,
)

# Run once when a version-1 store is opened: fill the version-2 columns from `steps` and the
# agent leg, so the rows written before the upgrade count in the statistics page too.
BACKFILL_V2: Final = (
    """
    UPDATE calls SET agent_confirming_at = make_timestamp(CAST(CAST(regexp_extract(
        steps, '"agent_confirming",([0-9.eE+-]+)', 1) AS DOUBLE) * 1e6 AS BIGINT))
    WHERE agent_confirming_at IS NULL AND contains(steps, '"agent_confirming"')
    """,
    """
    UPDATE calls SET agent_billable_seconds = l.billable_seconds,
                     agent_hangup_cause = l.hangup_cause
    FROM call_legs l
    WHERE l.call_id = calls.call_id AND l.role = 'agent' AND calls.agent_billable_seconds IS NULL
    """,
)

# Run once when a store older than version 3 is opened.
BACKFILL_V3: Final = (
    """
    UPDATE agent_state_intervals SET call_connected = (c.connected_at IS NOT NULL)
    FROM calls c
    WHERE c.call_id = agent_state_intervals.call_id
      AND agent_state_intervals.state = 'wrap_up'
      AND agent_state_intervals.call_connected IS NULL
    """,
)
