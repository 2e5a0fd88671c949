"""Conformance: every recorded Asterisk 22 scenario replayed against the ARI simulator.

For each scenario (S01-S14 over Local channels, P01-P10 over the PJSIP trunk) a fresh
simulator runs time-scaled; the recorded requests and WebSocket actions are replayed in
order (`trace_replay`), and the result is judged against all recorded runs
(`trace_check`): REST status, body shape and error text; per-channel event order; event
key sets. Differences believed harmless are listed in `trace_known.KNOWN` with a reason and
printed with the report, never dropped silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from trace_check import Report, check
from trace_known import split_known
from trace_model import Scenario, load, scenarios
from trace_replay import Replayer, Target

testing = pytest.importorskip(
    "asterisk.sim.testing", reason="the ARI simulator (asterisk.sim.testing) is not there yet"
)

TIME_SCALE = float(os.environ.get("CONFORMANCE_TIME_SCALE", "20"))
REPORT_DIR = os.environ.get("CONFORMANCE_REPORT_DIR")

pytestmark = pytest.mark.timeout(90)


async def replay(sc: Scenario) -> Report:
    async with testing.running_simulator(time_scale=TIME_SCALE) as sim:
        target = Target(sim.base_url, sim.username, sim.password)
        observed = await Replayer(load(sc.main), target, time_scale=TIME_SCALE).run()
    return check(sc, observed)


def _save(report: Report) -> None:
    if REPORT_DIR:
        Path(REPORT_DIR).mkdir(parents=True, exist_ok=True)
        (Path(REPORT_DIR) / f"{report.scenario}.txt").write_text(report.text() + "\n")


@pytest.mark.parametrize("sc", scenarios(), ids=lambda sc: sc.name.split("-", 1)[0])
async def test_simulator_reproduces_recorded_scenario(sc: Scenario) -> None:
    report = await replay(sc)
    report.mismatches, known = split_known(sc.name, report.mismatches)
    report.notes += [f"known difference ({reason}): {m}" for m, reason in known]
    _save(report)
    print(report.text())
    assert report.mismatches == [], report.text()
