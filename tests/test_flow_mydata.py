"""Data saya: view (masked), correct a field, pick among several persons, delete one, withdraw consent."""

from bot.app import Service
from storage import repo
from storage.repo import ERASED
from tests.flow_steps import (
    NIK,
    NIK_MASKED,
    NIK_TYPED,
    agree,
    case,
    person_named,
    register,
    rows,
    sent_texts,
    t,
)
from tests.support import Chat, Clock


async def open_my_data(chat: Chat, lang: str = "id") -> str:
    await chat.tap(t("menu.my_data", lang))
    return chat.last.text


async def test_view_and_correct_own_data(chat: Chat, service: Service) -> None:
    await agree(chat)
    await chat.tap(t("menu.my_data"))
    assert chat.last.text == t("mydata.none") + "\n\n" + t("menu.prompt")

    reference = await register(chat, name="Siti Aminah", nik=NIK_TYPED)
    view = await open_my_data(chat)
    assert view.startswith(t("mydata.view", lines="")[:10])
    assert f"{t('reg.label.full_name')}: Siti Aminah" in view
    assert f"{t('reg.label.nik')}: {NIK_MASKED}" in view
    assert f"{t('reg.label.kecamatan')}: Pondok Aren" in view
    assert [c.label for c in chat.last.choices] == [
        t("mydata.edit"),
        t("mydata.delete"),
        t("mydata.withdraw"),
        t("mydata.back_to_menu"),
        t("mydata.copy"),
    ]

    # Moving to another kecamatan asks the kelurahan again, then saves.
    await chat.tap(t("mydata.edit"))
    assert chat.last.text == t("form.edit_which")
    await chat.tap(t("reg.label.kecamatan"))
    assert chat.last.text == t("reg.q.kecamatan.self")
    await chat.tap("Serpong Utara")
    assert chat.last.text == t("reg.q.kelurahan", kecamatan="Serpong Utara")
    await chat.say("jelupang")
    assert chat.replies[0].text == t("mydata.saved")
    assert f"{t('reg.label.kelurahan')}: Jelupang" in chat.last.text
    me = await person_named(service, chat.contact, "Siti Aminah")
    assert (me.kecamatan_code, me.kelurahan_code) == ("36.74.02", "36.74.02.1006")
    assert me.nik is not None and service.services.sealer.open(me.nik) == NIK  # untouched fields kept

    # The name, typed as a number from the list.
    await chat.tap(t("mydata.edit"))
    await chat.say("1")
    assert chat.last.text == t("reg.q.full_name.self")
    await chat.say("siti aminah putri")
    assert chat.replies[0].text == t("mydata.saved")
    me = await person_named(service, chat.contact, "Siti Aminah Putri")
    assert me.kelurahan_code == "36.74.02.1006" and me.household_size == 3

    registration = await case(service, reference)
    assert registration.id is not None
    actions = [e.action for e in await repo.case_events(service.db, registration.id)]
    assert actions.count("data_corrected") == 2
    assert NIK not in sent_texts(chat)

    await chat.tap(t("mydata.back_to_menu"))
    assert chat.last.text == t("menu.prompt")


async def test_field_worker_picks_a_person_and_deletes_one(chat: Chat, service: Service) -> None:
    await agree(chat)
    budi_ref = await register(chat, name="Budi Santoso", self_=False)
    ani_ref = await register(chat, name="Ani Rahayu", self_=False, nik=NIK)
    await open_my_data(chat)
    assert chat.last.text == t("mydata.pick")
    assert [c.label for c in chat.last.choices] == ["Budi Santoso", "Ani Rahayu"]
    await chat.say("9")
    assert chat.replies[0].text == t("err.choose", count=2)
    assert chat.last.text == t("mydata.pick")
    await chat.tap("Ani")
    assert f"{t('reg.label.full_name')}: Ani Rahayu" in chat.last.text
    assert f"{t('reg.label.nik')}: {NIK_MASKED}" in chat.last.text

    await chat.tap(t("mydata.delete"))
    assert chat.last.text == t("mydata.delete_confirm", name="Ani Rahayu")
    await chat.tap(t("common.no"))  # changed her mind: back to the data
    assert f"{t('reg.label.full_name')}: Ani Rahayu" in chat.last.text
    await chat.tap(t("mydata.delete"))
    await chat.tap(t("common.yes"))
    assert chat.last.text == t("mydata.deleted", name="Ani Rahayu") + "\n\n" + t("menu.prompt")

    ani = (
        await rows(
            service,
            "SELECT * FROM persons WHERE id = (SELECT person_id FROM cases WHERE reference = ?)",
            ani_ref,
        )
    )[0]
    assert ani["deleted_at"] is not None and ani["full_name"] == ERASED
    assert ani["nik"] is None and ani["nik_hash"] is None and ani["birth_date"] is None
    ani_case = await case(service, ani_ref)
    assert ani_case.answers == {} and ani_case.subject_name == ERASED and ani_case.nik_hash is None
    assert ani_case.id is not None
    assert [e.action for e in await repo.case_events(service.db, ani_case.id)][-1] == "data_deleted"
    budi_case = await case(service, budi_ref)
    assert budi_case.subject_name == "Budi Santoso" and budi_case.answers["full_name"] == "Budi Santoso"

    # One person left: shown directly.
    await open_my_data(chat)
    assert f"{t('reg.label.full_name')}: Budi Santoso" in chat.last.text
    assert chat.last.text.startswith(t("mydata.view", lines="")[:10])


