"""Every far end the traces name exists in the simulator's default config and behaves so.

The traces list their test phones in `setup.sim_phones` (Local/<exten>@sim-phones) and
`setup.carrier_numbers` (PJSIP/<number>@carrier). The replays exercise them inside whole
scenarios; this test dials each one once, side by side, and checks the outcome the
recording documents (README tables), so a missing or wrong rule is named directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass

import aiohttp
import pytest
from trace_model import load, scenario

from asterisk.sim.testing import running_simulator

TIME_SCALE = 50.0
APP = "conformance-phones"
pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class Outcome:
    """What the recording shows for a leg dialed with originate (Local ;1 / PJSIP leg)."""

    answered: bool
    dial: str | None = None  # last Dial status when not answered, None if none is sent
    cause: int | None = None  # ChannelDestroyed cause of the leg (None: not checked)
    tech_cause: int | None = None
    far_hangup: bool = False  # answered, then the far end hangs up (HangupRequest 16)
    dtmf: str | None = None
    progress: bool = False  # Dial PROGRESS (183) seen first


LOCAL = {
    "answer": Outcome(True),
    "answer-hangup3": Outcome(True, far_hangup=True, cause=16),
    "answer-hangup5": Outcome(True, far_hangup=True, cause=16),
    "answer-hangup12": Outcome(True, far_hangup=True, cause=16),
    "answer-dtmf1": Outcome(True, dtmf="1"),
    "answer-play": Outcome(True),
    "cust-hello-hangup8": Outcome(True, far_hangup=True, cause=16),
    "busy": Outcome(False, dial="BUSY", cause=0),
    "noanswer": Outcome(False, dial=None, cause=19),  # originate timeout
    "congestion": Outcome(False, dial="CONGESTION", cause=0),
    "unallocated": Outcome(False, dial="NOANSWER", cause=1),
    "reject": Outcome(False, dial="NOANSWER", cause=21),
}

CARRIER = {
    "+33600000001": Outcome(True),
    "+33600000002": Outcome(False, dial="BUSY", cause=17, tech_cause=486),
    "+33600000003": Outcome(False, dial=None, cause=19, tech_cause=480),  # originate timeout
    "+33600000004": Outcome(False, dial="NOANSWER", cause=1, tech_cause=404),
    "+33600000005": Outcome(False, dial="CONGESTION", cause=34, tech_cause=503),
    "+33600000006": Outcome(False, dial="NOANSWER", cause=21, tech_cause=603),
    "+33600000007": Outcome(True, dtmf="1"),
    "+33600000008": Outcome(True, far_hangup=True, cause=16),
    "+33600000009": Outcome(True, progress=True),
    "+33600000010": Outcome(False, dial="NOANSWER", cause=21, tech_cause=403),
    "+33600000011": Outcome(False, dial="NOANSWER", cause=19, tech_cause=480),
    "+33600000012": Outcome(True, far_hangup=True, cause=16),
    "+33600000013": Outcome(False, dial="NOANSWER", cause=1, tech_cause=404, progress=True),
}


def test_the_expectation_tables_cover_every_phone_the_traces_name() -> None:
    local = load(scenario("S01").main)["setup"]["sim_phones"]
    carrier = load(scenario("P01").main)["setup"]["carrier_numbers"]
    assert set(LOCAL) == set(local)
    assert set(CARRIER) == set(carrier)


@dataclass
class Leg:
    endpoint: str
    expected: Outcome
    events: list[dict[str, object]]


def _judge(leg: Leg) -> list[str]:
    exp = leg.expected
    types = [str(e["type"]) for e in leg.events]
    dials = [str(e.get("dialstatus")) for e in leg.events if e["type"] == "Dial"]
    destroyed = [e for e in leg.events if e["type"] == "ChannelDestroyed"]
    problems = []
    if ("StasisStart" in types) != exp.answered:
        problems.append(f"answered={'StasisStart' in types}, expected {exp.answered}")
    final = [d for d in dials if d not in ("", "RINGING", "PROGRESS")]
    last: str | None = final[-1] if final else None
    if not exp.answered and last != exp.dial:
        problems.append(f"final Dial status {final}, expected {exp.dial}")
    if exp.progress and "PROGRESS" not in dials:
        problems.append(f"no Dial PROGRESS (183) in {dials}")
    if exp.cause is not None:
        if not destroyed:
            problems.append(f"leg never destroyed, expected cause {exp.cause}")
        elif destroyed[0].get("cause") != exp.cause:
            problems.append(f"destroyed with cause {destroyed[0].get('cause')}, expected {exp.cause}")
        elif exp.tech_cause is not None and destroyed[0].get("tech_cause") != exp.tech_cause:
            problems.append(
                f"tech_cause {destroyed[0].get('tech_cause')}, expected {exp.tech_cause}")
    if exp.far_hangup and not any(
        e["type"] == "ChannelHangupRequest" and e.get("cause") == 16 for e in leg.events
    ):
        problems.append("no far-end ChannelHangupRequest cause 16")
    if exp.dtmf and not any(
        e["type"] == "ChannelDtmfReceived" and e.get("digit") == exp.dtmf for e in leg.events
    ):
        problems.append(f"no ChannelDtmfReceived {exp.dtmf!r}")
    return problems


def _done(leg: Leg) -> bool:
    """Decided: destroyed, or answered with nothing further expected of it."""
    types = {str(e["type"]) for e in leg.events}
    if "ChannelDestroyed" in types:
        return True
    exp = leg.expected
    if not exp.answered or exp.cause is not None:
        return False
    return "StasisStart" in types and (
        exp.dtmf is None or "ChannelDtmfReceived" in types
    )


async def test_every_named_phone_behaves_as_recorded() -> None:
    legs: dict[str, Leg] = {}
    for n, (exten, exp) in enumerate(LOCAL.items()):
        legs[f"ph-l{n}"] = Leg(f"Local/{exten}@sim-phones", exp, [])
    for n, (number, exp) in enumerate(CARRIER.items()):
        legs[f"ph-p{n}"] = Leg(f"PJSIP/{number}@carrier", exp, [])
    changed = asyncio.Event()

    async with running_simulator(time_scale=TIME_SCALE) as sim:
        auth = {"Authorization": aiohttp.encode_basic_auth(sim.username, sim.password)}
        async with aiohttp.ClientSession(headers=auth) as http:
            ws = await http.ws_connect(
                sim.base_url.replace("http", "ws", 1) + "/ari/events", params={"app": APP}
            )

            async def read() -> None:
                async for msg in ws:
                    event = json.loads(msg.data)
                    owner = (event.get("channel") or event.get("peer") or {}).get("id")
                    if owner in legs:
                        legs[owner].events.append(event)
                        changed.set()

            reader = asyncio.create_task(read())
            answers = {}
            for channel_id, leg in legs.items():
                params = {"endpoint": leg.endpoint, "app": APP, "appArgs": "probe",
                          "channelId": channel_id, "timeout": "20"}
                if leg.endpoint.startswith("Local/"):
                    params["otherChannelId"] = f"{channel_id}-2"
                async with http.post(sim.base_url + "/ari/channels", params=params) as resp:
                    answers[channel_id] = resp.status
            # the slowest outcome is a far-end hang-up ~14 s (simulated) after dialing
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(15.0):
                    while not all(_done(leg) for leg in legs.values()):
                        await changed.wait()
                        changed.clear()
            await ws.close()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    problems = [f"{leg.endpoint}: originate answered {answers[cid]}"
                for cid, leg in legs.items() if answers[cid] != 200]
    problems += [f"{leg.endpoint}: {p}" for leg in legs.values() for p in _judge(leg)]
    assert problems == [], "\n".join(problems)
