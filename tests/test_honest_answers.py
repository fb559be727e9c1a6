"""Every honest answer works: transcripts of people who do not know, forget, talk or send voice notes.

Each class of answer is tried at each registration question it applies to, in Indonesian and English;
a person who knows nothing but their name, and one who answers every typed question with a voice note,
still get a reference number; turn counts are asserted for a self-registration and a field worker's
second person in the same alley.
"""

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import staff_cli
from bot.app import Service
from bot.media import MediaStore
from handlers.forms import flags_of, voice_answers
from handlers.types import Inbound, Media, Reply
from storage import media as shared_media
from storage import repo
from storage.records import CaseKind, CaseRecord, PersonRecord
from tests.dashboard_support import open_desk
from tests.flow_steps import NIK, agree, reference_in, t
from tests.support import Chat, Clock, RecordingChannel, on_both_backends

LANGS = ("id", "en")
PHONE = "+6281234567890"  # the number WhatsApp gives with every message


class Counted(Chat):
    """A chat that counts the person's turns (messages sent, taps included), optionally on a known phone."""

    def __init__(self, *args: Any, channel_phone: str | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.turns = 0
        self.channel_phone = channel_phone

    async def send(self, event: Inbound) -> list[Reply]:
        self.turns += 1
        if self.channel_phone is not None:
            event = Inbound(**{**_fields(event), "channel_phone": self.channel_phone})
        return await super().send(event)


def _fields(event: Inbound) -> dict[str, Any]:
    return {name: getattr(event, name) for name in Inbound.__dataclass_fields__}


def counted(chat: Chat, name: str = "warga", channel_phone: str | None = None) -> Counted:
    return Counted(chat.service, chat.channel, chat.clock, name=name, channel_phone=channel_phone)


async def start_registration(chat: Chat, lang: str, *, for_self: bool = True) -> None:
    await agree(chat, lang)
    await chat.tap(t("menu.registration", lang))
    await chat.tap(t("reg.for_self" if for_self else "reg.for_other", lang))


async def step(chat: Chat) -> str:
    row = await chat.service.db.fetchone(
        "SELECT step FROM conversations WHERE contact_id = ?", (chat.contact,)
    )
    assert row is not None
    return str(row["step"])


async def answers(chat: Chat) -> dict[str, Any]:
    row = await chat.service.db.fetchone(
        "SELECT data FROM conversations WHERE contact_id = ?", (chat.contact,)
    )
    assert row is not None
    return dict(json.loads(row["data"])["answers"])


async def only_person(service: Service, contact: str) -> PersonRecord:
    [person] = await repo.persons_of_contact(service.db, contact)
    return person


async def case_of(service: Service, reference: str) -> CaseRecord:
    case = await repo.get_case(service.db, reference)
    assert case is not None
    return case


def media_ref(service: Service, clock: Clock, kind: str = "voice") -> str:
    """A file as a channel stores it on arrival."""
    mime = "audio/ogg" if kind == "voice" else "image/jpeg"
    return MediaStore(service.settings.store.data_dir).save(b"OggS-bytes", mime=mime, at=clock())


# ------------------------------------------------------------------------------- don't know / don't have

NIK_UNKNOWN = {
    "id": ["tidak tahu", "tdk tau", "ga tahu", "gak tau", "lupa", "belum punya", "ktp hilang"],
    "en": ["don't know", "I forgot", "lost it"],
}


@pytest.mark.parametrize("lang", LANGS)
async def test_dont_know_at_the_nik_goes_on_to_the_birth_date(chat: Chat, lang: str) -> None:
    for number, said in enumerate(NIK_UNKNOWN[lang]):
        person = Chat(chat.service, chat.channel, chat.clock, name=f"nik{number}")
        await start_registration(person, lang)
        await person.say("Siti Aminah")
        await person.say(said)
        assert person.last.text == t("reg.q.birth_date.self", lang), said
        assert (await answers(person))["nik"] is None


BIRTH = [
    ("17-08-1985", "1985-08-17", "17-08-1985"),
    ("agustus 1985", "1985-08", "08-1985"),
    ("1985", "1985", "1985"),
    ("umur 40", "~1986", "1986"),
    ("40 tahun", "~1986", "40"),
]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("said", "stored", "shown"), BIRTH)
async def test_birth_date_as_date_month_year_or_age_is_kept_with_its_precision(
    chat: Chat, service: Service, lang: str, said: str, stored: str, shown: str
) -> None:
    await start_registration(chat, lang)
    await chat.say("Siti Aminah")
    await chat.say("0")
    await chat.say(said)
    assert chat.last.text == t("reg.q.sex.self", lang)
    assert (await answers(chat))["birth_date"] == stored
    for answer in ("perempuan", "0", "jurang mangu timur", "Gang Mawar", "4", "1", "tidak", "1", "1"):
        await chat.say(answer)
    summary = chat.last.text
    line = next(line for line in summary.splitlines() if t("reg.label.birth_date", lang) in line)
    assert shown in line
    if len(stored) != 10:  # approximate: the summary says so
        assert any(word in line for word in ("sekitar", "hanya", "about", "only")), line
    await chat.say("kirim")
    person = await only_person(service, chat.contact)
    precision = {10: "day", 7: "month", 4: "year"}.get(len(stored), "age")
    assert person.birth_precision == precision
    if precision != "day":
        notes = staff_cli.staff_notes(await case_of(service, reference_in(chat.replies[0].text, "REG")), TZ)
        assert any(note.startswith("Tanggal lahir (perkiraan)") for note in notes)


