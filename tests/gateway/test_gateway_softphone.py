"""GET /softphone: an agent's browser softphone account goes to that agent only; the agent
page lets the page reach the SIP WebSocket (CSP connect-src) only when it has a softphone;
/vendor serves JsSIP's browser bundle from node_modules."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
from gateway_helpers import Browser

from evscallpro.settings_file import Settings, parse_settings
from gateway.server import Gateway
from gateway.settings import GatewaySettings, SoftphoneAccount

WS_URL = "wss://pbx.example.com:8089/ws"


@pytest.fixture
def settings(settings: GatewaySettings) -> GatewaySettings:
    return msgspec.structs.replace(
        settings, softphone_ws_url=WS_URL,
        softphone_accounts={"alice": SoftphoneAccount("webrtc-1001", "alice-sip-secret")})


@pytest.fixture
async def alice(gateway: Gateway) -> AsyncIterator[Browser]:
    b = Browser(gateway.base_url)  # type: ignore[attr-defined]
    assert (await b.login("alice")).status == 200
    yield b
    await b.close()


async def test_the_agent_gets_her_own_account(alice: Browser) -> None:
    resp = await alice.get("/softphone")
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    assert await resp.json() == {
        "ws_url": WS_URL, "uri": "sip:webrtc-1001@pbx.example.com",
        "authorization_user": "webrtc-1001", "password": "alice-sip-secret",
        "display_name": "Alice Martin"}


async def test_no_other_user_gets_it(gateway: Gateway) -> None:
    for user in ("bob", "sam"):
        b = Browser(gateway.base_url)  # type: ignore[attr-defined]
        try:
            assert (await b.login(user)).status == 200
            resp = await b.get("/softphone")
            assert resp.status == 404
            assert "alice-sip-secret" not in await resp.text()
        finally:
            await b.close()
    anonymous = Browser(gateway.base_url)  # type: ignore[attr-defined]
    try:
        resp = await anonymous.get("/softphone")
        assert resp.status == 303 and resp.headers["Location"] == "/login"
    finally:
        await anonymous.close()


async def test_csp_allows_the_sip_websocket_on_the_softphone_page_only(
        gateway: Gateway, alice: Browser) -> None:
    page = await alice.get("/agent")
    csp = page.headers["Content-Security-Policy"]
    assert "connect-src 'self' wss://pbx.example.com:8089;" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    html = await page.text()
    assert 'id="softphone"' in html and "/vendor/jssip.min.js" in html
    bob = Browser(gateway.base_url)  # type: ignore[attr-defined]
    try:
        await bob.login("bob")
        page = await bob.get("/agent")
        assert "connect-src 'self';" in page.headers["Content-Security-Policy"]
        assert 'id="softphone"' not in await page.text()
    finally:
        await bob.close()


async def test_jssip_bundle_is_served(alice: Browser) -> None:
    resp = await alice.get("/vendor/jssip.min.js")
    assert resp.status == 200
    assert "JsSIP" in (await resp.text())[:400]


def test_project_settings_give_accounts_to_agents_with_a_password_only() -> None:
    project = parse_settings({
        "softphone": {"ws_url": WS_URL},
        "agents": [
            {"id": "a1", "workstation": "softphone", "softphone_endpoint": "webrtc-1",
             "softphone_password": "s1"},
            {"id": "a2", "workstation": "softphone", "softphone_endpoint": "agent-2"},
        ],
    }, env={})
    assert isinstance(project, Settings)
    gw = project.gateway_settings()
    assert gw.softphone_ws_url == WS_URL
    assert gw.softphone_accounts == {"a1": SoftphoneAccount("webrtc-1", "s1")}


def test_bad_softphone_settings_name_the_key() -> None:
    errors = parse_settings({
        "softphone": {"ws_url": "http://pbx:8088/ws"},
        "agents": [{"id": "a1", "softphone_password": "s1"}],
    }, env={})
    assert isinstance(errors, list)
    assert any(e.startswith("softphone.ws_url:") for e in errors)
    assert any(e.startswith("agents[0].softphone_password:") for e in errors)


def test_softphone_keys_in_the_gateway_table_say_where_they_belong() -> None:
    errors = parse_settings({"gateway": {"softphone_ws_url": WS_URL}}, env={})
    assert errors == ["gateway.softphone_ws_url: set [softphone] ws_url instead, not in [gateway]"]


def test_gateway_only_settings_check_the_softphone_url() -> None:
    from gateway.settings import settings_problems

    bad = GatewaySettings(softphone_ws_url="https://pbx.example.com/ws")
    assert settings_problems(bad) == [
        "softphone_ws_url: 'https://pbx.example.com/ws' is not a ws:// or wss:// URL"]
    assert settings_problems(GatewaySettings(softphone_ws_url=WS_URL)) == []
