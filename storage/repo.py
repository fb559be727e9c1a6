"""Repository: read queries (async, on reader connections) and write functions (run by the writer).

Write functions take a `sqlite3.Connection` and are called inside the writer's transaction; callers pass
them to `Database.write` directly or collect several into one atomic unit.
"""

import json
import re
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from storage.contract import Store, Tx, dialect, insert_id
from storage.records import (
    REFERENCE_PREFIX,
    CaseEventRecord,
    CaseKind,
    CaseRecord,
    CaseStatus,
    ContactRecord,
    ConversationRecord,
    OutboxRecord,
    OutboxStatus,
    PersonRecord,
)

PERSON_JSON_COLUMNS = ("nik", "kk", "skills", "documents", "aid_received")


def iso(value: datetime | date | None) -> str | None:
    """Store datetimes as UTC ISO text, dates as ISO dates."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is UTC:  # the service's own clock: no conversion needed
            return value.isoformat()
        return value.astimezone(UTC).isoformat()
    return value.isoformat()


def _row_dict(row: sqlite3.Row, json_columns: Sequence[str] = ()) -> dict[str, Any]:
    data = dict(row)
    for column in json_columns:
        if data.get(column) is not None:
            data[column] = json.loads(data[column])
    return data


def contact_from_row(row: sqlite3.Row) -> ContactRecord:
    """Build a contact record from a row of `contacts`."""
    return ContactRecord.model_validate(dict(row))


def person_from_row(row: sqlite3.Row) -> PersonRecord:
    """Build a person record from a row of `persons`."""
    return PersonRecord.model_validate(_row_dict(row, PERSON_JSON_COLUMNS))


def case_from_row(row: sqlite3.Row) -> CaseRecord:
    """Build a case record from a row of `cases`."""
    return CaseRecord.model_validate(_row_dict(row, ("answers",)))


def outbox_from_row(row: sqlite3.Row) -> OutboxRecord:
    """Build an outbox record from a row of `outbox`."""
    return OutboxRecord.model_validate(dict(row))


# ---------------------------------------------------------------- reads


@dataclass(frozen=True, slots=True)
class TurnState:
    """What the engine needs before a conversation step."""

    contact: ContactRecord | None
    conversation: ConversationRecord | None
    seen: bool


_TURN_STATE_SQL = """
SELECT c.*, v.flow AS v_flow, v.step AS v_step, v.data AS v_data,
       v.started_at AS v_started_at, v.updated_at AS v_updated_at,
       EXISTS(SELECT 1 FROM inbound WHERE id = :event_id) AS seen
