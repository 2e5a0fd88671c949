"""Rate limits of the gateway: failed logins (per user name, per address, with trusted
(user, address) pairs), WebSocket messages per user, and log lines about refusals.

Login policy (settings `login_max_failures_per_user`, `login_max_failures_per_address`,
`login_lockout_s`, `login_trusted_s`):

- failures are counted over a sliding window of `login_lockout_s`, per user name and per
  client address; a user name with `login_max_failures_per_user` failures, or an address
  with `login_max_failures_per_address` failures (a higher ceiling: a call center sits
  behind one NAT address), is refused with 429 until its oldest failure leaves the window;
- a (user, address) pair with a successful login in the last `login_trusted_s` is trusted:
  the user name's and the address's counters do not block it, only the pair's own
  failures (the same per-user limit) do. So guessing from elsewhere, or many names from
  the office's NAT address, does not lock the real user out of the office, and a guesser
  inside the NAT still gets no more than the per-user limit per window;
- successes are never counted against anyone.
Trusted pairs live in memory (a restart forgets them: everyone is new again).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def _prune(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self._window_s:
            hits.popleft()
        return hits

    def blocked(self, key: str) -> bool:
        with self._lock:
            hits = self._prune(key, self._clock())
            blocked = len(hits) >= self._limit
            if not hits:
                del self._hits[key]
            return blocked

    def hit(self, key: str) -> None:
        with self._lock:
            self._prune(key, self._clock()).append(self._clock())

    def unhit(self, key: str) -> None:
        """Withdraw the latest hit (an attempt counted in advance that succeeded)."""
        with self._lock:
            hits = self._hits.get(key)
            if hits:
                hits.pop()

    def retry_after(self, key: str) -> float:
        """Seconds until `key` is allowed again (0 when it is not blocked)."""
        with self._lock:
            now = self._clock()
            hits = self._prune(key, now)
            if len(hits) < self._limit:
                return 0.0
            return max(0.0, hits[len(hits) - self._limit] + self._window_s - now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)


class LoginThrottle:
    """Failed logins per user name and per address; trusted (user, address) pairs are
    judged on their own failures only (see the module docstring)."""

    def __init__(
        self,
        max_failures_per_user: int,
        max_failures_per_address: int,
        lockout_s: float,
        trusted_s: float = 30 * 86400.0,
        clock: Callable[[], float] = time.monotonic,
        max_trusted: int = 100_000,
    ) -> None:
        self._users = SlidingWindowLimiter(max_failures_per_user, lockout_s, clock)
        self._pairs = SlidingWindowLimiter(max_failures_per_user, lockout_s, clock)
        self._addresses = SlidingWindowLimiter(max_failures_per_address, lockout_s, clock)
        self._trusted_s = trusted_s
        self._clock = clock
        self._max_trusted = max_trusted
        self._lock = threading.Lock()
        self._trusted: OrderedDict[tuple[str, str], float] = OrderedDict()

    @staticmethod
    def _pair(user_id: str, address: str) -> str:
        return f"{user_id}\x00{address}"

    def trusted(self, user_id: str, address: str) -> bool:
        with self._lock:
            at = self._trusted.get((user_id, address))
            if at is None:
                return False
            if at <= self._clock() - self._trusted_s:
                del self._trusted[(user_id, address)]
                return False
            return True

    def allowed(self, user_id: str, address: str) -> bool:
        return self.retry_after(user_id, address) == 0.0

    def retry_after(self, user_id: str, address: str) -> float:
        """Seconds before this user name may try again from this address (0: now)."""
        if self.trusted(user_id, address):
            return self._pairs.retry_after(self._pair(user_id, address))
        return max(self._users.retry_after(user_id), self._addresses.retry_after(address))

    def attempt(self, user_id: str, address: str) -> bool:
        """Check and count an attempt as a failure before the (slow) password check, so that
        concurrent attempts cannot all slip under the limit; `succeeded` withdraws it."""
        if not self.allowed(user_id, address):
            return False
        self._users.hit(user_id)
        self._pairs.hit(self._pair(user_id, address))
        self._addresses.hit(address)
        return True

    def succeeded(self, user_id: str, address: str) -> None:
        """The attempt was right: withdraw its count and trust this (user, address)."""
        self._users.unhit(user_id)
        self._pairs.reset(self._pair(user_id, address))
        self._addresses.unhit(address)
        with self._lock:
            self._trusted[(user_id, address)] = self._clock()
            self._trusted.move_to_end((user_id, address))
            while len(self._trusted) > self._max_trusted:
                self._trusted.popitem(last=False)


class BoundedLog:
    """Refusals logged at a bounded rate: at most one line per key every `interval_s`;
    the lines held back meanwhile are counted and the count ends the next line. A flood
    of refused sockets or logins cannot flood the log."""

    def __init__(
        self, logger: logging.Logger, interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, key: str, message: str, *args: object) -> bool:
        """Log `message % args` unless `key` was logged less than `interval_s` ago;
        True when the line was written."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval_s:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._last[key] = now
            held = self._held.pop(key, 0)
            if len(self._last) > 10_000:  # keys are bounded by the callers; stay bounded anyway
                self._last = {k: t for k, t in self._last.items() if now - t < self._interval_s}
        if held:
            self._log.warning(message + " (%d more like this not logged)", *args, held)
        else:
            self._log.warning(message, *args)
        return True
