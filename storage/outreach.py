"""Outreach in the store: broadcasts, reminders and their runs, appointments, training programmes and their
invitations (RSVPs), nudges, and the outbox rows they queue.

Write functions take a `Tx` and run inside the caller's transaction (a broadcast's outbox rows are written
in the same transaction that records it as sending); reads are coroutines on the `Store` and return
records with `datetime`s. What is sent and in which words is decided by `handlers.outreach`; this module
only keeps and finds the rows. Outbox rows of bulk work carry a unique `dedupe_key`: queuing the same work
twice leaves one row.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from storage import channel_state, repo
from storage.contract import Row, Store, Tx, insert_id
from storage.segments import SegmentFilters, segment_where


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


# The name of a contact's first registered person (the contact themself first), for lists of people.
_NAME_OF = (
    "(SELECT p.full_name FROM persons AS p WHERE p.registered_by = {contact} AND p.deleted_at IS NULL "
    "ORDER BY p.is_self DESC, p.id LIMIT 1)"
)
_PHONE_OF = (
    "(SELECT p.phone FROM persons AS p WHERE p.registered_by = {contact} AND p.deleted_at IS NULL "
    "ORDER BY p.is_self DESC, p.id LIMIT 1)"
)


# ---------------------------------------------------------------- segments and bulk outbox rows


@dataclass(frozen=True, slots=True)
class SegmentPayloads:
    """The message of a bulk send in each language, plain and with its voice note (for voice mode)."""

    id: str
    en: str
    id_voiced: str
    en_voiced: str


async def segment_size(db: Store, segment: SegmentFilters, tz: ZoneInfo) -> int:
    """How many contacts a segment reaches now."""
    where, params = segment_where(segment, tz)
    return int(await db.fetchval(f"SELECT COUNT(*) FROM contacts AS c WHERE {where}", params) or 0)


async def segment_sample(db: Store, segment: SegmentFilters, tz: ZoneInfo, sample: int) -> list[str]:
    """The names of the first few contacts of a segment (their first registered person's, or the name the
    chat shows, or "-")."""
    if sample <= 0:
        return []
    where, params = segment_where(segment, tz)
    rows = await db.fetchall(
        f"SELECT COALESCE({_NAME_OF.format(contact='c.id')}, c.display_name, '-') "
        f"FROM contacts AS c WHERE {where} ORDER BY c.created_at, c.id LIMIT ?",
        (*params, sample),
    )
    return [str(row[0]) for row in rows]


def queue_for_segment(
    tx: Tx,
    *,
    segment: SegmentFilters,
    tz: ZoneInfo,
    origin: str,
    payloads: SegmentPayloads,
    key_prefix: str,
    at: datetime,
    not_before: datetime | None = None,
    broadcast_id: int | None = None,
) -> int:
    """One outbox row per reachable contact of the segment, in their language (voiced for contacts in voice
    mode), keyed `key_prefix + contact id`; returns how many were queued (rows already queued under the
    same key are left alone)."""
    where, params = segment_where(segment, tz)
    stamp = repo.iso(at)
    cursor = tx.execute(
        f"""
        INSERT INTO outbox (contact_id, origin, payload, status, broadcast_id, not_before,
            dedupe_key, created_at, updated_at)
        SELECT c.id, ?,
            CASE WHEN c.language = 'en' THEN (CASE WHEN c.voice = 1 THEN ? ELSE ? END)
                 ELSE (CASE WHEN c.voice = 1 THEN ? ELSE ? END) END,
            'queued', CAST(? AS INTEGER), ?, ? || c.id, ?, ?
        FROM contacts AS c WHERE {where}
        ON CONFLICT DO NOTHING
        """,
        (
            origin,
            payloads.en_voiced,
            payloads.en,
            payloads.id_voiced,
            payloads.id,
            broadcast_id,
            repo.iso(not_before),
            key_prefix,
            stamp,
            stamp,
            *params,
        ),
    )
    return cursor.rowcount


def queue_once(
    tx: Tx,
    *,
    contact_id: str,
    origin: str,
    payload: str,
    dedupe_key: str,
    at: datetime,
    case_id: int | None = None,
) -> bool:
    """Queue one outbox row under a unique key; False when a row with that key was already queued."""
    stamp = repo.iso(at)
    cursor = tx.execute(
        "INSERT INTO outbox (contact_id, origin, payload, status, case_id, dedupe_key, created_at, "
        "updated_at) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (contact_id, origin, payload, case_id, dedupe_key, stamp, stamp),
    )
    return cursor.rowcount == 1


@dataclass(frozen=True, slots=True)
class ContactReach:
    """A contact's language, whether messages reach them, and whether they asked for voice notes."""

    language: str
    reachable: bool
    voice: bool


