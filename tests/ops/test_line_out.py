"""The node's stdout lines (evscallpro/line_out.py): queued lines never block their caller,
and a lifecycle line is written after every line queued before it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from evscallpro.line_out import LineOut

ROOT = Path(__file__).resolve().parents[2]


class SlowStream(io.StringIO):
    """A pipe whose reader stalls until told to read on."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = threading.Event()

    def write(self, text: str) -> int:
        assert self.reading.wait(10), "the reader never read on"
        return super().write(text)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_queued_lines_return_at_once_even_while_the_reader_stalls() -> None:
    stream = SlowStream()
    out = LineOut(stream)
    queued = threading.Event()

    def actor() -> None:
        for i in range(200):
            out.soon({"event": "call", "n": i})
        queued.set()

    threading.Thread(target=actor).start()
    assert queued.wait(5)  # the writer thread is stuck in write(): the actor is not
    stream.reading.set()
    out.now({"event": "stopped"})
    got = lines(stream)
    assert [g.get("n") for g in got[:-1]] == list(range(200))
    assert got[-1] == {"event": "stopped"}


def test_a_lifecycle_line_comes_after_the_lines_queued_before_it() -> None:
    stream = io.StringIO()
    out = LineOut(stream)
    for i in range(50):
        out.soon({"event": "record", "n": i})
    out.now({"event": "ready"})
    got = lines(stream)
    assert got[-1] == {"event": "ready"}
    assert [g["n"] for g in got[:-1]] == list(range(50))


def test_the_node_logs_through_a_queue_once_formatted(tmp_path: Path) -> None:
    """In a process of its own (logging is global): one time/level/name prefix per line,
    the traceback kept, the level respected, everything written by exit."""
    script = tmp_path / "logs.py"
    script.write_text(
        "import logging\n"
        "from evscallpro.line_out import log_without_blocking\n"
        "log_without_blocking(logging.WARNING, '%(levelname)s %(name)s: %(message)s')\n"
        "log = logging.getLogger('evs.test')\n"
        "log.warning('hello %s', 'world')\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    log.exception('failed')\n"
        "log.info('not shown')\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
    )
    err = done.stderr.splitlines()
    assert err[0] == "WARNING evs.test: hello world"
    assert err[1] == "ERROR evs.test: failed"
    assert "ZeroDivisionError: division by zero" in done.stderr
    assert "not shown" not in done.stderr
