"""Bad input at every kind of question: a kind "Maaf" re-prompt, the same question, nothing lost.

Each case walks a new contact to one question (in Indonesian or English), sends something unusable and
checks the reply is the catalog's explanation followed by the very same question, that the stored
conversation (step and every earlier answer) is unchanged, and that the tables are all still there.
The walk helpers here are shared with tests/test_global_words.py.
"""

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.app import Service
from handlers.i18n import Catalog
from handlers.types import Reply
from storage import repo
from tests.support import Chat

CATALOG = Catalog.load()
SORRY = {"id": "Maaf", "en": "Sorry"}
LANGS = ("id", "en")


def t(key: str, lang: str = "id", **params: object) -> str:
    """A catalog sentence."""
    return CATALOG.text(lang, key, **params)


# --------------------------------------------------------------------------------------- walking


@dataclass(frozen=True, slots=True)
class Input:
    """Something a user sends: text, a pressed button, a photo, or a shared location."""

    text: str | None = None
    choice: str | None = None
    photo: bool = False
    location: tuple[float, float] | None = None


async def send(chat: Chat, value: Input) -> list[Reply]:
    """Send one input and return the replies it caused."""
    if value.choice is not None:
        return await chat.choose(value.choice)
    if value.photo:
        return await chat.send_media("photo", "photo-1")
    if value.location is not None:
        return await chat.share_location(*value.location)
    assert value.text is not None
    return await chat.say(value.text)


def say(text: str) -> Input:
    return Input(text=text)


def press(choice: str) -> Input:
    return Input(choice=choice)


# One good answer per question, in the order each form asks them (for a contact not yet registered).
WALKS: dict[str, tuple[tuple[str, Input], ...]] = {
    "registration": (
        ("for_whom", press("for_whom:self")),
        ("full_name", say("siti aminah")),
        # Without a NIK, so the birth date and sex are asked (a valid NIK answers both).
        ("nik", say("0")),
        ("birth_date", say("17-08-1985")),
        ("sex", say("perempuan")),
        ("phone", say("081234567890")),
        ("kecamatan", say("pondok aren")),
        ("kelurahan", say("jurang mangu timur")),
        ("address", say("Jl. H. Sarmili RT 03/RW 05")),
        ("household_size", say("5")),
        ("skills", say("1 2")),
        ("disaster_victim", say("ya")),
        ("documents", say("1 2")),
        ("aid_received", press("aid_received:none")),
    ),
    "lost_ktp": (
        ("whose", press("whose:family")),
        ("owner_name", say("budi santoso")),
        ("what_happened", press("what_happened:terbakar")),
        ("when", press("when:week")),
        ("nik", say("0")),
        ("kk", say("3674011708850001")),
        ("documents_left", say("1 2")),
        ("kecamatan", say("pamulang")),
        ("kelurahan", say("pamulang barat")),
        ("photo", Input(photo=True)),
    ),
    "aid": (
        ("for_whom", press("for_whom:other")),
        ("beneficiary_name", say("budi santoso")),
        ("aid_kind", press("aid_kind:basic")),
        ("description", say("Butuh beras untuk keluarga")),
        ("urgency", press("urgency:week")),
        ("people", say("4")),
        ("kecamatan", say("ciputat")),
        ("kelurahan", say("serua")),
        ("photo", say("0")),
    ),
}
SUMMARY = "summary"


@dataclass(frozen=True, slots=True)
class Stored:
    """A contact's conversation as committed."""

    flow: str
    step: str
    data: dict[str, Any]

    @property
    def answers(self) -> dict[str, Any]:
        return dict(self.data.get("answers", {}))


async def stored(chat: Chat) -> Stored:
    """The contact's conversation row."""
    row = await chat.service.db.fetchone(
        "SELECT flow, step, data FROM conversations WHERE contact_id = ?", (chat.contact,)
    )
    assert row is not None
    return Stored(row["flow"], row["step"], json.loads(row["data"]))


async def contact_flags(chat: Chat) -> tuple[int, int]:
    """(opted_out, unreachable) of the contact."""
    row = await chat.service.db.fetchone(
        "SELECT opted_out, unreachable FROM contacts WHERE id = ?", (chat.contact,)
    )
    assert row is not None
    return int(row["opted_out"]), int(row["unreachable"])


async def table_names(service: Service) -> list[str]:
    """Every table in the store, sorted."""
    rows = await service.db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    return [str(row["name"]) for row in rows]


async def greet(chat: Chat, lang: str = "id") -> list[Reply]:
    """First message from a new contact (switching to English when asked); returns the notice replies."""
    replies = await chat.say("halo")
    assert replies[-1].text == t("consent.notice")
    if lang == "en":
        await chat.choose("consent:language")
        replies = await chat.choose("language:en")
        assert replies[-1].text == t("consent.notice", "en")
    return replies


