"""ARI port: command -> REST request mapping (as recorded from Asterisk 22) and error mapping
against a real HTTP server on 127.0.0.1 that answers like ARI does."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from actors.ari_port import AriPort, request_for
from actors.loop import EventLoopThread
from asterisk.sim.testing import SimulatorThread
from core.ari_commands import (
    AddToBridge,
    AriCommandFailed,
    AriCommandSucceeded,
    CreateBridge,
    DestroyBridge,
    HangupChannel,
    OriginateChannel,
    PlayMedia,
    RecordBridge,
    SnoopChannel,
)
from core.retry import NO_RETRY, RetryPolicy, is_retryable


def test_originate_maps_to_the_recorded_request() -> None:
    req = request_for(
        OriginateChannel(
            channel_id="s01-agent",
            endpoint="Local/answer@sim-phones",
            app="evscallpro",
            app_args="agent,call-s01",
            caller_id='"EVS CallPro" <+33100000000>',
            variables={"EVS_CALL_ID": "call-s01"},
            other_channel_id="s01-agent-2",
        )
    )
    assert (req.method, req.path) == ("POST", "/channels")
    assert req.query == {
        "endpoint": "Local/answer@sim-phones",
        "app": "evscallpro",
        "appArgs": "agent,call-s01",
        "channelId": "s01-agent",
        "otherChannelId": "s01-agent-2",
        "timeout": "30",
        "callerId": '"EVS CallPro" <+33100000000>',
    }
    assert req.body == {"variables": {"EVS_CALL_ID": "call-s01"}}


def test_other_mappings() -> None:
    play = request_for(PlayMedia(channel_id="a", playback_id="p", media=("sound:x", "sound:y")))
    assert play.path == "/channels/a/play/p" and play.query["media"] == "sound:x,sound:y"
    add = request_for(AddToBridge(bridge_id="b", channel_ids=("a", "c")))
    assert add.path == "/bridges/b/addChannel" and add.query == {"channel": "a,c"}
    rec = request_for(RecordBridge(bridge_id="b", name="r"))
    assert rec.query["ifExists"] == "fail" and rec.query["beep"] == "false"
    snoop = request_for(SnoopChannel(channel_id="a", snoop_id="s", app="evscallpro"))
    assert snoop.path == "/channels/a/snoop" and snoop.query["snoopId"] == "s"
    hang = request_for(HangupChannel(channel_id="a/b"))
    assert hang.method == "DELETE" and hang.path == "/channels/a%2Fb"


class Inbox:
    def __init__(self) -> None:
        self.items: list[Any] = []
        self.event = threading.Event()

    def tell(self, message: Any) -> None:
        self.items.append(message)
        self.event.set()

    def wait(self) -> Any:
        assert self.event.wait(5), "no outcome told back"
        self.event.clear()
        return self.items[-1]


@pytest.fixture
def ari_server() -> Iterator[tuple[EventLoopThread, str]]:
    """A tiny ARI look-alike: errors with the bodies recorded in S12."""
    loop_thread = EventLoopThread("test-ari-loop")
    loop_thread.start()
    seen: list[tuple[str, str, dict[str, str]]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, dict(request.query)))
        if request.headers.get("Authorization") is None:
            return web.json_response({"message": "Authentication required"}, status=401)
        path = request.path
        if path == "/ari/channels" and request.query.get("endpoint") == "PJSIP/1000":
            return web.json_response({"error": "Allocation failed"}, status=500)
        if path == "/ari/channels":
            return web.json_response({"id": request.query["channelId"], "state": "Down"})
        if path.startswith("/ari/channels/gone"):
            return web.json_response({"message": "Channel not found"}, status=404)
        if path == "/ari/slow":
            await asyncio.sleep(5)
        return web.Response(status=204)

    runner_box: dict[str, Any] = {}

    async def start() -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runner_box["runner"] = runner
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    base = loop_thread.submit(start()).result(5)
    yield loop_thread, base
    loop_thread.submit(runner_box["runner"].cleanup()).result(5)
    loop_thread.stop()


def test_port_tells_success_and_ari_errors_back(ari_server: tuple[EventLoopThread, str]) -> None:
    loop_thread, base = ari_server
    port = AriPort(loop_thread, base, "evscallpro", "evscallpro")
    port.start()
    inbox = Inbox()
    try:
        ok_cmd = OriginateChannel(channel_id="c1", endpoint="Local/answer@sim-phones", app="a")
        port.send(ok_cmd, inbox)
        ok = inbox.wait()
        assert isinstance(ok, AriCommandSucceeded)
        assert ok.status == 200 and ok.body["id"] == "c1" and ok.command == ok_cmd

        port.send(OriginateChannel(channel_id="c2", endpoint="PJSIP/1000", app="a"), inbox)
        failed = inbox.wait()
        assert isinstance(failed, AriCommandFailed)
        assert (failed.status, failed.message) == (500, "Allocation failed")

        port.send(HangupChannel(channel_id="gone"), inbox)
        gone = inbox.wait()
        assert isinstance(gone, AriCommandFailed)
        assert (gone.status, gone.message) == (404, "Channel not found")
    finally:
        port.stop()


def test_port_reports_unreachable_server_as_status_0() -> None:
    loop_thread = EventLoopThread("test-ari-loop-2")
    loop_thread.start()
    port = AriPort(
        loop_thread,
        "http://127.0.0.1:9",
        "u",
        "p",
        request_timeout_s=2,
        retry=RetryPolicy(delays_s=(0.01, 0.01)),
    )
    port.start()
    inbox = Inbox()
    try:
        port.send(HangupChannel(channel_id="x"), inbox)
        outcome = inbox.wait()
        assert isinstance(outcome, AriCommandFailed)
        assert outcome.status == 0 and outcome.message
        assert port.retried == 2  # a hang-up with no answer is sent again, then told
    finally:
        port.stop()
        loop_thread.stop()


def test_port_maps_simulator_faults_to_failed_commands_with_asterisks_message(
    sim: SimulatorThread,
) -> None:
    """fail_next makes the simulator answer like Asterisk's 500 Allocation failed."""
    loop_thread = EventLoopThread("test-ari-loop-3")
    loop_thread.start()
    port = AriPort(loop_thread, sim.base_url, sim.username, sim.password)
    port.start()
    inbox = Inbox()
    try:
        sim.fail_next("originate", 1, 500, "Allocation failed")
        port.send(
            OriginateChannel(channel_id="f1", endpoint="Local/answer@sim-phones", app="x"), inbox
        )
        failed = inbox.wait()
        assert isinstance(failed, AriCommandFailed)
        assert (failed.status, failed.message) == (500, "Allocation failed")
        port.send(HangupChannel(channel_id="never-existed"), inbox)
        gone = inbox.wait()
        assert isinstance(gone, AriCommandFailed) and gone.status == 404
        assert gone.message == "Channel not found"
    finally:
        port.stop()
        loop_thread.stop()


