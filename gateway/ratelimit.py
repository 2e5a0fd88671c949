"""Failed-login limiter: a sliding window of attempts per key (user id, client IP)."""

from __future__ import annotations

import threading
import time
from collections import deque
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

    def reset(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)


class LoginThrottle:
    """Failed logins count per user id and per client IP (a call center often sits behind
    one NAT address, so successes are not counted against the IP)."""

    def __init__(
        self,
        per_user: int,
        per_ip: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._users = SlidingWindowLimiter(per_user, window_s, clock)
        self._ips = SlidingWindowLimiter(per_ip, window_s, clock)

    def allowed(self, user_id: str, ip: str) -> bool:
        return not (self._users.blocked(user_id) or self._ips.blocked(ip))

    def attempt(self, user_id: str, ip: str) -> bool:
        """Check and count an attempt as a failure before the (slow) password check, so that
        concurrent attempts cannot all slip under the limit; `succeeded` withdraws it."""
        if not self.allowed(user_id, ip):
            return False
        self._users.hit(user_id)
        self._ips.hit(ip)
        return True

    def succeeded(self, user_id: str, ip: str) -> None:
        self._users.reset(user_id)
        self._ips.unhit(ip)

    def record(self, user_id: str, ip: str, success: bool) -> None:
        if success:
            self._users.reset(user_id)
        else:
            self._users.hit(user_id)
            self._ips.hit(ip)
