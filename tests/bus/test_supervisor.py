"""evscallpro.supervisor: the restart schedule (pure), then the Supervisor running small fake
children (tests/bus/fake_child.py, the processes' stdout/exit-code contract): start order,
relay, restart with back-off, configuration errors, stop order, SIGKILL after the grace,
and no orphan when the supervisor itself is killed."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from evscallpro.supervisor import (
    BackoffPolicy,
    ChildSpec,
    RestartSchedule,
    Supervisor,
    SupervisorError,
    Verdict,
)

pytestmark = pytest.mark.timeout(60)

FAKE = Path(__file__).with_name("fake_child.py")
REPO = Path(__file__).resolve().parents[2]
WAIT_S = 20.0


# ---------------------------------------------------------------- the schedule, pure
def test_back_off_doubles_from_half_a_second_up_to_thirty() -> None:
    schedule = RestartSchedule()
    delays = [schedule.on_exit(1, up_for_s=1.0, stopping=False).delay_s for _ in range(9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_back_off_starts_again_after_a_minute_up() -> None:
    schedule = RestartSchedule()
    for _ in range(5):
        schedule.on_exit(1, up_for_s=2.0, stopping=False)
    assert schedule.on_exit(1, up_for_s=59.9, stopping=False).delay_s == 16.0
    assert schedule.on_exit(1, up_for_s=60.0, stopping=False).delay_s == 0.5
    assert schedule.on_exit(-9, up_for_s=0.1, stopping=False).delay_s == 1.0  # killed: a crash


def test_exit_code_two_is_a_configuration_error_never_restarted() -> None:
    schedule = RestartSchedule(BackoffPolicy(first_s=1.0))
    decision = schedule.on_exit(2, up_for_s=300.0, stopping=False)
    assert decision.verdict == Verdict.CONFIG_ERROR
    assert schedule.last_delay_s == 0.0  # the schedule did not move
    assert schedule.on_exit(1, 0.0, False).verdict == Verdict.RESTART


def test_an_exit_while_stopping_is_expected_whatever_its_code() -> None:
    schedule = RestartSchedule()
    for code in (0, 1, 2, -15):
        assert schedule.on_exit(code, 5.0, stopping=True).verdict == Verdict.EXPECTED
    assert schedule.on_exit(0, 5.0, stopping=False).verdict == Verdict.RESTART  # unasked exit 0


# ---------------------------------------------------------------- with fake children
class Lines:
    """What the supervisor emits; tests wait on a predicate."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self._cond = threading.Condition()

    def __call__(self, event: dict[str, Any]) -> None:
        json.dumps(event)  # what serve prints: it must be JSON
        with self._cond:
            self.seen.append(event)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        with self._cond:
            assert self._cond.wait_for(lambda: any(predicate(e) for e in self.seen), WAIT_S), (
                self.seen
            )
            return next(e for e in self.seen if predicate(e))

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.seen if e["event"] == kind]


def spec(name: str, process: str, *flags: str, node: str = "") -> ChildSpec:
    argv = [sys.executable, str(FAKE), "--process", process, *flags]
    if node:
        argv += ["--node", node]
    return ChildSpec(name=name, process=process, argv=tuple(argv), node=node)


class Running:
    def __init__(self, supervisor: Supervisor, lines: Lines) -> None:
        self.supervisor = supervisor
        self.lines = lines
        self.ready = threading.Event()
        self.ready_lines: dict[str, dict[str, Any]] = {}
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        def on_ready(lines: dict[str, dict[str, Any]]) -> None:
            self.ready_lines = lines
            self.ready.set()

        try:
            self.supervisor.run(on_ready)
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def stop(self) -> None:
        self.supervisor.request_stop()
        assert self.done.wait(WAIT_S), "the supervisor did not stop"


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    running: list[Running] = []

    def start(specs: Sequence[ChildSpec], **options: Any) -> Running:
        options.setdefault("ready_timeout_s", WAIT_S)
        options.setdefault("grace_s", 5.0)
        lines = Lines()
        run = Running(Supervisor(specs, tmp_path / "logs", lines, **options), lines)
        running.append(run)
        return run

    yield start
    for run in running:
        run.stop()


