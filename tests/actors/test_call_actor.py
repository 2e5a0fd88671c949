"""CallActor failure containment: an exception while handling one call's message ends that
call only (legs hung up, an internal_error record written, actor stopped); a second call
living next to it is untouched."""

from __future__ import annotations

import datetime
import threading
import time
from typing import Any

import pykka
import pytest

from actors.call_actor import CallActor
from actors.deps import ActorDeps
from actors.loop import EventLoopThread
from actors.messages import GetCallView
from actors.sinks import MemoryRecordSink
from actors.switchboard import Switchboard
from actors.timers import TimerService
from core.ari_commands import HangupChannel
from core.ari_events import decode_event
from core.call import CallMachine
from core.call_config import CallRequest, CallSettings
from core.call_inputs import ChannelsListed
from core.domain import CallOutcome, CallStep


class RecordingPort:
    """Stands in for AriPort: remembers what was sent, answers nothing."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.lock = threading.Condition()

    def send(self, command: Any, reply_to: Any) -> None:
        with self.lock:
            self.sent.append(command)
            self.lock.notify_all()

    def first(self, kind: type, timeout: float = 5.0) -> Any:
        """The first command of `kind` sent, once the actor sent it."""
        with self.lock:
            self.lock.wait_for(lambda: any(isinstance(c, kind) for c in self.sent), timeout)
            return next(c for c in self.sent if isinstance(c, kind))


class ExplodingMachine(CallMachine):
    """A real CallMachine that raises outside its own guard on a chosen event type: once
    (the shell's path failed), or for good (the machine itself is broken)."""

    def __init__(self, *args: Any, explode_on: str, for_good: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.explode_on = explode_on
        self.for_good = for_good
        self.armed = False

    def commands_to_send(self) -> list[Any]:
        if self.armed:
            self.armed = self.for_good
            raise RuntimeError("boom in the shell's path")
        return super().commands_to_send()

    def receive(self, inp: Any, at: float) -> None:
        self.armed = self.armed or type(inp).__name__ == self.explode_on
        super().receive(inp, at)


def request(call_id: str) -> CallRequest:
    return CallRequest(
        call_id=call_id,
        agent_id="a1",
        agent_endpoint="Local/answer@sim-phones",
        customer_number="+33612345678",
        customer_endpoint="Local/answer@sim-phones",
        requested_at=time.time(),
    )


@pytest.fixture
def deps() -> Any:
    loop_thread = EventLoopThread("test-call-actor-loop")
    loop_thread.start()
    board = Switchboard.start()
    port = RecordingPort()
    sink = MemoryRecordSink()
    views: list[Any] = []
    deps = ActorDeps(
        switchboard=board,
        port=port,  # type: ignore[arg-type]
        timers=TimerService(loop_thread),
        sink=sink,  # type: ignore[arg-type]
        publish=views.append,
    )
    deps.published = views  # type: ignore[attr-defined]
    yield deps
    pykka.ActorRegistry.stop_all()
    loop_thread.stop()


@pytest.mark.parametrize("for_good", [False, True])
def test_exception_in_one_call_ends_it_with_internal_error_and_spares_the_other(
    deps: Any, for_good: bool
) -> None:
    settings = CallSettings()
    bad = ExplodingMachine(request("bad"), settings, explode_on="StasisStart", for_good=for_good)
    good = CallMachine(request("good"), settings)
    bad_ref = CallActor.start(request("bad"), bad, deps)
    good_ref = CallActor.start(request("good"), good, deps)

    started = decode_event(
        {
            "type": "StasisStart",
            "channel": {"id": "bad-agent", "state": "Up"},
            "args": ["agent", "bad"],
        }
    )
    bad_ref.tell(started)

    record = deps.sink.wait_for(lambda r: r.call_id == "bad", timeout=5)
    assert record is not None
    assert record.outcome == CallOutcome.INTERNAL_ERROR
    assert "boom" in record.reason
    assert bad_ref.actor_stopped.wait(5)
    hangups = [c for c in deps.port.sent if isinstance(c, HangupChannel)]
    # the agent leg, and the customer leg dialed at the agent's answer (its originate may
    # have been lost with the failure: a DELETE of it is harmless)
    assert {h.channel_id for h in hangups} <= {"bad-agent", "bad-customer"}
    assert "bad-agent" in {h.channel_id for h in hangups}

    assert good_ref.is_alive()
    assert good_ref.ask(GetCallView()).step == CallStep.AGENT_DIALING  # type: ignore[union-attr]
    assert [r.call_id for r in deps.sink.records] == ["bad"]


def test_call_ended_by_the_machine_writes_one_record_and_stops(deps: Any) -> None:
    req = request("c9")
    ref = CallActor.start(req, CallMachine(req, CallSettings()), deps)
    # The agent leg is busy: Dial BUSY, then the ;1 and ;2 halves are destroyed.
    for raw in (
        {"type": "Dial", "peer": {"id": "c9-agent"}, "dialstatus": "BUSY"},
        {
            "type": "ChannelDestroyed",
            "channel": {"id": "c9-agent-2"},
            "cause": 17,
            "cause_txt": "User busy",
        },
        {"type": "ChannelDestroyed", "channel": {"id": "c9-agent"}, "cause": 0},
    ):
        ref.tell(decode_event(raw))
    record = deps.sink.wait_for(lambda r: r.call_id == "c9", timeout=5)
    assert record is not None and record.outcome == CallOutcome.AGENT_BUSY
    assert ref.actor_stopped.wait(5)
    assert len([r for r in deps.sink.records if r.call_id == "c9"]) == 1


def test_reconcile_ends_only_calls_whose_known_legs_vanished(deps: Any) -> None:
    from core.ari_commands import AriCommandSucceeded, OriginateChannel

    req = request("r1")
    ref = CallActor.start(req, CallMachine(req, CallSettings()), deps)
    originate = deps.port.first(OriginateChannel)
    ref.tell(AriCommandSucceeded(command=originate, status=200, body={"id": "r1-agent"}))
    # The agent leg still exists; the customer was never dialed: nothing vanished.
    ref.tell(ChannelsListed(channel_ids=frozenset({"r1-agent", "r1-agent-2"})))
    assert ref.ask(GetCallView()).step == CallStep.AGENT_DIALING  # type: ignore[union-attr]
    assert deps.sink.records == []
    # Asterisk lost the agent leg while the socket was down: the call ends with a record.
    ref.tell(ChannelsListed(channel_ids=frozenset()))
    record = deps.sink.wait_for(lambda r: r.call_id == "r1", timeout=5)
    assert record is not None and record.outcome != CallOutcome.COMPLETED
    assert ref.actor_stopped.wait(5)


def test_reconcile_ignores_a_leg_first_known_after_the_listing(deps: Any) -> None:
    """The listing is asked for, the agent's originate answers, then the listing (without
    that channel, created a moment after it) reaches the actor: nothing vanished."""
    import time as clock

    from core.ari_commands import AriCommandSucceeded, OriginateChannel

    req = request("r2")
    ref = CallActor.start(req, CallMachine(req, CallSettings()), deps)
    originate = deps.port.first(OriginateChannel)
    listed_at = clock.time()
    ref.tell(AriCommandSucceeded(command=originate, status=200, body={"id": "r2-agent"}))
    ref.tell(ChannelsListed(channel_ids=frozenset(), listed_at=listed_at))
    assert ref.ask(GetCallView()).step == CallStep.AGENT_DIALING  # type: ignore[union-attr]
    assert deps.sink.records == []
    # A later listing that still lacks it: the leg is gone.
    ref.tell(ChannelsListed(channel_ids=frozenset(), listed_at=clock.time()))
    record = deps.sink.wait_for(lambda r: r.call_id == "r2", timeout=10)
    assert record is not None and record.outcome != CallOutcome.COMPLETED
    assert ref.actor_stopped.wait(10)


class RecordingTimers:
    """Stands in for TimerService: remembers every timer armed, fires none by itself."""

    def __init__(self) -> None:
        self.armed: list[Any] = []

    def start(self, key: Any, delay_s: float, message: Any, reply_to: Any) -> None:
        self.armed.append(message)

    def cancel(self, key: Any) -> None:
        pass

    def cancel_all(self, prefix: Any) -> None:
        pass


def test_late_firing_of_a_replaced_timer_is_not_taken_for_the_new_one(deps: Any) -> None:
    """The press-1 timer is re-armed when the prompt ends; had the first one fired just
    before (its TimerFired already in the inbox), the agent must still get the new wait."""
    from core.ari_events import decode_event as decode

    timers = RecordingTimers()
    deps.timers = timers
    settings = CallSettings(acceptance=True, acceptance_timeout_s=100, acceptance_wait_s=100)
    req = request("t1")
    ref = CallActor.start(req, CallMachine(req, settings), deps)
    ref.tell(
        decode({"type": "StasisStart", "channel": {"id": "t1-agent", "state": "Up"}, "args": []})
    )
    ref.tell(
        decode(
            {
                "type": "PlaybackFinished",
                "playback": {"id": "t1-pb-press1", "state": "done", "target_uri": ""},
            }
        )
    )
    assert ref.ask(GetCallView()).step == CallStep.AGENT_CONFIRMING  # type: ignore[union-attr]
    confirms = [m for m in timers.armed if m.name == "agent_confirm"]
    assert len(confirms) == 2 and confirms[0] != confirms[1]
    ref.tell(confirms[0])  # the replaced timer's late firing
    assert ref.ask(GetCallView()).step == CallStep.AGENT_CONFIRMING  # type: ignore[union-attr]
    ref.tell(confirms[1])  # the current one: the agent did not confirm, the leg is hung up
    view = ref.ask(GetCallView())
    assert view.step == CallStep.ENDING  # type: ignore[union-attr]
    assert view.outcome == CallOutcome.AGENT_NOT_CONFIRMED  # type: ignore[union-attr]


def test_a_cancelled_call_ends_ended_in_the_record_the_views_and_the_archive(deps: Any) -> None:
    """One final-step rule (core.call_outcomes): a call hung up from the UI before the
    customer answered is CANCELLED and ends `ended`, never `failed`, wherever it is shown."""
    from types import SimpleNamespace

    from actors.messages import UiHangUp
    from gateway.archive import history_view

    req = request("x1")
    ref = CallActor.start(req, CallMachine(req, CallSettings()), deps)
    ref.tell(UiHangUp(requested_by="a1"))
    ref.tell(decode_event({"type": "ChannelDestroyed", "channel": {"id": "x1-agent"}}))
    record = deps.sink.wait_for(lambda r: r.call_id == "x1", timeout=5)
    assert record is not None and record.outcome == CallOutcome.CANCELLED
    assert record.steps[-1].step == CallStep.ENDED
    assert ref.actor_stopped.wait(5)
    last = [v for v in deps.published if v.call_id == "x1"][-1]
    assert last.step == CallStep.ENDED and last.outcome == CallOutcome.CANCELLED
    archived = SimpleNamespace(
        call_id="x1",
        outcome="cancelled",
        ended_at=datetime.datetime(2026, 1, 1, 12, 0),
        talk_seconds=0.0,
        customer_number=req.customer_number,
        contact_id=None,
        reason=record.reason,
        recording_name=None,
        hung_up_first="ui",
    )
    assert history_view("a1", archived).step == CallStep.ENDED
