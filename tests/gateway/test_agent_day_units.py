"""The agent's day, unit by unit: do-not-call import and file, callback store and agenda,
recordings search, settings checks, presence watch."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from gateway_fakes import FakeCallCenter

from core.domain import AgentState
from core.views import AgentView
from evscallpro.cli import main
from evscallpro.do_not_call import DoNotCallFile, import_csv, list_path, read_numbers
from gateway.callbacks import Callback, CallbackStore, due_epoch
from gateway.presence import PresenceWatch
from gateway.recordings import Recording, matches
from gateway.settings import GatewaySettings, settings_problems

PARIS = ZoneInfo("Europe/Paris")


def test_import_do_not_call_csv_reports_bad_rows() -> None:
    numbers, report = import_csv(
        "Nom;Téléphone;Ville\nA;01 99 00 53 05;Lyon\nB;+33 6 12 34 56 78;Paris\nC;12;Nice\n\n", "FR"
    )
    assert numbers == {"+33199005305", "+33612345678"}
    assert report.added == 2 and report.total == 2
    assert [(r.line, "not a valid" in r.reason) for r in report.rejected] == [(4, True)]
    plain, report = import_csv("0612345678\n0199005305\n", "FR", existing=numbers)
    assert plain == numbers and report.added == 0  # one number a line, no header; merged


def test_import_do_not_call_command_and_live_reload(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = tmp_path / "bloctel.csv"
    csv_file.write_text("phone\n06 11 22 33 44\nnot a number\n", encoding="utf-8")
    data = tmp_path / "data"
    assert main(["import-do-not-call", str(csv_file), "--data-dir", str(data)]) == 0
    out = capsys.readouterr()
    assert "1 number(s) added, 1 in all; rejected 1 row(s)" in out.out
    assert "line 3:" in out.err
    assert read_numbers(list_path(data)) == {"+33611223344"}
    checker = DoNotCallFile(list_path(data))
    assert checker.listed("+33611223344") and not checker.listed("+33199005305")
    csv_file.write_text("0199005305\n", encoding="utf-8")
    assert main(["import-do-not-call", str(csv_file), "--data-dir", str(data), "--replace"]) == 0
    later = os.stat(list_path(data)).st_mtime_ns + 1_000_000
    os.utime(list_path(data), ns=(later, later))  # a coarse clock must not hide the change
    assert checker.listed("+33199005305") and not checker.listed("+33611223344")


def cb(callback_id: str, due: float, agent: str = "alice") -> Callback:
    return Callback(callback_id=callback_id, agent_id=agent, customer_number="+33145678901",
                    due_at=due, call_id=f"call-{callback_id}", created_at=due - 3600)


def test_callbacks_survive_a_restart_and_the_agenda_is_today_and_overdue(tmp_path: Path) -> None:
    now = dt.datetime(2026, 12, 3, 10, 0, tzinfo=PARIS).timestamp()
    store = CallbackStore.in_data_dir(tmp_path)
    store.book(cb("yesterday", now - 86400))
    store.book(cb("later-today", now + 3 * 3600))
    store.book(cb("tomorrow", now + 86400))
    store.book(cb("bob's", now, agent="bob"))
    store.book(cb("done", now - 60))
    store.done("done", now)
    again = CallbackStore.in_data_dir(tmp_path)  # a restart reads the file
    assert [c.callback_id for c in again.agenda("alice", now, PARIS)] == ["yesterday", "later-today"]
    assert again.get("done") is not None and again.get("done").done_at == now  # type: ignore[union-attr]


def test_callback_date_is_read_in_the_configured_zone() -> None:
    assert due_epoch("2026-07-01T09:30", PARIS) == dt.datetime(2026, 7, 1, 7, 30, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize("query", ["01 45 67 89 01", "0145678901", "+33 1 45 67 89 01", "45 67",
                                   "claire", "PETIT", "élodie", "rec-1"])
def test_recordings_search_finds_numbers_as_displayed_and_names(query: str) -> None:
    rec = Recording(name="rec-1", size_bytes=1, recorded_at=0.0, customer_number="+33145678901",
                    contact_name="Claire Petit")
    other = Recording(name="x", size_bytes=1, recorded_at=0.0, customer_number="+33145678901",
                      contact_name="Élodie Roux")
    assert matches(query, rec) or matches(query, other)
    assert not matches("01 99 00", rec)


def test_settings_problems_name_the_key() -> None:
    assert settings_problems(GatewaySettings()) == []
    bad = GatewaySettings(time_zone="Mars/Olympus", presence_action="nap",
                          dispositions_by_outcome={"customer_busy": ("sale", "teleport")})
    problems = settings_problems(bad)
    assert any(p.startswith("time_zone:") for p in problems)
    assert any(p.startswith("presence_action:") for p in problems)
    assert any("teleport" in p for p in problems)
    assert GatewaySettings().zone() == PARIS
    assert str(GatewaySettings(default_language="en").zone()) == "UTC"


async def test_presence_waits_for_the_last_connection_and_cancels_on_return() -> None:
    fake = FakeCallCenter()
    fake.add_agent("alice", "Alice")
    fake.log_in("alice")
    try:
        watch = PresenceWatch(fake, 0.05, "pause", lambda a: fake.agent(a).state)
        watch.connected("alice")
        watch.connected("alice")  # two tabs
        watch.disconnected("alice")
        watch.disconnected("alice")
        watch.connected("alice")  # back before the timeout: the countdown is cancelled
        assert not watch.pending("alice")
        assert fake.agent("alice").state == AgentState.AVAILABLE
        paused = threading.Event()
        unsubscribe = fake.subscribe(
            lambda v: paused.set() if isinstance(v, AgentView) and v.state == AgentState.PAUSED else None
        )
        watch.disconnected("alice")
        assert watch.pending("alice")
        assert await asyncio.to_thread(paused.wait, 5.0)
        unsubscribe()
        assert fake.agent("alice").pause_reason == "disconnected"
        watch.stop()
    finally:
        fake.close()


def test_the_project_file_sets_presence_and_zone(tmp_path: Path) -> None:
    from evscallpro.settings_file import SettingsError, load_settings

    example = Path(__file__).resolve().parents[2] / "evscallpro.example.toml"
    settings = load_settings(example).gateway_settings()
    assert (settings.presence_timeout_s, settings.presence_action, settings.time_zone) == (
        60.0, "pause", "Europe/Paris")
    assert settings.dispositions_for("customer_invalid_number") == ("wrong_number",)
    assert settings.dispositions_for("completed") == settings.dispositions
    text = example.read_text(encoding="utf-8").replace('time_zone = "Europe/Paris"',
                                                       'time_zone = "Europe/Pariss"')
    bad = tmp_path / "bad.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=r"gateway\.time_zone: 'Europe/Pariss'"):
        load_settings(bad)
