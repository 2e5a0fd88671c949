"""One way to join the bus for every process: `[bus]` settings -> a connected nats-py client.

Reconnection is nats-py's own (it retries every server of the cluster, forever, buffering
publishes meanwhile); callbacks log each disconnect and reconnect so an operator sees them.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from nats.aio.client import Client as NATS

from evscallpro.settings_file import BusSettings

log = logging.getLogger(__name__)


def tls_context(bus: BusSettings) -> ssl.SSLContext | None:
    if not (bus.tls_ca_file or bus.tls_cert_file):
        return None
    context = ssl.create_default_context(cafile=bus.tls_ca_file or None)
    if bus.tls_cert_file:
        context.load_cert_chain(bus.tls_cert_file, bus.tls_key_file or None)
    return context


async def connect(
    bus: BusSettings,
    name: str,
    servers: list[str] | None = None,
    on_reconnected: Callable[[], Awaitable[None]] | None = None,
) -> NATS:
    """Connect `name` (e.g. "node n1", "gateway", "analytics") to `servers` (default: the
    `[bus] url` servers). Raises if no server answers at first."""
    targets = servers or bus.servers()
    if not targets:
        raise ValueError("no NATS server: set [bus] url, or let `serve` start one")

    async def disconnected() -> None:
        log.warning("%s: disconnected from the bus", name)

    async def reconnected() -> None:
        log.warning("%s: reconnected to the bus (%s)", name, nc.connected_url)
        if on_reconnected is not None:
            await on_reconnected()

    async def error(exc: Exception) -> None:
        log.warning("%s: bus error: %s", name, exc)

    options: dict[str, Any] = {
        "servers": targets,
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
        "disconnected_cb": disconnected,
        "reconnected_cb": reconnected,
        "error_cb": error,
    }
    if bus.user:
        options["user"], options["password"] = bus.user, bus.password
    if bus.token:
        options["token"] = bus.token
    if bus.creds_file:
        options["user_credentials"] = bus.creds_file
    context = tls_context(bus)
    if context is not None:
        options["tls"] = context
    nc: NATS = await nats.connect(**options)
    return nc
