"""`evscallpro analytics` as a process: records on the stream end up in DuckDB exactly once,
through a SIGKILL mid-stream too; the archive answers; /metrics counts; SIGTERM exits 0;
a configuration problem is an error line and exit 2."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import nats
import pytest
from nats.js import JetStreamContext
from support.synthetic import generate_calls

from analytics.dashboard import StatsFilter
from analytics.journal import record_key
from bus.archive_protocol import ARCHIVE_SUBJECT, DashboardQuery, decode_answer, encode_query
from bus.records import STREAM, WRITER_DURABLE, encode, ensure_stream, subject_for
from bus.server import NatsServer

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 60.0
WINDOW = StatsFilter(start=dt.datetime(2026, 5, 1), end=dt.datetime(2026, 7, 1))


def write_config(tmp: Path, bus_url: str = "") -> Path:
    config = tmp / "evscallpro.toml"
    config.write_text(
        f"""
data_dir = "{tmp / 'data'}"

[ari]
url = "http://127.0.0.1:1"
user = "u"
password = "p"
app = "evscallpro"

[dial]
trunk = "carrier"

[bus]
url = "{bus_url}"

[[agents]]
id = "a1"
name = "Alice"
mobile_number = "+33600000001"
workstation = "mobile"
""",
        encoding="utf-8",
    )
    return config


class AnalyticsChild:
    """The process, its stdout read line by line on a thread (events waited with a bound)."""

    def __init__(self, config: Path, bus_url: str | None, *extra: str) -> None:
        command = [sys.executable, "-m", "evscallpro.cli", "analytics", "--config", str(config)]
        if bus_url is not None:
            command += ["--bus-url", bus_url]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(
            [*command, "--metrics-port", "0", *extra], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.put(json.loads(line))

    def event(self, kind: str, within_s: float = WAIT_S) -> dict[str, Any]:
        deadline = time.monotonic() + within_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                break
            if event["event"] == kind:
                return event
            if event["event"] == "error":
                raise AssertionError(f"analytics failed: {event}")
        raise AssertionError(f"no {kind!r} event within {within_s} s: {self.stderr_tail()}")

    def stderr_tail(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return "(still running)"
        return self.process.stderr.read().decode(errors="replace")[-2000:]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=WAIT_S)


@pytest.fixture
def children() -> Iterator[list[AnalyticsChild]]:
    started: list[AnalyticsChild] = []
    yield started
    for child in started:
        if child.process.poll() is None:
            child.process.kill()
            child.process.wait(timeout=WAIT_S)


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples (those with `labels`) on a /metrics page."""
    with urllib.request.urlopen(url, timeout=10) as page:
        text = page.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{"):
            assert 'process="analytics"' in line and 'node="analytics"' in line, line
            if all(f'{key}="{value}"' in line for key, value in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


async def publish(js: JetStreamContext, count: int, prefix: str) -> None:
    await ensure_stream(js)
    for record in generate_calls(count, prefix=prefix, start=1_780_000_000.0):
        await js.publish_async(subject_for("n1"), encode(record),
                               headers={"Nats-Msg-Id": record_key(record)})
    await js.publish_async_completed()


async def everything_acknowledged(js: JetStreamContext, within_s: float = WAIT_S) -> None:
    """Waits until the writer's consumer has nothing pending nor unacknowledged."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        info = await js.consumer_info(STREAM, WRITER_DURABLE)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        await asyncio.sleep(0.2)  # polling the consumer's state, bounded by the deadline
    raise AssertionError(f"still pending after {within_s} s: {info}")


def stored(config_dir: Path) -> tuple[int, int, int]:
    """(calls, distinct call ids, legs) in the process's DuckDB, read once it has stopped."""
    con = duckdb.connect(str(config_dir / "data" / "evscallpro.duckdb"), read_only=True)
    try:
        calls, distinct = con.execute("SELECT count(*), count(DISTINCT call_id) FROM calls").fetchone()  # type: ignore[misc]
        (legs,) = con.execute("SELECT count(*) FROM call_legs").fetchone()  # type: ignore[misc]
    finally:
        con.close()
    return int(calls), int(distinct), int(legs)


async def test_records_reach_duckdb_once_archive_and_metrics_answer_sigterm_exits_0(
    nats_server: NatsServer, tmp_path: Path, children: list[AnalyticsChild]
) -> None:
    config = write_config(tmp_path)
    nc = await nats.connect(nats_server.url)
    child = AnalyticsChild(config, nats_server.url)
    children.append(child)
    ready = child.event("ready")
    assert ready["process"] == "analytics" and ready["metrics_url"].startswith("http://")
    url = ready["metrics_url"]
    js = nc.jetstream()
    await publish(js, 3000, "once")
    await publish(js, 500, "once")  # a node that published its first 500 again
    await everything_acknowledged(js)

    query = DashboardQuery(filter=WINDOW)
    reply = await nc.request(ARCHIVE_SUBJECT, encode_query(query), timeout=30)
    assert decode_answer(query, reply.data).calls == 3000
    assert metric(url, "evscallpro_records_written_total") == 3000
    # the call and agent metrics are the nodes' (their `node` label), never counted here
    assert metric(url, "evscallpro_calls_total") == 0
    await nc.close()

    assert child.stop(signal.SIGTERM) == 0
    stopped = child.event("stopped", 5)
    assert stopped["written"] == 3000
    calls, distinct, legs = stored(tmp_path)
    assert calls == distinct == 3000
    assert legs == sum(1 + (r.customer_leg is not None)
                       for r in generate_calls(3000, prefix="once", start=1_780_000_000.0))


async def test_sigkill_mid_stream_then_restart_keeps_every_record_exactly_once(
    nats_server: NatsServer, tmp_path: Path, children: list[AnalyticsChild]
) -> None:
    config = write_config(tmp_path)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await publish(js, 20_000, "kill")
    first = AnalyticsChild(config, nats_server.url, "--batch", "500", "--ack-wait", "2")
    children.append(first)
    url = first.event("ready")["metrics_url"]
    deadline = time.monotonic() + WAIT_S
    while (written := metric(url, "evscallpro_records_written_total")) < 1000:
        assert time.monotonic() < deadline, "the writer did not start writing"
        await asyncio.sleep(0.05)  # polling /metrics, bounded by the deadline
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    assert written < 20_000, "the writer finished before it was killed: kill it sooner"

    second = AnalyticsChild(config, nats_server.url, "--batch", "500", "--ack-wait", "2")
    children.append(second)
    second.event("ready")
    await everything_acknowledged(js)
    await nc.close()
    assert second.stop(signal.SIGTERM) == 0
    calls, distinct, legs = stored(tmp_path)
    assert calls == distinct == 20_000
    expected_legs = sum(1 + (r.customer_leg is not None)
                        for r in generate_calls(20_000, prefix="kill", start=1_780_000_000.0))
    assert legs == expected_legs


@pytest.mark.parametrize(
    ("bus_url", "args", "error"),
    [
        (None, [], "no NATS server"),
        ("nats://127.0.0.1:4222", ["--ack-wait", "0"], "--ack-wait"),
        ("nats://127.0.0.1:4222", ["--metrics-port", "70000"], "--metrics-port"),
    ],
)
def test_a_configuration_problem_is_an_error_line_and_exit_2(
    tmp_path: Path, children: list[AnalyticsChild], bus_url: str | None, args: list[str],
    error: str,
) -> None:
    child = AnalyticsChild(write_config(tmp_path), bus_url, *args)
    children.append(child)
    line = child.events.get(timeout=WAIT_S)
    assert line["event"] == "error" and error in line["error"]
    assert child.process.wait(timeout=WAIT_S) == 2


def test_an_invalid_settings_file_is_an_error_line_and_exit_2(
    tmp_path: Path, children: list[AnalyticsChild]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("data_dir = 3\n", encoding="utf-8")
    child = AnalyticsChild(config, "nats://127.0.0.1:4222")
    children.append(child)
    line = child.events.get(timeout=WAIT_S)
    assert line["event"] == "error" and "data_dir" in line["error"]
    assert child.process.wait(timeout=WAIT_S) == 2


def test_sigterm_while_waiting_for_the_bus_is_a_clean_exit(
    tmp_path: Path, children: list[AnalyticsChild]
) -> None:
    closed = "nats://127.0.0.1:1"  # a privileged port nothing listens on (a free port could
    # be taken meanwhile by another test's server, which the process would then join)
    child = AnalyticsChild(write_config(tmp_path), closed)
    children.append(child)
    assert child.event("joining_bus")["servers"] == [closed]
    assert child.stop(signal.SIGTERM) == 0
    assert child.event("stopped")["written"] == 0
