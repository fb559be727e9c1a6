"""The readable export of cases, for every staff surface (the dashboard's CSV and XLSX downloads, the
command line's `staff export`): one column per answer, in words (choice labels, place names, not codes),
dates as dates, phone and urgency columns (phones masked for viewers), simulated cases marked. NIK and KK
numbers are exported masked. For CSV every cell is guarded so a spreadsheet never runs it as a formula.
"""

import asyncio
import contextlib
import itertools
import json
import logging
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from handlers.fields import (
    BirthDateField,
    DescriptionField,
    IdNumberField,
    LocationField,
    MultiChoiceField,
    NameField,
    PhotoField,
    TextField,
)
from handlers.forms import FLAGS, Field, flag_text
from handlers.i18n import Catalog
from handlers.places import Places
from handlers.staff.compose import FORMULA_PREFIXES, safe_cell
from handlers.staff.present import FORMS, Presenter, mask_phone
from storage import cases
from storage.cases import CaseFilter, ExportColumns
from storage.contract import Store

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
    "phone",
    "urgency",
    "simulated",
)
# Answers already in a column of their own (the name, the places, NIK, phone, urgency).
OWN_COLUMNS = frozenset(
    {"full_name", "owner_name", "beneficiary_name", "kecamatan", "kelurahan", "nik", "phone", "urgency"}
)
# Answers that are free text (guarded against formulas); the rest are catalog words and numbers.
FREE_TEXT = (TextField, NameField, DescriptionField)
_ZERO = timedelta(0)
_MINUTES = [f"{minute:02d}" for minute in range(60)]
DATE_FORMAT = "DD-MM-YYYY"
DATETIME_FORMAT = "DD-MM-YYYY HH:MM"
SIMULATED = "web:"
log = logging.getLogger(__name__)


def answer_fields() -> list[tuple[str, Field]]:
    """One column per answer of every case form (a name shared by forms is one column), in form order."""
    seen: dict[str, Field] = {}
    for form in FORMS.values():
        for field in form.fields:
            if field.label_key and field.name not in OWN_COLUMNS and field.name not in seen:
                seen[field.name] = field
    return list(seen.items())


def csv_text(value: str) -> str:
    """A CSV field: quoted when it must be, and guarded so a spreadsheet never runs it as a formula."""
    text = value if value.__class__ is str and not value.startswith(FORMULA_PREFIXES) else safe_cell(value)
    if '"' in text or "," in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


class _Remembered(dict[Any, str]):
    """Values and their cells: a cell is made the first time its value is seen, then looked up (at most
    `limit` values are kept, so memory stays bounded whatever the data)."""

    __slots__ = ("limit", "make")

    def __init__(self, make: Callable[[Any], str], limit: int = 50_000) -> None:
        super().__init__()
        self.make = make
        self.limit = limit

    def __missing__(self, key: Any) -> str:
        found = self.make(key)
        if len(self) < self.limit:
            self[key] = found
        return found


