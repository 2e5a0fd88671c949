"""The one channel-id scheme: what the call machine names, recovery and tools read back."""

from __future__ import annotations

import pytest

from core.call import CallMachine
from core.call_config import CallRequest, CallSettings
from core.ids import call_id_of, split_leg_id


def machine(agent: str, customer: str) -> CallMachine:
    request = CallRequest(
        call_id="c-7",
        agent_id="a1",
        agent_endpoint=agent,
        customer_number="+33600000001",
        customer_endpoint=customer,
    )
    return CallMachine(request, CallSettings())


def test_every_id_a_call_owns_reads_back_to_its_call() -> None:
    m = machine("Local/a@sim-phones", "Local/b@sim-phones")
    owned = (*m.channel_ids(), m.bridge_id, *m.playback_ids())
    assert owned == (
        "c-7-agent",
        "c-7-agent-2",
        "c-7-customer-2",
        "c-7-customer",
        "c-7-bridge",
        "c-7-pb-announce",
        "c-7-pb-press1",
        "c-7-pb-notice",
        "c-7-pb-switch-hold",
        "c-7-pb-switch-press1",
    )
    assert {call_id_of(some_id) for some_id in owned} == {"c-7"}


@pytest.mark.parametrize(
    ("some_id", "split"),
    [
        ("c-7-agent", ("c-7", "agent")),
        ("c-7-customer", ("c-7", "customer")),
        ("c-7-agent-2", None),
        ("c-7-agent-s1", ("c-7", "agent")),  # a mid-call switch's new agent leg
        ("c-7-agent-s1-2", None),  # its Local ;2 half
        ("c-7-agent-sx", None),
    ],
)
def test_only_leg_ids_split_into_call_and_role(some_id: str, split: object) -> None:
    assert split_leg_id(some_id) == split


def test_ids_of_something_else_name_no_call() -> None:
    assert call_id_of("1795726706.262") is None
    assert call_id_of("-agent") is None