@pytest.mark.parametrize("lang", LANGS)
async def test_someone_who_knows_nothing_but_their_name_gets_a_reference(
    chat: Chat, service: Service, lang: str
) -> None:
    dont_know = {"id": "tidak tahu", "en": "don't know"}[lang]
    await start_registration(chat, lang)
    await chat.say("Siti Aminah")
    asked = []
    while "REG-2026-" not in chat.text:
        asked.append(await step(chat))
        assert len(asked) < 20, asked
        await chat.say("kirim" if asked[-1] == "summary" else dont_know)
        assert not chat.replies[0].text.startswith(("Maaf", "Sorry")), (asked[-1], chat.replies[0].text)
    assert asked == [
        "nik", "birth_date", "sex", "phone", "kecamatan", "address", "household_size", "skills",
        "disaster_victim", "documents", "aid_received", "summary",
    ]  # fmt: skip
    person = await only_person(service, chat.contact)
    assert person.full_name == "Siti Aminah"
    assert (person.nik, person.birth_date, person.sex, person.kecamatan_code, person.address) == (None,) * 5


# ------------------------------------------------------------------------------- everyday words


EVERYDAY = [
    # question, what people type, the value stored
    ("sex", "cewek", "P"),
    ("sex", "cowok", "L"),
    ("sex", "lk", "L"),
    ("sex", "pr", "P"),
    ("household_size", "sendiri", 1),
    ("household_size", "berdua", 2),
    ("household_size", "lima", 5),
    ("household_size", "five people", 5),
    ("skills", "montir", ["montir"]),
    ("skills", "masak, jahit", ["masak", "menjahit"]),
    ("skills", "1 3", ["masak", "menjahit"]),
    ("disaster_victim", "pernah", True),
    ("disaster_victim", "iya", True),
    ("disaster_victim", "belum", False),
    ("disaster_victim", "gak", False),
    ("disaster_victim", "never", False),
    ("aid_received", "belum pernah", []),
]
BEFORE = {
    "sex": ["Siti Aminah", "0", "17-08-1985"],
    "household_size": ["Siti Aminah", NIK, "0", "jurang mangu timur", "Gang Mawar"],
}
BEFORE["skills"] = [*BEFORE["household_size"], "3"]
BEFORE["disaster_victim"] = [*BEFORE["skills"], "1"]
BEFORE["aid_received"] = [*BEFORE["disaster_victim"], "ya", "1"]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("question", "said", "value"), EVERYDAY, ids=[f"{q}-{s}" for q, s, _ in EVERYDAY])
async def test_everyday_words_answer_the_question(
    chat: Chat, lang: str, question: str, said: str, value: object
) -> None:
    await start_registration(chat, lang)
    for answer in BEFORE[question]:
        await chat.say(answer)
    assert await step(chat) == question
    await chat.say(said)
    assert not chat.replies[0].text.startswith(("Maaf", "Sorry")), chat.replies[0].text
    assert (await answers(chat))[question] == value
    assert await step(chat) != question


