"""Read the core's TOML configuration into `CoreConfig` (clear errors, never a traceback).

Shape (every key optional):

    [ari]
    url = "http://127.0.0.1:8088"
    user = "evscallpro"
    password = "evscallpro"
    app = "evscallpro"

    [dial]                       # core.call_config.DialTemplates
    trunk = "trunk"
    customer = "PJSIP/{number}@{trunk}"
    mobile = "PJSIP/{number}@{trunk}"
    softphone = "PJSIP/{endpoint}"

    [policy]                     # core.phone.DialingPolicy
    allowed_regions = ["FR"]

    [call]                       # any field of core.call_config.CallSettings
    agent_ring_timeout_s = 22
    acceptance = false

    [[agents]]
    agent_id = "a1"
    display_name = "Alice"
    softphone_endpoint = "agent-1001"
    workstation = "mobile"
    mobile_number = "+33612345678"

    [[supervisors]]
    supervisor_id = "s1"
    endpoint = "PJSIP/supervisor-2001"

    [records]
    jsonl = "data/calls.jsonl"
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import msgspec

from core.call_config import CallSettings, DialTemplates
from core.phone import DialingPolicy
from evscallpro.root import AgentDirectoryEntry, CoreConfig


class ConfigFileError(ValueError):
    pass


def load_core_config(path: str | Path) -> tuple[CoreConfig, dict[str, Any]]:
    """(CoreConfig, the raw table) from a TOML file."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{path}: invalid TOML: {exc}") from exc
    return core_config_from_dict(raw), raw


def core_config_from_dict(raw: dict[str, Any]) -> CoreConfig:
    ari = raw.get("ari", {})
    dial = raw.get("dial", {})
    try:
        call = msgspec.convert(raw.get("call", {}), CallSettings)
        agents = tuple(msgspec.convert(raw.get("agents", []), list[AgentDirectoryEntry]))
        fields: dict[str, Any] = {
            "ari_url": ari.get("url", "http://127.0.0.1:8088"),
            "ari_user": ari.get("user", "evscallpro"),
            "ari_password": ari.get("password", "evscallpro"),
            "app": ari.get("app", call.app),
            "templates": msgspec.convert(dial, DialTemplates),
            "policy": msgspec.convert(raw.get("policy", {}), DialingPolicy),
            "wrap_up_max_s": raw.get("wrap_up_max_s"),
            "call": call,
            "agents": agents,
            "supervisors": tuple(raw.get("supervisors", [])),
        }
        return msgspec.convert(fields, CoreConfig)
    except (msgspec.ValidationError, AttributeError) as exc:
        raise ConfigFileError(f"invalid configuration: {exc}") from exc