FROM (SELECT :contact AS wanted) AS w
LEFT JOIN contacts AS c ON c.id = w.wanted OR c.alt_id = w.wanted
LEFT JOIN conversations AS v ON v.contact_id = c.id
LIMIT 1
"""


async def load_turn_state(db: Store, contact_id: str, event_id: str | None) -> TurnState:
    """Load a contact, its conversation and whether this event was already handled, in one query."""
    row = await db.fetchone_now(_TURN_STATE_SQL, {"contact": contact_id, "event_id": event_id or ""})
    assert row is not None  # the outer select always yields one row
    seen = bool(row["seen"])
    if row["id"] is None:
        return TurnState(None, None, seen)
    data = dict(row)
    conversation = None
    if data["v_flow"] is not None:
        conversation = ConversationRecord(
            contact_id=data["id"],
            flow=data["v_flow"],
            step=data["v_step"],
            data=json.loads(data["v_data"]),
            started_at=data["v_started_at"],
            updated_at=data["v_updated_at"],
        )
    contact = ContactRecord.model_validate({k: v for k, v in data.items() if not k.startswith("v_")})
    return TurnState(contact, conversation, seen)


async def get_contact(db: Store, contact_id: str) -> ContactRecord | None:
    """A contact by its address (or its alternative address)."""
    row = await db.fetchone("SELECT * FROM contacts WHERE id = ? OR alt_id = ?", (contact_id,) * 2)
    return None if row is None else contact_from_row(row)


async def persons_of_contact(db: Store, contact_id: str) -> list[PersonRecord]:
    """Persons this contact registered (self first), excluding deleted ones."""
    rows = await db.fetchall(
        "SELECT * FROM persons WHERE registered_by = ? AND deleted_at IS NULL ORDER BY is_self DESC, id",
        (contact_id,),
    )
    return [person_from_row(row) for row in rows]


async def get_person(db: Store, person_id: int) -> PersonRecord | None:
    """A person by id."""
    row = await db.fetchone("SELECT * FROM persons WHERE id = ?", (person_id,))
    return None if row is None else person_from_row(row)


async def cases_of_contact(db: Store, contact_id: str, limit: int = 5) -> list[CaseRecord]:
    """The newest cases this contact submitted."""
    rows = await db.fetchall(
        "SELECT * FROM cases WHERE contact_id = ? ORDER BY id DESC LIMIT ?", (contact_id, limit)
    )
    return [case_from_row(row) for row in rows]


async def cases_for_contact(db: Store, contact_id: str, limit: int = 1000) -> list[CaseRecord]:
    """Every case of the contact and of the persons they registered: questions from staff first, then
    newest first."""
    rows = await db.fetchall(
        """SELECT * FROM cases
           WHERE contact_id = ?
              OR person_id IN (SELECT id FROM persons WHERE registered_by = ? AND deleted_at IS NULL)
           ORDER BY status = 'perlu_info' DESC, id DESC LIMIT ?""",
        (contact_id, contact_id, limit),
    )
    return [case_from_row(row) for row in rows]


async def get_case(db: Store, reference: str) -> CaseRecord | None:
    """A case by reference number (case-insensitive)."""
    row = await db.fetchone("SELECT * FROM cases WHERE reference = ?", (reference.strip().upper(),))
    return None if row is None else case_from_row(row)


async def get_case_by_id(db: Store, case_id: int) -> CaseRecord | None:
    """A case by id."""
    row = await db.fetchone("SELECT * FROM cases WHERE id = ?", (case_id,))
    return None if row is None else case_from_row(row)


async def case_events(db: Store, case_id: int) -> list[CaseEventRecord]:
    """A case's trail, oldest first."""
    rows = await db.fetchall("SELECT * FROM case_events WHERE case_id = ? ORDER BY id", (case_id,))
    return [CaseEventRecord.model_validate(dict(row)) for row in rows]


BULK_ORIGINS = ("broadcast", "reminder", "programme", "nudge")  # the `bulk` column (migration 0003)


async def pending_outbox(
    db: Store,
    schemes: Sequence[str] | None = None,
    limit: int = 500,
    *,
    now: datetime | None = None,
    include_bulk: bool = True,
    reply_grace: timedelta | None = None,
) -> list[OutboxRecord]:
    """Queued outbound messages that may leave now: replies and staff messages first, then bulk.

    Only for contacts of `schemes` when given; rows whose `not_before` is later than `now` wait; bulk
    rows (broadcasts, reminders, invitations, nudges) are left out when `include_bulk` is false.
    """
    clauses = ["status = 'queued'", "bulk = ?"]
    params: list[Any] = []
    if schemes is not None:
        clauses.append("(" + (" OR ".join("contact_id LIKE ?" for _ in schemes) or "1 = 0") + ")")
        params.extend(f"{scheme}:%" for scheme in schemes)
    if now is not None:
        clauses.append("(not_before IS NULL OR not_before <= ?)")
        params.append(iso(now))
        if reply_grace is not None:
            # A fresh reply belongs to the conversation turn that wrote it, which sends it in order;
            # only a reply left behind (the process died before sending) is picked up here.
            clauses.append("(origin != 'reply' OR created_at <= ?)")
            params.append(iso(now - reply_grace))
    sql = f"SELECT * FROM outbox WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?"
    rows = await db.fetchall(sql, (0, *params, limit))
    if include_bulk and len(rows) < limit:
        rows += await db.fetchall(sql, (1, *params, limit - len(rows)))
    return [outbox_from_row(row) for row in rows]


# ---------------------------------------------------------------- writes


_CONTACT_INSERT = """
    INSERT INTO contacts (id, channel, alt_id, display_name, phone, language, consent,
        consent_version, opted_out, unreachable, awaiting_case_id, last_inbound_at,
        created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET """
# What a turn may change on its contact, and what every message changes (its last message's time and
# whether it can be reached). Touching only the latter sets no indexed column, so the row's indexes (its
# phone number, its alternative address) are left as they are and the commit writes fewer pages.
_CONTACT_CHOICES = ("alt_id", "display_name", "phone", "language", "consent", "consent_version", "opted_out")
_CONTACT_STAMPS = ("unreachable", "last_inbound_at", "updated_at")


