"""A core process with one supervised call, for the SIGKILL test (test_supervision_recovery):
run as a script with the simulator's URL, user, password and a journal path; it prints one
JSON line once the supervisor listens, then waits to be killed."""

from __future__ import annotations

import json
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

from e2e_support import ViewLog, core_config

from actors.call_journal import CallJournal
from actors.sinks import MemoryRecordSink
from core.call_config import CallRequest
from core.domain import CallStep, SupervisionMode
from core.views import CallView
from evscallpro.root import CallCenterApp, SupervisorEntry

LOCAL = "Local/{}@sim-phones"


def main(base_url: str, user: str, password: str, journal: str) -> None:
    sim = types.SimpleNamespace(base_url=base_url, username=user, password=password)
    config = core_config(
        sim,  # type: ignore[arg-type]
        supervisors=(SupervisorEntry(supervisor_id="s1", endpoint=LOCAL.format("answer")),),
    )
    views = ViewLog()
    app = CallCenterApp(config, sink=MemoryRecordSink(), journal=CallJournal(Path(journal)))
    app.subscribe(views)
    app.start(wait_for_link_s=20)
    call_id = f"k{time.monotonic_ns()}"
    app.start_call(
        CallRequest(
            call_id=call_id,
            agent_id="a1",
            agent_endpoint=LOCAL.format("answer"),
            customer_number="+33600000001",
            customer_endpoint=LOCAL.format("answer"),
            requested_at=time.time(),
        )
    )
    assert views.wait_step(call_id, CallStep.CONNECTED) is not None
    deadline = time.monotonic() + 20
    refusal = app.supervise("s1", call_id, SupervisionMode.LISTEN)
    while refusal is not None and time.monotonic() < deadline:  # the bridge may lag
        threading.Event().wait(0.05)
        refusal = app.supervise("s1", call_id, SupervisionMode.LISTEN)

    def listening(v: Any) -> bool:
        return isinstance(v, CallView) and v.call_id == call_id and bool(v.monitored_by)

    assert views.wait_for(listening) is not None
    print(json.dumps({"event": "listening", "call_id": call_id}), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(*sys.argv[1:5])
