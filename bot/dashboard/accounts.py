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
    must_change_password: bool = False

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
        must_change_password=bool(row["must_change_password"]),
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
    must_change_password: bool = False,
) -> int:
    """Add an account (a write function); the username must be new."""
    name = validate(username, role, None)
    if conn.execute("SELECT 1 FROM staff_users WHERE username = ?", (name,)).fetchone():
        raise AccountError("username_taken")
    cursor = conn.execute(
        "INSERT INTO staff_users (username, display_name, role, password_hash, created_at, updated_at, "
        "must_change_password) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            name,
            display_name.strip()[:80] or name,
            role,
            password_hash,
            repo.iso(at),
            repo.iso(at),
            int(must_change_password),
        ),
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


# ------------------------------------------------------------------------------ sign-in limits


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """Failed sign-ins allowed before delays start, how the delays grow, and when failures are forgotten.

    Failures are counted per (account, address) and per address, never per account alone: a stranger's
    guesses slow down the stranger, not the officer signing in from the office.
    """

    per_account_address: int = 5
    per_address: int = 20
    max_delay: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=1)

    def delay(self, failures: int, free: int) -> timedelta:
        """1 s after the last free failure, doubling with each further one, up to `max_delay`."""
        if failures < free:
            return timedelta(0)
        return min(self.max_delay, timedelta(seconds=2 ** min(failures - free, 20)))


def login_keys(username: str, address: str) -> tuple[str, str]:
    """The two counters a sign-in attempt touches."""
    return f"account:{username}|{address}", f"address:{address}"


def login_gate(
    conn: sqlite3.Connection, *, username: str, address: str, policy: LoginPolicy, at: datetime
) -> float:
    """Before any password is checked (a write function): the seconds to wait if a counter is held back;
    else 0, with this attempt counted as a failure in advance (a success takes it back), so a burst of
    parallel guesses cannot all slip through before the first is counted."""
    keys = zip(login_keys(username, address), (policy.per_account_address, policy.per_address), strict=True)
    now = repo.iso(at)
    conn.execute("DELETE FROM login_limits WHERE last_at < ?", (repo.iso(at - policy.forget_after),))
    current = []
    wait = 0.0
    for key, free in keys:
        row = conn.execute(
            "SELECT failures, blocked_until FROM login_limits WHERE key = ?", (key,)
        ).fetchone()
        failures = int(row[0]) if row else 0
        if row is not None and row[1] is not None and row[1] > now:
            wait = max(wait, (datetime.fromisoformat(row[1]) - at).total_seconds())
        current.append((key, free, failures))
    if wait > 0:
        return wait
    for key, free, failures in current:
        until = at + policy.delay(failures + 1, free)
        conn.execute(
            "INSERT INTO login_limits (key, failures, last_at, blocked_until) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_at = excluded.last_at, "
            "blocked_until = excluded.blocked_until",
            (key, failures + 1, now, repo.iso(until) if until > at else None),
        )
    return 0.0


def login_succeeded(conn: sqlite3.Connection, *, username: str, address: str) -> None:
    """The password was right: forget this account's failures from this address, take back the attempt."""
    account_key, address_key = login_keys(username, address)
    conn.execute("DELETE FROM login_limits WHERE key = ?", (account_key,))
    conn.execute(
        "UPDATE login_limits SET failures = max(failures - 1, 0), blocked_until = NULL WHERE key = ?",
        (address_key,),
    )


def set_own_password(conn: sqlite3.Connection, *, user_id: int, password_hash: str, at: datetime) -> None:
    """A staff member's new password (a write function): no change required any more; other sessions end."""
    row = conn.execute("SELECT username FROM staff_users WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        raise AccountError("no_account")
    conn.execute(
        "UPDATE staff_users SET password_hash = ?, must_change_password = 0, updated_at = ? WHERE id = ?",
        (password_hash, repo.iso(at), user_id),
    )
    conn.execute("DELETE FROM staff_sessions WHERE user_id = ?", (user_id,))
    repo.audit(conn, actor=f"staff:{row[0]}", action="account.password", at=at, target=f"user:{row[0]}")
