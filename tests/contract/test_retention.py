"""The history prune through the store contract: old inbound ids and finished outbox rows not about a
case go, in batches; what a case or a broadcast needs stays."""

from datetime import timedelta

from storage import repo
from storage.contract import Store, Tx
from storage.records import OutboxStatus
from storage.retention import PRUNED_PAYLOAD, prune_history
from tests.contract.seed import AT, contact, filed, payload


async def test_old_history_is_pruned_in_batches_and_case_messages_stay(store: Store) -> None:
    who = contact()
    _, case_id, _ = await filed(store, who)
    old = AT - timedelta(days=40)

    def history(tx: Tx) -> None:
        for number in range(5):
            repo.record_inbound(tx, f"old{number}", who.id, old)
        repo.record_inbound(tx, "new", who.id, AT)
        chat = [
            repo.insert_outbox(tx, contact_id=who.id, payload=payload(f"q{n}"), origin="reply", at=old)
            for n in range(3)
        ]
        about = repo.insert_outbox(
            tx, contact_id=who.id, payload=payload("status"), origin="staff", at=old, case_id=case_id
        )
        kept = repo.insert_outbox(
            tx, contact_id=who.id, payload=payload("siaran"), origin="broadcast", at=old
        )
        tx.execute("UPDATE outbox SET dedupe_key = 'b1' WHERE id = ?", (kept.id,))
        repo.mark_outbox(tx, [row.id for row in chat] + [about.id, kept.id], OutboxStatus.DELIVERED, old)

    await store.write(history)
    report = await prune_history(store, now=AT, inbound_days=8, outbox_days=30, batch=2)
    assert (report.inbound, report.outbox) == (5, 4)
    assert [row[0] for row in await store.fetchall("SELECT id FROM inbound")] == ["new"]
    left = await store.fetchall("SELECT origin, payload FROM outbox ORDER BY id")
    assert [tuple(row) for row in left] == [("staff", payload("status")), ("broadcast", PRUNED_PAYLOAD)]
