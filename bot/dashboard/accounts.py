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
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from storage import accounts as store
from storage import repo
from storage.accounts import ACTING_ROLES, ROLE_RANK, ROLES, StaffUser
from storage.contract import Store, Tx

__all__ = ["ACTING_ROLES", "ROLES", "ROLE_RANK", "StaffUser"]

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


def create_user(
    tx: Tx,
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
    if store.username_taken(tx, name):
        raise AccountError("username_taken")
    user_id = store.insert_user(
        tx,
        username=name,
        display_name=display_name.strip()[:80] or name,
        role=role,
        password_hash=password_hash,
        at=at,
        must_change_password=must_change_password,
    )
    repo.audit(tx, actor=actor, action="account.create", at=at, target=f"user:{name}", detail=role)
    return user_id


def update_user(
    tx: Tx,
    *,
    user_id: int,
    role: str | None = None,
    active: bool | None = None,
    password_hash: str | None = None,
    actor: str,
    at: datetime,
) -> None:
    """Change an account's role, switch it on or off, or set a new password; its sessions end."""
    user = store.user_by_id(tx, user_id)
    if user is None:
        raise AccountError("no_account")
    if role is not None and role not in ROLES:
        raise AccountError("role")
    demoted = (role is not None and role != "admin") or active is False
    if user.role == "admin" and user.active and demoted and store.other_active_admins(tx, user_id) == 0:
        raise AccountError("last_admin")
    changes = []
    new_role = role if role is not None and role != user.role else None
    if new_role is not None:
        changes.append(f"role={role}")
    new_active = active if active is not None and active != user.active else None
    if new_active is not None:
        changes.append(f"active={int(new_active)}")
    if password_hash is not None:
        changes.append("password")
    if not changes:
        return
    store.change_user(tx, user_id, at=at, role=new_role, active=new_active, password_hash=password_hash)
    # A changed role or password takes effect at once: the account signs in again.
    store.end_sessions_of(tx, user_id)
    repo.audit(
        tx,
        actor=actor,
        action="account.update",
        at=at,
        target=f"user:{user.username}",
        detail=" ".join(changes),
    )


async def list_users(db: Store) -> list[StaffUser]:
    """Every account, admins first."""
    return await store.list_users(db)


async def count_users(db: Store) -> int:
    """How many accounts exist."""
    return await store.count_users(db)


async def password_hash_of(db: Store, username: str) -> tuple[int, str] | None:
    """The id and stored hash of an active account."""
    return await store.password_hash_of(db, username.strip().lower())


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(tx: Tx, *, user_id: int, at: datetime, lifetime: timedelta) -> tuple[str, str]:
    """Open a session (a write function); return the cookie token and the CSRF token."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    # Old sessions of everyone are swept here rather than by a timer.
    store.insert_session(
        tx, token_hash=_token_hash(token), user_id=user_id, csrf=csrf, at=at, expires_at=at + lifetime
    )
    return token, csrf


async def find_session(db: Store, token: str, *, now: datetime, idle: timedelta) -> Session | None:
    """The live session of a cookie token: not expired, not idle too long, account still active."""
    if not token or len(token) > 100:
        return None
    found = await store.session_of(db, _token_hash(token))
    if found is None:
        return None
    if found.expires_at <= now or found.seen_at + idle <= now:
        return None
    return Session(found.user, found.csrf, found.token_hash, found.seen_at)


def touch_session(tx: Tx, *, token_hash: str, at: datetime) -> None:
    """Note activity (the caller does this at most every few minutes, not on every request)."""
    store.touch_session(tx, token_hash=token_hash, at=at)


def end_session(tx: Tx, *, token_hash: str) -> None:
    """Sign out."""
    store.end_session(tx, token_hash=token_hash)


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


def login_gate(tx: Tx, *, username: str, address: str, policy: LoginPolicy, at: datetime) -> float:
    """Before any password is checked (a write function): the seconds to wait if a counter is held back;
    else 0, with this attempt counted as a failure in advance (a success takes it back), so a burst of
    parallel guesses cannot all slip through before the first is counted."""
    keys = zip(login_keys(username, address), (policy.per_account_address, policy.per_address), strict=True)
    store.forget_login_failures(tx, before=at - policy.forget_after)
    current = []
    wait = 0.0
    for key, free in keys:
        counter = store.login_counter(tx, key)
        failures = counter.failures if counter else 0
        if counter is not None and counter.blocked_until is not None and counter.blocked_until > at:
            wait = max(wait, (counter.blocked_until - at).total_seconds())
        current.append((key, free, failures))
    if wait > 0:
        return wait
    for key, free, failures in current:
        until = at + policy.delay(failures + 1, free)
        store.save_login_counter(
            tx, key, failures=failures + 1, at=at, blocked_until=until if until > at else None
        )
    return 0.0


def login_succeeded(tx: Tx, *, username: str, address: str) -> None:
    """The password was right: forget this account's failures from this address, take back the attempt."""
    account_key, address_key = login_keys(username, address)
    store.drop_login_counter(tx, account_key)
    store.take_back_failure(tx, address_key)


def set_own_password(tx: Tx, *, user_id: int, password_hash: str, at: datetime) -> None:
    """A staff member's new password (a write function): no change required any more; other sessions end."""
    user = store.user_by_id(tx, user_id)
    if user is None:
        raise AccountError("no_account")
    store.change_user(tx, user_id, at=at, password_hash=password_hash, must_change_password=False)
    store.end_sessions_of(tx, user_id)
    actor = f"staff:{user.username}"
    repo.audit(tx, actor=actor, action="account.password", at=at, target=f"user:{user.username}")