def contact_reach(tx: Tx, contact_id: str) -> ContactReach | None:
    """How to reach one contact (None: no such contact)."""
    row = tx.execute(
        "SELECT language, CASE WHEN consent = 'granted' AND unreachable = 0 THEN 1 ELSE 0 END, voice "
        "FROM contacts WHERE id = ?",
        (contact_id,),
    ).fetchone()
    return None if row is None else ContactReach(str(row[0]), row[1] == 1, row[2] == 1)


# ---------------------------------------------------------------- broadcasts


@dataclass(frozen=True, slots=True)
class BroadcastRecord:
    """A broadcast as recorded (`segment`: the JSON of its segment's filters)."""

    id: int
    status: str  # scheduled | sending | done | cancelled
    segment: str
    text_id: str
    text_en: str | None
    template: str | None
    created_by: str
    created_at: datetime
    send_at: datetime
    recipients: int
    enqueued_at: datetime | None
    finished_at: datetime | None


_BROADCAST = (
    "SELECT id, status, segment, text_id, text_en, template, created_by, created_at, send_at, recipients, "
    "enqueued_at, finished_at FROM broadcasts"
)


def _broadcast(row: Row) -> BroadcastRecord:
    return BroadcastRecord(
        id=int(row["id"]),
        status=str(row["status"]),
        segment=str(row["segment"]),
        text_id=str(row["text_id"]),
        text_en=row["text_en"],
        template=row["template"],
        created_by=str(row["created_by"]),
        created_at=_at(row["created_at"]),
        send_at=_at(row["send_at"]),
        recipients=int(row["recipients"] or 0),
        enqueued_at=_when(row["enqueued_at"]),
        finished_at=_when(row["finished_at"]),
    )


def insert_broadcast(
    tx: Tx,
    *,
    segment: str,
    text_id: str,
    text_en: str | None,
    template: str | None,
    send_at: datetime,
    actor: str,
    at: datetime,
) -> int:
    """Record a scheduled broadcast (`segment`: its filters as JSON); returns its id."""
    return insert_id(
        tx,
        "INSERT INTO broadcasts (created_by, created_at, segment, text_id, text_en, template, send_at, "
        "status) VALUES (?, ?, ?, ?, ?, ?, ?, 'scheduled') RETURNING id",
        (actor, repo.iso(at), segment, text_id, text_en, template, repo.iso(send_at)),
    )


def broadcast_in(tx: Tx, broadcast_id: int) -> BroadcastRecord | None:
    """A broadcast, read inside a write transaction (to decide what to do with it)."""
    row = tx.execute(f"{_BROADCAST} WHERE id = ?", (broadcast_id,)).fetchone()
    return None if row is None else _broadcast(row)


def mark_broadcast_sending(tx: Tx, broadcast_id: int, *, recipients: int, at: datetime) -> None:
    """The broadcast's outbox rows are written: it is sending, to this many."""
    tx.execute(
        "UPDATE broadcasts SET status = 'sending', recipients = ?, enqueued_at = ? WHERE id = ?",
        (recipients, repo.iso(at), broadcast_id),
    )


def cancel_broadcast(tx: Tx, broadcast_id: int, *, actor: str, at: datetime) -> int:
    """Cancel a broadcast and its rows not yet sent; returns how many rows were cancelled."""
    stamp = repo.iso(at)
    cursor = tx.execute(
        "UPDATE outbox SET status = 'cancelled', updated_at = ? WHERE broadcast_id = ? AND status = 'queued'",
        (stamp, broadcast_id),
    )
    cancelled = cursor.rowcount
    tx.execute(
        "UPDATE broadcasts SET status = 'cancelled', finished_at = ?, cancelled_by = ? WHERE id = ?",
        (stamp, actor, broadcast_id),
    )
    return cancelled


