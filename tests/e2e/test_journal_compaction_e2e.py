"""The live-calls journal compacted during a run, then the core SIGKILLed: the restarted core
still adopts the call that was live, and the journal it finds is small."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from e2e_support import WAIT_S, core_config

from actors.call_journal import CallJournal
from actors.sinks import MemoryRecordSink
from asterisk.sim.testing import SimulatorThread
from core.domain import CallOutcome
from evscallpro.root import CallCenterApp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# The child: a core whose journal compacts every few lines; several calls end (the customer
# is busy), then one connects; it prints what it did and waits to be killed.
CHILD = """
import json, sys, threading, time
sys.path.insert(0, sys.argv[3])
from support.sim_core import WAIT_S, ViewLog, core_config
from actors.call_journal import CallJournal
from actors.sinks import MemoryRecordSink
from asterisk.sim.testing import SimulatorThread
from core.call_config import CallRequest
from core.domain import CallStep
from evscallpro.root import CallCenterApp

class Sim:
    base_url, username, password = sys.argv[1], "evscallpro", "evscallpro"

journal = CallJournal(sys.argv[2], compact_after_lines=6)
sink = MemoryRecordSink()
app = CallCenterApp(core_config(Sim()), sink=sink, journal=journal)
views = ViewLog()
app.subscribe(views)
app.start(wait_for_link_s=WAIT_S)

def call(call_id, customer):
    app.start_call(CallRequest(
        call_id=call_id, agent_id="a1", agent_endpoint="Local/answer@sim-phones",
        customer_number="+33600000001", customer_endpoint=f"Local/{customer}@sim-phones",
        requested_at=time.time()))

for n in range(6):
    call(f"busy{n}", "busy")
    assert sink.wait_for(lambda r: r.call_id == f"busy{n}", WAIT_S) is not None
call("survivor", "answer")
connected = views.wait_step("survivor", CallStep.CONNECTED) is not None  # legs bridged
print(json.dumps({"compactions": journal.compactions, "connected": connected}), flush=True)
threading.Event().wait()
"""


def test_compacted_journal_then_sigkill_the_live_call_is_adopted(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    path = tmp_path / "live-calls.jsonl"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, sim.base_url, str(path), str(HERE.parent)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        said = json.loads(child.stdout.readline())
        assert said["compactions"] >= 2  # compacted during the run, not only at start
        assert said["connected"]
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)

    assert path.read_bytes().count(b"\n") <= 8  # not the ~20 lines six calls appended
    assert set(CallJournal(path).live_calls()) == {"survivor"}

    sink = MemoryRecordSink()
    reports: list[object] = []
    app = CallCenterApp(
        core_config(sim), sink=sink, journal=CallJournal(path), on_reconciled=reports.append
    )
    app.start(wait_for_link_s=WAIT_S)
    try:
        assert getattr(reports[0], "adopted", None) == ("survivor",)
        assert app.hang_up_call("survivor")
        record = sink.wait_for(lambda r: r.call_id == "survivor", WAIT_S)
        assert record is not None and record.recovered
        assert record.outcome == CallOutcome.COMPLETED
        assert record.connected_at is not None  # the connected line survived the rewrites
        assert CallJournal(path).live_calls() == {}
    finally:
        app.stop()