def test_children_start_in_order_are_relayed_and_stop_in_reverse(
    supervise: Callable[..., Running], tmp_path: Path
) -> None:
    journal = str(tmp_path / "journal")
    call = json.dumps({"event": "call", "call_id": "c1", "step": "connected"})
    run = supervise(
        [
            spec("analytics", "analytics", "--journal", journal),
            spec("node-n1", "node", "--journal", journal, "--say", call, node="n1"),
            spec("gateway", "gateway", "--journal", journal),
        ]
    )
    assert run.ready.wait(WAIT_S), run.error
    assert run.ready_lines["gateway"]["url"] == "http://127.0.0.1:9/"
    assert run.ready_lines["node-n1"]["node"] == "n1"
    relayed = run.lines.wait_for(lambda e: e["event"] == "call")
    assert relayed == {
        "event": "call",
        "call_id": "c1",
        "step": "connected",
        "process": "node",
        "node": "n1",
    }
    text = run.lines.wait_for(lambda e: e["event"] == "output")
    assert text["text"] == "not json, on stdout" and text["process"] == "node"
    ready = run.lines.of("process_ready")
    assert [e["process"] for e in ready] == ["analytics", "node", "gateway"]
    assert not run.lines.of("ready")  # serve's own ready line stays unambiguous
    run.stop()
    assert run.error is None
    assert Path(journal).read_text().split("\n")[:-1] == [
        "start analytics",
        "start node-n1",
        "start gateway",
        "stop gateway",
        "stop node-n1",
        "stop analytics",
    ]
    stopped = run.supervisor.stopped_lines()
    assert stopped["node-n1"]["live_calls_left_up"] == ["call-of-node-n1"]
    assert [e["process"] for e in run.lines.of("process_stopped")] == [
        "gateway",
        "node",
        "analytics",
    ]
    log = (tmp_path / "logs" / "node-n1.log").read_text()
    assert "node-n1 starting" in log  # stderr goes to the child's log file


def test_a_crashed_child_is_restarted_with_back_off_and_its_stderr_reported(
    supervise: Callable[..., Running], tmp_path: Path
) -> None:
    run = supervise(
        [spec("node-n1", "node", "--crashes", "2", "--count", str(tmp_path / "count"), node="n1")],
        policy=BackoffPolicy(first_s=0.05, cap_s=1.0),
    )
    assert run.ready.wait(WAIT_S), run.error
    third = run.lines.wait_for(lambda e: e["event"] == "process_ready" and e["start"] == 3)
    assert third["node"] == "n1"
    exits = run.lines.of("process_exit")
    assert [e["restart_in_s"] for e in exits] == [0.05, 0.1]
    assert all(e["exit_code"] == 1 and e["node"] == "n1" for e in exits)
    assert "lost the bus, crashing (start 1)" in exits[0]["stderr_tail"]
    assert "start 2" not in exits[0]["stderr_tail"]  # the tail of that start only
    assert "lost the bus, crashing (start 2)" in exits[1]["stderr_tail"]
    run.stop()
    assert run.error is None


def test_ready_and_exit_lines_carry_the_pid_of_the_child_they_are_about(
    supervise: Callable[..., Running], tmp_path: Path
) -> None:
    """The load generator SIGKILLs the node child by the pid of its process_ready line."""
    run = supervise(
        [spec("node-n1", "node", "--no-pid", node="n1")],
        policy=BackoffPolicy(first_s=0.05, cap_s=1.0),
    )
    assert run.ready.wait(WAIT_S), run.error
    first = run.lines.wait_for(lambda e: e["event"] == "process_ready")
    pid = run.supervisor.pids()["node-n1"]
    assert first["pid"] == pid
    os.kill(pid, signal.SIGKILL)
    exit_line = run.lines.wait_for(lambda e: e["event"] == "process_exit")
    assert exit_line["pid"] == pid and exit_line["node"] == "n1"
    second = run.lines.wait_for(lambda e: e["event"] == "process_ready" and e["pid"] != pid)
    assert second["pid"] == run.supervisor.pids()["node-n1"]
    run.stop()
    assert run.error is None