class RowMaker:
    """Turns stored case rows into export rows: one column per answer, in words (choice labels, place
    names), dates as dates, phone numbers masked for viewers, simulated cases marked.

    Built for speed (a million cases in seconds): answers with few distinct values (choices, places,
    counts) are worded once per value and remembered; for CSV every cell is made ready to join (quoted
    and guarded once, when it is first worded); for XLSX dates stay dates."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        words: Catalog,
        lang: str,
        places: Places,
        tz: ZoneInfo,
        now: datetime,
        mask_phones: bool = False,
        dates: bool = False,
    ) -> None:
        """`catalog`: the citizens' catalog (answers' labels and values); `words`: the staff surface's
        catalog, with the export's column names (`export.*`), kinds (`kind.*`) and statuses (`status.*`)."""
        # What makes this maker again in another process (see `__reduce__`).
        self._recipe: dict[str, Any] = {
            "catalog": catalog,
            "words": words,
            "lang": lang,
            "places": places,
            "tz": tz,
            "now": now,
            "mask_phones": mask_phones,
            "dates": dates,
        }
        self.mask_phones = mask_phones
        self.dates = dates  # XLSX: real date cells; CSV: dd-mm-yyyy text
        # CSV cells are quoted and guarded against formulas; XLSX text cells are never run.
        self.guard: Callable[[str], str] = str if dates else csv_text
        guard = self.guard
        self.tz = tz
        self.turn = Presenter(catalog, lang, places, now, tz)
        self.kecamatan = {k.code: guard(k.name) for k in places.kecamatan}
        self.kelurahan = {
            v.code: guard(v.name) for k in places.kecamatan for v in places.kelurahan_of(k.code)
        }
        messages = words.messages[lang]
        self.kinds = {k.removeprefix("kind."): guard(v) for k, v in messages.items() if k.startswith("kind.")}
        self.statuses = {
            k.removeprefix("status."): guard(v) for k, v in messages.items() if k.startswith("status.")
        }
        self.simulated = guard(messages["export.simulated_yes"])
        self.fields = answer_fields()
        self.urgency = self._worder(next(f for f in _all_fields() if f.name == "urgency"))
        self.header = [guard(messages[f"export.{column}"]) for column in COLUMNS] + [
            guard(catalog.text(lang, field.label_key)) for _, field in self.fields
        ]
        # Per case kind, its own fields' cells (a name two forms share is worded by each form's field):
        # where it goes, the answer's name, the quick way to its cell and the careful one (any answer).
        index = {name: number for number, (name, _) in enumerate(self.fields, start=len(COLUMNS))}
        self.plans: dict[str, list[tuple[int, str, Callable[[Any], Any], Callable[[Any], Any]]]] = {
            str(kind): [
                (index[field.name], field.name, *self._cell_makers(field))
                for field in form.fields
                if field.name in index
            ]
            for kind, form in FORMS.items()
        }
        self.blank = [""] * len(self.fields)
        self.names = _Remembered(guard)
        self._created: dict[int, str] = {}
        self._hours: dict[str, str] = {}
        # What `values` looks up for every row, taken from this maker in one step.
        self._lookups = (
            self.kinds,
            self.statuses,
            self._hours,
            self.names,
            self.kecamatan,
            self.kelurahan,
            self.plans,
            self.blank,
            guard,
        )
        offset = now.astimezone(self.tz).utcoffset()
        whole_hours = offset is not None and offset.total_seconds() % 3600 == 0
        self._offset = offset if whole_hours else None

    def __reduce__(self) -> tuple[Callable[..., "RowMaker"], tuple[dict[str, Any]]]:
        """Pickled as its inputs (its cell makers are closures): an export's worker process makes the
        same maker, so the rows it makes are the same."""
        return _remake, (self._recipe,)

    def _word(self, field: Field) -> Callable[[Any], str]:
        """The answer in words, ready for the file (its plain text when the field cannot word it)."""
        turn, guard = self.turn, self.guard

        def word(value: Any) -> str:
            try:
                return guard(field.show(turn, value))
            except (KeyError, TypeError, ValueError):
                return guard(str(value))

        return word

    def _worder(self, field: Field) -> Callable[[Any], str]:
        """The answer in words (ready for the file), remembered per distinct value."""
        memory: dict[Any, str] = {}
        word = self._word(field)

        def words(value: Any) -> str:
            key = tuple(value) if isinstance(value, list) else value
            try:
                return memory[key]
            except KeyError:
                pass
            except TypeError:  # a dict: an older or unusual answer shape
                key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
                if key in memory:
                    return memory[key]
            found = word(value)
            if len(memory) < 50_000:
                memory[key] = found
            return found

        return words

    def _cell_makers(self, field: Field) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
        """The quick way to an answer's cell, and the careful one, used when the quick one raises (an
        answer of another shape: a list or a dict where one value was expected). An answer worded per
        value is looked up directly when it is one value (choices, counts, places, birth dates)."""
        careful = self._cell_maker(field)
        worded = isinstance(field, BirthDateField) and not self.dates
        if not worded and isinstance(field, (IdNumberField, BirthDateField, LocationField, PhotoField)):
            return careful, careful
        if worded or not isinstance(field, (*FREE_TEXT, MultiChoiceField)):
            return _Remembered(self._word(field)).__getitem__, careful
        return careful, careful

    def _cell_maker(self, field: Field) -> Callable[[Any], Any]:
        guard = self.guard
        if isinstance(field, IdNumberField):
            return lambda value: guard(str(value.get("m", ""))) if isinstance(value, dict) else ""
        if isinstance(field, BirthDateField):
            worded = self._worder(field)
            if not self.dates:
                return worded

            def birth(value: Any) -> Any:
                if isinstance(value, str) and len(value) == 10:
                    try:
                        return date.fromisoformat(value)
                    except ValueError:
                        pass
                return worded(value)

            return birth
        if isinstance(field, LocationField):
            return lambda value: (
                guard(f"{value['lat']}, {value['lon']}") if isinstance(value, dict) and "lat" in value else ""
            )
        if isinstance(field, PhotoField):
            turn = self.turn
            return lambda value: guard(field.show(turn, value)) if value else ""
        if isinstance(field, DescriptionField):
            return lambda value: guard(value.get("text", "") if isinstance(value, dict) else str(value))
        if isinstance(field, FREE_TEXT):
            return lambda value: guard(str(value))
        return self._worder(field)

    def _when(self, moment: datetime) -> Any:
        """The received time in WIB: a date-time cell for XLSX, "dd-mm-yyyy HH:MM" for CSV."""
        if self.dates:
            return moment.astimezone(self.tz).replace(tzinfo=None)
        if moment.tzinfo is not UTC and moment.utcoffset() != _ZERO:
            return moment.astimezone(self.tz).strftime("%d-%m-%Y %H:%M")
        # Stored in UTC; WIB is a whole number of hours away, so the local day and hour are worked out
        # once per hour and the minutes added.
        hour = int(moment.timestamp()) // 3600
        local = self._created.get(hour)
        if local is None:
            shifted = moment.astimezone(self.tz)
            if shifted.utcoffset() != self._offset:
                return shifted.strftime("%d-%m-%Y %H:%M")
            local = self._created[hour] = shifted.strftime("%d-%m-%Y %H:")
        return local + _MINUTES[moment.minute]

    def _when_stored(self, stamp: str) -> Any:
        """`_when` of the stored text: a UTC time as the store writes it ("2026-11-18T03:00:00+00:00")
        is read by its hour's text (the local day and hour worked out once per hour) and its minutes."""
        if self.dates or not stamp.endswith("+00:00") or stamp[13:14] != ":" or self._offset is None:
            return self._when(datetime.fromisoformat(stamp))
        local = self._hours.get(stamp[:13])
        if local is None:
            shifted = datetime.fromisoformat(stamp).astimezone(self.tz)
            if shifted.utcoffset() != self._offset:
                return shifted.strftime("%d-%m-%Y %H:%M")
            local = self._hours[stamp[:13]] = shifted.strftime("%d-%m-%Y %H:")
        return local + stamp[14:16]

    def values(self, row: ExportColumns) -> list[Any]:
        """One case as export cells (`row`: an `ExportRow`, or the plain tuple of its columns)."""
        (
            reference,
            kind,
            status,
            created,
            name,
            kecamatan,
            kelurahan,
            raw,
            duplicate,
            note,
            contact,
            who,
            _,
        ) = row
        answers = orjson.loads(raw) if raw else {}
        kinds, statuses, hours, names, kecamatans, kelurahans, plans, blank, guard = self._lookups
        get = answers.get
        nik = get("nik")
        phone = get("phone")
        if not isinstance(phone, str) or phone == "0":
            phone = "+" + contact[9:] if contact.startswith("whatsapp:") else ""
        if phone and self.mask_phones:
            phone = mask_phone(phone)
        urgency = get("urgency")
        # The received time: a UTC time as the store writes it is worded from its hour's text (see
        # `_when_stored`, which the others go through).
        hour = hours.get(created[:13]) if created.endswith("+00:00") and created[13:14] == ":" else None
        cells: list[Any] = [
            reference,
            kinds.get(kind, kind),
            statuses.get(status, status),
            self._when_stored(created) if hour is None else hour + created[14:16],
            names[name],
            kecamatans.get(kecamatan or "", ""),
            kelurahans.get(kelurahan or "", ""),
            nik["m"] if isinstance(nik, dict) and "m" in nik else "",
            guard(who) if who else "",
            duplicate or "",
            guard(note) if note else "",
            phone,
            self.urgency(urgency) if urgency else "",
            self.simulated if contact.startswith(SIMULATED) else "",
            *blank,
        ]
        for number, field_name, make, careful in plans.get(kind, ()):
            value = get(field_name)
            if not value and (value is None or value == ""):  # (most answers are truthy: one test)
                continue
            try:
                cells[number] = make(value)
            except (KeyError, TypeError, ValueError, AttributeError):  # another shape: the careful way
                cells[number] = self._careful(careful, value)
        flags = get(FLAGS)
        if flags:
            self._flag_cells(cells, get, kind, flags)
        return cells

    def _flag_cells(self, cells: list[Any], get: Callable[[str], Any], kind: str, flags: Any) -> None:
        """An answer given by voice note or photo, or skipped, and not yet heard by staff, is worded as
        its flag ("dijawab dengan pesan suara") in its cell."""
        for number, field_name, _, _ in self.plans.get(kind, ()):
            value = get(field_name)
            if (
                value is not None
                and value != ""
                and field_name in flags
                and not flags[field_name].get("heard")
            ):
                cells[number] = self.guard(flag_text(self.turn.t, flags[field_name]))

    def _careful(self, make: Callable[[Any], Any], value: Any) -> Any:
        try:
            return make(value)
        except (KeyError, TypeError, ValueError, AttributeError):  # an older answer shape
            return self.guard(json.dumps(value, ensure_ascii=False))


