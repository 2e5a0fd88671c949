"""Reconciler against a fake ARI: the journal's calls that this process starts or ends while
the reconciliation runs get no second ("ended while away") record."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from actors.call_journal import CallJournal
from actors.recovery import Reconciler
from actors.sinks import MemoryRecordSink
from core.call_config import CallRequest, CallSettings


class EmptyAsterisk:
    """GET /channels and /bridges: nothing is up."""

    async def request(self, req: Any) -> tuple[int, Any, str]:
        return 200, [], "[]"


def request(call_id: str) -> CallRequest:
    return CallRequest(
        call_id=call_id,
        agent_id="a1",
        agent_endpoint="Local/answer@sim-phones",
        customer_number="+33600000001",
        customer_endpoint="Local/answer@sim-phones",
        requested_at=time.time(),
    )


def reconciler(journal: CallJournal, sink: MemoryRecordSink, owned: Any) -> Reconciler:
    return Reconciler(
        EmptyAsterisk(),  # type: ignore[arg-type]
        "evscallpro",
        CallSettings(),
        owned,
        adopt=lambda *a: None,
        sink=sink,
        journal=journal,
    )


async def test_calls_starting_or_ending_during_reconcile_get_no_lost_record(
    tmp_path: Path,
) -> None:
    journal = CallJournal(tmp_path / "live.jsonl")
    journal.started(request("away"), 1.0)  # a call of a previous run: really lost
    journal.started(request("ending"), 2.0)  # ours, ends during the reconciliation
    sink = MemoryRecordSink()

    def owned_now() -> dict[str, Any]:
        # What other threads do while the snapshot is taken: "ending" finishes (its actor
        # journals the end, then leaves the live calls), "new" starts (journaled by its
        # actor, in the live calls only once the snapshot was taken).
        journal.ended("ending", 3.0)
        journal.started(request("new"), 3.0)
        return {}

    report = await reconciler(journal, sink, owned_now).run(1)
    assert report.closed_while_away == ("away",)
    assert [r.call_id for r in sink.records] == ["away"]
    assert set(journal.live_calls()) == {"new"}
