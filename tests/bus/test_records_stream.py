"""Records through JetStream into DuckDB: exactly once, acknowledged after the commit."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import nats
from bus_helpers import drain, record, records_bus
from nats.aio.msg import Msg

from analytics.store import CallStore
from bus.records import RecordPublisher, RecordWriter, ensure_stream
from bus.server import NatsServer


async def test_each_record_once_in_duckdb_despite_repeats(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    nc, js, publisher = await records_bus(nats_server.url)
    fresh = [await publisher.publish(record(n)) for n in range(20)]
    repeats = [await publisher.publish(record(n)) for n in range(5)]  # a node that retried
    assert fresh == [True] * 20
    assert repeats == [False] * 5

    store = CallStore(tmp_path / "calls.duckdb")
    writer = RecordWriter(js, store, batch_size=8)
    await drain(writer, 20)
    assert writer.written == 20
    assert store.count("calls") == 20
    assert store.count("call_legs") == 20
    assert (await js.consumer_info("EVS_RECORDS", "evs-writer")).num_ack_pending == 0
    await nc.close()
    store.close()


class KilledBeforeAck(RecordWriter):
    """Commits the batch to DuckDB, then dies before acknowledging it."""

    async def _acknowledge(self, messages: list[Msg]) -> None:
        return None


async def test_a_batch_committed_but_not_acknowledged_comes_again_and_changes_nothing(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_stream(js)
    for n in range(10):
        await RecordPublisher(js, node="node1").publish(record(n))
    store = CallStore(tmp_path / "calls.duckdb")

    killed = KilledBeforeAck(js, store, batch_size=10, ack_wait_s=1.0)
    await drain(killed, 10)
    assert store.count("calls") == 10
    await nc.close()

    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    restarted = RecordWriter(js, store, batch_size=10, ack_wait_s=1.0)
    await drain(restarted, 10)
    assert restarted.written == 10  # JetStream delivered the unacknowledged batch again
    assert store.count("calls") == 10  # ... and the upsert by call id kept one row each
    assert (await js.consumer_info("EVS_RECORDS", "evs-writer")).num_ack_pending == 0
    await nc.close()
    store.close()


async def test_undecodable_message_is_kept_aside_not_redelivered(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_stream(js)
    await js.publish("evs.records.node1", b"\xc1 not msgpack")
    await RecordPublisher(js, node="node1").publish(record(1))
    store = CallStore(tmp_path / "calls.duckdb")
    writer = RecordWriter(js, store, batch_size=10)
    await drain(writer, 2)
    assert store.count("calls") == 1
    assert writer.bad_messages == [b"\xc1 not msgpack"]
    assert (await js.consumer_info("EVS_RECORDS", "evs-writer")).num_ack_pending == 0
    await nc.close()
    store.close()


async def test_a_writer_that_dies_holding_a_prefetched_batch_loses_none_of_it(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    nc, js, publisher = await records_bus(nats_server.url)
    for n in range(30):
        await publisher.publish(record(n))
    store = CallStore(tmp_path / "calls.duckdb")
    first = RecordWriter(js, store, batch_size=10, ack_wait_s=1.0)
    deadline = time.monotonic() + 10.0
    while first.written < 10 and time.monotonic() < deadline:  # batches may come in parts
        await first.write_once(timeout_s=1.0)
    written_first = first.written
    assert 10 <= written_first < 30
    # the next batch was asked for before the last write: wait until part of it is held
    while not first._delivered and time.monotonic() < deadline:
        first._arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first._arrived.wait(), 0.5)
    held = len(first._delivered)
    assert held > 0
    assert (await js.consumer_info("EVS_RECORDS", "evs-writer")).num_ack_pending >= held
    await nc.close()  # the writer dies holding it, delivered but neither written nor acknowledged

    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    restarted = RecordWriter(js, store, batch_size=10, ack_wait_s=1.0)
    await drain(restarted, 30 - written_first)
    assert restarted.written == 30 - written_first
    assert store.count("calls") == 30
    assert (await js.consumer_info("EVS_RECORDS", "evs-writer")).num_ack_pending == 0
    await nc.close()
    store.close()
