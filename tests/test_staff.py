"""Staff command line against a store that a running service filled: list, show, set-status, export.

Citizens are driven through the real flows first; the staff tool then opens the same SQLite file on
its own connections, as `python -m bot staff ...` does next to a running service.
"""

import asyncio
import contextlib
import csv
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest

from bot import staff_cli
from bot.__main__ import _parser
from bot.app import Service
from bot.settings import Settings
from handlers import router
from handlers.i18n import Catalog
from handlers.staff import compose
from handlers.staff import exports as staff_exports
from handlers.turn import Turn
from handlers.types import Reply
from storage import repo, threads
from storage.contract import Tx
from storage.db import Database
from storage.records import CaseKind, CaseRecord, CaseStatus
from storage.threads import OpenQuestion
from tests.support import Chat, Clock, RecordingChannel, make_settings, start_service

CATALOG = Catalog.load()
STAFF_WORDS = Catalog.load(staff_cli.STAFF_LOCALES)
NIK = "3674015708850001"  # born 17-08-1985, female
MASKED = "3674********0001"
REFERENCE = re.compile(r"\b(?:REG|KTP|BAN|PSN)-\d{4}-\d{6}\b")


def t(key: str, lang: str = "id", **params: object) -> str:
    return CATALOG.text(lang, key, **params)


