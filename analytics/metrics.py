"""Prometheus metrics of the core, all named `evscallpro_*`, behind small functions.

Other modules never touch prometheus-client directly; they call one of these (each is cheap,
thread-safe and never raises on odd input):

    record_call_ended(record)                   one CallRecord (core.records) finished: counts
                                                outcome x workstation, setup and talk seconds
    ViewMetrics().on_view(view)                 a CallCenter.subscribe listener: keeps
                                                evscallpro_agents{state} and
                                                evscallpro_calls_in_progress from the views
    set_agents(counts) / set_calls_in_progress(n)   the same gauges, set directly
    ari_event(event_type)                       one ARI event decoded ("StasisStart", ...)
    ari_command(op, ok, seconds)                one ARI REST command finished (op = Struct tag)
    event_to_command(seconds)                   ARI event received -> resulting command sent
    ari_connected(up) / ari_reconnect()         events WebSocket state / one reconnect attempt
                                                (evscallpro_ari_app_replaced: 1 once Asterisk
                                                sent ApplicationReplaced, 0 at next connect)
    orphan_channels_hung_up(n)                  channels no live call owned, hung up
    records_written(n) / record_write_error()   AnalyticsWriter (DuckDB) outcomes
    records_pending(n)                          AnalyticsWriter backlog (journaled, uncommitted)
    journal_replayed(n)                         records replayed from the journal on start
    agent_leg_switched(event)                   one mid-call switch of the agent leg ended
                                                (core.call_events.AgentLegSwitched): counts
                                                direction x result, times the switched ones
    agent_session_ended(record)                 one persistent agent-leg session ended
    ws_refused(reason)                          one browser WebSocket refused (origin,
                                                session, too many sockets, rate...)
    start_http_server(port, addr)               /metrics for a headless core (the gateway
                                                serves `exposition()` itself)

Every known label combination (outcome x workstation, ARI operation x result, ARI event
type, workstation of the agent-leg setup time, WebSocket refusal reason) is created at 0 on
import: Prometheus must see a series at 0 before its first event, or `rate()`/`increase()`
never count that first event (a counter first scraped at 1 reads as no increase).

Labelled children are cached in dicts: `labels(...)` costs 2-3 µs, a cached child's `inc()`
well under 1 µs (ARCHITECTURE.md), and ARI events are the hot path.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Collection, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import start_http_server as _prom_start_http_server

from core.ari_commands import AriCommand
from core.ari_events import HANDLED_TYPES
from core.call_outcomes import FINAL_STEPS
from core.domain import AgentState, CallOutcome, WorkstationMode
from core.views import AgentView, CallView

log = logging.getLogger(__name__)

__all__ = [
    "CONTENT_TYPE_LATEST",
    "METRIC_NAMES",
    "ViewMetrics",
    "ari_command",
    "ari_connected",
    "ari_event",
    "ari_reconnect",
    "event_to_command",
    "exposition",
    "journal_replayed",
    "orphan_channels_hung_up",
    "record_call_ended",
    "record_write_error",
    "records_pending",
    "records_written",
    "set_agents",
    "set_calls_in_progress",
    "start_http_server",
    "ws_refused",
]

# Latency buckets: call setup is seconds to tens of seconds (two phones ring);
# ARI commands and event->command are sub-millisecond to a few hundred ms.
_SETUP_BUCKETS = (1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0)
_FAST_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
_TALK_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)

CALLS_TOTAL = Counter(
    "evscallpro_calls_total",
    "Calls ended, by outcome and agent workstation mode.",
    ["outcome", "workstation"],
)
CALLS_IN_PROGRESS = Gauge("evscallpro_calls_in_progress", "Calls requested and not yet ended.")
CALL_SETUP_SECONDS = Histogram(
    "evscallpro_call_setup_seconds",
    "Time from call request to both legs connected.",
    buckets=_SETUP_BUCKETS,
)
AGENT_LEG_SETUP_SECONDS = Histogram(
    "evscallpro_agent_leg_setup_seconds",
    "Time from call request to the agent's own phone answering, by workstation.",
    ["workstation"],
    buckets=_SETUP_BUCKETS,
)
CALL_TALK_SECONDS = Histogram(
    "evscallpro_call_talk_seconds",
    "Billable seconds of the customer leg of connected calls.",
    buckets=_TALK_BUCKETS,
)
AGENTS = Gauge("evscallpro_agents", "Agents per state.", ["state"])
ARI_EVENTS_TOTAL = Counter("evscallpro_ari_events_total", "ARI events received.", ["type"])
ARI_COMMANDS_TOTAL = Counter(
    "evscallpro_ari_commands_total", "ARI REST commands by operation and result.", ["op", "result"]
)
ARI_COMMAND_SECONDS = Histogram(
    "evscallpro_ari_command_seconds",
    "ARI REST command round trip.",
    ["op"],
    buckets=_FAST_BUCKETS,
)
ARI_CONNECTED = Gauge("evscallpro_ari_connected", "1 while the ARI events WebSocket is up.")
ARI_APP_REPLACED = Gauge(
    "evscallpro_ari_app_replaced",
    "1 after Asterisk sent ApplicationReplaced (another events socket took our Stasis app: "
    "its events go there), 0 again once the core's events socket connects.",
)
ARI_RECONNECTS_TOTAL = Counter(
    "evscallpro_ari_reconnects_total", "ARI events WebSocket reconnect attempts."
)
ORPHAN_CHANNELS_HUNG_UP_TOTAL = Counter(
    "evscallpro_orphan_channels_hung_up_total",
    "Channels of our Stasis app that no live call owned, hung up by the orphan sweep.",
)
EVENT_TO_COMMAND_SECONDS = Histogram(
    "evscallpro_event_to_command_seconds",
    "From an ARI event's arrival to the ARI command it caused being sent.",
    buckets=_FAST_BUCKETS,
)
RECORDS_WRITTEN_TOTAL = Counter(
    "evscallpro_records_written_total", "Records committed to DuckDB by the AnalyticsWriter."
)
RECORD_WRITE_ERRORS_TOTAL = Counter(
    "evscallpro_record_write_errors_total",
    "Failed AnalyticsWriter flushes (records stay in the journal and are retried).",
)
RECORDS_PENDING = Gauge(
    "evscallpro_records_pending",
    "Records journaled by the AnalyticsWriter and not yet committed to DuckDB.",
)
JOURNAL_REPLAYED_TOTAL = Counter(
    "evscallpro_journal_replayed_total", "Records replayed from the journal at writer start."
)
WS_REFUSED_TOTAL = Counter(
    "evscallpro_ws_refused_total", "Browser WebSockets refused, by reason.", ["reason"]
)

METRIC_NAMES: tuple[str, ...] = (
    "evscallpro_calls_total",
    "evscallpro_calls_in_progress",
    "evscallpro_call_setup_seconds",
    "evscallpro_agent_leg_setup_seconds",
    "evscallpro_call_talk_seconds",
    "evscallpro_agents",
    "evscallpro_ari_events_total",
    "evscallpro_ari_commands_total",
    "evscallpro_ari_command_seconds",
    "evscallpro_ari_connected",
    "evscallpro_ari_app_replaced",
    "evscallpro_ari_reconnects_total",
    "evscallpro_orphan_channels_hung_up_total",
    "evscallpro_event_to_command_seconds",
    "evscallpro_records_written_total",
    "evscallpro_record_write_errors_total",
    "evscallpro_records_pending",
    "evscallpro_journal_replayed_total",
    "evscallpro_ws_refused_total",
)

# Refusal reasons known today, created at 0: the gateway's handshake checks ("origin",
# "session") and its caps on sockets and messages. A new reason is added here too.
# The reasons the gateway refuses a WebSocket handshake for (gateway/server.py), each at 0.
WS_REFUSED_REASONS: tuple[str, ...] = (
    "origin",
    "session",
    "host",
    "bad_header",
    "too_many_sockets",
)
ARI_OPERATIONS: tuple[str, ...] = tuple(
    sorted(str(cls.__struct_config__.tag) for cls in AriCommand.__args__)
)

# --- cached labelled children -------------------------------------------------------------

_lock = threading.Lock()  # guards only the creation of a new cached child
_calls_children: dict[tuple[str, str], Any] = {}
_event_children: dict[str, Any] = {}
_command_children: dict[tuple[str, bool], tuple[Any, Any]] = {}
_command_ops: set[str] = set()
_agent_leg_children: dict[str, Any] = {}
_refused_children: dict[str, Any] = {}

# Bound label cardinality: ARI event types and ops come from the wire; an unknown flood of
# names must not create unbounded series.
_MAX_DYNAMIC_LABELS = 200
_OTHER = "other"



def _create_known_series() -> None:
    """Every label combination known in advance, at 0 (see the module docstring)."""
    for state in AgentState:
        AGENTS.labels(state=state.value).set(0)
    for mode in WorkstationMode:
        for outcome in CallOutcome:
            key = (outcome.value, mode.value)
            _calls_children[key] = CALLS_TOTAL.labels(outcome=outcome.value, workstation=mode.value)
        _agent_leg_children[mode.value] = AGENT_LEG_SETUP_SECONDS.labels(workstation=mode.value)
    for op in ARI_OPERATIONS:
        _command_ops.add(op)
        for ok in (True, False):
            _command_children[(op, ok)] = (
                ARI_COMMANDS_TOTAL.labels(op=op, result="ok" if ok else "error"),
                ARI_COMMAND_SECONDS.labels(op=op),
            )
    for event_type in sorted(HANDLED_TYPES):
        _event_children[event_type] = ARI_EVENTS_TOTAL.labels(type=event_type)
    for reason in WS_REFUSED_REASONS:
        _refused_children[reason] = WS_REFUSED_TOTAL.labels(reason=reason)


_create_known_series()


def _child(cache: dict[Any, Any], key: Any, make: Any) -> Any:
    child = cache.get(key)
    if child is None:
        with _lock:
            child = cache.get(key)
            if child is None:
                child = make()
                cache[key] = child
    return child


def _label(value: object, known: Collection[Any]) -> str:
    text = str(value) if value is not None else "unknown"
    if text not in known and len(known) >= _MAX_DYNAMIC_LABELS:
        return _OTHER
    return text


# --- calls ---------------------------------------------------------------------------------


def record_call_ended(record: Any) -> None:
    """Count one finished call from its CallRecord (read by attribute, tolerant of gaps)."""
    outcome = _enum_text(getattr(record, "outcome", None), CallOutcome, "unknown")
    workstation = _enum_text(getattr(record, "workstation", None), WorkstationMode, "unknown")
    _child(
        _calls_children,
        (outcome, workstation),
        lambda: CALLS_TOTAL.labels(outcome=outcome, workstation=workstation),
    ).inc()
    started = getattr(record, "started_at", None)
    connected = getattr(record, "connected_at", None)
    if (
        isinstance(started, int | float)
        and isinstance(connected, int | float)
        and connected >= started
    ):
        CALL_SETUP_SECONDS.observe(connected - started)
    agent_answered = getattr(getattr(record, "agent_leg", None), "answered_at", None)
    if (
        isinstance(started, int | float)
        and isinstance(agent_answered, int | float)
        and agent_answered >= started
    ):
        _child(
            _agent_leg_children,
            workstation,
            lambda: AGENT_LEG_SETUP_SECONDS.labels(workstation=workstation),
        ).observe(agent_answered - started)
    talk = _customer_billable(record)
    if talk is not None and talk > 0:
        CALL_TALK_SECONDS.observe(talk)


def set_calls_in_progress(n: int) -> None:
    CALLS_IN_PROGRESS.set(max(0, n))


def _enum_text(value: object, enum: Any, default: str) -> str:
    if value is None:
        return default
    text = str(value.value) if hasattr(value, "value") else str(value)
    return text if text in enum._value2member_map_ else default


def _customer_billable(record: Any) -> float | None:
    leg = getattr(record, "customer_leg", None) or getattr(record, "customer", None)
    seconds = getattr(leg, "billable_seconds", None) if leg is not None else None
    return float(seconds) if isinstance(seconds, int | float) else None


# --- agents --------------------------------------------------------------------------------


def set_agents(counts: Mapping[AgentState | str, int]) -> None:
    """Set the absolute number of agents per state; states absent from `counts` read 0."""
    for state in AgentState:
        value = counts.get(state, counts.get(state.value, 0))
        AGENTS.labels(state=state.value).set(value)


_TERMINAL_STEPS = FINAL_STEPS


class ViewMetrics:
    """Agents per state and calls in progress, kept from the views the actors publish.

    Subscribe `on_view` to `CallCenter.subscribe`; it is called from actor threads, so it
    takes a lock (a few µs per view).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._agent_state: dict[str, AgentState] = {}
        self._live_calls: set[str] = set()

    def on_view(self, view: AgentView | CallView) -> None:
        with self._lock:
            if isinstance(view, AgentView):
                self._agent_state[view.agent_id] = view.state
                if view.call is not None:
                    self._call(view.call)
                set_agents(collections.Counter(self._agent_state.values()))
            elif isinstance(view, CallView):
                self._call(view)
            set_calls_in_progress(len(self._live_calls))

    def _call(self, call: CallView) -> None:
        if call.step in _TERMINAL_STEPS:
            self._live_calls.discard(call.call_id)
        else:
            self._live_calls.add(call.call_id)


