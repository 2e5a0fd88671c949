"""aioari itself, unchanged, drives a whole call through the simulator."""

from __future__ import annotations

import asyncio
import wave
from typing import Any

import aioari
import pytest

from asterisk.sim.testing import running_simulator

pytestmark = pytest.mark.timeout(60)
WAIT_S = 5.0


async def test_aioari_connects_originates_plays_bridges_records_and_hangs_up() -> None:
    async with running_simulator(time_scale=10.0) as sim:
        client = await aioari.connect(sim.base_url, sim.username, sim.password)
        started: dict[str, asyncio.Future[Any]] = {
            "agent": asyncio.get_running_loop().create_future(),
            "customer": asyncio.get_running_loop().create_future(),
        }
        playback_done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        recording_done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        ended: dict[str, asyncio.Event] = {"agent": asyncio.Event(), "customer": asyncio.Event()}

        async def on_start(objects: Any, event: dict[str, Any]) -> None:
            # StasisStart has two Channel fields (channel, replace_channel), so aioari hands
            # a dict of objects, exactly as with Asterisk's own events.json
            role = event["args"][0]
            if not started[role].done():
                started[role].set_result(objects["channel"])

        async def on_end(channel: Any, event: dict[str, Any]) -> None:
            for role, fut in started.items():
                if fut.done() and fut.result().id == channel.id:
                    ended[role].set()

        async def on_playback_finished(playback: Any, event: dict[str, Any]) -> None:
            if not playback_done.done():
                playback_done.set_result(event)

        async def on_recording_finished(recording: Any, event: dict[str, Any]) -> None:
            if not recording_done.done():
                recording_done.set_result(event)

        client.on_channel_event("StasisStart", on_start)
        client.on_channel_event("StasisEnd", on_end)
        client.on_playback_event("PlaybackFinished", on_playback_finished)
        client.on_live_recording_event("RecordingFinished", on_recording_finished)
        runner = asyncio.get_running_loop().create_task(client.run(apps=sim.app_default))
        try:
            info = await client.asterisk.getInfo()
            assert info["system"]["version"] == "22.10.1"
            agent = await client.channels.originate(
                endpoint="Local/answer@sim-phones", app=sim.app_default,
                appArgs="agent,call-a", channelId="agent-leg", otherChannelId="agent-leg-2",
                callerId='"EVS CallPro" <+33100000000>', timeout=30,
                variables={"EVS_CALL_ID": "call-a"})
            assert agent.id == "agent-leg" and agent.json["state"] == "Down"
            agent = await asyncio.wait_for(started["agent"], WAIT_S)
            assert (await client.channels.get(channelId="agent-leg")).json["state"] == "Up"

            playback = await agent.play(media="sound:hello-world", lang="en")
            assert playback.json["state"] == "queued"
            finished = await asyncio.wait_for(playback_done, WAIT_S)
            assert finished["playback"]["state"] == "done"
            await agent.startMoh(mohClass="default")

            await client.channels.originate(
                endpoint="PJSIP/+33600000008@carrier", app=sim.app_default,  # BYE after 5 s
                appArgs="customer,call-a", channelId="customer-leg", timeout=30)
            customer = await asyncio.wait_for(started["customer"], WAIT_S)
            assert customer.json["name"].startswith("PJSIP/carrier-")

            bridge = await client.bridges.create(type="mixing", bridgeId="call-a-bridge",
                                                 name="call-a")
            await bridge.addChannel(channel=["agent-leg", "customer-leg"])
            await agent.stopMoh()
            recording = await bridge.record(name="call-a-rec", format="wav", ifExists="fail")
            assert recording.json["state"] == "queued"
            live = await client.recordings.getLive(recordingName="call-a-rec")
            assert live.json["state"] == "recording"
            members = (await client.bridges.get(bridgeId="call-a-bridge")).json["channels"]
            assert members == ["agent-leg", "customer-leg"]

            await asyncio.wait_for(ended["customer"].wait(), WAIT_S)  # the customer hangs up
            await agent.hangup(reason="normal")
            await asyncio.wait_for(ended["agent"].wait(), WAIT_S)
            done = await asyncio.wait_for(recording_done, WAIT_S)
            duration = done["recording"]["duration"]
            assert 2 <= duration <= 5  # BYE 5 s after answer; recording starts just after
            await bridge.destroy()

            stored = await client.recordings.listStored()
            assert [r.json for r in stored] == [{"name": "call-a-rec", "format": "wav"}]
            with wave.open(str(sim.recordings_dir / "call-a-rec.wav")) as audio:
                seconds = audio.getnframes() / audio.getframerate()
            assert duration <= seconds < duration + 1
            assert await client.channels.list() == []
        finally:
            await client.close()
            await asyncio.wait_for(runner, WAIT_S)
