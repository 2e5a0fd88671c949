"""The archive over the bus: queries on evs.archive answered by ArchiveService from DuckDB, as
the reader answers them in-process; errors come back as the reader's own exceptions; an export
bigger than one message travels through the exports object store bucket."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest
from nats.aio.client import Client as NATS
from support.synthetic import dispositions_for, generate_calls

from analytics.dashboard import Dashboard, StatsFilter
from analytics.reader import AnalyticsReader
from analytics.stats import StatsError
from analytics.stats_export import ExportTooLarge
from analytics.store import Batch, CallStore
from bus.archive_protocol import (
    ARCHIVE_SUBJECT,
    EXPORTS_BUCKET,
    INLINE_EXPORT_MAX,
    ArchiveQuery,
    ArchiveUnavailable,
    CallsForAgent,
    DashboardQuery,
    ExportCalls,
    ExportResult,
    decode_answer,
    encode_query,
    recordings_query,
    save_export,
)
from bus.archive_service import ArchiveService
from bus.server import NatsServer

CALLS = 12_000  # 30 s apart from 2026-05-28T20:26:40Z: about four days
WINDOW = StatsFilter(start=dt.datetime(2026, 5, 28), end=dt.datetime(2026, 6, 3))
FIRST_DAY = dt.date(2026, 5, 29)


@pytest.fixture(scope="module")
def archive_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("archive") / "evscallpro.duckdb"
    records = list(generate_calls(CALLS))
    store = CallStore(path)
    batch = Batch()
    for item in [*records, *dispositions_for(records)]:
        batch.add(item)
    store.write(batch)
    store.close()
    yield path


@pytest.fixture
def reader(archive_db: Path) -> Iterator[AnalyticsReader]:
    reader = AnalyticsReader(archive_db)
    yield reader
    reader.close()


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[NATS]:
    nc = await nats.connect(nats_server.url)
    yield nc
    await nc.close()


@pytest.fixture
async def service(bus: NATS, reader: AnalyticsReader, tmp_path: Path) -> AsyncIterator[ArchiveService]:
    service = ArchiveService(bus, bus.jetstream(), reader, spool_dir=tmp_path)
    await service.start()
    yield service
    await service.stop()


def same(a: Any, b: Any) -> bool:
    """Equal, floats within 1e-9 relative: DuckDB's parallel sums may add in another order."""
    if isinstance(a, float) and isinstance(b, float):
        return b == pytest.approx(a, rel=1e-9, abs=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


async def ask(nc: NATS, query: ArchiveQuery, timeout_s: float = 30.0) -> Any:
    reply = await nc.request(ARCHIVE_SUBJECT, encode_query(query), timeout=timeout_s)
    return decode_answer(query, reply.data)


async def test_history_recordings_and_dashboard_read_as_in_process(
    bus: NATS, service: ArchiveService, reader: AnalyticsReader
) -> None:
    history = await ask(bus, CallsForAgent(agent_id="agent-003", day=FIRST_DAY, tz="Europe/Paris"))
    assert history and history == reader.calls_for_agent("agent-003", FIRST_DAY, 500, "Europe/Paris")
    assert {type(item).__name__ for item in history} == {"CallHistoryItem"}

    query = recordings_query(agent_id="agent-004", start=FIRST_DAY, end=dt.date(2026, 5, 31),
                             outcome="completed", limit=50, offset=10)
    recordings = await ask(bus, query)
    assert len(recordings) == 50
    assert recordings == reader.recordings(agent_id="agent-004", start=FIRST_DAY,
                                           end=dt.date(2026, 5, 31), outcome="completed",
                                           limit=50, offset=10)

    board = await ask(bus, DashboardQuery(filter=WINDOW))
    assert board.calls == CALLS
    assert type(board) is Dashboard
    assert same(msgspec.to_builtins(board), msgspec.to_builtins(reader.dashboard(WINDOW)))
    assert service.answered == 3 and service.failed == 0


async def test_a_small_export_comes_inline_and_matches_the_in_process_file(
    bus: NATS, service: ArchiveService, reader: AnalyticsReader, tmp_path: Path
) -> None:
    one_agent = msgspec.structs.replace(WINDOW, agent_id="agent-007", end=dt.datetime(2026, 5, 29))
    result = await ask(bus, ExportCalls(fmt="csv", filter=one_agent))
    assert isinstance(result, ExportResult) and result.data is not None and not result.name
    out = tmp_path / "got.csv"
    rows = await save_export(bus.jetstream(), result, out)
    expected = tmp_path / "expected.csv"
    assert rows == reader.export_calls(expected, "csv", one_agent) > 0
    assert out.read_bytes() == expected.read_bytes()


async def test_a_big_export_travels_through_the_object_store_and_is_deleted_after(
    bus: NATS, service: ArchiveService, reader: AnalyticsReader, tmp_path: Path
) -> None:
    result = await ask(bus, ExportCalls(fmt="csv", filter=WINDOW, max_rows=CALLS))
    assert isinstance(result, ExportResult)
    assert result.data is None and result.bucket == EXPORTS_BUCKET
    assert result.size > INLINE_EXPORT_MAX
    out = tmp_path / "got.csv"
    assert await save_export(bus.jetstream(), result, out) == CALLS
    expected = tmp_path / "expected.csv"
    reader.export_calls(expected, "csv", WINDOW)
    assert out.read_bytes() == expected.read_bytes()
    with pytest.raises(ArchiveUnavailable, match="no longer in the bucket"):
        await save_export(bus.jetstream(), result, tmp_path / "again.csv")


async def test_errors_come_back_as_the_readers_exceptions_and_the_service_goes_on(
    bus: NATS, service: ArchiveService, reader: AnalyticsReader
) -> None:
    with pytest.raises(ExportTooLarge) as too_large:
        await ask(bus, ExportCalls(fmt="parquet", filter=WINDOW, max_rows=100))
    assert (too_large.value.rows, too_large.value.limit) == (CALLS, 100)
    with pytest.raises(StatsError, match="unknown export format"):
        await ask(bus, ExportCalls(fmt="../../etc/passwd", filter=WINDOW))
    with pytest.raises(StatsError, match="unknown time zone"):
        await ask(bus, DashboardQuery(filter=msgspec.structs.replace(WINDOW, tz="Mars/Olympus")))
    with pytest.raises(StatsError, match="limit"):
        await ask(bus, recordings_query(limit=0))
    # the whole history of an agent at the reader's ceiling is more than one NATS message
    with pytest.raises(StatsError, match="fewer rows"):
        await ask(bus, recordings_query(limit=10_000))
    not_a_query = await bus.request(ARCHIVE_SUBJECT, b'{"type": "DropTables"}', timeout=10)
    with pytest.raises(ArchiveUnavailable, match="not an archive query"):
        decode_answer(CallsForAgent(agent_id="a", day=FIRST_DAY), not_a_query.data)
    assert service.failed == 6
    board = await ask(bus, DashboardQuery(filter=WINDOW))  # still serving
    assert board.calls == CALLS


class BrokenReader(AnalyticsReader):
    def dashboard(self, flt: StatsFilter) -> Any:
        raise RuntimeError("disk on fire")


async def test_a_failing_reader_gives_a_clear_error_not_a_dead_service(
    bus: NATS, archive_db: Path, tmp_path: Path
) -> None:
    broken = BrokenReader(archive_db)
    service = ArchiveService(bus, bus.jetstream(), broken, spool_dir=tmp_path)
    await service.start()
    try:
        with pytest.raises(ArchiveUnavailable, match="RuntimeError: disk on fire"):
            await ask(bus, DashboardQuery(filter=WINDOW))
        assert await ask(bus, CallsForAgent(agent_id="agent-003", day=FIRST_DAY))
    finally:
        await service.stop()
        broken.close()
