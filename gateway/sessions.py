"""Server-side sessions behind an HMAC-signed, HttpOnly, SameSite=Strict cookie.

The cookie carries a random token and its HMAC; the session itself lives here, so logging
out (or expiry) invalidates it on the server whatever the browser keeps.

Where sessions are kept is a `SessionBackend`, keyed by the token's SHA-256 digest (the
token itself is never stored): `MemorySessions` (the default: one process, Stack and tests),
or bus.session_kv.KvSessions (JetStream KV, for `evscallpro gateway`: a gateway restarted, or
another one, knows the session; a revocation reaches every gateway). Backends answer from
memory, so `lookup` stays synchronous and cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from typing import Protocol

import msgspec

from gateway.users import Role

COOKIE_NAME = "evs_session"


class Session(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    role: Role
    created_at: float
    expires_at: float


class SessionBackend(Protocol):
    """Sessions by key (the token's digest). Every method is quick (memory); a shared
    backend propagates puts and deletes to the other gateways on its own."""

    def get(self, key: str) -> Session | None: ...

    def put(self, key: str, session: Session) -> None: ...

    def delete(self, key: str) -> bool:
        """True when the session was there."""
        ...

    def items(self) -> list[tuple[str, Session]]: ...


class MemorySessions:
    """Sessions in this process only (lost at restart)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def get(self, key: str) -> Session | None:
        with self._lock:
            return self._sessions.get(key)

    def put(self, key: str, session: Session) -> None:
        with self._lock:
            self._sessions[key] = session

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._sessions.pop(key, None) is not None

    def items(self) -> list[tuple[str, Session]]:
        with self._lock:
            return list(self._sessions.items())


def session_key(token: str) -> str:
    """What a backend stores a session under: the token's digest, not the token."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(
        self,
        secret: bytes,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
        backend: SessionBackend | None = None,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._secret = secret
        self._ttl_s = ttl_s
        self._clock = clock
        self.backend: SessionBackend = backend if backend is not None else MemorySessions()

    def _sign(self, token: str) -> str:
        return hmac.new(self._secret, token.encode(), hashlib.sha256).hexdigest()

    def create(self, user_id: str, role: Role) -> str:
        """A new session; returns the cookie value (token.signature)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        self.backend.put(session_key(token), Session(
            user_id=user_id, role=role, created_at=now, expires_at=now + self._ttl_s
        ))
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
        key = session_key(token)
        session = self.backend.get(key)
        if session is None:
            return None
        if session.expires_at <= self._clock():
            self.backend.delete(key)
            return None
        return session

    def revoke(self, cookie_value: str | None) -> bool:
        token = self._token(cookie_value or "")
        if token is None:
            return False
        return self.backend.delete(session_key(token))

    def revoke_user(self, user_id: str, issued_before: float | None = None) -> int:
        """End the user's sessions (those created before `issued_before` when given: a
        password change ends the sessions opened with the old one, not a new one)."""
        doomed = [
            key for key, s in self.backend.items()
            if s.user_id == user_id and (issued_before is None or s.created_at < issued_before)
        ]
        return sum(self.backend.delete(key) for key in doomed)
