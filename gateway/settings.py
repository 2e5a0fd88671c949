"""Gateway settings: one frozen Struct, loadable from TOML, with defaults good for a demo."""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path

import msgspec


class SoftphoneAccount(msgspec.Struct, frozen=True):
    """One agent's browser softphone: its PJSIP endpoint and SIP password."""

    endpoint: str
    password: str


class GatewaySettings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8080  # 0 picks a free port (tests)
    data_dir: str = "data"
    # HMAC key for session cookies; empty means "read or create data_dir/session-secret".
    session_secret: str = ""
    session_ttl_s: float = 12 * 3600.0
    # Origins allowed on POST /login, /logout and the WebSocket handshake, besides the
    # request's own scheme://Host (same-origin), e.g. ("https://callcenter.example.com",).
    # Same-origin means the same scheme too: https when secure_cookies, else http.
    allowed_origins: tuple[str, ...] = ()
    # Host names this server answers to (DNS-rebinding protection), e.g.
    # ("callcenter.example.com", "*.example.org"). Always allowed: localhost names, IP
    # literals and `host`. ("*",) turns the check off. /healthz and /metrics answer any Host (probes).
    allowed_hosts: tuple[str, ...] = ()
    secure_cookies: bool = False  # set True behind HTTPS (the public scheme is then https)
    default_language: str = "fr"
    default_region: str = "FR"  # phone numbers without a + are read in this region
    # Login throttling (gateway/ratelimit.py, README "Login throttling"): failures counted
    # over login_lockout_s per user name and per client address; an address that a user
    # logged in from before is not blocked for that user by other names' failures.
    login_max_failures_per_user: int = 5
    login_max_failures_per_address: int = 50
    login_lockout_s: float = 300.0
    login_trusted_s: float = 30 * 86400.0  # how long a (user, address) success is remembered
    # WebSockets: the extra ones are closed with 4008; messages are limited per user.
    max_sockets_per_session: int = 4
    max_sockets_per_user: int = 8
    ws_messages_per_10s: int = 60  # per user, all their sockets together
    users_reload_s: float = 1.0  # users.json re-read (changed passwords end sessions)
    wallboard_batch_s: float = 0.05  # supervisors' updates are coalesced over this window
    dispositions: tuple[str, ...] = (
        "sale",
        "callback",
        "not_interested",
        "wrong_number",
        "voicemail",
    )
    pause_reasons: tuple[str, ...] = ("break", "lunch", "training", "meeting")
    # campaign name -> call script shown on the contact card
    campaign_scripts: dict[str, str] = {}
    recordings_dir: str = ""  # empty means data_dir/recordings
    node_modules_dir: str = ""  # empty means <repo>/node_modules
    # The browser softphone (GET /softphone, ui/static/softphone.js): the SIP-over-WebSocket
    # URL (added to the CSP's connect-src), the SIP domain (empty: the URL's host) and each
    # agent's account, served to that agent only. Empty URL: no softphone in the browser.
    softphone_ws_url: str = ""
    softphone_domain: str = ""
    softphone_accounts: dict[str, SoftphoneAccount] = {}

    def resolved_recordings_dir(self) -> Path:
        return Path(self.recordings_dir or Path(self.data_dir) / "recordings")

    def resolved_node_modules(self) -> Path:
        if self.node_modules_dir:
            return Path(self.node_modules_dir)
        return Path(__file__).resolve().parent.parent / "node_modules"

    def secret_bytes(self) -> bytes:
        """The cookie-signing key: configured, or persisted in the data dir (mode 0600)."""
        if self.session_secret:
            return self.session_secret.encode()
        path = Path(self.data_dir) / "session-secret"
        if path.exists():
            return path.read_bytes().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key


def load_settings(path: str | Path | None) -> GatewaySettings:
    """Read settings from a TOML file ([gateway] table or top level); None gives defaults."""
    if path is None:
        return GatewaySettings()
    with open(path, "rb") as handle:
        raw = tomllib.load(handle)
    table = raw.get("gateway", raw)
    try:
        return msgspec.convert(table, GatewaySettings)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid gateway settings in {path}: {exc}") from exc
