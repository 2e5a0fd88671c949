"""RemoteArchive (the gateway's CallArchive + StatsSource over evs.archive) against a fake
analytics responder on a real nats-server: results, the reader's own errors raised again,
exports, and ArchiveUnavailable when no analytics process answers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_node import WAIT_S
from nats.aio.msg import Msg

from analytics.dashboard import StatsFilter
from analytics.stats import CallHistoryItem, StatsError
from analytics.stats_export import ExportTooLarge
from bus import archive_protocol as proto
from bus.bus_thread import BusThread
from bus.remote_archive import RemoteArchive
from bus.server import NatsServer
from evscallpro.settings_file import BusSettings
from gateway.archive import ArchiveUnavailable

DAY = dt.date(2026, 12, 3)
ITEM = CallHistoryItem(
    call_id="c1", started_at=dt.datetime(2026, 12, 3, 9), ended_at=dt.datetime(2026, 12, 3, 9, 2),
    customer_number="+33611111111", contact_id=None, outcome="completed", reason="",
    talk_seconds=95.0, hung_up_first="customer", disposition="sale", recording_name=None,
)
FILTER = StatsFilter(start=dt.datetime(2026, 12, 1), end=dt.datetime(2026, 12, 2))


class FakeAnalytics:
    def __init__(self, url: str) -> None:
        self.bus = BusThread(BusSettings(url=url), "fake analytics")
        self.queries: list[proto.ArchiveQuery] = []
        self.silent = False

    def start(self) -> FakeAnalytics:
        self.bus.start()

        async def subscribe() -> None:
            await self.bus.nc.subscribe(proto.ARCHIVE_SUBJECT, queue=proto.ARCHIVE_QUEUE,
                                        cb=self._on_query)
            await self.bus.nc.flush()

        self.bus.run(subscribe(), WAIT_S)
        return self

    async def _on_query(self, msg: Msg) -> None:
        query = proto.decode_query(msg.data)
        self.queries.append(query)
        if self.silent:
            return
        match query:
            case proto.CallsForAgent():
                reply = proto.answer([ITEM])
            case proto.DashboardQuery():
                reply = proto.failure(StatsError("the period ends before it starts"))
            case proto.ExportCalls(max_rows=limit) if limit is not None and limit < 5:
                reply = proto.failure(ExportTooLarge(5, limit))
            case proto.ExportCalls():
                reply = proto.answer(proto.ExportResult(rows=5, size=8, data=b"call_id\n"))
            case _:
                reply = proto.failure(RuntimeError("DuckDB is gone"))
        await msg.respond(reply)


@pytest.fixture
def archive(nats_server: NatsServer) -> Iterator[RemoteArchive]:
    bus = BusThread(BusSettings(url=nats_server.url), "gateway").start()
    try:
        yield RemoteArchive(bus, query_timeout_s=1.0, export_timeout_s=1.0)
    finally:
        bus.stop()


@pytest.fixture
def analytics(nats_server: NatsServer) -> Iterator[FakeAnalytics]:
    fake = FakeAnalytics(nats_server.url).start()
    try:
        yield fake
    finally:
        fake.bus.stop()


def test_results_and_the_readers_errors_come_back_as_in_process(
    archive: RemoteArchive, analytics: FakeAnalytics, tmp_path: Path
) -> None:
    assert list(archive.calls_for_agent("alice", DAY, 50, "Europe/Paris")) == [ITEM]
    assert analytics.queries[0] == proto.CallsForAgent(
        agent_id="alice", day=DAY, limit=50, tz="Europe/Paris")
    with pytest.raises(StatsError, match="ends before it starts"):
        archive.dashboard(FILTER)
    out = tmp_path / "calls.csv"
    assert archive.export_calls(out, "csv", FILTER, max_rows=100) == 5
    assert out.read_bytes() == b"call_id\n"
    with pytest.raises(ExportTooLarge) as too_large:
        archive.export_calls(out, "csv", FILTER, max_rows=2)
    assert (too_large.value.rows, too_large.value.limit) == (5, 2)
    with pytest.raises(ArchiveUnavailable, match="DuckDB is gone"):
        archive.recordings(agent_id="alice")


def test_no_analytics_process_or_a_silent_one_is_archive_unavailable(
    archive: RemoteArchive, nats_server: NatsServer
) -> None:
    with pytest.raises(ArchiveUnavailable, match="no analytics process"):
        archive.calls_for_agent("alice", DAY)
    silent = FakeAnalytics(nats_server.url).start()
    silent.silent = True
    try:
        with pytest.raises(ArchiveUnavailable, match="did not answer"):
            archive.dashboard(FILTER)
        assert len(silent.queries) == 1
    finally:
        silent.bus.stop()
