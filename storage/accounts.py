"""Staff accounts: accounts, server-side sessions and sign-in counters (the audit log's lines are written by
`storage.repo.audit`).

Write functions take a `Tx` and run inside one write transaction; reads are coroutines on the `Store`.
The rules (who may demote whom, how sign-in delays grow) live with the dashboard's accounts module; this
one only keeps and finds rows.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.contract import Row, Store, Tx, insert_id
from storage.repo import iso

ROLES = ("admin", "petugas", "viewer")
ACTING_ROLES = frozenset({"admin", "petugas"})
ROLE_RANK = {"viewer": 0, "petugas": 1, "admin": 2}


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
class StoredSession:
    """A session row with its account, as kept (expiry and idleness are judged by the caller)."""

    user: StaffUser
    csrf: str
    token_hash: str
    seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LoginCounter:
    """Failed sign-ins counted under one key, and until when that key is held back (if it is)."""

    failures: int
    blocked_until: datetime | None


def _user(row: Row) -> StaffUser:
    return StaffUser(
        id=int(row["id"]),
        username=str(row["username"]),
        display_name=str(row["display_name"]),
        role=str(row["role"]),
        active=bool(row["active"]),
        must_change_password=bool(row["must_change_password"]),
    )


_USER_COLUMNS = "id, username, display_name, role, active, must_change_password"


# ---------------------------------------------------------------- accounts: writes


def username_taken(tx: Tx, username: str) -> bool:
    """Whether an account already has this (lower-case) username."""
    return tx.execute("SELECT 1 FROM staff_users WHERE username = ?", (username,)).fetchone() is not None


def insert_user(
    tx: Tx,
    *,
    username: str,
    display_name: str,
    role: str,
    password_hash: str,
    at: datetime,
    must_change_password: bool = False,
) -> int:
    """Add an account row; return its id."""
    return insert_id(
        tx,
        "INSERT INTO staff_users (username, display_name, role, password_hash, created_at, updated_at, "
        "must_change_password) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (username, display_name, role, password_hash, iso(at), iso(at), int(must_change_password)),
    )


def user_by_id(tx: Tx, user_id: int) -> StaffUser | None:
    """An account as it is inside this transaction (None when there is none)."""
    row = tx.execute(f"SELECT {_USER_COLUMNS} FROM staff_users WHERE id = ?", (user_id,)).fetchone()
    return None if row is None else _user(row)


def other_active_admins(tx: Tx, user_id: int) -> int:
    """How many active admins there are besides this account."""
    row = tx.execute(
        "SELECT COUNT(*) FROM staff_users WHERE role = 'admin' AND active = 1 AND id != ?", (user_id,)
    ).fetchone()
    return int(row[0])


def change_user(
    tx: Tx,
    user_id: int,
    *,
    at: datetime,
    role: str | None = None,
    active: bool | None = None,
    password_hash: str | None = None,
    must_change_password: bool | None = None,
) -> None:
    """Set the given fields of an account (and its `updated_at`)."""
    changes: dict[str, Any] = {"role": role, "password_hash": password_hash}
    changes["active"] = None if active is None else int(active)
    changes["must_change_password"] = None if must_change_password is None else int(must_change_password)
    columns = [name for name, value in changes.items() if value is not None]
    values = {name: changes[name] for name in columns} | {"updated_at": iso(at), "user_id": user_id}
    assignments = ", ".join(f"{name} = :{name}" for name in [*columns, "updated_at"])
    tx.execute(f"UPDATE staff_users SET {assignments} WHERE id = :user_id", values)


def end_sessions_of(tx: Tx, user_id: int) -> None:
    """Close every session of an account (it signs in again)."""
    tx.execute("DELETE FROM staff_sessions WHERE user_id = ?", (user_id,))


# ---------------------------------------------------------------- accounts: reads


async def list_users(db: Store) -> list[StaffUser]:
    """Every account, admins first."""
    rows = await db.fetchall(
        f"SELECT {_USER_COLUMNS} FROM staff_users "
        "ORDER BY CASE role WHEN 'admin' THEN 0 WHEN 'petugas' THEN 1 ELSE 2 END, username"
    )
    return [_user(row) for row in rows]


async def count_users(db: Store) -> int:
    """How many accounts exist."""
    return int(await db.fetchval("SELECT COUNT(*) FROM staff_users") or 0)


async def password_hash_of(db: Store, username: str) -> tuple[int, str] | None:
    """The id and stored hash of an active account (`username` as stored, lower case)."""
    row = await db.fetchone(
        "SELECT id, password_hash FROM staff_users WHERE username = ? AND active = 1", (username,)
    )
    return None if row is None else (int(row[0]), str(row[1]))


# ---------------------------------------------------------------- sessions


def insert_session(
    tx: Tx, *, token_hash: str, user_id: int, csrf: str, at: datetime, expires_at: datetime
) -> None:
    """Open a session, note the account's sign-in, and sweep everyone's expired sessions."""
    tx.execute(
        "INSERT INTO staff_sessions (token_hash, user_id, csrf_token, created_at, seen_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (token_hash, user_id, csrf, iso(at), iso(at), iso(expires_at)),
    )
    tx.execute("UPDATE staff_users SET last_login_at = ? WHERE id = ?", (iso(at), user_id))
    tx.execute("DELETE FROM staff_sessions WHERE expires_at < ?", (iso(at),))


async def session_of(db: Store, token_hash: str) -> StoredSession | None:
    """The session with this token hash, if its account is active."""
    row = await db.fetchone(
        "SELECT s.token_hash, s.csrf_token, s.seen_at, s.expires_at, u.id, u.username, u.display_name, "
        "u.role, u.active, u.must_change_password FROM staff_sessions AS s "
        "JOIN staff_users AS u ON u.id = s.user_id WHERE s.token_hash = ? AND u.active = 1",
        (token_hash,),
    )
    if row is None:
        return None
    return StoredSession(
        user=_user(row),
        csrf=str(row["csrf_token"]),
        token_hash=str(row["token_hash"]),
        seen_at=datetime.fromisoformat(row["seen_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
    )


def touch_session(tx: Tx, *, token_hash: str, at: datetime) -> None:
    """Note a session's activity."""
    tx.execute("UPDATE staff_sessions SET seen_at = ? WHERE token_hash = ?", (iso(at), token_hash))


