"""The ARI port: the only place in the core that performs ARI REST requests.

An actor hands it a `core.ari_commands` command and a reply-to (anything with `tell`); the
port schedules the request on the asyncio loop and tells the outcome back as
`AriCommandSucceeded` / `AriCommandFailed`. Nothing here blocks the calling actor.

Hang-ups and bridge deletions that fail with 5xx or get no answer are sent again after a
back-off (core/retry.py) before the outcome is told, so every machine gets the retry; the
retries go on even when the actor that asked has stopped meanwhile.

Why plain aiohttp rather than aioari's generated operations: one persistent session with
keep-alive, a clean (status, ARI message) pair on errors (aioari raises HTTPError and the
message is buried in the response text), no Swagger round-trips, and the query shapes are the
ones recorded from Asterisk 22 (tests/fixtures/ari-traces).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from actors.loop import EventLoopThread
from actors.messages import Teller
from core.ari_commands import (
    AddToBridge,
    AnswerChannel,
    AriCommand,
    AriCommandFailed,
    AriCommandOutcome,
    AriCommandSucceeded,
    CreateBridge,
    CreateChannel,
    DestroyBridge,
    DialChannel,
    HangupChannel,
    OriginateChannel,
    PlayMedia,
    RecordBridge,
    RemoveFromBridge,
    SendDtmf,
    SetChannelVar,
    SnoopChannel,
    StartMusicOnHold,
    StartRinging,
    StopMusicOnHold,
    StopPlayback,
    StopRecording,
    StopRinging,
)
from core.retry import RetryPolicy, is_retryable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AriRequest:
    method: str
    path: str  # below /ari, starting with "/"
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


def _q(value: str) -> str:
    return quote(value, safe="")


def _opt(query: dict[str, str], key: str, value: str | None) -> None:
    if value:
        query[key] = value


def request_for(command: AriCommand) -> AriRequest:
    """Map one command to its REST request (shapes as recorded from Asterisk 22)."""
    match command:
        case OriginateChannel():
            query = {
                "endpoint": command.endpoint,
                "app": command.app,
                "channelId": command.channel_id,
                "timeout": str(command.timeout_s),
            }
            _opt(query, "appArgs", command.app_args)
            _opt(query, "callerId", command.caller_id)
            _opt(query, "otherChannelId", command.other_channel_id)
            _opt(query, "originator", command.originator)
            body = {"variables": dict(command.variables)} if command.variables else None
            return AriRequest("POST", "/channels", query, body)
        case CreateChannel():
            query = {
                "endpoint": command.endpoint,
                "app": command.app,
                "channelId": command.channel_id,
            }
            _opt(query, "appArgs", command.app_args)
            _opt(query, "otherChannelId", command.other_channel_id)
            _opt(query, "originator", command.originator)
            body = {"variables": dict(command.variables)} if command.variables else None
            return AriRequest("POST", "/channels/create", query, body)
        case DialChannel():
            query = {"timeout": str(command.timeout_s)}
            _opt(query, "caller", command.caller)
            return AriRequest("POST", f"/channels/{_q(command.channel_id)}/dial", query)
        case AnswerChannel():
            return AriRequest("POST", f"/channels/{_q(command.channel_id)}/answer")
        case StartRinging():
            return AriRequest("POST", f"/channels/{_q(command.channel_id)}/ring")
        case StopRinging():
            return AriRequest("DELETE", f"/channels/{_q(command.channel_id)}/ring")
        case StartMusicOnHold():
            return AriRequest(
                "POST", f"/channels/{_q(command.channel_id)}/moh", {"mohClass": command.moh_class}
            )
        case StopMusicOnHold():
            return AriRequest("DELETE", f"/channels/{_q(command.channel_id)}/moh")
        case PlayMedia():
            return AriRequest(
                "POST",
                f"/channels/{_q(command.channel_id)}/play/{_q(command.playback_id)}",
                {"media": ",".join(command.media), "lang": command.lang},
            )
        case StopPlayback():
            return AriRequest("DELETE", f"/playbacks/{_q(command.playback_id)}")
        case HangupChannel():
            return AriRequest(
                "DELETE", f"/channels/{_q(command.channel_id)}", {"reason": command.reason}
            )
        case SetChannelVar():
            return AriRequest(
                "POST",
                f"/channels/{_q(command.channel_id)}/variable",
                {"variable": command.variable, "value": command.value},
            )
        case SendDtmf():
            return AriRequest(
                "POST", f"/channels/{_q(command.channel_id)}/dtmf", {"dtmf": command.dtmf}
            )
        case SnoopChannel():
            query = {
                "spy": command.spy,
                "whisper": command.whisper,
                "app": command.app,
                "snoopId": command.snoop_id,
            }
            _opt(query, "appArgs", command.app_args)
            return AriRequest("POST", f"/channels/{_q(command.channel_id)}/snoop", query)
        case CreateBridge():
            query = {"type": command.type, "bridgeId": command.bridge_id}
            _opt(query, "name", command.name)
            return AriRequest("POST", "/bridges", query)
        case AddToBridge():
            return AriRequest(
                "POST",
                f"/bridges/{_q(command.bridge_id)}/addChannel",
                {"channel": ",".join(command.channel_ids)},
            )
        case RemoveFromBridge():
            return AriRequest(
                "POST",
                f"/bridges/{_q(command.bridge_id)}/removeChannel",
                {"channel": ",".join(command.channel_ids)},
            )
        case DestroyBridge():
            return AriRequest("DELETE", f"/bridges/{_q(command.bridge_id)}")
        case RecordBridge():
            return AriRequest(
                "POST",
                f"/bridges/{_q(command.bridge_id)}/record",
                {
                    "name": command.name,
                    "format": command.format,
                    "ifExists": command.if_exists,
                    "beep": "true" if command.beep else "false",
                    "maxDurationSeconds": str(command.max_duration_s),
                    "terminateOn": "none",
                },
            )
        case StopRecording():
            return AriRequest("POST", f"/recordings/live/{_q(command.name)}/stop")
    raise ValueError(f"no REST mapping for {type(command).__name__}")


def error_message(body: Any, text: str) -> str:
    """ARI says why in `message` (sometimes `error`, e.g. 500 Allocation failed)."""
    if isinstance(body, dict):
        for key in ("message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return text.strip()[:200] or "no message"


class AriPort:
    """Thread-safe front of one aiohttp session on the core's asyncio loop."""

    def __init__(
        self,
        loop_thread: EventLoopThread,
        base_url: str,
        username: str,
        password: str,
        request_timeout_s: float = 10.0,
        max_connections: int = 64,  # below http.conf's sessionlimit (200)
        on_outcome: Callable[[AriCommandOutcome, float], None] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._loop_thread = loop_thread
        self._base = base_url.rstrip("/") + "/ari"
        self._headers = {"Authorization": aiohttp.encode_basic_auth(username, password)}
        # Per request on the wire, not counting the wait for a pooled connection: a burst of
        # hang-ups queues in the pool instead of failing with "no answer".
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=min(5.0, request_timeout_s), sock_read=request_timeout_s
        )
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._on_outcome = on_outcome
        self.retry = retry or RetryPolicy()
        self.sent = 0
        self.failed = 0
        self.retried = 0
        self._closing = False
        self._running: set[asyncio.Task[None]] = set()

    # -- lifecycle (called from the composition root) ------------------------------------
    def start(self) -> None:
        self._closing = False
        self._loop_thread.submit(self._open()).result(5)

    async def _open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._max_connections),
            )

    def stop(self) -> None:
        self._closing = True  # a command failing from now on is not tried again
        if self._loop_thread.running:
            try:
                self._loop_thread.submit(self._close()).result(5)
            except Exception:  # the loop may already be gone: nothing left to close
                log.debug("ARI port close skipped", exc_info=True)

    async def _close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- commands ---------------------------------------------------------------------------
    def send(self, command: AriCommand, reply_to: Teller | None) -> None:
        """Perform `command`; tell the outcome to `reply_to` (if any). Returns at once."""
        self._loop_thread.post(self._spawn, command, reply_to)

    def _spawn(self, command: AriCommand, reply_to: Teller | None) -> None:
        task = asyncio.get_running_loop().create_task(self._execute(command, reply_to))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _execute(self, command: AriCommand, reply_to: Teller | None) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            started = loop.time()
            outcome = await self.execute(command)
            if self._on_outcome is not None:
                self._on_outcome(outcome, loop.time() - started)
            if not isinstance(outcome, AriCommandFailed):
                break
            if not is_retryable(command, outcome.status) or self._closing:
                break
            failures += 1
            wait = self.retry.wait_before(failures)
            if wait is None:
                log.warning("ARI %s: gave up after %d failures", type(command).__name__, failures)
                break
            self.retried += 1
            log.warning(
                "ARI %s -> %s %s; again in %.2fs",
                type(command).__name__,
                outcome.status,
                outcome.message,
                wait,
            )
            await asyncio.sleep(wait)
        if reply_to is not None:
            try:
                reply_to.tell(outcome)
            except Exception:  # the actor is gone (call ended): the answer is moot
                log.debug("reply to a stopped actor dropped: %s", type(command).__name__)

    async def execute(self, command: AriCommand) -> AriCommandOutcome:
        """Run one command on the loop and return its outcome (never raises)."""
        self.sent += 1
        try:
            req = request_for(command)
        except ValueError as exc:
            self.failed += 1
            return AriCommandFailed(command=command, status=0, message=str(exc))
        status, body, text = await self.request(req)
        if 200 <= status < 300:
            return AriCommandSucceeded(command=command, status=status, body=body)
        self.failed += 1
        log.info("ARI %s %s -> %s %s", req.method, req.path, status, error_message(body, text))
        return AriCommandFailed(command=command, status=status, message=error_message(body, text))

    async def request(self, req: AriRequest) -> tuple[int, Any, str]:
        """(status, decoded JSON or None, raw text); status 0 when no answer came."""
        if self._session is None:
            await self._open()
        assert self._session is not None
        try:
            async with self._session.request(
                req.method, self._base + req.path, params=req.query or None, json=req.body
            ) as resp:
                text = await resp.text()
                body: Any = None
                if text:
                    try:
                        body = json.loads(text)
                    except ValueError:
                        body = None
                return resp.status, body, text
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return 0, None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    def get(self, path: str, query: dict[str, str] | None = None) -> Any:
        """Coroutine-returning helper for the reconciler: GET path -> (status, body, text)."""
        return self.request(AriRequest("GET", path, query or {}))
