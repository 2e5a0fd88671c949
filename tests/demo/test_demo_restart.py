"""Starting the demo again on the same data dir: the seed is the same, the history stays,
and a call that was live when the demo stopped is closed with a record on the next start
(the embedded simulator does not outlive the demo)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from actors.messages import FlushNow
from actors.sinks import MemoryRecordSink
from core.domain import CallStep
from core.records import CallRecord
from core.views import CallView
from evscallpro.demo import Demo

pytestmark = pytest.mark.timeout(90)

WAIT_S = 20.0
ANSWERING_CUSTOMER = "+33199005305"  # answers, talks 25 s to 2.5 min (simulated)


class Views:
    def __init__(self) -> None:
        self.seen: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, view: Any) -> None:
        with self._cond:
            self.seen.append(view)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Any], bool]) -> Any:
        with self._cond:
            self._cond.wait_for(lambda: any(predicate(v) for v in self.seen), WAIT_S)
            return next((v for v in self.seen if predicate(v)), None)


def _demo(data_dir: Path, records: MemoryRecordSink) -> Demo:
    return Demo(
        data_dir=str(data_dir),
        port=0,
        ari_port=0,
        time_scale=5.0,
        flush_interval_s=0.05,
        extra_sinks=[records],
    ).start()


def test_restart_keeps_history_and_closes_the_call_left_live(tmp_path: Path) -> None:
    first_records = MemoryRecordSink()
    demo = _demo(tmp_path, first_records)
    try:
        assert demo.stack is not None and demo.seed is not None
        first_seed = demo.seed
        users_file = (tmp_path / "users.json").read_text()
        app = demo.stack.call_center
        views = Views()
        app.subscribe(views)
        assert app.log_in("agent1") is None
        assert app.place_call("agent1", ANSWERING_CUSTOMER) is None
        connected = views.wait_for(
            lambda v: isinstance(v, CallView) and v.step == CallStep.CONNECTED
        )
        assert connected is not None
        live_call = connected.call_id
    finally:
        demo.stop()  # the call is still up: its talk time is far longer than this test
    assert not [r for r in first_records.records if isinstance(r, CallRecord)]

    second_records = MemoryRecordSink()
    demo = _demo(tmp_path, second_records)
    try:
        assert demo.stack is not None
        assert demo.seed == first_seed
        assert (tmp_path / "users.json").read_text() == users_file  # hashes kept
        assert demo.stack.gateway is not None
        assert demo.stack.gateway.gateway.contacts.count() == 50
        record = second_records.wait_for(
            lambda r: isinstance(r, CallRecord) and r.call_id == live_call, WAIT_S
        )
        assert record is not None, "the call left live was never closed"
        assert record.recovered
        writer = demo.stack.analytics.writer
        assert writer is not None
        writer.ask(FlushNow(), timeout=10)
        today = dt.datetime.now(dt.UTC).date()
        stored = demo.stack.analytics.reader.calls_for_agent("agent1", today)
        assert live_call in [row.call_id for row in stored]
    finally:
        demo.stop()
