"""The browser softphone's configuration, for one logged-in agent (GET /softphone).

The SIP password of an agent's endpoint goes to that agent's own session only: the route
looks the account up by the session's user id, never by a name in the request. The page's
Content-Security-Policy lets it reach the SIP-over-WebSocket server and nothing more.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from gateway.settings import GatewaySettings
from gateway.users import User


def ws_origin(url: str) -> str:
    """`wss://pbx.example.com:8089/ws` -> `wss://pbx.example.com:8089` (CSP source)."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def softphone_config(settings: GatewaySettings, user: User) -> dict[str, Any] | None:
    """What JsSIP needs to register as this agent's endpoint; None: no browser softphone."""
    account = settings.softphone_accounts.get(user.user_id)
    if account is None or not ws_origin(settings.softphone_ws_url):
        return None
    domain = settings.softphone_domain or urlsplit(settings.softphone_ws_url).hostname or ""
    return {
        "ws_url": settings.softphone_ws_url,
        "uri": f"sip:{account.endpoint}@{domain}",
        "authorization_user": account.endpoint,
        "password": account.password,
        "display_name": user.display_name,
    }
