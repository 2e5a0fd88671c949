"""A writer stopped cleanly hands its prefetched records back at once (NAK), so the next
writer gets them without waiting for `ack_wait`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from bus_helpers import drain, record, records_bus

from analytics.store import CallStore
from bus.records import STREAM, WRITER_DURABLE, RecordWriter
from bus.server import NatsServer


async def test_release_hands_the_prefetched_batch_back_for_the_next_writer(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    nc, js, publisher = await records_bus(nats_server.url)
    for n in range(30):
        await publisher.publish(record(n))
    store = CallStore(tmp_path / "calls.duckdb")
    written: list[bytes] = []
    first = RecordWriter(js, store, batch_size=10, ack_wait_s=3600.0, on_batch=written.extend)
    deadline = time.monotonic() + 10.0
    while first.written < 10 and time.monotonic() < deadline:
        await first.write_once(timeout_s=1.0)
    while not first._delivered and time.monotonic() < deadline:  # the prefetch arrives
        first._arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first._arrived.wait(), 0.5)
    assert len(written) == first.written  # on_batch saw each stored batch's payloads
    held = await first.release()
    assert held > 0 and not first._delivered

    # with an ack_wait of an hour, only the NAK can bring them back within the test
    second = RecordWriter(js, store, batch_size=10, ack_wait_s=3600.0)
    await drain(second, 30 - first.written, within_s=20.0)
    assert first.written + second.written == 30
    assert store.count("calls") == 30
    info = await js.consumer_info(STREAM, WRITER_DURABLE)
    assert info.num_ack_pending == 0 and info.num_pending == 0
    await nc.close()
    store.close()
