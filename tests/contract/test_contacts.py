"""Contacts and conversations through the store contract."""

from datetime import UTC, datetime

from storage import repo
from storage.contract import Store
from storage.records import ContactRecord

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


async def test_a_contact_written_is_read_back(store: Store) -> None:
    contact = ContactRecord(id="telegram:42", channel="telegram", language="id", created_at=AT, updated_at=AT)
    await store.write(lambda tx: repo.upsert_contact(tx, contact))
    found = await repo.get_contact(store, "telegram:42")
    assert found is not None
    assert found.channel == "telegram"
    assert found.language == "id"


async def test_an_inbound_id_is_taken_once(store: Store) -> None:
    contact = ContactRecord(id="whatsapp:62812", channel="whatsapp", created_at=AT, updated_at=AT)
    await store.write(lambda tx: repo.upsert_contact(tx, contact))
    first = await store.write(lambda tx: repo.record_inbound(tx, "wamid.1", "whatsapp:62812", AT))
    again = await store.write(lambda tx: repo.record_inbound(tx, "wamid.1", "whatsapp:62812", AT))
    assert (first, again) == (True, False)
