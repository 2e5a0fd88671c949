"""Differences between the simulator and the recordings that are accepted, with the reason.

Each entry names the scenario (prefix such as "S12"), the mismatch kind, a substring of
its location and why it does not matter to a call-center core. The conformance test
prints every accepted difference with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from trace_compare import Mismatch


@dataclass(frozen=True)
class Known:
    scenario: str
    kind: str
    where: str
    reason: str

    def matches(self, scenario: str, mismatch: Mismatch) -> bool:
        return (
            scenario.startswith(self.scenario)
            and mismatch.kind == self.kind
            and self.where in mismatch.where
        )


KNOWN: list[Known] = []


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
