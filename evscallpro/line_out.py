"""A process's JSON lines on stdout, written by a thread of their own.

The node reports every call step and record as a JSON line (serve relays them; the load
generator and the operators read them). Those lines come from the actors, which share one
worker thread (actors/runtime.py): a write to a pipe whose reader is slow blocks, and that
must never hold a call back. `soon(event)` queues the line and returns; a writer thread
writes what is queued in one write per wake-up. `now(event)` (lifecycle lines: ready,
reconciled, stopped, errors) writes the queued lines, then its own, before returning, so
the order of all lines is kept and nothing queued is lost at a stop.
"""

from __future__ import annotations

import atexit
import sys
import threading
from collections import deque
from typing import Any, TextIO

import msgspec

_encoder = msgspec.json.Encoder()


class LineOut:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._queued: deque[bytes] = deque()
        self._write_lock = threading.Lock()  # one writer at a time, lines kept in order
        self._wake = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    def soon(self, event: dict[str, Any]) -> None:
        """Queue one line; never blocks on the stream."""
        self._queued.append(_encoder.encode(event) + b"\n")
        if self._thread is None:
            self._start()
        with self._wake:
            self._wake.notify()

    def now(self, event: dict[str, Any]) -> None:
        """Write the queued lines, then this one, before returning."""
        self._queued.append(_encoder.encode(event) + b"\n")
        self.flush()

    def flush(self) -> None:
        with self._write_lock:
            lines: list[bytes] = []
            while self._queued:
                lines.append(self._queued.popleft())
            if not lines:
                return
            stream = self.stream
            try:
                stream.write(b"".join(lines).decode())
                stream.flush()
            except (OSError, ValueError):  # the reader is gone (closed pipe): nothing to do
                pass

    def _start(self) -> None:
        with self._wake:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="stdout-lines", daemon=True)
            self._thread.start()
            atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queued:
                    self._wake.wait()
            self.flush()


def log_without_blocking(level: int, fmt: str) -> None:
    """Logging for a process whose actors share one thread: records go to a queue, and a
    listener thread writes them to stderr (a slow reader of the pipe holds no call back).
    The listener is stopped, and what it holds written, at exit."""
    import logging
    import logging.handlers
    import queue

    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setFormatter(logging.Formatter(fmt))
    listener = logging.handlers.QueueListener(records, to_stderr, respect_handler_level=True)
    to_queue = logging.handlers.QueueHandler(records)
    # the message (and its traceback) only: the listener's handler adds time, level and name
    to_queue.setFormatter(logging.Formatter("%(message)s"))
    logging.basicConfig(level=level, handlers=[to_queue])
    listener.start()
    atexit.register(listener.stop)
