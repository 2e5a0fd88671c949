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

    snapshots: list[str] = []

    def owned_now() -> dict[str, Any]:
        # What other threads do while the last snapshot is taken: "ending" finishes (its
        # actor journals the end, then leaves the live calls), "new" starts (journaled by
        # its actor, in the live calls only once the snapshot was taken).
        snapshots.append("taken")
        if len(snapshots) == 1:
            return {"ending": object()}
        journal.ended("ending", 3.0)
        journal.started(request("new"), 3.0)
        return {}

    report = await reconciler(journal, sink, owned_now).run(1)
    assert report.closed_while_away == ("away",)
    assert [r.call_id for r in sink.records] == ["away"]
    assert set(journal.live_calls()) == {"new"}


class OneCallUp:
    """GET /channels lists the two legs of call c1 (ours, by their Stasis app data); c1's
    actor ends it right after (its legs are being destroyed)."""

    def __init__(self) -> None:
        self.listed = False

    async def request(self, req: Any) -> tuple[int, Any, str]:
        if req.path == "/channels":
            self.listed = True
            legs = [
                {
                    "id": f"c1-{role}",
                    "name": "PJSIP/x-00000001",
                    "state": "Up",
                    "dialplan": {"app_name": "Stasis", "app_data": f"evscallpro,{role},c1"},
                }
                for role in ("agent", "customer")
            ]
            return 200, legs, ""
        if req.path == "/bridges":
            return 200, [], "[]"
        return 404, {"message": "Channel not found"}, ""


async def test_a_call_that_ends_during_the_listing_is_not_adopted(tmp_path: Path) -> None:
    asterisk = OneCallUp()
    adopted: list[str] = []
    rec = Reconciler(
        asterisk,  # type: ignore[arg-type]
        "evscallpro",
        CallSettings(),
        lambda: {} if asterisk.listed else {"c1": object()},
        adopt=lambda machine, req, ids: adopted.append(req.call_id),
        sink=MemoryRecordSink(),
        journal=None,
    )
    report = await rec.run(1)
    assert adopted == [] and report.adopted == ()
    assert report.error == ""


class FlakyAsterisk:
    """GET /channels answers 500 twice, then lists nothing."""

    def __init__(self) -> None:
        self.channel_listings = 0

    async def request(self, req: Any) -> tuple[int, Any, str]:
        if req.path == "/channels":
            self.channel_listings += 1
            if self.channel_listings <= 2:
                return 500, {"message": "Internal Server Error"}, ""
        return 200, [], "[]"


async def test_a_failed_listing_is_asked_for_again(tmp_path: Path) -> None:
    """No event is replayed after a reconnect: without a listing, a call whose leg vanished
    during the gap would never end. A failed listing is retried."""
    told: list[Any] = []

    class Call:
        def tell(self, message: Any) -> None:
            told.append(message)

    asterisk = FlakyAsterisk()
    reports: list[Any] = []
    rec = Reconciler(
        asterisk,  # type: ignore[arg-type]
        "evscallpro",
        CallSettings(),
        lambda: {"c1": Call()},
        adopt=lambda *a: None,
        sink=MemoryRecordSink(),
        journal=None,
        on_report=reports.append,
        listing_retries_s=(0.01, 0.01, 0.01),
    )
    report = await rec.run(2)
    assert asterisk.channel_listings == 3
    assert report.error == "" and report.told_actors == 1
    assert [type(m).__name__ for m in told] == ["ChannelsListed"]
    # every attempt is reported (a starting core waits for the first one only)
    assert [r.error for r in reports] == ["listing failed", "listing failed", ""]
    assert reports[-1] == report


async def test_a_listing_that_keeps_failing_is_reported_after_the_retries() -> None:
    class Down:
        async def request(self, req: Any) -> tuple[int, Any, str]:
            return 0, None, "ClientConnectorError"

    rec = Reconciler(
        Down(),  # type: ignore[arg-type]
        "evscallpro",
        CallSettings(),
        dict,
        adopt=lambda *a: None,
        sink=MemoryRecordSink(),
        journal=None,
        listing_retries_s=(0.01, 0.01),
    )
    report = await rec.run(1)
    assert report.error == "listing failed"