def _set_excluded(columns: tuple[str, ...]) -> str:
    return ", ".join(f"{column} = excluded.{column}" for column in columns)


_CONTACT_UPSERT = _CONTACT_INSERT + _set_excluded(_CONTACT_CHOICES + _CONTACT_STAMPS)
_CONTACT_TOUCH = _CONTACT_INSERT + _set_excluded(_CONTACT_STAMPS)


def upsert_contact(conn: Tx, contact: ContactRecord) -> None:
    """Insert or update a contact row.

    `awaiting_case_id` is only set on insert: staff set it from another process while a turn runs on
    an older copy of the contact, so it is changed by targeted updates only (see handlers.casework).
    """
    conn.execute(_CONTACT_UPSERT, _contact_params(contact))


def save_turn_contact(conn: Tx, contact: ContactRecord, stored: ContactRecord | None) -> None:
    """A conversation step's contact row (`stored`: as the step read it; None when it had none): in full
    (`upsert_contact`) when the step changed it, otherwise only its last message's time and
    reachability, which most messages change and nothing else."""
    if stored is None or any(getattr(contact, name) != getattr(stored, name) for name in _CONTACT_CHOICES):
        upsert_contact(conn, contact)
    else:
        conn.execute(_CONTACT_TOUCH, _contact_params(contact))


def _contact_params(contact: ContactRecord) -> tuple[object, ...]:
    return (
        contact.id,
        contact.channel,
        contact.alt_id,
        contact.display_name,
        contact.phone,
        contact.language,
        contact.consent,
        contact.consent_version,
        int(contact.opted_out),
        int(contact.unreachable),
        contact.awaiting_case_id,
        iso(contact.last_inbound_at),
        iso(contact.created_at),
        iso(contact.updated_at),
    )


def save_conversation(conn: Tx, conv: ConversationRecord) -> None:
    """Insert or replace a contact's conversation state."""
    conn.execute(
        """
        INSERT INTO conversations (contact_id, flow, step, data, started_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (contact_id) DO UPDATE SET flow = excluded.flow, step = excluded.step,
            data = excluded.data, started_at = excluded.started_at,
            updated_at = excluded.updated_at
        """,
        (
            conv.contact_id,
            conv.flow,
            conv.step,
            json.dumps(conv.data, ensure_ascii=False, default=str),
            iso(conv.started_at),
            iso(conv.updated_at),
        ),
    )


def delete_conversation(conn: Tx, contact_id: str) -> None:
    """Forget a contact's conversation state."""
    conn.execute("DELETE FROM conversations WHERE contact_id = ?", (contact_id,))


def record_inbound(conn: Tx, event_id: str, contact_id: str, at: datetime) -> bool:
    """Remember an inbound event id; False when it was already recorded (a redelivery)."""
    cursor = conn.execute(
        "INSERT INTO inbound (id, contact_id, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (event_id, contact_id, iso(at)),
    )
    return cursor.rowcount == 1


def insert_outbox(
    conn: Tx,
    *,
    contact_id: str,
    payload: str,
    origin: str,
    at: datetime,
    case_id: int | None = None,
) -> OutboxRecord:
    """Queue one outbound message and return its row."""
    stamp = iso(at)
    new_id = insert_id(
        conn,
        "INSERT INTO outbox (contact_id, origin, payload, status, case_id, created_at, updated_at) "
        "VALUES (?, ?, ?, 'queued', ?, ?, ?) RETURNING id",
        (contact_id, origin, payload, case_id, stamp, stamp),
    )
    # Built from the values just written (already of their types): no validation needed.
    return OutboxRecord.model_construct(
        id=new_id,
        contact_id=contact_id,
        origin=origin,
        payload=payload,
        status=OutboxStatus.QUEUED,
        case_id=case_id,
        created_at=at,
        updated_at=at,
    )


MARK_CHUNK = 256


