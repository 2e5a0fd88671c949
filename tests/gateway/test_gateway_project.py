"""The gateway's settings and users drawn from the project settings file."""

from __future__ import annotations

from pathlib import Path

from argon2 import PasswordHasher
from gateway_fakes import FakeCallCenter
from gateway_helpers import Browser

from evscallpro.settings_file import Settings, parse_settings
from gateway.project import user_directory
from gateway.server import Gateway
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
        "supervisors": [{"id": "sup-1", "name": "Sam", "workstation": "softphone",
                         "softphone_endpoint": "sup-2001", "password_hash": CHEAP.hash("sam-pw")}],
    })
    assert isinstance(result, Settings), result
    return result


def test_settings_and_users_from_the_project_file(tmp_path: Path) -> None:
    settings = project(tmp_path).gateway_settings(port=0)
    assert (settings.host, settings.port, settings.data_dir) == ("0.0.0.0", 0, str(tmp_path))
    assert settings.default_language == "en"
    users = user_directory(project(tmp_path), settings)
    alice = users.verify("agent-1", "alice-pw")
    assert alice is not None and alice.role == Role.AGENT and alice.mobile_number == "+33600000007"
    sam = users.verify("sup-1", "sam-pw")
    assert sam is not None and sam.supervises
    assert users.get("agent-2") is None  # no password_hash, no web login


def test_users_file_overlays_the_project_users(tmp_path: Path) -> None:
    settings = project(tmp_path).gateway_settings()
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


def test_gateway_security_settings_come_from_the_gateway_table(tmp_path: Path) -> None:
    raw = {
        "data_dir": str(tmp_path),
        "gateway": {
            "secure_cookies": True,
            "session_ttl_s": 3600,
            "allowed_origins": ["https://callcenter.example.com"],
            "allowed_hosts": ["callcenter.example.com"],
            "login_max_failures_per_user": 4,
            "login_max_failures_per_address": 80,
            "login_lockout_s": 600,
            "max_sockets_per_session": 2,
            "max_sockets_per_user": 5,
        },
    }
    result = parse_settings(raw)
    assert isinstance(result, Settings), result
    settings = result.gateway_settings()
    assert settings.secure_cookies is True
    assert settings.session_ttl_s == 3600
    assert settings.allowed_origins == ("https://callcenter.example.com",)
    assert settings.allowed_hosts == ("callcenter.example.com",)
    assert (settings.login_max_failures_per_user, settings.login_max_failures_per_address) == (4, 80)
    assert settings.login_lockout_s == 600
    assert (settings.max_sockets_per_session, settings.max_sockets_per_user) == (2, 5)
    assert settings.data_dir == str(tmp_path)  # from the top level


async def test_the_running_gateway_uses_the_project_security_settings(
    tmp_path: Path, fake: FakeCallCenter
) -> None:
    """What [gateway] says is what the running gateway does: cookie lifetime and Secure flag,
    allowed origins, failed-login limit per user."""
    result = parse_settings({"data_dir": str(tmp_path), "gateway": {
        "port": 0, "session_ttl_s": 1800, "secure_cookies": True, "session_secret": "s" * 32,
        "allowed_origins": ["https://callcenter.example.com"],
        "login_max_failures_per_user": 2}})
    assert isinstance(result, Settings), result
    users = UserDirectory(hasher=CHEAP)
    users.add("alice", "alice-pw", Role.AGENT, "Alice")
    gw = Gateway(fake, result.gateway_settings(), users)
    port = await gw.start()
    base = f"http://127.0.0.1:{port}"
    browser = Browser(base, origin="https://callcenter.example.com")
    try:
        resp = await browser.login("alice", "alice-pw")
        assert resp.status == 200
        cookie = resp.headers["Set-Cookie"]
        assert "Max-Age=1800" in cookie and "; Secure" in cookie
        for _ in range(2):
            assert (await browser.login("alice", "wrong")).status == 401
        assert (await browser.login("alice", "alice-pw")).status == 429
    finally:
        await browser.close()
        await gw.stop()


def test_the_agent_day_and_login_fields_are_in_the_one_gateway_table(tmp_path: Path) -> None:
    """The [gateway] keys agentday and gatewaysec added are GatewaySettings fields; the
    wrap-up limit is the core's ([timeouts]) and may not be set twice."""
    result = parse_settings({
        "data_dir": str(tmp_path),
        "timeouts": {"wrap_up_max_s": 90},
        "gateway": {"presence_timeout_s": 30, "presence_action": "offline",
                    "time_zone": "Europe/Paris", "login_trusted_s": 3600, "users_reload_s": 2,
                    "dispositions_by_outcome": {"customer_busy": ["callback"]}},
    })
    assert isinstance(result, Settings), result
    settings = result.gateway_settings()
    assert (settings.presence_timeout_s, settings.presence_action) == (30, "offline")
    assert (settings.login_trusted_s, settings.users_reload_s) == (3600, 2)
    assert settings.wrap_up_max_s == 90
    assert settings.dispositions_for("customer_busy") == ("callback",)
    twice = parse_settings({"gateway": {"wrap_up_max_s": 60}})
    assert twice == ["gateway.wrap_up_max_s: set [timeouts] wrap_up_max_s instead, not in [gateway]"]
    bad = parse_settings({"gateway": {"presence_action": "nap", "users_reload_s": 0}})
    assert isinstance(bad, list)
    assert any(e.startswith("gateway.presence_action:") for e in bad), bad
    assert any(e.startswith("gateway.users_reload_s:") for e in bad), bad
