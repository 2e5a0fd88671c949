"""A browser's desk over the real protocol, for the multi-process tests: POST /login, the
/ws socket, the fragments it receives (htmx out-of-band swaps) kept as the latest HTML per
element id, the actions a page sends (`ws-send` forms as JSON).

It reconnects by itself with the same cookie (a gateway restarted, or another gateway
behind the same name): `reconnects` counts it and `signed_out` is set if a gateway ever
answers 401 to the cookie.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from collections.abc import Callable
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

OOB_ID = re.compile(r'<([a-z]+)\b[^>]*\bid="([^"]+)"')
AGENT_STATE = re.compile(r'id="agent-state" data-state="([a-z_]+)"')
WRAPUP = re.compile(r'<form ws-send class="card wrapup".*?name="call_id" value="([^"]+)"', re.S)
OFFERED = re.compile(r'name="disposition" value="([^"]+)"')
ROW_STEP = re.compile(r'class="call-step" data-step="([a-z_]+)"')


class Desk:
    def __init__(self, user_id: str, password: str, base: str) -> None:
        self.user_id = user_id
        self.password = password
        self.base = base  # e.g. http://127.0.0.1:8081 (may change: move_to)
        self.cookie = ""
        self.frames: list[str] = []
        self.state = ""  # the agent desk's data-state
        self.rows: dict[str, tuple[str, str]] = {}  # wallboard: agent -> (state, call step)
        self.wrapups: set[str] = set()  # call ids the wrap-up form was shown for
        self.reconnects = 0
        self.signed_out = False
        self.auto_qualify = True
        self._ws: ClientConnection | None = None
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._qualified: set[str] = set()

    async def log_in(self) -> None:
        token = base64.b64encode(f"{self.user_id}:{self.password}".encode()).decode()
        async with aiohttp.ClientSession() as http, http.post(
            self.base + "/login",
            headers={"Origin": self.base, "Authorization": f"Basic {token}"},
            allow_redirects=False,
        ) as resp:
            cookie = resp.headers.get("Set-Cookie", "")
            if resp.status != 200 or not cookie:
                raise AssertionError(f"{self.user_id}: login answered {resp.status}")
            self.cookie = cookie.split(";")[0]

    def open(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"desk-{self.user_id}")

    def move_to(self, base: str) -> None:
        """The load balancer now sends this browser to another gateway (same cookie)."""
        self.base = base
        ws, self._ws = self._ws, None  # nothing more is sent on the old socket
        if ws is not None:
            ws.transport.abort()

    async def _run(self) -> None:
        backoff = 0.1
        while not self._closing:
            url = self.base.replace("http://", "ws://") + "/ws"
            try:
                self._ws = await connect(
                    url, origin=self.base,  # type: ignore[arg-type]
                    additional_headers={"Cookie": self.cookie}, compression=None,
                    max_size=16 * 2**20, open_timeout=10,
                )
            except InvalidStatus as exc:
                if exc.response.status_code == 401:
                    self.signed_out = True
                await asyncio.sleep(backoff)  # the gateway answers, but not yet to us
                backoff = min(1.0, backoff * 2)
                continue
            except (OSError, TimeoutError):
                await asyncio.sleep(backoff)  # the gateway is down: try again
                backoff = min(1.0, backoff * 2)
                continue
            backoff = 0.1
            ws = self._ws
            try:
                async for message in ws:
                    text = message if isinstance(message, str) else message.decode()
                    await self._on_frame(text)
            except Exception:
                pass
            if self._ws is ws:
                self._ws = None
            if not self._closing:
                self.reconnects += 1

    async def _on_frame(self, frame: str) -> None:
        self.frames.append(frame)
        match = AGENT_STATE.search(frame)
        if match:
            self.state = match.group(1)
        for row in re.finditer(r'<div id="row-([^"]+)" class="wb-row row-([a-z_]+)"', frame):
            rest = frame[row.end():]
            nxt = rest.find('class="wb-row')
            step = ROW_STEP.search(rest if nxt < 0 else rest[:nxt])
            self.rows[row.group(1)] = (row.group(2), step.group(1) if step else "")
        wrapup = WRAPUP.search(frame)
        if wrapup:
            self.wrapups.add(wrapup.group(1))
            if self.auto_qualify and wrapup.group(1) not in self._qualified:
                self._qualified.add(wrapup.group(1))
                offered = OFFERED.search(frame, wrapup.end())
                await self.send({"action": "qualify", "call_id": wrapup.group(1),
                                 "disposition": offered.group(1) if offered else "sale",
                                 "comment": "", "callback_at": ""})
        async with self._changed:
            self._changed.notify_all()

    async def send(self, message: dict[str, Any]) -> None:
        for _ in range(100):
            ws = self._ws
            if ws is not None:
                with contextlib.suppress(Exception):
                    await ws.send(json.dumps({**message, "HEADERS": {"HX-Request": "true"}}))
                    return
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.2)
        raise AssertionError(f"{self.user_id}: no socket to send {message['action']}")

    async def wait(self, predicate: Callable[[Desk], bool], timeout_s: float, what: str) -> None:
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

        try:
            await asyncio.wait_for(until(), timeout_s)
        except TimeoutError:
            raise AssertionError(
                f"{self.user_id}@{self.base}: not {what} within {timeout_s:.0f} s "
                f"(state {self.state!r}, rows {self.rows}, reconnects {self.reconnects}, "
                f"signed out {self.signed_out}, last frame {self.frames[-1:]!r:.300})"
            ) from None

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
