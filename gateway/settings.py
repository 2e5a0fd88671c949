"""Gateway settings: one frozen Struct, the project file's `[gateway]` table, with defaults
good for a demo, and `validate` naming each bad key ("gateway.session_ttl_s: ...").

In the project file (evscallpro/settings_file.py) `data_dir`, `default_language` and
`default_region` come from the top level, `[prompts] language` and `[policy] default_region`;
`[gateway]` holds the rest. `load_settings` reads a gateway-only TOML (the `add-user` and
`import-contacts` tools' `--settings`).
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

LANGUAGES = ("fr", "en")
# Fields the project file sets from elsewhere (see the module docstring).
FROM_PROJECT = ("data_dir", "default_language", "default_region")
_HOST = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


class GatewaySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080  # 0 picks a free port (tests)
    data_dir: str = "data"
    # HMAC key for session cookies; empty means "read or create data_dir/session-secret".
    session_secret: str = ""
    session_ttl_s: float = 12 * 3600.0  # a session cookie's lifetime (a working day)
    # Origins allowed on POST /login, /logout and the WebSocket handshake, besides the
    # request's own scheme://Host (same-origin), e.g. ("https://callcenter.example.com",).
    allowed_origins: tuple[str, ...] = ()
    # Host header values served (DNS rebinding); empty: any. E.g. ("callcenter.example.com",
    # "127.0.0.1:8080"); "*.example.com" allows the subdomains.
    allowed_hosts: tuple[str, ...] = ()
    secure_cookies: bool = False  # set True behind HTTPS
    default_language: str = "fr"
    default_region: str = "FR"  # phone numbers without a + are read in this region
    # Failed logins: a user name is locked after this many failures within
    # `login_lockout_s`; an address (many people behind one NAT) gets a higher ceiling.
    login_max_failures_per_user: int = 5
    login_max_failures_per_address: int = 50
    login_lockout_s: float = 300.0
    # WebSockets open at once: per browser session and per user (all their sessions).
    max_sockets_per_session: int = 4
    max_sockets_per_user: int = 8
    ws_messages_per_10s: int = 60  # per browser connection; more get an error, not an action
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


def validate(settings: GatewaySettings, prefix: str = "gateway.") -> list[str]:
    """Checks msgspec's types cannot express; each error names its key. Empty: usable."""
    s = settings
    errors: list[str] = []
    if not s.host.strip():
        errors.append(f"{prefix}host: must not be empty")
    if not 0 <= s.port <= 65535:
        errors.append(f"{prefix}port: {s.port} is not a TCP port")
    if s.session_secret and len(s.session_secret) < 16:
        errors.append(f"{prefix}session_secret: too short (at least 16 characters; or leave it "
                      "empty to have one generated into data_dir/session-secret)")
    if not 60 <= s.session_ttl_s <= 30 * 86400:
        errors.append(f"{prefix}session_ttl_s: {s.session_ttl_s:g} is outside 60..2592000 seconds")
    for index, origin in enumerate(s.allowed_origins):
        problem = _origin_problem(origin)
        if problem:
            errors.append(f"{prefix}allowed_origins[{index}]: {origin!r} {problem}")
    for index, host in enumerate(s.allowed_hosts):
        if not _HOST.match(host):
            errors.append(f"{prefix}allowed_hosts[{index}]: {host!r} is not a host name "
                          "(host or host:port, e.g. \"callcenter.example.com\")")
    if s.default_language not in LANGUAGES:
        errors.append(f"{prefix}default_language: {s.default_language!r} is not one of "
                      f"{', '.join(LANGUAGES)}")
    for key in ("login_max_failures_per_user", "login_max_failures_per_address",
                "max_sockets_per_session", "max_sockets_per_user", "ws_messages_per_10s"):
        value = getattr(s, key)
        if not 1 <= value <= 1_000_000:
            errors.append(f"{prefix}{key}: {value} must be between 1 and 1000000")
    if s.login_max_failures_per_address < s.login_max_failures_per_user:
        errors.append(f"{prefix}login_max_failures_per_address: {s.login_max_failures_per_address} "
                      f"is below login_max_failures_per_user ({s.login_max_failures_per_user}): "
                      "one office behind one address would be locked out by one user's typos")
    if s.max_sockets_per_user < s.max_sockets_per_session:
        errors.append(f"{prefix}max_sockets_per_user: {s.max_sockets_per_user} is below "
                      f"max_sockets_per_session ({s.max_sockets_per_session})")
    if not 1 <= s.login_lockout_s <= 86400:
        errors.append(f"{prefix}login_lockout_s: {s.login_lockout_s:g} is outside 1..86400 seconds")
    if not 0 <= s.wallboard_batch_s <= 5:
        errors.append(f"{prefix}wallboard_batch_s: {s.wallboard_batch_s:g} is outside 0..5 seconds")
    return errors


def _origin_problem(origin: str) -> str:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an origin (scheme://host[:port], e.g. \"https://callcenter.example.com\")"
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return "is not an origin: no path, query or user part (scheme://host[:port])"
    return ""


def load_settings(path: str | Path | None) -> GatewaySettings:
    """Read settings from a TOML file ([gateway] table or top level); None gives defaults.
    Raises ValueError naming the bad key."""
    if path is None:
        return GatewaySettings()
    with open(path, "rb") as handle:
        raw = tomllib.load(handle)
    table = raw.get("gateway", raw)
    try:
        settings = msgspec.convert(table, GatewaySettings)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid gateway settings in {path}: {exc}") from exc
    errors = validate(settings, prefix="gateway." if "gateway" in raw else "")
    if errors:
        raise ValueError(f"invalid gateway settings in {path}: " + "; ".join(errors))
    return settings