# --- ARI -----------------------------------------------------------------------------------


def ari_event(event_type: str) -> None:
    if event_type == "ApplicationReplaced":
        ARI_APP_REPLACED.set(1)
    child = _event_children.get(event_type)
    if child is None:
        label = _label(event_type, _event_children)
        child = _child(_event_children, label, lambda: ARI_EVENTS_TOTAL.labels(type=label))
        if label == event_type:
            _event_children[event_type] = child
    child.inc()


def ari_command(op: str, ok: bool, seconds: float | None = None) -> None:
    children = _command_children.get((op, ok))
    if children is None:
        label = _label(op, _command_ops)
        _command_ops.add(label)
        children = _child(
            _command_children,
            (label, ok),
            lambda: (
                ARI_COMMANDS_TOTAL.labels(op=label, result="ok" if ok else "error"),
                ARI_COMMAND_SECONDS.labels(op=label),
            ),
        )
    counter, histogram = children
    counter.inc()
    if seconds is not None and seconds >= 0:
        histogram.observe(seconds)


def event_to_command(seconds: float) -> None:
    if seconds >= 0:
        EVENT_TO_COMMAND_SECONDS.observe(seconds)


def ari_connected(up: bool) -> None:
    """A (re)connected events socket registers our Stasis app again; a socket that goes
    down leaves `evscallpro_ari_app_replaced` as it was (a takeover stays visible)."""
    ARI_CONNECTED.set(1 if up else 0)
    if up:
        ARI_APP_REPLACED.set(0)


