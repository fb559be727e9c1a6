"""Cases and their events: what staff do to a case, the case queue and its search, one case's reads.

Write functions take a `Tx` and run inside the caller's write transaction (`Store.write`); reads are
coroutines of a `Store`. Callers pass and receive records and `datetime`s, never SQL or stored text.

The queue and its search are spelled once for both backends except where they truly differ: names and
references are found through the FTS5 trigram index on SQLite (`cases_fts`, `persons_fts`) and through
trigram GIN indexes read by `ILIKE` on PostgreSQL; `INDEXED BY` hints and the unary `+` that keeps SQLite
off a broad index exist only in the SQLite spelling.
"""

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from storage.contract import Dialect, Row, Store, Tx
from storage.records import CaseEventRecord, CaseKind, CaseRecord, CaseStatus, Consent
from storage.repo import add_case_event, audit, case_from_row, iso

# Until a case is decided it waits on staff; "perlu info" waits on the citizen (not counted overdue).
WAITING_ON_STAFF = ("baru", "diproses")
# Every status still waiting for staff or the citizen (the queue's and the summary's "open").
OPEN_STATUSES = ("baru", "diproses", "perlu_info")
# Words shorter than a trigram cannot use the trigram index: they are matched by LIKE.
TRIGRAM = 3


# ---------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class ActionCase:
    """What a staff action needs to know of a case, read inside its write transaction."""

    id: int
    reference: str
    status: CaseStatus
    kind: str
    contact_id: str


@dataclass(frozen=True, slots=True)
class Reach:
    """Whether and how a case's citizen can be told: their language, consent and voice choice."""

    language: str
    consented: bool
    voice: bool


@dataclass(frozen=True, slots=True)
class SealedNumbers:
    """A case's sealed NIK/KK (as the answers hold them) and its person's (as stored, JSON text)."""

    case_id: int
    answers: dict[str, Any]
    person_nik: str | None
    person_kk: str | None


@dataclass(frozen=True, slots=True)
class Appointment:
    """An appointment set on a case."""

    starts_at: datetime
    place: str
    note: str | None
    status: str
    created_by: str


@dataclass(frozen=True, slots=True)
class CaseMessage:
    """A message queued to the citizen about a case, and what became of it."""

    id: int
    origin: str
    payload: str
    status: str
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class StaffChoice:
    """An account a case can be given to (active, and allowed to act)."""

    id: int
    display_name: str
    username: str


@dataclass(frozen=True, slots=True)
class PersonCase:
    """One case of a person, as listed on the person's page."""

    reference: str
    kind: str
    status: str
    created_at: datetime


SearchKind = Literal["reference", "number", "phone", "name"]


@dataclass(frozen=True, slots=True)
class CaseSearch:
    """A search already read: a reference (upper case), a NIK/KK by its keyed hash, a phone number by its
    key (its digits in one spelling), or words of a name or reference."""

    kind: SearchKind
    value: str


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """Which cases: every field optional (empty: any). `nothing` selects no case (a refused search)."""

    kinds: Sequence[str] = ()
    statuses: Sequence[str] = ()
    kecamatan: str | None = None
    kelurahan: str | None = None
    assignee: int | None = None
    unassigned: bool = False
    created_from: datetime | None = None
    created_before: datetime | None = None
    unread: bool = False
    urgency_rank: int | None = None
    search: CaseSearch | None = None
    nothing: bool = False


# The queue's orders: newest first, darurat first, waiting longest first, past their target first.
SORTS: dict[str, str] = {
    "": "c.id DESC",
    "urgent": "c.urgency_rank, c.id DESC",
    "waiting": "c.waiting_since, c.id DESC",
    "overdue": "overdue DESC, c.created_at, c.id",
}


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One case as the dashboard's queue lists it."""

    id: int
    reference: str
    kind: str
    status: str
    subject_name: str
    kecamatan_code: str | None
    kelurahan_code: str | None
    assignee_id: int | None
    duplicate_of: str | None
    contact_id: str
    created_at: datetime
    updated_at: datetime
    unread: int
    waiting_since: datetime | None
    urgency_rank: int | None
    assignee_name: str | None
    overdue: bool


