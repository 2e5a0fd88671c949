"""Every NodeCommand reaches the core method of the same request, with its arguments, and
the gateway's RemoteCallCenter has a method for each (the CallCenter port, whole)."""

from __future__ import annotations

import inspect
import typing
from typing import Any

import pytest

from bus import protocol as p
from bus.node_service import carry_out
from bus.remote_call_center import RemoteCallCenter
from core.domain import Refusal, SupervisionMode, WorkstationMode
from gateway.ports import CallCenter

COMMANDS: list[tuple[Any, str, tuple[Any, ...]]] = [
    (p.PlaceCall("a1", "+33612345678", "k1"), "place_call", ("a1", "+33612345678", "k1")),
    (p.HangUp("a1", "c1"), "hang_up", ("a1", "c1")),
    (p.SetWorkstation("a1", WorkstationMode.MOBILE, "+33612345678"), "set_workstation",
     ("a1", WorkstationMode.MOBILE, "+33612345678")),
    (p.LogIn("a1"), "log_in", ("a1",)),
    (p.LogOut("a1"), "log_out", ("a1",)),
    (p.SetAvailable("a1"), "set_available", ("a1",)),
    (p.Pause("a1", "lunch"), "pause", ("a1", "lunch")),
    (p.Qualify("a1", "c1", "sale", "ok", None), "qualify", ("a1", "c1", "sale", "ok", None)),
    (p.Supervise("s1", "c1", SupervisionMode.LISTEN), "supervise",
     ("s1", "c1", SupervisionMode.LISTEN)),
    (p.StopSupervision("s1", "c1"), "stop_supervision", ("s1", "c1")),
    (p.SwitchAgentLeg("a1", "c1", WorkstationMode.SOFTPHONE), "switch_agent_leg",
     ("a1", "c1", WorkstationMode.SOFTPHONE)),
    (p.OpenAgentSession("a1", WorkstationMode.MOBILE), "open_agent_session",
     ("a1", WorkstationMode.MOBILE)),
    (p.CloseAgentSession("a1"), "close_agent_session", ("a1",)),
]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        def method(*args: Any) -> Refusal:
            self.calls.append((name, args))
            return Refusal("seen", name)

        return method


@pytest.mark.parametrize(("command", "method", "args"), COMMANDS,
                         ids=[type(c).__name__ for c, _, _ in COMMANDS])
def test_each_command_reaches_its_core_method(command: Any, method: str,
                                              args: tuple[Any, ...]) -> None:
    core = Recorder()
    decoded = p.command_decoder.decode(p.command_encoder.encode(command))  # over the wire
    assert carry_out(core, decoded) == Refusal("seen", method)  # type: ignore[arg-type]
    assert core.calls == [(method, args)]


def test_every_command_but_the_snapshot_is_listed_here() -> None:
    union = set(typing.get_args(p.NodeCommand)) - {p.GetSnapshot}
    assert {type(c) for c, _, _ in COMMANDS} == union


def test_the_remote_call_center_has_every_method_of_the_port() -> None:
    port = {n for n, _ in inspect.getmembers(CallCenter) if not n.startswith("_")}
    assert port <= set(dir(RemoteCallCenter))
