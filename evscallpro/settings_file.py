"""The project's settings file: reading it (TOML, environment) and its schema.

`Settings` is the core's schema (core.settings.CoreSettings: [ari], [[agents]], [dial]...)
plus what is not the core's: `data_dir`, `[gateway]` (gateway.settings.GatewaySettings) and
`[softphone]`, the browser softphone's SIP WebSocket (gateway.settings.SoftphoneSettings).
Reading the file and the environment happens here, and only here: secrets can come from the
environment, EVSCALLPRO_ARI_PASSWORD overriding `ari.password`.

`load_settings(path)` raises `SettingsError` listing every problem, each naming its key
("agents[1].mobile_number: ...", "gateway.session_ttl_s: ..."); `parse_settings(raw, env)`
is the same without the file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from core.settings import CoreSettings, SettingsError, convert_settings
from core.settings import validate as validate_core
from gateway.settings import (
    FROM_PROJECT,
    GatewaySettings,
    SoftphoneAccount,
    SoftphoneSettings,
    softphone_problems,
)
from gateway.settings import validate as validate_gateway

PASSWORD_ENV = "EVSCALLPRO_ARI_PASSWORD"

__all__ = [
    "PASSWORD_ENV",
    "Settings",
    "SettingsError",
    "load_settings",
    "parse_settings",
    "read_toml",
    "validate",
]


class Settings(CoreSettings, frozen=True):
    """The whole project file: the core's sections, the data folder, the web gateway and
    the browser softphone."""

    data_dir: str = "./data"
    gateway: GatewaySettings = GatewaySettings()
    softphone: SoftphoneSettings = SoftphoneSettings()

    def gateway_settings(self, **overrides: Any) -> GatewaySettings:
        """The gateway's settings with what the project sets elsewhere: the data folder, the
        prompts' language, the dialing region, the wrap-up limit, the browser softphone
        ([softphone] and the agents' accounts). Keyword arguments override any field."""
        base = msgspec.structs.replace(
            self.gateway,
            data_dir=self.data_dir,
            default_language=self.prompts.language,
            default_region=self.policy.default_region,
            wrap_up_max_s=self.timeouts.wrap_up_max_s,
            softphone_ws_url=self.softphone.ws_url,
            softphone_domain=self.softphone.sip_domain,
            softphone_accounts=self.softphone_accounts(),
        )
        return msgspec.structs.replace(base, **overrides)

    def softphone_accounts(self) -> dict[str, SoftphoneAccount]:
        """Agent id -> its browser softphone account (endpoint and SIP password given)."""
        return {
            person.id: SoftphoneAccount(person.softphone_endpoint, person.softphone_password)
            for person in self.agents
            if person.softphone_endpoint and person.softphone_password
        }


def read_toml(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise SettingsError([f"{path}: cannot read ({exc.strerror or exc})"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError([f"{path}: not valid TOML ({exc})"]) from exc


def load_settings(path: str | Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read, convert and validate; raises SettingsError listing every problem."""
    result = parse_settings(read_toml(path), os.environ if env is None else env)
    if isinstance(result, list):
        raise SettingsError([f"{path}: {error}" for error in result])
    return result


def parse_settings(
    raw: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> Settings | list[str]:
    """A Settings, or the list of errors (each naming its key)."""
    data = dict(raw)
    if env and env.get(PASSWORD_ENV):
        data["ari"] = {**dict(data.get("ari") or {}), "password": env[PASSWORD_ENV]}
    gateway = data.get("gateway")
    misplaced = [
        f"gateway.{key}: set {_WHERE[key]} instead, not in [gateway]"
        for key in FROM_PROJECT
        if isinstance(gateway, Mapping) and key in gateway
    ]
    if misplaced:
        return misplaced
    settings = convert_settings(data, Settings)
    if isinstance(settings, list):
        return settings
    return validate(settings) or settings


_WHERE = {
    "data_dir": "data_dir at the top level",
    "default_language": "[prompts] language",
    "default_region": "[policy] default_region",
    "wrap_up_max_s": "[timeouts] wrap_up_max_s",
    "softphone_ws_url": "[softphone] ws_url",
    "softphone_domain": "[softphone] sip_domain",
    "softphone_accounts": "agents[].softphone_endpoint and softphone_password",
}


def validate(settings: Settings) -> list[str]:
    """Every problem of the whole file: the core's, the gateway's, the data folder's."""
    errors = validate_core(settings)
    errors += validate_gateway(settings.gateway)
    errors += softphone_problems(settings.softphone.ws_url, "softphone.ws_url")
    if not settings.data_dir.strip():
        errors.append("data_dir: must not be empty")
    return errors
