"""Call records and agent-state intervals on a JetStream stream, exactly once into DuckDB.

    node ── RecordPublisher.publish(record) ──► stream EVS_RECORDS (subject evs.records.<node>)
                Nats-Msg-Id = record_key(record)         de-duplicated by JetStream
    analytics ── RecordWriter ──► CallStore (DuckDB upsert by key) ──► ack

Exactly once, end to end, rests on three facts, each enforced by an existing engine:
- a node that republishes a record (its publish timed out, it restarted and published the
  call again) is de-duplicated by JetStream on the message id within `duplicate_window_s`;
- the writer acknowledges a batch only after DuckDB committed it, so a writer killed
  mid-batch gets the batch again;
- the store upserts by key, so a batch redelivered after a commit whose ack was lost, or a
  duplicate older than the window, changes nothing.

Messages are JSON-encoded `analytics.journal.JournalEntry`s (msgspec), the journal's own
line format: the writer hands a batch's payloads to DuckDB as they are (analytics.bulk), with
no Python object per record. When DuckDB refuses a batch, its messages are checked one by one
with the typed decoder; a message that does not decode is logged and kept aside in
`bad_messages` (never redelivered in a loop, never silently dropped), the others are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import duckdb
import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NoStreamResponseError, NotFoundError

from analytics.journal import JournalEntry, JournalRecord, entry_for, record_key
from analytics.rows import RowError
from analytics.store import Batch, CallStore

log = logging.getLogger(__name__)

STREAM = "EVS_RECORDS"
SUBJECTS = "evs.records.>"
WRITER_DURABLE = "evs-writer"
LINGER_S = 0.5  # a batch not full waits this long for more records before its transaction
DUPLICATE_WINDOW_S = 2 * 3600.0  # longer than the writer may be down (docs/scale.md)

STATUS, DESCRIPTION = "Status", "Description"  # the headers of a JetStream status message
ACK = b"+ACK"
_RETRYABLE = (TimeoutError, NoRespondersError, NoStreamResponseError)
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(JournalEntry)


def subject_for(node: str) -> str:
    return f"evs.records.{node}"


def encode(record: JournalRecord) -> bytes:
    return _encoder.encode(entry_for(record))


def decode(payload: bytes) -> JournalRecord:
    return _decoder.decode(payload).record


async def ensure_stream(js: JetStreamContext, replicas: int = 1) -> None:
    """Create the records stream, or leave it as it is (same subjects) when it exists."""
    config = StreamConfig(
        name=STREAM,
        subjects=[SUBJECTS],
        storage=StorageType.FILE,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW_S,
    )
    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(config)


class RecordPublisher:
    """The node's side: one publish per record, acknowledged by JetStream (stored, and on a
    cluster replicated) before `publish` returns. While a server is lost or a stream leader
    is being elected, the publish is tried again (the message id makes a repeat harmless)
    for up to `timeout_s`; past that it raises and the caller keeps the record."""

    def __init__(self, js: JetStreamContext, node: str, timeout_s: float = 30.0) -> None:
        self.js = js
        self.subject = subject_for(node)
        self.timeout_s = timeout_s

    async def publish(self, record: JournalRecord) -> bool:
        """True when the record was new to the stream, False for a de-duplicated repeat."""
        payload, headers = encode(record), {"Nats-Msg-Id": record_key(record)}
        deadline = time.monotonic() + self.timeout_s
        delay = 0.1
        while True:
            remaining = deadline - time.monotonic()
            try:
                ack = await self.js.publish(
                    self.subject, payload, timeout=max(0.1, min(2.0, remaining)), headers=headers
                )
                return not ack.duplicate
            except _RETRYABLE as exc:
                if time.monotonic() + delay >= deadline:
                    raise
                log.info("record %s not stored yet (%s); trying again", headers["Nats-Msg-Id"], exc)
                await asyncio.sleep(delay)  # back-off between attempts, not a wait for an event
                delay = min(1.0, delay * 2)


class RecordWriter:
    """The analytics side: a durable pull consumer whose batches become one DuckDB
    transaction each, every message acknowledged after the commit.

    Messages are pulled by hand (`$JS.API.CONSUMER.MSG.NEXT`, the request nats-py's `fetch`
    sends) onto an inbox whose subscription callback only appends them to a list: nats-py's
    `fetch` awaits each message through its own future and task (~60 us a message measured,
    against ~20 us here). The next batch is requested as soon as one is taken, so it arrives
    while DuckDB commits the one before (DuckDB releases the GIL: the two cores both work).
    Prefetched messages are delivered but not acknowledged: a writer that dies holding them
    gets them again after `ack_wait`, like the batch it was writing.

    `bus.lean_pull.LeanRecordWriter` (the analytics process's) is this writer with its pulls
    and acks on a lean connection of its own: a fifth of the loop's CPU a record.
    """

    def __init__(
        self,
        js: JetStreamContext,
        store: CallStore,
        *,
        batch_size: int = 10_000,
        durable: str = WRITER_DURABLE,
        ack_wait_s: float = 30.0,
        on_written: Callable[[int], None] | None = None,
        on_batch: Callable[[list[bytes]], object] | None = None,
        linger_s: float = LINGER_S,
    ) -> None:
        self.js = js
        self.store = store
        self.batch_size = batch_size
        self.durable = durable
        self.ack_wait_s = ack_wait_s
        self.on_written = on_written
        self.on_batch = on_batch  # a stored and acknowledged batch's payloads
        self.linger_s = linger_s
        self.written = 0
        self.bad_messages: list[bytes] = []
        self._inbox = ""
        self._sub: Subscription | None = None
        self._delivered: list[Msg] = []
        self._arrived = asyncio.Event()
        self._pulling = 0  # messages the open pull request may still bring (0: none open)
        self._pull_deadline = 0.0

    @property
    def _subscribed(self) -> bool:
        return self._sub is not None

    @property
    def _nc(self) -> NATS:
        return self.js._nc  # nats-py keeps the connection there; RecordWriter takes `js`

    async def subscribe(self) -> None:
        await self.ensure_consumer()
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(
            self._inbox,
            cb=self._on_message,
            pending_msgs_limit=4 * self.batch_size + 100,
            pending_bytes_limit=-1,
        )

    async def ensure_consumer(self) -> None:
        """The durable pull consumer, created with this writer's settings if missing."""
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait_s,
            max_ack_pending=4 * self.batch_size,
        )
        try:
            await self.js.consumer_info(STREAM, self.durable)
        except NotFoundError:
            await self.js.add_consumer(STREAM, config)

    async def _on_message(self, message: Msg) -> None:
        if not message.data and message.headers and STATUS in message.headers:
            # 404 no messages, 408 request expired, 409 (leader moved, limits): this pull
            # request brings nothing more; 100 is an idle heartbeat (none is asked for).
            if message.headers[STATUS] not in ("100", "404", "408"):
                log.info("record pull ended: %s %s", message.headers[STATUS],
                         message.headers.get(DESCRIPTION, ""))
            self._pulling = 0
            self._arrived.set()
            return
        self._delivered.append(message)
        self._pulling -= 1
        self._arrived.set()

    async def _pull(self, timeout_s: float) -> None:
        """Ask for what the buffer lacks to make a batch, unless a request is still open."""
        now = time.monotonic()
        if self._pulling > 0 and now < self._pull_deadline:
            return
        wanted = self.batch_size - len(self._delivered)
        if wanted <= 0:
            return
        request = {"batch": wanted, "expires": int(timeout_s * 1e9)}
        self._pulling = wanted
        self._pull_deadline = now + timeout_s + 1.0  # a request lost with a server
        await self._request_next(
            f"{self.js._prefix}.CONSUMER.MSG.NEXT.{STREAM}.{self.durable}",
            msgspec.json.encode(request),
        )

    async def _request_next(self, subject: str, request: bytes) -> None:
        await self._nc.publish(subject, request, reply=self._inbox)

    async def _take(self, timeout_s: float, limit: int | None = None) -> list[Msg]:
        """Up to one batch: what was delivered already, else what arrives first within
        `timeout_s`. The next request leaves at once, so it is delivered during this batch's
        write: under load batches grow to `batch_size` by themselves, and a quiet stream
        gets its few records written without waiting for a full batch."""
        if not self._delivered:
            self._arrived.clear()
            await self._pull(timeout_s)
            if not self._delivered:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), timeout_s)
        size = self.batch_size if limit is None else limit
        taken = self._delivered[:size]
        del self._delivered[:size]
        if taken:
            await self._pull(max(timeout_s, 1.0))  # prefetch the next batch
        return taken

    async def write_once(self, timeout_s: float = 1.0) -> int:
        """Take up to one batch, store it, acknowledge it; returns the records written."""
        if not self._subscribed:
            await self.subscribe()
        messages = await self._take(timeout_s)
        if not messages:
            return 0
        # A DuckDB transaction costs tens of ms of CPU whatever its size (BENCHMARKS.md,
        # Processes on the bus): a quiet stream's few records wait up to `linger_s` for
        # others rather than each paying one. Under load batches fill before that.
        deadline = time.monotonic() + self.linger_s
        while len(messages) < self.batch_size and (left := deadline - time.monotonic()) > 0:
            messages += await self._take(left, self.batch_size - len(messages))
        # DuckDB work off the loop: the writer's loop keeps its NATS heartbeats meanwhile.
        try:
            await asyncio.to_thread(self.store.write_json, [m.data for m in messages])
        except duckdb.Error as exc:
            log.warning(
                "batch of %d records refused by DuckDB (%s): checking each", len(messages), exc
            )
            await asyncio.to_thread(self._write_checked, messages)
        await self._acknowledge(messages)
        self.written += len(messages)
        if self.on_written is not None:
            self.on_written(len(messages))
        if self.on_batch is not None:
            self.on_batch([m.data for m in messages])
        return len(messages)

    def _write_checked(self, messages: list[Msg]) -> None:
        batch = Batch()
        for message in messages:
            try:
                record = decode(message.data)
                batch.add(record)
            except (msgspec.DecodeError, msgspec.ValidationError, RowError, ValueError) as exc:
                log.error("record message %s refused: %s", message.reply, exc)
                self.bad_messages.append(message.data)
        self.store.write(batch)

    async def _acknowledge(self, messages: list[Msg]) -> None:
        """Each message acknowledged (redeliveries come in any order, so an AckAll on the
        batch's last one could miss some): the acks are written into the connection's
        buffer one after the other, and the last one's waits for the server's answer."""
        publish = self._nc.publish
        for message in messages[:-1]:
            await publish(message.reply, ACK)
        await messages[-1].ack_sync()

    async def release(self, within_s: float = 5.0) -> int:
        """A clean stop: the prefetched messages (delivered, not written) are handed back
        to JetStream at once (NAK), for the next writer, instead of after `ack_wait`. The
        open pull request is let finish first (up to its expiry, at most `within_s`): a
        message it delivered after the inbox closed would wait for `ack_wait`."""
        deadline = min(self._pull_deadline, time.monotonic() + within_s)
        while self._pulling > 0 and (left := deadline - time.monotonic()) > 0:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)
        held, self._delivered = self._delivered, []
        for message in held:
            with contextlib.suppress(Exception):
                await message.nak()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        return len(held)

    async def run(self, stop: asyncio.Event, idle_timeout_s: float = 1.0) -> None:
        """Write until `stop` is set. A failed DuckDB write is retried with back-off (the
        batch was not acknowledged: JetStream redelivers it after `ack_wait`)."""
        delay = 0.5
        while not stop.is_set():
            try:
                await self.write_once(idle_timeout_s)
                delay = 0.5
            except Exception:
                log.exception("record batch not written; retrying in %.1f s", delay)
                started = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(30.0, max(delay, time.monotonic() - started) * 2)
