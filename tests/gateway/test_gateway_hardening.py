"""What an intruder tried on the gateway (issue 10): duplicate Host/Origin headers, an https
Origin on an http server, DNS rebinding (items 14); one session opening many WebSockets
and flooding through them (item 6); guessing behind a shared NAT (item 9); a password
changed with `add-user` while sessions are open (item 10)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from argon2 import PasswordHasher
from gateway_fakes import FakeCallCenter
from gateway_helpers import PASSWORDS, Browser, recv_until
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.contacts import ContactStore
from gateway.server import CLOSE_POLICY, CLOSE_TOO_MANY, Gateway
from gateway.settings import GatewaySettings
from gateway.users import Role, UserDirectory

WAIT_S = 5.0


def send(action: str, **fields: str) -> str:
    return json.dumps({"action": action, **fields, "HEADERS": {"HX-Request": "true"}})


async def raw_request(gateway: Gateway, lines: list[str]) -> tuple[int, str]:
    """One hand-written HTTP/1.1 request (clients will not send duplicate headers)."""
    port = int(gateway.base_url.rsplit(":", 1)[1])  # type: ignore[attr-defined]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), WAIT_S)
    writer.close()
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    return int(head.split()[1]), body


WS_HEADERS = ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]


# -- item 14: headers, origins, hosts -----------------------------------------------------

@pytest.mark.parametrize("duplicate", ["Host: 127.0.0.1", "Origin: http://127.0.0.1"])
async def test_duplicate_host_or_origin_on_ws_is_400(
    gateway: Gateway, browser: Browser, duplicate: str, caplog: pytest.LogCaptureFixture
) -> None:
    await browser.login("alice")
    port = gateway.base_url.rsplit(":", 1)[1]  # type: ignore[attr-defined]
    lines = ["GET /ws HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Origin: http://127.0.0.1:{port}",
             duplicate, f"Cookie: {browser.cookie}", *WS_HEADERS]
    with caplog.at_level(logging.ERROR, "gateway"):
        status, body = await raw_request(gateway, lines)
    assert status == 400 and "more than one" in body
    assert not [r for r in caplog.records if r.exc_info]  # no traceback


async def test_duplicate_host_on_a_page_is_400(gateway: Gateway) -> None:
    status, _ = await raw_request(gateway, ["GET /login HTTP/1.1", "Host: 127.0.0.1",
                                            "Host: evil.example"])
    assert status == 400


async def test_https_origin_is_refused_on_an_http_server(gateway: Gateway) -> None:
    b = Browser(gateway.base_url)  # type: ignore[attr-defined]
    try:
        assert (await b.login("alice")).status == 200
        b.origin = gateway.base_url.replace("http://", "https://")  # type: ignore[attr-defined]
        assert (await b.login("alice")).status == 403
        with pytest.raises(InvalidStatus) as refused:
            async with b.socket():
                pass
        assert refused.value.response.status_code == 403
    finally:
        await b.close()


async def test_https_origin_is_same_origin_behind_a_tls_proxy(
    fake: FakeCallCenter, settings: GatewaySettings, users_template: list
) -> None:
    gw = Gateway(fake, msgspec.structs.replace(settings, secure_cookies=True),
                 UserDirectory(list(users_template)))
    port = await gw.start()
    b = Browser(f"http://127.0.0.1:{port}", origin=f"https://127.0.0.1:{port}")
    try:
        assert (await b.login("alice")).status == 200
        b.origin = f"http://127.0.0.1:{port}"
        assert (await b.login("alice")).status == 403  # now http is the foreign scheme
    finally:
        await b.close()
        await gw.stop()


async def test_dns_rebinding_host_is_refused(gateway: Gateway) -> None:
    port = gateway.base_url.rsplit(":", 1)[1]  # type: ignore[attr-defined]
    status, body = await raw_request(gateway, ["GET /login HTTP/1.1", f"Host: evil.example:{port}"])
    assert status == 400 and "unknown host" in body
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", f"10.1.2.3:{port}"):
        status, _ = await raw_request(gateway, ["GET /login HTTP/1.1", f"Host: {host}"])
        assert status == 200, host
    status, _ = await raw_request(gateway, ["GET /healthz HTTP/1.1", "Host: gateway.internal"])
    assert status == 200  # probes may use any name
    status, _ = await raw_request(gateway, ["GET /login HTTP/1.1"])
    assert status == 400  # no Host at all


async def test_allowed_hosts_names_the_public_host(
    fake: FakeCallCenter, settings: GatewaySettings, users_template: list
) -> None:
    allowed = ("calls.example.com", "*.example.org")
    gw = Gateway(fake, msgspec.structs.replace(settings, allowed_hosts=allowed),
                 UserDirectory(list(users_template)))
    port = await gw.start()
    gw.base_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    try:
        status, _ = await raw_request(gw, ["GET /login HTTP/1.1", "Host: Calls.Example.com"])
        assert status == 200
        status, _ = await raw_request(gw, ["GET /login HTTP/1.1", "Host: a.b.example.org:8443"])
        assert status == 200
        for evil in ("evil.example", "example.org", "calls.example.com.evil.example"):
            status, _ = await raw_request(gw, ["GET /login HTTP/1.1", f"Host: {evil}"])
            assert status == 400, evil
    finally:
        await gw.stop()


# -- item 6: sockets per session and user, messages per user ------------------------------

@pytest.fixture
async def capped(fake: FakeCallCenter, settings: GatewaySettings, users_template: list,
                 contacts: ContactStore) -> AsyncIterator[Gateway]:
    capped = msgspec.structs.replace(settings, max_sockets_per_session=3,
                                     max_sockets_per_user=4, ws_messages_per_10s=5)
    gw = Gateway(fake, capped, UserDirectory(list(users_template)), contacts)
    port = await gw.start()
    gw.base_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield gw
    await gw.stop()


async def closed_with(ws: object) -> tuple[int, str]:
    """The close code and reason, reading past any frame the page still gets before it."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    try:
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            await asyncio.wait_for(ws.recv(), left)  # type: ignore[attr-defined]
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code, closed.rcvd.reason
    except TimeoutError:
        pass
    raise AssertionError("the socket was not closed")


