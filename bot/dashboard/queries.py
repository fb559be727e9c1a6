"""Read queries behind the dashboard's pages: the queue and its filters, the summary, persons.

The queue is read newest first and each filter has an index whose entries are in id order, so a page
is a short index walk even with 100,000 cases. Counts are capped (a page says "10,000+") so that a
broad filter never scans the whole table just to print a number.
"""

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from handlers.places import Places
from handlers.staff.compose import read_day
from handlers.staff.workdays import OPEN_STATUSES as WAITING_ON_STAFF
from handlers.validators import phone_key
from storage.crypto import Sealer
from storage.db import Database
from storage.records import CaseKind, CaseStatus
from storage.threads import thread_stamp

COUNT_CAP = 10_000
# A name search combined with other filters checks each name match against them: counted up to here.
NAME_AND_FILTERS_CAP = 1_000
# The queue's status filter also takes "open": every status still waiting for staff (the summary map's
# default, so that a kelurahan clicked there lists the cases it counted).
OPEN = "open"
OPEN_STATUSES = ("baru", "diproses", "perlu_info")
MAX_PAGE = 200
REFERENCE = re.compile(r"^(REG|KTP|BAN|PSN)-\d{4}-\d{6}$")
NIK_LIKE = re.compile(r"^[\d\s.\-]{16,24}$")

QUEUE_COLUMNS = (
    "c.id, c.reference, c.kind, c.status, c.subject_name, c.kecamatan_code, c.kelurahan_code, "
    "c.assignee_id, c.duplicate_of, c.contact_id, c.created_at, c.updated_at, c.unread, c.waiting_since, "
    "c.urgency_rank"
)
# The aid form's urgency answers, most urgent first (the `urgency_rank` column of migration 0009).
URGENCY_RANK = {"today": 0, "week": 1, "later": 2}
UNREAD_INDEX = " INDEXED BY cases_unread"  # migration 0009: cases with unread messages, filter columns
SORTS = {
    "": "c.id DESC",
    "urgent": "c.urgency_rank, c.id DESC",  # darurat first
    "waiting": "c.waiting_since, c.id DESC",  # waiting longest first (cases with new messages only)
    "overdue": "overdue DESC, c.created_at, c.id",  # past their working-day target first, oldest first
}


def like_pattern(text: str) -> str:
    """`%text%` for LIKE ... ESCAPE '\\', with the user's own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def day_start(day: date, tz: ZoneInfo) -> str:
    """Midnight of a local day, as stored (UTC ISO)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC).isoformat()


