"""`/healthz` tells the truth about telephony (issue 10, item 2): 503 with the reason when
the core's Stasis app was taken over (ApplicationReplaced) or its ARI link is down."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from argon2 import PasswordHasher
from gateway_helpers import Browser

from actors.messages import AriAppReplaced, AriLinkDown
from asterisk.sim.testing import SimulatorThread
from core.call_config import DialTemplates
from evscallpro.root import CallCenterApp, CoreConfig
from gateway.contacts import ContactStore
from gateway.health import telephony_problem
from gateway.server import Gateway
from gateway.settings import GatewaySettings
from gateway.users import UserDirectory

pytestmark = pytest.mark.slow
WAIT_S = 15.0


class Linked:
    def __init__(self) -> None:
        self.replaced = threading.Event()
        self.down = threading.Event()

    def __call__(self, notice: Any) -> None:
        if isinstance(notice, AriAppReplaced):
            self.replaced.set()
        if isinstance(notice, AriLinkDown):
            self.down.set()


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    handle = SimulatorThread(time_scale=20.0).start()
    yield handle
    handle.stop()


@pytest.fixture
def notices() -> Linked:
    return Linked()


@pytest.fixture
def core(sim: SimulatorThread, notices: Linked) -> Iterator[CallCenterApp]:
    config = CoreConfig(
        ari_url=sim.base_url, ari_user=sim.username, ari_password=sim.password,
        app="evscallpro", templates=DialTemplates(trunk="carrier"),
        backoff_base_s=0.05, backoff_cap_s=0.2,
    )
    app = CallCenterApp(config, on_link_notice=notices)
    app.start(wait_for_link_s=15.0)
    yield app
    app.stop()


@pytest.fixture
async def health(core: CallCenterApp, tmp_path: Path) -> AsyncIterator[Browser]:
    users = UserDirectory(hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    settings = GatewaySettings(port=0, data_dir=str(tmp_path), session_secret="x" * 32)
    gw = Gateway(core, settings, users, ContactStore(tmp_path / "contacts.json"))
    port = await gw.start()
    browser = Browser(f"http://127.0.0.1:{port}")
    yield browser
    await browser.close()
    await gw.stop()


async def test_healthz_is_503_when_another_socket_takes_the_stasis_app(
    health: Browser, sim: SimulatorThread, notices: Linked
) -> None:
    ok = await health.get("/healthz")
    assert ok.status == 200 and (await ok.json())["status"] == "ok"
    # What `evscallpro dial --app evscallpro` did: a second events socket, same app name.
    url = f"{sim.base_url.replace('http', 'ws')}/ari/events?app=evscallpro"
    auth = {"Authorization": aiohttp.encode_basic_auth(sim.username, sim.password)}
    async with aiohttp.ClientSession(headers=auth) as s, s.ws_connect(url):
        assert await asyncio.to_thread(notices.replaced.wait, WAIT_S)
        resp = await health.get("/healthz")
        body = await resp.json()
    assert resp.status == 503 and body["status"] == "unavailable"
    assert "ApplicationReplaced" in body["reason"] and "evscallpro" in body["reason"]


async def test_healthz_is_503_while_the_ari_link_is_down(
    health: Browser, sim: SimulatorThread, notices: Linked
) -> None:
    sim.refuse_websockets(60.0)  # every reconnect is refused for the rest of the test
    sim.drop_websockets()
    assert await asyncio.to_thread(notices.down.wait, WAIT_S)
    resp = await health.get("/healthz")
    body = await resp.json()
    assert resp.status == 503 and "ARI link" in body["reason"] and "down" in body["reason"]


class _View:
    def __init__(self, ok: bool, reason: str = "") -> None:
        self.ok, self.reason = ok, reason

    def why_unavailable(self) -> str:
        return "" if self.ok else f"telephony unavailable: {self.reason}"


class _CoreWithHealth:
    def __init__(self, view: _View) -> None:
        self.view = view

    def telephony_health(self) -> _View:
        return self.view


def test_the_reason_is_the_cores_own_health_view() -> None:
    assert telephony_problem(_CoreWithHealth(_View(True))) is None  # type: ignore[arg-type]
    assert telephony_problem(_CoreWithHealth(_View(False, "app lost"))) == (  # type: ignore[arg-type]
        "telephony unavailable: app lost")
