"""Channel state and contacts' own settings through the store contract: webhook bodies kept until
handled, WhatsApp identities, windows and delivery statuses, Telegram's long button ids and keyboards,
voice preference and voice-note uploads, and what the my-data views read."""

from datetime import UTC, datetime, timedelta

from bot.channels.whatsapp import store as whatsapp
from bot.channels.whatsapp.payloads import GraphError, StatusUpdate
from bot.metrics import read_store_figures
from storage import channel_state, channels, contacts, repo
from storage.contract import Store, Tx
from storage.records import CaseKind, CaseRecord, ContactRecord, OutboxStatus, PersonRecord

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


async def _contact(store: Store, contact_id: str, **fields: object) -> ContactRecord:
    contact = ContactRecord.model_validate(
        {"id": contact_id, "channel": contact_id.split(":")[0], "created_at": AT, "updated_at": AT} | fields
    )
    await store.write(lambda tx: repo.upsert_contact(tx, contact))
    return contact


async def _sent(
    store: Store, contact_id: str, external_id: str, *, status: OutboxStatus, payload: str = "{}"
) -> int:
    def send(tx: Tx) -> int:
        record = repo.insert_outbox(tx, contact_id=contact_id, payload=payload, origin="reply", at=AT)
        assert record.id is not None
        repo.set_external_id(tx, record.id, external_id)
        repo.mark_outbox(tx, [record.id], status, AT)
        return record.id

    return await store.write(send)


async def _outbox_status(store: Store, contact_id: str) -> list[tuple[str, str | None]]:
    rows = await store.fetchall(
        "SELECT status, error FROM outbox WHERE contact_id = ? ORDER BY id", (contact_id,)
    )
    return [(str(row["status"]), row["error"]) for row in rows]


async def test_webhook_bodies_are_kept_per_source_until_handled_or_failed(store: Store) -> None:
    first = await store.write(lambda tx: whatsapp.insert_inbox(tx, b"wa-1", AT))
    second = await store.write(lambda tx: whatsapp.insert_inbox(tx, b"wa-2", AT))
    telegram = await store.write(lambda tx: channels.keep_bodies(tx, "telegram", [b"tg-1", b"tg-2"], AT))
    assert len({first, second, *telegram}) == 4
    assert await whatsapp.pending_inbox(store) == [(first, b"wa-1"), (second, b"wa-2")]
    assert await channels.unprocessed(store, "telegram") == list(
        zip(telegram, [b"tg-1", b"tg-2"], strict=True)
    )
    assert await whatsapp.pending_ids(store) == {first, second}
    assert await channels.unprocessed_ids(store, "telegram") == set(telegram)

    await store.write(lambda tx: whatsapp.finish_inbox(tx, first))
    await store.write(lambda tx: whatsapp.fail_inbox(tx, second, "ValueError", AT))
    await store.write(lambda tx: channels.forget_bodies(tx, [telegram[0]]))
    await store.write(lambda tx: channels.fail_bodies(tx, [(telegram[1], "KeyError")], AT))
    assert await whatsapp.pending_inbox(store) == []
    assert await channels.unprocessed(store, "telegram") == []
    assert await channels.unprocessed_ids(store, "telegram") == set()
    assert await whatsapp.pending_ids(store) == set()
    assert await whatsapp.inbox_body(store, first) is None
    assert await whatsapp.inbox_body(store, second) is None  # kept for the operator, not handled again


async def test_a_whatsapp_contact_is_found_by_either_address_and_held_messages_are_released(
    store: Store,
) -> None:
    await _contact(store, "whatsapp:6281200001")
    assert await whatsapp.find_contact(store, "whatsapp:other", None) is None
    await _sent(store, "whatsapp:6281200001", "wamid.a", status=OutboxStatus.HELD)
    known = await whatsapp.find_contact(store, "whatsapp:6281200001", "whatsapp:BSUID.1")
    assert known == whatsapp.KnownContact("whatsapp:6281200001", None, True)

    released = await store.write(
        lambda tx: whatsapp.link_contact(
            tx, "whatsapp:6281200001", "whatsapp:BSUID.1", release_since=AT - timedelta(hours=1), at=AT
        )
    )
    assert released == 1
    assert await _outbox_status(store, "whatsapp:6281200001") == [("queued", None)]
    by_other = await whatsapp.find_contact(store, "whatsapp:BSUID.1", None)
    assert by_other == whatsapp.KnownContact("whatsapp:6281200001", "whatsapp:BSUID.1", False)

    # An address another contact already holds is not taken
    await _contact(store, "whatsapp:6281200002")
    await store.write(
        lambda tx: whatsapp.link_contact(
            tx, "whatsapp:6281200002", "whatsapp:BSUID.1", release_since=AT, at=AT
        )
    )
    again = await whatsapp.find_contact(store, "whatsapp:6281200002", None)
    assert again is not None and again.alt_id is None


