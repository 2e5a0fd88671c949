"""A node's live-calls journal in a JetStream key-value bucket, `live_calls_bucket(node)`.

The same interface as actors/call_journal.CallJournal (`started`, `connected`, `ended`,
`live_calls`, `compact`): CallActors write it, the reconciler and the orphan sweep read it.
Being in JetStream (replicated like the records stream, `[bus] replicas`), it survives the
node's machine: a node started anywhere with the same id adopts the calls of its Asterisk.

One key per live call (its call id; another id is base64url-encoded under "b64."), whose
value is the call as recovery needs it (`JournaledCall`: its CallRequest, `connected_at`
once the customer answered). An ended call's key is purged (its subject emptied in the
bucket's stream, so no delete marker piles up).

Writes never block an actor: `started` / `connected` / `ended` update the in-memory table
(under a lock, microseconds) and leave the call's latest value in a pending table that a task
on the node's loop writes to the bucket, in order, retrying with back-off while the bus is
away. The pending table holds at most one entry per call (a newer write replaces the older
one), so memory is bounded by the calls, not by how long the bus is down. `live_calls()`
answers from the in-memory table, read from the bucket once at `open()`: the node is the
bucket's only writer. What a SIGKILL can lose: the writes still pending (at most the last
few milliseconds' with the bus up); recovery then asks the channels (app_data) for a call
the bucket does not know, as with a lost journal line.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import threading
import time

import msgspec
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from actors.call_journal import JournaledCall
from bus.protocol import live_calls_bucket
from core.call_config import CallRequest
from core.domain import CallStep

log = logging.getLogger(__name__)

LOAD_TIMEOUT_S = 10.0  # reading the bucket at start: past it, go on with what was read

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,200}")
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(JournaledCall)
RETRY_INITIAL_S = 0.2
RETRY_MAX_S = 5.0


def key_of(call_id: str) -> str:
    if _PLAIN_KEY.fullmatch(call_id):
        return call_id
    return "b64." + base64.urlsafe_b64encode(call_id.encode()).decode().rstrip("=")


async def open_bucket(js: JetStreamContext, node: str, replicas: int = 1) -> KeyValue:
    """The node's bucket, created (file storage, one value per key) when missing."""
    bucket = live_calls_bucket(node)
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        config = KeyValueConfig(
            bucket=bucket, history=1, replicas=replicas, storage=StorageType.FILE
        )
        return await js.create_key_value(config)


