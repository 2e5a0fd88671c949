"""The child processes of `evscallpro serve`: started in order, relayed, restarted, stopped.

A child follows this contract (the processes' one, docs/scale.md): JSON lines on stdout,
`{"event": "ready", ...}` once it serves, `{"event": "error", ...}` then exit code 2 for a
configuration problem, logs on stderr, a clean stop on SIGTERM.

- Start: the children start one after the other in the given order (analytics, each node,
  the gateway); each must print its ready line within `ready_timeout_s`, else the start fails
  with an error naming the child, its exit code or the wait, and the tail of its stderr.
- Relay: each child's stdout lines go to `emit` with `"process"` (and `"node"`) added. Its
  own lifecycle lines are renamed so that serve's own stay unambiguous: a child's `ready`
  is relayed as `process_ready`, `stopped` as `process_stopped`, `error` as
  `process_error`; `process_ready` and `process_exit` carry the child's `pid` (the load
  tests kill one child, load-tests/loadgen.py `--kill-at-live`).
- Restart: a child that exits while nobody asked is restarted after a back-off
  (`RestartSchedule`: 0.5 s doubling up to 30 s, back to 0.5 s once it stayed up 60 s),
  with a `process_exit` line and a log line giving its exit code and stderr tail. Exit code
  2 is a configuration error: not restarted, `run()` stops everything and returns it.
  A restarted child that does not get ready within `ready_timeout_s` is killed (and so
  restarted again, later).
- Stop: `request_stop()` (serve's SIGTERM / SIGINT) stops the children in reverse order,
  each with SIGTERM then SIGKILL after `grace_s`.
- Logs: a child's stderr goes to `log_dir/<name>.log`, appended across restarts; a file
  above `LOG_ROTATE_BYTES` is renamed `<name>.log.1` (replacing the older one) when the child
  starts, so one previous file is kept.

Children start in their own session (a Ctrl-C at the terminal reaches serve only, which
stops them in order) through `evscallpro.die_with_parent` (the kernel kills them if serve
itself is killed). Every spawn happens on the thread that runs `run()`: the kernel's
parent-death signal follows the thread that forked.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from evscallpro import die_with_parent

log = logging.getLogger(__name__)

EXIT_CONFIG_ERROR = 2
LOG_ROTATE_BYTES = 10 * 1024 * 1024
RENAMED = {"ready": "process_ready", "stopped": "process_stopped", "error": "process_error"}

Emit = Callable[[dict[str, Any]], None]


# ---------------------------------------------------------------- restart decisions (pure)
@dataclass(frozen=True)
class BackoffPolicy:
    first_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    reset_after_s: float = 60.0  # a child up this long starts again from first_s


class Verdict(enum.StrEnum):
    RESTART = "restart"
    CONFIG_ERROR = "config_error"  # exit 2: never restarted, serve stops with the error
    EXPECTED = "expected"  # the child was asked to stop


@dataclass(frozen=True)
class RestartDecision:
    verdict: Verdict
    delay_s: float = 0.0


@dataclass
class RestartSchedule:
    """One child's back-off: what to do when it exits, and after how long."""

    policy: BackoffPolicy = field(default_factory=BackoffPolicy)
    last_delay_s: float = 0.0

    def on_exit(self, exit_code: int, up_for_s: float, stopping: bool) -> RestartDecision:
        if stopping:
            return RestartDecision(Verdict.EXPECTED)
        if exit_code == EXIT_CONFIG_ERROR:
            return RestartDecision(Verdict.CONFIG_ERROR)
        if self.last_delay_s <= 0 or up_for_s >= self.policy.reset_after_s:
            delay = self.policy.first_s
        else:
            delay = min(self.policy.cap_s, self.last_delay_s * self.policy.factor)
        self.last_delay_s = delay
        return RestartDecision(Verdict.RESTART, delay)


# ---------------------------------------------------------------- children
@dataclass(frozen=True)
class ChildSpec:
    name: str  # "analytics", "node-n1", "gateway": also its log file's name
    process: str  # "analytics" | "node" | "gateway"
    argv: tuple[str, ...]
    node: str = ""


class SupervisorError(RuntimeError):
    """A child did not start, or stopped with a configuration error."""

    def __init__(self, message: str, process: str = "", node: str = "") -> None:
        super().__init__(message)
        self.process = process
        self.node = node


@dataclass
class _Child:
    spec: ChildSpec
    schedule: RestartSchedule
    popen: subprocess.Popen[str] | None = None
    reader: threading.Thread | None = None
    generation: int = 0
    started_at: float = 0.0
    ready: bool = False
    ready_line: dict[str, Any] = field(default_factory=dict)
    error_text: str = ""
    stopped_line: dict[str, Any] | None = None
    log_offset: int = 0
    restart_due: float | None = None
    ready_due: float | None = None

    @property
    def label(self) -> dict[str, str]:
        return {
            "process": self.spec.process,
            **({"node": self.spec.node} if self.spec.node else {}),
        }


