"""Recordings come from Asterisk through ARI (GET /recordings/stored/{name}/file), so the
gateway needs no disk shared with Asterisk (issue 10, item 19). Against the simulator, which
serves that endpoint as Asterisk does."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import Browser

from asterisk.sim.testing import SimulatorThread
from core.domain import WorkstationMode
from core.records import CallRecord
from core.settings import AgentSettings, AriSettings, SupervisorSettings
from evscallpro.settings_file import Settings
from evscallpro.stack import Stack
from gateway.recordings import AriRecordings, RecordingsUnavailable
from gateway.settings import GatewaySettings
from gateway.users import hash_password

pytestmark = pytest.mark.timeout(90)
WAIT_S = 30.0


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatorThread]:
    simulator = SimulatorThread(time_scale=20.0, recordings_dir=tmp_path / "asterisk-spool")
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()


def _reader(sim: SimulatorThread, password: str | None = None) -> AriRecordings:
    return AriRecordings(sim.base_url, sim.username, password or sim.password)


async def test_stored_recordings_and_their_files_through_ari(sim: SimulatorThread) -> None:
    written = sim.engine.store.write("call-42", "wav", 0.5)
    recordings = _reader(sim)
    assert "call-42" in await recordings.stored()
    audio = await recordings.fetch("call-42")
    assert audio is not None
    assert audio.data == written.read_bytes() and audio.data.startswith(b"RIFF")
    assert audio.content_type == "audio/wav"
    assert await recordings.fetch("no-such-call") is None
    assert await recordings.fetch("../etc/passwd") is None  # never sent to Asterisk


async def test_refused_or_unreachable_ari_is_a_clear_error_without_the_password(
    sim: SimulatorThread,
) -> None:
    with pytest.raises(RecordingsUnavailable) as refused:
        await _reader(sim, password="s3cret-wrong").stored()
    assert "401" in str(refused.value) and "s3cret-wrong" not in str(refused.value)
    gone = AriRecordings("http://127.0.0.1:9", "evscallpro", "s3cret-gone", timeout_s=2.0)
    with pytest.raises(RecordingsUnavailable) as unreachable:
        await gone.fetch("call-42")
    assert "unreachable" in str(unreachable.value)
    assert "s3cret-gone" not in str(unreachable.value)


class _Records:
    def __init__(self) -> None:
        self.recorded: list[CallRecord] = []
        self.done = threading.Event()

    def write(self, record: Any) -> None:
        if isinstance(record, CallRecord) and record.recording_name:
            self.recorded.append(record)
            self.done.set()


async def test_the_recordings_page_plays_what_asterisk_recorded(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    records = _Records()
    settings = Settings(
        ari=AriSettings(url=sim.base_url),
        agents=[AgentSettings(id="a1", workstation=WorkstationMode.SOFTPHONE,
                              softphone_endpoint="agent-1001")],
        supervisors=[SupervisorSettings(id="sam", softphone_endpoint="supervisor-2001",
                                        password_hash=hash_password("pw-sam-1234"))],
        data_dir=str(tmp_path / "gateway-data"),  # not the simulator's spool
        gateway=GatewaySettings(port=0),
    )
    stack = Stack(settings, extra_sinks=[records], flush_interval_s=0.2).start()
    browser = Browser(stack.url)
    try:
        app = stack.call_center
        assert app.log_in("a1") is None
        assert app.place_call("a1", "+33600000008") is None  # answers, talks, hangs up
        assert await asyncio.to_thread(records.done.wait, WAIT_S)
        name = records.recorded[0].recording_name
        assert name is not None
        spool = sim.recordings_dir / f"{name}.wav"
        assert spool.is_file()
        assert not list(Path(settings.data_dir).rglob(f"{name}*"))  # nothing on our disk

        assert (await browser.login("sam", "pw-sam-1234")).status == 200
        deadline = time.monotonic() + WAIT_S
        while True:  # the row appears once the archive (DuckDB) has the record
            page = await (await browser.get("/recordings")).text()
            if f'src="/recordings/{name}.wav"' in page or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert f'src="/recordings/{name}.wav"' in page
        response = await browser.get(f"/recordings/{name}.wav")
        assert response.status == 200
        assert response.headers["Content-Type"] == "audio/wav"
        assert await response.read() == spool.read_bytes()
        seek = await browser.http.get(stack.url + f"/recordings/{name}.wav",
                                      headers=browser.headers({"Range": "bytes=44-"}))
        assert seek.status == 206  # an <audio> element seeking into the call
        assert await seek.read() == spool.read_bytes()[44:]
        assert (await browser.get("/recordings/not-a-call.wav")).status == 404
    finally:
        await browser.close()
        stack.stop()


def test_byte_ranges_for_a_seeking_audio_element() -> None:
    from gateway.recordings import RecordingFile, audio_response, byte_range

    assert byte_range("bytes=0-99", 1000) == (0, 99)
    assert byte_range("bytes=900-", 1000) == (900, 999)
    assert byte_range("bytes=-100", 1000) == (900, 999)
    assert byte_range("bytes=500-5000", 1000) == (500, 999)
    assert byte_range("bytes=1000-", 1000) is None
    for bad in ("bytes=-", "items=0-1", "bytes=0-1,5-6"):
        with pytest.raises(ValueError):
            byte_range(bad, 1000)
    audio = RecordingFile(bytes(range(256)) * 4, "audio/wav")
    whole = audio_response(audio, [])
    assert whole.status_code == 200 and whole.body == audio.data
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = audio_response(audio, ["bytes=10-19"])
    assert part.status_code == 206 and part.body == audio.data[10:20]
    assert part.headers["Content-Range"] == "bytes 10-19/1024"
    past = audio_response(audio, ["bytes=5000-"])
    assert past.status_code == 416 and past.headers["Content-Range"] == "bytes */1024"
    assert audio_response(audio, ["bytes=0-1", "bytes=2-3"]).status_code == 200
