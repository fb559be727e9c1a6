"""Staff accounts: argon2 password hashes, server-side sessions, and a limit on failed sign-ins.

The session cookie carries a random token; the store keeps only its SHA-256, so a copied database file
opens no session. Each session has its own CSRF token, checked on every form. Accounts are created by
an admin on the dashboard or with `python -m bot staff create-user`; the first admin's password is made
up on the service's first start and printed once.
"""

import functools
import hashlib
import re
import secrets
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from storage import repo
from storage.db import Database

ROLES = ("admin", "petugas", "viewer")
ACTING_ROLES = frozenset({"admin", "petugas"})
ROLE_RANK = {"viewer": 0, "petugas": 1, "admin": 2}
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 10

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    # Verified when the username is unknown, so a wrong name takes as long as a wrong password.
    return _hasher.hash(secrets.token_hex(16))


class AccountError(ValueError):
    """An account request that cannot be done; `reason` names the catalog sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StaffUser:
    """A staff member as the dashboard sees them."""

    id: int
    username: str
    display_name: str
    role: str
    active: bool

    @property
    def actor(self) -> str:
        """The name written in the audit log and the case timeline."""
        return f"staff:{self.username}"

    @property
    def can_act(self) -> bool:
        """Whether this role may change anything (viewers only read)."""
        return self.role in ACTING_ROLES

    def has(self, role: str) -> bool:
        """Whether this staff member's role is at least `role`."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in staff member and the CSRF token of their session."""

    user: StaffUser
    csrf: str
    token_hash: str
    seen_at: datetime


