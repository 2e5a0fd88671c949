"""The writer's lean connection (bus.lean_pull): the protocol read right whatever the chunking,
and the LeanRecordWriter keeping exactly once as RecordWriter does: repeats, a batch
committed but not acknowledged, a bad message, a lost connection, a password."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from bus_helpers import drain, record, records_bus

from analytics.store import CallStore
from bus.lean_pull import Delivery, LeanConnection, LeanRecordWriter
from bus.records import STREAM, WRITER_DURABLE, RecordPublisher, ensure_stream
from bus.server import NatsServer, start_cluster
from evscallpro.settings_file import BusSettings


def hmsg(subject: bytes, reply: bytes, headers: bytes, payload: bytes) -> bytes:
    total = len(headers) + len(payload)
    return b"HMSG %s 1 %s %d %d\r\n%s%s\r\n" % (subject, reply, len(headers), total, headers,
                                                 payload)


def test_deliveries_and_statuses_read_the_same_whatever_the_chunks() -> None:
    stored = b"NATS/1.0\r\nNats-Msg-Id: call:c1\r\n\r\n"
    stream = b"".join([
        b"PING\r\n",
        hmsg(b"_INBOX.x", b"$JS.ACK.S.C.1.1.1.0.0", stored, b'{"call": "a\\r\\nb"}'),
        b"+OK\r\n",
        b"MSG _INBOX.x.confirm 2 0\r\n\r\n",
        b"MSG _INBOX.x 1 $JS.ACK.S.C.1.2.2.0.0 5\r\nplain\r\n",
        hmsg(b"_INBOX.x", b"$JS.ACK.S.C.1.3.3.0.0", stored, b"x" * 70_000),
        hmsg(b"_INBOX.x", b"", b"NATS/1.0 408 Request Timeout\r\n\r\n", b""),
        b"-ERR 'Unknown Protocol Operation'\r\n",
    ])
    expected = [
        (b"$JS.ACK.S.C.1.1.1.0.0", b'{"call": "a\\r\\nb"}'),
        (b"$JS.ACK.S.C.1.2.2.0.0", b"plain"),
        (b"$JS.ACK.S.C.1.3.3.0.0", b"x" * 70_000),
    ]
    rng = random.Random(5)
    for _ in range(50):
        deliveries: list[Delivery] = []
        statuses: list[tuple[bytes, bytes]] = []
        connection = LeanConnection(deliveries.append,
                                    lambda code, text, into=statuses: into.append((code, text)))
        connection._confirm_subject = b"_INBOX.x.confirm"  # JetStream's answer to an ack
        rest = b""
        position = 0
        while position < len(stream):
            step = rng.choice((1, 2, 7, 64, 1000, 100_000))
            rest = connection._parse(rest + stream[position : position + step])
            position += step
        assert rest == b""
        assert [(d.reply, d.data) for d in deliveries] == expected
        assert statuses == [(b"408", b"Request Timeout")]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CallStore]:
    store = CallStore(tmp_path / "calls.duckdb")
    yield store
    store.close()


async def test_each_record_once_despite_repeats_and_a_bad_message(
    nats_server: NatsServer, store: CallStore
) -> None:
    nc, js, publisher = await records_bus(nats_server.url)
    for n in range(300):
        await publisher.publish(record(n))
    await js.publish("evs.records.node1", b"\xc1 not a record")
    for n in range(50):
        await publisher.publish(record(n))  # a node that published again: de-duplicated
    writer = LeanRecordWriter(js, store, batch_size=64)
    await drain(writer, 301)
    assert writer.written == 301
    assert store.count("calls") == 300
    assert writer.bad_messages == [b"\xc1 not a record"]
    info = await js.consumer_info(STREAM, WRITER_DURABLE)
    assert info.num_ack_pending == 0 and info.num_pending == 0
    await writer.release()
    await nc.close()


class KilledBeforeAck(LeanRecordWriter):
    async def _acknowledge(self, messages: list[Delivery]) -> None:  # type: ignore[override]
        return None


async def test_a_batch_committed_but_not_acknowledged_comes_again_and_changes_nothing(
    nats_server: NatsServer, store: CallStore
) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_stream(js)
    for n in range(10):
        await RecordPublisher(js, node="node1").publish(record(n))
    killed = KilledBeforeAck(js, store, batch_size=10, ack_wait_s=1.0)
    await drain(killed, 10)
    await killed.connection.close()  # dies: its deliveries were never acknowledged
    assert store.count("calls") == 10

    restarted = LeanRecordWriter(js, store, batch_size=10, ack_wait_s=1.0)
    await drain(restarted, 10)
    assert restarted.written == 10  # JetStream delivered the unacknowledged batch again
    assert store.count("calls") == 10
    assert (await js.consumer_info(STREAM, WRITER_DURABLE)).num_ack_pending == 0
    await restarted.release()
    await nc.close()


async def test_a_lost_connection_is_opened_again_and_nothing_is_lost(
    nats_server: NatsServer, store: CallStore
) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream(publish_async_max_pending=1000)
    await ensure_stream(js)
    for n in range(2000):
        await js.publish_async("evs.records.node1", _encoded(n), headers={"Nats-Msg-Id": f"c{n}"})
    await js.publish_async_completed()
    writer = LeanRecordWriter(js, store, batch_size=100, ack_wait_s=1.0)
    await drain(writer, 300)
    assert 300 <= writer.written < 2000
    transport = writer.connection._writer.transport  # type: ignore[union-attr]
    transport.abort()  # the socket dies under the writer (a server lost, a network cut)
    await drain(writer, 2000)
    assert writer.reconnects >= 1
    assert store.count("calls") == 2000
    info = await js.consumer_info(STREAM, WRITER_DURABLE)
    assert info.num_ack_pending == 0 and info.num_pending == 0
    await writer.release()
    await nc.close()


def _encoded(n: int) -> bytes:
    from bus.records import encode

    return encode(record(n))


class PasswordServer(NatsServer):
    def command(self) -> list[str]:
        return [*super().command(), "--user", "writer", "--pass", "s3cret"]


async def test_the_writer_connects_with_the_bus_password(tmp_path: Path, store: CallStore) -> None:
    server = PasswordServer(store_dir=tmp_path / "nats").start()
    try:
        nc = await nats.connect(server.url, user="writer", password="s3cret")
        js = nc.jetstream()
        await ensure_stream(js)
        await RecordPublisher(js, node="node1").publish(record(1))
        wrong = LeanRecordWriter(js, store, bus=BusSettings(user="writer", password="nope"))
        with pytest.raises(ConnectionError, match="Authorization Violation"):
            await wrong.subscribe()
        writer = LeanRecordWriter(js, store, bus=BusSettings(user="writer", password="s3cret"))
        await drain(writer, 1)
        assert store.count("calls") == 1
        await writer.release()
        await nc.close()
    finally:
        server.stop()


async def test_the_server_under_the_writer_lost_in_a_cluster_then_each_record_once(
    tmp_path: Path, store: CallStore
) -> None:
    servers = start_cluster(tmp_path / "nats", size=3)
    try:
        nc = await nats.connect(servers=[s.url for s in servers], max_reconnect_attempts=-1,
                                reconnect_time_wait=0.2)
        js = nc.jetstream()
        await ensure_stream(js, replicas=3)
        publisher = RecordPublisher(js, node="node1", timeout_s=20)
        for n in range(10):
            await publisher.publish(record(n))
        writer = LeanRecordWriter(js, store, batch_size=7, ack_wait_s=2.0)
        await drain(writer, 7)
        under = writer.connection._writer.get_extra_info("peername")[1]  # type: ignore[union-attr]
        next(s for s in servers if s.port == under).kill()  # SIGKILL the writer's server
        for n in range(10, 20):
            await publisher.publish(record(n))
        for n in range(5):
            await publisher.publish(record(n))  # a node republishing after the loss
        # `written` counts redeliveries too (the failover redelivers what was not acked):
        # drain until the store holds every record, bounded
        deadline = time.monotonic() + 60.0
        while store.count("calls") < 20 and time.monotonic() < deadline:
            await drain(writer, writer.written + 1, within_s=1.0)
        assert store.count("calls") == 20
        assert writer.reconnects >= 1
        await writer.release()
        await nc.close()
    finally:
        for server in servers:
            server.stop()


async def test_a_server_that_stops_answering_is_noticed_and_left_for_a_live_one(
    nats_server: NatsServer, store: CallStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bus.lean_pull.PONG_TIMEOUT_S", 1.0)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_stream(js)
    for n in range(10):
        await RecordPublisher(js, node="node1").publish(record(n))
    writer = LeanRecordWriter(js, store, batch_size=10, ack_wait_s=2.0)
    await drain(writer, 10)
    assert nats_server.process is not None
    nats_server.process.send_signal(signal.SIGSTOP)  # frozen: no reset, no answer
    try:
        with pytest.raises(ConnectionError):
            for _ in range(10):  # each pull waits 0.5 s; the expired one is probed
                await writer.write_once(timeout_s=0.5)
        assert not writer.connection.is_connected
    finally:
        nats_server.process.send_signal(signal.SIGCONT)
    await RecordPublisher(js, node="node1").publish(record(10))
    await drain(writer, 11)
    assert writer.reconnects >= 1 and store.count("calls") == 11
    await writer.release()
    await nc.close()
