"""A small blocking client of the nodes on the bus, for serve's and the demo's own needs:
`serve --call AGENT:NUMBER` (LogIn then PlaceCall to the agent's node), the demo autopilot
(commands, every node's views, snapshots), and, at serve's stop, the live calls a node left
to adopt (its KV bucket's keys) when the node said nothing itself.

nats-py is asyncio: the client runs its own event loop on one thread, and each blocking
method waits for its coroutine with a timeout. Views are delivered on that loop's thread:
a listener only queues them. The gateway's full client (ordering by sequence, snapshots on
gaps) is bus/remote_call_center.py; this one applies views in arrival order, which NATS
keeps per node.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import nats.errors
from nats.aio.client import Client as NATS
from nats.js.errors import NoKeysError, NotFoundError

from bus.connect import connect
from bus.protocol import (
    NodeCommand,
    NodeReply,
    ViewChange,
    command_encoder,
    command_subject,
    live_calls_bucket,
    reply_decoder,
    view_decoder,
    view_subject,
)
from evscallpro.settings_file import BusSettings

T = TypeVar("T")


class NodeUnavailable(RuntimeError):
    """No node answered the command in time (none listening, or too slow)."""


class NodeClient:
    def __init__(
        self,
        bus: BusSettings,
        servers: list[str] | None = None,
        name: str = "serve",
        timeout_s: float = 10.0,
    ) -> None:
        self._bus = bus
        self._servers = servers
        self._name = name
        self._timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._nc: NATS | None = None

    def start(self) -> NodeClient:
        self._thread.start()
        try:
            self._nc = self._call(connect(self._bus, self._name, self._servers))
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                self._call(self._nc.close())
            self._nc = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5.0)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> NodeClient:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self._timeout_s + 5.0)

    @property
    def _client(self) -> NATS:
        if self._nc is None:
            raise RuntimeError("the node client is not connected")
        return self._nc

    # ------------------------------------------------------------------ commands
    def ask(self, node: str, command: NodeCommand) -> NodeReply:
        """Send `command` to `node`; its reply. Raises NodeUnavailable if none comes."""
        return self._call(self._ask(node, command))

    async def _ask(self, node: str, command: NodeCommand) -> NodeReply:
        try:
            message = await self._client.request(
                command_subject(node), command_encoder.encode(command), timeout=self._timeout_s
            )
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
            raise NodeUnavailable(f"node {node!r} did not answer: {type(exc).__name__}") from exc
        return reply_decoder.decode(message.data)

    # ------------------------------------------------------------------ views
    def subscribe_views(self, listener: Callable[[ViewChange], None]) -> None:
        """Every node's view changes, in arrival order, on the client's loop thread."""

        async def subscribe() -> None:
            async def deliver(message: Any) -> None:
                listener(view_decoder.decode(message.data))

            await self._client.subscribe(view_subject("*"), cb=deliver)

        self._call(subscribe())

    # ------------------------------------------------------------------ live calls
    def live_call_ids(self, node: str) -> list[str]:
        """The calls `node` left up for the next start to adopt (its KV bucket's keys)."""
        return self._call(self._live_call_ids(node))

    async def _live_call_ids(self, node: str) -> list[str]:
        try:
            bucket = await self._client.jetstream().key_value(live_calls_bucket(node))
            return sorted(await bucket.keys())
        except (NoKeysError, NotFoundError):
            return []
