"""The product's processes (`evscallpro node|gateway|analytics|serve ...`) as subprocesses
for the tests: their stdout JSON lines collected, waited on through a condition (never a
sleep), killed or stopped, started again.

    node = ProductProcess("node-n1", ["node", "--config", cfg, "--node", "n1"], folder)
    ready = node.start()                       # the {"event": "ready"} line
    node.wait_for(lambda e: e.get("event") == "record", timeout_s=20)
    node.kill(); node.start()                  # SIGKILL, then a new process
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

Event = dict[str, Any]


class ProcessFailed(AssertionError):
    pass


class ProductProcess:
    def __init__(self, name: str, args: Sequence[str], folder: Path) -> None:
        self.name = name
        self.args = [str(a) for a in args]
        self.folder = folder
        self.events: list[Event] = []  # every JSON line of every start, in order
        self.starts = 0
        self.popen: subprocess.Popen[bytes] | None = None
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None

    @property
    def stderr_path(self) -> Path:
        return self.folder / f"{self.name}-{self.starts}.stderr"

    def start(self, ready_timeout_s: float = 60.0) -> Event:
        """A new process; returns its ready line (raises with its stderr tail if none)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        first = len(self.events)
        with open(self.stderr_path, "wb") as stderr:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "evscallpro.cli", *self.args],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                start_new_session=True,
            )
        self._reader = threading.Thread(
            target=self._read, args=(self.popen,), name=f"read-{self.name}", daemon=True
        )
        self._reader.start()
        return self.wait_for(
            lambda e: e.get("event") in ("ready", "error"), ready_timeout_s, since=first,
            what="its ready line", check=lambda e: e.get("event") != "error",
        )

    def _read(self, popen: subprocess.Popen[bytes]) -> None:
        assert popen.stdout is not None
        for raw in popen.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict):
                with self._cond:
                    self.events.append(event)
                    self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(
        self,
        predicate: Callable[[Event], bool],
        timeout_s: float,
        since: int = 0,
        what: str = "a line",
        check: Callable[[Event], bool] | None = None,
    ) -> Event:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for event in self.events[since:]:
                    if predicate(event):
                        if check is not None and not check(event):
                            raise ProcessFailed(f"{self.name}: {event} ({self.stderr_tail()})")
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ProcessFailed(
                        f"{self.name}: no {what} within {timeout_s:.0f} s; "
                        f"exit {self.exit_code()}; stderr: {self.stderr_tail()}"
                    )
                reader_done = self._reader is not None and not self._reader.is_alive()
                if self.exit_code() is not None and reader_done:
                    # a dead process writes nothing more, and its lines were all read above
                    raise ProcessFailed(
                        f"{self.name}: exited {self.exit_code()} before {what}; "
                        f"stderr: {self.stderr_tail()}"
                    )
                self._cond.wait(min(left, 0.5))

    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def stderr_tail(self, lines: int = 12) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a crash or an OOM kill."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)
        if self._reader is not None:
            self._reader.join(10)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM and wait (SIGKILL past the timeout); returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        if self._reader is not None:
            self._reader.join(10)
        return self.popen.returncode

    def lines(self, kind: str) -> list[Event]:
        with self._cond:
            return [e for e in self.events if e.get("event") == kind]
