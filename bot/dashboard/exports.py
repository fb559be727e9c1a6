"""Exports of the filtered queue: CSV streamed batch by batch, XLSX written row by row to a temporary file.

Memory stays flat however many cases there are. NIK and KK numbers are exported masked. A cell that a
spreadsheet would run as a formula (a name typed as "=HYPERLINK(...)") is made inert: in CSV it gets a
leading apostrophe (as in the CLI export), in XLSX every text is written as a plain string cell, which
no spreadsheet evaluates.
"""

import asyncio
import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, StreamingResponse

from bot.dashboard import queries
from bot.dashboard.app import Dashboard
from bot.dashboard.queries import QueueFilter
from bot.staff_cli import safe_cell

COLUMNS = (
    "reference",
    "kind",
    "status",
    "created_at",
    "name",
    "kecamatan",
    "kelurahan",
    "nik",
    "assignee",
    "duplicate_of",
    "citizen_note",
    "answers",
)
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class RowMaker:
    """Turns stored case rows into export rows (labels in the staff member's language)."""

    def __init__(self, d: Dashboard, lang: str, *, mask_phones: bool = False) -> None:
        self.mask_phones = mask_phones
        self.tz = d.tz
        self.kecamatan = {k.code: k.name for k in d.places.kecamatan}
        self.kelurahan = {v.code: v.name for k in d.places.kecamatan for v in d.places.kelurahan_of(k.code)}
        self.kinds = {
            key.removeprefix("kind."): text
            for key, text in d.ui.messages[lang].items()
            if key.startswith("kind.")
        }
        self.statuses = {
            key.removeprefix("status."): text
            for key, text in d.ui.messages[lang].items()
            if key.startswith("status.")
        }
        self.header = [d.words(lang, f"export.{column}") for column in COLUMNS]

    def values(self, row: dict[str, Any]) -> list[str]:
        """One case as export cells (plain text, before any spreadsheet guarding)."""
        answers = json.loads(row["answers"] or "{}")
        nik = answers.get("nik")
        # Sealed numbers ({"c": cipher, "h": hash, "m": masked}) leave only their masked form.
        public = {
            key: (value["m"] if isinstance(value, dict) and "c" in value and "m" in value else value)
            for key, value in answers.items()
        }
        if self.mask_phones:  # viewers: phone numbers masked here as on every page
            from bot.dashboard.cases import mask_phone, phone_fields  # cases imports this module

            for key in phone_fields(row["kind"]) & public.keys():
                if isinstance(public[key], str) and public[key] != "0":
                    public[key] = mask_phone(public[key])
        created = datetime.fromisoformat(row["created_at"]).astimezone(self.tz)
        return [
            row["reference"],
            self.kinds.get(row["kind"], row["kind"]),
            self.statuses.get(row["status"], row["status"]),
            created.strftime("%Y-%m-%d %H:%M"),
            row["subject_name"],
            self.kecamatan.get(row["kecamatan_code"] or "", ""),
            self.kelurahan.get(row["kelurahan_code"] or "", ""),
            str(nik["m"]) if isinstance(nik, dict) and "m" in nik else "",
            row["assignee_name"] or "",
            row["duplicate_of"] or "",
            row["citizen_note"] or "",
            json.dumps(public, ensure_ascii=False) if public else "",
        ]


def _filename(d: Dashboard, extension: str) -> str:
    return f"kasus-{d.clock().astimezone(d.tz):%Y%m%d-%H%M}.{extension}"


def csv_response(
    d: Dashboard, flt: QueueFilter, lang: str, *, mask_phones: bool = False
) -> StreamingResponse:
    """The filtered cases as a CSV download, produced while it is sent."""
    maker = RowMaker(d, lang, mask_phones=mask_phones)

    async def body() -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        # The byte-order mark makes Excel read the file as UTF-8 (names with accents, "Rp").
        buffer.write("\ufeff")
        writer.writerow(maker.header)
        async for batch in queries.iter_cases(d.db, flt, tz=d.tz, sealer=d.sealer):
            writer.writerows([safe_cell(value) for value in maker.values(row)] for row in batch)
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue().encode("utf-8")

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{_filename(d, "csv")}"'},
    )


def _text_cell(sheet: WriteOnlyWorksheet, value: str) -> Cell:
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
    # openpyxl would store "=..." as a formula; a string cell is shown, never run.
    cell.data_type = "s"
    return cell


def _append(sheet: WriteOnlyWorksheet, rows: list[list[str]]) -> None:
    for row in rows:
        sheet.append([_text_cell(sheet, value) for value in row])


async def xlsx_response(
    d: Dashboard, flt: QueueFilter, lang: str, *, mask_phones: bool = False
) -> FileResponse:
    """The filtered cases as an Excel workbook (write-only mode: rows go to disk as they come)."""
    maker = RowMaker(d, lang, mask_phones=mask_phones)
    handle, path = tempfile.mkstemp(prefix="dinsos-export-", suffix=".xlsx")
    os.close(handle)
    try:
        book = Workbook(write_only=True)
        sheet = book.create_sheet(d.words(lang, "export.sheet"))
        await asyncio.to_thread(_append, sheet, [maker.header])
        async for batch in queries.iter_cases(d.db, flt, tz=d.tz, sealer=d.sealer):
            await asyncio.to_thread(_append, sheet, [maker.values(row) for row in batch])
        await asyncio.to_thread(book.save, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return FileResponse(
        path,
        media_type=XLSX_MIME,
        filename=_filename(d, "xlsx"),
        background=BackgroundTask(os.unlink, path),
    )