def finish_broadcasts(tx: Tx, at: datetime) -> list[int]:
    """Mark sending broadcasts done once none of their rows wait to be sent; returns their ids."""
    done = [
        int(row[0])
        for row in tx.execute(
            "SELECT b.id FROM broadcasts AS b WHERE b.status = 'sending' AND NOT EXISTS ("
            "SELECT 1 FROM outbox AS o WHERE o.broadcast_id = b.id AND o.status IN ('queued', 'sending')) "
            "ORDER BY b.id"
        )
    ]
    if done:
        tx.executemany(
            "UPDATE broadcasts SET status = 'done', finished_at = ? WHERE id = ?",
            [(repo.iso(at), broadcast_id) for broadcast_id in done],
        )
    return done


async def get_broadcast(db: Store, broadcast_id: int) -> BroadcastRecord | None:
    """One broadcast (None: no such broadcast)."""
    row = await db.fetchone(f"{_BROADCAST} WHERE id = ?", (broadcast_id,))
    return None if row is None else _broadcast(row)


async def broadcast_counts(db: Store, broadcast_id: int) -> dict[str, int]:
    """How many of a broadcast's outbox rows are in each state."""
    rows = await db.fetchall(
        "SELECT status, COUNT(*) FROM outbox WHERE broadcast_id = ? GROUP BY status", (broadcast_id,)
    )
    return {str(row[0]): int(row[1]) for row in rows}


async def recent_broadcasts(db: Store, limit: int) -> list[int]:
    """The ids of the newest broadcasts, newest first."""
    rows = await db.fetchall("SELECT id FROM broadcasts ORDER BY id DESC LIMIT ?", (limit,))
    return [int(row[0]) for row in rows]


async def due_broadcasts(db: Store, at: datetime) -> list[int]:
    """Scheduled broadcasts whose time has come, soonest first."""
    rows = await db.fetchall(
        "SELECT id FROM broadcasts WHERE status = 'scheduled' AND send_at <= ? ORDER BY send_at, id",
        (repo.iso(at),),
    )
    return [int(row[0]) for row in rows]


@dataclass(frozen=True, slots=True)
class Undelivered:
    """One outbox row of a broadcast that did not reach its contact (failed, held, blocked, unknown)."""

    contact_id: str
    status: str
    error: str | None


async def broadcast_failures(db: Store, broadcast_id: int, limit: int = 50) -> list[Undelivered]:
    """A broadcast's rows that did not reach their contact, oldest first."""
    rows = await db.fetchall(
        "SELECT contact_id, status, error FROM outbox WHERE broadcast_id = ? "
        "AND status IN ('failed', 'held', 'blocked', 'unknown') ORDER BY id LIMIT ?",
        (broadcast_id, limit),
    )
    return [Undelivered(str(row[0]), str(row[1]), row[2]) for row in rows]


# ---------------------------------------------------------------- reminders


@dataclass(frozen=True, slots=True)
class ReminderRecord:
    """A reminder: to a segment (`segment`, `recurring` with `cron`) or about an appointment or programme."""

    id: int
    kind: str
    status: str
    due_at: datetime
    segment: str | None = None
    text_id: str | None = None
    text_en: str | None = None
    cron: str | None = None
    case_id: int | None = None
    appointment_id: int | None = None
    programme_id: int | None = None
    created_by: str = ""


_REMINDER = (
    "SELECT id, kind, status, due_at, segment, text_id, text_en, cron, case_id, appointment_id, "
    "programme_id, created_by FROM reminders"
)
STAFF_KINDS = "kind IN ('segment', 'recurring')"


def _reminder(row: Row) -> ReminderRecord:
    return ReminderRecord(
        id=int(row["id"]),
        kind=str(row["kind"]),
        status=str(row["status"]),
        due_at=_at(row["due_at"]),
        segment=row["segment"],
        text_id=row["text_id"],
        text_en=row["text_en"],
        cron=row["cron"],
        case_id=row["case_id"],
        appointment_id=row["appointment_id"],
        programme_id=row["programme_id"],
        created_by=str(row["created_by"]),
    )


