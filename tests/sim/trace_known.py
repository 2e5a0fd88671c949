"""Differences between the simulator and the recordings that are accepted, with the reason.

Each entry names the scenario (prefix such as "S12"), the mismatch kind, a substring of
its location and why it does not matter to a call-center core. The conformance test
prints every accepted difference with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from trace_compare import Mismatch


def _diff_lines(detail: str, sign: str) -> list[str]:
    return [
        line[1:] for line in detail.splitlines()
        if line.startswith(sign) and not line.startswith(sign * 3)
    ]


@dataclass(frozen=True)
class Known:
    scenario: str
    kind: str
    where: str
    reason: str
    # for event-order: the simulator may only ADD these signatures, nothing else differs
    only_extra: frozenset[str] = frozenset()
    # for value mismatches: the whole detail must be exactly this
    detail: str = ""

    def matches(self, scenario: str, mismatch: Mismatch) -> bool:
        if not (
            scenario.startswith(self.scenario)
            and mismatch.kind == self.kind
            and self.where in mismatch.where
        ):
            return False
        if self.detail:
            return mismatch.detail == self.detail
        if not self.only_extra:
            return True
        added = _diff_lines(mismatch.detail, "+")
        return not _diff_lines(mismatch.detail, "-") and set(added) <= self.only_extra


KNOWN: list[Known] = [
    Known(
        "S13", "event-order", "stream s13-cust-2 (ws first)",
        "replay timing, not the simulator: the recorded core closed the socket 5 ms after "
        "the customer answered; `;2`'s ChannelDialplan Wait and ChannelCallerId come 7-11 ms "
        "after answer when bridged (S01, three runs), so they fell just after the close. "
        "A replay that sends three requests between answer and close cannot be that fast.",
        only_extra=frozenset({"ChannelDialplan:Wait", "ChannelCallerId"}),
    ),
    Known(
        "P05", "event-value", "stream p05c-agent (ws first) Dial:RINGING #1",
        "follows from the README-relaxed order: the simulator sends ChannelStateChange "
        "Ringing before `Dial RINGING` (an order Asterisk also produces, S01-S14 and P04), "
        "so the Dial's peer snapshot already says Ringing; both P05 runs had it the other "
        "way round.",
        detail="$.peer.state: expected 'Down', got 'Ringing'",
    ),
    Known(
        "S11", "rest-value", "request 11 GET /ari/channels",
        "replay timing, not the simulator: the recorded core listed channels 4 ms after the "
        "supervisor answered, while `s11-sup-2` was still in Answer(); 15 ms after answer "
        "the snoop's audio ended that wait (Wait, new caller id). At 20x those 15 ms are "
        "0.75 ms of wall time, less than the replay's bridge + addChannel round trips.",
        detail="$[id=s11-sup-2].caller: expected {'name': 'EVS CallPro', 'number': "
        "'+33100000000'}, got {'name': '', 'number': ''}; $[id=s11-sup-2].dialplan.app_data: "
        "expected '', got '120'; $[id=s11-sup-2].dialplan.app_name: expected 'Answer', got "
        "'Wait'; $[id=s11-sup-2].dialplan.priority: expected 3, got 4",
    ),
]


def split_known(
    scenario: str, mismatches: list[Mismatch]
) -> tuple[list[Mismatch], list[tuple[Mismatch, str]]]:
    """(mismatches still failing, [(accepted mismatch, reason)])."""
    failing: list[Mismatch] = []
    accepted: list[tuple[Mismatch, str]] = []
    for mismatch in mismatches:
        entry = next((k for k in KNOWN if k.matches(scenario, mismatch)), None)
        if entry is None:
            failing.append(mismatch)
        else:
            accepted.append((mismatch, entry.reason))
    return failing, accepted
