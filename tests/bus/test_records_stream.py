"""Records through JetStream into DuckDB: exactly once, acknowledged after the commit."""

from __future__ import annotations

from pathlib import Path

import nats
from nats.aio.msg import Msg

from analytics.store import CallStore
from bus.records import RecordPublisher, RecordWriter, ensure_stream
from bus.server import NatsServer
from core.domain import CallOutcome, LegRole, WorkstationMode
from core.records import CallRecord, LegRecord


def record(n: int) -> CallRecord:
    leg = LegRecord(role=LegRole.AGENT, channel_id=f"c{n}-agent", endpoint="Local/a@x",
                    dialed_at=1000.0 + n, ended_at=1010.0 + n)
    return CallRecord(call_id=f"c{n}", agent_id="agent1", customer_number="+33612345678",
                      workstation=WorkstationMode.MOBILE, agent_leg=leg,
                      outcome=CallOutcome.COMPLETED, started_at=1000.0 + n, ended_at=1010.0 + n)


async def drain(writer: RecordWriter, expected: int, rounds: int = 40) -> None:
    """Fetch batches until `expected` records were written (each fetch waits up to 0.25 s
    for messages: the bound is on the number of rounds, not a sleep)."""
    for _ in range(rounds):
        await writer.write_once(timeout_s=0.25)
        if writer.written >= expected:
            return


async def test_each_record_once_in_duckdb_despite_repeats(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_stream(js)
    publisher = RecordPublisher(js, node="node1")
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

    async def _acknowledge(self, last: Msg) -> None:
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