def insert_reminder(
    tx: Tx,
    *,
    kind: str,
    due_at: datetime,
    actor: str,
    at: datetime,
    segment: str | None = None,
    text_id: str | None = None,
    text_en: str | None = None,
    cron: str | None = None,
    case_id: int | None = None,
    appointment_id: int | None = None,
    programme_id: int | None = None,
) -> int:
    """Record an active reminder; returns its id."""
    return insert_id(
        tx,
        "INSERT INTO reminders (kind, segment, text_id, text_en, cron, due_at, case_id, appointment_id, "
        "programme_id, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            kind,
            segment,
            text_id,
            text_en,
            cron,
            repo.iso(due_at),
            case_id,
            appointment_id,
            programme_id,
            actor,
            repo.iso(at),
        ),
    )


def cancel_staff_reminder(tx: Tx, reminder_id: int) -> bool:
    """Stop an active reminder to a segment; False when there is no such active reminder."""
    cursor = tx.execute(
        f"UPDATE reminders SET status = 'cancelled' WHERE id = ? AND status = 'active' AND {STAFF_KINDS}",
        (reminder_id,),
    )
    return cursor.rowcount > 0


def reminder_in(tx: Tx, reminder_id: int) -> ReminderRecord | None:
    """A reminder, read inside a write transaction."""
    row = tx.execute(f"{_REMINDER} WHERE id = ?", (reminder_id,)).fetchone()
    return None if row is None else _reminder(row)


def run_key(reminder_id: int, due_at: datetime) -> str:
    """The prefix of the outbox keys of one run of a reminder (one row per contact and due time)."""
    return f"r:{reminder_id}:{repo.iso(due_at)}:"


def run_recorded(tx: Tx, reminder_id: int, due_at: datetime) -> bool:
    """Whether the reminder's run for this due time is already recorded."""
    row = tx.execute(
        "SELECT 1 FROM reminder_runs WHERE reminder_id = ? AND due_at = ?", (reminder_id, repo.iso(due_at))
    ).fetchone()
    return row is not None


def record_run(
    tx: Tx,
    reminder_id: int,
    *,
    due_at: datetime,
    outcome: str,
    detail: str | None,
    recipients: int,
    at: datetime,
    next_due: datetime | None,
) -> None:
    """Record what one due reminder did, and move it to `next_due` (None: it is done)."""
    tx.execute(
        "INSERT INTO reminder_runs (reminder_id, due_at, outcome, detail, recipients, at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (reminder_id, repo.iso(due_at), outcome, detail, recipients, repo.iso(at)),
    )
    if next_due is not None:
        tx.execute(
            "UPDATE reminders SET due_at = ?, last_run_at = ? WHERE id = ?",
            (repo.iso(next_due), repo.iso(at), reminder_id),
        )
    else:
        tx.execute(
            "UPDATE reminders SET status = 'done', last_run_at = ? WHERE id = ?", (repo.iso(at), reminder_id)
        )


async def due_reminders(db: Store, at: datetime, limit: int = 200) -> list[int]:
    """Active reminders whose time has come, oldest first."""
    rows = await db.fetchall(
        "SELECT id FROM reminders WHERE status = 'active' AND due_at <= ? ORDER BY due_at, id LIMIT ?",
        (repo.iso(at), limit),
    )
    return [int(row[0]) for row in rows]


async def get_reminder(db: Store, reminder_id: int) -> ReminderRecord | None:
    """One reminder (None: no such reminder)."""
    row = await db.fetchone(f"{_REMINDER} WHERE id = ?", (reminder_id,))
    return None if row is None else _reminder(row)


async def active_reminders(db: Store, *, staff_only: bool, limit: int = 200) -> list[ReminderRecord]:
    """Active reminders, soonest first: all of them, or only those to segments (`staff_only`)."""
    kinds = f" AND {STAFF_KINDS}" if staff_only else ""
    rows = await db.fetchall(
        f"{_REMINDER} WHERE status = 'active'{kinds} ORDER BY due_at, id LIMIT ?",
        (limit,),
    )
    return [_reminder(row) for row in rows]


