"""What EVSCallPro's processes say to each other on NATS: subjects and typed messages.

Three kinds of process (docs/scale.md): `evscallpro node` (the actor core of ONE Asterisk),
`evscallpro gateway` (web pages and /ws, stateless, any number), `evscallpro analytics` (the
one DuckDB writer and the reports). They share nothing but this bus.

    gateway ── request  evs.cmd.<node>          NodeCommand  ──► node   (reply: NodeReply)
    node    ── publish  evs.view.<node>         ViewChange   ──► every gateway
    node    ── publish  evs.health.<node>       NodeHealth   ──► every gateway (each second)
    node    ── JetStream evs.records.<node>     JournalEntry ──► analytics (bus.records)
    gateway ── request  evs.archive             ArchiveQuery ──► analytics (reply: ArchiveReply)
    any     ── request  evs.ping.<process-id>   (liveness, answered with b"pong")

Key-value buckets (JetStream KV, so durable and replicated like the streams):
- `evs-live-calls-<node>`: the calls a node must adopt after a crash (key: call id), the
  local live-calls journal's replacement;
- `evs-sessions`: web sessions (key: the token's digest), with the bucket's max age as the
  session TTL, so restarting or adding a gateway signs nobody out.

Ordering of views: each view (an agent, a call) has its own sequence number, counted by the
node in one incarnation (`incarnation`: the node process's start, time.time_ns()). A gateway
applies a change only if (incarnation, seq) is newer than what it holds for that view; it
asks `GetSnapshot` when it starts, when it reconnects, when a node's incarnation changes and
when it sees a gap in a view's sequence, so it never shows a stale view over a newer one.

Every message is JSON (msgspec): readable with `nats sub`, and the records keep the
analytics journal's line format.
"""

from __future__ import annotations

import msgspec

from core.domain import Refusal, SupervisionMode, WorkstationMode
from core.views import AgentView, CallView

PREFIX = "evs"
ARCHIVE_SUBJECT = f"{PREFIX}.archive"
ARCHIVE_QUEUE = "analytics"
SESSIONS_BUCKET = "evs-sessions"
HEALTH_INTERVAL_S = 1.0
HEALTH_STALE_S = 3.5  # a node not heard from for this long is reported missing


def command_subject(node: str) -> str:
    return f"{PREFIX}.cmd.{node}"


def node_queue(node: str) -> str:
    """The queue group of a node's command subject: one answer even with a standby."""
    return f"node-{node}"


def view_subject(node: str) -> str:
    return f"{PREFIX}.view.{node}"


def health_subject(node: str) -> str:
    return f"{PREFIX}.health.{node}"


def live_calls_bucket(node: str) -> str:
    return f"evs-live-calls-{node}"


# -- commands: gateway -> node (request/reply on command_subject(node)) ----------------------


class PlaceCall(msgspec.Struct, frozen=True, tag=True):
    agent_id: str
    customer_number: str
    contact_id: str | None = None


class HangUp(msgspec.Struct, frozen=True, tag=True):
    agent_id: str
    call_id: str


class SwitchAgentLeg(msgspec.Struct, frozen=True, tag=True):
    """CallCenter.switch_agent_leg: move a connected call's agent leg (core/call_switch.py)."""

    agent_id: str
    call_id: str
    target: WorkstationMode


class OpenAgentSession(msgspec.Struct, frozen=True, tag=True):
    """CallCenter.open_agent_session: the persistent agent leg (core/agent_leg_session.py)."""

    agent_id: str
    workstation: WorkstationMode = WorkstationMode.MOBILE


class CloseAgentSession(msgspec.Struct, frozen=True, tag=True):
    agent_id: str


class SetWorkstation(msgspec.Struct, frozen=True, tag=True):
    agent_id: str
    mode: WorkstationMode
    mobile_number: str | None = None


class LogIn(msgspec.Struct, frozen=True, tag=True):
    agent_id: str


class LogOut(msgspec.Struct, frozen=True, tag=True):
    agent_id: str


class SetAvailable(msgspec.Struct, frozen=True, tag=True):
    agent_id: str


class Pause(msgspec.Struct, frozen=True, tag=True):
    agent_id: str
    reason: str


class Qualify(msgspec.Struct, frozen=True, tag=True):
    agent_id: str
    call_id: str
    disposition: str
    comment: str = ""
    callback_at: str | None = None


class Supervise(msgspec.Struct, frozen=True, tag=True):
    supervisor_id: str
    call_id: str
    mode: SupervisionMode


class StopSupervision(msgspec.Struct, frozen=True, tag=True):
    supervisor_id: str
    call_id: str


class GetSnapshot(msgspec.Struct, frozen=True, tag=True):
    """Every agent view and every live call view of the node, with their sequences."""


NodeCommand = (
    PlaceCall
    | HangUp
    | SetWorkstation
    | LogIn
    | LogOut
    | SetAvailable
    | Pause
    | Qualify
    | Supervise
    | StopSupervision
    | GetSnapshot
    | SwitchAgentLeg
    | OpenAgentSession
    | CloseAgentSession
)


class SequencedAgent(msgspec.Struct, frozen=True):
    seq: int
    view: AgentView


class SequencedCall(msgspec.Struct, frozen=True):
    seq: int
    view: CallView


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    node: str
    incarnation: int
    agents: list[SequencedAgent] = []
    calls: list[SequencedCall] = []


class NodeReply(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The answer to a NodeCommand: a refusal (None: carried out), or the snapshot asked."""

    refusal: Refusal | None = None
    snapshot: Snapshot | None = None


# -- views and health: node -> every gateway (publish) ---------------------------------------


class ViewChange(msgspec.Struct, frozen=True, kw_only=True):
    node: str
    incarnation: int
    seq: int  # per view: (kind, id) counts 1, 2, 3... within one incarnation
    agent: AgentView | None = None  # exactly one of agent / call is set
    call: CallView | None = None
    # time.time() when the node queued the change for publishing (0: a sender without it);
    # the gateway observes receipt - published_at as evscallpro_bus_view_hop_seconds
    published_at: float = 0.0


class NodeHealth(msgspec.Struct, frozen=True, kw_only=True):
    node: str
    incarnation: int
    at: float  # time.time() of this heartbeat
    telephony_state: str  # core.telephony.TelephonyState value
    app: str = ""
    reason: str = ""  # why calls cannot be placed, for /healthz ("" when up)
    agents: list[str] = []  # the agent ids this node serves
    metrics_url: str = ""


# -- archive: gateway -> analytics (request/reply on ARCHIVE_SUBJECT, queue ARCHIVE_QUEUE) ----
# The query structs live with the service (bus.archive); the reply carries JSON rows or an
# error text, so a gateway never needs DuckDB.


class ArchiveReply(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    result: msgspec.Raw | None = None  # msgspec JSON of what the reader method returned
    error: str = ""


command_encoder = msgspec.json.Encoder()
command_decoder: msgspec.json.Decoder[NodeCommand] = msgspec.json.Decoder(NodeCommand)
reply_decoder = msgspec.json.Decoder(NodeReply)
view_decoder = msgspec.json.Decoder(ViewChange)
health_decoder = msgspec.json.Decoder(NodeHealth)
