"""A 3-server JetStream cluster on loopback: records survive the loss of one server."""

from __future__ import annotations

from pathlib import Path

import nats
from bus_helpers import drain, record

from analytics.store import CallStore
from bus.records import RecordPublisher, RecordWriter, ensure_stream
from bus.server import start_cluster


async def test_records_published_across_a_server_loss_are_each_written_once(
    tmp_path: Path,
) -> None:
    servers = start_cluster(tmp_path / "nats", size=3)
    try:
        urls = [s.url for s in servers]
        nc = await nats.connect(servers=urls, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        js = nc.jetstream()
        await ensure_stream(js, replicas=3)
        publisher = RecordPublisher(js, node="node1", timeout_s=20)
        for n in range(10):
            await publisher.publish(record(n))
        store = CallStore(tmp_path / "calls.duckdb")
        writer = RecordWriter(js, store, batch_size=7)  # the writer runs all along
        await writer.subscribe()
        servers[0].kill()  # SIGKILL one of three: the stream keeps its quorum
        for n in range(10, 20):
            await publisher.publish(record(n))
        for n in range(5):
            await publisher.publish(record(n))  # a node republishing after the loss

        await drain(writer, 20)
        assert store.count("calls") == 20
        assert writer.written == 20
        await nc.close()
        store.close()
    finally:
        for server in servers:
            server.stop()