async def agree(chat: Chat, lang: str = "id") -> None:
    """A new contact reaches the main menu."""
    await greet(chat, lang)
    await chat.choose("consent:yes_info")
    assert t("menu.prompt", lang) in chat.last.text


async def answer_up_to(
    chat: Chat, form: str, step: str, asked: dict[str, Reply] | None = None
) -> list[Reply]:
    """Answer the open `form` from where it stands until it asks `step`; return the replies asking it.

    `asked`, when given, collects the reply that asked each question on the way.
    """
    walk = WALKS[form]
    names = [name for name, _ in walk]
    start = (await stored(chat)).step
    for name, good in walk[names.index(start) if start in names else len(walk) :]:
        current = await stored(chat)
        if asked is not None:
            asked[current.step] = chat.last
        if current.step == step:
            return chat.replies
        assert current.step == name, f"expected to be at {name}, the form is at {current.step}"
        await send(chat, good)
    assert (await stored(chat)).step == step == SUMMARY, f"{form} has no question {step}"
    if asked is not None:
        asked[SUMMARY] = chat.last
    return chat.replies


async def walk_to(chat: Chat, form: str, step: str, lang: str = "id") -> list[Reply]:
    """From a new contact: agree, open `form` and answer it until it asks `step`."""
    await agree(chat, lang)
    await chat.choose(f"menu:{form}")
    return await answer_up_to(chat, form, step)


async def register(chat: Chat, lang: str = "id") -> None:
    """A new contact registers themselves completely and is back at the menu."""
    await walk_to(chat, "registration", SUMMARY, lang)
    await chat.choose("summary:send")
    assert "REG-2026-" in chat.replies[0].text


# --------------------------------------------------------------------------------------- places

# A kind of question -> how to reach it. "confirm" is a "betul?" after a misspelt kecamatan;
# "cancel_confirm" is "are you sure?" after BATAL; "consent" is the privacy notice.
KINDS: dict[str, tuple[str, str]] = {
    "text": ("registration", "address"),
    "name": ("registration", "full_name"),
    "nik": ("registration", "nik"),
    "kk": ("lost_ktp", "kk"),
    "date": ("registration", "birth_date"),
    "phone": ("registration", "phone"),
    "count": ("registration", "household_size"),
    "choice": ("registration", "sex"),
    "yes_no": ("registration", "disaster_victim"),
    "multi": ("registration", "skills"),
    "kecamatan": ("registration", "kecamatan"),
    "kelurahan": ("registration", "kelurahan"),
    "photo": ("lost_ktp", "photo"),
    "description": ("aid", "description"),
    "summary": ("registration", SUMMARY),
    "confirm": ("registration", "kecamatan"),
    "cancel_confirm": ("registration", "nik"),
}


async def reach(chat: Chat, kind: str, lang: str) -> Reply:
    """Bring a new contact to a question of `kind`; return the reply that asks it."""
    if kind == "consent":
        return (await greet(chat, lang))[-1]
    form, step = KINDS[kind]
    await walk_to(chat, form, step, lang)
    if kind == "confirm":
        await chat.say("pondok arn")
        assert chat.last.text == t("form.is_it", lang, name="Pondok Aren")
    elif kind == "cancel_confirm":
        await chat.say("BATAL")
        assert chat.last.text == t("form.cancel_confirm", lang, title=t("reg.title", lang))
    return chat.last


# --------------------------------------------------------------------------------------- the table

INPUTS: dict[str, Input] = {
    "empty": say(""),
    "blank": say("   \n\t  "),
    "long": say("a" * 5000),
    "emoji": say("🙏🙏🙏"),
    "control": say("\x00\x07\x1b[31m"),
    "sql": say("'; DROP TABLE persons; --"),
    "photo": Input(photo=True),
    "location": Input(location=(-6.2754, 106.7174)),
    "nik_12_digits": say("3674 0157 0885"),
    "nik_letters": say("abcdefghijklmnop"),
    "nik_impossible_date": say("3674013213850001"),
    "kk_12_digits": say("3674 0117 0885"),
    "kk_letters": say("nomor KK saya"),
    "kk_impossible_date": say("3674013202850001"),
    "feb_31": say("31-02-1985"),
    "month_13": say("17-13-1985"),
    "future": say("17-08-2030"),
    "zero": say("0"),
    "too_many": say("999"),
    "no_digit": say("banyak"),
    "bad_phone": say("12345"),
    "unknown_kelurahan": say("kelurahan xyz"),
    "unknown_kecamatan": say("kecamatan xyz"),
    "out_of_range": say("9"),
    "bad_location": Input(location=(999.0, 999.0)),
    "edit_99": say("ubah 99"),
}