def test_only_teardown_failing_on_the_server_side_is_retryable() -> None:
    assert is_retryable(HangupChannel(channel_id="a"), 503)
    assert is_retryable(DestroyBridge(bridge_id="b"), 500)
    assert is_retryable(DestroyBridge(bridge_id="b"), 0)
    assert not is_retryable(HangupChannel(channel_id="a"), 404)
    assert not is_retryable(AddToBridge(bridge_id="b", channel_ids=("a",)), 503)
    assert not is_retryable(OriginateChannel(channel_id="a", endpoint="x", app="y"), 500)
    assert RetryPolicy(delays_s=(1.0, 2.0)).wait_before(2) == 2.0
    assert RetryPolicy(delays_s=(1.0, 2.0)).wait_before(3) is None
    assert NO_RETRY.wait_before(1) is None
    with pytest.raises(ValueError):
        RetryPolicy(delays_s=(-1.0,))


def test_hangup_and_bridge_deletion_failing_with_503_are_retried_until_done() -> None:
    """Issue 10 items 3 and 5: the simulator fails the next 3 DELETEs with 503; the port
    sends them again after a back-off until Asterisk does it, then tells the success."""
    from asterisk.sim.testing import SimulatorThread

    sim = SimulatorThread(time_scale=20.0).start()
    loop_thread = EventLoopThread("test-ari-loop-4")
    loop_thread.start()
    port = AriPort(
        loop_thread,
        sim.base_url,
        sim.username,
        sim.password,
        retry=RetryPolicy(delays_s=(0.05,) * 5),
    )
    port.start()
    inbox = Inbox()
    try:
        port.send(
            # rings on (no app needs to run it), so it is there to hang up
            OriginateChannel(
                channel_id="r1", endpoint="Local/noanswer@sim-phones", app="x", timeout_s=600
            ),
            inbox,
        )
        assert isinstance(inbox.wait(), AriCommandSucceeded)
        port.send(CreateBridge(bridge_id="rb1"), inbox)
        assert isinstance(inbox.wait(), AriCommandSucceeded)
        sim.fail_next("DELETE /channels/{channelId}", 3, 503, "Service Unavailable")
        sim.fail_next("DELETE /bridges/{bridgeId}", 3, 503, "Service Unavailable")
        port.send(HangupChannel(channel_id="r1"), inbox)
        hung_up = inbox.wait()
        assert isinstance(hung_up, AriCommandSucceeded), hung_up
        port.send(DestroyBridge(bridge_id="rb1"), inbox)
        deleted = inbox.wait()
        assert isinstance(deleted, AriCommandSucceeded), deleted
        assert port.retried == 6
        state = sim.state()
        assert "r1" not in {c["id"] for c in state["channels"]}
        assert "rb1" not in {b["id"] for b in state["bridges"]}
        # an originate refused with 500 is told at once, never sent twice
        sim.fail_next("originate", 1, 500, "Allocation failed")
        port.send(
            OriginateChannel(channel_id="r2", endpoint="Local/answer@sim-phones", app="x"), inbox
        )
        assert isinstance(inbox.wait(), AriCommandFailed) and port.retried == 6
    finally:
        port.stop()
        loop_thread.stop()
        sim.stop()
