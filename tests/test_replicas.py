"""Several service processes on one PostgreSQL database: one contact's commits one at a time, and the
roles one process plays at a time (outreach ticker, Telegram poller) held by one and taken over when it
dies. (Two real service processes: tests/test_replicas_leader.py.)"""

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.engine import utcnow
from bot.replicas import OUTREACH, TELEGRAM_POLLER, Replicas
from bot.scheduler import OutreachScheduler
from handlers import outreach
from handlers.segments import Segment
from storage import repo, turns
from storage.contract import Store, Tx
from storage.postgres import PostgresStore
from storage.records import ContactRecord, ConversationRecord
from tests.outreach_support import Person, seed
from tests.support import Clock, start_service

# Measures time or load against a bound: run by itself, after the other tests (scripts/check).
pytestmark = pytest.mark.alone

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
WIB = ZoneInfo("Asia/Jakarta")
CONTACT = "whatsapp:62811"


@pytest.fixture
async def two_stores(postgres_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one PostgreSQL database, as two service processes open it."""
    first = await PostgresStore.open(postgres_url)
    second = await PostgresStore.open(postgres_url)
    yield first, second
    await second.close()
    await first.close()


def save(tx: Tx, read_at: datetime | None, step: str, at: datetime, pause: float = 0.0) -> bool:
    """A turn's commit: hold the contact, and write the conversation; it fails (`TurnMoved`, nothing
    kept) when what was read is not current any more."""
    turns.hold_turn(tx, CONTACT, read_at)
    time.sleep(pause)  # the turn's other writes (the second process's commit waits meanwhile)
    repo.save_conversation(
        tx,
        ConversationRecord(contact_id=CONTACT, flow="registration", step=step, started_at=AT, updated_at=at),
    )
    return True


async def test_two_processes_committing_one_contacts_turn_at_once_one_wins_and_the_other_reruns(
    two_stores: tuple[Store, Store],
) -> None:
    first, second = two_stores
    contact = ContactRecord(id=CONTACT, channel="whatsapp", created_at=AT, updated_at=AT)
    await first.write(lambda tx: repo.upsert_contact(tx, contact))
    # Both processes read "no conversation yet" and computed a turn on it.
    slow = asyncio.ensure_future(
        first.write(partial(save, read_at=None, step="a", at=AT + timedelta(seconds=1), pause=0.5))
    )
    await asyncio.sleep(0.2)  # the first holds the contact now
    fast = second.write(partial(save, read_at=None, step="b", at=AT + timedelta(seconds=2)))
    results = await asyncio.gather(slow, fast, return_exceptions=True)
    assert results[0] is True
    assert isinstance(results[1], turns.TurnMoved)  # the second waited, then saw the conversation had moved
    stored = await first.fetchone(
        "SELECT step, updated_at FROM conversations WHERE contact_id = ?", (CONTACT,)
    )
    assert stored is not None
    assert stored["step"] == "a"
    # The loser runs its turn again on what it reads now, and commits.
    assert await second.write(
        partial(save, read_at=AT + timedelta(seconds=1), step="b", at=AT + timedelta(seconds=2))
    )
    assert await first.fetchval("SELECT step FROM conversations WHERE contact_id = ?", (CONTACT,)) == "b"


async def test_an_event_one_process_recorded_fails_the_others_commit_and_keeps_nothing_of_it(
    two_stores: tuple[Store, Store],
) -> None:
    first, second = two_stores
    await first.write(lambda tx: turns.record_event(tx, "wamid.1", CONTACT, AT))

    def turn(tx: Tx) -> None:  # the same delivery, handled by the other process meanwhile
        turns.record_event(tx, "wamid.1", CONTACT, AT)
        repo.upsert_contact(tx, ContactRecord(id=CONTACT, channel="whatsapp", created_at=AT, updated_at=AT))

    with pytest.raises(turns.Redelivered):
        await second.write(turn)
    assert await first.fetchval("SELECT COUNT(*) FROM contacts") == 0
    assert await first.fetchval("SELECT COUNT(*) FROM inbound") == 1


async def test_one_process_holds_a_role_and_another_takes_it_when_the_holder_dies(
    two_stores: tuple[Store, Store],
) -> None:
    first = Replicas(two_stores[0], clock=utcnow, lease_seconds=1.0, renew_seconds=0.2)
    second = Replicas(two_stores[1], clock=utcnow, lease_seconds=1.0, renew_seconds=0.2)
    await first.start()
    await second.start()
    try:
        assert await first.take(OUTREACH)
        assert not await second.take(OUTREACH)
        await asyncio.sleep(1.5)  # past one lease: the holder renewed it, the other is still refused
        assert first.holds(OUTREACH) and not second.holds(OUTREACH)
        # The holder dies (stops renewing, gives nothing back): the other has it within a lease.
        assert first._running is not None
        first._running.cancel()
        died = time.monotonic()
        await asyncio.wait_for(second.wait_for(OUTREACH), timeout=5)
        assert time.monotonic() - died < 1.0 + 0.2 + 0.5
        assert second.holds(OUTREACH)
        assert not await first.take(OUTREACH)
        assert not first.holds(OUTREACH)
    finally:
        await second.stop()
        first._running = None
        await first.stop()


async def test_a_process_stopping_gives_its_roles_to_the_other_at_once(
    two_stores: tuple[Store, Store],
) -> None:
    first = Replicas(two_stores[0], clock=utcnow, lease_seconds=30.0, renew_seconds=10.0)
    second = Replicas(two_stores[1], clock=utcnow, lease_seconds=30.0, renew_seconds=10.0)
    await first.start()
    await second.start()
    try:
        assert await first.take(TELEGRAM_POLLER)
        waiting = asyncio.ensure_future(second.wait_for(TELEGRAM_POLLER))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # one poller at a time
        await first.stop()
        assert await second.take(TELEGRAM_POLLER)
        waiting.cancel()
        assert second.holds(TELEGRAM_POLLER)
        names = {row["name"] for row in await two_stores[0].fetchall("SELECT name FROM leases")}
        assert first.name not in names and second.name in names
    finally:
        await second.stop()


async def test_only_the_leader_ticks_and_a_reminder_run_twice_at_once_is_queued_once(
    tmp_path: Path, clock: Clock
) -> None:
    service, _ = await start_service(tmp_path / "data", clock)
    try:
        await service.db.write(partial(seed, people=[Person("console:w1"), Person("console:w2")]))
        clock.now = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 09:00 WIB
        await service.db.write(
            partial(
                outreach.create_reminder,
                segment=Segment(everyone=True),
                text_id="Posyandu besok",
                text_en=None,
                due_at=None,
                cron="0 9 * * *",  # every day at 09:00 WIB: once run, it is due again tomorrow
                actor="staff:test",
                at=clock.now - timedelta(hours=1),
                tz=WIB,
            )
        )
        leading = False

        def scheduler() -> OutreachScheduler:
            return OutreachScheduler(
                service.db,
                service.services.catalog,
                service.settings.outreach,
                WIB,
                clock,
                leader=lambda: leading,
            )

        first, second = scheduler(), scheduler()
        assert (await first.tick()).reminders == []  # not the leader: nothing is done
        assert await service.db.fetchval("SELECT COUNT(*) FROM outbox") == 0
        # Both think they lead (a lease lost mid-tick): the second finds the reminder moved to tomorrow
        # and queues nothing (it would otherwise run tomorrow's occurrence today).
        leading = True
        reports = await asyncio.gather(first.tick(), second.tick())
        outcomes = sorted(run.outcome for report in reports for run in report.reminders)
        assert outcomes in (["sent"], ["already_done", "sent"])
        assert await service.db.fetchval("SELECT COUNT(*) FROM outbox WHERE origin = 'reminder'") == 2
        assert await service.db.fetchval("SELECT COUNT(*) FROM reminder_runs") == 1
    finally:
        await service.close()
