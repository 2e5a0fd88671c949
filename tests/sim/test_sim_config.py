"""Config validation and the far-end rule table."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from asterisk.sim.config import ConfigError, Profile, load_config
from asterisk.sim.phones import PhoneBook, ScriptError, compile_profile, parse_script, parse_step

TRACE_EXTENSIONS = [
    "answer", "answer-hangup3", "answer-hangup5", "answer-hangup12", "answer-dtmf1",
    "answer-play", "cust-hello-hangup8", "busy", "noanswer", "congestion", "unallocated",
    "reject",
]


def apps(steps: list) -> list[str]:
    return [f"{s.app}({s.data})" if s.data else s.app for s in steps]


def test_defaults_load_and_cover_every_trace_extension() -> None:
    config = load_config()
    book = PhoneBook(config)
    for exten in TRACE_EXTENSIONS:
        assert book.profile_name_for(f"Local/{exten}@sim-phones") == exten


def test_trace_scripts_match_the_recorded_dialplan() -> None:
    book = PhoneBook(load_config())
    assert apps(book.script_for("Local/answer@sim-phones")) == [
        "Ringing", "Wait(2)", "Answer", "Wait(120)", "Hangup"]
    assert apps(book.script_for("Local/cust-hello-hangup8@sim-phones")) == [
        "Ringing", "Wait(2)", "Answer", "Wait(1)", "Playback(hello-world)", "Wait(6)", "Hangup"]
    assert apps(book.script_for("Local/busy@sim-phones")) == ["Busy(5)"]
    assert apps(book.script_for("Local/unallocated@sim-phones")) == ["Hangup(1)"]
    assert apps(book.script_for("Local/reject@sim-phones")) == ["Ringing", "Wait(3)", "Hangup(21)"]


def test_unknown_extension_and_context_do_not_exist() -> None:
    book = PhoneBook(load_config())
    assert book.script_for("Local/nosuchexten@sim-phones") == []
    assert book.script_for("Local/123@no-such-context") == []


def test_pjsip_numbers_first_match_wins_and_unmatched_answer() -> None:
    book = PhoneBook(load_config())
    assert book.profile_name_for("PJSIP/+33600000002@carrier") == "busy"
    assert book.profile_name_for("PJSIP/+33612345486@carrier") == "busy"
    assert book.profile_name_for("PJSIP/+33612345404@carrier") == "unallocated"
    assert book.profile_name_for("PJSIP/+33612345603@carrier") == "carrier-decline"
    assert book.profile_name_for("PJSIP/+33612345678@carrier") == "answer-stay"
    assert apps(book.script_for("PJSIP/+33612345678@carrier"))[:3] == [
        "Ringing", "Wait(2)", "Answer"]


def test_config_file_overrides_rules_and_adds_profiles(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_text(
        'time_scale = 5.0\n'
        '[profiles.always-busy]\nkind = "busy"\n'
        '[[rules]]\npattern = "Local/*@agents"\nprofile = "always-busy"\n'
    )
    config = load_config(path)
    assert config.time_scale == 5.0
    assert len(config.rules) == 1
    book = PhoneBook(config)
    assert book.profile_name_for("Local/1001@agents") == "always-busy"
    assert book.profile_name_for("Local/answer@sim-phones") == "answer-stay"  # rules replaced


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ('[[rules]]\npattern = "x"\nprofile = "nope"\n', "rules[0].profile"),
        ('[profiles.bad]\nkind = "teleport"\n', "profiles.bad.kind"),
        ('[profiles.bad]\nscript = ["Ringing", "Dance(3)"]\n', "profiles.bad.script"),
        ('[profiles.bad]\nscript = ["Wait(soon)"]\n', "profiles.bad.script"),
        ("time_scale = 0\n", "time_scale"),
        ("no_such_key = 1\n", "no_such_key"),
        ('port = "eighty"\n', "port"),
        ('default_profile = "ghost"\n', "default_profile"),
        ("this is not toml", "invalid TOML"),
    ],
)
def test_bad_config_names_the_bad_key(tmp_path: Path, toml: str, needle: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert needle in str(error.value)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml")


def test_script_parsing_rejects_garbage() -> None:
    assert parse_step("Hangup(21,403)").tech_cause == 403
    assert parse_step("Hangup").cause == 16
    for bad in ["", "Wait(-1)", "SendDTMF(x)", "Playback", "Hangup(abc)", "Ringing("]:
        with pytest.raises(ScriptError):
            parse_script([bad])


def test_random_profile_is_seeded_and_mixes_outcomes() -> None:
    profile = Profile(kind="random", answer_probability=0.6, busy_probability=0.2)
    first = [apps(compile_profile(profile, random.Random(7))) for _ in range(1)]
    again = [apps(compile_profile(profile, random.Random(7))) for _ in range(1)]
    assert first == again
    rng = random.Random(3)
    outcomes = {apps(compile_profile(profile, rng))[0] for _ in range(200)}
    assert outcomes == {"Ringing", "Busy(5)"}  # answered and no-answer both start ringing
    answered = sum("Answer" in apps(compile_profile(profile, rng)) for _ in range(1000))
    assert 520 < answered < 680


def test_shorthand_kinds_compile() -> None:
    rng = random.Random(1)
    assert apps(compile_profile(Profile(kind="voicemail", ring_s=4, talk_s=30), rng)) == [
        "Ringing", "Wait(4)", "Answer", "Playback(vm-intro)", "Wait(30)", "Hangup"]
    assert "SendDTMF(5)" in apps(compile_profile(Profile(kind="answer_dtmf", digit="5"), rng))
    assert apps(compile_profile(Profile(kind="unavailable", ring_s=2), rng))[-1] == "Hangup(19,480)"
    assert apps(compile_profile(Profile(kind="congestion"), rng)) == ["Congestion(5)"]


def test_default_endpoints_match_the_shipped_pjsip_conf() -> None:
    """The core dials PJSIP/<number>@trunk and PJSIP/agent-1001 (asterisk/pjsip.conf):
    the simulator must know the same endpoints."""
    import re

    conf = (Path(__file__).parents[2] / "asterisk" / "pjsip.conf").read_text()
    shipped = set(re.findall(r"^\[([\w-]+)\]\((?:trunk|softphone)-endpoint\)", conf, re.M))
    assert shipped and shipped <= set(load_config().pjsip_endpoints)
