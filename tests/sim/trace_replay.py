"""Replay a recorded trace's requests and WebSocket actions against a live ARI server.

The recorded core was reactive: it played a prompt after StasisStart, bridged after the
customer's StasisStart. So before each action (request, socket connect/close) the replayer
waits, with a timeout, until the server has delivered the events that preceded that action
in the trace (matched by connection, stream and signature). Gaps that come from the far-end
phone or from the recorded core deliberately waiting (S13 disconnected periods, S12 "no
event after 3 s") are then paced in scaled time relative to the latest matched step.
A wait that times out is noted and its events waived, so one gap cannot stall the rest
of the replay; the waits stay short (0.15 s + 1.5x the scaled recorded gap) because every
wall second spent waiting is time_scale simulated seconds in which the far-end phones
move on. Whether the event came late or never is judged at the end, from the streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from trace_compare import RestAnswer
from trace_model import TraceEvent, conn_of, events_of, signature, stream_of

Json = Any
EventKey = tuple[str, str, str]  # conn, stream, signature
MAX_PACING_S = 30.0


@dataclass(frozen=True)
class Target:
    """Where and as whom to replay: the simulator handle's fields."""

    base_url: str  # http://127.0.0.1:PORT (paths in traces start with /ari)
    username: str
    password: str


@dataclass(frozen=True)
class ObservedEvent:
    conn: str
    wall: float
    stream: str
    sig: str
    body: dict[str, Json]

    @property
    def key(self) -> EventKey:
        return (self.conn, self.stream, self.sig)


@dataclass
class Observation:
    """What the server did during one replay."""

    responses: dict[int, RestAnswer] = field(default_factory=dict)
    events: list[ObservedEvent] = field(default_factory=list)
    ws_status: dict[int, int | None] = field(default_factory=dict)  # step index -> status
    timed_out_waits: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def streams(self) -> dict[tuple[str, str], list[tuple[str, dict[str, Json]]]]:
        grouped: dict[tuple[str, str], list[tuple[str, dict[str, Json]]]] = {}
        for ev in self.events:
            grouped.setdefault((ev.conn, ev.stream), []).append((ev.sig, ev.body))
        return grouped


def _auth_for(spec: object, target: Target) -> dict[str, str]:
    """`auth` on a recorded step: absent = the configured user, else `basic user:pass` or none."""
    if spec is None:
        return {"Authorization": aiohttp.encode_basic_auth(target.username, target.password)}
    text = str(spec)
    if text.startswith("basic "):
        user, _, password = text[len("basic "):].partition(":")
        return {"Authorization": aiohttp.encode_basic_auth(user, password)}
    return {}


def _as_str_params(query: object) -> dict[str, str]:
    if not isinstance(query, dict):
        return {}
    return {str(k): str(v) for k, v in query.items()}


