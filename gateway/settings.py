"""Gateway settings: one frozen Struct, loadable from TOML, with defaults good for a demo."""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

# A customer who was never reached has nothing to sell or refuse: a short list.
SHORT_LISTS: dict[str, tuple[str, ...]] = {
    "customer_busy": ("callback", "wrong_number"),
    "customer_no_answer": ("callback", "voicemail", "wrong_number"),
    "customer_congestion": ("callback",),
    "customer_invalid_number": ("wrong_number",),
    "customer_rejected": ("callback", "not_interested"),
    "cancelled": ("callback", "wrong_number"),
}


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
    presence_action: str = "pause"
    # Times are shown in this zone (IANA name); empty: Europe/Paris when the default
    # language is fr, UTC otherwise.
    time_zone: str = ""
    # campaign name -> call script shown on the contact card
    campaign_scripts: dict[str, str] = {}
    recordings_dir: str = ""  # empty means data_dir/recordings
    node_modules_dir: str = ""  # empty means <repo>/node_modules

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


def load_settings(path: str | Path | None) -> GatewaySettings:
    """Read settings from a TOML file ([gateway] table or top level); None gives defaults."""
    if path is None:
        return GatewaySettings()
    with open(path, "rb") as handle:
        raw = tomllib.load(handle)
    table = raw.get("gateway", raw)
    try:
        settings = msgspec.convert(table, GatewaySettings)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid gateway settings in {path}: {exc}") from exc
    problems = settings_problems(settings)
    if problems:
        raise ValueError(f"invalid gateway settings in {path}: {'; '.join(problems)}")
    return settings


def settings_problems(settings: GatewaySettings) -> list[str]:
    """What is wrong with settings msgspec's types cannot say (empty: nothing)."""
    problems: list[str] = []
    try:
        settings.zone()
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"time_zone: {settings.time_zone!r} is not a known IANA time zone")
    if settings.presence_action not in ("pause", "offline"):
        problems.append(f"presence_action: {settings.presence_action!r} must be pause or offline")
    if settings.presence_timeout_s < 0:
        problems.append("presence_timeout_s: must be 0 (never) or more")
    for outcome, codes in settings.dispositions_by_outcome.items():
        unknown = [c for c in codes if c not in settings.dispositions]
        if unknown:
            problems.append(f"dispositions_by_outcome.{outcome}: {unknown} not in dispositions")
    return problems
