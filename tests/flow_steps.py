"""Shared steps for the flow transcripts: consent, a quick registration, and reading the store."""

import json
import re
from typing import Any

from bot.app import Service
from handlers.i18n import Catalog
from storage import repo
from storage.records import CaseRecord, PersonRecord
from tests.support import Chat

CATALOG = Catalog.load()

NIK = "3674015708850001"  # valid: Tangsel, born 17-08-1985, female
NIK_TYPED = "3674.0157-0885 0001"
NIK_MASKED = "3674********0001"
KK = "3674031205100007"  # valid: Banten, issued 12-05-2010
KK_TYPED = "3674-0312-0510-0007"
KK_MASKED = "3674********0007"


def t(key: str, lang: str = "id", **params: object) -> str:
    """A catalog sentence, as the user would see it."""
    return CATALOG.text(lang, key, **params)


async def agree(chat: Chat, lang: str = "id", *, info: bool = True) -> None:
    """Say hello, (switch language,) accept the privacy notice (with information messages unless `info`
    is False); end at the main menu."""
    replies = await chat.say("halo")
    assert replies[-1].text == t("consent.notice")
    if lang != "id":
        await chat.tap("Bahasa")
        await chat.tap(t(f"language.{lang}"))
        assert chat.last.text == t("consent.notice", lang)
    await chat.choose("consent:yes_info" if info else "consent:yes")
    assert chat.last.text.endswith(t("menu.prompt", lang))


async def register(
    chat: Chat,
    *,
    name: str,
    self_: bool = True,
    nik: str = "0",
    birth: str = "17-08-1985",
    kecamatan: str = "Pondok Aren",
    kelurahan: str = "Jurangmangu Timur",
    lang: str = "id",
) -> str:
    """Register quickly by typing every answer (words understood in both languages); return the reference."""
    await chat.tap(t("menu.registration", lang))
    await chat.say("1" if self_ else "2")
    await chat.say(name)
    await chat.say(nik)
    if nik == "0":  # a valid NIK answers the birth date and sex questions
        await chat.say(birth)
        await chat.say("perempuan")
    await chat.say("0")  # no phone
    if any(c.id.startswith("same_place:") for c in chat.last.choices):
        await chat.say("tidak")  # a field worker's next person: the place is typed anyway
    await chat.say(kecamatan)
    await chat.say(kelurahan)
    await chat.say("Gang Melati RT 01/RW 02")
    await chat.say("3")
    await chat.say("7")  # skills: none (last of 7)
    await chat.say("tidak")
    await chat.say("5")  # documents: none
    await chat.say("5")  # aid received: none
    assert chat.last.text.startswith(t("form.summary", lang, title=t("reg.title", lang), lines="")[:10])
    await chat.say("kirim")
    return reference_in(chat.replies[0].text, "REG")


def reference_in(text: str, prefix: str) -> str:
    """The reference number with `prefix` that `text` announces."""
    found = re.search(rf"\b{prefix}-2026-\d{{6}}\b", text)
    assert found is not None, text
    return found.group(0)


async def person_named(service: Service, contact: str, name: str) -> PersonRecord:
    """The live person `name` registered by `contact`."""
    persons = await repo.persons_of_contact(service.db, contact)
    found = [p for p in persons if p.full_name == name]
    assert len(found) == 1, [p.full_name for p in persons]
    return found[0]


async def case(service: Service, reference: str) -> CaseRecord:
    """A case that must exist."""
    found = await repo.get_case(service.db, reference)
    assert found is not None, reference
    return found


async def rows(service: Service, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Rows of a query as plain dicts."""
    return [dict(row) for row in await service.db.fetchall(sql, params)]


def sent_texts(chat: Chat) -> str:
    """Everything the contact was ever sent, as one text."""
    return "\n".join(reply.text for reply in chat.channel.sent[chat.contact])


def raw_answers(found: CaseRecord) -> str:
    """A case's stored answers as JSON text (to check nothing clear slipped in)."""
    return json.dumps(found.answers, ensure_ascii=False)