@dataclass(frozen=True)
class _Ready:
    child: _Child
    generation: int


@dataclass(frozen=True)
class _Exited:
    child: _Child
    generation: int
    code: int
    pid: int = 0


class _Stop:
    pass


_Event = _Ready | _Exited | _Stop


class Supervisor:
    def __init__(
        self,
        specs: Sequence[ChildSpec],
        log_dir: Path,
        emit: Emit,
        *,
        ready_timeout_s: float = 60.0,
        grace_s: float = 15.0,
        policy: BackoffPolicy | None = None,
        env: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._children = [
            _Child(spec, RestartSchedule(policy or BackoffPolicy())) for spec in specs
        ]
        self._log_dir = log_dir
        self._emit = emit
        self._ready_timeout_s = ready_timeout_s
        self._grace_s = grace_s
        self._env = dict(os.environ if env is None else env)
        self._clock = clock
        self._events: queue.Queue[_Event] = queue.Queue()
        self._stopping = False

    # ------------------------------------------------------------------ public
    def request_stop(self) -> None:
        """Stop everything (any thread). `run()` returns once every child has exited."""
        self._events.put(_Stop())

    def ready_lines(self) -> dict[str, dict[str, Any]]:
        """Each child's last ready line, by child name."""
        return {c.spec.name: c.ready_line for c in self._children}

    def stopped_lines(self) -> dict[str, dict[str, Any]]:
        """The `stopped` line each child printed at its last stop (those that printed one)."""
        return {c.spec.name: c.stopped_line for c in self._children if c.stopped_line is not None}

    def pids(self) -> dict[str, int]:
        """The running children's process ids (tests kill them to watch the restart)."""
        return {c.spec.name: c.popen.pid for c in self._children if c.popen is not None}

    def run(self, on_ready: Callable[[dict[str, dict[str, Any]]], None] | None = None) -> None:
        """Start the children in order, call `on_ready` with their ready lines, watch and
        restart them until `request_stop()`, then stop them in reverse. Raises
        SupervisorError (after stopping whatever started) when a child does not start or
        exits with a configuration error."""
        self._log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for child in self._children:
                self._spawn(child)
                if not self._await_ready(child):
                    return  # stop asked during the start
            if on_ready is not None:
                on_ready(self.ready_lines())
            self._watch()
        finally:
            self._stop_all()

    # ------------------------------------------------------------------ start
    def _await_ready(self, child: _Child) -> bool:
        """Wait for `child`'s ready line; the children already up are watched meanwhile."""
        deadline = self._clock() + self._ready_timeout_s
        while not child.ready:
            if self._clock() >= deadline:
                raise self._failure(child, f"not ready after {self._ready_timeout_s:g} s")
            event = self._next_event(deadline)
            if isinstance(event, _Stop):
                return False
            if isinstance(event, _Exited):
                if event.child is child and event.generation == child.generation:
                    child.popen = None
                    raise self._failure(child, f"exited with code {event.code} before it was ready")
                self._on_exit(event)
            self._due_work()
        return True

    def _failure(self, child: _Child, what: str) -> SupervisorError:
        parts = [f"{child.spec.name} did not start: {what}"]
        if child.error_text:
            parts.append(f"its error: {child.error_text}")
        tail = self._stderr_tail(child)
        parts.append(f"stderr ({self._log_path(child)}): {tail or '(empty)'}")
        return SupervisorError("; ".join(parts), child.spec.process, child.spec.node)

    # ------------------------------------------------------------------ watch
    def _watch(self) -> None:
        while True:
            event = self._next_event()
            if isinstance(event, _Stop):
                return
            if isinstance(event, _Exited):
                self._on_exit(event)
            self._due_work()

    def _next_event(self, deadline: float | None = None) -> _Event | None:
        dues = [d for c in self._children for d in (c.restart_due, c.ready_due) if d is not None]
        if deadline is not None:
            dues.append(deadline)
        timeout = max(0.0, min(dues) - self._clock()) if dues else None
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def _on_exit(self, event: _Exited) -> None:
        child = event.child
        if event.generation != child.generation or child.popen is None:
            return  # an old generation, already handled
        child.popen = None
        child.ready_due = None
        up_for = self._clock() - child.started_at
        decision = child.schedule.on_exit(event.code, up_for, self._stopping)
        tail = self._stderr_tail(child)
        if decision.verdict == Verdict.CONFIG_ERROR:
            raise SupervisorError(
                f"{child.spec.name}: configuration error (exit {event.code}): "
                f"{child.error_text or tail or 'no detail'}",
                child.spec.process,
                child.spec.node,
            )
        if decision.verdict == Verdict.RESTART:
            log.warning(
                "%s exited with code %s after %.1f s up; restarting in %.1f s; stderr: %s",
                child.spec.name, event.code, up_for, decision.delay_s, tail or "(empty)",
            )  # fmt: skip
            self._emit(
                {
                    "event": "process_exit",
                    **child.label,
                    "pid": event.pid,
                    "exit_code": event.code,
                    "up_for_s": round(up_for, 3),
                    "restart_in_s": decision.delay_s,
                    "stderr_tail": tail,
                }
            )
            child.restart_due = self._clock() + decision.delay_s

    def _due_work(self) -> None:
        now = self._clock()
        for child in self._children:
            if child.restart_due is not None and now >= child.restart_due:
                child.restart_due = None
                self._spawn(child)
                child.ready_due = self._clock() + self._ready_timeout_s
            elif child.ready_due is not None and now >= child.ready_due and child.popen is not None:
                child.ready_due = None
                log.warning(
                    "%s not ready %g s after its restart: killed, to be restarted",
                    child.spec.name, self._ready_timeout_s,
                )  # fmt: skip
                with contextlib.suppress(ProcessLookupError):
                    child.popen.kill()

    # ------------------------------------------------------------------ processes
    def _log_path(self, child: _Child) -> Path:
        return self._log_dir / f"{child.spec.name}.log"

    def _spawn(self, child: _Child) -> None:
        path = self._log_path(child)
        with contextlib.suppress(OSError):
            if path.stat().st_size > LOG_ROTATE_BYTES:
                path.replace(path.with_name(path.name + ".1"))
        child.generation += 1
        child.ready = False
        child.error_text = ""
        child.stopped_line = None
        with open(path, "a", encoding="utf-8") as stderr:
            stderr.write(
                f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} start #{child.generation}: "
                f"{' '.join(child.spec.argv)}\n"
            )
            stderr.flush()
            child.log_offset = stderr.tell()
            popen = subprocess.Popen(
                die_with_parent.command(list(child.spec.argv)),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                bufsize=1,
                start_new_session=True,
                env=self._env,
            )
        child.popen = popen
        child.started_at = self._clock()
        child.reader = threading.Thread(
            target=self._relay,
            args=(child, popen, child.generation),
            name=f"relay-{child.spec.name}",
            daemon=True,
        )
        child.reader.start()
        log.info("%s started (pid %s, start #%s)", child.spec.name, popen.pid, child.generation)

    def _relay(self, child: _Child, popen: subprocess.Popen[str], generation: int) -> None:
        """A child's stdout, line by line, until it closes; then its exit code."""
        assert popen.stdout is not None
        stream: IO[str] = popen.stdout
        for raw in stream:
            line = raw.strip()
            if line:
                self._relay_line(child, generation, line, popen.pid)
        self._events.put(_Exited(child, generation, popen.wait(), popen.pid))

    def _relay_line(self, child: _Child, generation: int, line: str, pid: int) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            self._emit({"event": "output", **child.label, "text": line})
            return
        kind = event.get("event")
        out = {**event, **child.label}
        if kind in RENAMED:
            out["event"] = RENAMED[kind]
        if kind == "ready":
            out["pid"] = pid
        self._emit(out)
        if generation != child.generation:
            return
        if kind == "error":
            child.error_text = str(event.get("error", ""))
        elif kind == "stopped":
            child.stopped_line = event
        elif kind == "ready":
            child.ready_line = event
            child.ready = True
            child.ready_due = None
            self._events.put(_Ready(child, generation))

    def _stderr_tail(self, child: _Child, lines: int = 8, max_bytes: int = 4096) -> str:
        """The last lines the child's current start wrote on stderr."""
        path = self._log_path(child)
        try:
            with open(path, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(child.log_offset, size - max_bytes))
                text = handle.read().decode(errors="replace")
        except OSError:
            return ""
        return " | ".join(x for x in text.splitlines()[-lines:] if x.strip())

    def _stop_all(self) -> None:
        """Every running child, in reverse order: SIGTERM, then SIGKILL after the grace."""
        self._stopping = True
        for child in reversed(self._children):
            child.restart_due = None
            popen, child.popen = child.popen, None
            if popen is None:
                continue
            if popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    popen.terminate()
                try:
                    popen.wait(self._grace_s)
                except subprocess.TimeoutExpired:
                    log.warning(
                        "%s did not stop within %g s: killed", child.spec.name, self._grace_s
                    )
                    popen.kill()
                    popen.wait()
            if child.reader is not None:
                child.reader.join(5.0)  # its last lines are relayed before serve says stopped
            log.info("%s stopped (exit code %s)", child.spec.name, popen.returncode)
