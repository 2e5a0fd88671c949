"""Server-side sessions behind an HMAC-signed, HttpOnly, SameSite=Strict cookie.

The cookie carries a random token and its HMAC; the session itself lives here, so logging
out (or expiry) invalidates it on the server whatever the browser keeps.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable

import msgspec

from gateway.users import Role

COOKIE_NAME = "evs_session"


class Session(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    role: Role
    created_at: float
    expires_at: float


class SessionStore:
    def __init__(
        self, secret: bytes, ttl_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._secret = secret
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def _sign(self, token: str) -> str:
        return hmac.new(self._secret, token.encode(), hashlib.sha256).hexdigest()

    def create(self, user_id: str, role: Role) -> str:
        """A new session; returns the cookie value (token.signature)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._sessions[token] = Session(
                user_id=user_id, role=role, created_at=now, expires_at=now + self._ttl_s
            )
        return f"{token}.{self._sign(token)}"

    def _token(self, cookie_value: str) -> str | None:
        token, _, signature = cookie_value.partition(".")
        if not token or not signature:
            return None
        if not hmac.compare_digest(signature, self._sign(token)):
            return None
        return token

    def lookup(self, cookie_value: str | None) -> Session | None:
        if not cookie_value:
            return None
        token = self._token(cookie_value)
        if token is None:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if session.expires_at <= self._clock():
                del self._sessions[token]
                return None
            return session

    def revoke(self, cookie_value: str | None) -> bool:
        token = self._token(cookie_value or "")
        if token is None:
            return False
        with self._lock:
            return self._sessions.pop(token, None) is not None

    def revoke_user(self, user_id: str, issued_before: float | None = None) -> int:
        """End the user's sessions (those created before `issued_before` when given: a
        password change ends the sessions opened with the old one, not a new one)."""
        with self._lock:
            doomed = [
                t for t, s in self._sessions.items()
                if s.user_id == user_id and (issued_before is None or s.created_at < issued_before)
            ]
            for token in doomed:
                del self._sessions[token]
        return len(doomed)
