"""The outbox sender's store functions through the contract: claims, reservations, results, recovery."""

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from storage import leases, repo, turns
from storage import outbox as store_outbox
from storage.contract import Store, Tx
from storage.records import ContactRecord, OutboxRecord, OutboxStatus

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TTL = timedelta(seconds=30)
A, B = "replica:a", "replica:b"


def queue(tx: Tx, contacts: list[str], per_contact: int, origin: str = "staff") -> list[int]:
    ids = []
    for contact_id in contacts:
        repo.upsert_contact(
            tx, ContactRecord(id=contact_id, channel="whatsapp", created_at=AT, updated_at=AT)
        )
    for n in range(per_contact):
        for contact_id in contacts:
            payload = json.dumps({"text": f"pesan {n}"})
            row = repo.insert_outbox(tx, contact_id=contact_id, payload=payload, origin=origin, at=AT)
            ids.append(row.id)
    return ids


async def alive(store: Store, *holders: str, at: datetime = AT) -> None:
    for holder in holders:
        await store.write(partial(leases.acquire, name=holder, holder=holder, at=at, ttl=TTL))


async def statuses(store: Store) -> dict[int, tuple[str, str | None]]:
    rows = await store.fetchall("SELECT id, status, claimed_by FROM outbox ORDER BY id")
    return {int(row["id"]): (str(row["status"]), row["claimed_by"]) for row in rows}


async def test_a_queued_row_is_claimed_once(store: Store) -> None:
    (row_id,) = await store.write(partial(queue, contacts=["whatsapp:6281"], per_contact=1))
    await alive(store, A, B)
    first = await store.write(partial(store_outbox.claim, outbox_id=row_id, holder=A, at=AT))
    second = await store.write(partial(store_outbox.claim, outbox_id=row_id, holder=B, at=AT))
    assert (first, second) == (True, False)
    assert (await statuses(store))[row_id] == ("sending", A)


async def test_two_processes_claiming_at_once_never_get_the_same_row(store: Store, other: Store) -> None:
    ids = await store.write(partial(queue, contacts=[f"whatsapp:62{n}" for n in range(20)], per_contact=3))
    await alive(store, A, B)

    async def claimer(db: Store, holder: str) -> list[int]:
        claims = [
            db.write(partial(store_outbox.claim, outbox_id=row_id, holder=holder, at=AT)) for row_id in ids
        ]
        return [row_id for row_id, won in zip(ids, await asyncio.gather(*claims), strict=True) if won]

    got_a, got_b = await asyncio.gather(claimer(store, A), claimer(other, B))
    assert not set(got_a) & set(got_b)
    assert sorted(got_a + got_b) == sorted(ids)
    rows = await statuses(store)
    assert all(rows[row_id] == ("sending", A) for row_id in got_a)
    assert all(rows[row_id] == ("sending", B) for row_id in got_b)


async def test_two_processes_reserving_at_once_get_disjoint_rows(store: Store, other: Store) -> None:
    contacts = [f"whatsapp:62{n}" for n in range(40)]
    ids = await store.write(partial(queue, contacts=contacts, per_contact=1))
    await alive(store, A, B)
    reserve = store_outbox.reserve_pending
    rounds = await asyncio.gather(
        *(
            db.write(partial(reserve, holder=holder, at=AT, limit=5))
            for db, holder in [(store, A), (other, B)] * 8
        )
    )
    mine = {row.id for records in rounds[0::2] for row in records}
    theirs = {row.id for records in rounds[1::2] for row in records}
    assert mine and theirs
    assert not mine & theirs  # a process sees its own reservation again, never the other's
    assert mine | theirs <= set(ids)
    rows = await statuses(store)
    assert {row_id for row_id, (_, holder) in rows.items() if holder == A} == mine
    assert {row_id for row_id, (_, holder) in rows.items() if holder == B} == theirs


async def test_reservations_of_two_processes_are_disjoint_and_keep_a_contacts_rows_together(
    store: Store,
) -> None:
    contacts = [f"whatsapp:62{n}" for n in range(6)]
    ids = await store.write(partial(queue, contacts=contacts, per_contact=2))
    await alive(store, A, B)
    # Rows interleave contacts: A's first 4 are the first rows of contacts 0-3, and B may not take
    # their second rows while A lives (they would leave before the first).
    got_a = await store.write(partial(store_outbox.reserve_pending, holder=A, at=AT, limit=4))
    got_b = await store.write(partial(store_outbox.reserve_pending, holder=B, at=AT, limit=100))
    assert [row.id for row in got_a] == ids[:4]
    a_contacts = {row.contact_id for row in got_a}
    assert not {row.id for row in got_a} & {row.id for row in got_b}
    assert not a_contacts & {row.contact_id for row in got_b}
    assert {row.contact_id for row in got_b} == set(contacts) - a_contacts
    # A sees its own reservation again (and the rest of its contacts' rows)
    again_a = await store.write(partial(store_outbox.reserve_pending, holder=A, at=AT, limit=100))
    assert {row.contact_id for row in again_a} == a_contacts
    assert len(again_a) == 8


