"""The node's record outbox: each record reaches the stream exactly once, waits in its file
while JetStream is down, and is published again (de-duplicated) after a node died between
JetStream's ack and the cursor's move."""

from __future__ import annotations

import threading
from pathlib import Path

import nats
from bus_helpers import drain, record
from nats.js import JetStreamContext

from analytics.intervals import AgentStateInterval
from analytics.store import CallStore
from bus.record_outbox import CURSOR_FILE, RecordOutbox
from bus.records import STREAM, RecordPublisher, RecordWriter, ensure_stream
from bus.server import NatsServer
from core.domain import AgentState


def write_from_actor_threads(outbox: RecordOutbox, numbers: range) -> None:
    threads = [threading.Thread(target=outbox.write, args=(record(n),)) for n in numbers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive()


async def stored(js: JetStreamContext) -> int:
    return (await js.stream_info(STREAM)).state.messages


async def test_each_record_reaches_the_stream_once(nats_server: NatsServer, tmp_path: Path) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    outbox = RecordOutbox(tmp_path / "node-n1")
    outbox.start(RecordPublisher(js, "n1"), prepare=lambda: ensure_stream(js))
    write_from_actor_threads(outbox, range(30))
    outbox.write(AgentStateInterval(agent_id="a1", state=AgentState.AVAILABLE,
                                    started_at=1.0, ended_at=2.0))
    assert await outbox.flush(timeout_s=30)
    assert await stored(js) == 31
    assert outbox.backlog_bytes == 0
    assert await outbox.close()

    reopened = RecordOutbox(tmp_path / "node-n1")  # a clean restart publishes nothing again
    reopened.start(RecordPublisher(js, "n1"))
    assert await reopened.flush(timeout_s=30)
    assert reopened.published == 0
    await reopened.close()
    await nc.close()


async def test_records_wait_while_jetstream_is_down(nats_server: NatsServer, tmp_path: Path) -> None:
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    await ensure_stream(js)
    outbox = RecordOutbox(tmp_path / "node-n1")
    outbox.start(RecordPublisher(js, "n1", timeout_s=1.0), prepare=lambda: ensure_stream(js))
    write_from_actor_threads(outbox, range(5))
    assert await outbox.flush(timeout_s=30)

    nats_server.stop()  # calls end while JetStream is away
    write_from_actor_threads(outbox, range(5, 25))
    assert not await outbox.flush(timeout_s=2.0)
    assert outbox.backlog_bytes > 0  # in the file, nowhere else

    nats_server.start()  # same port, same store: back later
    assert await outbox.flush(timeout_s=60)
    assert await stored(js) == 25
    await outbox.close()
    await nc.close()


async def test_node_killed_between_ack_and_cursor_publishes_again_exactly_once(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    folder = tmp_path / "node-n1"
    outbox = RecordOutbox(folder)
    outbox.start(RecordPublisher(js, "n1"), prepare=lambda: ensure_stream(js))
    write_from_actor_threads(outbox, range(12))
    assert await outbox.flush(timeout_s=30)
    await outbox.close()
    (folder / CURSOR_FILE).unlink()  # as if it died after JetStream's acks, before the cursor

    restarted = RecordOutbox(folder)
    restarted.start(RecordPublisher(js, "n1"))
    assert await restarted.flush(timeout_s=30)
    assert restarted.published == 12  # published again...
    assert await stored(js) == 12  # ... and de-duplicated by the stream
    store = CallStore(tmp_path / "calls.duckdb")
    writer = RecordWriter(js, store, batch_size=5)
    await drain(writer, 12)
    assert store.count("calls") == 12
    store.close()
    await restarted.close()
    await nc.close()


async def test_compaction_keeps_what_is_left_and_a_torn_line_is_kept_aside(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    folder = tmp_path / "node-n1"
    outbox = RecordOutbox(folder, compact_above_bytes=600)
    write_from_actor_threads(outbox, range(10))
    await outbox.close()
    with open(folder / "outbox-0.jsonl", "ab") as fh:
        fh.write(b'{"call":{"call_id":"torn')  # a crash mid-append

    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    reopened = RecordOutbox(folder, compact_above_bytes=600)
    reopened.start(RecordPublisher(js, "n1"), prepare=lambda: ensure_stream(js))
    write_from_actor_threads(reopened, range(10, 20))
    assert await reopened.flush(timeout_s=30)
    assert await stored(js) == 20
    assert reopened.corrupt == 1
    assert b"torn" in (folder / "outbox.corrupt").read_bytes()
    assert not (folder / "outbox-0.jsonl").exists()  # compacted into a later generation
    assert len(list(folder.glob("outbox-*.jsonl"))) == 1
    await reopened.close()
    await nc.close()
