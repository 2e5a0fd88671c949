"""`evscallpro dial` never opens the events socket under the core's Stasis app name unless
told to (issue 10, item 2): Asterisk would give it the core's app (ApplicationReplaced)."""

from __future__ import annotations

import argparse
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

from evscallpro import dial


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    dial.register(parser.add_subparsers())
    return parser.parse_args(["dial", "--agent-endpoint", "PJSIP/alice", *argv])


def test_dial_defaults_to_an_app_of_its_own() -> None:
    config = dial.build_config(parse())
    assert config.app == "evscallpro-dial" != "evscallpro"
    assert config.call.app == config.app


def test_the_settings_files_app_is_the_cores_and_not_taken(tmp_path: Path) -> None:
    settings = tmp_path / "evscallpro.toml"
    settings.write_text('[ari]\nurl = "http://127.0.0.1:9"\napp = "callcenter"\n', encoding="utf-8")
    config = dial.build_config(parse("--config", str(settings)))
    assert config.app == "evscallpro-dial" and config.call.app == "evscallpro-dial"


def test_app_flag_wins() -> None:
    config = dial.build_config(parse("--app", "smoke-1"))
    assert config.app == "smoke-1" and config.call.app == "smoke-1"


def test_a_connect_error_names_no_password() -> None:
    args = parse("--ari-url", "http://user:Hunter2-pw@127.0.0.1:9", "--ari-password",
                 "Hunter2-pw", "--customer-endpoint", "Local/x@y", "--connect-timeout", "0.5")
    out = StringIO()
    with redirect_stdout(out):
        assert dial.run(args) == 2
    assert "cannot connect" in out.getvalue() and "Hunter2-pw" not in out.getvalue()
