"""Watches the browser softphones' PJSIP endpoints and ends a call whose softphone is gone.

A browser closed mid-call sends no SIP: Asterisk keeps the channel Up and only the endpoint
going offline says the agent left (trace W05). This watcher opens its own events socket
for the Stasis app `<app>-endpoints` (not the core's app: an endpoint subscription also
delivers that endpoint's channel events, so the core's app would get every event twice),
subscribes it to `endpoint:PJSIP/<endpoint>` of each agent with a browser softphone (only
the ones not already subscribed: Asterisk counts subscriptions and keeps them across
sockets), reads each endpoint's state, then follows EndpointStateChange. When an endpoint
goes offline while its agent is in a softphone call, it asks the core to end that call
(`hang_up_call(call_id, by="softphone_offline")`, named `agent_softphone_lost` in the
record by core/softphone.py). Reconnects with a bounded back-off; never blocks an actor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import aiohttp

from actors.loop import EventLoopThread
from core.softphone import SoftphoneBook

log = logging.getLogger(__name__)

_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)


class SoftphonePresence:
    def __init__(self, ari_url: str, user: str, password: str, app: str,
                 endpoints: dict[str, str], end_call: Callable[[str], object]) -> None:
        """`endpoints`: agent id -> endpoint; `end_call(call_id)` ends a live call."""
        self.base = ari_url.rstrip("/") + "/ari"
        self.headers = {"Authorization": aiohttp.encode_basic_auth(user, password)}
        self.app = f"{app}-endpoints"
        self.book = SoftphoneBook(endpoints)
        self.end_call = end_call
        self.ready = threading.Event()  # the first states are read
        self.ended_calls: list[str] = []
        self._lock = threading.Lock()
        self._thread = EventLoopThread("evs-softphone-presence")
        self._task: concurrent.futures.Future[None] | None = None
        self._stopping = False

    # -- from actor threads -----------------------------------------------------------------
    def on_view(self, view: object) -> None:
        with self._lock:
            self.book.on_view(view)

    def online(self, endpoint: str) -> bool | None:
        with self._lock:
            return self.book.online.get(endpoint)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> SoftphonePresence:
        self._thread.start()
        self._task = asyncio.run_coroutine_threadsafe(self._run(), self._thread.loop)
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(concurrent.futures.CancelledError, concurrent.futures.TimeoutError):
                self._task.result(timeout=2.0)
        self._thread.stop()

    # -- the socket ---------------------------------------------------------------------------
    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                async with aiohttp.ClientSession(headers=self.headers) as http:
                    ws = await http.ws_connect(self.base + "/events", params={"app": self.app})
                    await self._subscribe(http)
                    for endpoint in self.book.endpoint_names():
                        async with http.get(f"{self.base}/endpoints/PJSIP/{endpoint}") as resp:
                            if resp.status == 200:
                                self._state(endpoint, (await resp.json()).get("state", ""))
                    self.ready.set()
                    attempt = 0
                    async for message in ws:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            self._event(message.data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Asterisk away: try again, bounded back-off
                log.warning("softphone presence: %s", exc)
            delay = _BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)]
            attempt += 1
            await asyncio.sleep(delay)

    async def _subscribe(self, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{self.base}/applications/{self.app}") as resp:
            have = set((await resp.json()).get("endpoint_ids", [])) if resp.status == 200 else set()
        wanted = [f"endpoint:PJSIP/{e}" for e in self.book.endpoint_names()
                  if f"PJSIP/{e}" not in have]
        if wanted:
            async with http.post(f"{self.base}/applications/{self.app}/subscription",
                                 params={"eventSource": ",".join(wanted)}) as resp:
                if resp.status != 200:
                    log.warning("softphone presence: subscription refused: %s %s",
                                resp.status, await resp.text())

    def _event(self, data: str) -> None:
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            event: dict[str, Any] = json.loads(data)
            if event.get("type") == "EndpointStateChange":
                endpoint = event["endpoint"]
                if endpoint.get("technology") == "PJSIP":
                    self._state(endpoint["resource"], endpoint.get("state", ""))

    def _state(self, endpoint: str, state: str) -> None:
        with self._lock:
            calls = self.book.endpoint_state(endpoint, state)
        for call_id in calls:
            log.warning("softphone %s went offline during call %s: ending it", endpoint, call_id)
            self.ended_calls.append(call_id)
            try:
                self.end_call(call_id)
            except Exception:
                log.exception("softphone presence: ending call %s failed", call_id)
