"""`evscallpro dial` as a subprocess against the simulator: it prints one complete CallRecord
as JSON and exits 0 only for a completed call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from asterisk.sim.testing import SimulatorThread

pytestmark = pytest.mark.slow


def dial(sim: SimulatorThread, *args: str, ari_url: str | None = None) -> tuple[int, Any, str]:
    cmd = [
        sys.executable,
        "-m",
        "evscallpro.cli",
        "dial",
        "--ari-url",
        ari_url or sim.base_url,
        "--ari-user",
        sim.username,
        "--ari-password",
        sim.password,
        "--app",
        "evscallpro-dial-test",
        "--timeout",
        "20",
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"stdout: {proc.stdout!r} stderr: {proc.stderr[-2000:]!r}"
    return proc.returncode, json.loads(lines[0]), proc.stderr


def assert_full_record(record: dict[str, Any]) -> None:
    for key in (
        "call_id",
        "agent_leg",
        "steps",
        "outcome",
        "started_at",
        "ended_at",
        "customer_number",
        "workstation",
    ):
        assert key in record, key
    assert record["agent_leg"]["endpoint"]
    assert record["steps"][0]["step"] == "requested"


def test_dial_connected_call_prints_record_and_exits_0(sim: SimulatorThread) -> None:
    code, record, _ = dial(
        sim,
        "--agent-endpoint",
        "Local/answer@sim-phones",
        "--customer-endpoint",
        "Local/answer-hangup3@sim-phones",
    )
    assert_full_record(record)
    assert code == 0
    assert record["outcome"] == "completed"
    assert record["hung_up_first"] == "customer"
    assert record["customer_leg"]["answered_at"] is not None
    assert record["customer_number"] == ""  # a raw dial string: no number invented


def test_dial_talk_hangs_up_from_the_core(sim: SimulatorThread) -> None:
    code, record, _ = dial(
        sim,
        "--agent-endpoint",
        "PJSIP/+33600000001@carrier",
        "--customer",
        "+33600000001",
        "--customer-template",
        "PJSIP/{number}@carrier",
        "--talk",
        "0.5",
    )
    assert code == 0 and record["outcome"] == "completed"
    assert record["hung_up_first"] == "ui"
    assert record["customer_leg"]["endpoint"] == "PJSIP/+33600000001@carrier"


@pytest.mark.parametrize(
    ("args", "outcome"),
    [
        (
            (
                "--agent-endpoint",
                "Local/busy@sim-phones",
                "--customer-endpoint",
                "Local/answer@sim-phones",
            ),
            "agent_busy",
        ),
        (
            (
                "--agent-endpoint",
                "Local/noanswer@sim-phones",
                "--customer-endpoint",
                "Local/answer@sim-phones",
            ),
            "agent_no_answer",
        ),
        (
            (
                "--agent-endpoint",
                "Local/answer@sim-phones",
                "--customer-endpoint",
                "Local/busy@sim-phones",
            ),
            "customer_busy",
        ),
        (
            (
                "--agent-endpoint",
                "Local/answer@sim-phones",
                "--customer",
                "+33600000004",
                "--customer-template",
                "PJSIP/{number}@carrier",
            ),
            "customer_invalid_number",
        ),
        (
            (
                "--agent-endpoint",
                "Local/answer@sim-phones",
                "--accept",
                "--customer-endpoint",
                "Local/answer@sim-phones",
            ),
            "agent_not_confirmed",
        ),
        (
            (
                "--agent-endpoint",
                "Local/unallocated@sim-phones",
                "--customer-endpoint",
                "Local/answer@sim-phones",
            ),
            "agent_unreachable",
        ),
        (
            (
                "--agent-endpoint",
                "Local/answer@sim-phones",
                "--customer-endpoint",
                "Local/noanswer@sim-phones",
            ),
            "customer_no_answer",
        ),
        (
            (
                "--agent-endpoint",
                "Local/answer@sim-phones",
                "--customer-endpoint",
                "Local/reject@sim-phones",
            ),
            "customer_rejected",
        ),
        (
            (
                "--agent-endpoint",
                "Local/answer@sim-phones",
                "--customer-endpoint",
                "Local/congestion@sim-phones",
            ),
            "customer_congestion",
        ),
    ],
)
def test_dial_failures_exit_1_with_their_outcome(
    sim: SimulatorThread, args: tuple[str, ...], outcome: str
) -> None:
    code, record, stderr = dial(sim, *args)
    assert_full_record(record)
    assert record["outcome"] == outcome, (record, stderr[-1000:])
    assert code == 1


def test_dial_bad_input_and_unreachable_server_exit_2(sim: SimulatorThread) -> None:
    code, out, _ = dial(sim, "--agent-endpoint", "Local/answer@sim-phones")
    assert code == 2 and "--customer" in out["error"]
    code, out, _ = dial(
        sim,
        "--agent-endpoint",
        "Local/answer@sim-phones",
        "--customer",
        "+33600000001",
        "--connect-timeout",
        "1",
        ari_url="http://127.0.0.1:9",
    )
    assert code == 2 and "cannot connect" in out["error"]
    assert "ClientConnectorError" in out["error"] or "Connect" in out["error"]


def test_dial_reads_the_project_settings_and_flags_win(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    config = tmp_path / "evscallpro.toml"
    config.write_text(
        f"""
[ari]
url = "{sim.base_url}"
user = "{sim.username}"
password = "{sim.password}"
app = "not-this-one"

[dial]
trunk = "carrier"

[acceptance]
mobile = true
""",
        encoding="utf-8",
    )
    # --app on the command line beats [ari] app; --no-accept beats [acceptance] mobile.
    code, record, stderr = dial(
        sim,
        "--config",
        str(config),
        "--agent-endpoint",
        "Local/answer@sim-phones",
        "--customer",
        "+33600000008",  # rendered with the file's trunk: answers, BYE after 5 s
        "--no-accept",
    )
    assert code == 0, (record, stderr[-1000:])
    assert record["customer_leg"]["endpoint"] == "PJSIP/+33600000008@carrier"
    assert "agent_confirming" not in [s["step"] for s in record["steps"]]