def ari_reconnect() -> None:
    ARI_RECONNECTS_TOTAL.inc()


def orphan_channels_hung_up(n: int = 1) -> None:
    """The orphan sweep (actors/orphan_sweep.py) hung up `n` channels no live call owned."""
    if n > 0:
        ORPHAN_CHANNELS_HUNG_UP_TOTAL.inc(n)


# --- analytics writer ------------------------------------------------------------------------


def records_written(n: int) -> None:
    if n > 0:
        RECORDS_WRITTEN_TOTAL.inc(n)


def record_write_error() -> None:
    RECORD_WRITE_ERRORS_TOTAL.inc()


def records_pending(n: int) -> None:
    RECORDS_PENDING.set(max(0, n))


def journal_replayed(n: int) -> None:
    if n > 0:
        JOURNAL_REPLAYED_TOTAL.inc(n)


# --- gateway WebSocket -----------------------------------------------------------------------


def ws_refused(reason: str) -> None:
    """One browser WebSocket refused; `reason` is one of WS_REFUSED_REASONS (or a new one
    the caller adds there, so that it too starts at 0)."""
    label = reason if reason in _refused_children or len(_refused_children) < 50 else _OTHER
    _child(_refused_children, label, lambda: WS_REFUSED_TOTAL.labels(reason=label)).inc()


