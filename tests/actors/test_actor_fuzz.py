"""Property-based fuzzing (hypothesis) of ARI events reaching a live call's actor.

A real CallActor (real CallMachine, real TimerService, short guard timers) owns call `c1`; the
events are raw JSON messages, valid-looking and malformed (tests/core/test_core_fuzz_hypothesis
generates them), decoded with `decode_event_json` and told to the real Switchboard wrapped in
`Arrived`, exactly as actors/ari_link.py does. The ARI port is a stand-in that answers each
command with a success or a failure drawn by hypothesis. Then the call's legs are destroyed.

Properties: no actor dies (the switchboard stays alive, nothing is logged at ERROR, no pykka
crash), and the call ends with exactly one record, its actor then stopping. A few examples
only: each starts actors and an event-loop thread.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pykka
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))

from test_core_fuzz_hypothesis import CALL_IDS, wire_event

from actors.call_actor import CallActor
from actors.deps import ActorDeps
from actors.loop import EventLoopThread
from actors.messages import Arrived, GetStats
from actors.sinks import MemoryRecordSink
from actors.switchboard import Switchboard
from actors.timers import TimerService
from core.ari_commands import AriCommandFailed, AriCommandSucceeded
from core.ari_events import decode_event, decode_event_json
from core.call import CallMachine
from core.call_config import CallRequest, CallSettings

WAIT_S = 20.0  # bounds failures only; the guard timers below end any call within seconds

SHORT = CallSettings(
    agent_ring_timeout_s=1,
    customer_ring_timeout_s=1,
    acceptance_timeout_s=1.0,
    acceptance_wait_s=0.5,
    stasis_guard_s=0.5,
    prompt_guard_s=1.0,
    bridge_guard_s=0.5,
    ending_guard_s=1.0,
)


class AnsweringPort:
    """Stands in for AriPort: answers each command at once, success or failure as drawn."""

    def __init__(self, replies: list[int]) -> None:
        self.replies = replies or [200]
        self.sent: list[Any] = []
        self.lock = threading.Lock()

    def send(self, command: Any, reply_to: Any) -> None:
        with self.lock:
            status = self.replies[len(self.sent) % len(self.replies)]
            self.sent.append(command)
        if reply_to is None:
            return
        outcome: Any = (AriCommandSucceeded(command=command, status=status, body=None)
                        if status < 300 else
                        AriCommandFailed(command=command, status=status, message="fuzz"))
        with contextlib.suppress(pykka.ActorDeadError):  # the call ended: the answer is moot
            reply_to.tell(outcome)


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.found.append(f"{record.name}: {record.getMessage()}")


class Rig:
    def __init__(self, replies: list[int]) -> None:
        self.loop_thread = EventLoopThread("test-actor-fuzz-loop")
        self.loop_thread.start()
        self.board = Switchboard.start()
        self.port = AnsweringPort(replies)
        self.sink = MemoryRecordSink()
        self.deps = ActorDeps(
            switchboard=self.board,
            port=self.port,  # type: ignore[arg-type]
            timers=TimerService(self.loop_thread),
            sink=self.sink,  # type: ignore[arg-type]
        )

    def close(self) -> None:
        pykka.ActorRegistry.stop_all()
        self.loop_thread.stop()


def request() -> CallRequest:
    return CallRequest(
        call_id="c1",
        agent_id="a1",
        agent_endpoint="PJSIP/+33611111111@trunk",
        customer_number="+33622222222",
        customer_endpoint="PJSIP/+33622222222@trunk",
        requested_at=time.time(),
    )


def arrive(board: Any, data: bytes) -> None:
    board.tell(Arrived(event=decode_event_json(data), at=time.perf_counter()))


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    events=st.lists(wire_event(CALL_IDS), min_size=1, max_size=20),
    replies=st.lists(st.sampled_from((200, 204, 200, 404, 409, 500, 503)), max_size=6),
    pause_every=st.integers(min_value=0, max_value=6),
)
def test_call_actor_survives_fuzzed_events_through_the_switchboard(
        events: list[bytes], replies: list[int], pause_every: int) -> None:
    rig = Rig(replies)
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    try:
        req = request()
        ref = CallActor.start(req, CallMachine(req, SHORT), rig.deps)
        for i, data in enumerate(events):
            arrive(rig.board, data)
            if pause_every and i % pause_every == 0 and ref.is_alive():
                ref.ask(GetStats())  # the actor catches up: replies and timers interleave
        for raw in (  # whatever happened, the phones hang up
            {"type": "ChannelDestroyed", "channel": {"id": "c1-agent-2"}, "cause": 16},
            {"type": "ChannelDestroyed", "channel": {"id": "c1-agent"}, "cause": 16},
            {"type": "ChannelDestroyed", "channel": {"id": "c1-customer"}, "cause": 16},
        ):
            rig.board.tell(Arrived(event=decode_event(raw), at=time.perf_counter()))
        record = rig.sink.wait_for(lambda r: getattr(r, "call_id", None) == "c1", WAIT_S)
        assert record is not None, "the call never ended with a record"
        assert ref.actor_stopped.wait(WAIT_S), "the call's actor did not stop after its record"
        assert rig.board.is_alive(), "the switchboard died"
        rig.board.ask(GetStats())  # it still answers
        assert [r for r in rig.sink.records if getattr(r, "call_id", None) == "c1"] == [record]
    finally:
        logging.getLogger().removeHandler(errors)
        rig.close()
    assert errors.found == []