async def test_a_reservation_made_while_anothers_is_uncommitted_never_splits_a_contacts_rows(
    store: Store, other: Store
) -> None:
    # A reserves the first row of each of contacts 0-3 (its LIMIT falls between their two rows); B
    # reserves while A's transaction is still open, so B cannot see A's claims yet. B must still not take
    # those contacts' second rows: they would leave before (or beside) the first.
    contacts = [f"whatsapp:62{n}" for n in range(6)]
    ids = await store.write(partial(queue, contacts=contacts, per_contact=2))
    await alive(store, A, B)
    reserved, release = threading.Event(), threading.Event()

    def reserve_and_hold(tx: Tx) -> list[OutboxRecord]:
        got = store_outbox.reserve_pending(tx, holder=A, at=AT, limit=4)
        reserved.set()
        release.wait(10)
        return got

    holding = asyncio.create_task(store.write(reserve_and_hold))
    assert await asyncio.to_thread(reserved.wait, 10)
    meanwhile = asyncio.create_task(
        other.write(partial(store_outbox.reserve_pending, holder=B, at=AT, limit=100))
    )
    await asyncio.sleep(0.3)  # B's reservation runs now (PostgreSQL) or waits for A's (SQLite)
    release.set()
    got_a, got_b = await holding, await meanwhile
    assert [row.id for row in got_a] == ids[:4]
    a_contacts = {row.contact_id for row in got_a}
    assert not a_contacts & {row.contact_id for row in got_b}
    again_a = await store.write(partial(store_outbox.reserve_pending, holder=A, at=AT, limit=100))
    assert {row.contact_id for row in again_a} == a_contacts and len(again_a) == 8


async def test_a_dead_processs_reservation_is_taken_over(store: Store) -> None:
    ids = await store.write(partial(queue, contacts=["whatsapp:6281"], per_contact=2))
    await alive(store, A, B)
    assert len(await store.write(partial(store_outbox.reserve_pending, holder=A, at=AT))) == 2
    assert await store.write(partial(store_outbox.reserve_pending, holder=B, at=AT)) == []
    later = AT + TTL + timedelta(seconds=1)
    await alive(store, B, at=later)  # A stopped renewing
    taken = await store.write(partial(store_outbox.reserve_pending, holder=B, at=later))
    assert [row.id for row in taken] == ids


async def test_fresh_replies_and_later_rows_wait_and_bulk_comes_after_replies(store: Store) -> None:
    bulk = await store.write(partial(queue, contacts=["whatsapp:6281"], per_contact=1, origin="broadcast"))
    staff = await store.write(partial(queue, contacts=["whatsapp:6282"], per_contact=1, origin="staff"))
    await store.write(partial(queue, contacts=["whatsapp:6283"], per_contact=1, origin="reply"))
    got = await store.write(
        partial(store_outbox.reserve_pending, holder=A, at=AT, reply_grace=timedelta(seconds=30))
    )
    assert [row.id for row in got] == staff + bulk
    none_bulk = await store.write(
        partial(store_outbox.reserve_pending, holder=B, at=AT, include_bulk=False, schemes=["telegram"])
    )
    assert none_bulk == []


async def test_rows_left_sending_by_a_dead_process_are_found_and_a_live_ones_are_not(store: Store) -> None:
    ids = await store.write(partial(queue, contacts=["whatsapp:6281", "whatsapp:6282"], per_contact=1))
    await alive(store, A, B)
    assert await store.write(partial(store_outbox.claim, outbox_id=ids[0], holder=A, at=AT))
    assert await store.write(partial(store_outbox.claim, outbox_id=ids[1], holder=B, at=AT))
    soon = AT + timedelta(seconds=5)
    assert await store.write(partial(store_outbox.interrupted, holder=B, at=soon)) == []
    later = AT + TTL + timedelta(seconds=1)
    await alive(store, B, at=later)  # A is gone
    found = await store.write(partial(store_outbox.interrupted, holder=B, at=later))
    assert found == [(ids[0], "whatsapp:6281")]
    verdicts = [(ids[0], None)]
    await store.write(partial(store_outbox.resolve_interrupted, verdicts=verdicts, at=later))
    assert (await statuses(store))[ids[0]][0] == "unknown"
    assert (await statuses(store))[ids[1]][0] == "sending"  # B's, still on the wire


