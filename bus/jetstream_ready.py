"""JetStream set-up calls that wait out a cluster electing its leaders.

When a server of a clustered JetStream is lost, the others elect a new meta leader (and
stream leaders) within seconds; meanwhile the JetStream API answers nothing (a timeout) or
"no responders" / 503. A process starting in that window (a gateway restarted, a node
restarted on another machine) must wait and try again, not fail: `when_ready(op, what)`
retries `op` with back-off for up to `within_s`, logging each wait, and raises the last
error past it (the supervisor then restarts the process).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import APIError, ServiceUnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")
SETUP_WITHIN_S = 60.0


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, NoRespondersError | NatsTimeout | TimeoutError | ServiceUnavailableError):
        return True
    return isinstance(exc, APIError) and exc.code in (503, 504)


async def when_ready(
    op: Callable[[], Awaitable[T]], what: str, within_s: float = SETUP_WITHIN_S
) -> T:
    deadline = time.monotonic() + within_s
    wait = 0.2
    while True:
        try:
            return await op()
        except Exception as exc:
            if not _transient(exc) or time.monotonic() + wait > deadline:
                raise
            log.warning("%s: JetStream not ready (%s); trying again in %.1f s",
                        what, type(exc).__name__, wait)
        await asyncio.sleep(wait)
        wait = min(2.0, wait * 2)
