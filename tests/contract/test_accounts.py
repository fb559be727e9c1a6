"""Staff accounts, sessions, sign-in counters and the audit log through the store contract."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.dashboard import accounts
from storage import accounts as store_accounts
from storage.contract import Store, Tx

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
POLICY = accounts.LoginPolicy(per_account_address=2, per_address=5)


async def _create(store: Store, username: str, role: str, *, at: datetime = AT) -> int:
    def create(tx: Tx) -> int:
        return accounts.create_user(
            tx,
            username=username,
            display_name=username.title(),
            role=role,
            password_hash="h",
            actor="t",
            at=at,
        )

    return await store.write(create)


async def test_accounts_are_created_listed_admins_first_and_names_are_unique(store: Store) -> None:
    first = await _create(store, "Siti", "petugas")
    second = await _create(store, "kepala", "admin")
    assert first != second
    users = await accounts.list_users(store)
    assert [(u.username, u.role, u.active) for u in users] == [
        ("kepala", "admin", True),
        ("siti", "petugas", True),
    ]
    assert await accounts.count_users(store) == 2
    with pytest.raises(accounts.AccountError) as taken:
        await _create(store, "SITI", "viewer")
    assert taken.value.reason == "username_taken"
    assert await accounts.password_hash_of(store, " Siti ") == (first, "h")


async def test_a_role_change_or_disabling_ends_sessions_and_the_last_admin_stays(store: Store) -> None:
    admin = await _create(store, "kepala", "admin")
    officer = await _create(store, "budi", "petugas")
    token, _ = await store.write(
        lambda tx: accounts.start_session(tx, user_id=officer, at=AT, lifetime=timedelta(hours=8))
    )
    assert await accounts.find_session(store, token, now=AT, idle=timedelta(hours=1)) is not None

    await store.write(lambda tx: accounts.update_user(tx, user_id=officer, role="viewer", actor="t", at=AT))
    assert await accounts.find_session(store, token, now=AT, idle=timedelta(hours=1)) is None
    await store.write(lambda tx: accounts.update_user(tx, user_id=officer, active=False, actor="t", at=AT))
    users = {u.username: u for u in await accounts.list_users(store)}
    assert (users["budi"].role, users["budi"].active) == ("viewer", False)
    assert await accounts.password_hash_of(store, "budi") is None  # a disabled account cannot sign in

    with pytest.raises(accounts.AccountError) as last:
        await store.write(
            lambda tx: accounts.update_user(tx, user_id=admin, role="petugas", actor="t", at=AT)
        )
    assert last.value.reason == "last_admin"


async def test_a_session_ends_when_it_expires_or_idles_and_on_sign_out(store: Store) -> None:
    user = await _create(store, "rina", "viewer")
    lifetime, idle = timedelta(hours=8), timedelta(minutes=30)
    token, csrf = await store.write(
        lambda tx: accounts.start_session(tx, user_id=user, at=AT, lifetime=lifetime)
    )
    found = await accounts.find_session(store, token, now=AT + timedelta(minutes=10), idle=idle)
    assert found is not None
    assert (found.user.username, found.csrf, found.seen_at) == ("rina", csrf, AT)
    assert await accounts.find_session(store, token, now=AT + timedelta(minutes=31), idle=idle) is None
    assert await accounts.find_session(store, "not-a-token", now=AT, idle=idle) is None

    later = AT + timedelta(minutes=25)
    await store.write(lambda tx: accounts.touch_session(tx, token_hash=found.token_hash, at=later))
    assert await accounts.find_session(store, token, now=AT + timedelta(minutes=50), idle=idle) is not None
    assert await accounts.find_session(store, token, now=AT + lifetime, idle=timedelta(days=1)) is None

    await store.write(lambda tx: accounts.end_session(tx, token_hash=found.token_hash))
    assert await accounts.find_session(store, token, now=later, idle=idle) is None


async def test_failed_sign_ins_are_counted_held_back_and_forgotten(store: Store) -> None:
    async def attempt(at: datetime) -> float:
        def gate(tx: Tx) -> float:
            return accounts.login_gate(tx, username="siti", address="10.0.0.9", policy=POLICY, at=at)

        return await store.write(gate)

    assert await attempt(AT) == 0
    assert await attempt(AT) == 0  # the second failure: the account from this address is now held 1 s
    held = await attempt(AT + timedelta(milliseconds=500))
    assert held == pytest.approx(0.5)
    counters = await store_accounts.login_counters(store)
    assert counters["account:siti|10.0.0.9"].failures == 2
    assert counters["address:10.0.0.9"].failures == 2
    assert counters["account:siti|10.0.0.9"].blocked_until == AT + timedelta(seconds=1)

    await store.write(lambda tx: accounts.login_succeeded(tx, username="siti", address="10.0.0.9"))
    counters = await store_accounts.login_counters(store)
    assert "account:siti|10.0.0.9" not in counters
    assert (counters["address:10.0.0.9"].failures, counters["address:10.0.0.9"].blocked_until) == (1, None)

    await attempt(AT + POLICY.forget_after + timedelta(seconds=2))  # older counters are forgotten first
    counters = await store_accounts.login_counters(store)
    assert counters["address:10.0.0.9"].failures == 1


async def test_account_changes_are_audited_newest_first(store: Store) -> None:
    user = await _create(store, "budi", "petugas")
    later = AT + timedelta(minutes=5)
    await store.write(
        lambda tx: accounts.update_user(tx, user_id=user, role="viewer", actor="staff:kepala", at=later)
    )
    await store.write(
        lambda tx: accounts.update_user(tx, user_id=user, role="viewer", actor="staff:kepala", at=later)
    )
    last = AT + timedelta(minutes=9)
    await store.write(lambda tx: accounts.set_own_password(tx, user_id=user, password_hash="h2", at=last))
    rows = await store.fetchall("SELECT at, actor, action, target, detail FROM audit_log ORDER BY id DESC")
    assert [(r["actor"], r["action"], r["target"], r["detail"]) for r in rows] == [
        ("staff:budi", "account.password", "user:budi", None),
        ("staff:kepala", "account.update", "user:budi", "role=viewer"),  # the unchanged second one: no line
        ("t", "account.create", "user:budi", "petugas"),
    ]
    assert [datetime.fromisoformat(r["at"]) for r in rows] == [last, later, AT]
