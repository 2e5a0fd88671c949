"""The gateway's users from the project settings file: the agents and supervisors
(`core.settings.CoreSettings`) that carry a `password_hash` may log in.

`data_dir/users.json` (written by `evscallpro add-user`) is overlaid on those users.
(The gateway's own settings are the project file's `[gateway]` table:
`evscallpro.settings_file.Settings.gateway_settings`.)
"""

from __future__ import annotations

from pathlib import Path

from core.settings import CoreSettings
from gateway.settings import GatewaySettings
from gateway.users import Role, User, UserDirectory


def project_users(project: CoreSettings) -> list[User]:
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


def user_directory(project: CoreSettings, settings: GatewaySettings) -> UserDirectory:
    return UserDirectory.load(
        Path(settings.data_dir) / "users.json", base=project_users(project)
    )
