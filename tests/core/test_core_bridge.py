"""BridgeMachine: one ARI bridge from creation to Asterisk's word that it is gone."""

from __future__ import annotations

from typing import Any

from bridge_host import entered, left_bridge
from call_events_factory import failed, ok

from core.ari_commands import (
    AddToBridge,
    CreateBridge,
    DestroyBridge,
    RecordBridge,
    StopRecording,
)
from core.ari_events import Bridge, BridgeDestroyed, LiveRecording, RecordingFinished
from core.bridge import (
    AddMembers,
    BridgeClosed,
    BridgeMachine,
    BridgeOpened,
    BridgeOpenFailed,
    BridgeState,
    CloseBridge,
    MemberEntered,
    MemberLeft,
    MembersRefused,
    RecordingReport,
    StartBridgeRecording,
    StopBridgeRecording,
)
from core.timers import CancelTimer, StartTimer, TimerFired

BID = "c1-bridge-1"


class Run:
    def __init__(self) -> None:
        self.m = BridgeMachine(BID, "call-c1")
        self.m.open()
        self.commands: list[Any] = self.m.commands_to_send()
        self.reports: list[Any] = []

    def feed(self, *inputs: Any) -> list[Any]:
        out: list[Any] = []
        for inp in inputs:
            self.m.receive(inp)
            out += self.m.commands_to_send()
            self.reports += self.m.reports_emitted()
        self.commands += out
        return out


def test_create_then_queued_adds_and_recording_go_out_once_created() -> None:
    r = Run()
    assert r.commands == [CreateBridge(bridge_id=BID, name="call-c1")]
    r.m.open()  # a second open sends nothing
    assert r.m.commands_to_send() == []
    out = r.feed(AddMembers(("a", "b")), StartBridgeRecording(name="c1"))
    assert out == []  # not created yet
    out = r.feed(ok(CreateBridge(bridge_id=BID)))
    assert out == [
        AddToBridge(bridge_id=BID, channel_ids=("a", "b")),
        RecordBridge(bridge_id=BID, name="c1"),
    ]
    assert r.reports == [BridgeOpened(BID)]
    assert r.m.state == BridgeState.OPEN


def test_membership_comes_from_events_not_from_204() -> None:
    r = Run()
    r.feed(ok(CreateBridge(bridge_id=BID)), AddMembers(("a",)))
    r.feed(ok(AddToBridge(bridge_id=BID, channel_ids=("a",)), 204))
    assert r.m.members == set()
    r.feed(entered(BID, "a"), entered("other-bridge", "b"))
    assert r.m.members == {"a"}
    r.feed(left_bridge(BID, "a"))
    assert r.m.members == set()
    assert r.reports[1:] == [MemberEntered(BID, "a"), MemberLeft(BID, "a")]


def test_409_on_create_is_reported_and_queued_adds_refused() -> None:
    r = Run()
    r.feed(AddMembers(("a",)))
    r.feed(failed(CreateBridge(bridge_id=BID), 409, f"Bridge with id '{BID}' already exists"))
    assert r.m.state == BridgeState.FAILED and r.m.is_finished
    assert r.reports == [
        BridgeOpenFailed(BID, 409, f"Bridge with id '{BID}' already exists"),
        MembersRefused(BID, ("a",), 409, f"Bridge with id '{BID}' already exists"),
    ]
    assert not [c for c in r.commands if isinstance(c, DestroyBridge)]


def test_create_with_no_answer_is_deleted_to_be_sure() -> None:
    r = Run()
    out = r.feed(failed(CreateBridge(bridge_id=BID), 0, "TimeoutError"))
    assert out == [DestroyBridge(bridge_id=BID)]
    r.feed(failed(DestroyBridge(bridge_id=BID), 404, "Bridge not found"))
    assert r.m.state == BridgeState.CLOSED


