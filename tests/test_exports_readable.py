"""Readable exports: one column per answer in words (place names, choice labels), dates as dates, phone
and urgency columns (masked for viewers), simulated cases marked."""

import csv
import io
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell

from handlers.i18n import Catalog
from handlers.staff import exports
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


async def test_a_large_csv_made_by_worker_processes_is_the_file_made_in_one(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    await desk.signed_in("viewer")
    await desk.seed(
        *(
            SeedCase(f"Warga {number}", answers={**REGISTRATION, "phone": f"+62812{number:08d}"})
            for number in range(300)
        )
    )
    monkeypatch.setattr(exports, "EXPORT_WORKERS", 1)
    made_here = (await desk.client.get("/cases/export.csv")).content
    # From 100 cases on, ranges of 25 case ids go to two worker processes.
    monkeypatch.setattr(exports, "EXPORT_WORKERS", 2)
    monkeypatch.setattr(exports, "PARALLEL_FROM", 100)
    monkeypatch.setattr(exports, "SPAN", 25)
    pools: list[ProcessPoolExecutor] = []

    def pool(*args: Any, **kwargs: Any) -> ProcessPoolExecutor:
        pools.append(ProcessPoolExecutor(*args, **kwargs))
        return pools[-1]

    monkeypatch.setattr(exports, "ProcessPoolExecutor", pool)
    by_workers = (await desk.client.get("/cases/export.csv")).content

    assert len(pools) == 1 and by_workers == made_here
    rows = by_header(list(csv.reader(io.StringIO(by_workers.decode("utf-8-sig")))))
    assert [row[ui("export.name")] for row in rows] == [f"Warga {number}" for number in range(300)]
    assert all(row[ui("export.phone")].startswith("+62") and "*" in row[ui("export.phone")] for row in rows)


# ---------------------------------------------------------------- the SIKS-NG / DTSEN worksheet


async def test_the_siks_ng_worksheet_has_a_sheet_per_kelurahan_with_numbers_as_text(desk: Desk) -> None:
    await desk.signed_in("petugas")
    nik_leading_zero = "0374015708850001"  # an (invented) number whose leading zero must survive
    await desk.seed(
        SeedCase("Siti Aminah", nik=nik_leading_zero, answers=REGISTRATION),
        SeedCase("Budi", kecamatan="36.74.01", kelurahan="36.74.01.1001"),
        SeedCase("Lama", created_at=datetime(2026, 9, 1, 3, 0, tzinfo=UTC)),  # outside the range
    )

    def enrich(conn: Any) -> None:
        sealer = desk.service.services.sealer
        conn.execute(
            "UPDATE persons SET kk = ?, birth_date = '1985-08-17', sex = 'P', household_size = 5, "
            "disaster_victim = 1, documents = '[\"kk\"]', address = 'Jl. H. Sarmili RT 03/RW 05' "
            "WHERE full_name = 'Siti Aminah'",
            (sealer.seal("0374012508200003").model_dump_json(),),
        )

    await desk.service.db.write(enrich)
    response = await desk.client.get("/persons/siks.xlsx", params={"from": "2026-11-01", "to": "2026-11-30"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert len(book.sheetnames) == 2 and "Jurangmangu Timur" in book.sheetnames  # one sheet per kelurahan
    sheet = book["Jurangmangu Timur"]
    header = [cell.value for cell in sheet[3]]
    assert header[:4] == [ui("siks.col_number"), ui("siks.col_nik"), ui("siks.col_kk"), ui("siks.col_name")]
    assert header[-4:] == [
        ui(f"siks.col_{c}") for c in ("status", "proposed_on", "dukcapil_match", "operator_note")
    ]
    row = dict(zip(header, sheet[4], strict=True))
    nik, kk = row[ui("siks.col_nik")], row[ui("siks.col_kk")]
    assert nik.data_type == "s" and nik.value == nik_leading_zero
    assert kk.data_type == "s" and kk.value == "0374012508200003"
    assert row[ui("siks.col_name")].value == "Siti Aminah"
    assert row[ui("siks.col_kelurahan_code")].value == "36.74.03.1011"
    assert row[ui("siks.col_ppks")].value == ui("siks.ppks_pemulung")
    assert (row[ui("siks.col_rt")].value, row[ui("siks.col_rw")].value) == ("003", "005")
    assert row[ui("siks.col_birth_date")].value == datetime(1985, 8, 17)
    assert row[ui("siks.col_sex")].value == ui("siks.sex_p")
    assert row[ui("siks.col_household_size")].value == 5
    assert row[ui("siks.col_disaster_victim")].value == ui("siks.yes")
    assert row[ui("siks.col_documents")].value == said("doc.kk")
    assert all(
        row[ui(f"siks.col_{c}")].value in (None, "") for c in ("status", "operator_note", "birth_place")
    )
    assert sheet.max_row == 4  # "Lama" registered before the range is left out
    backwards = await desk.client.get("/persons/siks.xlsx", params={"from": "2026-11-30", "to": "2026-11-01"})
    assert backwards.status_code == 400 and ui("siks.need_dates") in backwards.text
    audited = await desk.rows("SELECT detail FROM audit_log WHERE action = 'persons.siks_export'")
    assert audited == [{"detail": "01-11-2026..30-11-2026 all: 2 rows"}]


async def test_viewers_cannot_download_the_worksheet_and_dates_are_needed(desk: Desk) -> None:
    await desk.signed_in("viewer")
    refused = await desk.client.get("/persons/siks.xlsx", params={"from": "2026-11-01", "to": "2026-11-30"})
    assert refused.status_code == 403
