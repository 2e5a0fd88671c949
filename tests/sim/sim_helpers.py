"""Helpers for the simulator's own tests: an ARI HTTP session and an events tap."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from asterisk.sim.testing import SimHandle

Event = dict[str, Any]
WAIT_S = 5.0


def channel_id(event: Event) -> str | None:
    for key in ("channel", "peer"):
        if isinstance(event.get(key), dict):
            return event[key].get("id")
    return None


def signature(event: Event) -> str:
    kind = event["type"]
    if kind == "ChannelVarset":
        return f"{kind}:{event['variable']}"
    if kind == "Dial":
        return f"Dial:{event['dialstatus']}"
    if kind == "ChannelStateChange":
        return f"{kind}:{event['channel']['state']}"
    if "cause" in event:
        return f"{kind}:{event['cause']}"
    return kind


class EventTap:
    """Reads one events WebSocket into a list; tests wait on predicates, never sleep."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[Event] = []
        self.closed = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                async with self._changed:
                    self.events.append(json.loads(message.data))
                    self._changed.notify_all()
        finally:
            self.closed.set()
            async with self._changed:
                self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[Event], bool], timeout: float = WAIT_S) -> Event:
        async def find() -> Event:
            async with self._changed:
                seen = 0
                while True:
                    for event in self.events[seen:]:
                        if predicate(event):
                            return event
                    seen = len(self.events)
                    if self.closed.is_set():
                        raise AssertionError("events socket closed before the event came")
                    await self._changed.wait()

        return await asyncio.wait_for(find(), timeout)

    async def wait_type(self, kind: str, cid: str | None = None, timeout: float = WAIT_S) -> Event:
        return await self.wait_for(
            lambda e: e["type"] == kind and (cid is None or channel_id(e) == cid), timeout
        )

    def of(self, cid: str) -> list[str]:
        return [signature(e) for e in self.events if channel_id(e) == cid]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    async def close(self) -> None:
        await self.ws.close()
        self._task.cancel()


def auth_header(sim: SimHandle) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(sim.username, sim.password)}


async def open_tap(http: aiohttp.ClientSession, sim: SimHandle, app: str = "evscallpro",
                   subscribe_all: bool = False) -> EventTap:
    ws = await http.ws_connect(
        sim.ari_url + "/events",
        params={"app": app, "subscribeAll": "true" if subscribe_all else "false"},
        headers=auth_header(sim),
    )
    return EventTap(ws)


async def ari(http: aiohttp.ClientSession, sim: SimHandle, method: str, path: str,
              **kwargs: Any) -> tuple[int, Any]:
    async with http.request(method, sim.ari_url + path, headers=auth_header(sim),
                            **kwargs) as response:
        text = await response.text()
        body = json.loads(text) if text and response.content_type == "application/json" else text
        return response.status, body
