"""Web sessions in the JetStream key-value bucket `SESSIONS_BUCKET`, shared by every gateway.

`KvSessions` is a `gateway.sessions.SessionBackend`: a session created on one gateway is
known to all of them (a load balancer may send the next request anywhere) and to a gateway
restarted later, so nobody is signed out by a restart; a revocation (logout, password change,
expiry) deletes the key, and every gateway drops it from its cache.

Lookups stay synchronous and cheap: each gateway keeps the bucket in memory, fed by a KV
watch (the current values at start, then every put and delete). A put or a delete changes
the local cache at once and goes to the bucket in the background (the bus thread), so the
gateway's loop never waits on the bus; a failure is logged (the session then lives on this
gateway only, until it restarts).

The key is the token's SHA-256 digest (gateway.sessions.session_key), never the token. The
bucket's max age is the session TTL (`[gateway] session_ttl_s`): an entry disappears from
JetStream when its session expires; `SessionStore.lookup` checks `expires_at` too, and the
cache drops expired sessions each minute.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from bus.bus_thread import BusThread
from bus.jetstream_ready import SETUP_WITHIN_S, when_ready
from bus.protocol import SESSIONS_BUCKET
from gateway.sessions import Session

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 60.0
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Session)


async def ensure_sessions_bucket(
    js: Any, ttl_s: float, replicas: int = 1, bucket: str = SESSIONS_BUCKET
) -> KeyValue:
    """The sessions bucket, created with max age `ttl_s` if missing; an existing bucket's max
    age is brought to `ttl_s` (the setting changed)."""
    try:
        kv = await js.key_value(bucket)
    except BucketNotFoundError:
        return await js.create_key_value(KeyValueConfig(
            bucket=bucket, history=1, ttl=ttl_s, replicas=replicas, storage=StorageType.FILE,
        ))
    stream = f"KV_{bucket}"
    info = await js.stream_info(stream)
    if info.config.max_age is None or abs(info.config.max_age - ttl_s) > 0.5:
        log.info("sessions bucket: max age %s s -> %s s", info.config.max_age, ttl_s)
        await js.update_stream(info.config.evolve(max_age=ttl_s))
    return kv


class KvSessions:
    """A SessionBackend over JetStream KV with a watched local cache."""

    def __init__(
        self,
        bus: BusThread,
        ttl_s: float,
        replicas: int = 1,
        bucket: str = SESSIONS_BUCKET,
        clock: Callable[[], float] = time.time,
        load_timeout_s: float = 5.0,
    ) -> None:
        self.bus = bus
        self.load_timeout_s = load_timeout_s
        self.ttl_s = ttl_s
        self.replicas = replicas
        self.bucket = bucket
        self.clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, Session] = {}
        self._kv: KeyValue | None = None
        self._watcher: Any = None
        self._puts_since_watch: set[str] = set()
        self._rewatching: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, timeout_s: float = SETUP_WITHIN_S + 10.0) -> KvSessions:
        """Open (or create) the bucket and load every session before returning."""
        self.bus.run(self._open(), timeout_s)
        self.bus.run(self._watch(), timeout_s)
        self.bus.on_reconnected(self._rewatch)
        self.bus.run(self._start_pruning(), timeout_s)
        return self

    async def _stop_watcher(self) -> None:
        if self._watcher is not None:
            try:
                await self._watcher.stop()
            except Exception as exc:  # the connection is gone: nothing left to stop
                log.debug("sessions watcher stop: %s", exc)

    def stop(self, timeout_s: float = 5.0) -> None:
        async def stop() -> None:
            for task in self._tasks:
                task.cancel()
            await self._stop_watcher()

        try:
            self.bus.run(stop(), timeout_s)
        except Exception as exc:
            log.warning("stopping the sessions watch: %s", exc)

    async def _open(self) -> None:
        js = self.bus.nc.jetstream()
        self._kv = await when_ready(
            lambda: ensure_sessions_bucket(js, self.ttl_s, self.replicas, self.bucket),
            "sessions bucket")

    async def _watch(self) -> None:
        """Start a watch; returns once the bucket's current sessions are loaded: the
        watcher's end-of-initial-values marker seen AND the bucket's last message (as the
        stream said before the watch) received, since nats-py may send that marker before
        messages already on their way. Past `load_timeout_s` it goes on with what it has
        (the last message may have expired meanwhile), saying so in the log."""
        assert self._kv is not None
        js = self.bus.nc.jetstream()
        info = await when_ready(lambda: js.stream_info(f"KV_{self.bucket}"), "sessions bucket")
        last = info.state.last_seq if info.state.messages else 0
        self._puts_since_watch = set()
        # The watch is a consumer: none can be created while the cluster elects a meta
        # leader (seconds after a server was lost).
        watcher = await when_ready(self._new_watcher, "sessions watch")
        loaded = asyncio.Event()
        fresh: dict[str, Session] = {}
        progress = {"marker": 0, "revision": 0}

        def complete() -> None:  # the initial values replace the cache (but for the
            with self._lock:     # sessions created here meanwhile)
                self._cache = fresh | {k: s for k, s in self._cache.items()
                                       if k in self._puts_since_watch}
                self._puts_since_watch.clear()
            loaded.set()

        async def follow() -> None:
            async for entry in watcher:
                if entry is None:
                    progress["marker"] = 1
                else:
                    progress["revision"] = max(progress["revision"], entry.revision or 0)
                    self._apply(entry, None if loaded.is_set() else fresh)
                if not loaded.is_set() and progress["marker"] and progress["revision"] >= last:
                    complete()

        self._watcher = watcher
        self._tasks = [task for task in self._tasks if not task.done()]
        self._tasks.append(asyncio.get_running_loop().create_task(follow()))
        try:
            await asyncio.wait_for(loaded.wait(), self.load_timeout_s)
        except TimeoutError:
            log.warning("sessions bucket: %d session(s) loaded, the last change (#%d) not "
                        "seen within %g s; going on", len(fresh), last, self.load_timeout_s)
            complete()

    def _apply(self, entry: Any, target: dict[str, Session] | None) -> None:
        if entry.operation in ("DEL", "PURGE"):
            if target is not None:
                target.pop(entry.key, None)
            with self._lock:
                self._cache.pop(entry.key, None)
            return
        try:
            session = _decoder.decode(entry.value)
        except msgspec.DecodeError as exc:
            log.warning("sessions bucket: unreadable entry %s: %s", entry.key, exc)
            return
        if target is not None:
            target[entry.key] = session
        with self._lock:
            self._cache[entry.key] = session

    async def _new_watcher(self) -> Any:
        assert self._kv is not None
        return await self._kv.watchall()

    async def _rewatch(self) -> None:
        """After a reconnection: a new watch, so deletes missed meanwhile are seen. In the
        background (the other reconnection callbacks do not wait), tried again until it
        works: JetStream may still be electing its leaders past when_ready's minute."""
        async def rewatch() -> None:
            delay = 1.0
            while True:
                await self._stop_watcher()
                try:
                    await self._watch()
                    return
                except Exception as exc:
                    log.warning("sessions watch not restarted (%s: %s): trying again in %g s",
                                type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)  # back-off while JetStream recovers
                delay = min(delay * 2, 10.0)

        if self._rewatching is not None:
            self._rewatching.cancel()
        self._rewatching = asyncio.get_running_loop().create_task(rewatch())
        self._tasks.append(self._rewatching)

    async def _start_pruning(self) -> None:
        async def prune() -> None:
            while True:
                await asyncio.sleep(PRUNE_EVERY_S)
                self.prune()

        self._tasks.append(asyncio.get_running_loop().create_task(prune()))

    def prune(self) -> int:
        """Drop expired sessions from the cache (JetStream drops them by max age)."""
        now = self.clock()
        with self._lock:
            expired = [k for k, s in self._cache.items() if s.expires_at <= now]
            for key in expired:
                del self._cache[key]
        return len(expired)

    # -- SessionBackend -------------------------------------------------------------------
    def get(self, key: str) -> Session | None:
        with self._lock:
            return self._cache.get(key)

    def put(self, key: str, session: Session) -> None:
        with self._lock:
            self._cache[key] = session
            self._puts_since_watch.add(key)
        kv = self._require_kv()
        self.bus.submit(kv.put(key, _encoder.encode(session)))

    def delete(self, key: str) -> bool:
        with self._lock:
            present = self._cache.pop(key, None) is not None
        kv = self._require_kv()
        self.bus.submit(kv.delete(key))  # also when not cached here: another gateway's
        return present

    def items(self) -> list[tuple[str, Session]]:
        with self._lock:
            return list(self._cache.items())

    def _require_kv(self) -> KeyValue:
        if self._kv is None:
            raise RuntimeError("KvSessions.start() was not called")
        return self._kv