# --- mid-call switch of the agent leg (core/call_switch.py) ---------------------------------

SWITCH_DIRECTIONS = ("softphone_to_mobile", "mobile_to_softphone")
AGENT_LEG_SWITCHES_TOTAL = Counter(
    "evscallpro_agent_leg_switches_total",
    "Mid-call switches of the agent leg, by direction and result (switched, or why not).",
    ["direction", "result"],
)
AGENT_LEG_SWITCH_SECONDS = Histogram(
    "evscallpro_agent_leg_switch_seconds",
    "Time from the switch request to the new agent leg in the call's bridge (switched only).",
    ["direction"],
    buckets=_SETUP_BUCKETS,
)
_switch_children: dict[tuple[str, str], Any] = {}


def _create_switch_series() -> None:
    from core.domain import SwitchResult

    for direction in SWITCH_DIRECTIONS:
        AGENT_LEG_SWITCH_SECONDS.labels(direction=direction)
        for result in SwitchResult:
            key = (direction, str(result))
            _switch_children[key] = AGENT_LEG_SWITCHES_TOTAL.labels(
                direction=direction, result=str(result)
            )


_create_switch_series()


def agent_leg_switched(event: Any) -> None:
    """One switch ended (an AgentLegSwitched). Never raises."""
    try:
        direction = f"{event.source}_to_{event.target}"
        key = (direction, str(event.result))
        child = _switch_children.get(key)
        if child is None:
            return
        child.inc()
        if str(event.result) == "switched":
            seconds = float(event.at) - float(event.requested_at)
            AGENT_LEG_SWITCH_SECONDS.labels(direction=direction).observe(max(0.0, seconds))
    except Exception:
        log.exception("metrics: agent_leg_switched failed")