def parse_day(text: str) -> date | None:
    """A date typed in a filter (17-08-2026 or 2026-08-17), or None when empty or not a date."""
    return read_day(text)


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """What the queue (and its exports) show: every field optional; unknown values are ignored."""

    kind: str = ""
    status: str = ""
    kecamatan: str = ""
    kelurahan: str = ""
    assignee: str = ""  # a staff id, "none" (unassigned) or "" (anyone)
    date_from: str = ""
    date_to: str = ""
    q: str = ""
    unread: str = ""  # "1": only cases with messages staff have not read
    urgency: str = ""  # an aid urgency answer: today (darurat), week, later
    sort: str = ""  # "" newest first, "urgent" darurat first, "waiting" longest waiting first
    page: int = 1
    # Whether the reader sees NIK, KK and phone numbers unmasked (viewers do not, nor search by them).
    sees_numbers: bool = field(default=True, compare=False)

    @classmethod
    def from_query(
        cls, params: Mapping[str, str], places: Places, *, sees_numbers: bool = True
    ) -> "QueueFilter":
        """Read the filter from a query string, dropping what is not a known value."""

        def get(name: str) -> str:
            return str(params.get(name, "")).strip()[:100]

        kecamatan = get("kecamatan") if get("kecamatan") in {k.code for k in places.kecamatan} else ""
        kelurahan = get("kelurahan")
        if kelurahan:
            try:
                places.kelurahan_by_code(kelurahan)
            except KeyError:
                kelurahan = ""
        assignee = get("assignee")
        page = get("page")
        return cls(
            kind=get("kind") if get("kind") in set(CaseKind) else "",
            status=get("status") if get("status") in {*CaseStatus, OPEN} else "",
            kecamatan=kecamatan,
            kelurahan=kelurahan,
            assignee=assignee if assignee == "none" or assignee.isdigit() else "",
            date_from=get("date_from") if parse_day(get("date_from")) else "",
            date_to=get("date_to") if parse_day(get("date_to")) else "",
            q=" ".join(get("q").split()),
            unread="1" if get("unread") == "1" or get("sort") == "waiting" else "",
            urgency=get("urgency") if get("urgency") in URGENCY_RANK else "",
            sort=get("sort") if get("sort") in SORTS else "",
            page=min(MAX_PAGE, max(1, int(page))) if page.isdigit() else 1,
            sees_numbers=sees_numbers,
        )

    def query_string(self, **changes: Any) -> str:
        """This filter as a query string (empty values left out), with some fields changed."""
        changed = replace(self, **changes)
        pairs = [(f.name, getattr(changed, f.name)) for f in fields(changed) if f.name != "sees_numbers"]
        return urlencode([(k, v) for k, v in pairs if v not in ("", None) and not (k == "page" and v == 1)])

    def page_query(self, page: int) -> str:
        """The query string of another page of the same filter."""
        return self.query_string(page=page)

    @property
    def search_refused(self) -> bool:
        """The search is for a number this reader may not search by (it then finds nothing)."""
        return bool(self.q) and not may_search(self.q, sees_numbers=self.sees_numbers)

    @property
    def active(self) -> bool:
        """Whether anything narrows the queue."""
        return bool(self.query_string(page=1))

    def name_phrase(self) -> str | None:
        """The trigram phrase of a name search (three characters or more), else None."""
        if self.q and len(self.q) >= TRIGRAM and search_kind(self.q) == "name":
            return fts_phrase(self.q)
        return None

    def where(self, tz: ZoneInfo, sealer: Sealer, *, with_search: bool = True) -> tuple[str, list[Any]]:
        """SQL condition over `cases AS c`, with its parameters (without the search when `with_search`
        is false: the caller then joins the trigram index itself)."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.status == OPEN:
            clauses.append(f"c.status IN ({', '.join('?' * len(OPEN_STATUSES))})")
            params.extend(OPEN_STATUSES)
        # Cases with unread messages are few: with that filter on, the walk starts from its partial index
        # (a unary "+" keeps SQLite from driving the query by a broader column's index instead).
        plus = "+" if self.unread else ""
        for column, value in (
            ("c.kind", self.kind),
            ("c.status", self.status if self.status != OPEN else ""),
            ("c.kecamatan_code", self.kecamatan),
            ("c.kelurahan_code", self.kelurahan),
        ):
            if value:
                clauses.append(f"{plus}{column} = ?")
                params.append(value)
        if self.assignee == "none":
            clauses.append(f"{plus}c.assignee_id IS NULL")
        elif self.assignee:
            clauses.append(f"{plus}c.assignee_id = ?")
            params.append(int(self.assignee))
        start, end = parse_day(self.date_from), parse_day(self.date_to)
        if start:
            clauses.append(f"{plus}c.created_at >= ?")
            params.append(day_start(start, tz))
        if end:
            clauses.append(f"{plus}c.created_at < ?")
            params.append(day_start(end + timedelta(days=1), tz))
        if self.unread:
            clauses.append("c.unread > 0")
        if self.urgency:
            clauses.append("c.urgency_rank = ?")
            params.append(URGENCY_RANK[self.urgency])
        if not with_search:
            pass
        elif self.q and not self.search_refused:
            search, search_params = case_search(self.q, sealer)
            clauses.append(search)
            params.extend(search_params)
        elif self.q:
            clauses.append("0")
        return (" AND ".join(clauses) or "1"), params


SearchKind = Literal["reference", "number", "phone", "name"]
# Words shorter than a trigram cannot use the trigram index: they are matched by LIKE (other filters
# narrow the walk).
TRIGRAM = 3


def search_kind(text: str) -> SearchKind:
    """What a search text is: a case reference, a 16-digit NIK or KK, a phone number, or a name."""
    if REFERENCE.match(text.upper()):
        return "reference"
    if NIK_LIKE.match(text) and len(re.sub(r"\D", "", text)) == 16:
        return "number"
    if phone_key(text) is not None:
        return "phone"
    return "name"


def fts_phrase(text: str) -> str:
    """An FTS5 phrase matching `text` as a substring (trigram tokenizer)."""
    return '"' + text.replace('"', '""') + '"'


def case_search(text: str, sealer: Sealer) -> tuple[str, list[Any]]:
    """SQL condition over `cases AS c` finding `text`: a reference its case; 16 digits a NIK or KK (by
    keyed hash, on the case or its person); a phone number in any spelling (the case's answer, its
    person's or its contact's number); anything else a name or part of a reference (trigram index)."""
    kind = search_kind(text)
    if kind == "reference":
        return "c.reference = ?", [text.upper()]
    if kind == "number":
        hashed = sealer.lookup_hash(re.sub(r"\D", "", text))
        return (
            "(c.nik_hash = ? OR c.kk_hash = ? OR c.person_id IN "
            "(SELECT p.id FROM persons AS p WHERE p.nik_hash = ? UNION SELECT p.id FROM persons AS p "
            "WHERE p.kk_hash = ?))",
            [hashed] * 4,
        )
    if kind == "phone":
        key = phone_key(text)
        return (
            "(c.phone_key = ? OR c.contact_id IN (SELECT k.id FROM contacts AS k WHERE k.phone_key = ?) "
            "OR c.person_id IN (SELECT p.id FROM persons AS p WHERE p.phone_key = ?))",
            [key] * 3,
        )
    if len(text) >= TRIGRAM:
        return "c.id IN (SELECT rowid FROM cases_fts WHERE cases_fts MATCH ?)", [fts_phrase(text)]
    pattern = like_pattern(text)
    return "(c.subject_name LIKE ? ESCAPE '\\' OR c.reference LIKE ? ESCAPE '\\')", [pattern, pattern]


def person_search(text: str, sealer: Sealer) -> tuple[str, list[Any]]:
    """SQL condition over `persons AS p` finding `text` as `case_search` does for cases."""
    kind = search_kind(text)
    if kind == "reference":
        return "p.id IN (SELECT k.person_id FROM cases AS k WHERE k.reference = ?)", [text.upper()]
    if kind == "number":
        hashed = sealer.lookup_hash(re.sub(r"\D", "", text))
        return "(p.nik_hash = ? OR p.kk_hash = ?)", [hashed, hashed]
    if kind == "phone":
        key = phone_key(text)
        return (
            "(p.phone_key = ? OR (p.is_self = 1 AND p.registered_by IN "
            "(SELECT k.id FROM contacts AS k WHERE k.phone_key = ?)))",
            [key, key],
        )
    if len(text) >= TRIGRAM:
        return "p.id IN (SELECT rowid FROM persons_fts WHERE persons_fts MATCH ?)", [fts_phrase(text)]
    return "p.full_name LIKE ? ESCAPE '\\'", [like_pattern(text)]


def may_search(text: str, *, sees_numbers: bool) -> bool:
    """Whether a staff member may run this search: numbers a viewer only ever sees masked (NIK, KK,
    phone) are not searched for them, or a search would tell them whose number it is."""
    return sees_numbers or search_kind(text) in ("reference", "name")


# The cases matching a name search, driven by the trigram index (with `f.cases_fts MATCH ?`); each match's
# filter columns are read from the narrow `cases_filters` index rather than from its (wide) row.
FROM_NAME_MATCHES = "cases_fts AS f CROSS JOIN cases AS c INDEXED BY cases_filters ON c.id = f.rowid"


@dataclass(frozen=True, slots=True)
class QueuePage:
    """One page of the queue."""

    rows: list[dict[str, Any]]
    total: int
    capped: bool
    page: int
    pages: int


async def queue_page(
    db: Database,
    flt: QueueFilter,
    *,
    tz: ZoneInfo,
    sealer: Sealer,
    page_size: int,
    overdue: tuple[str, list[str]] = ("0", []),
) -> QueuePage:
    """The cases the filter selects, newest first, one page of them; `overdue` (an SQL expression over
    `cases AS c` and its parameters, from `handlers.staff.workdays.overdue_sql`) marks those past their
    working-day target."""
    where, params = flt.where(tz, sealer)
    late, late_params = overdue
    # With the unread filter, counting reads only the small partial index that holds the filter columns.
    source = f"cases AS c{UNREAD_INDEX if flt.unread else ''}"
    rows_source, order, cap = "cases AS c", SORTS[flt.sort], COUNT_CAP
    phrase = flt.name_phrase()
    if phrase is not None and not flt.sort and not flt.unread:
        # A name, newest first: walk the trigram index from its newest match and stop at the page's end
        # (an IN list of every match would be built first, tens of thousands for a common name).
        where, params = flt.where(tz, sealer, with_search=False)
        source = "cases_fts AS f" if where == "1" else FROM_NAME_MATCHES
        cap = COUNT_CAP if where == "1" else NAME_AND_FILTERS_CAP
        rows_source, order = FROM_NAME_MATCHES, "f.rowid DESC"
        where, params = f"f.cases_fts MATCH ? AND {where}", [phrase, *params]
    total = int(
        await db.fetchval(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {source} WHERE {where} LIMIT {cap + 1})", params
        )
    )
    capped = total > cap
    total = min(total, cap)
    pages = max(1, min(MAX_PAGE, -(-total // page_size)))
    page = min(flt.page, pages)
    rows = await db.fetchall(
        f"SELECT {QUEUE_COLUMNS}, u.display_name AS assignee_name, {late} AS overdue FROM {rows_source} "
        f"LEFT JOIN staff_users AS u ON u.id = c.assignee_id WHERE {where} "
        f"ORDER BY {order} LIMIT ? OFFSET ?",
        (*late_params, *params, page_size, (page - 1) * page_size),
    )
    return QueuePage([dict(row) for row in rows], total, capped, page, pages)


@dataclass(frozen=True, slots=True)
class LiveState:
    """What the live-update request answers: stamps that change when a page part should be fetched again."""

    queue: str
    unread_cases: int
    mine: int
    case: str | None


async def live_state(db: Database, *, user_id: int, case_id: int | None) -> LiveState:
    """Stamps of the queue (a new case or thread line anywhere) and of one case's thread; unread counts."""
    row = await db.fetchone(
        "SELECT (SELECT MAX(id) FROM cases), (SELECT MAX(id) FROM case_messages), "
        f"(SELECT COUNT(*) FROM cases{UNREAD_INDEX} WHERE unread > 0), "
        f"(SELECT COUNT(*) FROM cases{UNREAD_INDEX} WHERE unread > 0 AND assignee_id = ?)",
        (user_id,),
    )
    assert row is not None
    case = None
    if case_id is not None:
        case = await thread_stamp(db, case_id)
    return LiveState(f"{row[0]}.{row[1]}.{row[2]}", int(row[2]), int(row[3]), case)