@pytest.mark.parametrize("lang", LANGS)
async def test_the_number_of_a_single_button_is_typed(chat: Chat, lang: str) -> None:
    """ "1" for "1. Lewati": the photo question of a lost-KTP report has one button."""
    await agree(chat, lang)
    await chat.tap(t("menu.lost_ktp", lang))
    for answer in ("2", "Budi Santoso", "1", "1", "0", "0", "4"):
        await chat.say(answer)
    while await step(chat) != "photo":
        await chat.say("pondok aren" if await step(chat) == "kecamatan" else "1")
    assert [c.label for c in chat.last.choices] == [t("common.skip", lang)]
    await chat.say("1")
    assert await step(chat) == "summary"


@pytest.mark.parametrize("lang", LANGS)
async def test_a_kelurahan_typed_at_the_kecamatan_question_answers_both(chat: Chat, lang: str) -> None:
    await start_registration(chat, lang)
    for answer in ("Siti Aminah", NIK, "0"):
        await chat.say(answer)
    assert chat.last.text == t("reg.q.kecamatan.self", lang)
    await chat.say("jurang mangu timur")
    assert chat.last.text == t("reg.q.address.self", lang)
    stored = await answers(chat)
    assert (stored["kecamatan"], stored["kelurahan"]) == ("36.74.03", "36.74.03.1011")
    await chat.say("KEMBALI")  # back at the place question, which offers the 7 kecamatan again
    assert chat.last.text == t("reg.q.kecamatan.self", lang)
    await chat.say("pondk kacang timr")  # misspelt: asked once, both answered
    assert chat.last.text == t(
        "form.is_it",
        lang,
        name=t("form.place_in", lang, kelurahan="Pondok Kacang Timur", kecamatan="Pondok Aren"),
    )
    await chat.say("ya")
    assert (await answers(chat))["kelurahan"] == "36.74.03.1007"  # Pondok Kacang Timur


async def test_a_nik_fills_birth_date_and_sex_and_a_contradiction_gets_one_gentle_question(
    chat: Chat,
) -> None:
    await start_registration(chat, "id")
    await chat.say("Siti Aminah")
    await chat.say(NIK)
    stored = await answers(chat)
    assert (stored["birth_date"], stored["sex"]) == ("1985-08-17", "P")
    for answer in ("0", "jurang mangu timur", "Gang Mawar", "4", "1", "tidak", "1", "1"):
        await chat.say(answer)
    lines = chat.last.text.splitlines()
    number = next(line.split(".")[0] for line in lines if line.split(". ", 1)[-1].startswith("Jenis kelamin"))
    await chat.say(f"ubah {number}")
    assert chat.last.text == t("reg.q.sex.self")
    await chat.say("laki-laki")  # the NIK says female: asked once, kindly
    assert chat.last.text == t("reg.sex_mismatch", sex=t("sex.male"))
    await chat.say("ya")
    assert (await answers(chat))["sex"] == "L"


# ------------------------------------------------------------------------------- three tries, then staff


@pytest.mark.parametrize("lang", LANGS)
async def test_the_third_unusable_answer_skips_the_question_for_staff(
    chat: Chat, service: Service, lang: str
) -> None:
    await start_registration(chat, lang)
    await chat.say("Siti Aminah")
    await chat.say("0")
    await chat.say("kemarin sore")
    first = chat.replies[0].text
    assert first.startswith(("Maaf", "Sorry")) and "1985" in first  # says exactly what to type
    await chat.say("pokoknya dulu")
    assert chat.replies[0].text == first
    await chat.say("waktu banjir besar")
    assert chat.replies[0].text == t("form.skipped", lang)  # not a third refusal
    assert chat.last.text == t("reg.q.sex.self", lang)
    for answer in ("perempuan", "0", "jurang mangu timur", "Gang Mawar", "4", "1", "tidak", "1", "1"):
        await chat.say(answer)
    assert t("form.flag.later_said", lang, said="waktu banjir besar") in chat.last.text
    await chat.say("kirim")
    case = await case_of(service, reference_in(chat.replies[0].text, "REG"))
    assert flags_of(case.answers) == {"birth_date": {"why": "later", "said": "waktu banjir besar"}}
    notes = staff_cli.staff_notes(case, TZ)
    assert "Perlu perhatian petugas:" in notes
    assert any("Tgl lahir" in n and "petugas akan menanyakan nanti" in n for n in notes)