class Replayer:
    """One replay of one trace file against one server; use `await run()` once."""

    def __init__(
        self,
        trace: dict[str, Json],
        target: Target,
        *,
        time_scale: float,
        min_event_timeout_s: float = 0.15,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self._steps: list[dict[str, Json]] = trace["steps"]
        self._target = target
        self._scale = time_scale
        self._min_timeout = min_event_timeout_s
        self._trace_events: list[TraceEvent] = events_of(trace)
        self._obs = Observation()
        self._received: Counter[EventKey] = Counter()
        self._waived: Counter[EventKey] = Counter()
        self._arrivals: dict[EventKey, list[float]] = {}
        self._changed = asyncio.Condition()
        self._sockets: dict[str, aiohttp.ClientWebSocketResponse] = {}
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._step_wall: dict[int, float] = {}  # trace step index -> when we saw its match
        self._last_action_t = 0.0

    # ------------------------------------------------------------ main loop

    async def run(self) -> Observation:
        timeout = aiohttp.ClientTimeout(total=10.0)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            self._session = session
            try:
                for index, step in enumerate(self._steps):
                    await self._do_step(index, step)
                await self._wait_events_before(len(self._steps))
            finally:
                await self._close_all()
        return self._obs

    async def _do_step(self, index: int, step: dict[str, Json]) -> None:
        kind = step["kind"]
        if kind == "request":
            await self._before_action(index, step)
            await self._request(index, step)
        elif kind == "ws" and step.get("action") in ("connect", "probe_connect", "close"):
            await self._before_action(index, step)
            await self._ws_action(index, step)

    async def _before_action(self, index: int, step: dict[str, Json]) -> None:
        await self._wait_events_before(index)
        await self._pace(index, float(step["t_ms"]))
        self._last_action_t = float(step["t_ms"])

    # ------------------------------------------------------------ waiting

    def _required_before(self, index: int) -> Counter[EventKey]:
        need: Counter[EventKey] = Counter()
        for ev in self._trace_events:
            if ev.index >= index:
                break
            need[(ev.conn, ev.stream, ev.sig)] += 1
        return need

    def _shortfall(self, need: Counter[EventKey]) -> Counter[EventKey]:
        short: Counter[EventKey] = Counter()
        for key, count in need.items():
            lacking = count - self._received[key] - self._waived[key]
            if lacking > 0:
                short[key] = lacking
        return short

    async def _wait_events_before(self, index: int) -> None:
        need = self._required_before(index)
        upcoming_t = float(self._steps[index]["t_ms"]) if index < len(self._steps) else (
            float(self._steps[-1]["t_ms"]) if self._steps else 0.0)
        gap_s = max(0.0, upcoming_t - self._last_action_t) / 1000.0 / self._scale
        timeout = self._min_timeout + 1.5 * gap_s
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: not self._shortfall(need)), timeout
                )
            short = self._shortfall(need)
        for key, lacking in short.items():
            self._waived[key] += lacking
            where = f"before step {index}" if index < len(self._steps) else "at the end"
            self._obs.timed_out_waits.append(
                f"{where}: {lacking} x {key[2]} on stream {key[1]} (ws {key[0]}) "
                f"not delivered within {timeout:.1f} s"
            )

    def _anchor(self, index: int) -> tuple[float, float] | None:
        """(trace t_ms, wall time) of the latest step before `index` we saw happen."""
        for back in range(index - 1, -1, -1):
            step = self._steps[back]
            if step["kind"] == "event":
                ev_key = (conn_of(step), stream_of(step["event"]), signature(step["event"]))
                nth = sum(
                    1 for ev in self._trace_events
                    if ev.index < back and (ev.conn, ev.stream, ev.sig) == ev_key
                )
                arrivals = self._arrivals.get(ev_key, [])
                if nth < len(arrivals):
                    return float(step["t_ms"]), arrivals[nth]
            elif back in self._step_wall:
                return float(step["t_ms"]), self._step_wall[back]
        return None

    async def _pace(self, index: int, t_ms: float) -> None:
        anchor = self._anchor(index)
        if anchor is None:
            return
        trace_t, wall = anchor
        delay = (t_ms - trace_t) / 1000.0 / self._scale - (time.monotonic() - wall)
        if delay > 0:
            await asyncio.sleep(min(delay, MAX_PACING_S))

    # ------------------------------------------------------------ REST

    async def _request(self, index: int, step: dict[str, Json]) -> None:
        url = self._target.base_url.rstrip("/") + str(step["path"])
        kwargs: dict[str, Any] = {
            "params": _as_str_params(step.get("query")),
            "headers": _auth_for(step.get("auth"), self._target),
        }
        if step.get("body") is not None:
            kwargs["json"] = step["body"]
        rid = int(step["id"])
        try:
            async with self._session.request(str(step["method"]), url, **kwargs) as resp:
                raw = await resp.read()
                answer = RestAnswer(resp.status, _content_type(resp), _decode_body(resp, raw))
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._obs.errors.append(f"request {rid} {step['method']} {step['path']}: {exc!r}")
            return
        self._obs.responses[rid] = answer
        response_index = self._response_index(index, rid)
        if response_index is not None:
            self._step_wall[response_index] = time.monotonic()

    def _response_index(self, index: int, rid: int) -> int | None:
        for later in range(index + 1, len(self._steps)):
            step = self._steps[later]
            if step["kind"] == "response" and step.get("id") == rid:
                return later
        return None

    # ------------------------------------------------------------ WebSocket

    async def _ws_action(self, index: int, step: dict[str, Json]) -> None:
        action = step["action"]
        conn = conn_of(step)
        if action == "close":
            await self._close(conn)
            self._step_wall[index] = time.monotonic()
            return
        url = self._target.base_url.rstrip("/").replace("http", "ws", 1) + str(step["path"])
        params = _as_str_params(step.get("query"))
        headers = _auth_for(step.get("auth"), self._target)
        try:
            ws = await self._session.ws_connect(url, params=params, headers=headers, heartbeat=None)
        except aiohttp.WSServerHandshakeError as exc:
            self._obs.ws_status[index] = exc.status
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._obs.ws_status[index] = None
            self._obs.errors.append(f"ws {action} at step {index}: {exc!r}")
            return
        self._obs.ws_status[index] = 101
        self._step_wall[index] = time.monotonic()
        if action == "probe_connect":
            await ws.close()
            return
        self._sockets[conn] = ws
        self._readers[conn] = asyncio.create_task(self._read(conn, ws))

    async def _read(self, conn: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                body = json.loads(msg.data)
            except json.JSONDecodeError as exc:
                self._obs.errors.append(f"ws {conn}: undecodable message {msg.data!r:.120}: {exc}")
                continue
            if not isinstance(body, dict):
                self._obs.errors.append(f"ws {conn}: message is not an object: {body!r:.120}")
                continue
            observed = ObservedEvent(conn, time.monotonic(), stream_of(body), signature(body), body)
            async with self._changed:
                self._obs.events.append(observed)
                self._received[observed.key] += 1
                self._arrivals.setdefault(observed.key, []).append(observed.wall)
                self._changed.notify_all()

    async def _close(self, conn: str) -> None:
        ws = self._sockets.pop(conn, None)
        if ws is not None:
            await ws.close()
        reader = self._readers.pop(conn, None)
        if reader is not None:
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await asyncio.wait_for(reader, 2.0)

    async def _close_all(self) -> None:
        for conn in list(self._sockets):
            await self._close(conn)
        for reader in self._readers.values():
            reader.cancel()


def _content_type(resp: aiohttp.ClientResponse) -> str | None:
    header = resp.headers.get("Content-Type")
    return header.split(";", 1)[0].strip() if header else None


def _decode_body(resp: aiohttp.ClientResponse, raw: bytes) -> Json:
    if not raw:
        return None
    if _content_type(resp) == "application/json":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return f"<undecodable JSON {raw[:80]!r}>"
    return f"<binary {len(raw)} bytes>"

