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


def _cli(args: list[str]) -> subprocess.CompletedProcess[str]:
    script = (
        "import argparse, sys; from analytics import cli; "
        "p = argparse.ArgumentParser(); cli.register(p.add_subparsers()); "
        f"a = p.parse_args({args!r}); sys.exit(a.handler(a))"
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO
    )


def test_cli_in_another_process_reads_while_the_product_holds_the_file(
    db_path: str, tmp_path: Path
) -> None:
    """Issue 9: `evscallpro stats` / `export` used to exit 2 on DuckDB's lock while the
    product ran; they read a snapshot, and the writer goes on writing meanwhile."""
    ref = AnalyticsWriter.start(WriterConfig(db_path=db_path, flush_interval_s=3600))
    try:
        records = list(generate_calls(40, agents=2, start=START, spacing=60.0))
        for record in records[:30]:
            ref.tell(record)
        assert ref.ask(FlushNow(), timeout=WAIT_S).written == 30  # type: ignore[union-attr]
        stats_run = _cli(["stats", "--db", db_path, "--from", "2026-05-28", "--to", "2026-05-29"])
        out = tmp_path / "calls.csv"
        export_run = _cli(["export", "--db", db_path, "--format", "csv", "--out", str(out)])
        for record in records[30:]:  # the writer was never blocked
            ref.tell(record)
        assert ref.ask(FlushNow(), timeout=WAIT_S).written == 40  # type: ignore[union-attr]
    finally:
        ref.stop(timeout=WAIT_S)
    assert stats_run.returncode == 0, stats_run.stderr
    assert "UTC: 30" in stats_run.stdout
    assert "snapshot" in stats_run.stderr
    assert "Traceback" not in stats_run.stderr
    assert export_run.returncode == 0, export_run.stderr
    assert export_run.stdout.strip() == f"30 rows -> {out}"
    assert len(out.read_text().splitlines()) == 31  # header + 30 calls
