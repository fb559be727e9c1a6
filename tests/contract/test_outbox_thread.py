"""Outbox rows through the store contract as the conversation code writes them (repo.insert_outbox and
mark_outbox): queued, listed (replies before bulk), marked, and a row about a case becoming a line of its
thread (the trigger on both backends)."""

from datetime import timedelta

from storage import repo, threads
from storage.contract import Store, Tx
from storage.records import OutboxStatus
from tests.contract.seed import AT, contact, filed, payload


async def test_outbox_rows_are_queued_listed_and_marked(store: Store) -> None:
    who = contact()
    await store.write(lambda tx: repo.upsert_contact(tx, who))

    def queue(tx: Tx) -> list[int]:
        rows = [
            repo.insert_outbox(tx, contact_id=who.id, payload=payload("siaran"), origin="broadcast", at=AT),
            repo.insert_outbox(tx, contact_id=who.id, payload=payload("halo"), origin="reply", at=AT),
        ]
        return [row.id for row in rows]

    bulk_id, reply_id = await store.write(queue)
    pending = await repo.pending_outbox(store, ["whatsapp"], now=AT)
    assert [row.id for row in pending] == [reply_id, bulk_id]  # replies first, bulk after
    assert await repo.pending_outbox(store, ["telegram"]) == []
    assert await repo.pending_outbox(store, []) == []
    assert [row.id for row in await repo.pending_outbox(store, include_bulk=False)] == [reply_id]

    later = AT + timedelta(seconds=3)
    await store.write(
        lambda tx: repo.mark_outbox(tx, [reply_id], OutboxStatus.SENT, later, count_attempt=True)
    )
    await store.write(lambda tx: repo.set_external_id(tx, reply_id, "wamid.1"))
    sent = await store.fetchone(
        "SELECT status, attempts, sent_at, external_id, bulk FROM outbox WHERE id = ?", (reply_id,)
    )
    assert sent is not None
    assert dict(sent) == {
        "status": "sent",
        "attempts": 1,
        "sent_at": repo.iso(later),
        "external_id": "wamid.1",
        "bulk": 0,
    }
    assert await store.fetchval("SELECT bulk FROM outbox WHERE id = ?", (bulk_id,)) == 1
    assert [row.id for row in await repo.pending_outbox(store)] == [bulk_id]


async def test_a_message_about_a_case_becomes_a_thread_line(store: Store) -> None:
    who = contact()
    _, case_id, _ = await filed(store, who)
    row = await store.write(
        lambda tx: repo.insert_outbox(
            tx,
            contact_id=who.id,
            payload=payload("Kasus Anda diproses"),
            origin="staff",
            at=AT,
            case_id=case_id,
        )
    )
    lines = await threads.thread(store, case_id)
    assert [(line.direction, line.kind, line.body, line.status) for line in lines] == [
        ("out", "status", "Kasus Anda diproses", "queued")
    ]
    assert lines[0].id is not None
    found = await repo.get_contact(store, who.id)
    assert found is not None
    assert await store.fetchval("SELECT thread_case_id FROM contacts WHERE id = ?", (who.id,)) == case_id
    assert await store.fetchval("SELECT outbox_id FROM case_messages") == row.id
