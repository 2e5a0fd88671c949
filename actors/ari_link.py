"""The ARI link: one events WebSocket for our Stasis app, kept open with back-off.

aioari's `client.run()` returns when the socket closes and never reconnects, so this module
loops: connect (aioari.connect reads the Swagger docs, which also checks the credentials),
open the events socket, announce `AriLinkUp` (the reconciler lists channels and bridges then,
because Asterisk replays nothing), drain, and on close wait a capped exponential back-off with
full jitter before the next attempt.

The link drains the socket itself (aioari's `run()` would return on close and parse every
message with `json.loads` into a dict for its listeners): each text frame goes straight from
its JSON text into a typed Struct with one reusable msgspec decoder
(`core.ari_events.decode_event_json`, ~1 µs, no dict in between), and is `tell()`-ed to the
Switchboard at once, stamped with its arrival time (`Arrived`): nothing slow ever runs on the
loop. aioari still does the connection (Swagger, credentials) and the socket.

ApplicationReplaced: another process opened a socket under our app name and Asterisk now sends
it our events. Reconnecting would steal the app back and the two processes would flap, each
losing events, so the link logs an error, announces `AriAppReplaced`, closes its socket and
stops. Operators must give every other tool (`evscallpro dial`, tests) its own app name.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import aioari
import aiohttp
from aioswagger11.http_client import ApiKeyAuthenticator, AsynchronousHttpClient

from actors.loop import EventLoopThread
from actors.messages import AriAppReplaced, AriLinkDown, AriLinkUp, Arrived
from analytics import metrics
from core.ari_events import ApplicationReplaced, AriEvent, UnhandledEvent, decode_event_json

log = logging.getLogger(__name__)

LinkNotice = AriLinkUp | AriLinkDown | AriAppReplaced


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Full-jitter exponential back-off: uniform(0, min(cap, base * 2**attempt))."""
    return rng.uniform(0.0, min(cap_s, base_s * (2 ** min(attempt, 30))))


class AriLink:
    def __init__(
        self,
        loop_thread: EventLoopThread,
        base_url: str,
        username: str,
        password: str,
        app: str,
        on_event: Callable[[Arrived], None],
        on_notice: Callable[[LinkNotice], None],
        backoff_base_s: float = 0.2,
        backoff_cap_s: float = 10.0,
    ) -> None:
        self._loop_thread = loop_thread
        self._base_url = base_url.rstrip("/") + "/"
        self._username = username
        self._password = password
        self.app = app
        self._deliver = on_event
        self._notice = on_notice
        self._backoff_base = backoff_base_s
        self._backoff_cap = backoff_cap_s
        self._rng = random.Random()
        self._task: concurrent.futures.Future[None] | None = None
        self._client: Any = None
        self._ws: Any = None
        self._stopping = False
        self.generation = 0
        self.events_received = 0
        self.connected = False
        self.replaced = False
        self.last_error = ""

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._task = self._loop_thread.submit(self._run_forever())

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        if self._task is None or not self._loop_thread.running:
            return
        try:
            self._loop_thread.submit(self._shutdown()).result(timeout)
        except Exception:
            log.debug("ARI link shutdown incomplete", exc_info=True)
        self._task.cancel()

    async def _close_ws(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def _shutdown(self) -> None:
        await self._close_ws()
        await self._drop_client()

    # -- the loop -------------------------------------------------------------------------
    async def _run_forever(self) -> None:
        attempt = 0
        while not self._stopping and not self.replaced:
            reason = "closed"
            try:
                if self._client is None:
                    self._client = await self._connect()
                ws = await self._client.swagger.events.eventWebsocket(app=self.app)
                self._ws = ws
                self.generation += 1
                self.connected = True
                attempt = 0
                log.info(
                    "ARI events socket open (app=%s, generation %d)", self.app, self.generation
                )
                self._notice(AriLinkUp(generation=self.generation, at=time.time()))
                await self._drain(ws)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection refused, 401, bad Swagger: retry later
                reason = f"{type(exc).__name__}: {exc}"
                self.last_error = reason
                log.warning("ARI connect failed: %s", reason)
                await self._drop_client()
            finally:
                self._ws = None
            if self.connected:
                self.connected = False
                self._notice(AriLinkDown(reason=reason, at=time.time()))
            if self._stopping or self.replaced:
                break
            delay = backoff_delay(attempt, self._backoff_base, self._backoff_cap, self._rng)
            attempt += 1
            log.info("ARI reconnect in %.2fs (attempt %d)", delay, attempt)
            await asyncio.sleep(delay)

    async def _connect(self) -> Any:
        """aioari.connect, except that a failed connect closes its HTTP session."""
        host = urllib.parse.urlparse(self._base_url).netloc.split(":")[0]
        http_client = AsynchronousHttpClient(
            auth=ApiKeyAuthenticator(host, f"{self._username}:{self._password}")
        )
        client = aioari.Client(self._base_url, http_client)
        try:
            await client.init()
        except BaseException:
            await http_client.close()
            raise
        return client

    async def _drop_client(self) -> None:
        if self._client is not None:
            try:
                await self._client.close()
            except Exception:
                log.debug("aioari client close failed", exc_info=True)
            self._client = None

    async def _drain(self, ws: Any) -> None:
        try:
            while True:
                msg = await ws.receive()
                if msg is None or msg.type in (
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.ERROR,
                ):
                    return
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                self.on_frame(msg.data)
                if self.replaced:
                    return
        finally:
            await ws.close()

    def on_frame(self, text: str | bytes) -> None:
        """One events-socket text frame: decode and hand over, nothing else (runs on the loop)."""
        event = decode_event_json(text)
        if isinstance(event, UnhandledEvent) and event.type == "?":
            log.warning("ARI sent a frame that is not an event (%s): %.200r", event.reason, text)
            return
        self.events_received += 1
        if isinstance(event, ApplicationReplaced):
            self.replaced = True
            log.error(
                "ARI app %r was taken over by another events socket (ApplicationReplaced): "
                "this core stops listening; give other tools their own --app name",
                self.app,
            )
            self._notice(AriAppReplaced(app=self.app, at=time.time()))
            return
        if isinstance(event, UnhandledEvent) and event.reason:
            log.warning("undecodable ARI event %s: %s", event.type, event.reason)
        metrics.ari_event(event_type(event))
        self._deliver(Arrived(event=event, at=time.perf_counter()))


def event_type(event: AriEvent | UnhandledEvent) -> str:
    """The ARI `type` of a decoded event (its Struct tag), for the per-type counter."""
    if isinstance(event, UnhandledEvent):
        return event.type
    return str(event.__struct_config__.tag)
