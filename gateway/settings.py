"""Gateway settings: one frozen Struct, the project file's `[gateway]` table, with defaults
good for a demo, and `validate` naming each bad key ("gateway.session_ttl_s: ...").

In the project file (evscallpro/settings_file.py) `data_dir`, `default_language`,
`default_region` and `wrap_up_max_s` come from the top level, `[prompts] language`,
`[policy] default_region` and `[timeouts] wrap_up_max_s`; the browser softphone's
`softphone_ws_url` / `softphone_domain` from `[softphone]` (`SoftphoneSettings`) and
`softphone_accounts` from `agents[].softphone_endpoint` / `softphone_password`; `[gateway]`
holds the rest. `load_settings` reads a gateway-only TOML (the `add-user` and
`import-contacts` tools' `--settings`).
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

LANGUAGES = ("fr", "en")
# Fields the project file sets from elsewhere (see the module docstring).
FROM_PROJECT = ("data_dir", "default_language", "default_region", "wrap_up_max_s",
                "softphone_ws_url", "softphone_domain", "softphone_accounts")
_HOST = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
PRESENCE_ACTIONS = ("pause", "offline")

# A customer who was never reached has nothing to sell or refuse: a short list.
SHORT_LISTS: dict[str, tuple[str, ...]] = {
    "customer_busy": ("callback", "wrong_number"),
    "customer_no_answer": ("callback", "voicemail", "wrong_number"),
    "customer_congestion": ("callback",),
    "customer_invalid_number": ("wrong_number",),
    "customer_rejected": ("callback", "not_interested"),
    "cancelled": ("callback", "wrong_number"),
}


class SoftphoneAccount(msgspec.Struct, frozen=True):
    """One agent's browser softphone: its PJSIP endpoint and SIP password."""

    endpoint: str
    password: str


class SoftphoneSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The project file's `[softphone]`: the browser softphone's SIP-over-WebSocket server
    (Asterisk's `wss://host:8089/ws`, docs/asterisk.md); empty: no softphone in the browser.
    `Settings.gateway_settings()` copies it into `softphone_ws_url` / `softphone_domain`."""

    ws_url: str = ""
    sip_domain: str = ""  # the domain of sip:<endpoint>@<domain>; empty: ws_url's host


def softphone_problems(ws_url: str, key: str) -> list[str]:
    """The SIP WebSocket URL's problem, naming `key` (empty: none or fine)."""
    parts = urlsplit(ws_url)
    if ws_url and (parts.scheme not in ("ws", "wss") or not parts.hostname):
        return [f"{key}: {ws_url!r} is not a ws:// or wss:// URL"]
    return []


class GatewaySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080  # 0 picks a free port (tests)
    data_dir: str = "data"
    # HMAC key for session cookies; empty means "read or create data_dir/session-secret".
    session_secret: str = ""
    session_ttl_s: float = 12 * 3600.0  # a session cookie's lifetime (a working day)
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
    # -- the agent's day (see gateway/README.md) --
    # The dispositions offered after a call that ended this way (CallOutcome value); an
    # outcome not listed gets `dispositions`. A customer never reached has its short list.
    dispositions_by_outcome: dict[str, tuple[str, ...]] = msgspec.field(
        default_factory=lambda: dict(SHORT_LISTS)
    )
    callback_disposition: str = "callback"  # this disposition needs a date: a callback
    wrap_up_max_s: float | None = None  # the core's limit, shown to the agent as a countdown
    # An agent with no browser connected for this long leaves "available": paused with
    # reason "disconnected" (presence_action "pause") or signed out ("offline"). 0: never.
    presence_timeout_s: float = 60.0
    # Each agent desk's link (gateway/link_quality.py): a WebSocket Ping every
    # link_heartbeat_s (0: never); degraded when the median round-trip time of the last
    # link_window heartbeats reaches link_rtt_degraded_ms or their loss link_loss_degraded:
    # the desk then offers to move a softphone call to the mobile.
    link_heartbeat_s: float = 2.0
    link_window: int = 10
    link_rtt_degraded_ms: float = 400.0
    link_loss_degraded: float = 0.2
    presence_action: str = "pause"
    # Times are shown in this zone (IANA name); empty: Europe/Paris when the default
    # language is fr, UTC otherwise.
    time_zone: str = ""
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

    def zone(self) -> ZoneInfo:
        name = self.time_zone or ("Europe/Paris" if self.default_language == "fr" else "UTC")
        return ZoneInfo(name)

    def dispositions_for(self, outcome: str | None) -> tuple[str, ...]:
        return self.dispositions_by_outcome.get(outcome or "", self.dispositions)

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
        if host != "*" and not _HOST.match(host):
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
    if not 1 <= s.login_trusted_s <= 365 * 86400:
        errors.append(f"{prefix}login_trusted_s: {s.login_trusted_s:g} is outside 1..31536000 seconds")
    if not 0.05 <= s.users_reload_s <= 3600:
        errors.append(f"{prefix}users_reload_s: {s.users_reload_s:g} is outside 0.05..3600 seconds")
    if not 0 <= s.wallboard_batch_s <= 5:
        errors.append(f"{prefix}wallboard_batch_s: {s.wallboard_batch_s:g} is outside 0..5 seconds")
    errors += _agent_day_problems(s, prefix)
    errors += softphone_problems(s.softphone_ws_url, f"{prefix}softphone_ws_url")
    return errors


def _agent_day_problems(s: GatewaySettings, prefix: str) -> list[str]:
    errors: list[str] = []
    try:
        s.zone()
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(f"{prefix}time_zone: {s.time_zone!r} is not a known IANA time zone")
    if s.presence_action not in PRESENCE_ACTIONS:
        errors.append(f"{prefix}presence_action: {s.presence_action!r} must be pause or offline")
    if s.presence_timeout_s < 0:
        errors.append(f"{prefix}presence_timeout_s: must be 0 (never) or more")
    if s.link_heartbeat_s != 0 and not 0.2 <= s.link_heartbeat_s <= 60:
        errors.append(f"{prefix}link_heartbeat_s: {s.link_heartbeat_s:g} is outside 0.2..60 "
                      "seconds (0: no heartbeat)")
    if not 1 <= s.link_window <= 100:
        errors.append(f"{prefix}link_window: {s.link_window} is outside 1..100 heartbeats")
    if not 10 <= s.link_rtt_degraded_ms <= 60000:
        errors.append(f"{prefix}link_rtt_degraded_ms: {s.link_rtt_degraded_ms:g} is outside "
                      "10..60000")
    if not 0 < s.link_loss_degraded <= 1:
        errors.append(f"{prefix}link_loss_degraded: {s.link_loss_degraded:g} is outside 0..1 "
                      "(a share of the heartbeats, above 0)")
    if s.wrap_up_max_s is not None and s.wrap_up_max_s <= 0:
        errors.append(f"{prefix}wrap_up_max_s: {s.wrap_up_max_s:g} must be positive")
    for outcome, codes in s.dispositions_by_outcome.items():
        unknown = [c for c in codes if c not in s.dispositions]
        if unknown:
            errors.append(f"{prefix}dispositions_by_outcome.{outcome}: {unknown} not in dispositions")
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


def settings_problems(settings: GatewaySettings) -> list[str]:
    """`validate` without the "gateway." prefix (empty: nothing wrong)."""
    return validate(settings, prefix="")
