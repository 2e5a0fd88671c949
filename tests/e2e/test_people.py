"""People are one thing (a user, their role, their phone): a web supervisor without a
[[supervisors]] phone is reported at start and told why when they try to listen."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from e2e_support import Core

from actors.sinks import MemoryRecordSink
from asterisk.sim.testing import SimulatorThread
from core.agent import MobileNumberChanged
from core.domain import SupervisionMode, WorkstationMode
from evscallpro.settings_file import Settings, parse_settings
from evscallpro.stack import Stack
from gateway.users import Role, UserDirectory


def test_a_web_supervisor_without_a_phone_is_reported_at_start(tmp_path: Path) -> None:
    users = UserDirectory.load(
        tmp_path / "users.json", hasher=PasswordHasher(time_cost=1, memory_cost=1024)
    )
    users.add("sam", "sam-pw", Role.SUPERVISOR, "Sam")
    users.add("sup-1", "sup-pw", Role.SUPERVISOR, "Sophie")
    users.save()
    settings = parse_settings({
        "data_dir": str(tmp_path),
        "supervisors": [
            {"id": "sup-1", "workstation": "softphone", "softphone_endpoint": "supervisor-2001"}
        ],
    })
    assert isinstance(settings, Settings), settings
    stack = Stack(settings)
    assert stack.supervisors_without_phone() == ["sam"]
    [problem] = stack.people_problems()
    assert "supervisor 'sam'" in problem and 'id = "sam"' in problem
    assert "[[supervisors]]" in problem and "softphone_endpoint" in problem


def test_listening_without_a_phone_is_refused_with_the_reason(
    make_core: Callable[..., Core],
) -> None:
    core = make_core(supervisors_without_phone=("sam",))
    refusal = core.app.supervise("sam", "any-call", SupervisionMode.LISTEN)
    assert refusal is not None and refusal.code == "supervisor_without_phone"
    assert "[[supervisors]]" in refusal.detail
    unknown = core.app.supervise("nobody", "any-call", SupervisionMode.LISTEN)
    assert unknown is not None and unknown.code == "unknown_supervisor"


def test_a_change_of_mobile_number_is_audited_durably_and_logged(
    make_core: Callable[..., Core], caplog: pytest.LogCaptureFixture
) -> None:
    core = make_core()
    audit = core.app.audit
    assert isinstance(audit, MemoryRecordSink)
    assert core.app.log_in("a1") is None
    refusal = core.app.set_workstation("a1", WorkstationMode.MOBILE, "+33899123456")
    assert refusal is not None and refusal.code == "number_not_allowed"  # premium rate
    with caplog.at_level(logging.WARNING, logger="evscallpro.root"):
        assert core.app.set_workstation("a1", WorkstationMode.MOBILE, "07 81 23 45 67") is None
        event = audit.wait_for(lambda e: isinstance(e, MobileNumberChanged), 5.0)
    assert event is not None
    assert (event.agent_id, event.old_number, event.new_number, event.by) == (
        "a1", "+33600000001", "+33781234567", "a1"
    )
    assert event.at > 0
    assert any("+33600000001 -> +33781234567" in r.getMessage() for r in caplog.records)
    assert len(audit.records) == 1  # the refused number left no trace as a change


def test_a_mobile_supervisor_gets_the_press_1_guard_from_the_settings_file() -> None:
    from evscallpro.config_file import core_config_from_settings
    from evscallpro.supervisions import SupervisionFactory

    settings = parse_settings({
        "supervisors": [
            {"id": "s-mobile", "mobile_number": "+33612345678"},
            {"id": "s-soft", "workstation": "softphone", "softphone_endpoint": "sup-2001"},
        ],
    })
    assert isinstance(settings, Settings), settings
    config = core_config_from_settings(settings)
    mobile, soft = config.supervisors
    assert (mobile.workstation, soft.workstation) == (WorkstationMode.MOBILE, WorkstationMode.SOFTPHONE)
    factory = SupervisionFactory(config, None)  # type: ignore[arg-type]
    assert factory.settings_for(mobile).acceptance  # [acceptance] mobile = true by default
    assert not factory.settings_for(soft).acceptance


def test_serve_reports_a_web_supervisor_without_a_phone_at_start(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    from test_recovery import ServeProcess, write_config

    users = UserDirectory.load(
        tmp_path / "users.json", hasher=PasswordHasher(time_cost=1, memory_cost=1024)
    )
    users.add("sam", "sam-pw", Role.SUPERVISOR, "Sam")
    users.save()
    serve = ServeProcess(write_config(tmp_path, sim))
    try:
        problem = serve.wait_for(lambda e: e["event"] in ("config_problem", "ready"))
        assert problem["event"] == "config_problem", problem
        assert "supervisor 'sam'" in problem["error"] and "[[supervisors]]" in problem["error"]
    finally:
        serve.kill()