@dataclass(frozen=True, slots=True)
class Err:
    """The catalog text expected before the question is asked again."""

    key: str
    params: dict[str, object] = field(default_factory=dict)


def _all(key: str, *, skip: tuple[str, ...] = (), **params: object) -> dict[str, Err]:
    """The same explanation for every generic bad input except `skip`."""
    generic = ("empty", "blank", "long", "emoji", "control", "sql", "photo", "location")
    return {name: Err(key, params) for name in generic if name not in skip}


LONG = Err("err.too_long", {"max": 100})
EMPTY = Err("err.empty")
CHOOSE_2 = _all("err.choose", count=2)

EXPECT: dict[str, dict[str, Err]] = {
    # SQL-like text is a fine address: it is stored as text (see test_sql_like_text_is_stored_as_text).
    # A shared location is kept with the address (then the address is asked for); a bad one is not text.
    "text": _all("err.expect_text", skip=("sql", "location"))
    | {
        "long": Err("err.too_long", {"max": 300}),
        "emoji": Err("err.too_short"),
        "control": EMPTY,
        "bad_location": Err("err.expect_text"),
    },
    "name": _all("err.expect_text")
    | {"long": LONG, "emoji": Err("err.name_letters"), "control": EMPTY, "sql": Err("err.name_letters")},
    # A photo of the card is an answer at the NIK and KK questions (kept for staff).
    "nik": _all("err.nik_digits", skip=("photo",))
    | {
        "long": LONG,
        "control": EMPTY,
        "nik_12_digits": Err("err.nik_length", {"count": 12}),
        "nik_letters": Err("err.nik_digits"),
        "nik_impossible_date": Err("err.nik_invalid"),
    },
    "kk": _all("err.kk_digits", skip=("photo",))
    | {
        "long": LONG,
        "control": EMPTY,
        "kk_12_digits": Err("err.kk_length", {"count": 12}),
        "kk_letters": Err("err.kk_digits"),
        "kk_impossible_date": Err("err.kk_invalid"),
    },
    "date": _all("err.expect_date")
    | {
        "long": LONG,
        "emoji": Err("err.date_format"),
        "control": EMPTY,
        "sql": Err("err.date_format"),
        "feb_31": Err("err.date_impossible"),
        "month_13": Err("err.date_impossible"),
        "future": Err("err.date_future"),
    },
    "phone": _all("err.phone_invalid")
    | {"long": LONG, "blank": EMPTY, "control": EMPTY, "bad_phone": Err("err.phone_invalid")},
    "count": _all("err.count_format")
    | {
        "long": LONG,
        "control": EMPTY,
        "zero": Err("err.count_range", {"low": 1, "high": 30}),
        "too_many": Err("err.count_range", {"low": 1, "high": 30}),
        "no_digit": Err("err.count_format"),
    },
    "choice": CHOOSE_2 | {"out_of_range": Err("err.choose", {"count": 2})},
    "yes_no": CHOOSE_2,
    "multi": _all("err.multi_choose", count=7, example="1 3")
    | {"out_of_range": Err("err.multi_choose", {"count": 7, "example": "1 3"})},
    # A shared location answers the place questions (it is proposed, see test_location_place.py).
    "kecamatan": _all("err.place_unknown", skip=("location",))
    | {"unknown_kecamatan": Err("err.place_unknown"), "out_of_range": Err("err.choose", {"count": 7})},
    "kelurahan": _all("err.place_unknown", skip=("location",))
    | {"unknown_kelurahan": Err("err.place_unknown")},
    "photo": _all("err.photo", skip=("photo",)),
    # SQL-like text is a fine description too; it is stored as text.
    "description": _all("err.description", skip=("sql",))
    | {"long": Err("err.too_long", {"max": 1000}), "control": EMPTY},
    "summary": _all("form.summary_hint") | {"edit_99": Err("form.edit_range", {"count": 14})},
    # At the kecamatan's "betul?", a shared location is a fresh answer to the question.
    "confirm": {name: err for name, err in CHOOSE_2.items() if name != "location"},
    "cancel_confirm": _all("form.cancel_hint"),
    "consent": _all("consent.hint"),
}

CASES = [(lang, kind) for lang in LANGS for kind in EXPECT]