async def test_the_window_opens_with_a_message_and_closes_when_meta_refuses(store: Store) -> None:
    assert await whatsapp.window(store, "whatsapp:628999", "id") == whatsapp.Window("id", None, None)
    await _contact(store, "whatsapp:628999", language="en", last_inbound_at=AT)
    window = await whatsapp.window(store, "whatsapp:628999", "id")
    assert (
        window.language,
        window.is_open(AT + timedelta(hours=23)),
        window.is_open(AT + timedelta(hours=24)),
    ) == (
        "en",
        True,
        False,
    )
    await store.write(lambda tx: whatsapp.close_window(tx, "whatsapp:628999", AT + timedelta(minutes=5)))
    closed = await whatsapp.window(store, "whatsapp:628999", "id")
    assert closed.closed_at == AT + timedelta(minutes=5)
    assert not closed.is_open(AT + timedelta(minutes=6))


async def test_delivery_statuses_move_forward_and_a_closed_window_resends_once(store: Store) -> None:
    await _contact(store, "whatsapp:62811")
    sent = await _sent(store, "whatsapp:62811", "wamid.1", status=OutboxStatus.SENT)

    def status(name: str, *errors: GraphError) -> StatusUpdate:
        return StatusUpdate(wamid="wamid.1", status=name, at=AT, errors=errors)  # type: ignore[arg-type]

    async def apply(update: StatusUpdate) -> str:
        return await store.write(lambda tx: whatsapp.apply_status(tx, update, AT))

    assert await apply(StatusUpdate(wamid="wamid.none", status="read", at=AT)) == "missing"
    assert await apply(status("read")) == "updated"
    assert await apply(status("delivered")) == "unchanged"  # arrived late: read stays
    assert await _outbox_status(store, "whatsapp:62811") == [("read", None)]

    refused = GraphError(code=131047, title="Re-engagement message")
    assert await apply(status("failed", refused)) == "resend"
    assert await _outbox_status(store, "whatsapp:62811") == [("queued", whatsapp.RESEND_NOTE)]
    assert (await whatsapp.window(store, "whatsapp:62811", "id")).closed_at == AT
    await store.write(
        lambda tx: repo.mark_outbox(tx, [sent], OutboxStatus.SENT, AT, error=whatsapp.RESEND_NOTE)
    )
    assert await apply(status("failed", refused)) == "updated"  # the template failed too: no second resend
    assert await _outbox_status(store, "whatsapp:62811") == [("failed", "131047 Re-engagement message")]


async def test_telegram_long_ids_and_which_keyboard_is_current(store: Store) -> None:
    await store.write(lambda tx: channel_state.save(tx, {"long:a1": "person:12:edit", "long:b2": "x"}))
    await store.write(lambda tx: channel_state.save(tx, {"long:b2": "y"}))
    assert (await channel_state.value(store, "long:a1"), await channel_state.value(store, "long:b2")) == (
        "person:12:edit",
        "y",
    )
    assert await channel_state.value(store, "long:none") is None

    await _contact(store, "telegram:42")
    asked = await _sent(store, "telegram:42", "500", status=OutboxStatus.SENT)
    assert await channels.outbox_id_of_sent(store, "telegram:42", "500") == asked
    assert await channels.outbox_id_of_sent(store, "telegram:42", "501") is None
    assert not await channels.answered_or_asked_since(store, "telegram:42", asked)
    await _sent(store, "telegram:42", "502", status=OutboxStatus.SENT)
    assert await channels.answered_or_asked_since(store, "telegram:42", asked)


async def test_delivery_figures_by_channel(store: Store) -> None:
    for contact in ("telegram:1", "whatsapp:62812"):
        await _contact(store, contact)
    await _sent(store, "telegram:1", "1", status=OutboxStatus.SENT)
    await store.write(
        lambda tx: repo.insert_outbox(tx, contact_id="telegram:1", payload="{}", origin="reply", at=AT)
    )
    later = AT + timedelta(minutes=3)
    await store.write(
        lambda tx: repo.insert_outbox(tx, contact_id="whatsapp:62812", payload="{}", origin="reply", at=later)
    )
    figures = await read_store_figures(store, AT + timedelta(minutes=10))
    assert figures.outbound == {("telegram", "sent"): 1, ("telegram", "queued"): 1, ("whatsapp", "queued"): 1}
    assert {name: (b.queued, b.oldest_age_seconds) for name, b in figures.backlog.items()} == {
        "telegram": (1, 600.0),
        "whatsapp": (1, 420.0),
    }
    assert figures.broadcasts_in_progress == 0


