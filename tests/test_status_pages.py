"""Cek status lists every case of every person the contact acts for, with names, questions first, in pages."""

from bot.app import Service
from handlers import status
from storage.records import CaseStatus
from tests.flow_steps import agree, register, t
from tests.support import Chat
from tests.test_flow_status import send_message, staff_sets

LIMIT = 4096  # WhatsApp body and Telegram message text


async def test_a_field_worker_sees_every_case_with_names_and_questions_first(
    chat: Chat, service: Service
) -> None:
    """Seen: only the 5 newest cases, without names, and a pending question could fall off the list."""
    await agree(chat)
    people = ["Siti Aminah", "Budi Santoso", "Ani Lestari"]
    registered = [await register(chat, name=name, self_=False) for name in people]
    messages = [await send_message(chat, f"Pertanyaan nomor {n} tentang pelatihan.") for n in range(1, 5)]
    # The oldest case gets a staff question; another is refused with a reason.
    await staff_sets(service, chat, registered[0], CaseStatus.PERLU_INFO, "Apakah Siti punya KK?")
    await staff_sets(service, chat, registered[1], CaseStatus.DITOLAK, "Sudah terdaftar di kelurahan lain")

    await chat.say("cek status")
    [reply] = chat.replies
    text = reply.text
    assert text.startswith(t("status.header"))
    entries = text.split("\n\n")[1:-1]
    assert len(entries) == 7  # all of them, not only the 5 newest
    date = "20-11-2026"
    assert entries[0] == (
        t(
            "status.line_named",
            name="Siti Aminah",
            kind=t("kind.registration"),
            reference=registered[0],
            date=date,
            status=t("status.perlu_info"),
        )
        + "\n"
        + t("status.question", question="Apakah Siti punya KK?")
    )
    assert (
        t(
            "status.line_named",
            name="Budi Santoso",
            kind=t("kind.registration"),
            reference=registered[1],
            date=date,
            status=t("status.ditolak"),
        )
        + "\n"
        + t("status.note", note="Sudah terdaftar di kelurahan lain")
    ) in entries
    assert any(e.startswith(f"Ani Lestari: {t('kind.registration')} {registered[2]}") for e in entries)
    for reference in messages:
        assert reference in text
    assert text.endswith(t("menu.prompt"))


async def test_a_long_list_comes_in_pages_in_english(chat: Chat, service: Service) -> None:
    await agree(chat, "en")
    references = [await send_message(chat, f"Question number {n} about training.", "en") for n in range(11)]
    await chat.tap(t("menu.status", "en"))
    first = chat.last
    assert first.text.startswith(t("status.header_page", "en", first=1, last=8, total=11))
    assert first.text.endswith(t("status.more", "en"))
    assert [c.label for c in first.choices] == [t("status.next", "en"), t("status.menu", "en")]
    assert all(reference in first.text for reference in references[3:])  # newest first
    await chat.tap(t("status.next", "en"))
    second = chat.last
    assert second.text.startswith(t("status.header_page", "en", first=9, last=11, total=11))
    assert all(reference in second.text for reference in references[:3])
    assert second.text.endswith(t("menu.prompt", "en"))  # the last page ends at the menu
    for reply in chat.channel.sent[chat.contact]:
        assert len(reply.text) <= LIMIT
    # At a page, other words are read at the menu: a request starts its flow.
    await chat.tap(t("menu.status", "en"))
    await chat.say("i want to register")
    assert chat.last.text == t("reg.q.for_whom", "en")


def test_pages_keep_long_staff_notes_under_the_message_limit() -> None:
    entries = [f"entry {n} " + "x" * 1400 for n in range(5)]
    grouped = status.pages(entries)
    assert [len(page) for page in grouped] == [2, 2, 1]
    for page in grouped:
        assert len("\n\n".join(page)) <= status.PAGE_CHARS
    assert status.pages(["a"] * 20) == [["a"] * 8, ["a"] * 8, ["a"] * 4]
