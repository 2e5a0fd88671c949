"""Web sessions in the JetStream KV bucket: a gateway restarted, or a second gateway, keeps
users signed in; a revocation on one gateway reaches every other one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_node import wait_until
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import KeyNotFoundError

from bus.bus_thread import BusThread
from bus.protocol import SESSIONS_BUCKET
from bus.server import NatsServer
from bus.session_kv import KvSessions
from evscallpro.settings_file import BusSettings
from gateway.sessions import SessionStore, session_key
from gateway.users import Role

SECRET = b"s" * 32
TTL_S = 600.0


class Gateways:
    """Session stores of gateway processes, each with its own bus connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.started: list[tuple[BusThread, KvSessions]] = []

    def store(self) -> SessionStore:
        bus = BusThread(BusSettings(url=self.url), "gateway").start()
        backend = KvSessions(bus, TTL_S).start()
        self.started.append((bus, backend))
        return SessionStore(SECRET, TTL_S, backend=backend)

    def stop(self, store: SessionStore) -> None:
        for bus, backend in list(self.started):
            if backend is store.backend:
                backend.stop()
                bus.stop()
                self.started.remove((bus, backend))

    def stop_all(self) -> None:
        for bus, backend in self.started:
            backend.stop()
            bus.stop()


@pytest.fixture
def gateways(nats_server: NatsServer) -> Iterator[Gateways]:
    handle = Gateways(nats_server.url)
    try:
        yield handle
    finally:
        handle.stop_all()


def test_a_session_survives_the_gateways_restart(gateways: Gateways) -> None:
    first = gateways.store()
    cookie = first.create("alice", Role.AGENT)
    key = session_key(cookie.partition(".")[0])

    async def stored() -> bool:
        kv = await first.backend.bus.nc.jetstream().key_value(SESSIONS_BUCKET)  # type: ignore[attr-defined]
        try:
            return (await kv.get(key)).value is not None
        except KeyNotFoundError:  # the put is still on its way
            return False

    wait_until(lambda: first.backend.bus.run(stored(), 5.0))  # type: ignore[attr-defined]
    gateways.stop(first)
    restarted = gateways.store()  # start() returns once the bucket's sessions are loaded
    session = restarted.lookup(cookie)
    assert session is not None and session.user_id == "alice" and session.role == Role.AGENT


def test_two_gateways_share_sessions_and_a_logout_reaches_both(gateways: Gateways) -> None:
    a, b = gateways.store(), gateways.store()
    cookie = a.create("alice", Role.AGENT)
    wait_until(lambda: b.lookup(cookie) is not None)  # signed in on A, known on B
    assert b.revoke(cookie)  # logout through B
    wait_until(lambda: a.lookup(cookie) is None)
    assert b.lookup(cookie) is None


def test_a_password_change_on_one_gateway_ends_the_sessions_on_every_gateway(
    gateways: Gateways,
) -> None:
    a, b = gateways.store(), gateways.store()
    old = [a.create("bob", Role.AGENT), b.create("bob", Role.AGENT)]
    other = a.create("alice", Role.AGENT)
    wait_until(lambda: all(s.lookup(c) is not None for s in (a, b) for c in [*old, other]))
    assert a.revoke_user("bob") == 2  # both of bob's sessions, wherever they were opened
    wait_until(lambda: all(s.lookup(c) is None for s in (a, b) for c in old))
    assert a.lookup(other) is not None and b.lookup(other) is not None


def test_the_buckets_max_age_is_the_session_ttl(gateways: Gateways) -> None:
    store = gateways.store()
    bus = store.backend.bus  # type: ignore[attr-defined]

    async def max_age() -> float | None:
        info = await bus.nc.jetstream().stream_info(f"KV_{SESSIONS_BUCKET}")
        return info.config.max_age

    assert bus.run(max_age(), 5.0) == TTL_S


class ConsumerRefusedOnce(KvSessions):
    """The first watch cannot be created (JetStream electing a meta leader after a server
    was lost answers a consumer creation with a timeout for a few seconds)."""

    attempts = 0

    async def _new_watcher(self) -> Any:
        self.attempts += 1
        if self.attempts == 1:
            raise NatsTimeout
        return await super()._new_watcher()


def test_a_watch_that_cannot_start_yet_is_tried_again(gateways: Gateways) -> None:
    a = gateways.store()
    cookie = a.create("alice", Role.AGENT)
    bus = BusThread(BusSettings(url=gateways.url), "gateway").start()
    backend = ConsumerRefusedOnce(bus, TTL_S).start()
    gateways.started.append((bus, backend))
    assert backend.attempts == 2
    b = SessionStore(SECRET, TTL_S, backend=backend)
    wait_until(lambda: b.lookup(cookie) is not None)