def mark_outbox(
    conn: Tx,
    ids: Sequence[int],
    status: OutboxStatus,
    at: datetime,
    *,
    error: str | None = None,
    count_attempt: bool = False,
) -> None:
    """Set the status of outbox rows: one statement for up to `MARK_CHUNK` rows, not one per row."""
    stamp = iso(at)
    for start in range(0, len(ids), MARK_CHUNK):
        chunk = list(ids[start : start + MARK_CHUNK])
        # The id list is padded (repeating its last id) to a power of two, so the statements stay few
        # and are prepared once each.
        size = 1 << (len(chunk) - 1).bit_length()
        chunk += chunk[-1:] * (size - len(chunk))
        conn.execute(
            "UPDATE outbox SET status = ?, error = ?, updated_at = ?, attempts = attempts + ?, "
            f"sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE id IN ({', '.join('?' * size)})",
            (status, error, stamp, int(count_attempt), status, stamp, *chunk),
        )


def set_external_id(conn: Tx, outbox_id: int, external_id: str) -> None:
    """Record the platform's id for a sent message."""
    conn.execute("UPDATE outbox SET external_id = ? WHERE id = ?", (external_id, outbox_id))


def next_reference(conn: Tx, kind: CaseKind, year: int) -> str:
    """Allocate the next reference number of a kind in a year, e.g. REG-2026-000123."""
    prefix = REFERENCE_PREFIX[kind]
    name = f"{prefix}-{year}"
    row = conn.execute(
        "INSERT INTO counters (name, value) VALUES (?, 1) "
        "ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
        (name,),
    ).fetchone()
    return f"{name}-{row[0]:06d}"


def record_consent(
    conn: Tx,
    contact_id: str,
    granted: bool,
    version: str,
    at: datetime,
    purpose: str = "service",
) -> None:
    """Keep proof of a consent answer (UU PDP Pasal 24); `purpose` is 'service' or 'broadcast'."""
    conn.execute(
        "INSERT INTO consents (contact_id, granted, notice_version, at, purpose) VALUES (?, ?, ?, ?, ?)",
        (contact_id, int(granted), version, iso(at), purpose),
    )


def withdraw_consents(conn: Tx, contact_id: str, at: datetime) -> None:
    """Mark every consent of a contact withdrawn."""
    conn.execute(
        "UPDATE consents SET withdrawn_at = ? WHERE contact_id = ? AND withdrawn_at IS NULL",
        (iso(at), contact_id),
    )


def _person_values(person: PersonRecord) -> tuple[Any, ...]:
    return (
        person.registered_by,
        int(person.is_self),
        person.full_name,
        person.nik.model_dump_json() if person.nik else None,
        person.nik.h if person.nik else None,
        person.kk.model_dump_json() if person.kk else None,
        person.kk.h if person.kk else None,
        iso(person.birth_date),
        person.sex,
        person.phone,
        person.kecamatan_code,
        person.kelurahan_code,
        person.address,
        person.latitude,
        person.longitude,
        person.household_size,
        json.dumps(person.skills),
        None if person.disaster_victim is None else int(person.disaster_victim),
        json.dumps(person.documents),
        json.dumps(person.aid_received),
        iso(person.created_at),
        iso(person.updated_at),
        person.birth_precision,
        person.agreed_by,
    )


_PERSON_COLUMNS = (
    "registered_by, is_self, full_name, nik, nik_hash, kk, kk_hash, birth_date, sex, phone, "
    "kecamatan_code, kelurahan_code, address, latitude, longitude, household_size, skills, "
    "disaster_victim, documents, aid_received, created_at, updated_at, birth_precision, agreed_by"
)


_PERSON_PLACEHOLDERS = ", ".join("?" * (_PERSON_COLUMNS.count(",") + 1))


def insert_person(conn: Tx, person: PersonRecord) -> int:
    """Insert a person and return its id."""
    return insert_id(
        conn,
        f"INSERT INTO persons ({_PERSON_COLUMNS}) VALUES ({_PERSON_PLACEHOLDERS}) RETURNING id",
        _person_values(person),
    )


def update_person(conn: Tx, person: PersonRecord) -> None:
    """Write every field of an existing person."""
    assignments = ", ".join(f"{name.strip()} = ?" for name in _PERSON_COLUMNS.split(","))
    conn.execute(f"UPDATE persons SET {assignments} WHERE id = ?", (*_person_values(person), person.id))