@dataclass(frozen=True, slots=True)
class QueuePage:
    """One page of the queue: its rows, how many cases match (capped), which page of how many."""

    rows: list[QueueRow]
    total: int
    capped: bool
    page: int
    pages: int


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One case of a listing, and whether it is past its working-day target."""

    case: CaseRecord
    overdue: bool


@dataclass(frozen=True, slots=True)
class Listing:
    """The cases a listing selects (at most its limit) and how many there are in all."""

    total: int
    entries: list[QueueEntry]


ExportColumns = tuple[
    str,
    str,
    str,
    str,
    str,
    str | None,
    str | None,
    str | bytes | None,
    str | None,
    str | None,
    str,
    str | None,
    int,
]


class ExportRow(ExportColumns):
    """One case as an export reads it, with its officer's name: a plain tuple of the selected columns
    (an export reads a million: no copy per row, no object per field), read through its properties."""

    __slots__ = ()

    @property
    def reference(self) -> str:
        return self[0]

    @property
    def kind(self) -> str:
        return self[1]

    @property
    def status(self) -> str:
        return self[2]

    @property
    def created_at(self) -> datetime:
        """When the case was received (UTC)."""
        return datetime.fromisoformat(self[3])

    @property
    def subject_name(self) -> str:
        return self[4]

    @property
    def kecamatan_code(self) -> str | None:
        return self[5]

    @property
    def kelurahan_code(self) -> str | None:
        return self[6]

    @property
    def answers(self) -> str | bytes | None:
        """The answers as JSON text (or its UTF-8 bytes): the export decodes them once per row."""
        return self[7]

    @property
    def duplicate_of(self) -> str | None:
        return self[8]

    @property
    def citizen_note(self) -> str | None:
        return self[9]

    @property
    def contact_id(self) -> str:
        return self[10]

    @property
    def assignee_name(self) -> str | None:
        return self[11]

    @property
    def id(self) -> int:
        return self[12]


@dataclass(frozen=True, slots=True)
class LiveState:
    """Stamps that change when the queue should be fetched again; unread counts."""

    queue: str
    unread_cases: int
    mine: int


@dataclass(frozen=True, slots=True)
class CitizenLine:
    """A citizen's message in a case's thread, as the Telegram staff group posts it."""

    id: int
    case_id: int
    kind: str
    body: str | None
    reference: str
    subject_name: str
    officer_telegram_id: int | None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _ints(values: Sequence[str]) -> str:
    return ", ".join("?" * len(values))


# ---------------------------------------------------------------- writes: staff actions


def case_to_act(tx: Tx, reference: str) -> ActionCase | None:
    """A case by reference (case-insensitive), read inside the action's transaction."""
    row = tx.execute(
        "SELECT id, reference, status, kind, contact_id FROM cases WHERE reference = ?",
        (reference.strip().upper(),),
    ).fetchone()
    if row is None:
        return None
    return ActionCase(int(row[0]), str(row[1]), CaseStatus(row[2]), str(row[3]), str(row[4]))


def reach_of(tx: Tx, contact_id: str) -> Reach | None:
    """How a contact can be told (None when the contact is gone)."""
    row = tx.execute("SELECT language, consent, voice FROM contacts WHERE id = ?", (contact_id,)).fetchone()
    if row is None:
        return None
    return Reach(str(row[0]), row[1] == Consent.GRANTED, bool(row[2]))


def await_answer(tx: Tx, *, contact_id: str, case_id: int) -> None:
    """Mark that the contact's next message answers a question on `case_id`."""
    tx.execute("UPDATE contacts SET awaiting_case_id = ? WHERE id = ?", (case_id, contact_id))


def stop_awaiting(tx: Tx, *, contact_id: str, case_id: int) -> None:
    """Forget that the contact's next message answers `case_id` (unless staff asked again since)."""
    tx.execute(
        "UPDATE contacts SET awaiting_case_id = NULL WHERE id = ? AND awaiting_case_id = ?",
        (contact_id, case_id),
    )


def status_now(tx: Tx, case_id: int) -> CaseStatus | None:
    """A case's status as of this transaction."""
    row = tx.execute("SELECT status FROM cases WHERE id = ?", (case_id,)).fetchone()
    return None if row is None else CaseStatus(row[0])


def has_open_questions(tx: Tx, case_id: int) -> bool:
    """Whether a staff question on the case still waits for its answer."""
    row = tx.execute(
        "SELECT 1 FROM staff_questions WHERE case_id = ? AND answered_at IS NULL LIMIT 1", (case_id,)
    ).fetchone()
    return row is not None


def hold_message(tx: Tx, outbox_id: int, reason: str) -> None:
    """Keep a queued message back at once, the reason on its row (sent when the citizen writes again)."""
    tx.execute("UPDATE outbox SET status = 'held', error = ? WHERE id = ?", (f"held: {reason}", outbox_id))


def touch(tx: Tx, case_id: int, at: datetime) -> None:
    """Mark a case as changed at `at`."""
    tx.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (iso(at), case_id))


def sealed_numbers(tx: Tx, reference: str) -> SealedNumbers | None:
    """A case's sealed NIK/KK and its person's, to be opened for a staff member."""
    row = tx.execute(
        "SELECT c.id, c.answers, p.nik, p.kk FROM cases AS c LEFT JOIN persons AS p ON p.id = c.person_id "
        "WHERE c.reference = ?",
        (reference.strip().upper(),),
    ).fetchone()
    if row is None:
        return None
    return SealedNumbers(int(row[0]), json.loads(row[1]), row[2], row[3])


