"""The live-calls journal stays small during a long run: it is rewritten (live calls only,
atomically) once it grows past its bounds, never loses a live call or its connected time,
and does not rewrite on every line when many calls are live."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from actors.call_journal import CallJournal
from core.call_config import CallRequest
from core.domain import CallStep


def request(call_id: str) -> CallRequest:
    return CallRequest(
        call_id=call_id,
        agent_id="a1",
        agent_endpoint="Local/answer@sim-phones",
        customer_number="+33600000001",
        customer_endpoint="Local/answer@sim-phones",
        requested_at=1.0,
    )


def short_call(journal: CallJournal, call_id: str) -> None:
    journal.started(request(call_id), 1.0)
    journal.connected(call_id, 2.0)
    journal.ended(call_id, 3.0)


def line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def test_a_long_run_keeps_the_journal_small_and_every_live_call(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    journal = CallJournal(path, compact_after_lines=50)
    journal.started(request("live-connected"), 1.0)
    journal.connected("live-connected", 5.0)
    journal.started(request("live-ringing"), 6.0)
    for n in range(300):  # 900 lines appended in all
        short_call(journal, f"done{n}")
        assert line_count(path) <= 51
    assert journal.compactions >= 15

    uncompacted = CallJournal(tmp_path / "plain.jsonl", compact_after_lines=10**9)
    for n in range(300):
        short_call(uncompacted, f"done{n}")
    assert path.stat().st_size * 10 < (tmp_path / "plain.jsonl").stat().st_size

    live = CallJournal(path).live_calls()  # as a restarted core reads it
    assert set(live) == {"live-connected", "live-ringing"}
    assert live["live-connected"].last_step == CallStep.CONNECTED
    assert live["live-connected"].connected_at == 5.0
    assert live["live-ringing"].last_step == CallStep.REQUESTED
    assert live["live-ringing"].request == request("live-ringing")
    assert not path.with_suffix(".jsonl.tmp").exists()


def test_the_byte_bound_also_compacts(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    journal = CallJournal(path, compact_after_lines=10**9, compact_above_bytes=4096)
    for n in range(200):
        short_call(journal, f"done{n}")
    assert journal.compactions > 0
    assert path.stat().st_size <= 4096


def test_many_live_calls_do_not_make_it_rewrite_on_every_line(tmp_path: Path) -> None:
    journal = CallJournal(tmp_path / "live.jsonl", compact_after_lines=10)
    for n in range(200):
        journal.started(request(f"live{n}"), 1.0)
    assert journal.compactions <= 6  # the bound doubles with what a rewrite keeps
    assert len(journal.live_calls()) == 200


def test_appends_from_many_call_actors_lose_nothing_across_compactions(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    journal = CallJournal(path, compact_after_lines=20)

    def actor(k: int) -> None:
        for n in range(40):
            short_call(journal, f"t{k}-{n}")
        journal.started(request(f"live{k}"), 1.0)

    threads = [threading.Thread(target=actor, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert journal.compactions > 0
    assert set(CallJournal(path).live_calls()) == {f"live{k}" for k in range(4)}


def test_a_failed_rewrite_keeps_the_journal_and_the_calls(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    journal = CallJournal(path, compact_after_lines=5)
    journal.started(request("live"), 1.0)
    (tmp_path / "live.jsonl.tmp").mkdir()  # the temp file cannot be written
    for n in range(5):
        short_call(journal, f"done{n}")
    assert journal.compactions == 0
    assert set(journal.live_calls()) == {"live"}
    assert line_count(path) == 16


def test_bad_bounds_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="compaction bounds"):
        CallJournal(tmp_path / "live.jsonl", compact_after_lines=0)