def _remake(recipe: dict[str, Any]) -> RowMaker:
    return RowMaker(**recipe)


def _all_fields() -> list[Field]:
    return [field for form in FORMS.values() for field in form.fields]


def csv_rows(maker: RowMaker, rows: Sequence[ExportColumns]) -> str:
    """The CSV lines of some export rows (each ended by CRLF)."""
    if not rows:
        return ""
    values = maker.values
    return "\r\n".join([",".join(values(row)) for row in rows]) + "\r\n"


# A large CSV export is made by worker processes, one range of case ids each, and sent in order: the
# rows' Python work (decoding the answers, wording every cell) then runs on every core. A million cases
# take about half the time they take in one process; memory stays flat (a few ranges are in flight).
EXPORT_WORKERS = min(2, os.cpu_count() or 1)
# Selections smaller than this are made in the requesting process (starting workers costs ~1 s of CPU).
PARALLEL_FROM = 50_000
SPAN = 20_000  # ids per worker task
FIRST_SPAN = 2_000  # ids per piece made in the requesting process (the first range; all, if workers die)
# At most this many exports of one process use workers at once (each starts its own); more at the same
# time are made in the requesting process, so memory and CPU stay bounded however many staff download.
EXPORTS_WITH_WORKERS = 2
_with_workers = 0

