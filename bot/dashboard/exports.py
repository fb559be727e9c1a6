"""Exports of the filtered queue: CSV streamed batch by batch, XLSX written row by row to a temporary file.

Memory stays flat however many cases there are. NIK and KK numbers are exported masked. A cell that a
spreadsheet would run as a formula (a name typed as "=HYPERLINK(...)") is made inert: in CSV it gets a
leading apostrophe (as in the CLI export), in XLSX every text is written as a plain string cell, which
no spreadsheet evaluates.
"""

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Awaitable, Callable
from datetime import date, datetime
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
from handlers.staff.exports import DATE_FORMAT, DATETIME_FORMAT, RowMaker, csv_chunks

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def row_maker(d: Dashboard, lang: str, *, mask_phones: bool = False, dates: bool = False) -> RowMaker:
    """The staff service's export rows, in this dashboard's words."""
    return RowMaker(
        catalog=d.catalog,
        words=d.ui,
        lang=lang,
        places=d.places,
        tz=d.tz,
        now=d.clock(),
        mask_phones=mask_phones,
        dates=dates,
    )


def _filename(d: Dashboard, extension: str) -> str:
    return f"kasus-{d.clock().astimezone(d.tz):%Y%m%d-%H%M}.{extension}"


def csv_response(
    d: Dashboard, flt: QueueFilter, lang: str, *, mask_phones: bool = False
) -> StreamingResponse:
    """The filtered cases as a CSV download, produced while it is sent."""
    maker = row_maker(d, lang, mask_phones=mask_phones)

    return StreamingResponse(
        csv_chunks(maker, d.db, flt.cases(d.tz, d.sealer)),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{_filename(d, "csv")}"'},
    )


def _text_cell(sheet: WriteOnlyWorksheet, value: str) -> Cell:
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
    # openpyxl would store "=..." as a formula; a string cell is shown, never run.
    cell.data_type = "s"
    return cell


def _cell(sheet: WriteOnlyWorksheet, value: Any) -> Cell:
    """A text cell (never a formula), or a real date / date-time cell shown as dd-mm-yyyy."""
    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = DATETIME_FORMAT
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=datetime(value.year, value.month, value.day))
        cell.number_format = DATE_FORMAT
        return cell
    return _text_cell(sheet, str(value))


def _append(sheet: WriteOnlyWorksheet, rows: list[list[Any]]) -> None:
    for row in rows:
        sheet.append([_cell(sheet, value) for value in row])


async def xlsx_file(write: Callable[[str], Awaitable[None]], *, prefix: str, filename: str) -> FileResponse:
    """An Excel workbook that `write` saves to a temporary file, served, then deleted (also on error)."""
    handle, path = tempfile.mkstemp(prefix=prefix, suffix=".xlsx")
    os.close(handle)
    try:
        await write(path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return FileResponse(
        path, media_type=XLSX_MIME, filename=filename, background=BackgroundTask(os.unlink, path)
    )


async def xlsx_response(
    d: Dashboard, flt: QueueFilter, lang: str, *, mask_phones: bool = False
) -> FileResponse:
    """The filtered cases as an Excel workbook (write-only mode: rows go to disk as they come)."""
    maker = row_maker(d, lang, mask_phones=mask_phones, dates=True)

    async def write(path: str) -> None:
        book = Workbook(write_only=True)
        sheet = book.create_sheet(d.words(lang, "export.sheet"))
        await asyncio.to_thread(_append, sheet, [maker.header])
        async for batch in queries.iter_export_rows(d.db, flt, tz=d.tz, sealer=d.sealer):
            await asyncio.to_thread(_append, sheet, [maker.values(row) for row in batch])
        await asyncio.to_thread(book.save, path)

    return await xlsx_file(write, prefix="dinsos-export-", filename=_filename(d, "xlsx"))
