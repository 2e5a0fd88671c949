"""Call-center vocabulary shared by machines, actors, the UI and analytics."""

from __future__ import annotations

from enum import StrEnum

import msgspec


class WorkstationMode(StrEnum):
    """Where the agent's voice rides: a WebRTC/SIP softphone, or the agent's mobile over GSM."""

    SOFTPHONE = "softphone"
    MOBILE = "mobile"


class AgentState(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    PAUSED = "paused"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"


class CallStep(StrEnum):
    """The Connect-to-Phone call's steps (see CallMachine for the transition table)."""

    REQUESTED = "requested"
    AGENT_DIALING = "agent_dialing"
    AGENT_ANSWERED = "agent_answered"
    AGENT_CONFIRMING = "agent_confirming"
    ANNOUNCING = "announcing"
    CUSTOMER_DIALING = "customer_dialing"
    BRIDGING = "bridging"  # the customer answered: the bridge is being set up
    CONNECTED = "connected"  # both legs are in the call bridge
    # Connected, the agent leg being moved to another workstation (core/call_switch.py): the
    # customer stays in the bridge on hold while the new agent leg rings.
    SWITCHING = "switching"
    ENDING_NOTICE = "ending_notice"  # the agent hears why the call failed, then is hung up
    ENDING = "ending"  # legs hung up: waiting for Asterisk to destroy them
    ENDING_BRIDGE = "ending_bridge"  # legs gone: waiting for a CreateBridge answer to destroy it
    ENDED = "ended"
    REJECTED = "rejected"
    FAILED = "failed"


class CallOutcome(StrEnum):
    """Why a call ended: one value per branch a supervisor wants counted separately."""

    COMPLETED = "completed"
    REJECTED = "rejected"  # refused before any dial (agent not available, invalid number...)
    AGENT_BUSY = "agent_busy"
    AGENT_NO_ANSWER = "agent_no_answer"
    AGENT_UNREACHABLE = "agent_unreachable"
    AGENT_NOT_CONFIRMED = "agent_not_confirmed"
    AGENT_ABANDONED = "agent_abandoned"  # agent hung up before the customer answered
    AGENT_SOFTPHONE_LOST = "agent_softphone_lost"  # the agent's browser softphone went offline
    CUSTOMER_BUSY = "customer_busy"
    CUSTOMER_NO_ANSWER = "customer_no_answer"
    CUSTOMER_CONGESTION = "customer_congestion"
    CUSTOMER_INVALID_NUMBER = "customer_invalid_number"
    CUSTOMER_REJECTED = "customer_rejected"
    CANCELLED = "cancelled"  # hung up from the web UI before the customer answered
    # Not placed: the ARI link was down or our Stasis app taken over (ApplicationReplaced).
    # The telephony side, never the agent: ended at once, nothing dialed.
    TELEPHONY_UNAVAILABLE = "telephony_unavailable"
    INTERNAL_ERROR = "internal_error"
    # Cut by the telephony side: Asterisk restarted or shut down, every channel at once.
    TELEPHONY_RESTARTED = "telephony_restarted"


class SwitchResult(StrEnum):
    """How a mid-call switch of the agent leg ended (core/call_switch.py): `switched`, or
    why the call stayed where it was (the agent is told this name)."""

    SWITCHED = "switched"
    NO_ANSWER = "no_answer"  # the new leg did not answer in time
    BUSY = "busy"
    NOT_CONFIRMED = "not_confirmed"  # answered but no "1" (a voicemail, or nobody pressed)
    UNREACHABLE = "unreachable"  # failed otherwise (not registered, congestion, HTTP error)
    HUNG_UP = "hung_up"  # the new leg answered, then hung up before joining
    BRIDGE_FAILED = "bridge_failed"  # the new leg could not join the call's bridge
    CALL_ENDED = "call_ended"  # the call ended during the switch (customer, hang-up button)


class Party(StrEnum):
    """Who ended a connected call first."""

    AGENT = "agent"
    CUSTOMER = "customer"
    UI = "ui"  # the agent's hang-up button, or a supervisor
    SYSTEM = "system"  # timeouts, errors, shutdown


class LegRole(StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"
    SUPERVISOR = "supervisor"


class SupervisionMode(StrEnum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


class Refusal(msgspec.Struct, frozen=True):
    """A request the core will not carry out: `code` is stable (the UI translates it as
    `refusal.<code>`), `detail` is English for logs and operators."""

    code: str
    detail: str = ""
