"""`evscallpro demo` as a user runs it: a subprocess that prints the URL, the credentials and
one status line, serves the login page, takes a free port when the simulator's is busy, and
stops cleanly on SIGTERM."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from support.processes import needs_child_processes

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 30.0


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line.rstrip("\n"))
    into.put("<eof>")


def _read_until(lines: queue.Queue[str], pattern: str, seen: list[str]) -> re.Match[str]:
    deadline = time.monotonic() + WAIT_S
    while True:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
        if line == "<eof>":
            raise AssertionError("demo exited early:\n" + "\n".join(seen))


@needs_child_processes
def test_demo_command_prints_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    busy_port = busy.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evscallpro.cli",
            "demo",
            "--port",
            "0",
            "--ari-port",
            str(busy_port),
            "--time-scale",
            "10",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        url = _read_until(lines, r"Open\s+(http://127\.0\.0\.1:\d+)/login", seen).group(1)
        _read_until(lines, r"agent1\s+demo-agent1\s+agent", seen)
        _read_until(lines, r"supervisor\s+demo-supervisor\s+supervisor", seen)
        status = _read_until(lines, r"^ready: ARI simulator http://127\.0\.0\.1:(\d+)", seen)
        assert int(status.group(1)) != busy_port  # the busy port was left alone
        assert "50 contacts" in status.string
        with urllib.request.urlopen(url + "/login", timeout=10) as resp:
            assert resp.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT_S) == 0
        _read_until(lines, r"^stopped$", seen)
    finally:
        busy.close()
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert "Traceback" not in stderr, stderr
    assert "demo-agent1" not in stderr  # passwords go to the console once, not to logs
    assert (tmp_path / "data" / "evscallpro.duckdb").exists()


@pytest.mark.parametrize("scale", ["0", "nan", "-2"])
def test_demo_command_rejects_a_bad_time_scale(tmp_path: Path, scale: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "evscallpro.cli",
            "demo",
            f"--time-scale={scale}",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert result.returncode == 2
    assert "time-scale" in result.stderr
    assert "Traceback" not in result.stderr
