"""Two-way conversations: one thread per case, staff questions that don't hijack, nothing a citizen says lost.

Transcripts of people, in both languages, through the real flows and the staff CLI.
"""

from storage import threads
from storage.threads import ThreadLine
from tests.test_staff import Office, agree, ask, leave_message, office, register, report_lost_ktp, t

__all__ = ["office"]  # the fixture, shared with the staff tests


async def thread_of(office: Office, reference: str) -> list[ThreadLine]:
    case = await office.case(reference)
    assert case.id is not None
    return await threads.thread(office.service.db, case.id)


def inbound(lines: list[ThreadLine]) -> list[tuple[str, str | None, str | None]]:
    return [(line.kind, line.body, line.media_ref) for line in lines if line.direction == "in"]


async def test_answer_then_more_words_then_a_photo_all_reach_the_case(office: Office) -> None:
    siti = office.chat("siti")
    await agree(siti)
    reference = await report_lost_ktp(siti, "Siti Aminah")
    await ask(office, siti, reference, "Apakah Ibu punya fotokopi KK?")

    await siti.say("Ada, Pak. Fotokopinya di rumah.")
    assert siti.replies[0].text == t("info.thanks", reference=reference)
    await siti.say("Nanti saya foto dan kirim ke sini ya.")
    assert siti.replies[0].text == t("info.forwarded", reference=reference)
    await siti.send_media("photo", "kk-photo-1")
    assert siti.replies[0].text == t("info.forwarded", reference=reference)
    assert "pesan sudah kami teruskan ke petugas" in siti.replies[0].text
    assert t("menu.not_understood") not in siti.text

    lines = await thread_of(office, reference)
    assert inbound(lines) == [
        ("text", "Ada, Pak. Fotokopinya di rumah.", None),
        ("text", "Nanti saya foto dan kirim ke sini ya.", None),
        ("photo", None, "kk-photo-1"),
    ]
    assert lines[0].direction == "out" and lines[0].kind == "question"
    assert lines[0].status == "sent"  # the delivery state of the question, from its outbox row
    assert lines[1].question == "Apakah Ibu punya fotokopi KK?"  # the first message answered it
    assert all(line.unread for line in lines if line.direction == "in")
    case = await office.case(reference)
    assert case.status == "diproses"
    unread = await office.service.db.fetchval("SELECT unread FROM cases WHERE reference = ?", (reference,))
    assert unread == 3

    code, out = await office.staff("show", reference)
    assert code == 0
    assert "Percakapan:" in out
    assert "Nanti saya foto dan kirim ke sini ya." in out and "kk-photo-1" in out
    assert "[sent]" in out


async def test_in_english_a_voice_note_and_a_place_after_the_answer(office: Office) -> None:
    sam = office.chat("sam")
    await agree(sam, "en")
    reference = await report_lost_ktp(sam, "Sam Wibowo", lang="en")
    code, _ = await office.staff("set-status", reference, "perlu_info", "--note", "Where do you live now?")
    assert code == 0
    await office.deliver_queued()
    await sam.say("Near the market in Ciputat.")
    assert sam.replies[0].text == t("info.thanks", "en", reference=reference)
    await sam.send_media("voice", "voice-1")
    assert sam.replies[0].text == t("info.forwarded", "en", reference=reference)
    await sam.share_location(-6.31, 106.75)
    assert sam.replies[0].text == t("info.forwarded", "en", reference=reference)
    assert [kind for kind, _, _ in inbound(await thread_of(office, reference))] == [
        "text",
        "voice",
        "location",
    ]


async def test_a_menu_number_while_a_question_waits_opens_the_menu(office: Office) -> None:
    siti = office.chat("siti")
    await agree(siti)
    reference = await leave_message(siti)
    await ask(office, siti, reference, "Ibu tinggal di kelurahan mana?")

    await siti.say("3")  # the menu's third option: request aid
    assert siti.last.text != t("info.thanks", reference=reference)
    assert (await office.case(reference)).status == "perlu_info"  # still waiting for the answer
    first_words = ("text", "Saya mau tanya soal bantuan sembako.", None)
    assert inbound(await thread_of(office, reference)) == [first_words]
    assert "bantuan" in siti.last.text.lower()

    await siti.say("menu")
    await siti.say("Di Jombang, Bu.")  # free text at the menu: the answer
    assert siti.replies[0].text == t("info.thanks", reference=reference)
    assert (await office.case(reference)).status == "diproses"


async def test_two_questions_answered_separately_by_quoting_each(office: Office) -> None:
    siti = office.chat("siti")
    await agree(siti)
    first = await register(siti, "Siti Aminah")
    second = await leave_message(siti)
    await ask(office, siti, first, "Berapa orang di rumah Ibu?")
    await ask(office, siti, second, "Bantuan apa yang Ibu perlukan?")
    rows = await office.service.db.fetchall(
        "SELECT c.reference, o.external_id FROM staff_questions AS q JOIN cases AS c ON c.id = q.case_id "
        "JOIN outbox AS o ON o.id = q.outbox_id"
    )
    ids: dict[str, str] = {row[0]: row[1] for row in rows}

    await siti.send(siti._event(text="Sembako, Bu.", reply_to=ids[second]))
    assert siti.replies[0].text == t("info.thanks", reference=second)
    await siti.send(siti._event(text="Empat orang.", reply_to=ids[first]))
    assert siti.replies[0].text == t("info.thanks", reference=first)
    assert inbound(await thread_of(office, first)) == [("text", "Empat orang.", None)]
    assert ("text", "Sembako, Bu.", None) in inbound(await thread_of(office, second))
    assert (await office.case(first)).status == (await office.case(second)).status == "diproses"


