"""The notice names its legal basis and who sees the data; information messages are a separate consent;
Data saya sends a readable copy of the data."""

from zoneinfo import ZoneInfo

import pytest

from bot.app import Service
from handlers.segments import Segment
from storage.records import CaseKind
from storage.segments import contacts_in_segment
from tests.flow_steps import NIK, NIK_MASKED, agree, register, rows, t
from tests.support import Chat
from tests.test_flow_status import send_message

WIB = ZoneInfo("Asia/Jakarta")


async def reached(service: Service) -> list[str]:
    """Who a broadcast to everyone who sent a message would reach."""
    return await contacts_in_segment(service.db, Segment(case_kinds=[CaseKind.MESSAGE]), WIB)


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_the_notice_states_its_legal_basis_and_who_sees_the_data(chat: Chat, lang: str) -> None:
    await agree(chat, lang)
    notice = t("consent.notice", lang)
    for phrase in ("27", "2022", "Dinsos", "Dukcapil", t("consent.agree_info", lang)):
        assert phrase in notice, phrase
    full = t("consent.full", lang, version="2026-12")
    assert "Pasal 20" in full or "Article 20" in full
    assert t("consent.agree_info", lang) in full


async def test_information_messages_need_their_own_yes(chat: Chat, service: Service) -> None:
    """Seen: agreeing to the service also signed people up for every broadcast."""
    ani = Chat(service, chat.channel, chat.clock, name="ani")
    await agree(ani, info=False)
    assert ani.last.text == t("consent.thanks") + "\n\n" + t("menu.prompt")
    await send_message(ani, "Kapan ada pelatihan menjahit?")
    budi = Chat(service, chat.channel, chat.clock, name="budi")
    await agree(budi, "en", info=True)
    assert budi.last.text == t("consent.thanks_info", "en") + "\n\n" + t("menu.prompt", "en")
    await send_message(budi, "When is the next training?", "en")

    assert await reached(service) == [budi.contact]  # only the one who said yes to information messages
    consents = await rows(
        service, "SELECT contact_id, purpose, granted, notice_version FROM consents ORDER BY id"
    )
    assert consents == [
        {"contact_id": ani.contact, "purpose": "service", "granted": 1, "notice_version": "2026-12"},
        {"contact_id": budi.contact, "purpose": "service", "granted": 1, "notice_version": "2026-12"},
        {"contact_id": budi.contact, "purpose": "broadcast", "granted": 1, "notice_version": "2026-12"},
    ]

    # Ani changes her mind later; Budi stops. Both answers are recorded.
    await ani.say("MULAI INFO")
    assert ani.replies[0].text == t("optout.undone")
    await budi.say("stop info")
    assert await reached(service) == [ani.contact]
    later = await rows(service, "SELECT contact_id, purpose, granted FROM consents WHERE id > 3 ORDER BY id")
    assert later == [
        {"contact_id": ani.contact, "purpose": "broadcast", "granted": 1},
        {"contact_id": budi.contact, "purpose": "broadcast", "granted": 0},
    ]


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_data_saya_sends_a_readable_copy(chat: Chat, service: Service, lang: str) -> None:
    await agree(chat, lang)
    await register(chat, name="Siti Aminah", nik=NIK, lang=lang)
    await register(chat, name="Budi Santoso", self_=False, lang=lang)
    await send_message(chat, "Pertanyaan tentang pelatihan menjahit.", lang)
    await chat.tap(t("menu.my_data", lang))
    await chat.tap("Siti Aminah")
    await chat.tap(t("mydata.copy", lang))
    *copy, done = chat.replies
    text = "\n\n".join(r.text for r in copy)
    assert text.startswith(t("mydata.copy_header", lang, date="20-11-2026"))
    assert t("mydata.copy_consent", lang, date="20-11-2026", version="2026-12") in text
    assert t("mydata.copy_info_yes", lang) in text
    assert t("mydata.copy_person_self", lang, name="Siti Aminah") in text
    assert t("mydata.copy_person_other", lang, name="Budi Santoso") in text
    assert f"{t('reg.label.nik', lang)}: {NIK_MASKED}" in text and NIK not in text
    assert f"{t('reg.label.kelurahan', lang)}: Jurangmangu Timur" in text
    for reference in ("REG-2026-000001", "REG-2026-000002", "PSN-2026-000001"):
        assert reference in text
    assert all(len(r.text) <= 4096 for r in copy)
    assert done.text == t("mydata.copy_done", lang) + "\n\n" + t("menu.prompt", lang)
