"""The SIKS-NG / DTSEN proposal worksheet: registered people laid out for the kelurahan operator who keys
proposals (usulan) into SIKS-NG by hand, one sheet per kelurahan, with empty columns to fill back.

NIK and KK numbers are written whole (the operator keys them) as text cells, so leading zeros and all 16
digits survive; the download is for petugas and admins only and is audited. Where each column comes
from: docs/siks-ng-worksheet.md.
"""

import asyncio
import re
from datetime import date, datetime, time, timedelta
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from starlette.responses import Response

from bot.dashboard.app import Ctx, Dashboard
from bot.dashboard.exports import xlsx_file
from handlers.registration import DOCUMENTS
from handlers.staff.compose import read_day
from storage import dashboard as reads

# Columns of the worksheet, in order; the last ones are left empty for the operator.
COLUMNS = (
    "number",
    "nik",
    "kk",
    "name",
    "birth_place",
    "birth_date",
    "sex",
    "address",
    "rt",
    "rw",
    "kelurahan_code",
    "kelurahan",
    "kecamatan",
    "ppks",
    "household_size",
    "disaster_victim",
    "documents",
    "registered",
    "reference",
)
FILL_BACK = ("status", "proposed_on", "dukcapil_match", "operator_note")
TEXT_COLUMNS = frozenset({"nik", "kk", "kelurahan_code", "rt", "rw", "reference"})
RT_RW = re.compile(r"\bRT\.?\s*0*(\d{1,3})\s*(?:/|,|\s)\s*RW\.?\s*0*(\d{1,3})\b", re.IGNORECASE)
SEX_KEYS = {"L": "siks.sex_l", "P": "siks.sex_p"}
DOCUMENT_KEYS = {option.key: option.label_key for option in DOCUMENTS}


def register(d: Dashboard) -> None:
    """Add the worksheet download."""
    d.route("/persons/siks.xlsx", siks_xlsx, role="petugas")


def rt_rw(address: str | None) -> tuple[str, str]:
    """RT and RW as written in an address ("Gang Melati RT 03/RW 05" -> "003", "005"), else empty."""
    found = RT_RW.search(address or "")
    if found is None:
        return "", ""
    return f"{int(found[1]):03d}", f"{int(found[2]):03d}"


def _text(sheet: WriteOnlyWorksheet, value: str, *, bold: bool = False) -> Cell:
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
    cell.data_type = "s"  # text, never a number or a formula: 16-digit numbers keep every digit
    if bold:
        cell.font = Font(bold=True)
    return cell


def _cell(sheet: WriteOnlyWorksheet, value: Any) -> Cell:
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=datetime(value.year, value.month, value.day))
        cell.number_format = "DD-MM-YYYY"
        return cell
    if isinstance(value, int) and not isinstance(value, bool):
        return WriteOnlyCell(sheet, value=value)
    return _text(sheet, "" if value is None else str(value))


async def siks_xlsx(ctx: Ctx) -> Response:
    """The worksheet for the people registered between two dates (WIB), one sheet per kelurahan."""
    d = ctx.d
    start, end = read_day(ctx.query("from")), read_day(ctx.query("to"))
    kecamatan = ctx.query("kecamatan")
    if start is None or end is None or end < start:
        return Response(ctx.msg("siks.need_dates"), status_code=400, media_type="text/plain; charset=utf-8")
    rows = await reads.worksheet_people(
        d.db,
        registered_from=datetime.combine(start, time(0), tzinfo=d.tz),
        registered_before=datetime.combine(end + timedelta(days=1), time(0), tzinfo=d.tz),
        kecamatan=kecamatan or None,
    )
    await ctx.audit(
        "persons.siks_export",
        detail=f"{start:%d-%m-%Y}..{end:%d-%m-%Y} {kecamatan or 'all'}: {len(rows)} rows",
    )

    async def write(path: str) -> None:
        await asyncio.to_thread(_write, ctx, rows, path, start, end)

    return await xlsx_file(
        write,
        prefix="dinsos-siks-",
        filename=f"usulan-siks-ng-{start:%Y%m%d}-{end:%Y%m%d}.xlsx",
    )


def _write(ctx: Ctx, rows: list[reads.WorksheetPerson], path: str, start: date, end: date) -> None:
    d = ctx.d
    lang = ctx.lang
    names = {v.code: (v.name, k.name) for k in d.places.kecamatan for v in d.places.kelurahan_of(k.code)}
    header = [ctx.msg(f"siks.col_{column}") for column in (*COLUMNS, *FILL_BACK)]
    yes, no = ctx.msg("siks.yes"), ctx.msg("siks.no")
    book = Workbook(write_only=True)
    sheets: dict[str, WriteOnlyWorksheet] = {}
    numbers: dict[str, int] = {}
    for row in rows:
        person = row.person
        code = person.kelurahan_code or ""
        kelurahan, kecamatan = names.get(code, (code, ""))
        sheet = sheets.get(code)
        if sheet is None:
            sheet = sheets[code] = book.create_sheet(kelurahan[:31])
            sheet.append([_text(sheet, ctx.msg("siks.title", kelurahan=kelurahan, code=code), bold=True)])
            period = ctx.msg("siks.period", start=f"{start:%d-%m-%Y}", end=f"{end:%d-%m-%Y}")
            sheet.append([_text(sheet, period)])
            sheet.append([_text(sheet, value, bold=True) for value in header])
        numbers[code] = numbers.get(code, 0) + 1
        nik = d.sealer.open(person.nik) if person.nik else ""
        kk = d.sealer.open(person.kk) if person.kk else ""
        born = person.birth_date
        precision = person.birth_precision or "day"
        if born is not None and precision == "month":
            birth: Any = f"{born:%m-%Y}"
        elif born is not None and precision in ("year", "age"):
            birth = f"{born:%Y}"
        else:
            birth = born
        rt, rw = rt_rw(person.address)
        documents = [
            d.catalog.text(lang, DOCUMENT_KEYS[key]) if key in DOCUMENT_KEYS else key
            for key in person.documents
        ]
        registered = person.created_at.astimezone(d.tz).date()
        victim = person.disaster_victim
        values: list[Any] = [
            numbers[code],
            nik,
            kk,
            person.full_name,
            "",  # the bot does not ask for the birth place: the operator fills it in
            birth,
            ctx.msg(SEX_KEYS[person.sex]) if person.sex in SEX_KEYS else "",
            person.address or "",
            rt,
            rw,
            code,
            kelurahan,
            kecamatan,
            ctx.msg("siks.ppks_pemulung"),
            person.household_size if person.household_size is not None else "",
            "" if victim is None else (yes if victim else no),
            ", ".join(documents),
            registered,
            row.reference or "",
            *([""] * len(FILL_BACK)),
        ]
        sheet.append(
            [
                _text(sheet, str(value)) if column in TEXT_COLUMNS else _cell(sheet, value)
                for column, value in zip((*COLUMNS, *FILL_BACK), values, strict=True)
            ]
        )
    if not sheets:
        sheet = book.create_sheet(ctx.msg("siks.empty_sheet"))
        sheet.append([_text(sheet, ctx.msg("siks.nobody"))])
    book.save(path)