def hash_password(password: str) -> str:
    """An argon2id hash (slow on purpose: run it off the event loop)."""
    return _hasher.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored` (a dummy hash is checked when there is none)."""
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    """A password to hand out once: 16 characters, easy to copy, no look-alike letters."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))


def validate(username: str, role: str, password: str | None) -> str:
    """Check a new account's fields; return the username as stored (lower case)."""
    name = username.strip().lower()
    if not USERNAME.match(name):
        raise AccountError("username")
    if role not in ROLES:
        raise AccountError("role")
    if password is not None and len(password) < MIN_PASSWORD:
        raise AccountError("password_short")
    return name


def _user(row: sqlite3.Row) -> StaffUser:
    return StaffUser(
        id=int(row["id"]),
        username=str(row["username"]),
        display_name=str(row["display_name"]),
        role=str(row["role"]),
        active=bool(row["active"]),
    )


def create_user(
    conn: sqlite3.Connection,
    *,
    username: str,
    display_name: str,
    role: str,
    password_hash: str,
    actor: str,
    at: datetime,
) -> int:
    """Add an account (a write function); the username must be new."""
    name = validate(username, role, None)
    if conn.execute("SELECT 1 FROM staff_users WHERE username = ?", (name,)).fetchone():
        raise AccountError("username_taken")
    cursor = conn.execute(
        "INSERT INTO staff_users (username, display_name, role, password_hash, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (name, display_name.strip()[:80] or name, role, password_hash, repo.iso(at), repo.iso(at)),
    )
    assert cursor.lastrowid is not None
    repo.audit(conn, actor=actor, action="account.create", at=at, target=f"user:{name}", detail=role)
    return cursor.lastrowid


def update_user(
    conn: sqlite3.Connection,
    *,
    user_id: int,
    role: str | None = None,
    active: bool | None = None,
    password_hash: str | None = None,
    actor: str,
    at: datetime,
) -> None:
    """Change an account's role, switch it on or off, or set a new password; its sessions end."""
    row = conn.execute("SELECT username, role, active FROM staff_users WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        raise AccountError("no_account")
    if role is not None and role not in ROLES:
        raise AccountError("role")
    demoted = (role is not None and role != "admin") or active is False
    if row["role"] == "admin" and row["active"] and demoted:
        admins = conn.execute(
            "SELECT COUNT(*) FROM staff_users WHERE role = 'admin' AND active = 1 AND id != ?", (user_id,)
        ).fetchone()[0]
        if admins == 0:
            raise AccountError("last_admin")
    changes = []
    if role is not None and role != row["role"]:
        conn.execute("UPDATE staff_users SET role = ? WHERE id = ?", (role, user_id))
        changes.append(f"role={role}")
    if active is not None and active != bool(row["active"]):
        conn.execute("UPDATE staff_users SET active = ? WHERE id = ?", (int(active), user_id))
        changes.append(f"active={int(active)}")
    if password_hash is not None:
        conn.execute("UPDATE staff_users SET password_hash = ? WHERE id = ?", (password_hash, user_id))
        changes.append("password")
    if not changes:
        return
    conn.execute("UPDATE staff_users SET updated_at = ? WHERE id = ?", (repo.iso(at), user_id))
    # A changed role or password takes effect at once: the account signs in again.
    conn.execute("DELETE FROM staff_sessions WHERE user_id = ?", (user_id,))
    repo.audit(
        conn,
        actor=actor,
        action="account.update",
        at=at,
        target=f"user:{row['username']}",
        detail=" ".join(changes),
    )


async def list_users(db: Database) -> list[StaffUser]:
    """Every account, admins first."""
    rows = await db.fetchall(
        "SELECT * FROM staff_users ORDER BY CASE role WHEN 'admin' THEN 0 WHEN 'petugas' THEN 1 ELSE 2 END, "
        "username"
    )
    return [_user(row) for row in rows]


async def count_users(db: Database) -> int:
    """How many accounts exist."""
    return int(await db.fetchval("SELECT COUNT(*) FROM staff_users") or 0)


async def password_hash_of(db: Database, username: str) -> tuple[int, str] | None:
    """The id and stored hash of an active account."""
    row = await db.fetchone(
        "SELECT id, password_hash FROM staff_users WHERE username = ? AND active = 1",
        (username.strip().lower(),),
    )
    return None if row is None else (int(row[0]), str(row[1]))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    conn: sqlite3.Connection, *, user_id: int, at: datetime, lifetime: timedelta
) -> tuple[str, str]:
    """Open a session (a write function); return the cookie token and the CSRF token."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO staff_sessions (token_hash, user_id, csrf_token, created_at, seen_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (_token_hash(token), user_id, csrf, repo.iso(at), repo.iso(at), repo.iso(at + lifetime)),
    )
    conn.execute("UPDATE staff_users SET last_login_at = ? WHERE id = ?", (repo.iso(at), user_id))
    # Old sessions of everyone are swept here rather than by a timer.
    conn.execute("DELETE FROM staff_sessions WHERE expires_at < ?", (repo.iso(at),))
    return token, csrf


async def find_session(db: Database, token: str, *, now: datetime, idle: timedelta) -> Session | None:
    """The live session of a cookie token: not expired, not idle too long, account still active."""
    if not token or len(token) > 100:
        return None
    row = await db.fetchone(
        "SELECT s.token_hash, s.csrf_token, s.seen_at, s.expires_at, u.* FROM staff_sessions AS s "
        "JOIN staff_users AS u ON u.id = s.user_id WHERE s.token_hash = ? AND u.active = 1",
        (_token_hash(token),),
    )
    if row is None:
        return None
    seen_at = datetime.fromisoformat(row["seen_at"])
    if datetime.fromisoformat(row["expires_at"]) <= now or seen_at + idle <= now:
        return None
    return Session(_user(row), str(row["csrf_token"]), str(row["token_hash"]), seen_at)


def touch_session(conn: sqlite3.Connection, *, token_hash: str, at: datetime) -> None:
    """Note activity (the caller does this at most every few minutes, not on every request)."""
    conn.execute("UPDATE staff_sessions SET seen_at = ? WHERE token_hash = ?", (repo.iso(at), token_hash))


def end_session(conn: sqlite3.Connection, *, token_hash: str) -> None:
    """Sign out."""
    conn.execute("DELETE FROM staff_sessions WHERE token_hash = ?", (token_hash,))


class LoginLimiter:
    """Counts failed sign-ins per account and per address in a sliding window; refuses above the limit."""

    def __init__(
        self, attempts: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.attempts = attempts
        self.window = window_seconds
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self.clock()
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def blocked_for(self, *keys: str) -> float:
        """Seconds until a sign-in under any of `keys` is allowed again (0: allowed now)."""
        wait = 0.0
        for key in keys:
            failures = self._recent(key)
            if len(failures) >= self.attempts:
                wait = max(wait, failures[0] + self.window - self.clock())
        return wait

    def failed(self, *keys: str) -> None:
        """Record a failed sign-in under each key."""
        if len(self._failures) > 100_000:  # a flood of made-up names must not grow memory without end
            for key in list(self._failures)[:50_000]:
                self._recent(key)
        now = self.clock()
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, key: str) -> None:
        """Forget an account's failures once its owner signs in."""
        self._failures.pop(key, None)
