"""The shipped Asterisk configuration has what leaves no agent in silence (issue 10, item 17):
a music-on-hold class, a French tone zone, a log file, G.711 first for softphones; the docs
say how to check each on a running Asterisk."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASTERISK = ROOT / "asterisk"


def read_conf(name: str) -> dict[str, list[tuple[str, str]]]:
    """Asterisk's .conf: [section](template) headers, `key = value` or `key => value`, `;`
    comments; a key may repeat, so each section is a list of pairs."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in (ASTERISK / name).read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if header := re.match(r"^\[([^\]]+)\]", line):
            current = sections.setdefault(header.group(1), [])
            continue
        pair = re.match(r"^([^=]+?)\s*=>?\s*(.*)$", line)
        assert current is not None and pair, f"{name}: {raw!r} outside a section or not key=value"
        current.append((pair.group(1), pair.group(2)))
    return sections


def test_music_on_hold_has_a_default_class_of_files() -> None:
    moh = dict(read_conf("musiconhold.conf")["default"])
    assert moh["mode"] == "files"
    assert moh["directory"] == "moh"


def test_tone_zone_is_france_and_defined() -> None:
    conf = read_conf("indications.conf")
    assert dict(conf["general"])["country"] == "fr"
    france = dict(conf["fr"])
    for tone in ("dial", "busy", "ring", "congestion"):
        assert france[tone], tone
    assert france["ring"] == "440/1500,0/3500"


def test_logger_writes_a_file() -> None:
    files = dict(read_conf("logger.conf")["logfiles"])
    assert "error" in files["messages.log"] and "warning" in files["messages.log"]
    assert "security" in files["security.log"]


def test_softphones_offer_g711_only_and_moh_is_required() -> None:
    softphone = dict(read_conf("pjsip.conf")["softphone-endpoint"])
    assert softphone["allow"].split(",")[:2] == ["alaw", "ulaw"]
    assert "opus" not in softphone["allow"]
    required = [v for k, v in read_conf("modules.conf")["modules"] if k == "require"]
    assert "res_musiconhold.so" in required and "res_stasis_recording.so" in required


def test_docs_say_how_to_check_each_part() -> None:
    doc = (ROOT / "docs/asterisk.md").read_text()
    for needle in ("http show status", "moh show classes", "core show translation paths",
                   "/var/spool/asterisk/recording", "asterisk.crt", "pjsip show identifies",
                   "codec_opus", "indication show fr", "musiconhold.conf", "indications.conf",
                   "logger.conf", "GET /sounds"):
        assert needle in doc, needle