async def test_a_wrong_nik_three_times_is_skipped_and_never_kept_in_clear(chat: Chat) -> None:
    await start_registration(chat, "id")
    await chat.say("Siti Aminah")
    for typed in ("3674 0157 0885", "3674 0157 0885 00", "1234 5678 9012 3456"):
        await chat.say(typed)
    assert chat.replies[0].text == t("form.skipped")
    assert flags_of(await answers(chat)) == {"nik": {"why": "later"}}


# ------------------------------------------------------------------------------- voice notes and photos

TZ = ZoneInfo("Asia/Jakarta")


@pytest.mark.parametrize("lang", LANGS)
async def test_every_typed_question_answered_by_voice_note(
    chat: Chat, service: Service, clock: Clock, lang: str
) -> None:
    await start_registration(chat, lang)
    voiced: dict[str, str] = {}
    while await step(chat) != "summary":
        name = await step(chat)
        assert name not in voiced, name
        voiced[name] = media_ref(service, clock)
        await chat.send(
            Inbound(contact=chat.contact, at=clock(), media=Media(kind="voice", ref=voiced[name]))
        )
        assert chat.replies[0].text == t("form.kept_voice", lang)
    assert list(voiced) == [
        "full_name", "nik", "birth_date", "sex", "phone", "kecamatan", "address", "household_size", "skills",
        "disaster_victim", "documents", "aid_received",
    ]  # fmt: skip
    assert chat.last.text.count(t("form.flag.voice", lang)) == len(voiced)
    await chat.say("kirim")
    case = await case_of(service, reference_in(chat.replies[0].text, "REG"))
    assert {(a.field, a.ref) for a in voice_answers(case.answers)} == set(voiced.items())
    store = MediaStore(service.settings.store.data_dir)
    assert all(store.path(ref).is_file() for ref in voiced.values())  # kept with the case
    notes = staff_cli.staff_notes(case, TZ)
    assert sum("dijawab dengan pesan suara" in note for note in notes) == len(voiced)
    assert all(any(ref in note for note in notes) for ref in voiced.values())


async def test_a_photo_of_the_card_answers_the_nik_and_a_photo_elsewhere_is_not_kept(
    chat: Chat, service: Service, clock: Clock
) -> None:
    await start_registration(chat, "id")
    store = MediaStore(service.settings.store.data_dir)
    stray = media_ref(service, clock, "photo")
    await chat.send(Inbound(contact=chat.contact, at=clock(), media=Media(kind="photo", ref=stray)))
    assert chat.replies[0].text.startswith("Maaf")  # a photo is no name
    assert not store.path(stray).exists()  # received, but attached to nothing: not kept
    await chat.say("Siti Aminah")
    card = media_ref(service, clock, "photo")
    await chat.send(Inbound(contact=chat.contact, at=clock(), media=Media(kind="photo", ref=card)))
    assert chat.replies[0].text == t("form.kept_photo")
    assert chat.last.text == t("reg.q.birth_date.self")
    assert flags_of(await answers(chat))["nik"]["ref"] == card
    assert store.path(card).is_file()  # attached to the conversation


@on_both_backends
async def test_erasing_a_person_deletes_their_voice_notes(chat: Chat, service: Service, clock: Clock) -> None:
    await start_registration(chat, "id")
    voice = media_ref(service, clock)
    await chat.send(Inbound(contact=chat.contact, at=clock(), media=Media(kind="voice", ref=voice)))
    for answer in (NIK, "0", "jurang mangu timur", "Gang Mawar", "4", "1", "tidak", "1", "1", "kirim"):
        await chat.say(answer)
    store = MediaStore(service.settings.store.data_dir)
    assert store.path(voice).is_file()
    person = await only_person(service, chat.contact)
    assert person.id is not None
    await service.db.write(lambda conn: repo.erase_person(conn, person.id or 0, clock(), "contact:test"))
    assert await service.tidy_media() == [voice]
    assert not store.path(voice).exists()
    # Other processes on the same PostgreSQL database are told to delete their copies too.
    deleted = [(c.ref, c.present) for c in await shared_media.changes(service.db, 0, 10)]
    assert deleted == ([] if service.db.dialect == "sqlite" else [(voice, False)])


