"""The gateway alone: sessions, origins, roles, rate limits, logout."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from gateway_fakes import FakeCallCenter
from gateway_helpers import PASSWORDS, Browser, recv_until
from websockets.exceptions import InvalidStatus

from gateway.ports import Refusal
from gateway.server import Gateway
from gateway.settings import GatewaySettings
from gateway.users import Role, UserDirectory


async def test_health_metrics_and_vendored_htmx(browser: Browser) -> None:
    health = await browser.get("/healthz")
    assert health.status == 200 and (await health.json())["status"] == "ok"
    metrics = await browser.get("/metrics")
    assert "evscallpro_gateway_logins_total" in await metrics.text()
    htmx = await browser.get("/vendor/htmx.min.js")
    assert htmx.status == 200 and "htmx" in await htmx.text()
    ws_ext = await browser.get("/vendor/ws.js")
    assert "defineExtension('ws'" in await ws_ext.text()
    missing = await browser.get("/vendor/package.json")  # only the two vendored files
    assert missing.status == 404


async def test_login_sets_httponly_strict_cookie(browser: Browser) -> None:
    resp = await browser.login("alice")
    assert resp.status == 200
    assert (await resp.json())["location"] == "/agent"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = await browser.get("/agent")
    assert page.status == 200
    assert "Alice Martin" in await page.text()


async def test_wrong_password_gets_no_session(browser: Browser) -> None:
    resp = await browser.login("alice", "wrong")
    assert resp.status == 401 and "Set-Cookie" not in resp.headers
    page = await browser.get("/agent")
    assert page.status == 303 and page.headers["Location"] == "/login"


@pytest.mark.parametrize("origin", ["http://evil.example", ""])
async def test_login_from_another_origin_is_refused(gateway: Gateway, origin: str) -> None:
    b = Browser(gateway.base_url, origin=origin)  # type: ignore[attr-defined]
    try:
        resp = await b.login("alice")
        assert resp.status == 403 and "Set-Cookie" not in resp.headers
    finally:
        await b.close()


async def test_failed_logins_are_limited_per_user(browser: Browser) -> None:
    for _ in range(3):
        assert (await browser.login("alice", "nope")).status == 401
    # Even the right password is refused while the user is throttled.
    assert (await browser.login("alice")).status == 429
    # Another user from the same address is not blocked yet.
    assert (await browser.login("bob")).status == 200


async def test_failed_logins_are_limited_per_ip(browser: Browser) -> None:
    for i in range(6):
        assert (await browser.login(f"ghost{i}", "nope")).status == 401
    assert (await browser.login("bob")).status == 429


async def test_websocket_needs_a_session(browser: Browser) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with browser.socket():
            pass
    assert refused.value.response.status_code == 401


async def test_websocket_refuses_a_tampered_cookie(browser: Browser) -> None:
    await browser.login("alice")
    token, _, signature = browser.cookie.partition(".")
    browser.cookie = token + "." + ("0" * len(signature))
    with pytest.raises(InvalidStatus) as refused:
        async with browser.socket():
            pass
    assert refused.value.response.status_code == 401


async def test_cross_site_websocket_hijacking_is_refused(gateway: Gateway) -> None:
    victim = Browser(gateway.base_url)  # type: ignore[attr-defined]
    await victim.login("alice")
    victim.origin = "http://evil.example"  # the victim's cookie, sent by an attacker's page
    try:
        with pytest.raises(InvalidStatus) as refused:
            async with victim.socket():
                pass
        assert refused.value.response.status_code == 403
    finally:
        await victim.close()


async def test_logout_invalidates_the_session_server_side(browser: Browser) -> None:
    await browser.login("alice")
    old_cookie = browser.cookie
    async with browser.socket() as ws:
        await ws.recv()  # the initial state
        resp = await browser.post("/logout")
        assert resp.status == 303 and resp.headers["Location"] == "/login"
        await ws.wait_closed()
        assert ws.close_code == 1008
    browser.cookie = old_cookie  # replaying the old cookie gets nothing
    assert (await browser.get("/agent")).status == 303
    with pytest.raises(InvalidStatus):
        async with browser.socket():
            pass


async def test_cross_origin_logout_is_refused(gateway: Gateway) -> None:
    b = Browser(gateway.base_url)  # type: ignore[attr-defined]
    try:
        await b.login("alice")
        b.origin = "http://evil.example"
        assert (await b.post("/logout")).status == 403
        b.origin = gateway.base_url  # type: ignore[attr-defined]
        assert (await b.get("/agent")).status == 200  # still logged in
    finally:
        await b.close()


async def test_agents_cannot_open_supervisor_pages_or_recordings(browser: Browser) -> None:
    await browser.login("alice")
    for path in ("/supervisor", "/recordings", "/recordings/anything.wav"):
        assert (await browser.get(path)).status == 403, path


async def test_no_password_or_session_token_in_logs(
    browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await browser.login("alice", "wrong-secret-pw")
    await browser.login("Alice-Pw-In-The-Wrong-Field", "alice")  # a password as user name
    await browser.login("alice")
    async with browser.socket() as ws:
        await ws.recv()
    await browser.post("/logout")
    token = browser.cookie.split("=", 1)[1]
    # The test's own client logs its headers at DEBUG; only the server side is checked.
    server_log = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("websockets.client")
    )
    assert "wrong-secret-pw" not in server_log
    assert "Alice-Pw-In-The-Wrong-Field" not in server_log
    assert PASSWORDS["alice"] not in server_log
    assert token.split(".")[0] not in server_log
    assert "login failed" in server_log  # the log is there, only without secrets


async def test_socket_closes_when_the_session_ends_while_connected(
    gateway: Gateway, fake: FakeCallCenter
) -> None:
    b = Browser(gateway.base_url)  # type: ignore[attr-defined]
    try:
        await b.login("alice")
        async with b.socket() as ws:
            await ws.recv()
            gateway.sessions.revoke(b.cookie.split("=", 1)[1])  # as an expiry would
            fake.pause("alice", "break")  # the next update finds the session gone
            await asyncio.wait_for(ws.wait_closed(), 2)
            assert ws.close_code == 1008
    finally:
        await b.close()


async def test_users_added_while_serving_can_log_in(
    fake: FakeCallCenter, settings: GatewaySettings, tmp_path: Path
) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    path = tmp_path / "users.json"
    first = UserDirectory([], path, hasher=cheap)
    first.add("alice", "alice-pw-1", Role.AGENT, "Alice Martin", "+33612345678")
    first.save()
    gw = Gateway(fake, settings, UserDirectory.load(path))
    port = await gw.start()
    b = Browser(f"http://127.0.0.1:{port}")
    try:
        assert (await b.login("zoe", "zoe-pw")).status == 401
        other = UserDirectory.load(path, hasher=cheap)  # `evscallpro add-user` in a shell
        other.add("zoe", "zoe-pw", Role.SUPERVISOR, "Zoé")
        other.save()
        assert (await b.login("zoe", "zoe-pw")).status == 200
        assert (await b.get("/supervisor")).status == 200
    finally:
        await b.close()
        await gw.stop()


async def test_edited_mobile_number_is_saved_in_the_profile(
    fake: FakeCallCenter, settings: GatewaySettings, tmp_path: Path
) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    path = tmp_path / "users.json"
    users = UserDirectory([], path, hasher=cheap)
    users.add("alice", "alice-pw-1", Role.AGENT, "Alice Martin", "+33612345678")
    users.save()
    gw = Gateway(fake, settings, UserDirectory.load(path))
    port = await gw.start()
    b = Browser(f"http://127.0.0.1:{port}")
    try:
        await b.login("alice", "alice-pw-1")
        async with b.socket() as ws:
            await ws.recv()
            await ws.send('{"action": "set_workstation", "mode": "mobile", "mobile_number": "06 11 22 33 45"}')
            await recv_until(ws, "notice-info")  # the action is done (the profile saved)
        saved = UserDirectory.load(path).get("alice")
        assert saved is not None and saved.mobile_number == "+33611223345"
    finally:
        await b.close()
        await gw.stop()


async def test_a_mobile_number_the_core_refuses_is_not_saved_in_the_profile(
    fake: FakeCallCenter, settings: GatewaySettings, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    path = tmp_path / "users.json"
    users = UserDirectory([], path, hasher=cheap)
    users.add("alice", "alice-pw-1", Role.AGENT, "Alice Martin", "+33612345678")
    users.save()

    def refuse(agent_id: str, mode: object, mobile_number: str | None = None) -> Refusal:
        return Refusal("number_not_allowed", f"{mobile_number} is a premium-rate number")

    monkeypatch.setattr(fake, "set_workstation", refuse)
    gw = Gateway(fake, settings, UserDirectory.load(path))
    port = await gw.start()
    b = Browser(f"http://127.0.0.1:{port}")
    try:
        await b.login("alice", "alice-pw-1")
        async with b.socket() as ws:
            await ws.recv()
            await ws.send('{"action": "set_workstation", "mode": "mobile", "mobile_number": "+33899123456"}')
            notice = await recv_until(ws, "notice-")
        assert "surtax" in notice  # the French catalog's refusal.number_not_allowed
        saved = UserDirectory.load(path).get("alice")
        assert saved is not None and saved.mobile_number == "+33612345678"
    finally:
        await b.close()
        await gw.stop()


async def test_concurrent_guesses_cannot_slip_under_the_limit(browser: Browser) -> None:
    answers = await asyncio.gather(*(browser.login("alice", f"guess{i}") for i in range(12)))
    statuses = sorted(r.status for r in answers)
    assert statuses.count(401) == 3 and statuses.count(429) == 9  # per-user limit: 3
    assert (await browser.login("alice")).status == 429


async def test_successful_logins_do_not_use_up_the_address(browser: Browser) -> None:
    for _ in range(10):  # a call center behind one NAT address: many agents, one IP
        assert (await browser.login("bob")).status == 200
    for i in range(5):
        assert (await browser.login(f"ghost{i}", "nope")).status == 401
    assert (await browser.login("bob")).status == 200  # 5 failures < 6 per IP


async def test_a_core_request_that_blocks_never_stalls_the_gateway(
    gateway: Gateway, browser: Browser, fake: FakeCallCenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The port's requests block (they ask an actor, up to ~5 s): the gateway runs them off
    its loop, so other browsers are still served meanwhile."""
    entered, release = threading.Event(), threading.Event()
    released_while_blocked: list[bool] = []

    def slow_place_call(agent_id: str, number: str, contact_id: str | None = None) -> None:
        entered.set()
        # Released only once /healthz was served: on the loop, this would time out instead.
        released_while_blocked.append(release.wait(5))

    monkeypatch.setattr(fake, "place_call", slow_place_call)
    await browser.login("alice")
    try:
        async with browser.socket() as ws:
            await ws.recv()
            await ws.send('{"action": "place_call", "number": "+33612345678"}')
            assert await asyncio.to_thread(entered.wait, 5), "the request never reached the core"
            health = await browser.get("/healthz")
            assert health.status == 200
            release.set()
            await recv_until(ws, 'aria-live="assertive" hx-swap-oob="true"></div>')
        assert released_while_blocked == [True]  # /healthz was served during the request
    finally:
        release.set()