async def active_staff_reminder(db: Store, reminder_id: int) -> ReminderRecord | None:
    """An active reminder to a segment (None: none with that id)."""
    row = await db.fetchone(
        f"{_REMINDER} WHERE id = ? AND status = 'active' AND {STAFF_KINDS}", (reminder_id,)
    )
    return None if row is None else _reminder(row)


@dataclass(frozen=True, slots=True)
class ReminderRun:
    """What one due reminder did (`outcome`: sent | skipped_stale | skipped_irrelevant)."""

    reminder_id: int
    due_at: datetime
    outcome: str
    detail: str | None
    recipients: int
    at: datetime
    kind: str
    text_id: str | None


async def recent_runs(db: Store, limit: int = 30) -> list[ReminderRun]:
    """What the latest due reminders did, newest first."""
    rows = await db.fetchall(
        "SELECT r.reminder_id, r.due_at, r.outcome, r.detail, r.recipients, r.at, m.kind, m.text_id "
        "FROM reminder_runs AS r JOIN reminders AS m ON m.id = r.reminder_id "
        "ORDER BY r.at DESC, r.reminder_id DESC LIMIT ?",
        (limit,),
    )
    return [
        ReminderRun(
            reminder_id=int(row[0]),
            due_at=_at(row[1]),
            outcome=str(row[2]),
            detail=row[3],
            recipients=int(row[4]),
            at=_at(row[5]),
            kind=str(row[6]),
            text_id=row[7],
        )
        for row in rows
    ]


# ---------------------------------------------------------------- appointments


@dataclass(frozen=True, slots=True)
class CaseRef:
    """A case, as an appointment needs it."""

    id: int
    contact_id: str
    reference: str


def case_by_reference(tx: Tx, reference: str) -> CaseRef | None:
    """The case with this reference (None: no such case)."""
    row = tx.execute(
        "SELECT id, contact_id, reference FROM cases WHERE reference = ?", (reference,)
    ).fetchone()
    return None if row is None else CaseRef(int(row[0]), str(row[1]), str(row[2]))


def insert_appointment(
    tx: Tx, *, case_id: int, starts_at: datetime, place: str, note: str | None, actor: str, at: datetime
) -> int:
    """Record a scheduled appointment on a case; returns its id."""
    return insert_id(
        tx,
        "INSERT INTO appointments (case_id, starts_at, place, note, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (case_id, repo.iso(starts_at), place, note, actor, repo.iso(at)),
    )


@dataclass(frozen=True, slots=True)
class Appointment:
    """An appointment with its case's contact and reference (`status`: scheduled, or what it became)."""

    starts_at: datetime
    place: str
    status: str
    contact_id: str
    reference: str
    note: str | None = None
    subject_name: str | None = None


def appointment_in(tx: Tx, appointment_id: int) -> Appointment | None:
    """An appointment, read inside a write transaction."""
    row = tx.execute(
        "SELECT a.starts_at, a.place, a.status, c.contact_id, c.reference, a.note, c.subject_name "
        "FROM appointments AS a JOIN cases AS c ON c.id = a.case_id WHERE a.id = ?",
        (appointment_id,),
    ).fetchone()
    return None if row is None else _appointment(row)


def _appointment(row: Row) -> Appointment:
    return Appointment(
        starts_at=_at(row[0]),
        place=str(row[1]),
        status=str(row[2]),
        contact_id=str(row[3]),
        reference=str(row[4]),
        note=row[5],
        subject_name=row[6],
    )


async def upcoming_appointments(db: Store, after: datetime, limit: int = 200) -> list[Appointment]:
    """Appointments starting at or after `after`, soonest first."""
    rows = await db.fetchall(
        "SELECT a.starts_at, a.place, a.status, c.contact_id, c.reference, a.note, c.subject_name "
        "FROM appointments AS a JOIN cases AS c ON c.id = a.case_id WHERE a.starts_at >= ? "
        "ORDER BY a.starts_at, a.id LIMIT ?",
        (repo.iso(after), limit),
    )
    return [_appointment(row) for row in rows]


# ---------------------------------------------------------------- nudges


@dataclass(frozen=True, slots=True)
class UnfinishedRegistration:
    """A registration left half-way: whose, since when, in which language."""

    contact_id: str
    started_at: datetime
    language: str
    dedupe_key: str  # one nudge per registration started