class LiveCallsKV:
    """Create with `await LiveCallsKV.open(js, node, replicas)` on the node's loop."""

    def __init__(
        self,
        js: JetStreamContext,
        kv: KeyValue,
        node: str,
        calls: dict[str, JournaledCall],
    ) -> None:
        self.js = js
        self.kv = kv
        self.node = node
        bucket = live_calls_bucket(node)  # JetStream KV's naming: stream KV_<b>, $KV.<b>.<key>
        self._stream, self._subject_prefix = f"KV_{bucket}", f"$KV.{bucket}."
        self.loop = asyncio.get_running_loop()
        self._calls = calls
        self._pending: dict[str, JournaledCall | None] = {}  # call id -> value (None: ended)
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task = self.loop.create_task(self._write_pending())
        self.writes = 0
        self.failures = 0

    @classmethod
    async def open(cls, js: JetStreamContext, node: str, replicas: int = 1) -> LiveCallsKV:
        began = time.monotonic()
        kv = await open_bucket(js, node, replicas)
        # The watch's end-of-initial-values marker can come before entries already on
        # their way (nats-py): read until the marker AND the bucket's last message as the
        # stream gave it before the watch (deletes included, so it is always seen).
        info = await js.stream_info(f"KV_{live_calls_bucket(node)}")
        last = info.state.last_seq if info.state.messages else 0
        by_key: dict[str, JournaledCall] = {}
        marker, revision = False, 0
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        watcher = await kv.watchall()
        try:
            while not (marker and revision >= last):
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("node %s: live calls read up to #%d, the bucket's last change "
                                "#%d not seen within %g s; going on", node, revision, last,
                                LOAD_TIMEOUT_S)
                    break
                try:
                    entry = await watcher.updates(timeout=left)
                except (TimeoutError, NatsTimeoutError):
                    continue
                if entry is None:
                    marker = True
                    continue
                revision = max(revision, entry.revision or 0)
                if entry.operation in ("DEL", "PURGE") or entry.value is None:
                    by_key.pop(entry.key, None)
                    continue
                try:
                    by_key[entry.key] = _decoder.decode(entry.value)
                except msgspec.DecodeError as exc:
                    log.warning("live call %s unreadable in the bucket, skipped (%s)",
                                entry.key, exc)
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()
        calls = {call.request.call_id: call for call in by_key.values()}
        log.info("node %s: %d live calls in %s (%d entries read in %.2f s)", node, len(calls),
                 live_calls_bucket(node), revision, time.monotonic() - began)
        return cls(js, kv, node, calls)

    # ------------------------------------------------------------------ actor threads
    def started(self, request: CallRequest, at: float) -> None:
        self._set(request.call_id, JournaledCall(request=request))

    def connected(self, call_id: str, at: float) -> None:
        with self._lock:
            call = self._calls.get(call_id)
            if call is None:
                return
            call = JournaledCall(
                request=call.request, last_step=CallStep.CONNECTED, connected_at=at
            )
        self._set(call_id, call)

    def ended(self, call_id: str, at: float) -> None:
        self._set(call_id, None)

    def _set(self, call_id: str, call: JournaledCall | None) -> None:
        with self._lock:
            if call is None:
                self._calls.pop(call_id, None)
            else:
                self._calls[call_id] = call
            self._pending[call_id] = call
        with contextlib.suppress(RuntimeError):  # the loop closed: the process is ending
            self.loop.call_soon_threadsafe(self._poke)

    def _poke(self) -> None:
        self._idle.clear()
        self._wake.set()

    # ------------------------------------------------------------------ any thread
    def live_calls(self) -> dict[str, JournaledCall]:
        """Calls started and not ended (copies: the caller may change them)."""
        with self._lock:
            return {k: msgspec.structs.replace(v) for k, v in self._calls.items()}

    def compact(self) -> None:
        """Nothing to do: the bucket keeps one value per live call."""

    @property
    def pending(self) -> int:
        """Calls whose latest value has not reached the bucket yet."""
        with self._lock:
            return len(self._pending.keys() | self._in_flight)

    # ------------------------------------------------------------------ the loop
    async def _write_pending(self) -> None:
        delay = RETRY_INITIAL_S
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._lock:
                batch, self._pending = self._pending, {}
                self._in_flight = set(batch)
            if not batch:
                continue
            self._idle.clear()
            failed = await self._write(batch)
            if failed:
                with self._lock:  # a newer value written meanwhile wins over the failed one
                    for call_id, call in failed.items():
                        self._pending.setdefault(call_id, call)
                    self._in_flight = set()
                self._wake.set()
                await asyncio.sleep(delay)  # back-off while the bus is away
                delay = min(RETRY_MAX_S, delay * 2)
            else:
                delay = RETRY_INITIAL_S
                with self._lock:
                    self._in_flight = set()
            if not self._pending:
                self._idle.set()

    async def _write(
        self, batch: dict[str, JournaledCall | None]
    ) -> dict[str, JournaledCall | None]:
        failed: dict[str, JournaledCall | None] = {}
        for call_id, call in batch.items():
            key = key_of(call_id)
            try:
                if call is None:
                    await self.js.purge_stream(self._stream, subject=self._subject_prefix + key)
                else:
                    await self.kv.put(key, _encoder.encode(call))
                self.writes += 1
            except Exception as exc:
                self.failures += 1
                log.warning("live call %s not written to %s yet: %s", call_id,
                            live_calls_bucket(self.node), exc)
                failed[call_id] = call
        return failed

    async def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every write reached the bucket (False: some still pending)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        return self._idle.is_set() and not self.pending

    async def close(self, timeout_s: float = 10.0) -> bool:
        """Flush (bounded) and stop writing; True if every write reached the bucket."""
        flushed = await self.flush(timeout_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return flushed