# ------------------------------------------------------------------------------- turn counts


async def test_self_registration_typed_in_at_most_16_turns(chat: Chat, service: Service) -> None:
    person = counted(chat, "ketik")
    for said in ("halo", "setuju", "daftar", "1", "Siti Aminah", NIK, "0812 3456 7890", "jurang mangu timur"):
        await person.say(said)
    for said in ("Gang Mawar RT 03/RW 05", "5", "1 2", "tidak", "1 2", "belum", "kirim"):
        await person.say(said)
    assert "REG-2026-000001" in person.replies[0].text
    assert person.turns <= 16, person.turns
    assert person.turns == 15


@pytest.mark.parametrize("lang", LANGS)
async def test_self_registration_tapped_in_at_most_16_turns(chat: Chat, service: Service, lang: str) -> None:
    """Tapping every button (kecamatan and kelurahan too) on a channel that knows the phone number."""
    person = counted(chat, f"tap{lang}", channel_phone=PHONE)
    await person.say("halo")
    if lang == "en":  # choosing English on the notice is the notice's question, not the form's
        await person.tap("Bahasa")
        await person.tap("English")
        person.turns = 1
    await person.tap(t("consent.agree", lang))
    await person.tap(t("menu.registration", lang))
    await person.tap(t("reg.for_self", lang))
    await person.say("Siti Aminah")
    await person.say(NIK)
    assert person.last.text == t("reg.phone_known", lang, phone="0812-3456-7890")
    await person.tap(t("reg.phone_use_known", lang))
    await person.tap("Pondok Aren")
    await person.tap("Jurangmangu Timur")
    await person.say("Gang Mawar RT 03/RW 05")
    await person.say("5")
    await person.tap(t("skill.masak", lang))
    await person.tap(t("common.no", lang))
    await person.tap(t("doc.kk", lang))
    await person.tap(t("received.none", lang))
    await person.tap(t("form.send", lang))
    assert "REG-2026-000001" in person.replies[0].text
    assert person.turns <= 16, person.turns
    me = await only_person(service, person.contact)
    assert (me.phone, me.skills, me.documents, me.sex) == (PHONE, ["masak"], ["kk"], "P")


SECOND_NIK = "3674014506900003"  # born 05-06-1990, female
THIRD_NIK = "3674011203880002"  # born 12-03-1988, male


@pytest.mark.parametrize("lang", LANGS)
async def test_a_field_worker_registers_three_people_in_one_alley(
    chat: Chat, service: Service, lang: str
) -> None:
    worker = counted(chat, f"pendamping{lang}")
    await agree(worker, lang)
    await worker.tap(t("menu.registration", lang))
    await worker.tap(t("reg.for_other", lang))
    for said in ("Budi Santoso", NIK, "0", "jurang mangu timur", "Gang Mawar RT 03/RW 05"):
        await worker.say(said)
    for said in ("4", "1", "tidak", "1 2", "belum", "kirim"):
        await worker.say(said)
    first = reference_in(worker.replies[0].text, "REG")

    worker.turns = 0  # the second person, from the menu shown after the first reference
    await worker.tap(t("menu.registration", lang))
    await worker.tap(t("reg.for_other", lang))
    await worker.say("Ani Rahayu")
    await worker.say(SECOND_NIK)
    await worker.say("0")
    assert worker.last.text == t(
        "reg.q.same_place",
        lang,
        name="Ani Rahayu",
        last="Budi Santoso",
        kelurahan="Jurangmangu Timur",
        address="Gang Mawar RT 03/RW 05",
    )
    await worker.say("ya")
    assert worker.last.text == t("reg.q.household_size.other", lang, name="Ani Rahayu")
    for said in ("3", "tidak ada", "tidak", "1", "belum", "kirim"):
        await worker.say(said)
    second = reference_in(worker.replies[0].text, "REG")
    assert worker.turns <= 12, worker.turns

    worker.turns = 0
    await worker.tap(t("menu.registration", lang))
    await worker.tap(t("reg.for_other", lang))
    for said in ("Joko Widodo", THIRD_NIK, "0", "ya", "2", "4", "tidak", "1", "belum", "kirim"):
        await worker.say(said)
    third = reference_in(worker.replies[0].text, "REG")
    assert worker.turns <= 12

    persons = await repo.persons_of_contact(service.db, worker.contact)
    assert [p.full_name for p in persons] == ["Budi Santoso", "Ani Rahayu", "Joko Widodo"]
    assert {(p.kelurahan_code, p.address) for p in persons} == {("36.74.03.1011", "Gang Mawar RT 03/RW 05")}
    assert [p.agreed_by for p in persons] == ["person"] * 3
    notes = staff_cli.staff_notes(await case_of(service, second), TZ)
    assert notes == ["Didaftarkan oleh pendamping; yang setuju: orang yang didaftarkan"]
    assert [(await case_of(service, ref)).kelurahan_code for ref in (first, second, third)] == [
        "36.74.03.1011"
    ] * 3
    from handlers.registration import persons_registered_by

    assert [p.full_name for p in await persons_registered_by(service.db, worker.contact)] == [
        "Joko Widodo",
        "Ani Rahayu",
        "Budi Santoso",
    ]