async def test_voice_preference_language_reachability_and_uploads(store: Store) -> None:
    await _contact(store, "telegram:7", language="en")
    assert await contacts.language_of(store, "telegram:7") == "en"
    assert await contacts.language_of(store, "telegram:8") is None
    await store.write(lambda tx: contacts.set_voice(tx, "telegram:7", True))
    await store.write(lambda tx: contacts.set_unreachable(tx, "telegram:7", True))
    found = await repo.get_contact(store, "telegram:7")
    assert found is not None and (found.voice, found.unreachable) == (True, True)
    await store.write(lambda tx: contacts.set_voice(tx, "telegram:7", False))
    found = await repo.get_contact(store, "telegram:7")
    assert found is not None and found.voice is False

    assert await contacts.voice_upload(store, "telegram", "abc") is None
    await store.write(lambda tx: contacts.save_voice_upload(tx, "telegram", "abc", "file-1", AT))
    await store.write(
        lambda tx: contacts.save_voice_upload(tx, "telegram", "abc", "file-2", AT + timedelta(days=1))
    )
    assert await contacts.voice_upload(store, "telegram", "abc") == contacts.VoiceUpload(
        "file-2", AT + timedelta(days=1)
    )

    prompt = contacts.VoicePrompt("id", "menu.title", "voice/id/menu.ogg", 1500, "recorded", "staff:rina", AT)
    await store.write(lambda tx: contacts.save_voice_prompt(tx, prompt))
    assert await contacts.voice_prompts(store, "id") == [prompt]
    await store.write(lambda tx: contacts.forget_voice_prompt(tx, "id", "menu.title"))
    assert await contacts.voice_prompts(store, "id") == []


async def test_my_data_reads_the_standing_consent_and_a_persons_cases(store: Store) -> None:
    await _contact(store, "telegram:9")
    assert await contacts.service_consent(store, "telegram:9") is None
    await store.write(lambda tx: repo.record_consent(tx, "telegram:9", True, "v1", AT))
    await store.write(lambda tx: repo.record_consent(tx, "telegram:9", True, "v2", AT + timedelta(days=2)))
    assert await contacts.service_consent(store, "telegram:9") == contacts.ServiceConsent(
        AT + timedelta(days=2), "v2"
    )

    person = PersonRecord(
        registered_by="telegram:9", is_self=True, full_name="Siti", created_at=AT, updated_at=AT
    )

    def register(tx: Tx) -> tuple[int, list[int]]:
        person_id = repo.insert_person(tx, person)
        case_ids = []
        for number in (1, 2):
            case = CaseRecord(
                reference=f"REG-2026-00000{number}",
                kind=CaseKind.REGISTRATION,
                person_id=person_id,
                contact_id="telegram:9",
                subject_name="Siti",
                answers={"nama": "Siti"},
                created_at=AT,
                updated_at=AT,
            )
            case_ids.append(repo.insert_case(tx, case, "contact:telegram:9"))
        return person_id, case_ids

    person_id, case_ids = await store.write(register)
    assert await store.write(lambda tx: contacts.case_ids_of_person(tx, person_id)) == case_ids
    assert await store.write(lambda tx: contacts.case_id_of(tx, "REG-2026-000002")) == case_ids[1]
    assert await store.write(lambda tx: contacts.case_id_of(tx, "REG-2026-999999")) is None

    await store.write(lambda tx: repo.withdraw_consents(tx, "telegram:9", AT + timedelta(days=3)))
    assert await contacts.service_consent(store, "telegram:9") is None


async def test_voice_answers_waiting_for_staff_are_listed_and_typed_out(store: Store) -> None:
    await _contact(store, "telegram:5")
    voice = {"nama": None, "flags": {"nama": {"why": "media", "ref": "voice-1"}}}

    def submit(tx: Tx) -> int:
        case = CaseRecord(
            reference="KTP-2026-000001",
            kind=CaseKind.LOST_KTP,
            contact_id="telegram:5",
            subject_name="Budi",
            answers=voice,
            created_at=AT,
            updated_at=AT,
        )
        return repo.insert_case(tx, case, "contact:telegram:5")

    case_id = await store.write(submit)
    listed = await contacts.cases_with_voice_answers(store, 10)
    assert [case.reference for case in listed] == ["KTP-2026-000001"]
    answers = await store.write(lambda tx: contacts.case_answers(tx, case_id))
    assert answers == voice
    typed = voice | {"nama": "Budi Santoso"}
    await store.write(lambda tx: contacts.set_case_answers(tx, case_id, typed, AT + timedelta(hours=1)))
    case = await repo.get_case_by_id(store, case_id)
    assert case is not None
    assert (case.answers["nama"], case.updated_at) == ("Budi Santoso", AT + timedelta(hours=1))
    assert await store.write(lambda tx: contacts.case_answers(tx, 999)) is None