async def test_two_questions_without_quoting_the_citizen_is_asked_which(office: Office) -> None:
    siti = office.chat("siti")
    await agree(siti)
    first = await register(siti, "Siti Aminah")
    second = await leave_message(siti)
    await ask(office, siti, first, "Berapa orang di rumah Ibu?")
    await ask(office, siti, second, "Bantuan apa yang Ibu perlukan?")

    await siti.say("Empat orang, Bu.")
    assert siti.last.text == t("info.which")
    assert [c.label.split(":")[0] for c in siti.last.choices] == [first, second]
    await siti.say("Oh ya, suami saya juga.")  # more words before saying which: kept too
    assert siti.last.text == t("info.which_again")
    await siti.tap(first)
    assert siti.last.text == t("info.thanks", reference=first)
    assert inbound(await thread_of(office, first)) == [
        ("text", "Empat orang, Bu.", None),
        ("text", "Oh ya, suami saya juga.", None),
    ]
    assert (await office.case(first)).status == "diproses"
    assert (await office.case(second)).status == "perlu_info"  # its question still waits

    await siti.say("Sembako saja.")  # only one question left: no need to ask which
    assert siti.replies[0].text == t("info.thanks", reference=second)
    unread = await office.service.db.fetchall(
        "SELECT reference, unread FROM cases WHERE reference IN (?, ?) ORDER BY id", (first, second)
    )
    assert [tuple(row) for row in unread] == [(first, 2), (second, 2)]


async def test_a_message_with_no_case_opens_a_message_case_for_staff(office: Office) -> None:
    budi = office.chat("budi")
    await agree(budi)
    await budi.say("Rumah saya kebanjiran tadi malam, mohon dibantu.")
    reply = budi.replies[0].text
    assert "pesan sudah kami teruskan ke petugas" in reply
    reference = reply.split("(")[1].split(")")[0]
    assert reference.startswith("PSN-")
    case = await office.case(reference)
    assert case.kind == "message" and case.status == "baru"
    assert inbound(await thread_of(office, reference)) == [
        ("text", "Rumah saya kebanjiran tadi malam, mohon dibantu.", None)
    ]
    await budi.say("halo")  # a greeting is not a message for staff
    assert "pesan sudah kami teruskan ke petugas" not in budi.text
    assert await office.service.db.fetchval("SELECT COUNT(*) FROM cases") == 1
    ani = office.chat("ani")
    await agree(ani)
    await ani.say("apa ini")  # two words and no case to go with: the menu, not a new case for staff
    assert t("menu.not_understood") in ani.text
    assert await office.service.db.fetchval("SELECT COUNT(*) FROM cases") == 1


async def test_a_reply_to_a_broadcast_reaches_the_case_they_were_last_told_about(office: Office) -> None:
    siti = office.chat("siti")
    await agree(siti)
    reference = await register(siti, "Siti Aminah")
    code, _ = await office.staff("set-status", reference, "diproses")
    assert code == 0
    await office.deliver_queued()
    await office.service.db.write(
        lambda conn: conn.execute(
            "INSERT INTO outbox (contact_id, origin, payload, status, external_id, created_at, updated_at) "
            "VALUES (?, 'broadcast', '{\"text\": \"Info sembako\"}', 'sent', 'bc-1', ?, ?)",
            (siti.contact, office.clock().isoformat(), office.clock().isoformat()),
        )
    )
    await siti.send(siti._event(text="Saya mau ikut, caranya bagaimana?", reply_to="bc-1"))
    assert siti.replies[0].text == t("info.forwarded", reference=reference)
    said = ("text", "Saya mau ikut, caranya bagaimana?", None)
    assert inbound(await thread_of(office, reference)) == [said]


async def test_staff_reply_from_the_cli_reaches_the_citizen_and_marks_read(office: Office) -> None:
    siti = office.chat("siti")
    await agree(siti)
    reference = await leave_message(siti)
    code, out = await office.staff("reply", reference, "--text", "Sembako dibagikan Senin di kelurahan.")
    assert code == 0, out
    await office.deliver_queued()
    assert office.channel.sent[siti.contact][-1].text == t(
        "notify.staff_reply", reference=reference, text="Sembako dibagikan Senin di kelurahan."
    )
    lines = await thread_of(office, reference)
    assert [(line.direction, line.kind, line.status) for line in lines] == [
        ("in", "text", None),
        ("out", "reply", "sent"),
    ]
    assert not lines[0].unread  # answering means it was read
    code, _ = await office.staff("reply", reference, "--text", "   ")
    assert code == 2  # an empty reply is refused, nothing queued
    assert len(await thread_of(office, reference)) == 2


async def test_the_answer_in_a_form_waits_until_the_form_question_is_older(office: Office) -> None:
    siti = office.chat("siti")
    await agree(siti)
    reference = await leave_message(siti)
    await ask(office, siti, reference, "Apakah Ibu masih punya fotokopi KK?")
    await siti.say("minta bantuan")
    await siti.say("1")  # a form answer: the form asked after the staff question
    assert siti.last.text != t("info.thanks", reference=reference)
    assert (await office.case(reference)).status == "perlu_info"
