"""Readers next to the writer: same process shares the database, another process is told why not."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from analytics_helpers import WAIT_S
from support.synthetic import generate_calls

from actors.analytics_writer import AnalyticsWriter, WriterConfig
from actors.messages import FlushNow
from analytics.reader import AnalyticsReader

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 5, 28, 9).replace(tzinfo=UTC).timestamp()


def test_reader_opened_before_writer_then_sees_committed_calls(db_path: str) -> None:
    reader = AnalyticsReader(db_path)
    day = datetime(2026, 5, 28).date()
    assert reader.calls_for_agent("agent-001", day) == []  # opens (and creates) the file first
    ref = AnalyticsWriter.start(WriterConfig(db_path=db_path, flush_interval_s=3600))
    try:
        records = list(generate_calls(30, agents=3, start=START, spacing=60.0))
        for record in records:
            ref.tell(record)
        assert ref.ask(FlushNow(), timeout=WAIT_S).written == 30  # type: ignore[union-attr]
        mine = [r.call_id for r in records if r.agent_id == "agent-001"]
        results: list[list[str]] = []

        def from_another_thread() -> None:
            results.append([c.call_id for c in reader.calls_for_agent("agent-001", day)])

        thread = threading.Thread(target=from_another_thread)
        thread.start()
        thread.join(WAIT_S)
        assert results == [list(reversed(mine))]
        assert sum(reader.summary(day, datetime(2026, 5, 29)).outcomes.values()) == 30
    finally:
        ref.stop(timeout=WAIT_S)
        reader.close()


def test_cli_in_another_process_says_the_core_holds_the_file(db_path: str) -> None:
    ref = AnalyticsWriter.start(WriterConfig(db_path=db_path, flush_interval_s=3600))
    try:
        ref.tell(next(generate_calls(1)))
        ref.ask(FlushNow(), timeout=WAIT_S)
        script = (
            "import argparse, sys; from analytics import cli; "
            "p = argparse.ArgumentParser(); cli.register(p.add_subparsers()); "
            f"a = p.parse_args(['stats', '--db', {db_path!r}]); sys.exit(a.handler(a))"
        )
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO
        )
    finally:
        ref.stop(timeout=WAIT_S)
    assert done.returncode == 2, done.stderr
    assert "held by a running core" in done.stderr
    assert "Traceback" not in done.stderr
