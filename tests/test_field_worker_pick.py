"""A field worker picks a person they registered for a lost-KTP report or an aid request."""

import pytest

from bot.app import Service
from storage import repo
from tests.flow_steps import agree, case, person_named, reference_in, register, t
from tests.support import Chat

PEOPLE = ["Siti Aminah", "Budi Santoso", "Ani Lestari"]
KELURAHAN = "Jurangmangu Timur"


async def register_three(chat: Chat, lang: str) -> None:
    await agree(chat, lang)
    for name in PEOPLE:
        await register(chat, name=name, self_=False, kelurahan=KELURAHAN, lang=lang)


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_lost_ktp_for_the_second_person_without_typing_their_data_again(
    chat: Chat, service: Service, lang: str
) -> None:
    """Seen: a field worker could not pick an already registered person for a lost-KTP report."""
    await register_three(chat, lang)
    budi = await person_named(service, chat.contact, "Budi Santoso")

    await chat.tap(t("menu.lost_ktp", lang))
    await chat.tap(t("ktp.whose.other", lang))
    question = chat.last
    listed = ["Ani Lestari", "Budi Santoso", "Siti Aminah", t("pick.someone_new", lang)]  # newest first
    assert [c.label for c in question.choices] == listed
    assert question.text == t(
        "ktp.q.person", lang, lines="\n".join(f"{n}. {name}" for n, name in enumerate(listed, start=1))
    )
    await chat.say("2")  # the typed number of the second registered person
    # Name, NIK and place come from the registration: the next question is about the card itself.
    assert chat.last.text == t("ktp.q.what_happened.other", lang, name="Budi Santoso")
    await chat.tap(t("ktp.what.rusak", lang))
    await chat.tap(t("ktp.when.week", lang))
    assert chat.last.text == t("ktp.q.kk.other", lang, name="Budi Santoso")  # never asked before
    await chat.say("0")
    await chat.tap(t("doc.none", lang))  # no documents left
    assert chat.last.text == t("ktp.q.photo", lang)  # the place came from the registration
    await chat.say("0")  # no photo
    summary = chat.last.text
    assert "Budi Santoso" in summary and KELURAHAN in summary
    assert t("ktp.q.kecamatan.other", lang, name="Budi Santoso") not in chat.text
    await chat.tap(t("form.send", lang))
    reference = reference_in(chat.replies[0].text, "KTP")
    reported = await case(service, reference)
    assert reported.person_id == budi.id
    assert reported.subject_name == "Budi Santoso"
    assert reported.kelurahan_code == budi.kelurahan_code


async def test_aid_for_a_registered_person_and_someone_new(chat: Chat, service: Service) -> None:
    await register_three(chat, "id")
    siti = await person_named(service, chat.contact, "Siti Aminah")
    await chat.tap(t("menu.aid"))
    await chat.tap(t("aid.for_other"))
    await chat.say("siti aminah")  # the name typed works too
    assert chat.last.text == t("aid.q.kind")
    await chat.tap(t("aid.kind.basic"))
    await chat.say("Beras dan minyak untuk satu keluarga")
    await chat.tap(t("aid.urgency.week"))
    await chat.say("4")
    assert chat.last.text == t("aid.q.photo")  # the place came from the registration
    await chat.say("0")
    await chat.tap(t("form.send"))
    reference = reference_in(chat.replies[0].text, "BAN")
    requested = await case(service, reference)
    assert requested.person_id == siti.id and requested.subject_name == "Siti Aminah"

    # Someone never registered: the name is asked as before, and the case has no person.
    await chat.tap(t("menu.aid"))
    await chat.tap(t("aid.for_other"))
    await chat.say("7")
    assert chat.replies[0].text == t("pick.retry", count=4)
    await chat.tap(t("pick.someone_new"))
    assert chat.last.text == t("aid.q.name")
    await chat.say("menu")
    # Typing a new name at the list is the name of someone new: no extra question.
    await chat.tap(t("menu.aid"))
    await chat.tap(t("resume.restart"))
    await chat.tap(t("aid.for_other"))
    await chat.say("Siti Rahma")  # close to Siti Aminah, but someone else
    assert chat.last.text == t("aid.q.kind")
    await chat.say("kembali")
    assert chat.last.text.startswith(t("aid.q.person", lines="")[:20])


async def test_without_registered_people_nothing_changes(chat: Chat, service: Service) -> None:
    await agree(chat)
    await chat.tap(t("menu.lost_ktp"))
    await chat.tap(t("ktp.whose.other"))
    assert chat.last.text == t("ktp.q.owner_name.other")
    assert await repo.persons_of_contact(service.db, chat.contact) == []