async def iter_cases(
    db: Database, flt: QueueFilter, *, tz: ZoneInfo, sealer: Sealer, batch: int = 2000
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every case the filter selects (oldest first), in batches, for exports: memory stays flat."""
    where, params = flt.where(tz, sealer)
    last_id = 0
    while True:
        rows = await db.fetchall(
            f"SELECT c.*, u.display_name AS assignee_name FROM cases AS c "
            f"LEFT JOIN staff_users AS u ON u.id = c.assignee_id WHERE {where} AND c.id > ? "
            "ORDER BY c.id LIMIT ?",
            (*params, last_id, batch),
        )
        if not rows:
            return
        yield [dict(row) for row in rows]
        last_id = rows[-1]["id"]


async def iter_export_rows(
    db: Database, flt: QueueFilter, *, tz: ZoneInfo, sealer: Sealer, batch: int = 5000
) -> AsyncIterator[list[sqlite3.Row]]:
    """Every case the filter selects (oldest first) as rows of `exports.EXPORT_SELECT`, in batches:
    memory stays flat and rows are read by position (no dict per case)."""
    from bot.dashboard.exports import EXPORT_SELECT

    where, params = flt.where(tz, sealer)
    sql = (
        f"SELECT {EXPORT_SELECT} FROM cases AS c LEFT JOIN staff_users AS u "
        f"ON u.id = c.assignee_id WHERE {where} AND c.id > ? ORDER BY c.id LIMIT ?"
    )
    # The next batch is read (on a reader thread, SQLite working outside the GIL) while the caller
    # turns the current one into file rows.
    pending = asyncio.ensure_future(db.fetchall(sql, (*params, 0, batch)))
    try:
        while True:
            rows = await pending
            if not rows:
                return
            pending = asyncio.ensure_future(db.fetchall(sql, (*params, rows[-1][-1], batch)))
            yield rows
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending


@dataclass(frozen=True, slots=True)
class Summary:
    """The numbers on the first page."""

    total: int
    by_status: dict[str, int]
    by_kind: dict[str, int]
    by_kecamatan: dict[str | None, int]
    weeks: list[tuple[date, int]]
    open_unassigned: int
    today: int
    overdue: int = 0


async def summary(
    db: Database,
    *,
    now: datetime,
    tz: ZoneInfo,
    weeks: int = 12,
    overdue: Mapping[str, str] | None = None,
) -> Summary:
    """Counts by status, kind and kecamatan, new cases per week (Monday to Sunday, WIB), and the cases
    past their working-day target (`overdue`: per kind, the cut-off of `workdays.overdue_cutoffs`).

    Read from the counts the store keeps up to date (`case_tally` per status, kind, place and
    assignment; `case_hours` per hour of creation, migration 0013), so the page costs the same at a
    million cases as at a hundred. Weeks and "today" start at local midnight, which is a whole UTC hour
    in Indonesia's time zones.
    """
    tally = await db.fetchall(
        "SELECT status, kind, kecamatan_code, unassigned, n FROM case_tally WHERE n > 0"
    )
    by_status: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    by_kecamatan: dict[str | None, int] = {}
    open_unassigned = 0
    for status, kind, kecamatan, unassigned, n in tally:
        by_status[status] = by_status.get(status, 0) + n
        by_kind[kind] = by_kind.get(kind, 0) + n
        by_kecamatan[kecamatan or None] = by_kecamatan.get(kecamatan or None, 0) + n
        if unassigned and status in OPEN_STATUSES:
            open_unassigned += n
    local_today = now.astimezone(tz).date()
    this_monday = local_today - timedelta(days=local_today.weekday())
    first_monday = this_monday - timedelta(weeks=weeks - 1)
    offset = now.astimezone(tz).utcoffset() or timedelta(0)
    shift = f"{int(offset.total_seconds())} seconds"
    # '-6 days' then 'weekday 1' lands on the Monday of the (local) week, Mondays included.
    counted = {
        row[0]: int(row[1])
        for row in await db.fetchall(
            "SELECT date(hour || ':00:00', ?, '-6 days', 'weekday 1') AS monday, SUM(n) FROM case_hours "
            f"WHERE {EVERY_HOUR} AND hour >= ? GROUP BY monday",
            (shift, *CASE_KINDS, _hour(day_start(first_monday, tz))),
        )
    }
    series = [
        (monday, counted.get(monday.isoformat(), 0))
        for monday in (first_monday + timedelta(weeks=index) for index in range(weeks))
    ]
    today = int(
        await db.fetchval(
            f"SELECT COALESCE(SUM(n), 0) FROM case_hours WHERE {EVERY_HOUR} AND hour >= ?",
            (*CASE_KINDS, _hour(day_start(local_today, tz))),
        )
    )
    late_count = 0
    for kind, cutoff in (overdue or {}).items():
        late_count += await _waiting_on_staff_before(db, kind, cutoff)
    return Summary(
        total=sum(by_status.values()),
        by_status=by_status,
        by_kind=by_kind,
        by_kecamatan=by_kecamatan,
        weeks=series,
        open_unassigned=open_unassigned,
        today=today,
        overdue=late_count,
    )


def _hour(stamp: str) -> str:
    """The `case_hours` key of a stored time: its UTC date and hour."""
    return stamp[:13]


# Open cases waiting on the citizen (perlu_info), not on staff: taken out of the open counts.
WAITING_ON_CITIZEN = tuple(status for status in OPEN_STATUSES if status not in WAITING_ON_STAFF)
assert set(WAITING_ON_STAFF) <= set(OPEN_STATUSES)


async def _waiting_on_staff_before(db: Database, kind: str, cutoff: str) -> int:
    """Cases of `kind` waiting on staff (baru, diproses) filed before `cutoff` (a stored UTC time): the
    open cases of the whole hours before it from the kept counts (`case_hours`), less those waiting on
    the citizen (an index range, migration 0013_i14_case_age), plus the cutoff's own hour (empty when the
    cutoff is on the hour, as local midnight is in Indonesia's time zones)."""
    hour = _hour(cutoff)
    citizen = ", ".join("?" * len(WAITING_ON_CITIZEN)) or "NULL"
    staff = ", ".join("?" * len(WAITING_ON_STAFF)) or "NULL"
    row = await db.fetchone(
        "SELECT (SELECT COALESCE(SUM(n), 0) FROM case_hours WHERE kind = ? AND open = 1 AND hour < ?), "
        f"(SELECT COUNT(*) FROM cases WHERE status IN ({citizen}) AND kind = ? AND created_at < ?), "
        f"(SELECT COUNT(*) FROM cases WHERE status IN ({staff}) AND kind = ? AND created_at >= ? "
        "AND created_at < ?)",
        (kind, hour, *WAITING_ON_CITIZEN, kind, hour, *WAITING_ON_STAFF, kind, hour, cutoff),
    )
    assert row is not None
    return int(row[0]) - int(row[1]) + int(row[2])


CASE_KINDS = tuple(str(kind) for kind in CaseKind)
# Every (kind, open) part of `case_hours`, so that a range of hours is a few seeks of its primary key.
EVERY_HOUR = f"kind IN ({', '.join('?' * len(CASE_KINDS))}) AND open IN (0, 1)"