def find_duplicate_person(conn: Tx, person: PersonRecord) -> int | None:
    """An earlier person with the same NIK hash, or the same name, birth date and kelurahan."""
    if person.nik is not None:
        row = conn.execute(
            "SELECT id FROM persons WHERE nik_hash = ? AND deleted_at IS NULL "
            "AND id IS DISTINCT FROM ? ORDER BY id LIMIT 1",
            (person.nik.h, person.id),
        ).fetchone()
        if row:
            return int(row[0])
    if person.birth_date is not None and person.kelurahan_code is not None:
        # The same name in any case (ASCII on SQLite), through the index on the name as compared.
        same_name = (
            "full_name = ? COLLATE NOCASE" if dialect(conn) == "sqlite" else "lower(full_name) = lower(?)"
        )
        row = conn.execute(
            f"SELECT id FROM persons WHERE {same_name} AND birth_date = ? "
            "AND kelurahan_code = ? AND deleted_at IS NULL AND id IS DISTINCT FROM ? ORDER BY id LIMIT 1",
            (person.full_name, iso(person.birth_date), person.kelurahan_code, person.id),
        ).fetchone()
        if row:
            return int(row[0])
    return None


def insert_case(conn: Tx, case: CaseRecord, actor: str) -> int:
    """Insert a case with its first event and return its id."""
    case_id = insert_id(
        conn,
        """
        INSERT INTO cases (reference, kind, status, person_id, contact_id, subject_name,
            kecamatan_code, kelurahan_code, latitude, longitude, answers, nik_hash, duplicate_of,
            info_question, citizen_note, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        RETURNING id
        """,
        (
            case.reference,
            case.kind,
            case.status,
            case.person_id,
            case.contact_id,
            case.subject_name,
            case.kecamatan_code,
            case.kelurahan_code,
            case.latitude,
            case.longitude,
            json.dumps(case.answers, ensure_ascii=False, default=str),
            case.nik_hash,
            case.duplicate_of,
            case.info_question,
            case.citizen_note,
            iso(case.created_at),
            iso(case.updated_at),
        ),
    )
    add_case_event(
        conn,
        CaseEventRecord(
            case_id=case_id,
            at=case.created_at,
            actor=actor,
            action="created",
            to_status=case.status,
        ),
    )
    return case_id


def add_case_event(conn: Tx, event: CaseEventRecord) -> None:
    """Append to a case's trail."""
    conn.execute(
        "INSERT INTO case_events (case_id, at, actor, action, from_status, to_status, note, "
        "citizen_notified) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            event.case_id,
            iso(event.at),
            event.actor,
            event.action,
            event.from_status,
            event.to_status,
            event.note,
            int(event.citizen_notified),
        ),
    )


def set_case_status(
    conn: Tx,
    case_id: int,
    status: CaseStatus,
    at: datetime,
    *,
    info_question: str | None = None,
    citizen_note: str | None = None,
) -> None:
    """Change a case's status (callers check the transition)."""
    conn.execute(
        "UPDATE cases SET status = ?, info_question = ?, "
        "citizen_note = COALESCE(?, citizen_note), updated_at = ? WHERE id = ?",
        (status, info_question, citizen_note, iso(at), case_id),
    )


def audit(
    conn: Tx,
    *,
    actor: str,
    action: str,
    at: datetime,
    target: str | None = None,
    detail: str | None = None,
) -> None:
    """Write one line of the staff audit log."""
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        (iso(at), actor, action, target, detail),
    )


ERASED = "[dihapus]"


def erase_person(conn: Tx, person_id: int, at: datetime, actor: str) -> None:
    """Delete a person's personal data (UU PDP): the row stays as a tombstone, cases are redacted."""
    conn.execute(
        """
        UPDATE persons SET full_name = ?, nik = NULL, nik_hash = NULL, kk = NULL, kk_hash = NULL,
            birth_date = NULL, birth_precision = NULL, sex = NULL, phone = NULL, address = NULL,
            latitude = NULL, longitude = NULL, household_size = NULL, skills = '[]', disaster_victim = NULL,
            documents = '[]', aid_received = '[]', updated_at = ?, deleted_at = ?
        WHERE id = ?
        """,
        (ERASED, iso(at), iso(at), person_id),
    )
    case_ids = [row[0] for row in conn.execute("SELECT id FROM cases WHERE person_id = ?", (person_id,))]
    _redact_cases(conn, case_ids, at, actor)


# A file kept in the media store, as flows and casework note it ("media/2026/11/<uuid>.ogg").
MEDIA_REF = re.compile(r"media/\d{4}/\d{2}/[0-9a-f]{32}\.[A-Za-z0-9]{1,8}")