def test_a_configuration_error_at_start_stops_everything_with_the_child_named(
    supervise: Callable[..., Running], tmp_path: Path
) -> None:
    journal = str(tmp_path / "journal")
    run = supervise(
        [
            spec("analytics", "analytics", "--journal", journal),
            spec("node-n1", "node", "--config-error", node="n1"),
            spec("gateway", "gateway", "--journal", journal),
        ]
    )
    assert run.done.wait(WAIT_S)
    assert isinstance(run.error, SupervisorError)
    message = str(run.error)
    assert message.startswith("node-n1 did not start: exited with code 2")
    assert "nodes[0].ari.url: not a URL" in message  # its error line
    assert "bad setting nodes[0].ari.url" in message  # the tail of its stderr
    assert run.error.process == "node" and run.error.node == "n1"
    assert not run.ready.is_set()
    assert Path(journal).read_text().split("\n")[:-1] == ["start analytics", "stop analytics"]
    assert run.lines.of("process_error")[0]["node"] == "n1"


def test_a_configuration_error_after_start_is_not_restarted(
    supervise: Callable[..., Running],
) -> None:
    run = supervise(
        [
            spec("analytics", "analytics"),
            spec("gateway", "gateway", "--config-error-after-ready"),
        ]
    )
    assert run.done.wait(WAIT_S)
    assert isinstance(run.error, SupervisorError)
    assert str(run.error).startswith("gateway: configuration error (exit 2): agents[0].node")
    assert not run.lines.of("process_exit")  # no restart
    assert [e["process"] for e in run.lines.of("process_stopped")] == ["analytics"]


def test_a_child_never_ready_fails_the_start_with_its_stderr(
    supervise: Callable[..., Running],
) -> None:
    run = supervise([spec("node-n1", "node", "--never-ready", node="n1")], ready_timeout_s=1.0)
    assert run.done.wait(WAIT_S)
    assert isinstance(run.error, SupervisorError)
    assert "node-n1 did not start: not ready after 1 s" in str(run.error)
    assert "waiting for Asterisk" in str(run.error)


def test_a_child_deaf_to_sigterm_is_killed_after_the_grace(
    supervise: Callable[..., Running],
) -> None:
    run = supervise([spec("gateway", "gateway", "--ignore-sigterm")], grace_s=0.5)
    assert run.ready.wait(WAIT_S), run.error
    pid = run.supervisor.pids()["gateway"]
    run.stop()
    assert run.error is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped by the supervisor


MINI_SERVE = """
import json, sys
from pathlib import Path
from evscallpro.supervisor import ChildSpec, Supervisor
fake, logs = sys.argv[1], Path(sys.argv[2])
spec = ChildSpec("node-n1", "node", (sys.executable, fake, "--process", "node", "--node", "n1"), "n1")
Supervisor([spec], logs, lambda e: print(json.dumps(e), flush=True)).run()
"""


def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", MINI_SERVE, str(FAKE), str(tmp_path / "logs")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert parent.stdout is not None
        ready = json.loads(parent.stdout.readline())
        assert ready["event"] == "process_ready"
        child = os.pidfd_open(ready["pid"])
    finally:
        parent.kill()
        parent.wait(WAIT_S)
    try:
        readable, _, _ = select.select([child], [], [], WAIT_S)  # readable once it exited
        assert readable, "the child outlived its supervisor"
    finally:
        os.close(child)


def test_sigterm_to_the_child_group_is_not_shared_with_the_supervisor(
    supervise: Callable[..., Running],
) -> None:
    """Children run in their own session: the terminal's Ctrl-C reaches serve alone."""
    run = supervise([spec("analytics", "analytics")])
    assert run.ready.wait(WAIT_S), run.error
    pid = run.supervisor.pids()["analytics"]
    assert os.getsid(pid) == pid != os.getsid(0)
    os.kill(pid, signal.SIGKILL)  # killed from outside: a crash, restarted
    exit_line = run.lines.wait_for(lambda e: e["event"] == "process_exit")
    assert exit_line["exit_code"] == -signal.SIGKILL
    run.lines.wait_for(lambda e: e["event"] == "process_ready" and e["pid"] != pid)
