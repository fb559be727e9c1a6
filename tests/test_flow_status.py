"""Talk to staff, and Cek status before and after submissions and staff decisions."""

from functools import partial

from bot.app import Service
from handlers.casework import change_status
from handlers.types import Reply
from storage import repo
from storage.records import CaseStatus
from tests.flow_steps import agree, case, reference_in, rows, t
from tests.support import Chat


async def staff_sets(service: Service, chat: Chat, reference: str, to: CaseStatus, note: str | None) -> None:
    """A staff member moves a case (as the CLI would)."""
    await service.db.write(
        partial(
            change_status,
            catalog=service.services.catalog,
            reference=reference,
            to_status=to,
            actor="staff:ani",
            note=note,
            at=chat.clock(),
        )
    )


async def send_message(chat: Chat, text: str, lang: str = "id") -> str:
    await chat.tap(t("menu.talk", lang))
    assert chat.last.text == t("talk.q.message", lang)
    await chat.say(text)
    reference = reference_in(chat.replies[0].text, "PSN")
    assert chat.replies[0].text == t("talk.done", lang, reference=reference) + "\n\n" + t("menu.prompt", lang)
    return reference


async def test_talk_to_staff_opens_a_message_case(chat: Chat, service: Service) -> None:
    await agree(chat)
    await chat.tap(t("menu.talk"))
    await chat.say("ok")  # too short to be a message
    assert chat.replies[0].text == t("err.description")
    assert chat.last.text == t("talk.q.message")
    await chat.say("Kapan pembagian sembako di kelurahan Pondok Aren?")
    assert chat.replies[0].text.startswith(t("talk.done", reference="PSN-2026-000001"))
    stored = await case(service, "PSN-2026-000001")
    assert stored.kind == "message" and stored.status == "baru" and stored.person_id is None
    assert stored.answers == {"message": {"text": "Kapan pembagian sembako di kelurahan Pondok Aren?"}}


async def test_talk_by_voice_note_in_english(chat: Chat, service: Service) -> None:
    await agree(chat, "en")
    await chat.tap(t("menu.talk", "en"))
    await chat.send_media("voice", "voice-9")
    assert chat.replies[0].text.startswith(t("talk.done", "en", reference="PSN-2026-000001"))
    stored = await case(service, "PSN-2026-000001")
    assert stored.answers == {"message": {"voice": "voice-9", "mime": None}}


async def test_status_without_cases_is_kind(chat: Chat) -> None:
    await agree(chat)
    await chat.tap(t("menu.status"))
    assert chat.last.text == t("status.none") + "\n\n" + t("menu.prompt")
    assert len(chat.last.choices) == 8  # back at the menu with a way forward


async def test_status_follows_staff_decisions(chat: Chat, service: Service) -> None:
    await agree(chat)
    first = await send_message(chat, "Saya mau tanya soal KTP anak saya.")
    second = await send_message(chat, "Apakah ada pelatihan menjahit bulan depan?")
    await chat.tap(t("menu.status"))
    date = "20-11-2026"
    line_first = t("status.line", kind=t("kind.message"), reference=first, date=date, status=t("status.baru"))
    line_second = t(
        "status.line", kind=t("kind.message"), reference=second, date=date, status=t("status.baru")
    )
    assert chat.last.text == (
        t("status.header") + "\n\n" + line_second + "\n\n" + line_first + "\n\n" + t("menu.prompt")
    )  # newest first

    await staff_sets(service, chat, first, CaseStatus.PERLU_INFO, "Berapa umur anak Bapak/Ibu?")
    await staff_sets(service, chat, second, CaseStatus.DITOLAK, "Pelatihan menjahit sudah penuh")
    await chat.say("cek status")
    text = chat.last.text
    assert (
        t("status.line", kind=t("kind.message"), reference=first, date=date, status=t("status.perlu_info"))
        in text
    )
    assert t("status.question", question="Berapa umur anak Bapak/Ibu?") in text
    assert (
        t("status.line", kind=t("kind.message"), reference=second, date=date, status=t("status.ditolak"))
        in text
    )
    assert t("status.note", note="Pelatihan menjahit sudah penuh") in text
    # The staff messages themselves wait in the outbox, in plain words.
    queued = await rows(service, "SELECT payload FROM outbox WHERE origin = 'staff' ORDER BY id")
    assert [Reply.from_json(row["payload"]).text for row in queued] == [
        t("notify.perlu_info", reference=first, question="Berapa umur anak Bapak/Ibu?"),
        t("notify.ditolak", reference=second, reason="Pelatihan menjahit sudah penuh"),
    ]

    # The citizen's next message answers the staff question and reopens the case.
    await chat.say("Umurnya 17 tahun, Pak.")
    assert chat.replies[0].text == t("info.thanks", reference=first)
    assert chat.last.text.endswith(t("menu.prompt"))
    reopened = await case(service, first)
    assert reopened.status == "diproses"
    assert reopened.id is not None
    events = await repo.case_events(service.db, reopened.id)
    assert [e.action for e in events][-1] == "info_answered"
    assert events[-1].note == "Umurnya 17 tahun, Pak."

    await staff_sets(service, chat, first, CaseStatus.DISETUJUI, "Datang ke kantor Senin pukul 09.00.")
    await chat.tap(t("menu.status"))
    text = chat.last.text
    assert (
        t("status.line", kind=t("kind.message"), reference=first, date=date, status=t("status.disetujui"))
        in text
    )
    assert t("status.note", note="Datang ke kantor Senin pukul 09.00.") in text
    assert t("status.question", question="Berapa umur anak Bapak/Ibu?") not in text


async def test_status_in_english_and_mid_form(chat: Chat, service: Service) -> None:
    await agree(chat, "en")
    reference = await send_message(chat, "When is the next food distribution?", "en")
    await staff_sets(service, chat, reference, CaseStatus.DIPROSES, None)
    await chat.tap(t("menu.aid", "en"))
    await chat.tap(t("aid.for_other", "en"))
    await chat.say("status")  # a global word, even in the middle of a form
    text = chat.last.text
    unsent = t("status.drafts", "en", titles=t("aid.title", "en"))
    assert text.startswith(unsent + "\n\n" + t("status.header", "en"))
    assert (
        t(
            "status.line",
            "en",
            kind=t("kind.message", "en"),
            reference=reference,
            date="20-11-2026",
            status=t("status.diproses", "en"),
        )
        in text
    )
    await chat.tap(t("menu.aid", "en"))  # the unfinished request is offered again
    assert chat.last.text == t("resume.prompt", "en", title=t("aid.title", "en"))
    await chat.tap(t("resume.continue", "en"))
    assert chat.last.text == t("aid.q.name", "en")


async def test_status_names_what_was_started_and_not_sent(chat: Chat) -> None:
    """A person who forgot they began a report finds it under Cek status, with the way back to it."""
    await agree(chat)
    await chat.tap(t("menu.lost_ktp"))
    await chat.tap(t("ktp.whose.self"))
    await chat.say("cek status")
    unsent = t("status.drafts", titles=t("ktp.title"))
    assert chat.replies[0].text.startswith(unsent)
    assert t("status.none") not in chat.text
    await chat.tap(t("menu.lost_ktp"))
    assert chat.last.text == t("resume.prompt", title=t("ktp.title"))