# --- persistent agent-leg sessions (core/agent_leg_session.py) ------------------------------

SESSION_END_REASONS = (
    "agent_hung_up", "closed", "no_answer", "busy", "not_confirmed", "unreachable",
    "internal_error", "other",
)
AGENT_SESSIONS_TOTAL = Counter(
    "evscallpro_agent_sessions_total",
    "Persistent agent-leg sessions ended, by why (agent_hung_up: the agent hung up the phone).",
    ["end_reason"],
)
AGENT_SESSION_CALLS_TOTAL = Counter(
    "evscallpro_agent_session_calls_total",
    "Calls carried by a persistent agent leg (no ringing of the agent's phone per call).",
)
AGENT_SESSION_LEGS_TOTAL = Counter(
    "evscallpro_agent_session_legs_total",
    "Legs dialed for persistent sessions (1 per session, plus one per recall).",
)
for _reason in SESSION_END_REASONS:
    AGENT_SESSIONS_TOTAL.labels(end_reason=_reason)


def agent_session_ended(record: Any) -> None:
    """One session ended (an AgentSessionRecord). Never raises."""
    try:
        reason = str(record.end_reason).split(":")[0]
        label = reason if reason in SESSION_END_REASONS else "other"
        AGENT_SESSIONS_TOTAL.labels(end_reason=label).inc()
        AGENT_SESSION_CALLS_TOTAL.inc(max(0, int(record.calls)))
        AGENT_SESSION_LEGS_TOTAL.inc(max(0, int(record.legs)))
    except Exception:
        log.exception("metrics: agent_session_ended failed")


# --- exposition ------------------------------------------------------------------------------


def exposition(registry: CollectorRegistry = REGISTRY) -> bytes:
    """The text exposition format, for the gateway's GET /metrics (content type below)."""
    return generate_latest(registry)


def start_http_server(port: int, addr: str = "127.0.0.1") -> tuple[Any, Any]:
    """Serve /metrics on its own thread for a headless core; returns (server, thread).

    Port 0 picks a free port (`server.server_port`). Stop with `server.shutdown()`.
    """
    server, thread = _prom_start_http_server(port, addr=addr)
    log.info("metrics on http://%s:%d/metrics", addr, server.server_port)
    return server, thread