def test_close_waits_for_bridge_destroyed() -> None:
    r = Run()
    r.feed(ok(CreateBridge(bridge_id=BID)))
    out = r.feed(CloseBridge())
    assert out == [DestroyBridge(bridge_id=BID)]
    out = r.feed(ok(DestroyBridge(bridge_id=BID), 204))
    assert out == [StartTimer("bridge_destroy_confirm", 2.0)]
    assert r.m.state == BridgeState.CLOSING  # a 204 is not "gone"
    out = r.feed(BridgeDestroyed(bridge=Bridge(id=BID)))
    assert out == [CancelTimer("bridge_destroy_confirm")]
    assert r.m.state == BridgeState.CLOSED and r.reports[-1] == BridgeClosed(BID, asked=True)


def test_no_bridge_destroyed_asks_again_and_404_confirms() -> None:
    r = Run()
    r.feed(ok(CreateBridge(bridge_id=BID)), CloseBridge(), ok(DestroyBridge(bridge_id=BID), 204))
    out = r.feed(TimerFired("bridge_destroy_confirm"))
    assert out == [DestroyBridge(bridge_id=BID)]
    r.feed(failed(DestroyBridge(bridge_id=BID), 404, "Bridge not found"))
    assert r.m.state == BridgeState.CLOSED


def test_delete_failing_with_5xx_is_retried_with_back_off_until_confirmed() -> None:
    r = Run()
    r.feed(ok(CreateBridge(bridge_id=BID)), CloseBridge())
    waits = []
    for _ in range(4):
        out = r.feed(failed(DestroyBridge(bridge_id=BID), 503, "Service Unavailable"))
        (timer,) = out
        assert isinstance(timer, StartTimer) and timer.name == "bridge_destroy_retry"
        waits.append(timer.seconds)
        assert r.feed(TimerFired("bridge_destroy_retry")) == [DestroyBridge(bridge_id=BID)]
    assert waits == [0.5, 1.0, 2.0, 4.0]
    assert r.m.state == BridgeState.CLOSING
    r.feed(ok(DestroyBridge(bridge_id=BID), 204), BridgeDestroyed(bridge=Bridge(id=BID)))
    assert r.m.state == BridgeState.CLOSED


def test_close_before_created_deletes_once_created_and_adds_nothing() -> None:
    r = Run()
    r.feed(AddMembers(("a",)), CloseBridge())
    out = r.feed(ok(CreateBridge(bridge_id=BID)))
    assert out == [DestroyBridge(bridge_id=BID)]
    out = r.feed(AddMembers(("b",)))
    assert out == [] and r.reports[-1] == MembersRefused(BID, ("b",), 0, "bridge closing")


def test_add_404_means_the_bridge_is_gone() -> None:
    r = Run()
    r.feed(ok(CreateBridge(bridge_id=BID)), AddMembers(("a",)))
    r.feed(failed(AddToBridge(bridge_id=BID, channel_ids=("a",)), 404, "Bridge not found"))
    assert r.reports[-2:] == [
        MembersRefused(BID, ("a",), 404, "Bridge not found"),
        BridgeClosed(BID, asked=False),
    ]


def test_recording_reports_and_stop() -> None:
    r = Run()
    r.feed(ok(CreateBridge(bridge_id=BID)), StartBridgeRecording(name="c1"))
    out = r.feed(StopBridgeRecording())
    assert out == [StopRecording(name="c1")]
    r.feed(
        RecordingFinished(
            recording=LiveRecording(name="c1", state="done", target_uri=f"bridge:{BID}", duration=3)
        )
    )
    assert r.reports[-1] == RecordingReport(BID, "c1", "finished", 3)
    assert r.feed(StopBridgeRecording()) == []  # nothing live any more


def test_events_of_other_bridges_and_after_the_end_are_ignored() -> None:
    r = Run()
    r.feed(ok(CreateBridge(bridge_id=BID)), BridgeDestroyed(bridge=Bridge(id="other")))
    assert r.m.state == BridgeState.OPEN
    r.feed(BridgeDestroyed(bridge=Bridge(id=BID)))
    assert r.reports[-1] == BridgeClosed(BID, asked=False)
    assert r.feed(AddMembers(("a",)), CloseBridge()) == []
