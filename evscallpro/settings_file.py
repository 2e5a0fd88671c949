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
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from core.settings import AriSettings, CoreSettings, SettingsError, convert_settings
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


DEFAULT_NODE = "main"
_NODE_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")  # a NATS subject token and a bucket name part


class BusSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[bus]`: the NATS servers the processes talk through (docs/scale.md).

    `url` empty (the default): `serve` starts a local nats-server (JetStream in
    `data_dir`/nats, loopback, a free port) and its processes use it. Otherwise one or more
    servers, comma-separated ("nats://a:4222,nats://b:4222"): nothing is started and every
    process joins that cluster."""

    url: str = ""
    user: str = ""
    password: str = ""
    token: str = ""
    creds_file: str = ""  # a NATS .creds file (JWT + nkey)
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    replicas: int = 1  # JetStream replicas of the records stream and the buckets (3 on 3 servers)

    def servers(self) -> list[str]:
        return [part.strip() for part in self.url.split(",") if part.strip()]


class NodeSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[[nodes]]`: one Asterisk box and the core (`evscallpro node --node ID`) that drives
    it. No `[[nodes]]`: one node, "main", on `[ari]`."""

    id: str
    ari: AriSettings = AriSettings()
    metrics_port: int = 0  # the node process's /metrics (0: any free port)


class Settings(CoreSettings, frozen=True):
    """The whole project file: the core's sections, the data folder, the web gateway, the
    browser softphone, the bus and the nodes."""

    data_dir: str = "./data"
    gateway: GatewaySettings = GatewaySettings()
    softphone: SoftphoneSettings = SoftphoneSettings()
    bus: BusSettings = BusSettings()
    nodes: list[NodeSettings] = []  # noqa: RUF012 (msgspec copies defaults)
    analytics_metrics_port: int = 0  # the analytics process's /metrics (0: any free port)

    def node_list(self) -> list[NodeSettings]:
        """The configured nodes, or the one implicit node "main" on `[ari]`."""
        return list(self.nodes) or [NodeSettings(id=DEFAULT_NODE, ari=self.ari)]

    def node_ids(self) -> list[str]:
        return [node.id for node in self.node_list()]

    def node_of_agent(self, agent_id: str) -> str:
        """The node serving this agent ("" if no such agent)."""
        first = self.node_ids()[0]
        for agent in self.agents:
            if agent.id == agent_id:
                return agent.node or first
        return ""

    def for_node(self, node_id: str) -> Settings:
        """The settings one node's core runs with: its Asterisk as `[ari]`, its agents only
        (every supervisor: they supervise any node's calls)."""
        node = next((n for n in self.node_list() if n.id == node_id), None)
        if node is None:
            raise SettingsError([f"nodes: no node {node_id!r} (known: {self.node_ids()})"])
        first = self.node_ids()[0]
        agents = [a for a in self.agents if (a.node or first) == node_id]
        return msgspec.structs.replace(self, ari=node.ari, agents=agents)

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
    errors += _check_nodes(settings)
    return errors


def _check_nodes(settings: Settings) -> list[str]:
    errors: list[str] = []
    seen: set[str] = set()
    for index, node in enumerate(settings.nodes):
        if not _NODE_ID.fullmatch(node.id):
            errors.append(
                f"nodes[{index}].id: {node.id!r} must be 1-32 letters, digits, '_' or '-'"
            )
        if node.id in seen:
            errors.append(f"nodes[{index}].id: {node.id!r} is already the id of another node")
        seen.add(node.id)
        errors += [f"nodes[{index}].{e}" for e in _check_ari_of_node(settings, node)]
        if not 0 <= node.metrics_port <= 65535:
            errors.append(f"nodes[{index}].metrics_port: {node.metrics_port} is not a TCP port")
    known = set(settings.node_ids())
    for index, agent in enumerate(settings.agents):
        if agent.node and agent.node not in known:
            errors.append(
                f"agents[{index}].node: {agent.node!r} is not a node (known: "
                f"{', '.join(sorted(known))})"
            )
    bus = settings.bus
    for server in bus.servers():
        if not server.startswith(("nats://", "tls://", "ws://", "wss://")):
            errors.append(f"bus.url: {server!r} is not a nats:// (or tls://) URL")
    if not 1 <= bus.replicas <= 5:
        errors.append(f"bus.replicas: {bus.replicas} is outside 1..5")
    if not 0 <= settings.analytics_metrics_port <= 65535:
        errors.append(
            f"analytics_metrics_port: {settings.analytics_metrics_port} is not a TCP port"
        )
    return errors


def _check_ari_of_node(settings: Settings, node: NodeSettings) -> list[str]:
    from core.settings import validate as validate_core_only

    probe = msgspec.structs.replace(settings, ari=node.ari, agents=[], supervisors=[])
    return [e for e in validate_core_only(probe) if e.startswith("ari.")]