def end_session(tx: Tx, *, token_hash: str) -> None:
    """Close one session."""
    tx.execute("DELETE FROM staff_sessions WHERE token_hash = ?", (token_hash,))


# ---------------------------------------------------------------- sign-in counters


def forget_login_failures(tx: Tx, *, before: datetime) -> None:
    """Drop counters whose last failure is older than `before`."""
    tx.execute("DELETE FROM login_limits WHERE last_at < ?", (iso(before),))


def login_counter(tx: Tx, key: str) -> LoginCounter | None:
    """The counter kept under `key` (None when there is none)."""
    row = tx.execute("SELECT failures, blocked_until FROM login_limits WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    return LoginCounter(int(row[0]), datetime.fromisoformat(row[1]) if row[1] else None)


def save_login_counter(
    tx: Tx, key: str, *, failures: int, at: datetime, blocked_until: datetime | None
) -> None:
    """Set the counter under `key` (its last failure at `at`)."""
    tx.execute(
        "INSERT INTO login_limits (key, failures, last_at, blocked_until) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last_at = excluded.last_at, "
        "blocked_until = excluded.blocked_until",
        (key, failures, iso(at), iso(blocked_until)),
    )


def drop_login_counter(tx: Tx, key: str) -> None:
    """Forget the counter under `key`."""
    tx.execute("DELETE FROM login_limits WHERE key = ?", (key,))


def take_back_failure(tx: Tx, key: str) -> None:
    """Count one failure fewer under `key` (never below 0) and stop holding it back."""
    tx.execute(
        "UPDATE login_limits SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END, "
        "blocked_until = NULL WHERE key = ?",
        (key,),
    )


async def login_counters(db: Store) -> dict[str, LoginCounter]:
    """Every sign-in counter kept, by key (for the operator and tests)."""
    rows = await db.fetchall("SELECT key, failures, blocked_until FROM login_limits ORDER BY key")
    return {
        str(row[0]): LoginCounter(int(row[1]), datetime.fromisoformat(row[2]) if row[2] else None)
        for row in rows
    }
