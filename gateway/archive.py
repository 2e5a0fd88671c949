"""The call archive (analytics' DuckDB reader) as the gateway sees it: today's calls of an
agent for the history panel, and recorded calls for the supervisors' recordings page.

`analytics.reader.AnalyticsReader` fits `CallArchive` as it is; the gateway does not import
analytics. Queries are blocking (milliseconds): the server runs them in a worker thread.
Archive rows become `CallView`s so the desktop words them like live calls.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from core.call_outcomes import final_step_for
from core.domain import CallOutcome, Party
from core.views import CallView


class ArchiveUnavailable(RuntimeError):
    """The archive cannot answer now (the analytics process is missing, late or failing:
    bus.remote_archive raises it): pages say the statistics are unavailable, not a 500."""


class CallArchive(Protocol):
    def calls_for_agent(
        self, agent_id: str, day: dt.date, limit: int = 500, tz: str | None = None
    ) -> Sequence[Any]: ...

    def recordings(
        self,
        *,
        agent_id: str | None = None,
        start: dt.datetime | dt.date | None = None,
        end: dt.datetime | dt.date | None = None,
        outcome: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> Sequence[Any]: ...


def epoch(value: dt.datetime) -> float:
    """Archive timestamps are naive UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def _enum(kind: type[Any], value: Any) -> Any:
    try:
        return kind(value) if value is not None else None
    except ValueError:
        return None


def history_view(agent_id: str, item: Any) -> CallView:
    """One archived call (analytics CallHistoryItem) as an ended CallView."""
    outcome = _enum(CallOutcome, item.outcome) or CallOutcome.INTERNAL_ERROR
    ended_at = epoch(item.ended_at)
    talk = float(item.talk_seconds or 0.0)
    return CallView(
        call_id=item.call_id,
        agent_id=agent_id,
        step=final_step_for(outcome),
        customer_number=item.customer_number,
        contact_id=item.contact_id,
        outcome=outcome,
        reason=item.reason or "",
        step_since=ended_at,
        connected_at=ended_at - talk if talk > 0 else None,
        ended_at=ended_at,
        recording_name=item.recording_name,
        ended_by=_enum(Party, item.hung_up_first),
    )


def merge_history(archived: list[CallView], live: list[CallView]) -> list[CallView]:
    """Archive rows plus the calls that ended since (not yet written), newest first."""
    by_id = {c.call_id: c for c in archived}
    by_id.update({c.call_id: c for c in live})
    return sorted(by_id.values(), key=lambda c: c.ended_at or c.step_since, reverse=True)
