"""A real Prometheus (Debian's package) scrapes the running product, and every expression of
the Grafana dashboard and of the alerting rules returns data through its HTTP API.

The product is the Stack (analytics, core, gateway with /metrics) on the ARI simulator; two
agents place a call each (one completes, one finds the customer busy) while Prometheus
scrapes every second, so the counters are seen at 0 and then at their value.
"""

from __future__ import annotations

import json
import math
import re
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_tools import DASHBOARD, RULES, binary

from asterisk.sim.testing import SimulatorThread
from core.domain import CallStep, WorkstationMode
from core.records import CallRecord
from core.settings import AgentSettings, AriSettings
from core.views import CallView
from evscallpro.settings_file import Settings
from evscallpro.stack import Stack
from gateway.settings import GatewaySettings

pytestmark = [pytest.mark.prometheus, pytest.mark.slow, pytest.mark.timeout(120)]

JOB = "evscallpro"
WINDOW = "10m"  # stands for Grafana's $__rate_interval: covers the whole test
WAIT_S = 40.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(condition: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Poll `condition` (no event exists for "Prometheus has scraped") until it is truthy."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(0.2)


class _Records:
    def __init__(self, expected: int) -> None:
        self.records: list[CallRecord] = []
        self.expected = expected
        self.done = threading.Event()
        self._lock = threading.Lock()

    def write(self, record: Any) -> None:
        if isinstance(record, CallRecord):
            with self._lock:
                self.records.append(record)
                if len(self.records) >= self.expected:
                    self.done.set()


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.get("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        return list(data["result"])

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    simulator = SimulatorThread(time_scale=20.0).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def stack(sim: SimulatorThread, tmp_path: Path) -> Iterator[tuple[Stack, _Records]]:
    records = _Records(expected=2)
    settings = Settings(
        ari=AriSettings(url=sim.base_url),
        agents=[
            AgentSettings(id="a1", workstation=WorkstationMode.SOFTPHONE,
                          softphone_endpoint="agent-1001",
                          mobile_number="+33600000007"),  # answers, presses 1
            AgentSettings(id="a2", workstation=WorkstationMode.SOFTPHONE,
                          softphone_endpoint="agent-1002"),
        ],
        data_dir=str(tmp_path / "data"),
        gateway=GatewaySettings(port=0),
    )
    product = Stack(settings, extra_sinks=[records], link_timeout_s=10).start()
    try:
        yield product, records
    finally:
        product.stop()


@pytest.fixture
def prometheus(stack: tuple[Stack, _Records], tmp_path: Path) -> Iterator[Prometheus]:
    target = urllib.parse.urlsplit(stack[0].url).netloc
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{json.dumps(str(RULES))}]\n"
        f"scrape_configs:\n  - job_name: {JOB}\n"
        f"    static_configs: [{{targets: [{json.dumps(target)}]}}]\n"
    )
    port = _free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Prometheus(f"http://127.0.0.1:{port}")
    try:
        _wait(lambda: server.ready() or process.poll() is not None, "Prometheus ready")
        assert process.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


def dashboard_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = (target["expr"].replace("$job", JOB).replace("$node", ".*")
                    .replace("$__rate_interval", WINDOW))
            found.append((f"{panel['title']} / {target.get('legendFormat', '')}", expr))
    return found


def rule_expressions() -> list[tuple[str, str]]:
    """(alert name, expr) of every rule; `expr: >-` blocks are folded as YAML does."""
    found = []
    lines = RULES.read_text().splitlines()
    name = ""
    for index, line in enumerate(lines):
        if match := re.match(r"\s*- alert: (\w+)$", line):
            name = match.group(1)
        elif match := re.match(r"(\s*)expr: (.*)$", line):
            text = match.group(2)
            if text == ">-":
                indent = len(match.group(1))
                parts = []
                for following in lines[index + 1 :]:
                    if len(following) - len(following.lstrip()) <= indent:
                        break
                    parts.append(following.strip())
                text = " ".join(parts)
            found.append((name, text))
    return found


_COMPARISON = re.compile(r"\s*(==|!=|<=|>=|<|>)\s*[0-9.]+\s*$")


