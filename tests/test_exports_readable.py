"""Readable exports: one column per answer in words (place names, choice labels), dates as dates, phone
and urgency columns (masked for viewers), simulated cases marked."""

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell

from handlers.i18n import Catalog
from storage.records import CaseKind
from tests.dashboard_support import Desk, SeedCase, open_desk
from tests.support import Clock

CITIZEN = Catalog.load()
UI = Catalog.load(Path(__file__).resolve().parent.parent / "bot" / "dashboard" / "locales")
REGISTRATION = {
    "birth_date": "1985-08-17",
    "sex": "P",
    "phone": "+6281234567890",
    "address": "Jl. H. Sarmili RT 03/RW 05",
    "household_size": 5,
    "skills": ["masak", "service_hp"],
    "disaster_victim": True,
    "documents": ["kk"],
}


def ui(key: str, lang: str = "id", **params: object) -> str:
    return UI.text(lang, key, **params)


def said(key: str, lang: str = "id") -> str:
    return CITIZEN.text(lang, key)


@pytest.fixture
async def desk(tmp_path: Path, clock: Clock) -> AsyncIterator[Desk]:
    async with open_desk(tmp_path / "data", clock) as opened:
        yield opened


def by_header(rows: list[list[str]]) -> list[dict[str, str]]:
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


async def test_the_csv_has_a_column_per_answer_in_words(desk: Desk) -> None:
    await desk.signed_in("petugas")
    (reg, aid) = await desk.seed(
        SeedCase("Siti Aminah", answers=REGISTRATION, contact="whatsapp:6281234567890"),
        SeedCase("Budi", CaseKind.AID, answers={"urgency": "today", "aid_kind": "basic", "people": 3}),
    )
    response = await desk.client.get("/cases/export.csv")
    text = response.content.decode("utf-8-sig")
    # Seen: answers were one raw JSON column with codes.
    assert '"kecamatan": "36.74.03"' not in text and '"urgency"' not in text
    first, second = by_header(list(csv.reader(io.StringIO(text))))
    assert first[ui("export.reference")] == reg and second[ui("export.reference")] == aid
    assert first[ui("export.kecamatan")] == "Pondok Aren"
    assert first[ui("export.kelurahan")] == "Jurangmangu Timur"
    assert first[ui("export.created_at")] == "18-11-2026 10:00"
    assert first[ui("export.phone")] == "+6281234567890"
    assert first[said("reg.label.birth_date")] == "17-08-1985"
    assert first[said("reg.label.skills")] == f"{said('skill.masak')}, {said('skill.service_hp')}"
    assert first[said("reg.label.household_size")] == "5"
    assert first[said("reg.label.address")] == "Jl. H. Sarmili RT 03/RW 05"
    assert first[ui("export.simulated")] == "" and second[ui("export.simulated")] == ui(
        "export.simulated_yes"
    )
    assert second[ui("export.urgency")] == said("aid.urgency.today")
    assert second[said("aid.label.people")] == "3"
    assert "today" not in second.values() and "basic" not in second.values()


async def test_viewers_get_masked_phones_and_the_xlsx_has_real_dates(desk: Desk) -> None:
    await desk.signed_in("viewer")
    await desk.seed(SeedCase("Siti Aminah", answers=REGISTRATION))
    rows = list(
        csv.reader(io.StringIO((await desk.client.get("/cases/export.csv")).content.decode("utf-8-sig")))
    )
    (first,) = by_header(rows)
    assert first[ui("export.phone")] != "+6281234567890" and first[ui("export.phone")].endswith("890")
    workbook = await desk.client.get("/cases/export.xlsx")
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    created = sheet.cell(row=2, column=header.index(ui("export.created_at")) + 1)
    born = sheet.cell(row=2, column=header.index(said("reg.label.birth_date")) + 1)
    assert isinstance(created, Cell) and isinstance(born, Cell)
    assert created.is_date and created.value == datetime(2026, 11, 18, 10, 0)
    assert born.is_date and born.value == datetime(1985, 8, 17) and born.number_format == "DD-MM-YYYY"
    skills = sheet.cell(row=2, column=header.index(said("reg.label.skills")) + 1)
    assert skills.value == f"{said('skill.masak')}, {said('skill.service_hp')}"
