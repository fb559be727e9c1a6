"""Working-day promises: each case kind has a target in working days (Indonesian public holidays and
weekends skipped); the queue marks and sorts cases past it ("lewat batas"); the summary counts them; the
bot promises the registration target it is set to."""

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from handlers.staff.workdays import due_day, is_working_day, overdue_before
from storage.records import CaseKind, CaseStatus
from tests.dashboard_support import Desk, SeedCase, open_desk
from tests.flow_steps import agree, register, t
from tests.support import Chat, Clock, start_service

UI_OVERDUE = "lewat batas"


def test_weekends_and_public_holidays_are_not_working_days() -> None:
    assert not is_working_day(date(2026, 11, 21))  # Saturday
    assert not is_working_day(date(2026, 8, 17))  # Independence Day, a Monday
    assert not is_working_day(date(2026, 12, 25))  # Christmas
    assert is_working_day(date(2026, 11, 20))
    # Received Friday 14 August 2026: Monday is Independence Day, so 3 working days end on Thursday.
    assert due_day(date(2026, 8, 14), 3) == date(2026, 8, 20)
    # Received on a Saturday: counting starts on Monday.
    assert due_day(date(2026, 11, 21), 1) == date(2026, 11, 23)
    # On Friday 20 November, a case received Monday the 16th (due Thursday) is late; Tuesday's is not.
    assert overdue_before(date(2026, 11, 20), 3) == date(2026, 11, 17)


@pytest.fixture
async def desk(tmp_path: Path, clock: Clock) -> AsyncIterator[Desk]:
    async with open_desk(tmp_path / "data", clock) as opened:
        yield opened


async def test_the_queue_marks_and_sorts_late_cases_and_the_summary_counts_them(desk: Desk) -> None:
    # The clock: Friday 20 November 2026, 09:00 WIB. Registrations have 3 working days, aid 3.
    await desk.signed_in("petugas")
    monday = datetime(2026, 11, 16, 3, 0, tzinfo=UTC)
    wednesday = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)
    late, fresh, decided, waiting_on_citizen = await desk.seed(
        SeedCase("Terlambat", created_at=monday),
        SeedCase("Baru Masuk", created_at=wednesday),
        SeedCase("Sudah Diputuskan", created_at=monday, status=CaseStatus.DISETUJUI),
        SeedCase("Menunggu Warga", CaseKind.AID, created_at=monday, status=CaseStatus.PERLU_INFO),
    )
    page = (await desk.client.get("/cases")).text
    rows = {
        ref: page.split(f'href="/cases/{ref}"', 1)[1].split("</tr>", 1)[0] for ref in (late, fresh, decided)
    }
    # Seen: the promise of 3 working days was not tracked anywhere.
    assert UI_OVERDUE in rows[late]
    assert UI_OVERDUE not in rows[fresh] and UI_OVERDUE not in rows[decided]
    ordered = (await desk.client.get("/cases", params={"sort": "overdue"})).text
    assert ordered.index(f"/cases/{late}") < ordered.index(f"/cases/{fresh}")
    assert ordered.index(f"/cases/{late}") < ordered.index(f"/cases/{decided}")
    summary = (await desk.client.get("/")).text
    card = summary.split('href="/cases?sort=overdue"', 1)[1].split("</a>", 1)[0]
    assert '<span class="number">1</span>' in card
    assert waiting_on_citizen


async def test_the_bot_promises_the_registration_target_it_is_set_to(tmp_path: Path, clock: Clock) -> None:
    service, channel = await start_service(tmp_path / "data", clock, target_days_registration=5)
    try:
        chat = Chat(service, channel, clock)
        await agree(chat)
        await register(chat, name="Siti Aminah")
        said = "\n".join(reply.text for reply in chat.replies)
        assert "dalam 5 hari kerja" in said and "dalam 3 hari kerja" not in said
        assert t("reg.done.self", name="Siti Aminah", reference="X", days=5).split("X")[1] in said
    finally:
        await service.close()


async def test_the_command_line_list_marks_late_cases(desk: Desk) -> None:
    import io

    from bot import staff_cli
    from bot.__main__ import _parser
    from tests.support import make_settings

    late, fresh = await desk.seed(
        SeedCase("Terlambat", created_at=datetime(2026, 11, 16, 3, 0, tzinfo=UTC)),
        SeedCase("Baru Masuk", created_at=datetime(2026, 11, 18, 3, 0, tzinfo=UTC)),
    )
    out = io.StringIO()
    args = _parser().parse_args(["--data-dir", str(desk.data_dir), "staff", "--as", "rina", "list"])
    # The command line reads the real clock: pin the store's cases relative to it instead.
    await desk.service.db.write(
        lambda conn: conn.execute(
            "UPDATE cases SET created_at = ? WHERE reference = ?",
            (datetime(2020, 1, 6, 3, 0, tzinfo=UTC).isoformat(), late),
        )
    )
    await desk.service.db.write(
        lambda conn: conn.execute(
            "UPDATE cases SET created_at = ? WHERE reference = ?", (datetime.now(UTC).isoformat(), fresh)
        )
    )
    assert await staff_cli.run(args, make_settings(desk.data_dir), out=out) == 0
    lines = {line.split()[0]: line for line in out.getvalue().splitlines() if line.startswith(("REG", "BAN"))}
    assert "[lewat batas]" in lines[late] and "[lewat batas]" not in lines[fresh]