def measures(expr: str) -> list[str]:
    """The quantities an alert compares: `A < 0.2 and B >= 20` -> [A, B]. When healthy an
    alert's expression is empty by design; what it measures must not be."""
    depth, parts, start = 0, [], 0
    for index, char in enumerate(expr):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and expr.startswith(" and ", index):
            parts.append(expr[start:index])
            start = index + len(" and ")
    parts.append(expr[start:])
    return [_COMPARISON.sub("", part).strip() for part in parts]


def _values(result: list[dict[str, Any]]) -> list[float]:
    return [float(sample["value"][1]) for sample in result]


def test_measures_split_an_alert_into_what_it_compares() -> None:
    assert measures("a{x=\"1\"} - b > 0") == ['a{x="1"} - b']
    assert measures("sum by (j) (x) / sum(y and z) < 0.2 and sum(y) >= 20") == [
        "sum by (j) (x) / sum(y and z)",
        "sum(y)",
    ]
    assert len(rule_expressions()) == 7
    assert all(expr and "\n" not in expr for _, expr in rule_expressions())


def test_every_dashboard_and_rule_expression_returns_data(
    stack: tuple[Stack, _Records], prometheus: Prometheus
) -> None:
    product, records = stack
    # Prometheus sees the series at 0 before any call: the first events count in increase().
    _wait(lambda: prometheus.query(f'up{{job="{JOB}"}} == 1'), "a first scrape")
    # (the registry is the process's: other tests in this run may have counted calls)
    before = _values(prometheus.query(f'sum(evscallpro_calls_total{{job="{JOB}"}})'))
    assert len(before) == 1

    app = product.call_center
    views: list[CallView] = []
    seen = threading.Condition()

    def on_view(view: object) -> None:
        if isinstance(view, CallView):
            with seen:
                views.append(view)
                seen.notify_all()

    def wait_view(what: Callable[[CallView], bool]) -> CallView:
        with seen:
            assert seen.wait_for(lambda: any(what(v) for v in views), WAIT_S)
            return next(v for v in views if what(v))

    app.subscribe(on_view)
    for agent_id in ("a1", "a2"):
        assert app.log_in(agent_id) is None
    assert app.place_call("a1", "+33600000001") is None  # answers and stays
    assert app.place_call("a2", "+33600000002") is None  # busy
    # a1 moves the call to the mobile (the switch metrics), then hangs up
    call = wait_view(lambda v: v.agent_id == "a1" and v.step == CallStep.CONNECTED)
    assert app.switch_agent_leg("a1", call.call_id, WorkstationMode.MOBILE) is None
    switched = wait_view(lambda v: v.agent_id == "a1" and v.switch_result != "")
    assert switched.switch_result == "switched", switched.switch_reason
    assert app.hang_up("a1", call.call_id) is None
    assert records.done.wait(WAIT_S), f"records: {records.records}"
    outcomes = sorted(str(r.outcome) for r in records.records)
    assert outcomes == ["completed", "customer_busy"]

    _wait(
        lambda: _values(prometheus.query(f'sum(evscallpro_calls_total{{job="{JOB}"}})'))
        == [before[0] + 2],
        "a scrape after both records",
    )
    # the first call of each outcome counts as an increase (series created at 0)
    increase = prometheus.query(
        f'sum by (outcome) (increase(evscallpro_calls_total{{job="{JOB}"}}[{WINDOW}])) > 0'
    )
    assert {sample["metric"]["outcome"] for sample in increase} == {"completed", "customer_busy"}

    expressions = dashboard_expressions() + [
        (f"rule {name}: {part}", part)
        for name, expr in rule_expressions()
        for part in measures(expr)
    ]
    assert len(expressions) >= 40
    empty = []
    for where, expr in expressions:
        values = _values(prometheus.query(expr))
        if not any(math.isfinite(value) for value in values):
            empty.append(f"{where}: {expr} -> {values}")
    assert not empty, "\n".join(empty)

    # whole alert expressions are valid PromQL, and none fires on a healthy product
    for name, expr in rule_expressions():
        assert prometheus.query(expr) == [], name
    groups = prometheus.get("/api/v1/rules")["groups"]
    loaded = [rule for group in groups for rule in group["rules"]]
    assert len(loaded) == 7
    assert all(rule["health"] != "err" for rule in loaded), loaded
    # the dashboard's `job` variable: label_values(evscallpro_ari_connected, job)
    jobs = prometheus.get("/api/v1/label/job/values", **{"match[]": "evscallpro_ari_connected"})
    assert jobs == [JOB]