async def test_results_are_recorded(store: Store) -> None:
    ids = await store.write(partial(queue, contacts=["whatsapp:6281", "whatsapp:6282"], per_contact=2))
    for row_id in ids:
        assert await store.write(partial(store_outbox.claim, outbox_id=row_id, holder=A, at=AT))

    def record(outbox_id: int, status: OutboxStatus, **details: Any) -> Any:
        outcome = store_outbox.SendOutcome(outbox_id, status, AT, **details)
        return partial(store_outbox.record_results, outcomes=[outcome])

    await store.write(record(ids[0], OutboxStatus.SENT, external_id="wamid.1"))
    retry_at = AT + timedelta(seconds=5)
    await store.write(record(ids[1], OutboxStatus.QUEUED, retry_at=retry_at))
    await store.write(record(ids[2], OutboxStatus.BLOCKED, error="blocked"))
    await store.write(partial(store_outbox.unclaim, outbox_id=ids[3], at=AT))
    rows = {
        int(row["id"]): row
        for row in await store.fetchall("SELECT id, status, external_id, not_before, sent_at FROM outbox")
    }
    assert (rows[ids[0]]["status"], rows[ids[0]]["external_id"]) == ("sent", "wamid.1")
    assert rows[ids[0]]["sent_at"] is not None
    assert (rows[ids[1]]["status"], rows[ids[1]]["not_before"]) == ("queued", repo.iso(retry_at))
    assert rows[ids[2]]["status"] == "blocked"
    assert rows[ids[3]]["status"] == "queued"
    blocked = await repo.get_contact(store, "whatsapp:6281")
    assert blocked is not None and blocked.unreachable
    # a retried row waits for its time
    assert ids[1] not in [
        r.id for r in await store.write(partial(store_outbox.reserve_pending, holder=A, at=AT))
    ]


async def test_staff_resend_rows_in_doubt_and_it_is_audited(store: Store) -> None:
    ids = await store.write(partial(queue, contacts=["whatsapp:6281"], per_contact=3))
    for row_id in ids:
        await store.write(partial(store_outbox.claim, outbox_id=row_id, holder=A, at=AT))
    await store.write(
        partial(store_outbox.resolve_interrupted, verdicts=[(row_id, None) for row_id in ids], at=AT)
    )
    assert [row.id for row in await store_outbox.in_doubt(store)] == ids
    assert [row.text for row in await store_outbox.in_doubt(store)] == ["pesan 0", "pesan 1", "pesan 2"]
    assert await store.write(partial(store_outbox.resend_in_doubt, ids=[], actor="siti", at=AT)) == 0
    assert await store.write(partial(store_outbox.resend_in_doubt, ids=[ids[1]], actor="siti", at=AT)) == 1
    assert await store.write(partial(store_outbox.resend_in_doubt, ids=None, actor="siti", at=AT)) == 2
    assert {status for status, _ in (await statuses(store)).values()} == {"queued"}
    audited = await store.fetchval("SELECT COUNT(*) FROM audit_log WHERE action = 'outbox.resend'")
    assert audited == 3


async def test_a_turns_fresh_replies_are_left_to_their_writer_and_taken_when_it_is_gone(store: Store) -> None:
    def turn(tx: Tx) -> list[OutboxRecord]:
        queue(tx, contacts=["whatsapp:6281"], per_contact=0)
        return [turns.queue_reply(tx, "whatsapp:6281", json.dumps({"text": "halo"}), AT, A) for _ in range(2)]

    ids = [record.id for record in await store.write(turn)]
    assert len(set(ids)) == 2 and all(ids)
    await alive(store, A, B)
    grace = timedelta(seconds=30)
    soon = AT + timedelta(seconds=1)
    reserve = store_outbox.reserve_pending
    # The writer sends them within its turn: neither its own send loop nor another process takes them.
    assert await store.write(partial(reserve, holder=A, at=soon, reply_grace=grace)) == []
    assert await store.write(partial(reserve, holder=B, at=soon, reply_grace=grace)) == []
    # The writer died: another process takes them once its lease has run out, not a grace later.
    gone = AT + TTL + timedelta(seconds=1)
    await alive(store, B, at=gone)
    taken = await store.write(partial(reserve, holder=B, at=gone, reply_grace=grace))
    assert [row.id for row in taken] == ids