MEDIA_ERASED = threading.Event()
"""Set when files were queued for deletion, so the service looks at the queue only then."""


def _erase_media_in(conn: Tx, text: str | None, at: datetime) -> None:
    """Queue every file named in `text` for deletion from the media folder (see take_media_erasures)."""
    for ref in set(MEDIA_REF.findall(text or "")):
        conn.execute(
            "INSERT INTO media_erasures (ref, at) VALUES (?, ?) ON CONFLICT (ref) DO NOTHING", (ref, iso(at))
        )
        MEDIA_ERASED.set()


def take_media_erasures(conn: Tx) -> list[str]:
    """The files whose data was erased, removed from the queue: the caller deletes them."""
    refs = [row[0] for row in conn.execute("SELECT ref FROM media_erasures ORDER BY ref")]
    if refs:
        conn.execute("DELETE FROM media_erasures")
    return refs


def media_in_use(conn: Tx, contact_id: str, ref: str) -> bool:
    """Whether a received file is attached to the contact's conversation or to a case (else unneeded)."""
    find = "instr" if dialect(conn) == "sqlite" else "strpos"  # where a text occurs (0: nowhere)
    row = conn.execute(
        f"SELECT 1 FROM conversations WHERE contact_id = ? AND {find}(data, ?) > 0 "
        f"UNION ALL SELECT 1 FROM cases WHERE contact_id = ? AND {find}(answers, ?) > 0 "
        f"UNION ALL SELECT 1 FROM case_events WHERE {find}(note, ?) > 0 LIMIT 1",
        (contact_id, ref, contact_id, ref, ref),
    ).fetchone()
    return row is not None


def _redact_cases(conn: Tx, case_ids: list[int], at: datetime, actor: str) -> None:
    for case_id in case_ids:
        answers = conn.execute("SELECT answers FROM cases WHERE id = ?", (case_id,)).fetchone()
        _erase_media_in(conn, answers[0] if answers else None, at)
        for (note,) in conn.execute("SELECT note FROM case_events WHERE case_id = ?", (case_id,)).fetchall():
            _erase_media_in(conn, note, at)
        conn.execute(
            "UPDATE cases SET subject_name = ?, answers = '{}', nik_hash = NULL, updated_at = ? WHERE id = ?",
            (ERASED, iso(at), case_id),
        )
        conn.execute(
            "UPDATE case_events SET note = NULL WHERE case_id = ? AND action IN "
            "('info_answered', 'nik_viewed')",
            (case_id,),
        )
        # What the citizen wrote in the case's thread is their data too.
        conn.execute(
            "UPDATE case_messages SET body = NULL, media_ref = NULL WHERE case_id = ? AND direction = 'in'",
            (case_id,),
        )
        add_case_event(
            conn,
            CaseEventRecord(case_id=case_id, at=at, actor=actor, action="data_deleted"),
        )


def erase_contact(conn: Tx, contact_id: str, at: datetime, actor: str) -> None:
    """Withdraw consent and delete everything a contact gave: persons, case contents, drafts."""
    for (person_id,) in conn.execute(
        "SELECT id FROM persons WHERE registered_by = ? AND deleted_at IS NULL", (contact_id,)
    ).fetchall():
        erase_person(conn, person_id, at, actor)
    orphan_cases = [
        row[0]
        for row in conn.execute(
            "SELECT id FROM cases WHERE contact_id = ? AND subject_name != ?", (contact_id, ERASED)
        )
    ]
    _redact_cases(conn, orphan_cases, at, actor)
    draft = conn.execute("SELECT data FROM conversations WHERE contact_id = ?", (contact_id,)).fetchone()
    _erase_media_in(conn, draft[0] if draft else None, at)
    withdraw_consents(conn, contact_id, at)
    # A staff question pending on an erased case must not capture what they write after consenting again.
    conn.execute(
        "UPDATE contacts SET awaiting_case_id = NULL, thread_case_id = NULL WHERE id = ?", (contact_id,)
    )
    conn.execute(
        "UPDATE staff_questions SET answered_at = ? WHERE contact_id = ? AND answered_at IS NULL",
        (iso(at), contact_id),
    )
    conn.execute(
        "UPDATE outbox SET status = 'cancelled', updated_at = ? "
        "WHERE contact_id = ? AND status = 'queued' AND origin != 'reply'",
        (iso(at), contact_id),
    )