_worker: tuple[cases.ExportReader, RowMaker] | None = None


def _start_worker(source: cases.ExportRange, maker: RowMaker) -> None:
    """A worker process: its own read-only connection to the store and the requester's row maker."""
    global _worker
    # Ctrl-C is the requesting process's to handle; it ends the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = (cases.ExportReader(source), maker)


def _worker_lines(source: cases.ExportRange, after: int, upto: int) -> tuple[int, bytes]:
    """One id range's rows as CSV (UTF-8), made in a worker process, and how many rows."""
    if _worker is None:
        raise RuntimeError("the export worker was not started")
    reader, maker = _worker
    rows = reader.read(after, upto)
    return len(rows), csv_rows(maker, rows).encode("utf-8")


async def csv_chunks(
    maker: RowMaker,
    db: Store,
    flt: CaseFilter,
    *,
    counted: Callable[[int], None] | None = None,
    workers: int | None = None,
    parallel_from: int | None = None,
    span: int | None = None,
) -> AsyncGenerator[bytes, None]:
    """The CSV file of the cases `flt` selects, oldest first, in UTF-8 pieces as they are made: first
    the header (after a byte-order mark, so Excel reads the file as UTF-8), then the rows. `counted` is
    told how many rows each piece holds. A selection of `parallel_from` cases or more is made by
    `workers` processes, each with a connection of its own to the store (the SQLite file, or
    PostgreSQL), at most two ranges of `span` ids each in flight per worker; unset, they are this
    module's `PARALLEL_FROM`, `EXPORT_WORKERS` and `SPAN`."""
    global _with_workers
    workers = EXPORT_WORKERS if workers is None else workers
    parallel_from = PARALLEL_FROM if parallel_from is None else parallel_from
    span = SPAN if span is None else span
    yield ("\ufeff" + ",".join(maker.header) + "\r\n").encode("utf-8")
    source = None
    if workers > 1 and _with_workers < EXPORTS_WITH_WORKERS:
        _with_workers += 1  # taken before the count is awaited, so a concurrent export sees it
        try:
            source = await cases.export_range(db, flt, at_least=parallel_from)
        finally:
            if source is None:
                _with_workers -= 1
    if source is None:
        async for batch in cases.iter_export_rows(db, flt):
            if counted is not None:
                counted(len(batch))
            yield csv_rows(maker, batch).encode("utf-8")
        return
    try:
        async with contextlib.aclosing(_made_by_workers(maker, db, source, counted, workers, span)) as pieces:
            async for piece in pieces:
                yield piece
    finally:
        _with_workers -= 1


