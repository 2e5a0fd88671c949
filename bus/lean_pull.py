"""The record writer's hot path on its own lean NATS connection: pull requests, deliveries,
acknowledgements, and nothing else.

Why: nats-py spends about 20 us of the writer's 24 us a record (BENCHMARKS.md, Bus) in its
protocol parser, on every message: the `Nats-Msg-Id` header parsed character by character, a
`Msg` object, a queue. The writer needs none of it: a delivery's reply subject (where its ack
goes) and its payload (handed to DuckDB as it is). This connection speaks the few lines of
the NATS client protocol (https://docs.nats.io/reference/reference-protocols/nats-protocol)
the writer uses: CONNECT, PING/PONG, SUB, PUB, and reads MSG/HMSG deliveries with one
`find` and one `split` each.

Everything else stays nats-py's (`bus.connect`): creating the stream and the consumer, the
archive service, the views. JetStream is the engine either way: the consumer, its acks and
redeliveries are the server's; a pull request and an ack are plain NATS messages on the
`$JS.API` / `$JS.ACK` subjects, which any connection may send. So exactly once does not
depend on this connection: a delivery is acknowledged only after DuckDB committed it; a
connection lost with deliveries unacknowledged gets them again after `ack_wait`, and the
store's upsert by key makes a repeat harmless.

Limits: user/password, token and TLS as in `[bus]`; a `.creds` file (JWT + nkey signature)
is not spoken here: `lean_supported(bus)` is False and the writer uses nats-py's path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import ParseResult, urlparse

from analytics.store import CallStore
from bus.connect import tls_context
from bus.records import ACK, RecordWriter
from bus.records import log as records_log
from evscallpro.settings_file import BusSettings

log = logging.getLogger(__name__)

CRLF = b"\r\n"
PONG_TIMEOUT_S = 10.0
_CONNECT_TIMEOUT_S = 5.0
_READ_CHUNK = 1 << 18
NAK = b"-NAK"


class LeanConnectionError(ConnectionError):
    """No server took the connection, or it ended; the caller connects again."""


def lean_supported(bus: BusSettings) -> bool:
    return not bus.creds_file


class Delivery:
    """One JetStream delivery: where its ack goes, and the stored message's payload."""

    __slots__ = ("data", "reply")

    def __init__(self, reply: bytes, data: bytes) -> None:
        self.reply = reply
        self.data = data


