"""The shipped alerting rules load, and their promtool unit tests pass."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from prometheus_tools import RULES, RULES_TESTS, binary

pytestmark = pytest.mark.prometheus

EXPECTED_ALERTS = {
    "EVSCallProAriLinkDown",
    "EVSCallProStasisAppLost",
    "EVSCallProRecordWriteErrors",
    "EVSCallProRecordBacklog",
    "EVSCallProConnectRateCollapsing",
    "EVSCallProAgentLegSetupSlow",
    "EVSCallProNoRecordsWhileCallsRun",
}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_rules_file_is_valid() -> None:
    result = _promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_that_passes() -> None:
    alerts = set(re.findall(r"^\s*- alert: (\w+)$", RULES.read_text(), re.MULTILINE))
    assert alerts == EXPECTED_ALERTS
    # a case where it fires (exp_alerts followed by an expected alert), not only quiet ones
    tested = set(
        re.findall(
            r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels", RULES_TESTS.read_text()
        )
    )
    assert tested == alerts
    result = _promtool("test", "rules", str(RULES_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_rejects_a_broken_expectation(tmp_path: Path) -> None:
    """The unit tests can fail: the same tests against a rule file with a loosened
    threshold do not pass."""
    (tmp_path / RULES.name).write_text(RULES.read_text().replace("< 0.2", "< 0.05"))
    (tmp_path / RULES_TESTS.name).write_text(RULES_TESTS.read_text())
    result = _promtool("test", "rules", str(tmp_path / RULES_TESTS.name))
    assert result.returncode != 0
    assert "EVSCallProConnectRateCollapsing" in result.stdout + result.stderr
