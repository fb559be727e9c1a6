"""Registration transcripts, in Indonesian and English, for oneself and by a field worker."""

import gc
import sqlite3
from pathlib import Path

from bot.app import Service
from handlers.i18n import Catalog
from handlers.turn import Turn
from storage import repo
from tests.support import Chat, on_both_backends

CATALOG = Catalog.load()


def t(key: str, lang: str = "id", **params: object) -> str:
    return CATALOG.text(lang, key, **params)


async def agree(chat: Chat) -> None:
    replies = await chat.say("halo")
    assert replies[0].text == t("consent.notice")
    await chat.tap(t("consent.agree"))
    assert t("menu.prompt") in chat.last.text


async def register_self(chat: Chat) -> str:
    """Walk a full self-registration with typed and tapped answers; return the reference."""
    await chat.tap(t("menu.registration"))
    assert chat.last.text == t("reg.q.for_whom")
    await chat.tap(t("reg.for_self"))
    assert chat.last.text == t("reg.q.full_name.self")
    await chat.say("siti aminah")
    assert chat.last.text == t("reg.q.nik.self")
    await chat.say("3674 0157 0885 0001")  # the NIK answers the birth date and sex questions
    assert chat.last.text == t("reg.q.phone.self")
    assert chat.last.request == "phone"
    await chat.share_phone("+62 812-3456-7890")
    assert chat.last.text == t("reg.q.kecamatan.self")
    assert len(chat.last.choices) == 7
    await chat.say("pondok arn")
    assert chat.last.text == t("form.is_it", name="Pondok Aren")
    await chat.tap(t("common.yes"))
    assert chat.last.text == t("reg.q.kelurahan", kecamatan="Pondok Aren")
    await chat.say("jurang mangu timur")
    assert chat.last.text == t("reg.q.address.self")
    assert chat.replies[-1].request == "location"
    await chat.share_location(-6.2754, 106.7174)
    assert chat.last.text == t("form.address_after_location")
    await chat.say("Jl. H. Sarmili RT 03/RW 05, dekat lapak")
    assert chat.last.text == t("reg.q.household_size.self")
    await chat.say("5 orang")
    assert chat.last.text.startswith(t("reg.q.skills.self"))
    await chat.say("1 2")
    assert chat.last.text == t("reg.q.disaster_victim.self")
    await chat.say("ya")
    assert chat.last.text.startswith(t("reg.q.documents.self"))
    await chat.tap(t("doc.kk"))  # one tap is the whole answer
    assert chat.last.text.startswith(t("reg.q.aid_received.self"))
    await chat.tap(t("received.none"))
    summary = chat.last.text
    assert "Siti Aminah" in summary
    assert "3674********0001" in summary
    assert "3674015708850001" not in summary
    assert "Jurangmangu Timur" in summary
    # Read from the NIK, shown so a mistake can be corrected.
    assert f"{t('reg.label.birth_date')}: 17-08-1985" in summary
    assert f"{t('reg.label.sex')}: {t('sex.female')}" in summary
    await chat.tap(t("form.send"))
    done = chat.replies[0].text
    assert "REG-2026-000001" in done
    return "REG-2026-000001"


@on_both_backends
async def test_self_registration_creates_case_and_person(chat: Chat, service: Service) -> None:
    await agree(chat)
    reference = await register_self(chat)
    assert t("menu.prompt") in chat.last.text  # back at the menu, with a way forward
    case = await repo.get_case(service.db, reference)
    assert case is not None
    assert case.kind == "registration" and case.status == "baru"
    assert case.subject_name == "Siti Aminah"
    assert case.kecamatan_code == "36.74.03"
    assert case.kelurahan_code == "36.74.03.1011"
    persons = await repo.persons_of_contact(service.db, chat.contact)
    assert len(persons) == 1
    person = persons[0]
    assert person.is_self and person.phone == "+6281234567890"
    assert person.birth_date is not None and person.birth_date.isoformat() == "1985-08-17"
    assert person.household_size == 5
    assert person.skills == ["masak", "rias"]
    assert person.documents == ["kk"] and person.aid_received == []
    assert person.disaster_victim is True
    assert person.nik is not None and service.services.sealer.open(person.nik) == "3674015708850001"


@on_both_backends
async def test_english_registration_by_field_worker(chat: Chat, service: Service) -> None:
    await chat.say("hello")
    await chat.tap("Bahasa")
    await chat.tap("English")
    assert chat.replies[0].text == t("language.done", "en")
    assert chat.last.text == t("consent.notice", "en")
    await chat.tap(t("consent.agree", "en"))
    await chat.tap(t("menu.registration", "en"))
    await chat.tap(t("reg.for_other", "en"))
    assert chat.last.text == t("reg.q.full_name.other", "en")
    await chat.say("BUDI SANTOSO")
    assert chat.last.text == t("reg.q.nik.other", "en", name="Budi Santoso")
    await chat.say("0")
    await chat.say("5/6/79")
    await chat.tap(t("sex.male", "en"))
    assert chat.last.text == t("reg.q.phone.other", "en", name="Budi Santoso")
    assert chat.last.request is None  # the worker's own number is not offered for someone else
    await chat.say("0")
    await chat.tap("Pamulang")
    await chat.say("pamulng barat")
    assert chat.last.text == t("form.is_it", "en", name="Pamulang Barat")
    await chat.say("yes")
    await chat.say("Gang Mawar, near the mosque")
    assert chat.last.text == t("reg.q.household_size.other", "en", name="Budi Santoso")
    await chat.say("three")  # a number word is a number
    await chat.tap(t("skill.none", "en"))
    await chat.say("no")
    await chat.say("1, 2")
    await chat.say("pkh")
    assert chat.last.text.startswith(t("form.summary", "en", title=t("reg.title", "en"), lines="")[:10])
    await chat.say("send")
    assert "REG-2026-000001" in chat.replies[0].text
    persons = await repo.persons_of_contact(service.db, chat.contact)
    assert [p.full_name for p in persons] == ["Budi Santoso"]
    assert persons[0].nik is None and persons[0].phone is None and not persons[0].is_self


async def test_database_file_holds_no_clear_nik(chat: Chat, service: Service, tmp_path: Path) -> None:
    await agree(chat)
    await register_self(chat)
    raw = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("intake.sqlite3*"))
    assert b"3674015708850001" not in raw
    assert b"3674 0157 0885 0001" not in raw
    copy = sqlite3.connect(tmp_path / "data" / "intake.sqlite3")
    dump = "\n".join(copy.iterdump())
    copy.close()
    assert "3674015708850001" not in dump


async def test_a_sent_registration_leaves_nothing_for_the_cycle_collector(
    chat: Chat, service: Service
) -> None:
    """The step that sends a form queues writes that refer back to its turn. They are dropped once
    committed, so the turn is freed at once: nothing of it waits for a pass of the cycle collector,
    which stops every conversation (and the store's writer) while it runs."""
    await agree(chat)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a pass finds unreachable is kept in gc.garbage
    try:
        reference = await register_self(chat)
        await service.db.write(lambda tx: None)  # the writer lets go of the jobs it ran last
        gc.collect()
        left = [found for found in gc.garbage if isinstance(found, Turn)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert reference == "REG-2026-000001"
    assert left == []
