"""Gateway test helpers: fixtures (a gateway on an ephemeral port in the test's own event loop,
fed by the fake core), a minimal browser, and a frame waiter. Imported by conftest.py."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from argon2 import PasswordHasher
from gateway_fakes import FakeCallCenter
from websockets.asyncio.client import ClientConnection, connect

from core.views import AgentView, CallView
from gateway.contacts import Contact, ContactStore
from gateway.hub import Hub
from gateway.server import Gateway
from gateway.settings import GatewaySettings
from gateway.users import Role, UserDirectory

PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-2", "sam": "sam-pw-3"}


@pytest.fixture(scope="session")
def users_template() -> list:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # fast tests
    users = UserDirectory(hasher=cheap)
    users.add("alice", PASSWORDS["alice"], Role.AGENT, "Alice Martin", "+33612345678")
    users.add("bob", PASSWORDS["bob"], Role.AGENT, "Bob Durand", "+33698765432")
    users.add("sam", PASSWORDS["sam"], Role.SUPERVISOR, "Sam Leroy")
    return users.all()


@pytest.fixture
def fake() -> Iterator[FakeCallCenter]:
    core = FakeCallCenter()
    core.add_agent("alice", "Alice Martin")
    core.add_agent("bob", "Bob Durand")
    yield core
    core.close()


@pytest.fixture
def settings(tmp_path: Path) -> GatewaySettings:
    return GatewaySettings(
        port=0,
        data_dir=str(tmp_path),
        session_secret="test-secret-0123456789abcdef",
        login_attempts_per_user=3,
        login_attempts_per_ip=6,
        wallboard_batch_s=0.02,
        campaign_scripts={"spring": "Bonjour, je vous appelle au sujet de l'offre de printemps."},
    )


@pytest.fixture
def contacts(tmp_path: Path) -> ContactStore:
    store = ContactStore(tmp_path / "contacts.json")
    store.add(Contact(contact_id="c1", name="Claire Petit", phone="+33145678901",
                      company="Boulangerie Petit", campaign="spring"))
    return store


@pytest.fixture
async def gateway(fake: FakeCallCenter, settings: GatewaySettings, users_template: list,
                  contacts: ContactStore) -> AsyncIterator[Gateway]:
    gw = Gateway(fake, settings, UserDirectory(list(users_template)), contacts)
    port = await gw.start()
    gw.base_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield gw
    await gw.stop()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Browser:
    """Just enough of a browser: HTTP with an Origin header and the session cookie."""

    def __init__(self, base_url: str, origin: str | None = None) -> None:
        self.base_url = base_url
        self.origin = origin if origin is not None else base_url
        self.cookie = ""
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.origin:
            headers["Origin"] = self.origin
        if self.cookie:
            headers["Cookie"] = self.cookie
        headers.update(extra or {})
        return headers

    async def login(self, user: str, password: str | None = None) -> aiohttp.ClientResponse:
        resp = await self.http.post(
            self.base_url + "/login",
            headers=self.headers({"Authorization": basic(user, password or PASSWORDS[user])}),
            allow_redirects=False,
        )
        set_cookie = resp.headers.get("Set-Cookie", "")
        if resp.status == 200 and set_cookie:
            self.cookie = set_cookie.split(";")[0]
        return resp

    async def get(self, path: str) -> aiohttp.ClientResponse:
        return await self.http.get(self.base_url + path, headers=self.headers(), allow_redirects=False)

    async def post(self, path: str) -> aiohttp.ClientResponse:
        return await self.http.post(self.base_url + path, headers=self.headers(), allow_redirects=False)

    def socket(self) -> connect:
        ws_url = self.base_url.replace("http://", "ws://") + "/ws"
        extra = {"Cookie": self.cookie} if self.cookie else {}
        return connect(ws_url, origin=self.origin or None, additional_headers=extra)  # type: ignore[arg-type]

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def browser(gateway: Gateway) -> AsyncIterator[Browser]:
    b = Browser(gateway.base_url)  # type: ignore[attr-defined]
    yield b
    await b.close()


async def recv_until(ws: ClientConnection, needle: str, timeout: float = 2.0) -> str:
    """Frames until one contains `needle` (the state may arrive in several frames)."""
    seen: list[str] = []

    async def scan() -> str:
        while True:
            frame = str(await ws.recv())
            seen.append(frame)
            if needle in frame:
                return frame

    try:
        return await asyncio.wait_for(scan(), timeout)
    except TimeoutError:
        raise AssertionError(f"{needle!r} not received; got {len(seen)} frames: {seen[-3:]!r}") from None


async def published(hub: Hub, *views: AgentView | CallView) -> None:
    """Publish as an actor thread does, then wait until the loop applied every view (a
    marker queued behind them: call_soon_threadsafe keeps the order)."""
    for view in views:
        hub.publish(view)
    applied = asyncio.Event()
    asyncio.get_running_loop().call_soon_threadsafe(applied.set)
    await asyncio.wait_for(applied.wait(), 2)
