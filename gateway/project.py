"""The gateway from the project settings file (`core.settings.Settings`): the `[gateway]`
table's host and port, `data_dir`, the prompts' language, the dialing region, and the
agents and supervisors that carry a `password_hash` as the users who may log in.

`data_dir/users.json` (written by `evscallpro add-user`) is overlaid on those users.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from core.settings import Settings
from gateway.settings import GatewaySettings, SoftphoneAccount
from gateway.users import Role, User, UserDirectory


def gateway_settings(project: Settings, **overrides: Any) -> GatewaySettings:
    """GatewaySettings drawn from the project file; keyword arguments override any field."""
    base = GatewaySettings(
        host=project.gateway.host,
        port=project.gateway.port,
        data_dir=project.data_dir,
        default_language=project.prompts.language,
        default_region=project.policy.default_region,
        softphone_ws_url=project.softphone.ws_url,
        softphone_domain=project.softphone.sip_domain,
        softphone_accounts=softphone_accounts(project),
    )
    return msgspec.structs.replace(base, **overrides)


def softphone_accounts(project: Settings) -> dict[str, SoftphoneAccount]:
    """Agent id -> its browser softphone account (endpoint and SIP password given)."""
    return {
        person.id: SoftphoneAccount(person.softphone_endpoint, person.softphone_password)
        for person in project.agents
        if person.softphone_endpoint and person.softphone_password
    }


def project_users(project: Settings) -> list[User]:
    users: list[User] = []
    for entries, role in ((project.agents, Role.AGENT), (project.supervisors, Role.SUPERVISOR)):
        for entry in entries:
            if not entry.password_hash:
                continue  # no web login for this one
            users.append(
                User(
                    user_id=entry.id,
                    display_name=entry.name or entry.id,
                    role=role,
                    password_hash=entry.password_hash,
                    mobile_number=entry.mobile_number,
                )
            )
    return users


def user_directory(project: Settings, settings: GatewaySettings) -> UserDirectory:
    return UserDirectory.load(
        Path(settings.data_dir) / "users.json", base=project_users(project)
    )
