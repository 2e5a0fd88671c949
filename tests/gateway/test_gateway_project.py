"""The gateway's settings and users drawn from the project settings file."""

from __future__ import annotations

from pathlib import Path

from argon2 import PasswordHasher

from core.settings import Settings, parse_settings
from gateway.project import gateway_settings, user_directory
from gateway.users import Role, UserDirectory

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def project(tmp_path: Path) -> Settings:
    result = parse_settings({
        "data_dir": str(tmp_path),
        "gateway": {"host": "0.0.0.0", "port": 8181},
        "prompts": {"language": "en"},
        "agents": [
            {"id": "agent-1", "name": "Alice Martin", "workstation": "mobile",
             "mobile_number": "+33600000007", "password_hash": CHEAP.hash("alice-pw")},
            {"id": "agent-2", "name": "No Web Login"},
        ],
        "supervisors": [{"id": "sup-1", "name": "Sam", "password_hash": CHEAP.hash("sam-pw")}],
    })
    assert isinstance(result, Settings), result
    return result


def test_settings_and_users_from_the_project_file(tmp_path: Path) -> None:
    settings = gateway_settings(project(tmp_path), port=0)
    assert (settings.host, settings.port, settings.data_dir) == ("0.0.0.0", 0, str(tmp_path))
    assert settings.default_language == "en"
    users = user_directory(project(tmp_path), settings)
    alice = users.verify("agent-1", "alice-pw")
    assert alice is not None and alice.role == Role.AGENT and alice.mobile_number == "+33600000007"
    sam = users.verify("sup-1", "sam-pw")
    assert sam is not None and sam.supervises
    assert users.get("agent-2") is None  # no password_hash, no web login


def test_users_file_overlays_the_project_users(tmp_path: Path) -> None:
    settings = gateway_settings(project(tmp_path))
    users = user_directory(project(tmp_path), settings)
    extra = UserDirectory.load(tmp_path / "users.json", hasher=CHEAP)
    extra.add("agent-1", "new-pw", Role.AGENT, "Alice M.")  # add-user replaces a password
    extra.add("zoe", "zoe-pw", Role.ADMIN, "Zoé")
    extra.save()
    assert users.reload_if_changed()
    assert users.verify("agent-1", "alice-pw") is None
    assert users.verify("agent-1", "new-pw") is not None
    assert users.verify("sup-1", "sam-pw") is not None  # still there from the project
    assert users.verify("zoe", "zoe-pw") is not None
    users.update_mobile("sup-1", "+33611223345")
    users.save()
    saved = {u.user_id for u in UserDirectory.load(tmp_path / "users.json").all()}
    assert saved == {"agent-1", "zoe", "sup-1"}  # only what differs from the project file
