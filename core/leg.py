"""One call leg as the call machine sees it, and why a leg that never answered failed.

`Leg` folds the ARI events of one channel (and, for a Local channel, the ChannelDestroyed of
its ;2 half) into what the call machine decides on: is it ringing, Up, in Stasis, going away,
destroyed, and with which cause. `classify_failure` turns the causes and the last Dial status
into a `FailureKind`, following what the recorded traces show:

- Local channels: for busy/congestion the ;1 half says cause 0, so the Dial status (BUSY,
  CONGESTION) or the ;2 half's cause decides; unallocated says 1 and a decline 21 on both.
- PJSIP: one channel; ChannelHangupRequest/ChannelDestroyed carry the Q.850 cause and the SIP
  status as `tech_cause` (486 -> 17, 503 -> 34, 404 -> 1, 603/403 -> 21, 480 -> 19).
- After our own DELETE, ChannelHangupRequest says 32 soft: only ChannelDestroyed is trusted.
Cause 16 (normal clearing) on a leg that never answered tells nothing: the Dial status decides.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from enum import StrEnum
from typing import NamedTuple

from core.ari_events import (
    AriEvent,
    ChannelDestroyed,
    ChannelHangupRequest,
    ChannelStateChange,
    Dial,
    StasisEnd,
    StasisStart,
    event_channel_id,
)
from core.domain import LegRole
from core.ids import local_half_id
from core.records import LegRecord

log = logging.getLogger(__name__)


class FailureKind(StrEnum):
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    INVALID_NUMBER = "invalid_number"
    REJECTED = "rejected"
    UNREACHABLE = "unreachable"


FINAL_DIAL_STATUSES = frozenset({"BUSY", "CONGESTION", "NOANSWER", "CHANUNAVAIL", "CANCEL"})

# ChannelHangupRequest `cause` of a soft hang-up is Asterisk's AST_SOFTHANGUP_* flag, not a
# Q.850 cause: 32 (EXPLICIT) after our DELETE, 4 (SHUTDOWN) when Asterisk hangs up every
# channel to stop or restart (`core restart now`: ast_softhangup_all() in main/asterisk.c).
SOFTHANGUP_SHUTDOWN = 4

# The hangup_cause_text of a leg whose end the core did not see (events socket down, our
# DELETE found it gone, or no ChannelDestroyed in time): its cause is unknown and its
# ended_at is when the core learned it was gone (or gave up waiting).
END_NOT_SEEN = "unknown: end not seen by the core (end time approximate)"
END_TELEPHONY_RESTARTED = "telephony restarted (end time approximate)"

_CAUSE_KINDS: dict[int, FailureKind] = {
    1: FailureKind.INVALID_NUMBER,  # unallocated number (SIP 404)
    3: FailureKind.INVALID_NUMBER,  # no route to destination
    22: FailureKind.INVALID_NUMBER,  # number changed
    28: FailureKind.INVALID_NUMBER,  # invalid number format (SIP 484)
    17: FailureKind.BUSY,  # user busy (SIP 486)
    18: FailureKind.NO_ANSWER,  # no user responding
    19: FailureKind.NO_ANSWER,  # user alerting, no answer (SIP 480 / originate timeout)
    21: FailureKind.REJECTED,  # call rejected (SIP 603 / 403)
    20: FailureKind.UNREACHABLE,  # subscriber absent
    27: FailureKind.UNREACHABLE,  # destination out of order
    34: FailureKind.CONGESTION,  # no circuit available (SIP 503)
    38: FailureKind.CONGESTION,  # network out of order
    41: FailureKind.CONGESTION,  # temporary failure
    42: FailureKind.CONGESTION,  # switching equipment congestion
    44: FailureKind.CONGESTION,  # requested channel not available
}

_DIAL_KINDS: dict[str, FailureKind] = {
    "BUSY": FailureKind.BUSY,
    "CONGESTION": FailureKind.CONGESTION,
    "NOANSWER": FailureKind.NO_ANSWER,
    "CHANUNAVAIL": FailureKind.UNREACHABLE,
}

_SYNTHETIC_CAUSES: dict[str, tuple[int, str]] = {
    "BUSY": (17, "User busy"),
    "CONGESTION": (34, "Circuit/channel congestion"),
}


class Cause(NamedTuple):
    """Why Asterisk says a channel ended: the Q.850 cause (0: none), its text, and for PJSIP
    the SIP status (`tech_cause`)."""

    code: int = 0
    text: str = ""
    tech: int | None = None


def classify_failure(cause: int, dial_status: str) -> FailureKind:
    """Why a leg that never answered ended. `cause` is the best Q.850 cause known (0 when
    none); `dial_status` the last non-empty Dial status."""
    if cause not in (0, 16) and cause in _CAUSE_KINDS:
        return _CAUSE_KINDS[cause]
    if dial_status in _DIAL_KINDS:
        return _DIAL_KINDS[dial_status]
    return FailureKind.UNREACHABLE


class Leg:
    """Mutable, private to one machine (never shared across threads)."""

    def __init__(self, role: LegRole, endpoint: str, channel_id: str) -> None:
        self.role = role
        self.endpoint = endpoint
        self.channel_id = channel_id
        # Local channels get a ;2 half whose id we choose (otherChannelId).
        self.local2_id = local_half_id(channel_id) if is_local(endpoint) else None
        self.dialed_at: float | None = None
        self.ringing_at: float | None = None
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.in_stasis = False
        self.stasis_ended = False
        self.dial_status = ""
        self.destroyed_by: Cause | None = None  # ChannelDestroyed (or known gone), and why
        self.hangup_request: Cause | None = None  # a ChannelHangupRequest not ours (not soft)
        self.half_destroyed_by: Cause | None = None  # ChannelDestroyed of the Local ;2 half
        self.hangup_sent = False  # we asked Asterisk to hang it up
        self.dial_sent = False  # create+dial: /dial sent
        # Originate/create sent, no answer and no event yet: the channel may not exist *yet*,
        # so a 404 on our DELETE does not mean it is gone (ARI runs requests concurrently).
        self.create_pending = False
        self.hangup_missed = False  # our DELETE got 404 while create_pending: send it again
        self.known_at: float | None = None  # first proof the channel exists (event, 2xx)
        # Its end was not seen: `ended_at` is when the core learned it was gone (approximate)
        # and the cause is unknown, unless a late ChannelDestroyed says them after all.
        self.end_not_seen = False
        self.cut_by_shutdown = False  # Asterisk hung it up to stop or restart

    def known(self, at: float) -> None:
        if self.known_at is None:
            self.known_at = at

    def vanished(self, listed: Collection[str], listed_at: float) -> bool:
        """Known to exist before a listing asked for at `listed_at`, not destroyed since, and
        not in it: gone while the events socket was down."""
        known_before = self.known_at is not None and self.known_at < listed_at
        return known_before and not self.destroyed and self.channel_id not in listed

    def owns(self, channel_id: str) -> bool:
        return channel_id == self.channel_id or (
            self.local2_id is not None and channel_id == self.local2_id
        )

    @property
    def destroyed(self) -> bool:
        return self.destroyed_by is not None

    @property
    def up(self) -> bool:
        return self.answered_at is not None

    @property
    def ready(self) -> bool:
        """Answered and in our Stasis app: it can be played to and bridged."""
        return self.up and self.in_stasis and not self.going

    @property
    def remote_hangup(self) -> bool:
        return self.hangup_request is not None

    @property
    def going(self) -> bool:
        """The leg is ending (whoever started it) or already gone."""
        return self.remote_hangup or self.stasis_ended or self.destroyed or self.hangup_sent

    def observe(self, event: AriEvent, at: float) -> None:
        """Fold one event about this leg's channel (or its ;2 half) into the leg."""
        if self.local2_id is not None and event_channel_id(event) == self.local2_id:
            self.create_pending = False
            if isinstance(event, ChannelDestroyed):
                self.half_destroyed_by = Cause(event.cause, event.cause_txt)
            return
        self.create_pending = False
        self.known(at)
        match event:
            case StasisStart(channel=channel):
                self.in_stasis = True
                self._saw_state(channel.state, at)
            case ChannelStateChange(channel=channel):
                self._saw_state(channel.state, at)
            case Dial(dialstatus=status):
                if status:
                    self.dial_status = status
                if status in ("RINGING", "PROGRESS") and self.ringing_at is None:
                    self.ringing_at = at
                elif status == "ANSWER":
                    self._saw_state("Up", at)
            case ChannelHangupRequest(cause=cause, soft=soft, tech_cause=tech):
                if not soft and cause != 0:
                    self.hangup_request = Cause(cause, "", tech)
                elif soft and cause == SOFTHANGUP_SHUTDOWN:
                    self.cut_by_shutdown = True
            case StasisEnd():
                self.stasis_ended = True
            case ChannelDestroyed(cause=cause, cause_txt=text, tech_cause=tech):
                if self.end_not_seen:  # seen after all (it came after our DELETE's 404)
                    ended_at = self.ended_at
                    self.end_not_seen = False
                    self.destroyed_by = None
                    self.mark_destroyed(at, cause, text, tech)
                    if ended_at is not None:
                        self.ended_at = min(ended_at, at)
                else:
                    self.mark_destroyed(at, cause, text, tech)
            case _:
                pass

    def mark_destroyed(
        self, at: float, cause: int = 0, text: str = "", tech: int | None = None
    ) -> None:
        if self.destroyed:
            return
        self.ended_at = at
        if tech is None and self.hangup_request is not None:
            tech = self.hangup_request.tech
        self.destroyed_by = Cause(cause, text, tech)

    def mark_gone_unseen(self, at: float, text: str = END_NOT_SEEN) -> None:
        """Gone, but its end was not seen (a listing without it, a 404 on our DELETE): the
        cause is unknown and `at`, when the core learned it, stands for the end."""
        if self.destroyed:
            return
        self.mark_destroyed(at, 0, text)
        self.end_not_seen = True

    def best_cause(self) -> int:
        codes = [c.code if c else 0 for c in (self.destroyed_by, self.half_destroyed_by)]
        codes.append(self.hangup_request.code if self.hangup_request else 0)
        for cause in codes:
            if cause not in (0, 16):
                return cause
        return next((cause for cause in codes if cause), 0)

    def failure_kind(self) -> FailureKind:
        return classify_failure(self.best_cause(), self.dial_status)

    def record(self) -> LegRecord:
        destroyed_by = self.destroyed_by or Cause()
        cause, text = destroyed_by.code, destroyed_by.text
        if cause == 0 and self.half_destroyed_by and self.half_destroyed_by.code:
            cause, text = self.half_destroyed_by.code, self.half_destroyed_by.text
        if cause == 0 and self.dial_status in _SYNTHETIC_CAUSES:
            cause, text = _SYNTHETIC_CAUSES[self.dial_status]
        billable = 0.0
        if self.answered_at is not None and self.ended_at is not None:
            billable = max(0.0, self.ended_at - self.answered_at)
        return LegRecord(
            role=self.role,
            endpoint=self.endpoint,
            channel_id=self.channel_id,
            dialed_at=self.dialed_at,
            ringing_at=self.ringing_at,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            hangup_cause=cause,
            hangup_cause_text=text,
            tech_cause=destroyed_by.tech,
            dial_status=self.dial_status,
            billable_seconds=round(billable, 3),
        )

    def _saw_state(self, state: str, at: float) -> None:
        """When the channel first rang and answered (its current state itself is not kept)."""
        if state == "Ringing" and self.ringing_at is None:
            self.ringing_at = at
        if state == "Up" and self.answered_at is None:
            self.answered_at = at


def is_local(endpoint: str) -> bool:
    return endpoint.startswith("Local/")
