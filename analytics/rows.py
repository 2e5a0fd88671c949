"""Records -> row tuples in the column order of analytics.schema (what the Appender takes).

Pure and cheap: one tuple per row, epoch floats turned into naive UTC datetimes. A record that
cannot be turned into a row (wrong type, missing field) raises `RowError` with the reason; the
writer refuses it at the door instead of failing a whole batch later.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from analytics.intervals import AgentStateInterval
from core.agent_leg_session import AgentSessionRecord
from core.domain import CallStep
from core.records import CallRecord, Disposition, LegRecord

Row = tuple[Any, ...]

_EPOCH = datetime(1970, 1, 1)
_STEP_COLUMNS = (
    CallStep.AGENT_DIALING,
    CallStep.AGENT_ANSWERED,
    CallStep.ANNOUNCING,
    CallStep.CUSTOMER_DIALING,
)
_steps_encoder = msgspec.json.Encoder()


class RowError(ValueError):
    """A record that cannot be stored, with the reason."""


def ts(epoch: float | None) -> datetime | None:
    """Epoch seconds -> naive UTC datetime (microsecond precision); None stays None.

    The microseconds are floor(epoch * 1e6 + 0.5) in IEEE doubles, the same arithmetic as
    analytics.bulk's SQL, so both paths store the same instant."""
    if epoch is None:
        return None
    return _EPOCH + timedelta(microseconds=math.floor(epoch * 1_000_000 + 0.5))


def epoch(moment: datetime) -> float:
    """Inverse of `ts` (naive values are UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def call_row(record: CallRecord) -> Row:
    try:
        first_at: dict[CallStep, float] = {}
        for step_time in record.steps:
            first_at.setdefault(step_time.step, step_time.at)
        talk = record.customer_leg.billable_seconds if record.customer_leg is not None else 0.0
        setup = record.connected_at - record.started_at if record.connected_at is not None else None
        steps_json = _steps_encoder.encode([(s.step, s.at) for s in record.steps]).decode()
        return (
            record.call_id,
            record.agent_id,
            record.contact_id,
            record.customer_number,
            str(record.workstation),
            str(record.outcome),
            record.reason,
            str(record.hung_up_first) if record.hung_up_first is not None else None,
            record.recording_name,
            ts(record.started_at),
            *(ts(first_at.get(step)) for step in _STEP_COLUMNS),
            ts(record.connected_at),
            ts(record.ended_at),
            setup,
            float(talk),
            bool(record.recovered),
            steps_json,
            ts(first_at.get(CallStep.AGENT_CONFIRMING)),
            float(record.agent_leg.billable_seconds),
            int(record.agent_leg.hangup_cause),
        )
    except (AttributeError, TypeError, ValueError, OverflowError) as exc:
        raise RowError(f"call record {getattr(record, 'call_id', '?')!r}: {exc}") from exc


def leg_row(call_id: str, leg: LegRecord) -> Row:
    try:
        return (
            call_id,
            str(leg.role),
            leg.endpoint,
            leg.channel_id,
            ts(leg.dialed_at),
            ts(leg.ringing_at),
            ts(leg.answered_at),
            ts(leg.ended_at),
            int(leg.hangup_cause),
            leg.hangup_cause_text,
            leg.tech_cause,
            leg.dial_status,
            float(leg.billable_seconds),
        )
    except (AttributeError, TypeError, ValueError, OverflowError) as exc:
        raise RowError(f"leg of call {call_id!r}: {exc}") from exc


def leg_rows(record: CallRecord) -> list[Row]:
    legs = [record.agent_leg]
    if record.customer_leg is not None:
        legs.append(record.customer_leg)
    return [leg_row(record.call_id, leg) for leg in legs]


def agent_leg_rows(record: CallRecord) -> list[Row]:
    """One row per agent leg of a switched call (none for a call that never switched)."""
    try:
        return [
            (
                record.call_id,
                index,
                str(leg.workstation),
                leg.endpoint,
                leg.channel_id,
                ts(leg.dialed_at),
                ts(leg.answered_at),
                ts(leg.joined_at),
                ts(leg.ended_at),
                leg.end_reason,
                int(leg.hangup_cause),
                float(leg.billable_seconds),
                None if leg.cost is None else float(leg.cost),
            )
            for index, leg in enumerate(record.agent_legs)
        ]
    except (AttributeError, TypeError, ValueError, OverflowError) as exc:
        raise RowError(f"agent legs of call {getattr(record, 'call_id', '?')!r}: {exc}") from exc


def agent_session_row(session: AgentSessionRecord) -> Row:
    try:
        return (
            session.agent_id,
            ts(session.started_at),
            str(session.workstation),
            session.endpoint,
            ts(session.answered_at),
            ts(session.ended_at),
            session.end_reason,
            int(session.calls),
            int(session.legs),
            float(session.billable_seconds),
            None if session.cost is None else float(session.cost),
        )
    except (AttributeError, TypeError, ValueError, OverflowError) as exc:
        raise RowError(
            f"agent-leg session of agent {getattr(session, 'agent_id', '?')!r}: {exc}"
        ) from exc


def disposition_row(disposition: Disposition) -> Row:
    try:
        return (
            disposition.call_id,
            disposition.agent_id,
            disposition.code,
            disposition.comment,
            disposition.callback_at,
            ts(disposition.submitted_at) if disposition.submitted_at else None,
        )
    except (AttributeError, TypeError, ValueError, OverflowError) as exc:
        raise RowError(
            f"disposition of call {getattr(disposition, 'call_id', '?')!r}: {exc}"
        ) from exc


def interval_row(interval: AgentStateInterval) -> Row:
    try:
        return (
            interval.agent_id,
            str(interval.state),
            ts(interval.started_at),
            ts(interval.ended_at),
            interval.seconds,
            interval.pause_reason,
            interval.workstation,
            interval.call_id,
            interval.call_connected,
        )
    except (AttributeError, TypeError, ValueError, OverflowError) as exc:
        raise RowError(f"interval of agent {getattr(interval, 'agent_id', '?')!r}: {exc}") from exc
