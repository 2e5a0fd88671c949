"""The configuration of people is one thing: a web user, their role, their phone.

A supervisor listens, whispers and barges from their own phone, which only the settings
file's `[[supervisors]]` entry gives; `add-user --role supervisor` checks that entry exists
(and `serve` reports web supervisors without one at start: evscallpro/stack.py).
"""

from __future__ import annotations

from pathlib import Path

from core.settings import SettingsError, find_supervisor
from evscallpro.settings_file import load_settings
from gateway.users import Role


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