@pytest.mark.parametrize("lang", LANGS)
async def test_nothing_is_stored_for_someone_not_asked_and_a_child_needs_a_guardian(
    chat: Chat, service: Service, lang: str
) -> None:
    await agree(chat, lang)
    await chat.tap(t("menu.registration", lang))
    await chat.tap(t("reg.for_not_asked", lang))
    assert chat.replies[0].text.startswith(t("reg.ask_first", lang))
    assert t("menu.prompt", lang) in chat.last.text

    await chat.tap(t("menu.registration", lang))
    await chat.tap(t("reg.for_other", lang))
    await chat.say("Dewi Lestari")
    await chat.say("0")
    await chat.say("12-03-2015")  # eleven years old
    await chat.say("perempuan")
    assert chat.last.text == t("reg.q.guardian_agreed", lang)
    await chat.say("tidak")
    assert chat.replies[0].text.startswith(t("reg.ask_guardian_first", lang, name="Dewi Lestari"))
    assert await repo.persons_of_contact(service.db, chat.contact) == []

    await chat.tap(t("menu.registration", lang))
    await chat.tap(t("reg.for_child", lang))
    for said in ("Dewi Lestari", "0", "12-03-2015", "perempuan", "0", "jurang mangu timur", "Gang Mawar"):
        await chat.say(said)
    for said in ("4", "7", "tidak", "5", "5", "kirim"):
        await chat.say(said)
    case = await case_of(service, reference_in(chat.replies[0].text, "REG"))
    guardian = "Didaftarkan oleh pendamping; yang setuju: orang tua atau wali"
    assert staff_cli.staff_notes(case, TZ) == [guardian]
    person = await only_person(service, chat.contact)
    assert person.agreed_by == "guardian"


def test_staff_notes_are_empty_for_an_ordinary_case() -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    case = CaseRecord(
        reference="REG-2026-000009",
        kind=CaseKind.REGISTRATION,
        contact_id="console:x",
        subject_name="X",
        answers={"birth_date": "1985-08-17"},
        created_at=now,
        updated_at=now,
    )
    assert staff_cli.staff_notes(case, TZ) == []


__all__ = ["RecordingChannel"]


# ------------------------------------------------------------------------------- numbers as displayed

QUESTIONS = ("for_whom", "phone", "kecamatan", "kelurahan", "skills", "disaster_victim", "summary")
TO_QUESTION = {
    "for_whom": [],
    "phone": ["1", "Siti Aminah", NIK],
    "kecamatan": ["1", "Siti Aminah", NIK, "0812 3456 7890"],
}
TO_QUESTION["kelurahan"] = [*TO_QUESTION["kecamatan"], "pondok aren"]
TO_QUESTION["skills"] = [*TO_QUESTION["kelurahan"], "jurang mangu timur", "Gang Mawar", "4"]
TO_QUESTION["disaster_victim"] = [*TO_QUESTION["skills"], "1"]
TO_QUESTION["summary"] = [*TO_QUESTION["disaster_victim"], "ya", "1", "1"]