@pytest.mark.parametrize(("lang", "kind"), CASES, ids=[f"{kind}-{lang}" for lang, kind in CASES])
async def test_bad_input_gets_a_kind_reprompt(chat: Chat, service: Service, lang: str, kind: str) -> None:
    """Every unusable answer in the table, one after another at the same question."""
    question = await reach(chat, kind, lang)
    before = await stored(chat)
    tables = await table_names(service)
    problems: list[str] = []
    for name, err in EXPECT[kind].items():
        replies = await send(chat, INPUTS[name])
        explanation = t(err.key, lang, **err.params)
        assert explanation.startswith(SORRY[lang]), err.key
        if kind == "consent":
            # The hint carries the notice's buttons: one short message, not the whole notice again.
            expected = [Reply(text=explanation, choices=question.choices)]
        elif kind == "kecamatan":  # asked again with the offer to share a location before it
            expected = [
                Reply(text=explanation),
                Reply(text=t("form.share_place", lang), request="location"),
                question,
            ]
        else:
            expected = [Reply(text=explanation), question]
        if replies != expected:
            problems.append(f"{name}: {[r.text[:70] for r in replies]}")
        # A third unusable answer in a row skips the question (tested in test_honest_answers): forget
        # the count so every input here is judged on its own.
        await forget_tries(chat)
        if await stored(chat) != before:
            problems.append(f"{name}: the conversation moved to {(await stored(chat)).step}")
            break
    assert not problems, "\n".join(problems)
    assert await table_names(service) == tables


async def forget_tries(chat: Chat) -> None:
    """Reset the count of unusable answers at the current question."""
    await chat.service.db.write(
        lambda conn: conn.execute(
            "UPDATE conversations SET data = json_remove(data, '$.sub.tries') WHERE contact_id = ?",
            (chat.contact,),
        )
    )


SQL = "'; DROP TABLE persons; --"


@pytest.mark.parametrize("lang", LANGS)
async def test_sql_like_text_is_stored_as_text(chat: Chat, service: Service, lang: str) -> None:
    """Where free text is an answer, SQL-looking text is just text: kept as typed, nothing dropped."""
    tables = await table_names(service)
    await walk_to(chat, "registration", "address", lang)
    await chat.say(SQL)
    assert (await stored(chat)).answers["address"] == SQL
    await answer_up_to(chat, "registration", SUMMARY)
    assert f"{t('reg.label.address', lang)}: {SQL}" in chat.last.text
    await chat.choose("summary:send")
    persons = await repo.persons_of_contact(service.db, chat.contact)
    assert [p.address for p in persons] == [SQL]

    helper = Chat(service, chat.channel, chat.clock, name="pendamping")
    await walk_to(helper, "aid", "description", lang)
    await helper.say(SQL)
    await answer_up_to(helper, "aid", SUMMARY)
    await helper.choose("summary:send")
    case = await repo.get_case(service.db, "BAN-2026-000001")
    assert case is not None and case.answers["description"] == {"text": SQL}
    assert await table_names(service) == tables
    assert await service.db.fetchval("SELECT count(*) FROM persons") == 1


# Generic inputs a question accepts, so they are left out of its barrage.
ACCEPTED = {
    "address": {"sql", "location"},
    "nik": {"photo"},
    "kecamatan": {"location"},
    "kelurahan": {"location"},
}


@pytest.mark.parametrize("lang", LANGS)
async def test_nothing_is_lost_after_bad_input_at_every_question(
    chat: Chat, service: Service, lang: str
) -> None:
    """Every bad input at every registration question, then the good answer: the same registration."""
    careful = Chat(service, chat.channel, chat.clock, name="teliti")
    await walk_to(careful, "registration", SUMMARY, lang)
    clean_summary = careful.last

    await agree(chat, lang)
    await chat.choose("menu:registration")
    generic = ("empty", "blank", "long", "emoji", "control", "sql", "photo", "location")
    for step, good in WALKS["registration"]:
        question = chat.last
        for name in generic:
            if name in ACCEPTED.get(step, set()):
                continue
            replies = await send(chat, INPUTS[name])
            assert replies[-1] == question, f"{step}/{name}: {[r.text[:60] for r in replies]}"
            assert replies[0].text.startswith(SORRY[lang]), f"{step}/{name}"
            assert (await stored(chat)).step == step
            await forget_tries(chat)
        await send(chat, good)
    assert chat.last == clean_summary

    await chat.choose("summary:send")
    [person] = await repo.persons_of_contact(service.db, chat.contact)
    assert (person.full_name, person.sex, person.phone, person.household_size) == (
        "Siti Aminah",
        "P",
        "+6281234567890",
        5,
    )
    assert person.birth_date is not None and person.birth_date.isoformat() == "1985-08-17"
    assert person.nik is None
    assert (person.kecamatan_code, person.kelurahan_code) == ("36.74.03", "36.74.03.1011")
    assert person.address == "Jl. H. Sarmili RT 03/RW 05" and person.latitude is None
    assert person.skills == ["masak", "rias"] and person.disaster_victim is True
    assert person.documents == ["ktp", "kk"] and person.aid_received == []
