"""The call metrics fed by the records the analytics process writes (evscallpro_calls_total,
the setup and talk histograms), as Stack's in-process sink feeds them.

The writer stores a batch's payloads as JSON without decoding them (bus.records); here only
the few fields the metrics read are decoded from the call entries (msgspec skips the rest), after
the batch is committed and acknowledged. A record delivered twice (a writer restarted before
its ack) counts twice in this process's counters: Prometheus' rate() over a restart is
approximate anyway; DuckDB holds the exact figures.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import msgspec

from analytics import metrics

log = logging.getLogger(__name__)


class _Leg(msgspec.Struct, frozen=True):
    answered_at: float | None = None
    billable_seconds: float | None = None


class _Call(msgspec.Struct, frozen=True):
    outcome: str = "unknown"
    workstation: str = "unknown"
    started_at: float | None = None
    connected_at: float | None = None
    agent_leg: _Leg | None = None
    customer_leg: _Leg | None = None


class _Entry(msgspec.Struct, frozen=True):
    call: _Call | None = None


_decoder = msgspec.json.Decoder(_Entry)


def count_records(payloads: Iterable[bytes]) -> int:
    """Count the call records among `payloads` (JSON JournalEntry); returns how many."""
    counted = 0
    for payload in payloads:
        try:
            call = _decoder.decode(payload).call
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue  # the writer kept it aside and logged it already
        if call is not None:
            metrics.record_call_ended(call)
            counted += 1
    return counted
