"""Appointments are a staff-service action (`handlers.staff.casework.set_appointment`): the command line
and the dashboard set them through it, and a refusal is said in each surface's own words (the command
line printed the service's English message before)."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from handlers.i18n import Catalog
from tests.dashboard_support import Desk, SeedCase, open_desk
from tests.support import Clock
from tests.test_staff_segments import cli

UI = Catalog.load(Path(__file__).resolve().parent.parent / "bot" / "dashboard" / "locales")
ENGLISH = ("already past", "no case with")  # the service's own messages, for logs


@pytest.fixture
async def desk(tmp_path: Path, clock: Clock) -> AsyncIterator[Desk]:
    async with open_desk(tmp_path / "data", clock) as opened:
        yield opened


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_the_command_line_words_appointment_refusals_in_its_own_language(
    desk: Desk, lang: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (reference,) = await desk.seed(SeedCase("Siti Aminah"))
    capsys.readouterr()
    code, _ = await cli(
        desk, "appointment", reference, "--at", "01-01-2020 09:00", "--place", "Kantor", lang=lang
    )
    assert code == 2
    said = capsys.readouterr().err
    assert UI.text(lang, "cli.appointment_past") in said
    code, _ = await cli(desk, "appointment", reference, "--at", "01-01-2099 09:00", "--place", " ", lang=lang)
    assert code == 2
    assert UI.text(lang, "cli.appointment_place") in (said := capsys.readouterr().err)
    code, _ = await cli(
        desk, "appointment", "REG-2026-999999", "--at", "01-01-2099 09:00", "--place", "Kantor"
    )
    assert code == 2
    assert UI.text("id", "cli.no_case", reference="REG-2026-999999") in (
        said := said + capsys.readouterr().err
    )
    assert not any(english in said for english in ENGLISH), said
    if lang == "id":
        assert UI.text("en", "cli.appointment_place") not in said
    assert await desk.rows("SELECT id FROM appointments") == []

    code, printed = await cli(
        desk, "appointment", reference.lower(), "--at", "01-01-2099 09:00", "--place", "Kantor"
    )
    assert code == 0 and reference in printed
    (made,) = await desk.rows("SELECT place FROM appointments")
    assert made["place"] == "Kantor"
    kinds = await desk.rows("SELECT kind FROM reminders WHERE appointment_id IS NOT NULL ORDER BY kind")
    assert [row["kind"] for row in kinds] == ["appointment_day_before", "appointment_morning"]