async def test_withdraw_consent_erases_everything(chat: Chat, service: Service) -> None:
    await agree(chat)
    reg_ref = await register(chat, name="Siti Aminah", nik=NIK)
    other_ref = await register(chat, name="Budi Santoso", self_=False)
    await chat.tap(t("menu.talk"))
    await chat.say("Tolong hubungi saya di 0812 3456 7890.")
    await chat.tap(t("menu.aid"))
    await chat.tap(t("aid.for_other"))
    await chat.say("Dewi Lestari")  # an unfinished draft, kept when leaving for the menu
    await chat.say("menu")
    assert chat.last.text == t("menu.draft_kept") + "\n\n" + t("menu.prompt")

    await open_my_data(chat)
    await chat.tap("Siti")
    await chat.tap(t("mydata.withdraw"))
    assert chat.last.text == t("mydata.withdraw_confirm", name="Siti Aminah")
    await chat.say("ya")
    assert [r.text for r in chat.replies] == [t("mydata.withdrawn")]

    persons = await rows(service, "SELECT * FROM persons WHERE registered_by = ?", chat.contact)
    assert len(persons) == 2
    assert all(p["deleted_at"] is not None and p["full_name"] == ERASED and p["nik"] is None for p in persons)
    for reference in (reg_ref, other_ref, "PSN-2026-000001"):
        erased = await case(service, reference)
        assert erased.answers == {} and erased.subject_name == ERASED, reference
    consents = await rows(service, "SELECT * FROM consents WHERE contact_id = ?", chat.contact)
    # The service consent and the consent to information messages: both withdrawn.
    assert [c["purpose"] for c in consents] == ["service", "broadcast"]
    assert all(c["withdrawn_at"] is not None for c in consents)
    contact = await repo.get_contact(service.db, chat.contact)
    assert contact is not None and contact.consent == "withdrawn"
    conversation = await rows(service, "SELECT data FROM conversations WHERE contact_id = ?", chat.contact)
    assert "Dewi" not in conversation[0]["data"]  # the kept draft is gone too

    await chat.say("halo lagi")
    assert chat.last.text == t("consent.notice")
    await chat.tap(t("consent.agree"))
    await chat.tap(t("menu.my_data"))
    assert chat.last.text == t("mydata.none") + "\n\n" + t("menu.prompt")
    await chat.tap(t("menu.aid"))
    assert chat.last.text == t("aid.q.for_whom")  # no draft offered: it was erased


async def test_my_data_in_english(chat: Chat, service: Service) -> None:
    await agree(chat, "en")
    await chat.tap(t("menu.my_data", "en"))
    assert chat.last.text == t("mydata.none", "en") + "\n\n" + t("menu.prompt", "en")
    await register(chat, name="Rina Wati", nik=NIK, lang="en")
    view = await open_my_data(chat, "en")
    assert view.startswith(t("mydata.view", "en", lines="")[:10])
    assert f"{t('reg.label.nik', 'en')}: {NIK_MASKED}" in view
    assert f"{t('reg.label.household_size', 'en')}: 3" in view
    await chat.tap(t("mydata.edit", "en"))
    assert chat.last.text == t("form.edit_which", "en")
    await chat.tap(t("reg.label.household_size", "en"))
    assert chat.last.text == t("reg.q.household_size.self", "en")
    await chat.say("6")
    assert chat.replies[0].text == t("mydata.saved", "en")
    assert f"{t('reg.label.household_size', 'en')}: 6" in chat.last.text
    assert (await person_named(service, chat.contact, "Rina Wati")).household_size == 6
    await chat.tap(t("mydata.delete", "en"))
    assert chat.last.text == t("mydata.delete_confirm", "en", name="Rina Wati")
    await chat.say("yes")
    assert chat.last.text == t("mydata.deleted", "en", name="Rina Wati") + "\n\n" + t("menu.prompt", "en")
    assert await repo.persons_of_contact(service.db, chat.contact) == []


async def test_correction_left_idle_can_be_started_again(chat: Chat, service: Service, clock: Clock) -> None:
    await agree(chat)
    await register(chat, name="Siti Aminah")
    await open_my_data(chat)
    await chat.tap(t("mydata.edit"))
    await chat.tap(t("reg.label.address"))
    assert chat.last.text == t("reg.q.address.self")
    clock.advance(hours=3)
    await chat.say("Jl. Kenanga 5")
    assert chat.last.text == t("resume.prompt", title=t("mydata.edit_title"))
    await chat.tap(t("resume.restart"))  # starting a correction over means choosing again
    assert chat.last.text.startswith(t("mydata.view", lines="")[:10])
    await chat.tap(t("mydata.edit"))
    await chat.tap(t("reg.label.address"))
    assert chat.last.text == t("reg.q.address.self")
    await chat.say("Jl. Kenanga 5 RT 02/RW 03")
    assert chat.replies[0].text == t("mydata.saved")
    assert (await person_named(service, chat.contact, "Siti Aminah")).address == "Jl. Kenanga 5 RT 02/RW 03"
