"""The configuration of people is one thing: a web user, their role, their phone.

A supervisor listens, whispers and barges from their own phone, which only the settings
file's `[[supervisors]]` entry gives; `add-user --role supervisor` checks that entry exists
(and `serve` reports web supervisors without one at start: `people_problems`).
"""

from __future__ import annotations

from pathlib import Path

from core.settings import SettingsError, find_supervisor
from evscallpro.settings_file import Settings, load_settings
from gateway.project import project_users
from gateway.users import Role, UserDirectory

USERS_FILE = "users.json"


def user_problem(config: str | Path, user_id: str, role: Role) -> str | None:
    """What is missing for `user_id` to work in `role`, or None."""
    if role != Role.SUPERVISOR:
        return None
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        return str(exc)
    if find_supervisor(settings, user_id) is None:
        return (
            f"supervisor {user_id!r} has no phone: add to {config} a [[supervisors]] entry "
            f'with id = "{user_id}" and softphone_endpoint (workstation = "softphone") or '
            "mobile_number, then run add-user again"
        )
    return None


def supervisors_without_phone(settings: Settings) -> list[str]:
    """Web users with the supervisor role that no [[supervisors]] entry gives a phone."""
    users = UserDirectory.load(Path(settings.data_dir) / USERS_FILE, base=project_users(settings))
    phones = {s.id for s in settings.supervisors}
    return sorted(
        u.user_id for u in users.all() if u.role == Role.SUPERVISOR and u.user_id not in phones
    )


def people_problems(settings: Settings) -> list[str]:
    """What the admin must fix in the configuration of people, one line each."""
    users_file = Path(settings.data_dir) / USERS_FILE
    return [
        f"supervisor {user_id!r} ({users_file}) has no phone: add a "
        f'[[supervisors]] entry with id = "{user_id}" and softphone_endpoint or '
        "mobile_number to the settings file; until then they can watch the wallboard "
        "but not listen, whisper or barge"
        for user_id in supervisors_without_phone(settings)
    ]