async def test_extra_sockets_are_closed_per_session_and_per_user(
    capped: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    one = Browser(capped.base_url)  # type: ignore[attr-defined]
    two = Browser(capped.base_url)  # type: ignore[attr-defined]
    try:
        await one.login("alice")
        await two.login("alice")
        opened = [await one.socket().__aenter__() for _ in range(3)]
        for ws in opened:
            await recv_until(ws, 'id="agent-status"')
        with caplog.at_level(logging.WARNING, "gateway.server"):
            extras = [await one.socket().__aenter__() for _ in range(20)]
            for ws in extras:
                assert await closed_with(ws) == (CLOSE_TOO_MANY, "too many pages open for this "
                                                 "session (max 3)")
            fourth = await two.socket().__aenter__()  # the user's 4th: allowed
            await recv_until(fourth, 'id="agent-status"')
            fifth = await two.socket().__aenter__()
            assert await closed_with(fifth) == (CLOSE_TOO_MANY, "too many pages open for this "
                                                "user (max 4)")
        refusals = [r for r in caplog.records if "closed: too many" in r.getMessage()]
        assert len(refusals) == 1  # 21 refusals, one line: a bounded rate
        for ws in opened:  # the first three still work
            await ws.send(send("search_contacts", q="Claire"))
            await recv_until(ws, "Claire Petit")
        for ws in [*opened, fourth]:
            await ws.close()
    finally:
        await one.close()
        await two.close()


async def test_message_budget_is_per_user_not_per_socket(capped: Gateway) -> None:
    b = Browser(capped.base_url)  # type: ignore[attr-defined]
    try:
        await b.login("alice")
        async with b.socket() as first, b.socket() as second:
            for ws in (first, second):
                await recv_until(ws, 'id="agent-status"')
            for _ in range(3):
                await first.send(send("search_contacts", q="x"))
                await second.send(send("search_contacts", q="x"))
            # 6 messages from one user over two sockets: the 6th is over the budget of 5
            frame = await recv_until(second, "Trop de demandes")
            assert "notice-error" in frame
    finally:
        await b.close()


# -- item 9: login throttling behind a shared NAT -----------------------------------------

async def test_failures_from_the_office_address_do_not_lock_out_its_known_users(
    browser: Browser,
) -> None:
    assert (await browser.login("alice")).status == 200  # alice logged in from here before
    for i in range(6):  # someone behind the same NAT tries names (address ceiling: 6)
        assert (await browser.login(f"ghost{i}", "nope")).status == 401
    refused = await browser.login("bob")  # never logged in from here: the ceiling applies
    assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0
    assert (await browser.login("alice")).status == 200  # the real user is not locked out


async def test_guessing_one_user_is_still_stopped(browser: Browser) -> None:
    for _ in range(3):
        assert (await browser.login("bob", "nope")).status == 401
    assert (await browser.login("bob")).status == 429


# -- item 10: a changed password ends the sessions opened with the old one ----------------

async def test_add_user_changing_a_password_revokes_open_sessions(
    fake: FakeCallCenter, settings: GatewaySettings, tmp_path: Path
) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    path = tmp_path / "users.json"
    first = UserDirectory([], path, hasher=cheap)
    first.add("alice", PASSWORDS["alice"], Role.AGENT, "Alice Martin", "+33612345678")
    first.save()
    gw = Gateway(fake, msgspec.structs.replace(settings, users_reload_s=0.05),
                 UserDirectory.load(path))
    port = await gw.start()
    b = Browser(f"http://127.0.0.1:{port}")
    try:
        assert (await b.login("alice")).status == 200
        async with b.socket() as ws:
            await recv_until(ws, 'id="agent-status"')
            env = {**os.environ, "EVSCALLPRO_PASSWORD": "new-alice-pw", "PYTHONPATH": os.getcwd()}
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "evscallpro.cli", "add-user", "alice", "--role", "agent",
                 "--data-dir", str(tmp_path)],
                env=env, capture_output=True, text=True, timeout=60,
            )
            assert done.returncode == 0, done.stderr
            code, _ = await closed_with(ws)  # the open page is sent to sign-in
            assert code == CLOSE_POLICY
        old = await b.get("/agent")
        assert old.status == 303 and old.headers["Location"] == "/login"
        assert (await b.login("alice")).status == 401  # the old password is gone
        assert (await b.login("alice", "new-alice-pw")).status == 200
        assert (await b.get("/agent")).status == 200  # a session after the change is valid
    finally:
        await b.close()
        await gw.stop()
