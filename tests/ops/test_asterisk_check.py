"""`serve`'s start-up check of Asterisk through ARI (evscallpro/asterisk_check.py), against
the simulator: prompts in the configured language, the modules the configuration needs."""

from __future__ import annotations

import argparse
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from asterisk.sim import sounds
from asterisk.sim.config import load_config
from asterisk.sim.testing import SimulatorThread
from core.ari_commands import AriCommandFailed, RecordBridge
from core.call_config import CallPrompts, HoldAudio
from core.settings import AriSettings, HoldSettings, PromptSettings
from evscallpro import asterisk_check, root, serve
from evscallpro.asterisk_check import check_asterisk
from evscallpro.settings_file import Settings

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    simulator = SimulatorThread(time_scale=20.0).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def bare_sim() -> Iterator[SimulatorThread]:
    """An Asterisk without music on hold nor recording (modules not loaded)."""
    config = load_config(unloaded_modules=["res_musiconhold.so", "res_stasis_recording.so",
                                           "codec_opus.so"])
    simulator = SimulatorThread(config, time_scale=20.0).start()
    try:
        yield simulator
    finally:
        simulator.stop()


def _settings(sim: SimulatorThread, **prompts: tuple[str, ...]) -> Settings:
    return Settings(
        ari=AriSettings(url=sim.base_url),
        prompts=PromptSettings(language="fr", fr=CallPrompts(**prompts)),
    )


def _levels(findings: list[asterisk_check.Finding]) -> list[tuple[str, str]]:
    return [(f.level, f.check) for f in findings]


def test_defaults_pass_on_a_stock_asterisk_with_a_warning_for_opus(sim: SimulatorThread) -> None:
    findings = check_asterisk(_settings(sim))
    assert _levels(findings) == [("warning", "module")]
    assert "codec_opus.so" in findings[0].detail and "G.711" in findings[0].detail


def test_a_prompt_of_the_extra_sound_set_refuses_the_start(sim: SimulatorThread) -> None:
    settings = _settings(sim, customer_being_called=("sound:pls-wait-connect-call",),
                         customer_unreachable=("sound:cannot-complete-temp-error",))
    findings = check_asterisk(settings)
    errors = [f.detail for f in findings if f.level == "error"]
    assert len(errors) == 2
    assert "prompts.fr.customer_being_called: sound:pls-wait-connect-call does not exist" in (
        errors[0] + errors[1])
    assert any("cannot-complete-temp-error" in e for e in errors)
    assert not asterisk_check.run_start_check(settings, lambda event: None)


def test_a_prompt_only_in_english_is_a_warning(sim: SimulatorThread) -> None:
    core = sounds.core_sounds()
    english_only = sorted(set(core["en"]) - set(core["fr"]))[0]
    findings = check_asterisk(_settings(sim, customer_busy=(f"sound:{english_only}",)))
    warning = next(f for f in findings if f.check == "sound")
    assert warning.level == "warning"
    assert "will play it in English" in warning.detail
    assert asterisk_check.run_start_check(_settings(sim, customer_busy=(f"sound:{english_only}",)),
                                          lambda event: None)


def test_missing_moh_and_recording_modules_are_errors(bare_sim: SimulatorThread) -> None:
    findings = check_asterisk(_settings(bare_sim))
    errors = " ".join(f.detail for f in findings if f.level == "error")
    assert "res_musiconhold.so" in errors and "res_stasis_recording.so" in errors
    # ringing instead of MOH, no recording: nothing needs those modules
    settings = msgspec.structs.replace(
        _settings(bare_sim), hold=HoldSettings(audio=HoldAudio.RINGING),
        recording=msgspec.structs.replace(Settings().recording, enabled=False))
    assert [f.level for f in check_asterisk(settings)] == ["warning"]


def test_wrong_password_is_an_error_without_the_password(sim: SimulatorThread) -> None:
    settings = Settings(ari=AriSettings(url=sim.base_url, password="s3cret-wrong"))
    findings = check_asterisk(settings)
    assert _levels(findings) == [("error", "ari")]
    assert "401" in findings[0].detail and "s3cret-wrong" not in findings[0].detail


def test_unreachable_ari_skips_the_check() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    findings = check_asterisk(Settings(ari=AriSettings(url=f"http://127.0.0.1:{port}")))
    assert _levels(findings) == [("warning", "ari")]
    assert "check skipped" in findings[0].detail


def test_serve_refuses_to_start_and_names_the_prompt(
    sim: SimulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "evscallpro.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        f'[ari]\nurl = "{sim.base_url}"\n'
        '[prompts.fr]\ncustomer_being_called = ["sound:pls-wait-connect-call"]\n'
    )
    args = argparse.Namespace(config=str(config), call=None, port=0, verbose=False)
    assert serve.run(args) == 2
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    checks = [e for e in events if e["event"] == "asterisk_check" and e["level"] == "error"]
    assert len(checks) == 1 and "pls-wait-connect-call" in checks[0]["detail"]
    assert events[-1]["event"] == "error"
    assert not (tmp_path / "data").exists()  # nothing was started


def test_a_failed_recording_is_explained_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="evscallpro.asterisk_check")
    asterisk_check._explained.discard("bridge_record")
    failed = AriCommandFailed(command=RecordBridge(bridge_id="c1-bridge", name="c1"),
                              status=500, message="Internal Server Error")
    root._count_command(failed, 0.01)
    root._count_command(failed, 0.01)
    explained = [r.getMessage() for r in caplog.records if "recording folder" in r.getMessage()]
    assert len(explained) == 1
    assert "/var/spool/asterisk/recording" in explained[0] and "500" in explained[0]