class LeanConnection:
    """One NATS connection subscribed to one inbox. `on_delivery(delivery)` gets each stored
    message delivered there; `on_status(code, description)` each JetStream status (404 no
    messages, 408 request expired, 409...) that ends a pull request. Not thread-safe: one
    asyncio loop."""

    def __init__(
        self,
        on_delivery: Callable[[Delivery], None],
        on_status: Callable[[bytes, bytes], None],
        *,
        user: str = "",
        password: str = "",
        token: str = "",
        tls: ssl.SSLContext | None = None,
        name: str = "analytics writer (lean)",
    ) -> None:
        self.on_delivery = on_delivery
        self.on_status = on_status
        self.user, self.password, self.token, self.tls = user, password, token, tls
        self.name = name
        self.inbox = b""
        self.max_payload = 1 << 20
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._pongs: list[asyncio.Future[None]] = []
        self._confirmations: list[asyncio.Future[None]] = []
        self._confirm_subject = b""
        self._closed = True

    @property
    def is_connected(self) -> bool:
        return not self._closed

    async def connect(self, urls: Sequence[ParseResult | str], inbox: str) -> str:
        """Connect to the first of `urls` that answers, subscribe to `inbox`; returns the
        server's address. Raises LeanConnectionError when none does."""
        problems: list[str] = []
        for item in urls:
            url = urlparse(item) if isinstance(item, str) else item
            try:
                await asyncio.wait_for(self._open(url, inbox), _CONNECT_TIMEOUT_S)
                return url.netloc
            except (OSError, TimeoutError, LeanConnectionError, ValueError, ssl.SSLError) as exc:
                problems.append(f"{url.netloc}: {exc}")
                await self.close()
        raise LeanConnectionError("no NATS server took the writer's connection: "
                                  + "; ".join(problems))

    async def _open(self, url: ParseResult, inbox: str) -> None:
        host, port = url.hostname or "127.0.0.1", url.port or 4222
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
        self._reader, self._writer = reader, writer
        line = await reader.readline()
        if not line.startswith(b"INFO "):
            raise LeanConnectionError(f"not a NATS server: {line[:80]!r}")
        info = json.loads(line[5:])
        self.max_payload = int(info.get("max_payload", self.max_payload))
        tls = self.tls or (ssl.create_default_context() if url.scheme == "tls" else None)
        if info.get("tls_required") or tls is not None:
            if tls is None:
                raise LeanConnectionError("the server requires TLS: set [bus] tls_ca_file")
            await writer.start_tls(tls, server_hostname=host)
        options: dict[str, object] = {
            "verbose": False, "pedantic": False, "name": self.name, "lang": "python",
            "version": "evscallpro", "protocol": 1, "headers": True, "no_responders": True,
            "tls_required": tls is not None,
        }
        user = url.username or self.user
        password = url.password or self.password
        if user:
            options["user"], options["pass"] = user, password
        elif self.token:
            options["auth_token"] = self.token
        writer.write(b"CONNECT " + json.dumps(options).encode() + CRLF + b"PING" + CRLF)
        await writer.drain()
        while True:
            line = await reader.readline()
            if not line:
                raise LeanConnectionError("the server closed the connection at CONNECT")
            if line.startswith(b"PONG"):
                break
            if line.startswith(b"-ERR"):
                raise LeanConnectionError(line.decode(errors="replace").strip())
            if line.startswith(b"PING"):
                writer.write(b"PONG" + CRLF)
        self.inbox = inbox.encode()
        self._confirm_subject = self.inbox + b".confirm"
        writer.write(b"SUB " + self.inbox + b" 1" + CRLF
                     + b"SUB " + self._confirm_subject + b" 2" + CRLF)
        self._closed = False
        self._read_task = asyncio.create_task(self._read_loop(reader))

    async def close(self) -> None:
        self._closed = True
        task, self._read_task = self._read_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        self._fail_pongs()

    def _fail_pongs(self) -> None:
        pongs, self._pongs = self._pongs, []
        confirmations, self._confirmations = self._confirmations, []
        for waiter in pongs + confirmations:
            if not waiter.done():
                waiter.set_exception(LeanConnectionError("connection lost"))

    # -- sending --------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self._closed or self._writer is None:
            raise LeanConnectionError("the writer's connection is down")
        self._writer.write(data)

    def publish(self, subject: bytes, payload: bytes, reply: bytes = b"") -> None:
        head = b"PUB " + subject + (b" " + reply if reply else b"")
        self._write(b"%s %d\r\n%s\r\n" % (head, len(payload), payload))

    def publish_many(self, subjects: Sequence[bytes], payload: bytes) -> None:
        """The same short payload (an ack) to each subject, written in one go."""
        if subjects:
            line = b" %d\r\n%s\r\nPUB " % (len(payload), payload)
            self._write(b"PUB " + line.join(subjects) + line[:-4])

    async def acknowledge(self, replies: Sequence[bytes], payload: bytes,
                          timeout_s: float = PONG_TIMEOUT_S) -> None:
        """`payload` (+ACK) to every reply subject in one write; the last one asks JetStream
        for its answer and waits for it (nats-py's `ack_sync`): the server processed the
        acks before it (one connection, in order) when it answers."""
        if not replies:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirmations.append(waiter)
        self.publish_many(replies[:-1], payload)
        self.publish(replies[-1], payload, self._confirm_subject)
        assert self._writer is not None
        await self._writer.drain()
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError as exc:
            await self.close()
            raise LeanConnectionError(f"acknowledgement not confirmed in {timeout_s} s") from exc

    def _confirmed(self) -> None:
        if self._confirmations:
            waiter = self._confirmations.pop(0)
            if not waiter.done():
                waiter.set_result(None)

    async def flush(self, timeout_s: float | None = None) -> None:
        """Everything written so far reached the server (PING answered by PONG)."""
        timeout_s = PONG_TIMEOUT_S if timeout_s is None else timeout_s
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs.append(waiter)
        self._write(b"PING" + CRLF)
        assert self._writer is not None
        await self._writer.drain()
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError as exc:
            await self.close()
            raise LeanConnectionError(f"no PONG within {timeout_s} s") from exc

    # -- reading --------------------------------------------------------------------------

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        try:
            while True:
                chunk = await reader.read(_READ_CHUNK)
                if not chunk:
                    break
                buffer = self._parse(buffer + chunk if buffer else chunk)
        except (OSError, asyncio.IncompleteReadError) as exc:
            log.warning("the writer's NATS connection ended: %s", exc)
        except Exception:
            log.exception("the writer's NATS connection failed")
        finally:
            self._closed = True
            self._fail_pongs()

    def _parse(self, data: bytes) -> bytes:
        """Handle every complete protocol line and message of `data`; returns the rest."""
        pos, size = 0, len(data)
        find, on_delivery, confirm = data.find, self.on_delivery, self._confirm_subject
        while pos < size:
            end = find(CRLF, pos)
            if end < 0:
                break
            if data[pos] == 72:  # HMSG <subject> <sid> [reply] <header bytes> <total bytes>
                args = data[pos + 5 : end].split(b" ")
                start = end + 2
                stop = start + int(args[-1])
                if stop + 2 > size:
                    break
                header_end = start + int(args[-2])
                if args[0] == confirm:  # an answer to an ack, even a status: the server has it
                    self._confirmed()
                elif data[start + 8] == 32:  # "NATS/1.0 <code> <description>": a status
                    status = data[start + 9 : find(CRLF, start)]
                    self.on_status(status[:3], status[4:])
                else:
                    on_delivery(Delivery(args[2] if len(args) == 5 else b"",
                                         data[header_end:stop]))
                pos = stop + 2
            elif data[pos] == 77:  # MSG <subject> <sid> [reply] <bytes>
                args = data[pos + 4 : end].split(b" ")
                start = end + 2
                stop = start + int(args[-1])
                if stop + 2 > size:
                    break
                if args[0] == confirm:
                    self._confirmed()
                else:
                    on_delivery(Delivery(args[2] if len(args) == 4 else b"", data[start:stop]))
                pos = stop + 2
            else:
                self._control(data[pos:end])
                pos = end + 2
        return data[pos:]

    def _control(self, line: bytes) -> None:
        if line == b"PING":
            if self._writer is not None:
                self._writer.write(b"PONG" + CRLF)
        elif line == b"PONG":
            if self._pongs:
                waiter = self._pongs.pop(0)
                if not waiter.done():
                    waiter.set_result(None)
        elif line.startswith(b"-ERR"):
            log.warning("NATS server: %s", line.decode(errors="replace"))
        # +OK, INFO (cluster updates): nothing to do