def assignable_name(tx: Tx, user_id: int) -> str | None:
    """The name of an active account allowed to act (a case can be given to it), else None."""
    row = tx.execute(
        "SELECT display_name FROM staff_users WHERE id = ? AND active = 1 AND role <> 'viewer'", (user_id,)
    ).fetchone()
    return None if row is None else str(row[0])


def assignable_by_username(tx: Tx, username: str) -> tuple[int, str] | None:
    """The id and name of an active account allowed to act, by its user name, else None."""
    row = tx.execute(
        "SELECT id, display_name FROM staff_users WHERE username = ? AND active = 1 AND role <> 'viewer'",
        (username,),
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def set_assignee(
    tx: Tx, *, case_id: int, user_id: int | None, actor: str, name: str | None, at: datetime
) -> None:
    """Give a case to an account (or to nobody), with its event."""
    tx.execute("UPDATE cases SET assignee_id = ?, updated_at = ? WHERE id = ?", (user_id, iso(at), case_id))
    add_case_event(tx, CaseEventRecord(case_id=case_id, at=at, actor=actor, action="assigned", note=name))


def add_note(tx: Tx, *, case_id: int, text: str, actor: str, at: datetime) -> None:
    """An internal note on a case's trail (for staff only)."""
    add_case_event(tx, CaseEventRecord(case_id=case_id, at=at, actor=actor, action="note", note=text))


def record_action(
    tx: Tx, *, actor: str, action: str, at: datetime, target: str, detail: str | None = None
) -> None:
    """One line of the staff audit log about a case."""
    audit(tx, actor=actor, action=action, at=at, target=target, detail=detail)


def first_registration(tx: Tx, person_id: int) -> str | None:
    """The reference of a person's first registration case."""
    row = tx.execute(
        "SELECT reference FROM cases WHERE person_id = ? AND kind = ? ORDER BY id LIMIT 1",
        (person_id, str(CaseKind.REGISTRATION)),
    ).fetchone()
    return None if row is None else str(row[0])


def open_case_with_nik(tx: Tx, nik_hash: str, kind: str) -> str | None:
    """The reference of the first undecided case of `kind` about the NIK with this keyed hash."""
    row = tx.execute(
        "SELECT reference FROM cases WHERE nik_hash = ? AND kind = ? "
        "AND status NOT IN ('ditolak', 'selesai') ORDER BY id LIMIT 1",
        (nik_hash, kind),
    ).fetchone()
    return None if row is None else str(row[0])


# ---------------------------------------------------------------- one case


async def assignee(db: Store, case_id: int) -> tuple[int | None, str | None]:
    """The account a case is given to, and its name (None, None when nobody)."""
    row = await db.fetchone(
        "SELECT c.assignee_id, u.display_name FROM cases AS c LEFT JOIN staff_users AS u "
        "ON u.id = c.assignee_id WHERE c.id = ?",
        (case_id,),
    )
    if row is None or row[0] is None:
        return None, None
    return int(row[0]), row[1]


async def appointments(db: Store, case_id: int, *, scheduled_only: bool = False) -> list[Appointment]:
    """A case's appointments, soonest first (only those still scheduled, when asked)."""
    only = " AND status = 'scheduled'" if scheduled_only else ""
    rows = await db.fetchall(
        "SELECT starts_at, place, note, status, created_by FROM appointments WHERE case_id = ?"
        f"{only} ORDER BY starts_at",
        (case_id,),
    )
    return [Appointment(datetime.fromisoformat(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


async def messages(db: Store, case_id: int, *, limit: int = 50) -> list[CaseMessage]:
    """Messages queued for the citizen about a case, newest first."""
    rows = await db.fetchall(
        "SELECT id, origin, payload, status, error, created_at, sent_at, updated_at FROM outbox "
        "WHERE case_id = ? ORDER BY id DESC LIMIT ?",
        (case_id, limit),
    )
    return [
        CaseMessage(int(r[0]), r[1], r[2], r[3], r[4], datetime.fromisoformat(r[5]), _time(r[6]), _time(r[7]))
        for r in rows
    ]


async def answered_notes(db: Store, case_id: int) -> list[str]:
    """The citizen's answers to staff questions on a case, oldest first (files are noted "photo:<ref>")."""
    rows = await db.fetchall(
        "SELECT note FROM case_events WHERE case_id = ? AND action = 'info_answered' "
        "AND note IS NOT NULL ORDER BY id",
        (case_id,),
    )
    return [str(row[0]) for row in rows]


async def is_overdue(db: Store, case_id: int, cutoffs: Mapping[str, datetime]) -> bool:
    """Whether a case is past its working-day target (`cutoffs`: per kind, see `overdue_sql`)."""
    late, params = overdue_sql(cutoffs)
    value = await db.fetchval(f"SELECT {late} FROM cases AS c WHERE c.id = ?", (*params, case_id))
    return bool(value)


async def staff_choices(db: Store) -> list[StaffChoice]:
    """Active accounts a case can be given to (those who may act), by name."""
    rows = await db.fetchall(
        "SELECT id, display_name, username FROM staff_users WHERE active = 1 AND role <> 'viewer' "
        "ORDER BY display_name"
    )
    return [StaffChoice(int(r[0]), str(r[1]), str(r[2])) for r in rows]


async def cases_of_person(db: Store, person_id: int) -> list[PersonCase]:
    """A person's cases, newest first."""
    rows = await db.fetchall(
        "SELECT reference, kind, status, created_at FROM cases WHERE person_id = ? ORDER BY id DESC",
        (person_id,),
    )
    return [PersonCase(r[0], r[1], r[2], datetime.fromisoformat(r[3])) for r in rows]


# ---------------------------------------------------------------- overdue, filters and search


def overdue_sql(cutoffs: Mapping[str, datetime]) -> tuple[str, list[str]]:
    """An SQL expression over `cases AS c` that is 1 for a case past its target (else 0), with its
    parameters. `cutoffs`: per kind, the instant before which a case still waiting on staff is overdue."""
    if not cutoffs:
        return "0", []
    params: list[str] = []
    branches = []
    for kind, cutoff in cutoffs.items():
        branches.append("(c.kind = ? AND c.created_at < ?)")
        params += [kind, str(iso(cutoff))]
    statuses = ", ".join(f"'{status}'" for status in WAITING_ON_STAFF)
    return f"CASE WHEN c.status IN ({statuses}) AND ({' OR '.join(branches)}) THEN 1 ELSE 0 END", params


def like_pattern(text: str) -> str:
    """`%text%` for LIKE / ILIKE (escape character backslash), the user's own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fts_phrase(text: str) -> str:
    """An FTS5 phrase matching `text` as a substring (trigram tokenizer)."""
    return '"' + text.replace('"', '""') + '"'


def case_search_sql(search: CaseSearch, dialect_of: Dialect) -> tuple[str, list[Any]]:
    """SQL condition over `cases AS c` finding the search: a reference its case; a NIK/KK hash (on the
    case or its person); a phone key (the case's answer, its person's or its contact's number); words a
    name or part of a reference (trigram index)."""
    if search.kind == "reference":
        return "c.reference = ?", [search.value]
    # SQLite looks each branch of the OR up by its own index. PostgreSQL cannot turn an OR of subqueries
    # into a join (it would walk the whole table newest first, testing each case): there one IN list of
    # the matching ids, each branch by its index.
    if search.kind == "number":
        if dialect_of == "sqlite":
            return (
                "(c.nik_hash = ? OR c.kk_hash = ? OR c.person_id IN "
                "(SELECT p.id FROM persons AS p WHERE p.nik_hash = ? UNION SELECT p.id FROM persons AS p "
                "WHERE p.kk_hash = ?))",
                [search.value] * 4,
            )
        return (
            "c.id IN (SELECT id FROM cases WHERE nik_hash = ? UNION SELECT id FROM cases WHERE kk_hash = ? "
            "UNION SELECT k.id FROM cases AS k JOIN persons AS p ON p.id = k.person_id WHERE p.nik_hash = ? "
            "UNION SELECT k.id FROM cases AS k JOIN persons AS p ON p.id = k.person_id WHERE p.kk_hash = ?)",
            [search.value] * 4,
        )
    if search.kind == "phone":
        if dialect_of == "sqlite":
            return (
                "(c.phone_key = ? OR c.contact_id IN (SELECT k.id FROM contacts AS k WHERE k.phone_key = ?) "
                "OR c.person_id IN (SELECT p.id FROM persons AS p WHERE p.phone_key = ?))",
                [search.value] * 3,
            )
        return (
            "c.id IN (SELECT id FROM cases WHERE phone_key = ? "
            "UNION SELECT k.id FROM cases AS k JOIN contacts AS t ON t.id = k.contact_id "
            "WHERE t.phone_key = ? "
            "UNION SELECT k.id FROM cases AS k JOIN persons AS p ON p.id = k.person_id "
            "WHERE p.phone_key = ?)",
            [search.value] * 3,
        )
    text = search.value
    if len(text) >= TRIGRAM:
        if dialect_of == "sqlite":
            return "c.id IN (SELECT rowid FROM cases_fts WHERE cases_fts MATCH ?)", [fts_phrase(text)]
        # The same expression as the trigram index `cases_words_filters_trgm` (migration 0015), on the
        # queried row itself: the index holds the queue's filter columns too, and the planner combines
        # them (a self-join cost 3x at 1M cases).
        return "(c.subject_name || ' ' || c.reference) ILIKE ?", [like_pattern(text)]
    # LIKE ignores case on SQLite (ASCII, as names are typed); PostgreSQL's ILIKE does the same.
    like = "LIKE" if dialect_of == "sqlite" else "ILIKE"
    pattern = like_pattern(text)
    return (
        f"(c.subject_name {like} ? ESCAPE '\\' OR c.reference {like} ? ESCAPE '\\')",
        [pattern, pattern],
    )


def person_search_sql(search: CaseSearch, dialect_of: Dialect) -> tuple[str, list[Any]]:
    """SQL condition over `persons AS p` finding the search as `case_search_sql` does for cases."""
    if search.kind == "reference":
        return "p.id IN (SELECT k.person_id FROM cases AS k WHERE k.reference = ?)", [search.value]
    if search.kind == "number":
        return "(p.nik_hash = ? OR p.kk_hash = ?)", [search.value, search.value]
    if search.kind == "phone":
        if dialect_of == "sqlite":
            return (
                "(p.phone_key = ? OR (p.is_self = 1 AND p.registered_by IN "
                "(SELECT k.id FROM contacts AS k WHERE k.phone_key = ?)))",
                [search.value, search.value],
            )
        return (  # one IN list on PostgreSQL, as for cases
            "p.id IN (SELECT id FROM persons WHERE phone_key = ? UNION SELECT q.id FROM persons AS q "
            "JOIN contacts AS t ON t.id = q.registered_by WHERE q.is_self = 1 AND t.phone_key = ?)",
            [search.value, search.value],
        )
    text = search.value
    if len(text) >= TRIGRAM:
        if dialect_of == "sqlite":
            return "p.id IN (SELECT rowid FROM persons_fts WHERE persons_fts MATCH ?)", [fts_phrase(text)]
        return "p.full_name ILIKE ?", [like_pattern(text)]
    like = "LIKE" if dialect_of == "sqlite" else "ILIKE"
    return f"p.full_name {like} ? ESCAPE '\\'", [like_pattern(text)]


def filter_sql(flt: CaseFilter, dialect_of: Dialect, *, with_search: bool = True) -> tuple[str, list[Any]]:
    """SQL condition over `cases AS c`, with its parameters (the search left out unless `with_search`)."""
    if flt.nothing:
        return "1 = 0", []
    clauses: list[str] = []
    params: list[Any] = []
    # Cases with unread messages are few: with that filter on, SQLite's walk starts from their partial
    # index (a unary "+" keeps it from driving the query by a broader column's index instead).
    plus = "+" if flt.unread and dialect_of == "sqlite" else ""
    for column, values in (("c.kind", flt.kinds), ("c.status", flt.statuses)):
        if len(values) == 1:
            clauses.append(f"{plus}{column} = ?")
            params.append(str(values[0]))
        elif values:
            clauses.append(f"{column} IN ({_ints(values)})")
            params.extend(str(value) for value in values)
    for column, value in (("c.kecamatan_code", flt.kecamatan), ("c.kelurahan_code", flt.kelurahan)):
        if value:
            clauses.append(f"{plus}{column} = ?")
            params.append(value)
    if flt.unassigned:
        clauses.append(f"{plus}c.assignee_id IS NULL")
    elif flt.assignee is not None:
        clauses.append(f"{plus}c.assignee_id = ?")
        params.append(flt.assignee)
    if flt.created_from is not None:
        clauses.append(f"{plus}c.created_at >= ?")
        params.append(iso(flt.created_from))
    if flt.created_before is not None:
        clauses.append(f"{plus}c.created_at < ?")
        params.append(iso(flt.created_before))
    if flt.unread:
        clauses.append("c.unread > 0")
    if flt.urgency_rank is not None:
        clauses.append("c.urgency_rank = ?")
        params.append(flt.urgency_rank)
    if with_search and flt.search is not None:
        search, search_params = case_search_sql(flt.search, dialect_of)
        clauses.append(search)
        params.extend(search_params)
    return (" AND ".join(clauses) or "1 = 1"), params


# ---------------------------------------------------------------- the queue

COUNT_CAP = 10_000
# A name search combined with other filters checks each name match against them: counted up to here.
NAME_AND_FILTERS_CAP = 1_000
MAX_PAGE = 200
QUEUE_COLUMNS = (
    "c.id, c.reference, c.kind, c.status, c.subject_name, c.kecamatan_code, c.kelurahan_code, "
    "c.assignee_id, c.duplicate_of, c.contact_id, c.created_at, c.updated_at, c.unread, c.waiting_since, "
    "c.urgency_rank"
)
# SQLite: cases with unread messages through their partial index (migration 0009), filter columns in it.
UNREAD_INDEX = " INDEXED BY cases_unread"
# SQLite: the cases matching a name search, driven by the trigram index (with `f.cases_fts MATCH ?`);
# each match's filter columns are read from the narrow `cases_filters` index rather than its wide row.
FROM_NAME_MATCHES = "cases_fts AS f CROSS JOIN cases AS c INDEXED BY cases_filters ON c.id = f.rowid"


def _queue_row(row: Row) -> QueueRow:
    return QueueRow(
        id=int(row[0]),
        reference=row[1],
        kind=row[2],
        status=row[3],
        subject_name=row[4],
        kecamatan_code=row[5],
        kelurahan_code=row[6],
        assignee_id=row[7],
        duplicate_of=row[8],
        contact_id=row[9],
        created_at=datetime.fromisoformat(row[10]),
        updated_at=datetime.fromisoformat(row[11]),
        unread=int(row[12]),
        waiting_since=_time(row[13]),
        urgency_rank=row[14],
        assignee_name=row[15],
        overdue=bool(row[16]),
    )


async def queue_page(
    db: Store,
    flt: CaseFilter,
    *,
    sort: str = "",
    page: int = 1,
    page_size: int = 50,
    overdue: Mapping[str, datetime] | None = None,
) -> QueuePage:
    """The cases the filter selects in the chosen order, one page of them, each marked when past its
    working-day target (`overdue`: per kind, the cutoff of `workdays.overdue_cutoffs`). Counts stop at
    `COUNT_CAP` so that a broad filter never scans the whole table just to print a number."""
    sqlite = db.dialect == "sqlite"
    where, params = filter_sql(flt, db.dialect)
    late, late_params = overdue_sql(overdue or {})
    # With the unread filter, SQLite counts from the small partial index that holds the filter columns.
    source = f"cases AS c{UNREAD_INDEX if flt.unread and sqlite else ''}"
    rows_source, order, cap = "cases AS c", SORTS.get(sort, SORTS[""]), COUNT_CAP
    search = flt.search
    name_walk = (
        sqlite
        and search is not None
        and search.kind == "name"
        and len(search.value) >= TRIGRAM
        and not flt.nothing
        and not sort
        and not flt.unread
    )
    if name_walk and search is not None:
        # A name, newest first: walk the trigram index from its newest match and stop at the page's end
        # (an IN list of every match would be built first, tens of thousands for a common name).
        where, params = filter_sql(flt, db.dialect, with_search=False)
        alone = where == "1 = 1"
        source = "cases_fts AS f" if alone else FROM_NAME_MATCHES
        cap = COUNT_CAP if alone else NAME_AND_FILTERS_CAP
        rows_source, order = FROM_NAME_MATCHES, "f.rowid DESC"
        where, params = f"f.cases_fts MATCH ? AND {where}", [fts_phrase(search.value), *params]
    elif (
        search is not None
        and search.kind == "name"
        and (not sqlite or filter_sql(flt, db.dialect, with_search=False)[0] != "1 = 1")
    ):
        # As on SQLite, each name match is checked against the other filters. On PostgreSQL a name alone
        # too: every trigram match is checked again on its (wide) row, one page read per match, so a
        # common name is counted to 1,000 ("more than 1,000 cases"), not 10,000.
        cap = NAME_AND_FILTERS_CAP
    columns = (
        f"SELECT {QUEUE_COLUMNS}, u.display_name AS assignee_name, {late} AS overdue FROM {rows_source} "
    )
    joined = "LEFT JOIN staff_users AS u ON u.id = c.assignee_id WHERE"
    rows_sql = f"{columns}{joined} {where} ORDER BY {order} LIMIT ? OFFSET ?"
    if (
        not sqlite
        and search is not None
        and search.kind == "name"
        and order == SORTS[""]
        and filter_sql(flt, db.dialect, with_search=False)[0] == "1 = 1"
    ):
        # PostgreSQL, a name alone newest first: the count reads the matches' ids (each rechecked on its
        # row). Unless there are more than the cap, those are all the matches: the page is taken from them, so
        # the trigram index is read once; a capped (common) name's newest are found walking back by id.
        ids = [
            int(row[0])
            for row in await db.fetchall(f"SELECT c.id FROM {source} WHERE {where} LIMIT {cap + 1}", params)
        ]
        total, capped = min(len(ids), cap), len(ids) > cap
        pages = max(1, min(MAX_PAGE, -(-total // page_size)))
        page = min(max(1, page), pages)
        if capped:
            rows = await db.fetchall(rows_sql, (*late_params, *params, page_size, (page - 1) * page_size))
        else:
            chosen = sorted(ids, reverse=True)[(page - 1) * page_size : page * page_size]
            marks = ", ".join("?" * len(chosen))
            rows = (
                await db.fetchall(
                    f"{columns}{joined} c.id IN ({marks}) ORDER BY c.id DESC", (*late_params, *chosen)
                )
                if chosen
                else []
            )
        return QueuePage([_queue_row(row) for row in rows], total, capped, page, pages)
    count_sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {source} WHERE {where} LIMIT {cap + 1}) AS counted"
    total = int(await db.fetchval(count_sql, params))
    capped = total > cap
    total = min(total, cap)
    pages = max(1, min(MAX_PAGE, -(-total // page_size)))
    page = min(max(1, page), pages)
    rows = await db.fetchall(rows_sql, (*late_params, *params, page_size, (page - 1) * page_size))
    return QueuePage([_queue_row(row) for row in rows], total, capped, page, pages)


async def unread_count(db: Store, *, assignee: int | None = None) -> int:
    """How many cases have messages staff have not read (of one account's cases, when given)."""
    index = UNREAD_INDEX if db.dialect == "sqlite" else ""
    if assignee is None:
        return int(await db.fetchval(f"SELECT COUNT(*) FROM cases{index} WHERE unread > 0"))
    return int(
        await db.fetchval(
            f"SELECT COUNT(*) FROM cases{index} WHERE unread > 0 AND assignee_id = ?", (assignee,)
        )
    )


async def live_state(db: Store, *, user_id: int) -> LiveState:
    """Stamps of the queue (a new case or thread line anywhere) and the unread counts."""
    index = UNREAD_INDEX if db.dialect == "sqlite" else ""
    row = await db.fetchone(
        "SELECT (SELECT MAX(id) FROM cases), (SELECT MAX(id) FROM case_messages), "
        f"(SELECT COUNT(*) FROM cases{index} WHERE unread > 0), "
        f"(SELECT COUNT(*) FROM cases{index} WHERE unread > 0 AND assignee_id = ?)",
        (user_id,),
    )
    assert row is not None
    return LiveState(f"{row[0]}.{row[1]}.{row[2]}", int(row[2]), int(row[3]))


async def listing(
    db: Store,
    flt: CaseFilter,
    *,
    overdue: Mapping[str, datetime] | None = None,
    oldest_first: bool = False,
    limit: int = 50,
) -> Listing:
    """The cases the filter selects by age (at most `limit`), each marked when past its target, and how
    many there are in all (the command line's and the Telegram staff group's queue)."""
    where, params = filter_sql(flt, db.dialect)
    late, late_params = overdue_sql(overdue or {})
    total = int(await db.fetchval(f"SELECT COUNT(*) FROM cases AS c WHERE {where}", params))
    rows = await db.fetchall(
        f"SELECT c.*, {late} AS overdue FROM cases AS c WHERE {where} "
        f"ORDER BY c.id {'ASC' if oldest_first else 'DESC'} LIMIT ?",
        (*late_params, *params, limit),
    )
    return Listing(total, [QueueEntry(case_from_row(row), bool(row["overdue"])) for row in rows])


async def find_cases(db: Store, search: CaseSearch, *, limit: int = 10) -> list[CaseRecord]:
    """The newest cases a search finds (at most `limit`)."""
    where, params = case_search_sql(search, db.dialect)
    rows = await db.fetchall(
        f"SELECT c.* FROM cases AS c WHERE {where} ORDER BY c.id DESC LIMIT ?", (*params, limit)
    )
    return [case_from_row(row) for row in rows]


async def iter_cases(db: Store, flt: CaseFilter, *, batch: int = 1000) -> AsyncIterator[list[CaseRecord]]:
    """Every case the filter selects (oldest first), in batches: memory stays flat."""
    where, params = filter_sql(flt, db.dialect)
    last_id = 0
    while True:
        rows = await db.fetchall(
            f"SELECT c.* FROM cases AS c WHERE {where} AND c.id > ? ORDER BY c.id LIMIT ?",
            (*params, last_id, batch),
        )
        if not rows:
            return
        yield [case_from_row(row) for row in rows]
        last_id = int(rows[-1]["id"])


EXPORT_COLUMNS = (
    "c.reference, c.kind, c.status, c.created_at, c.subject_name, c.kecamatan_code, c.kelurahan_code, "
    "c.answers, c.duplicate_of, c.citizen_note, c.contact_id, u.display_name, c.id"
)
EXPORT_FROM = "FROM cases AS c LEFT JOIN staff_users AS u ON u.id = c.assignee_id"  # with its officer


def _export_rows(rows: list[Row]) -> list[ExportRow]:
    make = tuple.__new__
    return [make(ExportRow, row) for row in rows]


@dataclass(frozen=True, slots=True)
class ExportRange:
    """What an export reads one id range at a time, each on a connection of its own (in other
    processes): where the store is (the SQLite file, or the PostgreSQL address, never shown), the
    filter's SQL with its parameters, and the last case id when it began."""

    dialect: Dialect
    location: str = field(repr=False)
    sql: str
    params: tuple[Any, ...]
    last_id: int


def _location(db: Store) -> str | None:
    """Where other processes reach the store: the SQLite file, or the PostgreSQL address."""
    where = getattr(db, "path" if db.dialect == "sqlite" else "url", None)
    return None if where is None else str(where)


async def export_range(db: Store, flt: CaseFilter, *, at_least: int) -> ExportRange | None:
    """The export's SQL by id range, when other processes can read `db` (a SQLite file, or PostgreSQL
    through its address) and the filter selects at least `at_least` cases (None otherwise: such exports
    read in batches on the store's own connections). At most `at_least` cases are counted."""
    location = _location(db)
    if location is None or flt.nothing:
        return None
    where, params = filter_sql(flt, db.dialect)
    selected = await db.fetchval(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM cases AS c WHERE {where} LIMIT ?) AS chosen",
        (*params, at_least),
    )
    if int(selected) < at_least:
        return None
    columns = EXPORT_COLUMNS
    if db.dialect == "sqlite":  # the answers as their UTF-8 bytes (the export decodes them as JSON)
        columns = columns.replace("c.answers", "CAST(c.answers AS BLOB)")
    sql = f"SELECT {columns} {EXPORT_FROM} WHERE {where} AND c.id > ? AND c.id <= ? ORDER BY c.id"
    last_id = await db.fetchval("SELECT MAX(id) FROM cases")
    return ExportRange(db.dialect, location, sql, tuple(params), int(last_id or 0))


async def fetch_export_range(db: Store, source: ExportRange, after: int, upto: int) -> list[ExportRow]:
    """`ExportReader.read` on the store's own reader connections."""
    return _export_rows(await db.fetchall(source.sql, (*source.params, after, upto)))


class ExportReadError(Exception):
    """An export's worker could not read a range (its connection lost, the file busy too long); only
    the kind of error is kept, never the database's message."""


EXPORT_APPLICATION = "dinsos-export"  # how an export worker's PostgreSQL connection is named


class ExportReader:
    """A read-only connection of its own (in an export's worker process) to the store `source` names,
    reading the export's id ranges as plain tuples of its columns."""

    def __init__(self, source: ExportRange) -> None:
        self._read: Any
        self._errors: tuple[type[Exception], ...]
        if source.dialect == "sqlite":
            conn = sqlite3.connect(source.location, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            self._sql: str = source.sql
            self._read = conn.execute
            self._errors = (sqlite3.Error,)
        else:
            import psycopg  # only where the store is PostgreSQL

            from storage.postgres.adapt import configure
            from storage.postgres.sql import to_psycopg

            pg = psycopg.connect(source.location, autocommit=True, application_name=EXPORT_APPLICATION)
            configure(pg)
            pg.execute("SET default_transaction_read_only = on")
            self._sql = to_psycopg(source.sql)
            self._read = pg.execute
            self._errors = (psycopg.Error,)
        self._params = source.params

    def read(self, after: int, upto: int) -> list[ExportColumns]:
        """The export rows with `after < id <= upto`, oldest first (one statement, finished on return).
        Raises `ExportReadError` when the database fails."""
        try:
            rows: list[ExportColumns] = self._read(self._sql, (*self._params, after, upto)).fetchall()
        except self._errors as error:
            raise ExportReadError(type(error).__name__) from None
        return rows


async def iter_export_rows(
    db: Store, flt: CaseFilter, *, batch: int = 5000
) -> AsyncIterator[list[ExportRow]]:
    """Every case the filter selects (oldest first) as export rows, in batches: memory stays flat."""
    where, params = filter_sql(flt, db.dialect)
    sql = f"SELECT {EXPORT_COLUMNS} {EXPORT_FROM} WHERE {where} AND c.id > ? ORDER BY c.id LIMIT ?"
    # The next batch is read (on a reader thread, outside the GIL) while the caller turns the current
    # one into file rows.
    pending = asyncio.ensure_future(db.fetchall(sql, (*params, 0, batch)))
    try:
        while True:
            rows = await pending
            if not rows:
                return
            pending = asyncio.ensure_future(db.fetchall(sql, (*params, rows[-1][-1], batch)))
            yield _export_rows(rows)
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending


# ---------------------------------------------------------------- the Telegram staff group's feed


async def cases_after(db: Store, last_id: int, *, limit: int = 20) -> list[CaseRecord]:
    """Cases filed after `last_id`, oldest first."""
    rows = await db.fetchall("SELECT * FROM cases WHERE id > ? ORDER BY id LIMIT ?", (last_id, limit))
    return [case_from_row(row) for row in rows]


async def citizen_lines_after(db: Store, last_id: int, *, limit: int = 20) -> list[CitizenLine]:
    """Citizens' thread messages after `last_id`, oldest first, with their case and its officer."""
    rows = await db.fetchall(
        "SELECT m.id, m.case_id, m.kind, m.body, c.reference, c.subject_name, u.telegram_user_id "
        "FROM case_messages AS m JOIN cases AS c ON c.id = m.case_id "
        "LEFT JOIN staff_users AS u ON u.id = c.assignee_id AND u.active = 1 "
        "WHERE m.id > ? AND m.direction = 'in' ORDER BY m.id LIMIT ?",
        (last_id, limit),
    )
    return [
        CitizenLine(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], None if r[6] is None else int(r[6]))
        for r in rows
    ]
