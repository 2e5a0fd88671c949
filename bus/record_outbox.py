"""A node's records, kept in a local file until JetStream acknowledged them.

    CallActor / AgentActor / intervals ── write(record) ──► outbox-<gen>.jsonl (appended)
    the node's loop ── RecordPublisher.publish ──► EVS_RECORDS ── ack ──► cursor advanced

Every record (CallRecord, Disposition, AgentStateInterval) the core gives the node is
appended to `outbox-<gen>.jsonl` in the node's folder (data_dir/node-<id>/) as the exact
message payload (bus.records.encode: a JournalEntry line) and written to the OS at once: a
SIGKILL loses nothing the sink returned from. A task on the node's loop reads the file from
the `cursor` (the byte offset before which every record was acknowledged by JetStream),
publishes what follows in batches (the records of a batch concurrently, each one awaited
until JetStream stored it), then moves the cursor past the batch (file `cursor`, replaced
atomically). A node killed between JetStream's ack and the cursor's move publishes those
records again at its next start: the stream de-duplicates them by record key (Nats-Msg-Id,
within bus.records.DUPLICATE_WINDOW_S) and the writer's upsert by key would anyway.

The bus down for minutes (or hours): records keep being appended, nothing else grows; the
memory holds one batch at most, the backlog is in the file. When the acknowledged part of
the file is larger than both `compact_above_bytes` and what is still to publish, the rest
is copied to `outbox-<gen+1>.jsonl`, then the cursor file names the new generation (the
switch: a crash before it keeps the old file and cursor, a crash after it finds the new
pair; a leftover file of the other generation is removed at open).

A line that does not decode (a torn write from a crash mid-line, a disk error) is moved to
`outbox.corrupt` and reported, never published and never silently dropped.

`write` is called from actor threads: a file append under a lock, never a wait on the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from analytics.intervals import AgentIntervalTracker
from analytics.journal import JournalEntry, JournalRecord, entry_for
from bus.records import RecordPublisher
from core.views import AgentView

log = logging.getLogger(__name__)

CURSOR_FILE = "cursor"
CORRUPT_FILE = "outbox.corrupt"
BATCH_RECORDS = 256
BATCH_BYTES = 1 << 20
COMPACT_ABOVE_BYTES = 8 << 20
RETRY_INITIAL_S = 0.2
RETRY_MAX_S = 5.0

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(JournalEntry)


class Cursor(msgspec.Struct, frozen=True):
    generation: int = 0
    offset: int = 0


class RecordOutbox:
    """Open with `RecordOutbox(folder)`; `start(publisher)` on the node's loop begins the
    publishing (what the file holds from an earlier run first)."""

    def __init__(self, folder: str | Path, compact_above_bytes: int = COMPACT_ABOVE_BYTES) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.compact_above_bytes = compact_above_bytes
        self._lock = threading.Lock()
        self._cursor = self._read_cursor()
        self._remove_other_generations()
        self._fd = os.open(self._path(self._cursor.generation),
                           os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size
        if self._cursor.offset > self._size:  # a cursor ahead of its file: start it again
            log.warning("%s: cursor %d past the file's end %d; publishing it all again",
                        self.folder, self._cursor.offset, self._size)
            self._cursor = Cursor(self._cursor.generation, 0)
        self._end_torn_line()
        self.published = 0  # records JetStream acknowledged in this run (repeats included)
        self.corrupt = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._caught_up: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ files
    def _path(self, generation: int) -> Path:
        return self.folder / f"outbox-{generation}.jsonl"

    def _read_cursor(self) -> Cursor:
        try:
            return msgspec.json.decode((self.folder / CURSOR_FILE).read_bytes(), type=Cursor)
        except FileNotFoundError:
            return Cursor()
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error("%s: unreadable cursor (%s); publishing the outbox again", self.folder, exc)
            return Cursor()

    def _write_cursor(self, cursor: Cursor) -> None:
        tmp = self.folder / (CURSOR_FILE + ".tmp")
        tmp.write_bytes(_encoder.encode(cursor))
        os.replace(tmp, self.folder / CURSOR_FILE)
        self._cursor = cursor

    def _remove_other_generations(self) -> None:
        for path in self.folder.glob("outbox-*.jsonl"):
            if path != self._path(self._cursor.generation):
                log.info("%s: leftover %s removed", self.folder, path.name)
                path.unlink()

    def _end_torn_line(self) -> None:
        """A crash mid-append leaves a line without its end: close it, so the next record
        starts on a line of its own (the torn one goes to outbox.corrupt when read)."""
        if self._size == 0:
            return
        with open(self._path(self._cursor.generation), "rb") as fh:
            fh.seek(self._size - 1)
            if fh.read(1) != b"\n":
                self._size += os.write(self._fd, b"\n")

    # ------------------------------------------------------------------ any thread
    def write(self, record: object) -> None:
        """The sink: append the record (an actor thread; never waits on the bus)."""
        line = _encoder.encode(entry_for(record)) + b"\n"  # type: ignore[arg-type]
        with self._lock:
            written = os.write(self._fd, line)
            while written < len(line):  # a short write (rare: disk nearly full)
                written += os.write(self._fd, line[written:])
            self._size += len(line)
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the process is ending
                loop.call_soon_threadsafe(wake.set)

    def add(self, record: JournalRecord) -> None:
        self.write(record)

    @property
    def backlog_bytes(self) -> int:
        """Bytes of records not yet acknowledged by JetStream."""
        with self._lock:
            return self._size - self._cursor.offset

    # ------------------------------------------------------------------ the loop
    def start(
        self,
        publisher: RecordPublisher,
        prepare: Callable[[], Awaitable[None]] | None = None,
        on_published: Callable[[JournalRecord], None] | None = None,
    ) -> None:
        """Publish in a task of the running loop. `prepare` (e.g. ensure_stream) runs before
        the first publish and again after a failure; `on_published` gets each record
        JetStream acknowledged."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._caught_up = asyncio.Event()
        self._wake.set()  # what an earlier run left
        self._task = self._loop.create_task(self._run(publisher, prepare, on_published))

    async def _run(
        self,
        publisher: RecordPublisher,
        prepare: Callable[[], Awaitable[None]] | None,
        on_published: Callable[[JournalRecord], None] | None,
    ) -> None:
        assert self._wake is not None and self._caught_up is not None
        delay = RETRY_INITIAL_S
        prepared = prepare is None
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                if not prepared and prepare is not None:
                    await prepare()
                    prepared = True
                while await self._publish_batch(publisher, on_published):
                    pass
                delay = RETRY_INITIAL_S
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("records not acknowledged yet (%s); %d bytes wait in %s, "
                            "trying again in %.1f s", exc, self.backlog_bytes, self.folder, delay)
                prepared = prepare is None
                self._wake.set()
                await asyncio.sleep(delay)  # back-off while JetStream is away
                delay = min(RETRY_MAX_S, delay * 2)
                continue
            if self.backlog_bytes == 0:
                self._caught_up.set()

    async def _publish_batch(
        self,
        publisher: RecordPublisher,
        on_published: Callable[[JournalRecord], None] | None,
    ) -> bool:
        """Publish the next batch and move the cursor past it; False: nothing to publish."""
        self._caught_up_clear()
        with self._lock:
            cursor, end = self._cursor, self._size
        if cursor.offset >= end:
            return False
        with open(self._path(cursor.generation), "rb") as fh:
            fh.seek(cursor.offset)
            chunk = fh.read(min(end - cursor.offset, BATCH_BYTES))
        lines = chunk.split(b"\n")[:-1][:BATCH_RECORDS]  # whole lines only
        if not lines:  # one line longer than BATCH_BYTES: read it whole
            with open(self._path(cursor.generation), "rb") as fh:
                fh.seek(cursor.offset)
                lines = [fh.read(end - cursor.offset).split(b"\n", 1)[0]]
        records: list[JournalRecord] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                records.append(_decoder.decode(line).record)
            except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
                self._keep_aside(line, exc)
        await asyncio.gather(*(publisher.publish(r) for r in records))
        consumed = sum(len(line) + 1 for line in lines)
        with self._lock:
            if self._cursor.generation == cursor.generation:  # no compaction meanwhile
                self._write_cursor(Cursor(cursor.generation, cursor.offset + consumed))
                self._maybe_compact_locked()
        self.published += len(records)
        if on_published is not None:
            for record in records:
                on_published(record)
        return True

    def _caught_up_clear(self) -> None:
        if self._caught_up is not None:
            self._caught_up.clear()

    def _keep_aside(self, line: bytes, exc: Exception) -> None:
        self.corrupt += 1
        log.error("%s: outbox line unreadable, kept aside in %s (%s)", self.folder,
                  CORRUPT_FILE, exc)
        with open(self.folder / CORRUPT_FILE, "ab") as fh:
            fh.write(line + b"\n")

    def _maybe_compact_locked(self) -> None:
        """The lock held. Copy what is left to publish into the next generation's file once
        the acknowledged part outweighs it (and the threshold)."""
        done = self._cursor.offset
        rest = self._size - done
        if done <= max(self.compact_above_bytes, rest):
            return
        old, new = self._cursor.generation, self._cursor.generation + 1
        with open(self._path(old), "rb") as src:
            src.seek(done)
            remainder = src.read(rest)
        with open(self._path(new), "wb") as dst:
            dst.write(remainder)
            dst.flush()
            os.fsync(dst.fileno())
        fd = os.open(self._path(new), os.O_WRONLY | os.O_APPEND)
        self._write_cursor(Cursor(new, 0))  # the switch
        os.close(self._fd)
        self._fd, self._size = fd, len(remainder)
        self._path(old).unlink(missing_ok=True)
        log.info("%s: outbox compacted (%d bytes acknowledged dropped, %d kept)",
                 self.folder, done, rest)

    async def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until JetStream acknowledged every record written so far (False: some
        still wait in the file, for the next start)."""
        if self._caught_up is None or self._wake is None:
            return self.backlog_bytes == 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self.backlog_bytes > 0:
                    self._caught_up.clear()
                    self._wake.set()
                    await self._caught_up.wait()
        return self.backlog_bytes == 0

    async def close(self, timeout_s: float = 10.0) -> bool:
        """Flush (bounded), stop publishing, close the file; True if nothing is left."""
        flushed = await self.flush(timeout_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with self._lock:
            os.close(self._fd)
            self._fd = -1
        return flushed


class AgentIntervals:
    """Agent state intervals cut in the node from its own AgentViews (analytics.intervals,
    as the in-process AnalyticsWriter does), each written to `sink` when it closes.
    `on_view` is a view listener (actor threads: a lock keeps the tracker's state whole);
    `close_all(at)` closes the open ones at a clean stop."""

    def __init__(self, sink: Callable[[JournalRecord], None]) -> None:
        self._sink = sink
        self._tracker = AgentIntervalTracker()
        self._lock = threading.Lock()

    def on_view(self, view: object) -> None:
        if not isinstance(view, AgentView):
            return
        with self._lock:
            closed = self._tracker.observe(view)
        for interval in closed:
            self._sink(interval)

    def close_all(self, at: float) -> None:
        with self._lock:
            closed = self._tracker.close_all(at)
        for interval in closed:
            self._sink(interval)
