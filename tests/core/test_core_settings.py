"""Configuration: the shipped example loads, and every bad key is named in its error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.call_config import CustomerDialMethod, HoldAudio
from core.domain import WorkstationMode
from core.settings import SettingsError, call_settings, find_agent
from evscallpro.settings_file import PASSWORD_ENV, Settings, load_settings, parse_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "evscallpro.example.toml"


def errors_of(raw: dict[str, Any]) -> list[str]:
    result = parse_settings(raw, {})
    assert isinstance(result, list), f"expected errors, got {result!r}"
    return result


def test_example_config_loads_and_matches_the_simulator_defaults() -> None:
    settings = load_settings(EXAMPLE, env={})
    assert settings.ari.url == "http://127.0.0.1:8088"
    assert (settings.ari.user, settings.ari.password) == ("evscallpro", "evscallpro")
    assert [a.id for a in settings.agents] == ["agent-1", "agent-2", "agent-3"]
    assert settings.dial.templates().render(settings.dial.mobile, number="+33600000007") == (
        "PJSIP/+33600000007@carrier"
    )
    assert settings.supervisors[0].softphone_endpoint == "agent-1002"
    assert settings.timeouts.wrap_up_max_s == 120


def test_password_from_environment_overrides_the_file() -> None:
    settings = load_settings(EXAMPLE, env={PASSWORD_ENV: "s3cret"})
    assert settings.ari.password == "s3cret"


def test_empty_config_gives_defaults() -> None:
    settings = parse_settings({}, {})
    assert isinstance(settings, Settings)
    assert settings.timeouts.agent_ring_s == 22
    assert settings.timeouts.customer_ring_s == 30
    assert settings.policy.default_region == "FR"


def test_costs_reach_the_call_only_when_enabled() -> None:
    off = parse_settings({"costs": {"mobile": {"per_minute": 0.05}}}, {})
    assert isinstance(off, Settings)
    assert call_settings(off).agent_leg_costs == {}
    on = parse_settings({"costs": {"enabled": True, "mobile": {"per_minute": 0.05,
                                                               "per_call": 0.02}}}, {})
    assert isinstance(on, Settings)
    costs = call_settings(on).agent_leg_costs
    assert costs["mobile"].per_minute == 0.05 and costs["mobile"].per_call == 0.02
    assert costs["softphone"].per_minute == 0.0


def test_call_settings_projection_depends_on_workstation() -> None:
    settings = load_settings(EXAMPLE, env={})
    mobile = call_settings(settings, WorkstationMode.MOBILE)
    softphone = call_settings(settings, WorkstationMode.SOFTPHONE)
    assert mobile.acceptance is True
    assert softphone.acceptance is False
    assert mobile.language == "fr"
    assert mobile.prompts == settings.prompts.fr
    assert mobile.agent_ring_timeout_s == 22
    assert mobile.hold_audio == HoldAudio.MOH
    assert mobile.customer_dial_method == CustomerDialMethod.ORIGINATE
    assert find_agent(settings, "agent-2") is not None
    assert find_agent(settings, "nobody") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {
                "agents": [
                    {"id": "a1", "mobile_number": "+33612345678"},
                    {"id": "a2", "mobile_number": "+33 6 12"},
                ]
            },
            "agents[1].mobile_number: '+33 6 12' is not a valid phone number",
        ),
        ({"timeouts": {"agent_ring_s": "22"}}, "timeouts.agent_ring_s: Expected `int`, got `str`"),
        (
            {"timeouts": {"agent_ring_s": 500}},
            "timeouts.agent_ring_s: 500 is outside 5..120 seconds",
        ),
        ({"ari": {"pasword": "x"}}, "ari.pasword: unknown key"),
        ({"colour": "blue"}, "colour: unknown key"),
        ({"ari": {"url": "ftp://x"}}, "ari.url: 'ftp://x' is not an http(s) URL"),
        ({"ari": {"password": ""}}, "ari.password: must not be empty"),
        ({"agents": [{"id": "a1"}, {"id": "a1"}]}, "agents[1].id: 'a1' is used twice"),
        ({"agents": [{"name": "x"}]}, "agents[0]: Object missing required field `id`"),
        (
            {"agents": [{"id": "a1", "workstation": "mobile"}]},
            "agents[0].mobile_number: required when workstation is 'mobile'",
        ),
        (
            {"agents": [{"id": "a1", "workstation": "desk"}]},
            "agents[0].workstation: Invalid enum value 'desk'",
        ),
        (
            {"supervisors": [{"id": "s1", "workstation": "softphone"}]},
            "supervisors[0].softphone_endpoint: required when workstation is 'softphone'",
        ),
        (
            {"dial": {"mobile": "PJSIP/{numero}@{trunk}"}},
            "dial.mobile: unknown placeholder {numero}",
        ),
        ({"dial": {"customer": "{number}"}}, "dial.customer: '{number}' is not a dial string"),
        ({"prompts": {"language": "de"}}, "prompts.language: 'de' is not one of fr, en"),
        (
            {"prompts": {"en": {"customer_busy": ["busy"]}}},
            "prompts.en.customer_busy: 'busy' is not a media URI",
        ),
        ({"prompts": {"fr": {"custmer_busy": []}}}, "prompts.fr.custmer_busy: unknown key"),
        ({"policy": {"default_region": "XX"}}, "policy.default_region: 'XX' is not a region code"),
        (
            {"policy": {"allowed_prefixes": ["06"]}},
            "policy.allowed_prefixes[0]: '06' is not an E.164 prefix",
        ),
        ({"gateway": {"port": 70000}}, "gateway.port: 70000 is not a TCP port"),
        ({"gateway": {"session_tl_s": 60}}, "gateway.session_tl_s: unknown key"),
        ({"gateway": {"session_ttl_s": 5}}, "gateway.session_ttl_s: 5 is outside 60..2592000"),
        (
            {"gateway": {"allowed_origins": ["callcenter.example.com"]}},
            "gateway.allowed_origins[0]: 'callcenter.example.com' is not an origin",
        ),
        (
            {"gateway": {"allowed_origins": ["https://x.example.com/login"]}},
            "gateway.allowed_origins[0]: 'https://x.example.com/login' is not an origin: no path",
        ),
        (
            {"gateway": {"allowed_hosts": ["http://x.example.com"]}},
            "gateway.allowed_hosts[0]: 'http://x.example.com' is not a host name",
        ),
        (
            {"gateway": {"login_max_failures_per_user": 0}},
            "gateway.login_max_failures_per_user: 0 must be between 1 and 1000000",
        ),
        (
            {"gateway": {"login_max_failures_per_user": 10, "login_max_failures_per_address": 5}},
            "gateway.login_max_failures_per_address: 5 is below login_max_failures_per_user",
        ),
        ({"gateway": {"login_lockout_s": 0}}, "gateway.login_lockout_s: 0 is outside 1..86400"),
        (
            {"gateway": {"max_sockets_per_session": 0}},
            "gateway.max_sockets_per_session: 0 must be between 1 and 1000000",
        ),
        (
            {"gateway": {"max_sockets_per_session": 6, "max_sockets_per_user": 3}},
            "gateway.max_sockets_per_user: 3 is below max_sockets_per_session (6)",
        ),
        ({"gateway": {"secure_cookies": "yes"}}, "gateway.secure_cookies: Expected `bool`"),
        (
            {"gateway": {"data_dir": "/tmp/x"}},
            "gateway.data_dir: set data_dir at the top level instead",
        ),
        (
            {"gateway": {"default_region": "BE"}},
            "gateway.default_region: set [policy] default_region instead",
        ),
        (
            {"agents": [{"id": "a1", "mobile_number": "+33899123456"}]},
            "agents[0].mobile_number: '+33899123456' is not allowed: +33899123456 is a "
            "premium-rate number",
        ),
        (
            {"agents": [{"id": "a1", "mobile_number": "+32470123456"}]},
            "agents[0].mobile_number: '+32470123456' is not allowed: +32470123456 is a BE number",
        ),
        (
            {
                "policy": {"agent_mobile_prefixes": ["+336", "+337"]},
                "agents": [{"id": "a1", "mobile_number": "+33145678901"}],
            },
            "agents[0].mobile_number: '+33145678901' is not allowed: +33145678901 does not "
            "start with a prefix allowed for agents' mobiles (+336, +337)",
        ),
        (
            {"policy": {"agent_mobile_prefixes": ["06"]}},
            "policy.agent_mobile_prefixes[0]: '06' is not an E.164 prefix",
        ),
        (
            {
                "agents": [
                    {"id": "a1", "mobile_number": "+33612345678"},
                    {"id": "a2", "mobile_number": "06 12 34 56 78"},
                ]
            },
            "agents[1].mobile_number: +33612345678 is already the number of agents[0] (a1)",
        ),
        (
            {
                "agents": [{"id": "a1", "mobile_number": "+33612345678"}],
                "supervisors": [{"id": "s1", "mobile_number": "+33612345678"}],
            },
            "supervisors[0].mobile_number: +33612345678 is already the number of agents[0]",
        ),
        (
            {"supervisors": [{"id": "s1", "name": "Sam"}]},
            "supervisors[0]: supervisor 's1' has no phone: set softphone_endpoint",
        ),
        ({"hold": {"audio": "silence"}}, "hold.audio: Invalid enum value 'silence'"),
        (
            {"agents": [{"id": "a1", "password_hash": "plain"}]},
            "agents[0].password_hash: not an argon2 hash",
        ),
        (
            {"recovery": {"orphan_sweep_s": 0}},
            "recovery.orphan_sweep_s: 0 is outside 1..3600 seconds",
        ),
        (
            {"recovery": {"journal_compact_after_lines": 5}},
            "recovery.journal_compact_after_lines: 5 must be at least 100",
        ),
        (
            {"costs": {"agent_leg_mode": "sometimes"}},
            "costs.agent_leg_mode: 'sometimes' is not one of",
        ),
        (
            {"costs": {"mobile": {"per_minute": -0.1}}},
            "costs.mobile: costs cannot be negative",
        ),
        (
            {"recovery": {"journal_compact_above_bytes": 10}},
            "recovery.journal_compact_above_bytes: 10 must be at least 65536",
        ),
    ],
)
def test_errors_name_the_bad_key(raw: dict[str, Any], expected: str) -> None:
    errors = errors_of(raw)
    assert any(error.startswith(expected) for error in errors), errors


def test_several_problems_are_all_reported() -> None:
    errors = errors_of(
        {"timeouts": {"agent_ring_s": 1, "customer_ring_s": 1}, "gateway": {"port": -1}}
    )
    assert len(errors) == 3


def test_load_settings_reports_file_problems(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(SettingsError) as excinfo:
        load_settings(missing, env={})
    assert "cannot read" in excinfo.value.errors[0]
    broken = tmp_path / "broken.toml"
    broken.write_text("[ari\nurl = 1")
    with pytest.raises(SettingsError) as excinfo:
        load_settings(broken, env={})
    assert "not valid TOML" in excinfo.value.errors[0]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[agents]]\nid = "a1"\nmobile_number = "+33 6 12"\n')
    with pytest.raises(SettingsError) as excinfo:
        load_settings(bad, env={})
    assert excinfo.value.errors == [
        f"{bad}: agents[0].mobile_number: '+33 6 12' is not a valid phone number"
    ]
    assert "agents[0].mobile_number" in str(excinfo.value)


def test_phone_endpoint_of_agents_and_supervisors() -> None:
    from core.settings import find_supervisor, phone_endpoint

    settings = load_settings(EXAMPLE, env={})
    agent_3 = find_agent(settings, "agent-3")
    supervisor = find_supervisor(settings, "sup-1")
    assert agent_3 is not None and supervisor is not None
    assert phone_endpoint(settings, agent_3) == "PJSIP/+33600000001@carrier"  # normalized
    assert phone_endpoint(settings, supervisor) == "PJSIP/agent-1002"
    nobody = parse_settings({"agents": [{"id": "x"}]}, {})
    assert isinstance(nobody, Settings)
    assert phone_endpoint(nobody, nobody.agents[0]) == ""


def test_one_call_settings_for_every_workstation() -> None:
    settings = load_settings(EXAMPLE, env={})
    shared = call_settings(settings)
    assert shared.acceptance_for(WorkstationMode.MOBILE) is True
    assert shared.acceptance_for(WorkstationMode.SOFTPHONE) is False