@pytest.mark.parametrize("question", QUESTIONS)
async def test_the_number_shown_on_whatsapp_and_telegram_is_the_number_typed(
    chat: Chat, question: str
) -> None:
    """Tapping the button numbered n on either platform, and typing n, give the same answer."""
    from bot.channels.telegram.render import render as tg_render
    from bot.channels.whatsapp.render import Wording
    from bot.channels.whatsapp.render import render as wa_render

    async def at_question(name: str) -> Counted:
        person = counted(chat, name, channel_phone=PHONE)
        await agree(person)
        await person.tap(t("menu.registration"))
        for said in TO_QUESTION[question]:
            await person.say(said)
        assert await step(person) == question
        return person

    shown = (await at_question(f"{question}-shown")).last
    wording = Wording(list_button="Lihat", section_title="Pilihan", numbered_hint="Ketik nomornya")
    messages = wa_render(shown, wording).messages
    by_number = dict(enumerate((c.id for c in shown.choices), start=1))
    options = [o for m in messages for o in m.options]
    if options:  # buttons or list rows, each titled with its number
        wa_shown = {int(o.title.split(".")[0]): o.id for o in options}
    else:  # more than a list holds: numbered lines
        lines = [line for m in messages for line in m.body.splitlines() if line[:1].isdigit()]
        wa_shown = {int(line.split(".")[0]): by_number[int(line.split(".")[0])] for line in lines}
    tg = tg_render(shown, chat.service.services.catalog, "id")
    keyboard = getattr(tg.messages[tg.keyboard_at or 0].markup, "inline_keyboard", ())
    tg_shown = {int(str(b.text).split(".")[0]): b.callback_data for row in keyboard for b in row}
    assert wa_shown == tg_shown == by_number
    for number, choice_id in by_number.items():
        tapped = await at_question(f"{question}-tap{number}")
        typed = await at_question(f"{question}-type{number}")
        await tapped.choose(choice_id)
        await typed.say(str(number))
        assert [_plain(r.text) for r in typed.replies] == [_plain(r.text) for r in tapped.replies]
        assert await _state(typed) == await _state(tapped), (question, number)


def _plain(text: str) -> str:
    return re.sub(r"REG-2026-\d{6}", "REG", text)


async def _state(chat: Chat) -> tuple[str, str, dict[str, Any]]:
    """Where the conversation stands and its answers, sealed numbers by their hash (the ciphertext varies)."""
    row = await chat.service.db.fetchone(
        "SELECT flow, step, data FROM conversations WHERE contact_id = ?", (chat.contact,)
    )
    assert row is not None
    answers = json.loads(row["data"]).get("answers", {})
    plain = {k: (v["h"] if isinstance(v, dict) and "h" in v else v) for k, v in answers.items()}
    return row["flow"], row["step"], plain


async def test_the_case_page_plays_a_voice_answer_and_names_a_skipped_question(
    tmp_path: Path, clock: Clock
) -> None:
    async with open_desk(tmp_path / "data", clock) as desk:
        channel = desk.service.dispatcher.channels["console"]
        chat = Chat(desk.service, channel, clock)
        await start_registration(chat, "id")
        await chat.say("Siti Aminah")
        voice = media_ref(desk.service, clock)
        await chat.send(Inbound(contact=chat.contact, at=clock(), media=Media(kind="voice", ref=voice)))
        for wrong in ("kemarin", "dulu", "lama"):
            await chat.say(wrong)
        assert chat.replies[0].text == t("form.skipped")
        for answer in (
            "perempuan",
            "0",
            "jurang mangu timur",
            "Gang Mawar",
            "4",
            "1",
            "tidak",
            "1",
            "1",
            "kirim",
        ):
            await chat.say(answer)
        reference = reference_in(chat.replies[0].text, "REG")
        await desk.signed_in("viewer")
        page = await desk.client.get(f"/cases/{reference}")
        assert page.status_code == 200
        assert "dijawab dengan pesan suara" in page.text
        assert f'<audio controls src="/{voice}"' in page.text
        assert "petugas akan menanyakan nanti (diketik: lama)" in page.text
        played = await desk.client.get(f"/{voice}")
        assert played.status_code == 200 and played.content == b"OggS-bytes"