@dataclass
class Office:
    """A running service and the staff tool's view of the same data directory."""

    service: Service
    channel: RecordingChannel
    clock: Clock
    data_dir: Path
    settings: Settings

    def chat(self, name: str) -> Chat:
        return Chat(self.service, self.channel, self.clock, name=name)

    async def staff(self, *argv: str, actor: str = "rina") -> tuple[int, str]:
        """Run `python -m bot staff --as <actor> ...` in-process; return the exit code and output."""
        args = _parser().parse_args(["--data-dir", str(self.data_dir), "staff", "--as", actor, *argv])
        out = StringIO()
        code = await staff_cli.run(args, self.settings, out=out)
        return code, out.getvalue()

    async def deliver_queued(self) -> None:
        """What the service's sender loop does with rows other processes queued."""
        await self.service.dispatcher.deliver(await repo.pending_outbox(self.service.db))

    async def case(self, reference: str) -> CaseRecord:
        found = await repo.get_case(self.service.db, reference)
        assert found is not None, reference
        return found

    async def events(self, reference: str) -> list[tuple[str, str, str | None, str | None, str | None, bool]]:
        case = await self.case(reference)
        assert case.id is not None
        return [
            (e.actor, e.action, e.from_status, e.to_status, e.note, e.citizen_notified)
            for e in await repo.case_events(self.service.db, case.id)
        ]

    async def audit(self) -> list[tuple[str, str, str | None, str | None]]:
        rows = await self.service.db.fetchall(
            "SELECT actor, action, target, detail FROM audit_log ORDER BY id"
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def staff_outbox(self) -> list[tuple[str, str, str, int | None]]:
        rows = await self.service.db.fetchall(
            "SELECT contact_id, payload, status, case_id FROM outbox WHERE origin = 'staff' ORDER BY id"
        )
        return [(r[0], Reply.from_json(r[1]).text, r[2], r[3]) for r in rows]


@pytest.fixture
async def office(tmp_path: Path, clock: Clock) -> AsyncIterator[Office]:
    data_dir = tmp_path / "data"
    service, channel = await start_service(data_dir, clock, outbox_poll_seconds=0.02)
    yield Office(service, channel, clock, data_dir, make_settings(data_dir))
    await service.close()


# ---------------------------------------------------------------- citizens, through the real flows


async def agree(chat: Chat, lang: str = "id") -> None:
    await chat.say("halo")
    if lang == "en":
        await chat.tap("Bahasa")
        await chat.tap("English")
    await chat.tap(t("consent.agree", lang))
    assert t("menu.prompt", lang) in chat.last.text


async def answer(chat: Chat, *answers: str) -> str:
    """Type each answer in turn; return the reference the last one produced."""
    for text in answers:
        await chat.say(text)
    found = REFERENCE.findall(chat.text)
    assert found, chat.text
    return str(found[0])


async def register(
    chat: Chat,
    name: str,
    *,
    nik: str = NIK,
    born: str = "17-08-1985",
    sex: str = "perempuan",
    kecamatan: str = "pondok aren",
    kelurahan: str = "jurang mangu timur",
    for_self: bool = True,
) -> str:
    await chat.say("daftar")
    assert chat.last.text == t("reg.q.for_whom")
    # A valid NIK answers the birth date and sex questions.
    person = [name, nik] if nik != "0" else [name, nik, born, sex]
    return await answer(
        chat,
        "1" if for_self else "2",
        *person,
        "0",  # no phone
        kecamatan,
        kelurahan,
        "Jl. Mawar RT 01/RW 02, dekat lapak",
        "3",
        "tidak ada",
        "tidak",
        "tidak ada",
        "belum",
        "kirim",
    )


async def report_lost_ktp(
    chat: Chat, owner: str, *, kecamatan: str = "ciputat", kelurahan: str = "jombang", lang: str = "id"
) -> str:
    await chat.say("lapor ktp")
    assert chat.last.text == t("ktp.q.whose", lang)
    return await answer(
        chat, "3", owner, "hilang", "1", "0", "0", "tidak ada", kecamatan, kelurahan, "0", "kirim"
    )


async def leave_message(chat: Chat, text: str = "Saya mau tanya soal bantuan sembako.") -> str:
    await chat.say("petugas")
    assert chat.last.text == t("talk.q.message")
    return await answer(chat, text)


async def populate(office: Office) -> dict[str, str]:
    """Four cases in three kecamatan; the second registration reuses the first one's NIK."""
    siti, worker = office.chat("siti"), office.chat("pendamping")
    await agree(siti)
    await agree(worker)
    refs = {"siti": await register(siti, "Siti Aminah")}
    refs["copy"] = await register(
        worker, "Aminah Siti", kecamatan="pamulang", kelurahan="pamulang barat", for_self=False
    )
    refs["ktp"] = await report_lost_ktp(worker, "Ahmad Fauzi")
    office.clock.advance(minutes=5)
    refs["talk"] = await leave_message(siti)
    return refs


def rows_of(listing: str) -> list[str]:
    return [line for line in listing.splitlines() if REFERENCE.match(line)]


# ---------------------------------------------------------------- list


async def test_list_filters_newest_first_with_masked_nik_and_duplicate_flag(office: Office) -> None:
    refs = await populate(office)
    assert refs == {
        "siti": "REG-2026-000001",
        "copy": "REG-2026-000002",
        "ktp": "KTP-2026-000001",
        "talk": "PSN-2026-000001",
    }
    code, listing = await office.staff("list")
    assert code == 0
    rows = rows_of(listing)
    assert [row.split()[0] for row in rows] == [refs["talk"], refs["ktp"], refs["copy"], refs["siti"]]
    assert "(4 kasus)" in listing
    assert NIK not in listing
    by_ref = {row.split()[0]: row for row in rows}
    assert MASKED in by_ref[refs["siti"]] and MASKED in by_ref[refs["copy"]]
    assert "Aminah Siti [duplikat?]" in by_ref[refs["copy"]]  # then "[lewat batas]": seeded in the past
    assert "[duplikat?]" not in by_ref[refs["siti"]]
    assert "Pondok Aren" in by_ref[refs["siti"]] and "Pamulang" in by_ref[refs["copy"]]
    assert "Ciputat" in by_ref[refs["ktp"]]
    assert "20-11-2026 09.00" in by_ref[refs["siti"]]  # WIB as the dashboard writes it (the clock: 02:00 UTC)

    code, listing = await office.staff("list", "--kind", "registration")
    assert [row.split()[0] for row in rows_of(listing)] == [refs["copy"], refs["siti"]]
    code, listing = await office.staff("list", "--kecamatan", "pd aren")
    assert code == 0
    assert [row.split()[0] for row in rows_of(listing)] == [refs["siti"]]
    code, listing = await office.staff("list", "--kecamatan", "36.74.06")
    assert [row.split()[0] for row in rows_of(listing)] == [refs["copy"]]

    assert (await office.staff("set-status", refs["ktp"], "diproses"))[0] == 0
    code, listing = await office.staff("list", "--status", "diproses")
    assert [row.split()[0] for row in rows_of(listing)] == [refs["ktp"]]
    code, listing = await office.staff("list", "--status", "baru", "--kind", "registration", "--limit", "1")
    assert [row.split()[0] for row in rows_of(listing)] == [refs["copy"]]
    audit = await office.audit()
    assert audit[0] == ("staff:rina", "cases.list", None, "-> 4 rows")
    assert audit[2] == ("staff:rina", "cases.list", None, "--kecamatan pd aren -> 1 rows")
    assert audit[-1] == ("staff:rina", "cases.list", None, "--kind registration --status baru -> 1 rows")


async def test_list_and_show_say_dates_as_the_dashboard_does_in_the_operators_language(
    office: Office,
) -> None:
    # Seen: the command line printed ISO timestamps (2026-11-20 09:00) where the dashboard says 20-11-2026.
    refs = await populate(office)
    _, indonesian = await office.staff("list", "--lang", "id")
    _, english = await office.staff("list", "--lang", "en")
    siti_id = next(row for row in rows_of(indonesian) if row.startswith(refs["siti"]))
    assert "20-11-2026 09.00" in siti_id and "2026-11-20" not in indonesian
    assert "20-11-2026 09:00" in english and "(4 cases)" in english
    _, shown = await office.staff("show", refs["siti"], "--lang", "en")
    assert "2026-11-20" not in shown and re.search(r"\n  20-11-2026 09:\d\d ", shown)
    assert shown.startswith(f"{refs['siti']}  Registration  status: new\n")  # words, not codes


async def test_list_with_an_unknown_kecamatan_says_so(
    office: Office, capsys: pytest.CaptureFixture[str]
) -> None:
    await populate(office)
    code, listing = await office.staff("list", "--kecamatan", "bekasi")
    assert code == 2
    assert listing == ""
    err = capsys.readouterr().err
    assert "bekasi" in err and "Pondok Aren" in err and "Setu" in err  # what it could have been
    code, listing = await office.staff("list", "--kecamatan", "36.74.99")
    assert code == 2 and listing == ""
    assert "36.74.99" in capsys.readouterr().err


# ---------------------------------------------------------------- show


async def test_show_reveals_the_nik_and_records_who_looked(office: Office) -> None:
    refs = await populate(office)
    before = await office.events(refs["siti"])
    code, shown = await office.staff("show", refs["siti"].lower(), actor="rina")
    assert code == 0
    assert NIK in shown
    assert "Siti Aminah" in shown and "Pondok Aren / Jurangmangu Timur" in shown
    events = await office.events(refs["siti"])
    assert events[: len(before)] == before
    assert events[len(before) :] == [("staff:rina", "nik_viewed", None, None, "nik", False)]
    assert await office.audit() == [("staff:rina", "case.reveal_numbers", refs["siti"], "nik")]
    assert all(NIK not in str(row) for row in await office.audit())

    code, shown = await office.staff("show", refs["copy"], actor="budi")
    assert NIK in shown
    assert f"Kemungkinan duplikat dari: {refs['siti']}" in shown
    assert (await office.audit())[-1][:3] == ("staff:budi", "case.reveal_numbers", refs["copy"])


async def test_show_of_a_case_without_nik_records_nothing(office: Office) -> None:
    refs = await populate(office)
    before = await office.events(refs["ktp"])
    code, shown = await office.staff("show", refs["ktp"])
    assert code == 0
    assert "Ahmad Fauzi" in shown
    assert not re.search(r"\d{16}", shown)
    assert "dilihat oleh" not in shown  # no number revealed
    assert "  NIK: Tidak tahu\n" in shown  # the answers in words, as the dashboard shows them
    assert await office.events(refs["ktp"]) == before
    assert await office.audit() == []


async def test_show_of_an_unknown_reference_fails_cleanly(
    office: Office, capsys: pytest.CaptureFixture[str]
) -> None:
    await populate(office)
    code, shown = await office.staff("show", "REG-2026-999999")
    assert code == 2 and shown == ""
    assert "REG-2026-999999" in capsys.readouterr().err
    assert await office.audit() == []


# ---------------------------------------------------------------- set-status


async def test_status_moves_are_enforced_and_each_is_recorded_and_told(
    office: Office, capsys: pytest.CaptureFixture[str]
) -> None:
    siti = office.chat("siti")
    await agree(siti)
    reference = await register(siti, "Siti Aminah")
    created = await office.events(reference)

    code, _ = await office.staff("set-status", reference, "selesai")
    assert code == 2
    err = capsys.readouterr().err
    assert f"{reference}: status baru tidak bisa langsung menjadi selesai" in err  # in Indonesian
    assert "diproses" in err and "perlu_info" in err  # what would have been allowed
    for status, why in (("ditolak", "alasan"), ("perlu_info", "pertanyaan")):
        code, _ = await office.staff("set-status", reference, status)
        assert code == 2
        assert why in capsys.readouterr().err
    code, _ = await office.staff("set-status", reference, "ditolak", "--note", "   ")
    assert code == 2
    assert (await office.case(reference)).status == CaseStatus.BARU
    assert await office.events(reference) == created
    assert await office.audit() == []
    assert await office.staff_outbox() == []

    code, out = await office.staff("set-status", reference, "diproses")
    assert code == 0
    told = t("notify.diproses", kind=t("kind.registration"), reference=reference)
    assert f"{reference}: baru -> diproses" in out and told in out
    note = "Silakan datang ke kantor Dinsos hari Senin dengan KK."
    code, out = await office.staff("set-status", reference, "disetujui", "--note", note, actor="budi")
    assert code == 0
    code, out = await office.staff("set-status", reference, "selesai")
    assert code == 0
    code, _ = await office.staff("set-status", reference, "diproses")
    assert code == 2
    assert "status selesai tidak bisa langsung menjadi diproses (yang boleh: -)" in capsys.readouterr().err

    case = await office.case(reference)
    assert case.status == CaseStatus.SELESAI and case.citizen_note == note
    assert (await office.events(reference))[len(created) :] == [
        ("staff:rina", "status_changed", "baru", "diproses", None, True),
        ("staff:budi", "status_changed", "diproses", "disetujui", note, True),
        ("staff:rina", "status_changed", "disetujui", "selesai", None, True),
    ]
    assert await office.audit() == [
        ("staff:rina", "case.status", reference, "baru->diproses"),
        ("staff:budi", "case.status", reference, "diproses->disetujui"),
        ("staff:rina", "case.status", reference, "disetujui->selesai"),
    ]
    messages = [
        told,
        t("notify.disetujui", reference=reference, note=note),
        t("notify.selesai", reference=reference),
    ]
    case_id = case.id
    assert await office.staff_outbox() == [(siti.contact, text, "queued", case_id) for text in messages]

    # The running service's sender picks the rows up on its own and delivers them in order.
    sender = asyncio.create_task(office.service.dispatcher.run())
    try:
        async with asyncio.timeout(5):
            # The sender records its results in the store; poll that, as the staff would.
            while {row[2] for row in await office.staff_outbox()} != {"sent"}:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    assert [r.text for r in office.channel.sent[siti.contact]][-3:] == messages

    await siti.say("status")
    assert (
        t(
            "status.line",
            kind=t("kind.registration"),
            reference=reference,
            date="20-11-2026",
            status=t("status.selesai"),
        )
        in siti.text
    )
    assert t("status.note", note=note) in siti.text


async def test_an_english_speaker_is_told_in_english(office: Office) -> None:
    sam = office.chat("sam")
    await agree(sam, "en")
    await sam.say("staff")
    assert sam.last.text == t("talk.q.message", "en")
    reference = await answer(sam, "I lost my job and need help with food.")
    reason = "Your household already receives BPNT this year."
    code, out = await office.staff("set-status", reference, "ditolak", "--note", reason)
    assert code == 0
    expected = t("notify.ditolak", "en", reference=reference, reason=reason)
    assert expected in out
    await office.deliver_queued()
    assert office.channel.sent[sam.contact][-1].text == expected
    case = await office.case(reference)
    assert case.citizen_note == reason


async def test_a_contact_who_withdrew_consent_is_not_messaged(office: Office) -> None:
    siti = office.chat("siti")
    await agree(siti)
    reference = await register(siti, "Siti Aminah")
    await siti.say("data saya")
    await siti.tap(t("mydata.withdraw"))
    await siti.tap(t("common.yes"))
    assert siti.last.text == t("mydata.withdrawn")
    sent_before = len(office.channel.sent[siti.contact])

    code, out = await office.staff("set-status", reference, "diproses")
    assert code == 0
    assert "tidak dapat diberi tahu" in out
    assert (await office.case(reference)).status == CaseStatus.DIPROSES
    assert (await office.events(reference))[-1] == (
        "staff:rina",
        "status_changed",
        "baru",
        "diproses",
        None,
        False,
    )
    assert await office.staff_outbox() == []
    await office.deliver_queued()
    assert len(office.channel.sent[siti.contact]) == sent_before


# ---------------------------------------------------------------- perlu_info round trip


async def ask(office: Office, chat: Chat, reference: str, question: str) -> None:
    """Staff asks; the sender delivers; the citizen sees the question."""
    code, _ = await office.staff("set-status", reference, "perlu_info", "--note", question)
    assert code == 0
    await office.deliver_queued()
    assert office.channel.sent[chat.contact][-1].text == t(
        "notify.perlu_info", reference=reference, question=question
    )


async def test_global_words_are_not_taken_as_the_answer(office: Office) -> None:
    siti = office.chat("siti")
    await agree(siti)
    reference = await leave_message(siti)
    question = "Apakah Ibu masih punya fotokopi KK?"
    await ask(office, siti, reference, question)
    case = await office.case(reference)
    assert case.status == CaseStatus.PERLU_INFO and case.info_question == question

    await siti.say("status")
    assert t("status.question", question=question) in siti.text
    await siti.say("MENU")
    assert siti.last.text == t("menu.prompt")
    assert (await office.case(reference)).status == CaseStatus.PERLU_INFO

    await siti.say("Masih ada, Pak.")
    assert siti.replies[0].text == t("info.thanks", reference=reference)
    assert (await office.case(reference)).status == CaseStatus.DIPROSES


async def test_info_answer_arrives_while_filling_a_form(office: Office) -> None:
    siti = office.chat("siti")
    await agree(siti)
    reference = await leave_message(siti)
    await siti.say("minta bantuan")
    await siti.say("1")  # for myself
    await siti.say("Siti Aminah")
    assert siti.last.text == t("aid.q.kind")

    question = "Apakah Ibu masih punya fotokopi KK?"
    await ask(office, siti, reference, question)
    await siti.say("Masih ada, fotokopi KK saya simpan.")
    assert [r.text for r in siti.replies] == [t("info.thanks", reference=reference), t("aid.q.kind")]
    assert len(siti.last.choices) == 10  # the aid kinds

    case = await office.case(reference)
    assert case.status == CaseStatus.DIPROSES and case.info_question is None
    assert (await office.events(reference))[-1] == (
        f"contact:{siti.contact}",
        "info_answered",
        "perlu_info",
        "diproses",
        "Masih ada, fotokopi KK saya simpan.",
        False,
    )
    contact = await repo.get_contact(office.service.db, siti.contact)
    assert contact is not None and contact.awaiting_case_id is None

    # The next message is an answer to the form again, with the earlier answers kept.
    await siti.say("1")
    assert siti.last.text == t("aid.q.description")
    _, shown = await office.staff("show", reference)
    assert "info_answered perlu_info->diproses | Masih ada, fotokopi KK saya simpan." in shown


async def test_info_answer_as_a_photo_in_english(office: Office) -> None:
    sam = office.chat("sam")
    await agree(sam, "en")
    reference = await report_lost_ktp(sam, "Sam Wibowo", lang="en")
    question = "Please send a photo of your family card (KK)."
    code, _ = await office.staff("set-status", reference, "perlu_info", "--note", question)
    assert code == 0
    await office.deliver_queued()
    assert office.channel.sent[sam.contact][-1].text == t(
        "notify.perlu_info", "en", reference=reference, question=question
    )
    await sam.send_media("photo", "kk-photo-1")
    assert sam.replies[0].text == t("info.thanks", "en", reference=reference)
    assert t("menu.prompt", "en") in sam.last.text  # not in a form: back at the menu
    assert (await office.case(reference)).status == CaseStatus.DIPROSES
    assert (await office.events(reference))[-1][1:5] == (
        "info_answered",
        "perlu_info",
        "diproses",
        "photo:kk-photo-1",
    )
    # Answered once: the next message is an ordinary one again.
    await sam.say("status")
    assert (await office.events(reference))[-1][1] == "info_answered"
    assert t("status.diproses", "en") in sam.text


# ---------------------------------------------------------------- export


def test_safe_cell_makes_formulas_inert() -> None:
    for risky in ("=1+1", "+62812", "-2+3", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x")'):
        cell = compose.safe_cell(risky)
        assert cell == "'" + risky
    for plain in ("Siti Aminah", "REG-2026-000001", "3674********0001", "2026-11-20 09:00", "a=b", ""):
        assert compose.safe_cell(plain) == plain
    assert compose.safe_cell(None) == ""
    assert compose.safe_cell(12) == "12"


async def test_export_is_masked_local_time_filtered_and_formula_safe(office: Office, tmp_path: Path) -> None:
    refs = await populate(office)
    # A name no flow would accept, as if a channel's profile name reached the store unchecked.
    at = office.clock()

    def sneak(conn: Tx) -> None:
        reference = repo.next_reference(conn, CaseKind.MESSAGE, 2026)
        record = CaseRecord(
            reference=reference,
            kind=CaseKind.MESSAGE,
            contact_id="console:siti",
            subject_name='=HYPERLINK("http://evil.example","klik")',
            answers={"message": {"text": "+628 halo"}},
            created_at=at,
            updated_at=at,
        )
        repo.insert_case(conn, record, "test")

    await office.service.db.write(sneak)

    out = tmp_path / "kasus.csv"
    code, said = await office.staff("export", "--out", str(out))
    assert code == 0
    assert "5 kasus" in said
    raw = out.read_text(encoding="utf-8-sig")
    assert NIK not in raw
    rows = list(csv.DictReader(raw.splitlines()))
    # The dashboard's readable export: its columns in the operator's words, then one column per answer.
    column = {key: STAFF_WORDS.text("id", f"export.{key}") for key in staff_exports.COLUMNS}
    assert list(rows[0])[: len(column)] == list(column.values())
    assert CATALOG.text("id", "reg.label.birth_date") in rows[0]
    by_ref = {row[column["reference"]]: row for row in rows}
    assert set(by_ref) == {*refs.values(), "PSN-2026-000002"}
    assert len(rows) == 5
    siti = by_ref[refs["siti"]]
    assert siti[column["nik"]] == MASKED
    assert siti[column["kind"]] == STAFF_WORDS.text("id", "kind.registration")  # words, not codes
    assert siti[column["created_at"]] == "20-11-2026 09:00"
    assert by_ref[refs["talk"]][column["created_at"]] == "20-11-2026 09:05"
    assert siti[column["kecamatan"]] == "Pondok Aren"
    assert by_ref[refs["ktp"]][column["nik"]] == ""  # missing is empty, not a "-" that needs escaping
    assert by_ref[refs["talk"]][column["kecamatan"]] == by_ref[refs["talk"]][column["kelurahan"]] == ""
    assert by_ref[refs["copy"]][column["duplicate_of"]] == refs["siti"]
    assert "{" not in raw  # no raw JSON of answers
    assert by_ref["PSN-2026-000002"][column["name"]] == "'" + '=HYPERLINK("http://evil.example","klik")'
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert (await office.audit())[-1] == ("staff:rina", "cases.export", None, "-> 5 rows")

    filtered = tmp_path / "ktp.csv"
    code, said = await office.staff("export", "--out", str(filtered), "--kind", "lost_ktp")
    assert code == 0 and "1 kasus" in said
    number = column["reference"]
    picked = csv.DictReader(filtered.read_text(encoding="utf-8-sig").splitlines())
    assert [row[number] for row in picked] == [refs["ktp"]]
    code, said = await office.staff("export", "--out", str(filtered), "--kecamatan", "pd aren")
    picked = csv.DictReader(filtered.read_text(encoding="utf-8-sig").splitlines())
    assert [row[number] for row in picked] == [refs["siti"]]


# ---------------------------------------------------------------- staff and citizen at the same moment


async def test_a_question_asked_during_a_citizen_turn_is_not_lost(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    siti = office.chat("siti")
    await agree(siti)
    reference = await leave_message(siti)
    question = "Apakah Ibu masih punya fotokopi KK?"
    real_step = router.step

    async def staff_asks_mid_turn(turn: Turn) -> None:
        monkeypatch.setattr(router, "step", real_step)
        assert (await office.staff("set-status", reference, "perlu_info", "--note", question))[0] == 0
        await real_step(turn)

    monkeypatch.setattr(router, "step", staff_asks_mid_turn)
    await siti.say("status")  # the turn read the contact before the question was stored
    case = await office.case(reference)
    contact = await repo.get_contact(office.service.db, siti.contact)
    assert contact is not None and contact.awaiting_case_id == case.id
    await office.deliver_queued()
    await siti.say("Masih ada, Pak.")
    assert siti.replies[0].text == t("info.thanks", reference=reference)
    assert (await office.case(reference)).status == CaseStatus.DIPROSES


async def test_an_answer_to_a_case_staff_just_closed_does_not_reopen_it(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    siti = office.chat("siti")
    await agree(siti)
    reference = await leave_message(siti)
    await ask(office, siti, reference, "Apakah Ibu masih punya fotokopi KK?")
    reason = "Permohonan yang sama sudah diproses di kelurahan."
    real_read = threads.open_questions

    async def staff_rejects_after_the_read(db: Database, contact_id: str) -> list[OpenQuestion]:
        monkeypatch.setattr(threads, "open_questions", real_read)
        found = await real_read(db, contact_id)  # the turn sees the question waiting ...
        assert (await office.staff("set-status", reference, "ditolak", "--note", reason))[0] == 0
        return found  # ... and staff reject the case before the turn commits

    monkeypatch.setattr(threads, "open_questions", staff_rejects_after_the_read)
    await siti.say("Masih ada, Pak.")
    case = await office.case(reference)
    assert case.status == CaseStatus.DITOLAK  # a rejected case cannot jump back to diproses
    events = await office.events(reference)
    assert events[-2][1:4] == ("status_changed", "perlu_info", "ditolak")
    assert events[-1][1:5] == ("info_answered", None, None, "Masih ada, Pak.")  # still kept for staff


async def test_after_withdrawing_consent_a_new_message_is_not_filed_under_an_old_question(
    office: Office,
) -> None:
    siti = office.chat("siti")
    await agree(siti)
    reference = await register(siti, "Siti Aminah")
    await ask(office, siti, reference, "Apakah Ibu masih tinggal di alamat yang sama?")
    await siti.say("menu")
    await siti.tap(t("menu.my_data"))  # a button, not typed words: those would be the answer
    await siti.tap(t("mydata.withdraw"))
    await siti.tap(t("common.yes"))
    assert siti.last.text == t("mydata.withdrawn")

    await siti.say("halo")
    await siti.tap(t("consent.agree"))
    await siti.say("Saya mau daftar lagi")
    assert t("info.thanks", reference=reference) not in siti.text
    assert (await office.events(reference))[-1][1] != "info_answered"