# -- the record writer on this connection ----------------------------------------------------


class LeanRecordWriter(RecordWriter):
    """`RecordWriter` whose pulls, deliveries and acks go through a `LeanConnection`; the
    consumer is created through nats-py (`js`) as before, and the batches, the DuckDB
    writes, the ack-after-commit and the release are the parent's.

    The connection is opened at `subscribe` to the server nats-py is connected to (then the
    others it knows), and opened again when it is lost: deliveries held from the lost one
    are still written and acknowledged (an ack is a message to the delivery's reply
    subject, on any connection); those in flight are delivered again after `ack_wait`."""

    def __init__(self, js: Any, store: CallStore, *, bus: BusSettings | None = None,
                 **options: Any) -> None:
        super().__init__(js, store, **options)
        settings = bus or BusSettings()
        self.connection = LeanConnection(
            self._on_delivery, self._on_status, user=settings.user,
            password=settings.password, token=settings.token, tls=tls_context(settings),
        )
        self._delivered: list[Delivery] = []  # type: ignore[assignment]
        self._opened = False
        self.reconnects = 0

    @property
    def _subscribed(self) -> bool:
        return self._opened

    def _urls(self) -> list[ParseResult]:
        known = list(self._nc.servers)
        current = self._nc.connected_url
        return ([current] if current is not None else []) + [u for u in known if u != current]

    async def subscribe(self) -> None:
        await self.ensure_consumer()
        await self._connect()

    async def _connect(self) -> None:
        await self.connection.close()
        self._inbox = self._nc.new_inbox()
        server = await self.connection.connect(self._urls(), self._inbox)
        if self._opened:
            self.reconnects += 1
            log.warning("the writer's connection is up again (%s)", server)
        self._opened = True
        self._pulling = 0  # a request sent on the lost connection brings nothing more

    async def _connected(self) -> LeanConnection:
        if not self.connection.is_connected:
            await self._connect()
        return self.connection

    def _on_delivery(self, delivery: Delivery) -> None:
        self._delivered.append(delivery)
        self._pulling -= 1
        self._arrived.set()

    def _on_status(self, code: bytes, description: bytes) -> None:
        if code not in (b"100", b"404", b"408"):
            records_log.info("record pull ended: %s %s", code.decode(), description.decode())
        self._pulling = 0
        self._arrived.set()

    async def _request_next(self, subject: str, request: bytes) -> None:
        connection = await self._connected()
        connection.publish(subject.encode(), request, self._inbox.encode())

    async def _pull(self, timeout_s: float) -> None:
        if (self._pulling > 0 and time.monotonic() >= self._pull_deadline
                and self.connection.is_connected):
            # The last request passed its expiry with no 408 from the server: is it there?
            # (a connection cut without a reset would be noticed only minutes later)
            await self.connection.flush()
        await super()._pull(timeout_s)

    async def _acknowledge(self, messages: list[Any]) -> None:
        """Every delivery's `+ACK` in one write, the last one confirmed by JetStream."""
        connection = await self._connected()
        await connection.acknowledge([m.reply for m in messages], ACK)

    async def release(self, within_s: float = 5.0) -> int:
        deadline = min(self._pull_deadline, time.monotonic() + within_s)
        while self._pulling > 0 and self.connection.is_connected:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)
        held, self._delivered = self._delivered, []
        if held and self.connection.is_connected:
            with contextlib.suppress(LeanConnectionError):
                self.connection.publish_many([m.reply for m in held], NAK)
                await self.connection.flush()
        await self.connection.close()
        self._opened = False
        return len(held)
