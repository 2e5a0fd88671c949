"""The simulator's sounds are Debian's core sound set: GET /sounds as Asterisk answers it,
playback lengths from the WAVs, missing sounds fail, and the data file is the generator's."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest
from sim_helpers import EventTap, ari, open_tap

from asterisk.sim import sounds
from asterisk.sim.testing import SimHandle, running_simulator
from core.call_config import CallPrompts
from evscallpro.settings_file import Settings

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with running_simulator(time_scale=50.0) as handle:
        yield handle


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _prompt_sounds(prompts: CallPrompts) -> set[str]:
    return {
        media.removeprefix("sound:")
        for field in prompts.__struct_fields__
        for media in getattr(prompts, field)
    }


def test_default_prompts_are_in_the_core_sound_set_of_both_languages() -> None:
    core = sounds.core_sounds()
    settings = Settings()
    for language in ("fr", "en"):
        wanted = _prompt_sounds(getattr(settings.prompts, language)) | _prompt_sounds(CallPrompts())
        missing = wanted - set(core[language])
        assert not missing, f"{language}: {missing} not in the core sound set"
    # the extra set's prompts that a stock Debian Asterisk does not have
    assert "pls-wait-connect-call" not in core["en"]
    assert "cannot-complete-temp-error" not in core["fr"]


def test_core_sound_data_covers_both_packages() -> None:
    data = json.loads((ROOT / "asterisk/sim/core_sounds.json").read_text())
    assert set(data["languages"]) == {"en", "fr"}
    for language, entry in data["languages"].items():
        assert entry["package"] == f"asterisk-core-sounds-{language}-wav"
        assert len(entry["sounds"]) > 500
        assert all(0 < seconds < 120 for seconds in entry["sounds"].values())
        assert "digits/1" in entry["sounds"]


def test_lengths_fall_back_to_english_as_asterisk_does() -> None:
    core = sounds.core_sounds()
    assert sounds.sound_seconds("vm-press", "fr", {}) == core["fr"]["vm-press"]
    assert sounds.sound_seconds("vm-press", "fr_CA", {}) == core["fr"]["vm-press"]
    assert sounds.sound_seconds("vm-press", "de", {}) == core["en"]["vm-press"]
    assert sounds.sound_seconds("pls-wait-connect-call", "fr", {}) < 0
    assert sounds.sound_seconds("hello-world", "en", {"hello-world": -1}) < 0
    assert sounds.sound_seconds("my-prompt", "fr", {"my-prompt": 2.0}) == 2.0


async def test_get_sounds_answers_as_asterisk(sim: SimHandle, http: aiohttp.ClientSession) -> None:
    status, body = await ari(http, sim, "GET", "/sounds", params={"lang": "fr"})
    assert status == 200
    by_id = {sound["id"]: sound for sound in body}
    assert by_id["pls-hold-while-try"] == {
        "id": "pls-hold-while-try", "formats": [{"language": "fr", "format": "slin"}]}
    assert "digits/1" in by_id and "pls-wait-connect-call" not in by_id
    status, body = await ari(http, sim, "GET", "/sounds/hello-world")
    assert status == 200
    assert body["formats"] == [{"language": "en", "format": "slin"},
                               {"language": "fr", "format": "slin"}]
    status, body = await ari(http, sim, "GET", "/sounds/pls-wait-connect-call")
    assert (status, body) == (404, {"message": "Sound not found"})
    status, body = await ari(http, sim, "GET", "/sounds", params={"lang": "de"})
    assert (status, body) == (404, {"message": "No sounds found that matched the query"})
    status, body = await ari(http, sim, "GET", "/sounds", params={"format": "gsm"})
    assert status == 404


async def test_a_missing_prompt_fails_and_a_core_one_plays(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    tap: EventTap = await open_tap(http, sim)
    try:
        params = {"endpoint": "Local/answer@sim-phones", "app": "evscallpro",
                  "channelId": "snd", "otherChannelId": "snd-2"}
        assert (await ari(http, sim, "POST", "/channels", params=params))[0] == 200
        await tap.wait_type("StasisStart", "snd")
        for playback_id, media in (("p-extra", "sound:cannot-complete-temp-error"),
                                   ("p-core", "sound:all-circuits-busy-now")):
            status, _ = await ari(http, sim, "POST", f"/channels/snd/play/{playback_id}",
                                  params={"media": media, "lang": "fr"})
            assert status == 201
        extra = await tap.wait_for(lambda e: e["type"] == "PlaybackFinished"
                                   and e["playback"]["id"] == "p-extra")
        core = await tap.wait_for(lambda e: e["type"] == "PlaybackFinished"
                                  and e["playback"]["id"] == "p-core")
        assert extra["playback"]["state"] == "failed"
        assert core["playback"]["state"] == "done"
    finally:
        await tap.close()


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "derive_sim_sounds", ROOT / "scripts/derive_sim_sounds.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wav(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))


def _deb(folder: Path, package: str, voice: str, files: dict[str, float]) -> None:
    root = folder / f"build-{package}"
    for name, seconds in files.items():
        _wav(root / "usr/share/asterisk/sounds" / voice / f"{name}.wav", seconds)
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        f"Package: {package}\nVersion: 9.9-1\nArchitecture: all\n"
        "Maintainer: test <t@example.org>\nDescription: test\n")
    subprocess.run(["dpkg-deb", "--build", "-Zgzip", str(root),
                    str(folder / f"{package}_9.9-1_all.deb")], check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)")
def test_the_generator_reads_every_wav_of_both_packages(tmp_path: Path) -> None:
    debs = tmp_path / "debs"
    debs.mkdir()
    _deb(debs, "asterisk-core-sounds-en-wav", "en_US_f_Allison",
         {"hello-world": 1.5, "digits/1": 0.25})
    _deb(debs, "asterisk-core-sounds-fr-wav", "fr_CA_f_June", {"hello-world": 2.0})
    out = tmp_path / "core_sounds.json"
    assert _script().main(["--debs", str(debs), "--output", str(out)]) == 0
    data = json.loads(out.read_text())["languages"]
    assert data["en"]["sounds"] == {"hello-world": 1.5, "digits/1": 0.25}
    assert data["fr"]["sounds"] == {"hello-world": 2.0}
    assert data["fr"]["voice"] == "fr_CA_f_June" and data["en"]["version"] == "9.9-1"
