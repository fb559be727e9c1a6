"""Contacts and conversations through the store contract."""

from datetime import UTC, datetime

from storage import repo
from storage.contract import Store
from storage.records import ContactRecord, ConversationRecord

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


async def test_a_conversation_is_saved_replaced_and_forgotten(store: Store) -> None:
    contact = ContactRecord(id="telegram:42", channel="telegram", created_at=AT, updated_at=AT)
    await store.write(lambda tx: repo.upsert_contact(tx, contact))
    first = ConversationRecord(
        contact_id=contact.id,
        flow="registration",
        step="nik",
        data={"answers": {"nama": "Siti"}},
        started_at=AT,
        updated_at=AT,
    )
    await store.write(lambda tx: repo.save_conversation(tx, first))
    state = await repo.load_turn_state(store, contact.id, "ev1")
    assert state.conversation is not None and state.conversation.step == "nik"
    assert state.conversation.data == {"answers": {"nama": "Siti"}}
    await store.write(lambda tx: repo.save_conversation(tx, first.model_copy(update={"step": "phone"})))
    state = await repo.load_turn_state(store, contact.id, None)
    assert state.conversation is not None and state.conversation.step == "phone"
    await store.write(lambda tx: repo.delete_conversation(tx, contact.id))
    assert (await repo.load_turn_state(store, contact.id, None)).conversation is None


async def test_a_contact_is_updated_in_place(store: Store) -> None:
    contact = ContactRecord(id="whatsapp:62812", channel="whatsapp", created_at=AT, updated_at=AT)
    await store.write(lambda tx: repo.upsert_contact(tx, contact))
    changed = contact.model_copy(update={"language": "en", "opted_out": True, "display_name": "Siti"})
    await store.write(lambda tx: repo.upsert_contact(tx, changed))
    found = await repo.get_contact(store, contact.id)
    assert found is not None and (found.language, found.opted_out, found.display_name) == ("en", True, "Siti")
    assert await store.fetchval("SELECT phone_key FROM contacts WHERE id = ?", (contact.id,)) == "62812"


async def test_a_step_saves_what_it_changed_on_its_contact_and_stamps_the_rest(store: Store) -> None:
    contact = ContactRecord(
        id="whatsapp:62812", channel="whatsapp", phone="0812", created_at=AT, updated_at=AT, unreachable=True
    )
    await store.write(lambda tx: repo.upsert_contact(tx, contact))
    stored = await repo.get_contact(store, contact.id)
    assert stored is not None
    later = AT.replace(hour=10)
    # The step read the contact, then another write changed its phone number meanwhile.
    await store.write(lambda tx: repo.upsert_contact(tx, stored.model_copy(update={"phone": "0813"})))
    stamped = stored.model_copy(update={"last_inbound_at": later, "updated_at": later, "unreachable": False})
    await store.write(lambda tx: repo.save_turn_contact(tx, stamped, stored))
    found = await repo.get_contact(store, contact.id)
    assert found is not None
    assert (found.last_inbound_at, found.unreachable, found.phone) == (later, False, "0813")
    assert await store.fetchval("SELECT phone_key FROM contacts WHERE id = ?", (contact.id,)) == "62813"
    # A step that changes the language writes its whole copy of the contact.
    switched = stamped.model_copy(update={"language": "en"})
    await store.write(lambda tx: repo.save_turn_contact(tx, switched, stored))
    found = await repo.get_contact(store, contact.id)
    assert found is not None and (found.language, found.phone) == ("en", "0812")
    # A contact seen for the first time is inserted whole.
    newcomer = ContactRecord(id="telegram:7", channel="telegram", language="en", created_at=AT, updated_at=AT)
    await store.write(lambda tx: repo.save_turn_contact(tx, newcomer, None))
    found = await repo.get_contact(store, newcomer.id)
    assert found is not None and found.language == "en"


async def test_a_received_file_is_in_use_while_a_conversation_or_case_holds_it(store: Store) -> None:
    contact = ContactRecord(id="telegram:42", channel="telegram", created_at=AT, updated_at=AT)
    ref = "media/2026/11/" + "a" * 32 + ".ogg"
    await store.write(lambda tx: repo.upsert_contact(tx, contact))
    assert await store.write(lambda tx: repo.media_in_use(tx, contact.id, ref)) is False
    draft = ConversationRecord(
        contact_id=contact.id, flow="talk", step="message", data={"media": ref}, started_at=AT, updated_at=AT
    )
    await store.write(lambda tx: repo.save_conversation(tx, draft))
    assert await store.write(lambda tx: repo.media_in_use(tx, contact.id, ref)) is True
    await store.write(lambda tx: repo.erase_contact(tx, contact.id, AT, "contact"))
    assert await store.write(repo.take_media_erasures) == [ref]
    assert await store.write(repo.take_media_erasures) == []
