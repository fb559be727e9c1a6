"""The staff service's rules that every surface shares (the Telegram group, the dashboard, the command
line): which moves a case may make and which need a note, a typed time that must be to come, a
reminder's schedule in words, and the list of staff reminders."""

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from handlers import outreach
from handlers.i18n import Catalog
from handlers.outreach import OutreachError
from handlers.segments import Segment
from handlers.staff.moves import allowed_moves, may_move, note_needed
from handlers.staff.schedules import read_future, schedule_words, staff_reminders
from storage.contract import Store
from storage.records import CaseStatus
from tests.contract.test_outreach import AT, WIB

CATALOG = Catalog.load()


def test_moves_are_offered_in_status_order_and_a_rejection_or_a_question_needs_a_note() -> None:
    assert allowed_moves(CaseStatus.BARU) == [
        CaseStatus.DIPROSES,
        CaseStatus.PERLU_INFO,
        CaseStatus.DISETUJUI,
        CaseStatus.DITOLAK,
    ]
    assert may_move(CaseStatus.BARU, "diproses") and not may_move(CaseStatus.BARU, CaseStatus.SELESAI)
    assert allowed_moves(CaseStatus.SELESAI) == []
    assert note_needed(CaseStatus.DITOLAK) == "reason_needed"
    assert note_needed(CaseStatus.PERLU_INFO) == "question_needed"
    assert note_needed(CaseStatus.DISETUJUI) is None


def test_a_typed_time_is_read_as_written_in_indonesia_and_must_be_to_come() -> None:
    expected = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)  # 09:00 WIB
    assert read_future("03-11-2026 09:00", tz=WIB, now=AT) == expected
    assert read_future("2026-11-03 09.00", tz=WIB, now=AT) == expected
    with pytest.raises(OutreachError) as past:
        read_future("02-11-2026 09:00", tz=WIB, now=AT)  # an hour ago
    assert past.value.code == "time_past"
    with pytest.raises(OutreachError) as unreadable:
        read_future("besok jam 9", tz=WIB, now=AT)
    assert (unreadable.value.code, unreadable.value.params) == ("bad_time", {"text": "besok jam 9"})


def test_a_schedule_reads_in_words_with_its_next_time_in_both_languages() -> None:
    monday = datetime(2026, 11, 9, 1, 0, tzinfo=UTC)  # 08:00 WIB
    assert schedule_words("0 8 * * mon", monday, CATALOG, "id", WIB) == (
        "setiap Senin 08.00, berikutnya 09-11-2026 08:00 WIB"
    )
    assert schedule_words("0 8 * * mon", monday, CATALOG, "en", WIB).startswith("every Monday 08:00")
    assert schedule_words(None, monday, CATALOG, "id", WIB) == "09-11-2026 08:00 WIB"


async def test_staff_reminders_are_listed_soonest_first_and_say_when_there_are_more(store: Store) -> None:
    segment = Segment(everyone=True)
    for hours in (30, 10, 20):
        create = partial(
            outreach.create_reminder,
            segment=segment,
            text_id=f"Pengingat {hours}",
            text_en=None,
            due_at=AT + timedelta(hours=hours),
            cron=None,
            actor="staff:a",
            at=AT,
            tz=WIB,
        )
        await store.write(create)
    listed = await staff_reminders(store, 2)
    assert [row.text_id for row in listed.rows] == ["Pengingat 10", "Pengingat 20"]
    assert listed.more
    everything = await staff_reminders(store, 3)
    assert len(everything.rows) == 3 and not everything.more