async def _made_by_workers(
    maker: RowMaker,
    db: Store,
    source: cases.ExportRange,
    counted: Callable[[int], None] | None,
    workers: int,
    span: int,
) -> AsyncGenerator[bytes, None]:
    """`csv_chunks`' rows of a large selection: the first range made here, the rest by `workers`
    processes, in order."""
    loop = asyncio.get_running_loop()
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(source, maker),
    )
    # The first range is made here, a few rows at a time (the first lines go out at once), while the
    # workers start (each imports the row making: about half a second).
    head = min(span, source.last_id)
    tasks = ((after, min(after + span, source.last_id)) for after in range(head, source.last_id, span))
    pending: deque[tuple[int, asyncio.Future[tuple[int, bytes]]]] = deque()  # (last id, its rows)

    def submit() -> None:
        for after, upto in itertools.islice(tasks, 2 * workers - len(pending)):
            pending.append((upto, loop.run_in_executor(pool, _worker_lines, source, after, upto)))

    def start() -> list[tuple[int, "Future[tuple[int, bytes]]"]]:
        # A worker starts on its first task; starting one waits for it to import this module, so they
        # start on a thread of their own.
        return [
            (upto, pool.submit(_worker_lines, source, after, upto))
            for after, upto in itertools.islice(tasks, workers)
        ]

    starting = loop.run_in_executor(None, start)  # the workers start while the first rows are made here
    try:
        async for piece in _made_here(maker, db, source, 0, head, FIRST_SPAN, counted):
            yield piece
        sent = head  # every selected case up to this id is sent
        try:
            pending.extend((upto, asyncio.wrap_future(future)) for upto, future in await starting)
            submit()
            while pending:
                upto, future = pending[0]
                count, text = await future
                pending.popleft()
                submit()
                sent = upto
                if count:  # a range the filter selects nothing in sends nothing
                    if counted is not None:
                        counted(count)
                    yield text
        except (BrokenProcessPool, OSError, cases.ExportReadError) as error:
            # A worker was killed (out of memory, an operator), could not start or lost its connection to
            # the store: the rest is made here, on the store's own connections.
            log.warning(
                "export workers stopped (%s); the rest of the export is made in this process",
                type(error).__name__,
            )
            pool.shutdown(wait=False, cancel_futures=True)  # those still alive end after the range in hand
            async for piece in _made_here(maker, db, source, sent, source.last_id, FIRST_SPAN, counted):
                yield piece
        else:
            await asyncio.to_thread(pool.shutdown)
    finally:
        starting.cancel()
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


async def _made_here(
    maker: RowMaker,
    db: Store,
    source: cases.ExportRange,
    after: int,
    upto: int,
    piece: int,
    counted: Callable[[int], None] | None,
) -> AsyncGenerator[bytes, None]:
    """The CSV of the selected cases with `after < id <= upto`, made in this process, `piece` ids at a
    time (a piece with no selected case sends nothing)."""
    for start in range(after, upto, piece):
        rows = await cases.fetch_export_range(db, source, start, min(start + piece, upto))
        if rows:
            if counted is not None:
                counted(len(rows))
            yield csv_rows(maker, rows).encode("utf-8")
