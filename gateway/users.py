"""Who may log in: agents, supervisors and admins, with argon2-hashed passwords.

The directory is a JSON file (a list of `User`); passwords are never stored or logged in
clear. `verify` is constant-time-ish for unknown users too (it hashes against a dummy) so
that response time does not reveal which user ids exist.
"""

from __future__ import annotations

import functools
import threading
import time
from enum import StrEnum
from pathlib import Path

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Hashed at the first unknown user, not at import (~0.2 s: every process imports this)."""
    return _HASHER.hash("not-a-real-password")


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class User(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    display_name: str
    role: Role
    password_hash: str
    mobile_number: str | None = None
    # When the password was last set (epoch seconds; 0: unknown). Sessions issued before it
    # are refused and revoked by the gateway, even though `add-user` runs in another process.
    password_changed_at: float = 0.0

    @property
    def supervises(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)


def _read(path: Path) -> list[User]:
    try:
        return msgspec.json.decode(path.read_bytes(), type=list[User])
    except msgspec.DecodeError as exc:
        raise ValueError(f"invalid users file {path}: {exc}") from exc


def hash_password(password: str, hasher: PasswordHasher = _HASHER) -> str:
    if not password:
        raise ValueError("a password may not be empty")
    return hasher.hash(password)


class UserDirectory:
    """In-memory user table: `base` users (from the project settings file) overlaid by the
    users of a JSON file (`evscallpro add-user`), which win on the same id."""

    def __init__(
        self,
        users: list[User] | None = None,
        path: Path | None = None,
        hasher: PasswordHasher = _HASHER,
        base: list[User] | None = None,
    ) -> None:
        """`hasher` sets the cost of new hashes (tests use a cheap one); verifying always
        uses the parameters stored in each hash."""
        self._hasher = hasher
        self._lock = threading.Lock()
        self._base: dict[str, User] = {u.user_id: u for u in base or []}
        self._users: dict[str, User] = {**self._base, **{u.user_id: u for u in users or []}}
        self._path = path
        self._mtime = path.stat().st_mtime_ns if path is not None and path.exists() else 0

    @classmethod
    def load(
        cls, path: str | Path, hasher: PasswordHasher = _HASHER, base: list[User] | None = None
    ) -> UserDirectory:
        file = Path(path)
        if not file.exists():
            return cls([], file, hasher, base)
        return cls(_read(file), file, hasher, base)

    def reload_if_changed(self) -> bool:
        """Re-read the file if it changed on disk (`evscallpro add-user` while serving)."""
        if self._path is None or not self._path.exists():
            return False
        mtime = self._path.stat().st_mtime_ns
        if mtime == self._mtime:
            return False
        try:
            users = _read(self._path)
        except ValueError:
            return False  # keep the users we have; the next change may fix the file
        with self._lock:
            self._users = {**self._base, **{u.user_id: u for u in users}}
            self._mtime = mtime
        return True

    def save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:  # the file keeps what differs from the settings file's users
            own = [u for u in self._users.values() if self._base.get(u.user_id) != u]
            data = msgspec.json.format(msgspec.json.encode(own))
        tmp = self._path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.chmod(0o600)  # password hashes: owner only
        tmp.replace(self._path)
        self._mtime = self._path.stat().st_mtime_ns

    def add(
        self,
        user_id: str,
        password: str,
        role: Role,
        display_name: str = "",
        mobile_number: str | None = None,
    ) -> User:
        if not user_id or not user_id.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValueError(f"invalid user id {user_id!r}: letters, digits, - _ . only")
        user = User(
            user_id=user_id,
            display_name=display_name or user_id,
            role=role,
            password_hash=hash_password(password, self._hasher),
            mobile_number=mobile_number,
            password_changed_at=time.time(),
        )
        with self._lock:
            self._users[user_id] = user
        return user

    def update_mobile(self, user_id: str, mobile_number: str) -> None:
        with self._lock:
            user = self._users.get(user_id)
            if user is not None:
                self._users[user_id] = msgspec.structs.replace(user, mobile_number=mobile_number)

    def get(self, user_id: str) -> User | None:
        with self._lock:
            return self._users.get(user_id)

    def all(self) -> list[User]:
        with self._lock:
            return list(self._users.values())

    def verify(self, user_id: str, password: str) -> User | None:
        """The user if the password matches, else None."""
        user = self.get(user_id)
        stored = user.password_hash if user is not None else _dummy_hash()
        try:
            _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return user
