"""Which agents have their desk open on which gateway, shared by the gateways on the bus.

A gateway pauses (or signs out) an agent whose browser has been gone `presence_timeout_s`
(gateway/presence.py). With several gateways behind a load balancer, the agent's browser may
be connected to another gateway than the one counting: each gateway publishes, every
`PRESENCE_INTERVAL_S`, the agents with a desk connected to it on `PRESENCE_SUBJECT`
(`DeskPresence`), and `SharedPresence.elsewhere(agent)` tells the presence watch that another
gateway reported that agent recently, so it looks again later instead of acting.

An addition to the contract of bus/protocol.py, kept here: only gateways speak it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from nats.aio.msg import Msg

from bus.bus_thread import BusThread
from bus.protocol import PREFIX

log = logging.getLogger(__name__)

PRESENCE_SUBJECT = f"{PREFIX}.presence"
PRESENCE_INTERVAL_S = 2.0
PRESENCE_STALE_FACTOR = 2.5  # a report older than this many intervals no longer counts


class DeskPresence(msgspec.Struct, frozen=True, kw_only=True):
    gateway: str  # the reporting gateway process (host-pid-random)
    agents: list[str]  # agents with at least one desk socket open on it
    at: float  # time.time() of the report


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(DeskPresence)


def gateway_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class SharedPresence:
    def __init__(
        self,
        bus: BusThread,
        connected: Callable[[], list[str]],
        interval_s: float = PRESENCE_INTERVAL_S,
        me: str | None = None,
    ) -> None:
        self.bus = bus
        self.connected = connected
        self.interval_s = interval_s
        self.me = me or gateway_id()
        self._seen: dict[str, tuple[str, float]] = {}  # agent -> (gateway, monotonic)
        self._gateways: set[str] = set()  # the other gateways heard from
        self._sub: Any = None
        self._task: asyncio.Task[None] | None = None

    def start(self, timeout_s: float = 5.0) -> SharedPresence:
        self.bus.run(self._start(), timeout_s)
        return self

    async def _start(self) -> None:
        self._sub = await self.bus.nc.subscribe(PRESENCE_SUBJECT, cb=self._on_report)
        self._task = asyncio.get_running_loop().create_task(self._report_forever())

    def stop(self, timeout_s: float = 5.0) -> None:
        async def stop() -> None:
            if self._task is not None:
                self._task.cancel()
            if self._sub is not None:
                await self._sub.unsubscribe()

        try:
            self.bus.run(stop(), timeout_s)
        except Exception as exc:
            log.debug("desk presence stop: %s", exc)

    async def _report(self) -> None:
        try:
            report = DeskPresence(gateway=self.me, agents=self.connected(), at=time.time())
            await self.bus.nc.publish(PRESENCE_SUBJECT, _encoder.encode(report))
        except Exception as exc:  # the bus is reconnecting: the next report will do
            log.debug("desk presence report: %s", exc)

    async def _report_forever(self) -> None:
        while True:
            await self._report()
            await asyncio.sleep(self.interval_s)

    async def _on_report(self, msg: Msg) -> None:
        try:
            report = _decoder.decode(msg.data)
        except msgspec.DecodeError as exc:
            log.warning("undecodable desk presence: %s", exc)
            return
        if report.gateway == self.me:
            return
        if report.gateway not in self._gateways:  # a gateway (re)started: tell it at once
            self._gateways.add(report.gateway)
            await self._report()
        now = time.monotonic()
        for agent in report.agents:
            self._seen[agent] = (report.gateway, now)

    def elsewhere(self, agent_id: str) -> bool:
        """Another gateway reported this agent's desk open within the last intervals."""
        seen = self._seen.get(agent_id)
        return seen is not None and (
            time.monotonic() - seen[1] <= self.interval_s * PRESENCE_STALE_FACTOR
        )
