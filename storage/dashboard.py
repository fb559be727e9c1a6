"""The dashboard's reads beyond the case queue: the summary's counts, the map's counts and points, people
and their search, the SIKS-NG worksheet's people, the outbox and audit pages, canned replies.

Reads are coroutines of a `Store` returning records and `datetime`s; the few writes (canned replies)
take a `Tx`. The summary reads the counts the store keeps up to date (`case_tally`, `case_hours`), so it
costs the same at a million cases as at a hundred.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from storage.cases import OPEN_STATUSES, WAITING_ON_STAFF, CaseSearch, fts_phrase, person_search_sql
from storage.contract import Store, Tx
from storage.records import CaseKind, PersonRecord
from storage.repo import PERSON_JSON_COLUMNS, audit, iso
from storage.segments import SegmentFilters, segment_where

# Open cases waiting on the citizen (perlu_info), not on staff: taken out of the overdue counts.
WAITING_ON_CITIZEN = tuple(status for status in OPEN_STATUSES if status not in WAITING_ON_STAFF)
CASE_KINDS = tuple(str(kind) for kind in CaseKind)
# Every (kind, open) part of `case_hours`, so that a range of hours is a few seeks of its primary key.
EVERY_HOUR = f"kind IN ({', '.join('?' * len(CASE_KINDS))}) AND open IN (0, 1)"
TRIGRAM = 3
UTC_ZONE = ZoneInfo("UTC")


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values)) or "NULL"


# ---------------------------------------------------------------- the summary


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


def _hour(moment: datetime) -> str:
    """The `case_hours` key of a time: its UTC date and hour."""
    return str(iso(moment.astimezone(UTC)))[:13]


async def summary(
    db: Store,
    *,
    now: datetime,
    tz: ZoneInfo,
    weeks: int = 12,
    overdue: Mapping[str, datetime] | None = None,
) -> Summary:
    """Counts by status, kind and kecamatan, new cases per week (Monday to Sunday, local time), and the
    cases past their working-day target (`overdue`: per kind, the cutoff of `workdays.overdue_cutoffs`).
    Weeks and "today" start at local midnight, which is a whole UTC hour in Indonesia's time zones."""
    # Summed per kecamatan in the store: a tenth of the rows kept per kelurahan to hand over.
    tally = await db.fetchall(
        "SELECT status, kind, kecamatan_code, unassigned, SUM(n) FROM case_tally WHERE n > 0 "
        "GROUP BY status, kind, kecamatan_code, unassigned"
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
    # Each local week's hours are a range of the kept per-hour counts: the weeks are told apart with a
    # CASE over their first hours (a date function would differ between backends).
    mondays = [first_monday + timedelta(weeks=index) for index in range(weeks)]
    starts = [_hour(_midnight(monday, tz)) for monday in mondays]
    week_of = " ".join(f"WHEN hour < ? THEN {index - 1}" for index in range(1, weeks))
    week = f"CASE {week_of} ELSE {weeks - 1} END" if week_of else "0"
    counted = {
        mondays[int(row[0])]: int(row[1])
        for row in await db.fetchall(
            f"SELECT {week} AS week, SUM(n) FROM case_hours WHERE {EVERY_HOUR} AND hour >= ? GROUP BY 1",
            (*starts[1:], *CASE_KINDS, starts[0]),
        )
    }
    series = [(monday, counted.get(monday, 0)) for monday in mondays]
    today = int(
        await db.fetchval(
            f"SELECT COALESCE(SUM(n), 0) FROM case_hours WHERE {EVERY_HOUR} AND hour >= ?",
            (*CASE_KINDS, _hour(_midnight(local_today, tz))),
        )
    )
    late_count = await _waiting_on_staff_before(db, overdue or {})
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


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


async def _waiting_on_staff_before(db: Store, cutoffs: Mapping[str, datetime]) -> int:
    """Cases waiting on staff (baru, diproses) filed before their kind's cutoff, counted backwards from
    the kept totals so that only the cases since the cutoffs are read (the cutoffs are a few working days
    back: the old cases, nearly all of them, are never read one by one). Per kind: the open cases in all
    (`case_tally`) less those of the hours since the cutoff's hour (`case_hours`), less those waiting on
    the citizen (perlu_info) filed before that hour (their total less those since, an index range), plus
    those waiting on staff within the cutoff's own hour (none when the cutoff is on the hour, as local
    midnight is in Indonesia's time zones). One statement: every count from one snapshot."""
    if not cutoffs:
        return 0
    parts: list[str] = []
    params: list[Any] = []
    for kind, cutoff in cutoffs.items():
        hour, stamp = _hour(cutoff), iso(cutoff)
        parts.append(
            f"(SELECT COALESCE(SUM(n), 0) FROM case_tally WHERE status IN ({_marks(WAITING_ON_STAFF)}) "
            "AND kind = ?) "
            "- (SELECT COALESCE(SUM(n), 0) FROM case_hours WHERE kind = ? AND open = 1 AND hour >= ?) "
            f"+ (SELECT COUNT(*) FROM cases WHERE status IN ({_marks(WAITING_ON_CITIZEN)}) AND kind = ? "
            "AND created_at >= ?) "
            f"+ (SELECT COUNT(*) FROM cases WHERE status IN ({_marks(WAITING_ON_STAFF)}) AND kind = ? "
            "AND created_at >= ? AND created_at < ?)"
        )
        params += [*WAITING_ON_STAFF, kind, kind, hour, *WAITING_ON_CITIZEN, kind, hour]
        params += [*WAITING_ON_STAFF, kind, hour, stamp]
    row = await db.fetchone(f"SELECT {', '.join(parts)}", params)
    assert row is not None
    return sum(int(value) for value in row)


# ---------------------------------------------------------------- the map


@dataclass(frozen=True, slots=True)
class MapQuery:
    """What the summary map counts: cases by status, kind and date of receipt, and those of the contacts
    a segment reaches (its dates read in `tz`)."""

    statuses: Sequence[str] = ()
    kind: str | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    segment: SegmentFilters | None = None
    tz: ZoneInfo = UTC_ZONE


@dataclass(frozen=True, slots=True)
class MapPoint:
    """A case's shared location."""

    reference: str
    latitude: float
    longitude: float


def _map_where(query: MapQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if len(query.statuses) == 1:
        clauses.append("m.status = ?")
        params.append(query.statuses[0])
    elif query.statuses:
        clauses.append(f"m.status IN ({_marks(query.statuses)})")
        params.extend(query.statuses)
    if query.kind:
        clauses.append("m.kind = ?")
        params.append(query.kind)
    if query.created_from is not None:
        clauses.append("m.created_at >= ?")
        params.append(iso(query.created_from))
    if query.created_before is not None:
        clauses.append("m.created_at < ?")
        params.append(iso(query.created_before))
    if query.segment is not None:
        condition, segment_params = segment_where(query.segment, query.tz)
        clauses.append(f"m.contact_id IN (SELECT c.id FROM contacts AS c WHERE {condition})")
        params.extend(segment_params)
    return " AND ".join(clauses) or "1 = 1", params


async def map_counts(db: Store, query: MapQuery) -> dict[str | None, dict[str, int]]:
    """Cases per kelurahan code (None: no place) and status."""
    where, params = _map_where(query)
    if query.segment is None and query.created_from is None and query.created_before is None:
        # Status and kind only: the counts the store keeps per status, kind and place (no case is read).
        sql = (
            f"SELECT NULLIF(m.kelurahan_code, ''), m.status, SUM(m.n) FROM case_tally AS m WHERE {where} "
            "GROUP BY m.status, m.kelurahan_code HAVING SUM(m.n) > 0"
        )
    else:
        # Every filter's column is in cases_map, so SQLite's count never reads the table itself.
        hint = " INDEXED BY cases_map" if db.dialect == "sqlite" else ""
        sql = (
            f"SELECT m.kelurahan_code, m.status, COUNT(*) FROM cases AS m{hint} "
            f"WHERE {where} GROUP BY m.status, m.kelurahan_code"
        )
    counts: dict[str | None, dict[str, int]] = {}
    for row in await db.fetchall(sql, params):
        counts.setdefault(row[0], {})[row[1]] = int(row[2])
    return counts


async def map_points(db: Store, query: MapQuery, *, limit: int) -> list[MapPoint]:
    """The newest located cases the query selects (at most `limit`)."""
    where, params = _map_where(query)
    hint = " INDEXED BY cases_located" if db.dialect == "sqlite" else ""
    rows = await db.fetchall(
        f"SELECT m.reference, m.latitude, m.longitude FROM cases AS m{hint} "
        f"WHERE m.latitude IS NOT NULL AND {where} ORDER BY m.id DESC LIMIT ?",
        (*params, limit),
    )
    return [MapPoint(row[0], float(row[1]), float(row[2])) for row in rows]


async def broadcast_segment(db: Store, broadcast_id: int) -> dict[str, Any] | None:
    """The segment a broadcast was sent to (as stored), or None when there is no such broadcast."""
    stored = await db.fetchval("SELECT segment FROM broadcasts WHERE id = ?", (broadcast_id,))
    return None if stored is None else dict(json.loads(stored))


async def recent_broadcast_segments(db: Store, *, limit: int) -> list[tuple[int, dict[str, Any]]]:
    """The newest broadcasts' ids and segments."""
    rows = await db.fetchall("SELECT id, segment FROM broadcasts ORDER BY id DESC LIMIT ?", (limit,))
    return [(int(row[0]), dict(json.loads(row[1]))) for row in rows]


# ---------------------------------------------------------------- people


@dataclass(frozen=True, slots=True)
class PersonRow:
    """A person as the people page lists them."""

    id: int
    full_name: str
    nik_masked: str
    kecamatan_code: str | None
    kelurahan_code: str | None
    skills: list[str]
    disaster_victim: bool | None
    is_self: bool
    created_at: datetime
    cases: int


@dataclass(frozen=True, slots=True)
class PersonsPage:
    """One page of people, and whether there is another after it."""

    people: list[PersonRow]
    more: bool


async def persons_page(
    db: Store,
    *,
    search: CaseSearch | None = None,
    nothing: bool = False,
    kecamatan: str | None = None,
    skill: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> PersonsPage:
    """People (not erased), newest first, found by a search, a kecamatan and a skill (`nothing`: none)."""
    clauses = ["p.deleted_at IS NULL"]
    params: list[Any] = []
    source, order = "persons AS p", "p.id DESC"
    if nothing:
        clauses.append("1 = 0")
    elif (
        search is not None
        and search.kind == "name"
        and len(search.value) >= TRIGRAM
        and db.dialect == "sqlite"
    ):
        # Newest first straight from the trigram index: the walk stops at the page's end.
        source, order = "persons_fts AS f CROSS JOIN persons AS p ON p.id = f.rowid", "f.rowid DESC"
        clauses.append("f.persons_fts MATCH ?")
        params.append(fts_phrase(search.value))
    elif search is not None:
        condition, search_params = person_search_sql(search, db.dialect)
        clauses.append(condition)
        params.extend(search_params)
    if kecamatan:
        clauses.append("p.kecamatan_code = ?")
        params.append(kecamatan)
    if skill:
        # Skills are a JSON list of plain words: the quoted word is an element (no JSON function needed).
        escaped = skill.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append("p.skills LIKE ? ESCAPE '\\'")
        params.append(f'%"{escaped}"%')
    rows = await db.fetchall(
        "SELECT p.id, p.full_name, p.nik, p.kecamatan_code, p.kelurahan_code, p.skills, p.disaster_victim, "
        "p.is_self, p.created_at, (SELECT COUNT(*) FROM cases AS c WHERE c.person_id = p.id) AS cases "
        f"FROM {source} WHERE {' AND '.join(clauses)} ORDER BY {order} LIMIT ? OFFSET ?",
        (*params, page_size + 1, (max(1, page) - 1) * page_size),
    )
    people = []
    for row in rows[:page_size]:
        nik = json.loads(row[2]) if row[2] else None
        people.append(
            PersonRow(
                id=int(row[0]),
                full_name=row[1],
                nik_masked=nik["m"] if isinstance(nik, dict) else "-",
                kecamatan_code=row[3],
                kelurahan_code=row[4],
                skills=list(json.loads(row[5] or "[]")),
                disaster_victim=None if row[6] is None else bool(row[6]),
                is_self=bool(row[7]),
                created_at=datetime.fromisoformat(row[8]),
                cases=int(row[9]),
            )
        )
    return PersonsPage(people, len(rows) > page_size)


@dataclass(frozen=True, slots=True)
class WorksheetPerson:
    """A person for the SIKS-NG worksheet, with the reference of their first registration."""

    person: PersonRecord
    reference: str | None


async def worksheet_people(
    db: Store, *, registered_from: datetime, registered_before: datetime, kecamatan: str | None = None
) -> list[WorksheetPerson]:
    """People with a kelurahan registered in a period (of one kecamatan, when given), by kelurahan and
    name."""
    clauses = [
        "p.deleted_at IS NULL",
        "p.kelurahan_code IS NOT NULL",
        "p.created_at >= ?",
        "p.created_at < ?",
    ]
    params: list[Any] = [iso(registered_from), iso(registered_before)]
    if kecamatan:
        clauses.append("p.kecamatan_code = ?")
        params.append(kecamatan)
    rows = await db.fetchall(
        "SELECT p.*, (SELECT c.reference FROM cases AS c WHERE c.person_id = p.id "
        "AND c.kind = 'registration' ORDER BY c.id LIMIT 1) AS first_reference FROM persons AS p "
        f"WHERE {' AND '.join(clauses)} ORDER BY p.kelurahan_code, lower(p.full_name), p.id",
        params,
    )
    found = []
    for row in rows:
        columns = dict(row)
        reference = columns.pop("first_reference")
        for name in PERSON_JSON_COLUMNS:
            if columns.get(name) is not None:
                columns[name] = json.loads(columns[name])
        found.append(WorksheetPerson(PersonRecord.model_validate(columns), reference))
    return found


# ---------------------------------------------------------------- outbox and audit pages


@dataclass(frozen=True, slots=True)
class OutboxLine:
    """An outbound message as the outbox page lists it."""

    id: int
    contact_id: str
    origin: str
    payload: str
    status: str
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    broadcast_id: int | None
    reference: str | None


async def outbox_lines(
    db: Store, *, status: str | None = None, origin: str | None = None, limit: int = 100
) -> list[OutboxLine]:
    """The newest outbound messages (of a status, of an origin), with their case's reference."""
    clauses: list[str] = []
    params: list[Any] = []
    if status:
        clauses.append("o.status = ?")
        params.append(status)
    if origin:
        clauses.append("o.origin = ?")
        params.append(origin)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = await db.fetchall(
        "SELECT o.id, o.contact_id, o.origin, o.payload, o.status, o.error, o.created_at, o.sent_at, "
        f"o.broadcast_id, c.reference FROM outbox AS o LEFT JOIN cases AS c ON c.id = o.case_id{where} "
        "ORDER BY o.id DESC LIMIT ?",
        (*params, limit),
    )
    return [
        OutboxLine(
            int(r[0]),
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            datetime.fromisoformat(r[6]),
            datetime.fromisoformat(r[7]) if r[7] else None,
            r[8],
            r[9],
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class AuditLine:
    """One line of the staff audit log."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: str | None


async def audit_lines(
    db: Store,
    *,
    actor: str | None = None,
    action_prefix: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditLine]:
    """The audit log newest first: of one actor, of actions starting with a prefix, older than an id."""
    clauses: list[str] = []
    params: list[Any] = []
    if actor:
        clauses.append("actor = ?")
        params.append(actor)
    if action_prefix:
        clauses.append("action LIKE ? ESCAPE '\\'")
        params.append(action_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    if before_id is not None:
        clauses.append("id < ?")
        params.append(before_id)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = await db.fetchall(
        f"SELECT id, at, actor, action, target, detail FROM audit_log{where} ORDER BY id DESC LIMIT ?",
        (*params, limit),
    )
    return [AuditLine(int(r[0]), datetime.fromisoformat(r[1]), r[2], r[3], r[4], r[5]) for r in rows]


# ---------------------------------------------------------------- canned replies


@dataclass(frozen=True, slots=True)
class CannedReply:
    """A reply staff can send with one click."""

    id: int
    language: str
    title: str
    body: str
    created_by: str
    updated_at: datetime


def _canned(row: Any) -> CannedReply:
    return CannedReply(int(row[0]), row[1], row[2], row[3], row[4], datetime.fromisoformat(row[5]))


CANNED_COLUMNS = "id, language, title, body, created_by, updated_at"


async def canned_replies(db: Store, *, language: str | None = None, limit: int = 100) -> list[CannedReply]:
    """Canned replies by language and title (of one language, when given)."""
    if language is None:
        rows = await db.fetchall(
            f"SELECT {CANNED_COLUMNS} FROM canned_replies ORDER BY language, title LIMIT ?", (limit,)
        )
    else:
        rows = await db.fetchall(
            f"SELECT {CANNED_COLUMNS} FROM canned_replies WHERE language = ? ORDER BY title LIMIT ?",
            (language, limit),
        )
    return [_canned(row) for row in rows]


async def canned_body(db: Store, canned_id: int) -> str | None:
    """The text of a canned reply."""
    body = await db.fetchval("SELECT body FROM canned_replies WHERE id = ?", (canned_id,))
    return None if body is None else str(body)


def add_canned(tx: Tx, *, language: str, title: str, body: str, actor: str, at: datetime) -> None:
    """Add a canned reply (audited)."""
    tx.execute(
        "INSERT INTO canned_replies (language, title, body, created_by, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (language, title, body, actor, iso(at), iso(at)),
    )
    audit(tx, actor=actor, action="canned.add", at=at, target=language, detail=title)


def delete_canned(tx: Tx, *, canned_id: int, actor: str, at: datetime) -> bool:
    """Remove a canned reply (audited); False when there is no such reply."""
    row = tx.execute("DELETE FROM canned_replies WHERE id = ? RETURNING title", (canned_id,)).fetchone()
    if row is not None:
        audit(tx, actor=actor, action="canned.delete", at=at, detail=str(row[0]))
    return row is not None
