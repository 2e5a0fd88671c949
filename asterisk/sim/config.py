"""Simulator configuration: TOML -> validated msgspec Structs.

A config file overrides the packaged `default.toml` key by key at the top level: a file
that sets `[[rules]]` replaces the default rule list, one that sets `[profiles.x]` adds or
replaces profile `x` only. Every error names the offending key (`ConfigError`).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type, or inconsistent."""


class Profile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the far end behaves. `kind` picks a shorthand; `script` spells the dialplan.

    kinds: script, answer, busy, noanswer, congestion, unallocated, reject, unavailable,
    voicemail, answer_dtmf, early_media, random, nonexistent (no such extension: the
    channel is destroyed at once with cause 0, as Asterisk does).
    """

    kind: str = "script"
    script: list[str] = []
    ring_s: float = 2.0
    talk_s: float | None = None
    digit: str = "1"
    digit_after_s: float = 1.0
    play: str | None = None
    early_media_s: float = 1.0
    # random mix (kind = "random")
    answer_probability: float = 0.8
    busy_probability: float = 0.1
    ring_min_s: float = 1.0
    ring_max_s: float = 6.0
    talk_min_s: float = 5.0
    talk_max_s: float = 60.0


class Rule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`pattern` is an fnmatch glob on the dialed endpoint (`Local/answer@sim-phones`,
    `PJSIP/+33600000002@carrier`, `PJSIP/agent-1001`); the first match wins."""

    pattern: str
    profile: str


class PjsipEndpoint(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A PJSIP endpoint. `webrtc = true`: a browser softphone that registers over SIP on
    WebSocket (`/ws`) with `username` (default: the endpoint's name) and `password`; calls
    to it are answered by the browser, not by a profile script (asterisk/sim/sip_ws.py)."""

    context: str = "from-carrier"
    webrtc: bool = False
    username: str = ""
    password: str = ""


class SimConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    users: dict[str, str] = msgspec.field(default_factory=lambda: {"evscallpro": "evscallpro"})
    host: str = "127.0.0.1"
    port: int = 8088
    time_scale: float = 1.0
    asterisk_id: str = "02:fc:00:00:00:01"
    asterisk_version: str = "22.10.1"
    recordings_dir: str | None = None
    seed: int = 1
    default_profile: str = "answer-stay"
    local_contexts: list[str] = msgspec.field(
        default_factory=lambda: ["sim-phones", "agents", "customers", "default"])
    pjsip_endpoints: dict[str, PjsipEndpoint] = msgspec.field(
        default_factory=lambda: {"carrier": PjsipEndpoint()})
    sounds: dict[str, float] = {}  # overrides of asterisk/sim/core_sounds.json
    # Modules of asterisk/sim/modules.py this simulated Asterisk does not run (a stock
    # build has no codec_opus).
    unloaded_modules: list[str] = msgspec.field(default_factory=lambda: ["codec_opus.so"])
    # A bridge DELETEd with channels in it finishes its destruction this much later
    # (Asterisk seconds; 0: at once). The real delay was not measured: guessed.
    bridge_dissolve_s: float = 1.0
    profiles: dict[str, Profile] = {}
    rules: list[Rule] = []

    def scaled(self, seconds: float) -> float:
        """Simulated seconds -> loop seconds."""
        return seconds / self.time_scale


_KNOWN_KINDS = {
    "script", "answer", "busy", "noanswer", "congestion", "unallocated", "reject",
    "unavailable", "voicemail", "answer_dtmf", "early_media", "random", "nonexistent",
}


def _read_default() -> dict[str, Any]:
    text = resources.files("asterisk.sim").joinpath("default.toml").read_text("utf-8")
    return tomllib.loads(text)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if key in ("profiles", "pjsip_endpoints", "sounds") and isinstance(value, dict):
            merged[key] = {**base.get(key, {}), **value}
        else:
            merged[key] = value
    return merged


def build_config(data: dict[str, Any]) -> SimConfig:
    """Validate a raw mapping (already merged with defaults) into a SimConfig."""
    try:
        config = msgspec.convert(data, SimConfig, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid simulator config: {exc}") from exc
    _check(config)
    return config


def _check(config: SimConfig) -> None:
    if config.time_scale <= 0:
        raise ConfigError("`time_scale` must be > 0")
    if not config.users:
        raise ConfigError("`users` must name at least one ARI user")
    for name, profile in config.profiles.items():
        if profile.kind not in _KNOWN_KINDS:
            raise ConfigError(
                f"`profiles.{name}.kind`: unknown kind {profile.kind!r} "
                f"(expected one of {sorted(_KNOWN_KINDS)})"
            )
        if profile.kind == "script" and not profile.script:  # "nonexistent" is the empty one
            raise ConfigError(f"`profiles.{name}.script` must not be empty for kind 'script'")
        if not 0.0 <= profile.answer_probability + profile.busy_probability <= 1.0:
            raise ConfigError(
                f"`profiles.{name}`: answer_probability + busy_probability must be in [0, 1]"
            )
        from asterisk.sim.phones import ScriptError, parse_script

        try:
            parse_script(profile.script)
        except ScriptError as exc:
            raise ConfigError(f"`profiles.{name}.script`: {exc}") from exc
    for index, rule in enumerate(config.rules):
        if rule.profile not in config.profiles:
            raise ConfigError(
                f"`rules[{index}].profile`: unknown profile {rule.profile!r}"
            )
    for name, endpoint in config.pjsip_endpoints.items():
        if endpoint.webrtc and not endpoint.password:
            raise ConfigError(f"`pjsip_endpoints.{name}.password` is required when webrtc = true")
    if config.default_profile not in config.profiles:
        raise ConfigError(f"`default_profile`: unknown profile {config.default_profile!r}")


def load_config(path: str | Path | None = None, **overrides: Any) -> SimConfig:
    """Defaults, then the file at `path` (if any), then keyword overrides."""
    data = _read_default()
    if path is not None:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        try:
            data = _merge(data, tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    data = _merge(data, {k: v for k, v in overrides.items() if v is not None})
    return build_config(data)
