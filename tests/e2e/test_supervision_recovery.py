"""Issue 10 item 4: a core SIGKILLed while a supervisor listens. The new core adopts the call,
and the supervisor's leg, snoop and private bridge, which nobody runs any more, are cleaned at
once (the supervisor's phone hangs up: that is how the supervisor is told); the supervisor can
start again on the adopted call."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import WAIT_S, ViewLog, bridged_in_sim, core_config
from test_supervision import bridge_members, wait_clean

from actors.call_journal import CallJournal
from actors.recovery import ReconcileReport
from actors.sinks import MemoryRecordSink
from asterisk.sim.testing import SimulatorThread
from core.domain import CallOutcome, SupervisionMode
from core.views import CallView
from evscallpro.root import CallCenterApp, SupervisorEntry

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
LOCAL = "Local/{}@sim-phones"


@pytest.fixture
def child_procs() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def start_supervised_child(
    sim: SimulatorThread, journal: Path, procs: list[subprocess.Popen[str]]
) -> tuple[subprocess.Popen[str], str]:
    # the repository, tests/ (tests/support) and tests/e2e (e2e_support)
    paths = [str(HERE.parents[1]), str(HERE.parent), str(HERE)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "supervised_core_child.py"),
            sim.base_url,
            sim.username,
            sim.password,
            str(journal),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    procs.append(proc)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    ready = json.loads(lines.get(timeout=3 * WAIT_S))
    assert ready["event"] == "listening"
    return proc, str(ready["call_id"])


def test_supervision_cut_by_a_sigkill_is_cleaned_and_can_start_again(
    sim: SimulatorThread, tmp_path: Path, child_procs: list[subprocess.Popen[str]]
) -> None:
    journal = tmp_path / "live-calls.jsonl"
    proc, call_id = start_supervised_child(sim, journal, child_procs)
    sid = f"{call_id}-sup-s1"
    assert {f"{sid}-leg"} < bridge_members(sim, f"{sid}-bridge-1")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert f"{sid}-leg" in {c["id"] for c in sim.state()["channels"]}  # outlives the core

    reports: queue.Queue[ReconcileReport] = queue.Queue()
    views = ViewLog()
    app = CallCenterApp(
        core_config(
            sim,
            supervisors=(SupervisorEntry(supervisor_id="s1", endpoint=LOCAL.format("answer")),),
        ),
        sink=(sink := MemoryRecordSink()),
        journal=CallJournal(journal),
        on_reconciled=reports.put,
    )
    app.subscribe(views)
    app.start(wait_for_link_s=WAIT_S)
    try:
        assert reports.get(timeout=WAIT_S).adopted == (call_id,)
        # Cleaned right after the reconciliation, long before the periodic sweep (60 s).
        assert wait_clean(sim, sid) == [], "the supervisor's leg or bridge outlived recovery"
        assert bridged_in_sim(sim, call_id), "the adopted call lost its legs"
        # Nothing supervises now, and the core says so; the supervisor starts again.
        refusal = app.stop_supervision("s1", call_id)
        assert refusal is not None and refusal.code == "not_supervising"
        mark = len(views.views)
        assert app.supervise("s1", call_id, SupervisionMode.LISTEN) is None

        def monitored(v: Any) -> bool:
            return (
                isinstance(v, CallView)
                and v.call_id == call_id
                and v.monitored_by == (("s1", SupervisionMode.LISTEN),)
            )

        assert views.wait_for(monitored, after=mark) is not None
        assert app.stop_supervision("s1", call_id) is None
        assert wait_clean(sim, sid) == []
        assert app.hang_up_call(call_id, by="a1")
        record = sink.wait_for(lambda r: r.call_id == call_id, WAIT_S)
        assert record is not None and record.outcome == CallOutcome.COMPLETED
    finally:
        app.stop()
