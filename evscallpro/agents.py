"""The agents: one AgentActor per configured agent, and the audit trail of their mobiles.

An agent's mobile is dialed first on every call, at the call center's cost: each machine
knows every configured person's number (no one takes another's), and every change of
number (who, when, old -> new) is logged and written to the audit sink (in the product
`data_dir/audit.jsonl`, append-only).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from actors.agent_actor import AgentActor, CallFactory
from actors.deps import ActorDeps
from actors.sinks import CallRecordSink
from core.agent import AgentMachine, MobileNumberChanged
from core.agent_leg_mode import AgentLegMode, LegModePolicy
from evscallpro.core_config import AgentDirectoryEntry, CoreConfig
from evscallpro.do_not_call import do_not_call_file

log = logging.getLogger(__name__)


class AuditTrail:
    def __init__(self, sink: CallRecordSink) -> None:
        self.sink = sink

    def __call__(self, event: MobileNumberChanged) -> None:
        """On an AgentActor's thread: durable and in the logs."""
        log.warning(
            "audit: agent %s mobile number %s -> %s (by %s)",
            event.agent_id,
            event.old_number or "(none)",
            event.new_number,
            event.by,
        )
        try:
            self.sink.write(event)
        except Exception:
            log.exception("audit log write failed for %s", event)


def start_agents(
    config: CoreConfig,
    deps: ActorDeps,
    start_call: CallFactory,
    audit: AuditTrail,
    agents: dict[str, Any],
) -> None:
    """Start the agents into `agents` (agent id -> ActorRef[AgentActor]), each checked
    started; raises at the first that is not (those before it are in `agents`)."""
    now = time.time()
    numbers = config.numbers_in_use()
    do_not_call = do_not_call_file(config.do_not_call_path)
    for entry in config.agents:
        machine = AgentMachine(
            entry.agent_id,
            entry.display_name,
            workstation=entry.workstation,
            mobile_number=entry.mobile_number or None,
            softphone_endpoint=entry.softphone_endpoint or None,
            templates=config.templates,
            policy=config.policy,
            wrap_up_max_s=config.wrap_up_max_s,
            since=now,
            numbers_of_others=numbers,
        )
        machine.use_do_not_call(do_not_call)
        mode = leg_mode_of(entry, config.call.agent_leg_mode)
        policy = None
        if mode != AgentLegMode.PER_CALL:  # core/agent_leg_mode.py: persistent / automatic
            policy = LegModePolicy(mode, config.call.agent_leg_costs.get("mobile"))
        ref = AgentActor.start(machine, deps, start_call, audit, policy, config.call)
        agents[entry.agent_id] = ref
        if not ref.is_alive():
            raise RuntimeError(f"agent actor {entry.agent_id} did not start")


def leg_mode_of(entry: AgentDirectoryEntry, default: str) -> AgentLegMode:
    """The agent's own `agent_leg_mode`, else the call center's (`[costs]`)."""
    return AgentLegMode(entry.agent_leg_mode or default)