def unfinished_registrations(
    tx: Tx, *, idle_since: datetime, inbound_since: datetime
) -> list[UnfinishedRegistration]:
    """Registrations untouched since `idle_since`, of contacts who may receive a message (on WhatsApp only
    while the contact wrote since `inbound_since`: its free-form window)."""
    rows = tx.execute(
        """SELECT v.contact_id, v.started_at, c.language FROM conversations AS v
           JOIN contacts AS c ON c.id = v.contact_id
           WHERE v.flow = 'registration' AND v.updated_at <= ? AND c.consent = 'granted'
             AND c.opted_out = 0 AND c.unreachable = 0
             AND (c.channel != 'whatsapp' OR c.last_inbound_at >= ?)
           ORDER BY v.contact_id""",
        (repo.iso(idle_since), repo.iso(inbound_since)),
    ).fetchall()
    return [
        UnfinishedRegistration(str(row[0]), _at(row[1]), str(row[2]), f"nudge:registration:{row[0]}:{row[1]}")
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class WaitingForInfo:
    """A case waiting for the citizen's answer to staff's question ("perlu info")."""

    case_id: int
    reference: str
    contact_id: str
    updated_at: datetime
    question: str | None
    language: str
    dedupe_key: str  # one nudge per question asked


def cases_waiting_for_info(tx: Tx, *, unchanged_since: datetime) -> list[WaitingForInfo]:
    """Cases asking the citizen for information, unchanged since then, of contacts still reachable."""
    rows = tx.execute(
        """SELECT k.id, k.reference, k.contact_id, k.updated_at, k.info_question, c.language FROM cases AS k
           JOIN contacts AS c ON c.id = k.contact_id
           WHERE k.status = 'perlu_info' AND k.updated_at <= ? AND c.consent = 'granted'
             AND c.unreachable = 0
           ORDER BY k.id""",
        (repo.iso(unchanged_since),),
    ).fetchall()
    return [
        WaitingForInfo(
            int(row[0]),
            str(row[1]),
            str(row[2]),
            _at(row[3]),
            row[4],
            str(row[5]),
            f"nudge:info:{row[0]}:{row[3]}",
        )
        for row in rows
    ]


# ---------------------------------------------------------------- training programmes


@dataclass(frozen=True, slots=True)
class ProgrammeRecord:
    """A training programme (`status`: open, or closed)."""

    id: int
    name: str
    skill: str
    place: str
    starts_at: datetime
    ends_at: datetime
    quota: int
    status: str
    created_by: str
    created_at: datetime
    # Places taken and waiting (filled by listings; 0 elsewhere).
    confirmed: int = 0
    waiting: int = 0


_PROGRAMME = "id, name, skill, place, starts_at, ends_at, quota, status, created_by, created_at"


def _programme(row: Row, *, counted: bool = False) -> ProgrammeRecord:
    return ProgrammeRecord(
        id=int(row["id"]),
        name=str(row["name"]),
        skill=str(row["skill"]),
        place=str(row["place"]),
        starts_at=_at(row["starts_at"]),
        ends_at=_at(row["ends_at"]),
        quota=int(row["quota"]),
        status=str(row["status"]),
        created_by=str(row["created_by"]),
        created_at=_at(row["created_at"]),
        confirmed=int(row["confirmed"]) if counted else 0,
        waiting=int(row["waiting"]) if counted else 0,
    )


def insert_programme(
    tx: Tx,
    *,
    name: str,
    skill: str,
    place: str,
    starts_at: datetime,
    ends_at: datetime,
    quota: int,
    actor: str,
    at: datetime,
) -> int:
    """Record an open programme; returns its id."""
    return insert_id(
        tx,
        "INSERT INTO programmes (name, skill, place, starts_at, ends_at, quota, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (name, skill, place, repo.iso(starts_at), repo.iso(ends_at), quota, actor, repo.iso(at)),
    )


def programme_in(tx: Tx, programme_id: int) -> ProgrammeRecord | None:
    """A programme, read inside a write transaction."""
    row = tx.execute(f"SELECT {_PROGRAMME} FROM programmes WHERE id = ?", (programme_id,)).fetchone()
    return None if row is None else _programme(row)


async def get_programme(db: Store, programme_id: int) -> ProgrammeRecord | None:
    """One programme (None: no such programme)."""
    row = await db.fetchone(f"SELECT {_PROGRAMME} FROM programmes WHERE id = ?", (programme_id,))
    return None if row is None else _programme(row)


async def programmes(db: Store, limit: int | None = 200) -> list[ProgrammeRecord]:
    """Programmes, latest start first, with their places taken and their waiting lists' lengths (the
    latest `limit`, or all of them)."""
    rows = await db.fetchall(
        f"SELECT {', '.join('p.' + c.strip() for c in _PROGRAMME.split(','))}, "
        "(SELECT COUNT(*) FROM rsvps AS r WHERE r.programme_id = p.id AND r.status = 'confirmed') "
        "AS confirmed, "
        "(SELECT COUNT(*) FROM rsvps AS r WHERE r.programme_id = p.id AND r.status = 'waiting') AS waiting "
        "FROM programmes AS p ORDER BY p.starts_at DESC, p.id DESC" + ("" if limit is None else " LIMIT ?"),
        () if limit is None else (limit,),
    )
    return [_programme(row, counted=True) for row in rows]


def invite_segment(tx: Tx, programme_id: int, *, segment: SegmentFilters, tz: ZoneInfo, at: datetime) -> int:
    """An `invited` RSVP for each contact of the segment not yet invited; returns how many are new."""
    where, params = segment_where(segment, tz)
    cursor = tx.execute(
        f"INSERT INTO rsvps (programme_id, contact_id, status, invited_at) "
        f"SELECT CAST(? AS INTEGER), c.id, 'invited', ? FROM contacts AS c WHERE {where} "
        f"ON CONFLICT (programme_id, contact_id) DO NOTHING",
        (programme_id, repo.iso(at), *params),
    )
    return cursor.rowcount


@dataclass(frozen=True, slots=True)
class Rsvp:
    """A contact's answer to an invitation (`status`: invited, confirmed, waiting, declined)."""

    status: str
    answer_order: int | None


def rsvp_in(tx: Tx, programme_id: int, contact_id: str) -> Rsvp | None:
    """A contact's RSVP to a programme (None: not invited and never answered)."""
    row = tx.execute(
        "SELECT status, answer_order FROM rsvps WHERE programme_id = ? AND contact_id = ?",
        (programme_id, contact_id),
    ).fetchone()
    return None if row is None else Rsvp(str(row[0]), row[1])


def confirmed_count(tx: Tx, programme_id: int) -> int:
    """How many places of a programme are taken."""
    row = tx.execute(
        "SELECT COUNT(*) FROM rsvps WHERE programme_id = ? AND status = 'confirmed'", (programme_id,)
    ).fetchone()
    return int(row[0])


def answer_yes(tx: Tx, programme_id: int, contact_id: str, *, status: str, at: datetime) -> None:
    """Record a "Ya" as `status` (confirmed or waiting), after every answer so far."""
    stamp = repo.iso(at)
    order = tx.execute(
        "SELECT COALESCE(MAX(answer_order), 0) + 1 FROM rsvps WHERE programme_id = ?", (programme_id,)
    ).fetchone()[0]
    tx.execute(
        "INSERT INTO rsvps (programme_id, contact_id, status, invited_at, answered_at, answer_order) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (programme_id, contact_id) DO UPDATE SET "
        "status = excluded.status, answered_at = excluded.answered_at, answer_order = excluded.answer_order",
        (programme_id, contact_id, status, stamp, stamp, int(order)),
    )


def answer_no(tx: Tx, programme_id: int, contact_id: str, *, at: datetime) -> None:
    """Record a "Tidak"."""
    stamp = repo.iso(at)
    tx.execute(
        "INSERT INTO rsvps (programme_id, contact_id, status, invited_at, answered_at) "
        "VALUES (?, ?, 'declined', ?, ?) ON CONFLICT (programme_id, contact_id) "
        "DO UPDATE SET status = 'declined', answered_at = excluded.answered_at",
        (programme_id, contact_id, stamp, stamp),
    )


def waiting_ahead(tx: Tx, programme_id: int, answer_order: int) -> int:
    """How many wait for a place ahead of the answer with this order."""
    row = tx.execute(
        "SELECT COUNT(*) FROM rsvps WHERE programme_id = ? AND status = 'waiting' AND answer_order < ?",
        (programme_id, answer_order),
    ).fetchone()
    return int(row[0])


@dataclass(frozen=True, slots=True)
class Invitee:
    """A contact with a place (or waiting for one) and their language."""

    contact_id: str
    language: str


def promote_first_waiting(tx: Tx, programme_id: int) -> Invitee | None:
    """Give the first on the waiting list a place; returns them (None: nobody waits)."""
    row = tx.execute(
        "SELECT r.contact_id, c.language FROM rsvps AS r JOIN contacts AS c ON c.id = r.contact_id "
        "WHERE r.programme_id = ? AND r.status = 'waiting' ORDER BY r.answer_order, r.id LIMIT 1",
        (programme_id,),
    ).fetchone()
    if row is None:
        return None
    tx.execute(
        "UPDATE rsvps SET status = 'confirmed' WHERE programme_id = ? AND contact_id = ?",
        (programme_id, row[0]),
    )
    return Invitee(str(row[0]), str(row[1]))


def confirmed_reachable(tx: Tx, programme_id: int) -> list[Invitee]:
    """The contacts with a place who can still be reached."""
    rows = tx.execute(
        "SELECT r.contact_id, c.language FROM rsvps AS r JOIN contacts AS c ON c.id = r.contact_id "
        "WHERE r.programme_id = ? AND r.status = 'confirmed' AND c.unreachable = 0 AND c.consent = 'granted' "
        "ORDER BY r.answer_order, r.id",
        (programme_id,),
    ).fetchall()
    return [Invitee(str(row[0]), str(row[1])) for row in rows]


@dataclass(frozen=True, slots=True)
class Attendee:
    """One RSVP of a programme, with the contact's first registered person's name and phone."""

    contact_id: str
    status: str
    name: str
    phone: str | None
    answered_at: datetime | None
    answer_order: int | None


async def attendees(db: Store, programme_id: int) -> list[Attendee]:
    """RSVPs of a programme: confirmed first, then the waiting list in order, then the rest."""
    rows = await db.fetchall(
        f"""SELECT r.contact_id, r.status, COALESCE({_NAME_OF.format(contact="r.contact_id")}, '-'),
                   {_PHONE_OF.format(contact="r.contact_id")}, r.answered_at, r.answer_order
            FROM rsvps AS r WHERE r.programme_id = ?
            ORDER BY CASE r.status WHEN 'confirmed' THEN 0 WHEN 'waiting' THEN 1 ELSE 2 END,
                     COALESCE(r.answer_order, 0), r.id""",
        (programme_id,),
    )
    return [Attendee(str(row[0]), str(row[1]), str(row[2]), row[3], _when(row[4]), row[5]) for row in rows]


async def open_invitation(db: Store, contact_id: str) -> int | None:
    """The programme of the contact's newest invitation not yet answered (None: none open)."""
    found = await db.fetchval(
        "SELECT programme_id FROM rsvps WHERE contact_id = ? AND status = 'invited' "
        "ORDER BY invited_at DESC, id DESC LIMIT 1",
        (contact_id,),
    )
    return None if found is None else int(found)


# ---------------------------------------------------------------- staff drafts (kept in the channel state)


def save_draft(tx: Tx, name: str, value: str) -> None:
    """Keep a staff member's draft (its JSON) under its name."""
    channel_state.save(tx, {name: value})


def drop_draft(tx: Tx, name: str) -> None:
    """Forget a draft."""
    channel_state.drop(tx, name)


async def load_draft(db: Store, name: str) -> str | None:
    """A draft's JSON (None: none kept under that name)."""
    return await channel_state.value(db, name)


async def draft_asking(db: Store, prefix: str, prompt: int) -> str | None:
    """The JSON of the draft (named `prefix...`) whose open question is the message `prompt`."""
    for value in await channel_state.values_under(db, prefix):
        if _prompt_of(value) == prompt:
            return value
    return None


def _prompt_of(value: str) -> Any:
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    return decoded.get("prompt") if isinstance(decoded, dict) else None
