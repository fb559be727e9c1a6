"""Named leases through the store contract: one holder at a time, renewed, expired, taken over."""

from datetime import UTC, datetime, timedelta
from functools import partial

from storage import leases
from storage.contract import Store

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TTL = timedelta(seconds=30)


async def take(store: Store, holder: str, at: datetime, name: str = "outreach") -> bool:
    return await store.write(partial(leases.acquire, name=name, holder=holder, at=at, ttl=TTL))


async def test_a_lease_has_one_holder_until_it_expires(store: Store) -> None:
    assert await take(store, "replica:a", AT)
    assert not await take(store, "replica:b", AT + timedelta(seconds=1))
    assert not await take(store, "replica:b", AT + TTL)  # still a's at the last instant
    held = await leases.current(store, "outreach", AT + timedelta(seconds=5))
    assert held is not None
    assert (held.holder, held.expires_at) == ("replica:a", AT + TTL)


async def test_the_holder_renews_and_keeps_it(store: Store) -> None:
    assert await take(store, "replica:a", AT)
    assert await take(store, "replica:a", AT + timedelta(seconds=10))
    assert await take(store, "replica:a", AT + timedelta(seconds=20))
    # renewed at 20 s: at 40 s (past the first expiry) b is still refused
    assert not await take(store, "replica:b", AT + timedelta(seconds=40))
    held = await leases.current(store, "outreach", AT + timedelta(seconds=40))
    assert held is not None
    assert held.holder == "replica:a"
    assert held.acquired_at == AT  # the same tenure, renewed
    assert held.expires_at == AT + timedelta(seconds=20) + TTL


async def test_an_expired_lease_is_taken_over_and_the_old_holder_is_refused(store: Store) -> None:
    assert await take(store, "replica:a", AT)
    later = AT + TTL + timedelta(seconds=1)
    assert await leases.current(store, "outreach", later) is None
    assert await take(store, "replica:b", later)
    assert not await take(store, "replica:a", later + timedelta(seconds=1))
    held = await leases.current(store, "outreach", later)
    assert held is not None
    assert (held.holder, held.acquired_at) == ("replica:b", later)


async def test_a_released_lease_is_free_at_once_and_only_its_holder_releases_it(store: Store) -> None:
    assert await take(store, "replica:a", AT)
    assert not await store.write(partial(leases.release, name="outreach", holder="replica:b"))
    assert not await take(store, "replica:b", AT)
    assert await store.write(partial(leases.release, name="outreach", holder="replica:a"))
    assert await take(store, "replica:b", AT + timedelta(seconds=1))


async def test_leases_of_different_names_are_independent(store: Store) -> None:
    assert await take(store, "replica:a", AT, name="outreach")
    assert await take(store, "replica:b", AT, name="telegram-poller")
    assert not await take(store, "replica:a", AT, name="telegram-poller")
