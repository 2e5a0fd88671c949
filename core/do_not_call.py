"""The do-not-call (opposition) list as the agent's dialing gate sees it.

Pure: `DoNotCallList` is an immutable set of E.164 numbers; where it comes from (a CSV
import into the data folder, see `evscallpro/do_not_call.py`) is not the core's business.
`AgentMachine.request_call` asks `listed(e164)` after the dialing policy accepted the
number and before any CallRequest exists, so a listed number is never dialed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

REFUSAL_CODE = "do_not_call"


class DoNotCallCheck(Protocol):
    def listed(self, e164: str) -> bool: ...


class DoNotCallList:
    """An immutable opposition list of E.164 numbers."""

    def __init__(self, numbers: Iterable[str] = ()) -> None:
        self._numbers = frozenset(numbers)

    def listed(self, e164: str) -> bool:
        return e164 in self._numbers

    def __len__(self) -> int:
        return len(self._numbers)
