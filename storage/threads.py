"""A case's thread: the citizen's messages and staff's, in order, with each outbound line's delivery state.

Inbound lines are written with the conversation step that received them (so nothing a citizen sends is
lost if the step fails later, and a redelivery writes nothing twice). Outbound lines point at their
outbox row, whose status the senders keep current: the thread shows it, never a copy of it.
"""

import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from storage.contract import Store, Tx
from storage.repo import iso

Direction = Literal["in", "out"]
# What a thread line is: a citizen's text/file/place, their answer to a staff question, or an outbound
# staff question, free-text reply, or status message.
INBOUND_KINDS = ("text", "photo", "voice", "audio", "document", "video", "sticker", "location", "answer")
OUTBOUND_KINDS = ("question", "reply", "status")


@dataclass(frozen=True, slots=True)
class ThreadLine:
    """One line of a case's thread as staff see it."""

    id: int
    at: datetime
    direction: Direction
    kind: str
    body: str | None
    media_ref: str | None
    author: str
    unread: bool
    status: str | None  # the outbox row's status for outbound lines
    error: str | None
    question: str | None  # the staff question an answer belongs to

    @property
    def held(self) -> bool:
        """Kept back (WhatsApp's 24-hour window had closed and no template could carry it)."""
        return self.status == "held"


@dataclass(frozen=True, slots=True)
class OpenQuestion:
    """A staff question still waiting for the citizen's answer."""

    id: int
    case_id: int
    reference: str
    question: str
    asked_at: datetime
    external_id: str | None


# ---------------------------------------------------------------- writes


def add_inbound(
    conn: Tx,
    *,
    case_id: int,
    contact_id: str,
    kind: str,
    body: str | None,
    media_ref: str | None,
    at: datetime,
    question_id: int | None = None,
) -> int:
    """Add a citizen's message to a case's thread, unread for staff; return its id."""
    cursor = conn.execute(
        "INSERT INTO case_messages (case_id, at, direction, kind, body, media_ref, author, question_id, "
        "unread) VALUES (?, ?, 'in', ?, ?, ?, ?, ?, 1) RETURNING id",
        (case_id, iso(at), kind, body, media_ref, f"contact:{contact_id}", question_id),
    )
    conn.execute(
        "UPDATE cases SET unread = unread + 1, waiting_since = COALESCE(waiting_since, ?) WHERE id = ?",
        (iso(at), case_id),
    )
    conn.execute("UPDATE contacts SET thread_case_id = ? WHERE id = ?", (case_id, contact_id))
    return int(cursor.fetchone()[0])


def add_outbound(
    conn: Tx,
    *,
    case_id: int,
    kind: str,
    body: str,
    author: str,
    outbox_id: int | None,
    at: datetime,
) -> int:
    """Say what an outbound thread line is: a staff question, reply or status message (queued as `outbox_id`).

    Queuing an outbox row about a case already wrote its line (the `outbox_case_thread` trigger of
    migration 0009, so appointments, reminders and nudges are in the thread too); this names its kind,
    keeps the officer's own words and who wrote them. Without an outbox row the line is added here.
    """
    if outbox_id is not None:
        row = conn.execute(
            "UPDATE case_messages SET kind = ?, body = ?, author = ? WHERE outbox_id = ? RETURNING id",
            (kind, body, author, outbox_id),
        ).fetchone()
        if row is not None:
            return int(row[0])
    cursor = conn.execute(
        "INSERT INTO case_messages (case_id, at, direction, kind, body, author, outbox_id) "
        "VALUES (?, ?, 'out', ?, ?, ?, ?) RETURNING id",
        (case_id, iso(at), kind, body, author, outbox_id),
    )
    conn.execute(
        "UPDATE contacts SET thread_case_id = ? WHERE id = (SELECT contact_id FROM cases WHERE id = ?)",
        (case_id, case_id),
    )
    return int(cursor.fetchone()[0])


def mark_read(conn: Tx, case_id: int) -> bool:
    """Staff have seen the case's new messages; False when there were none."""
    cursor = conn.execute(
        "UPDATE cases SET unread = 0, waiting_since = NULL WHERE id = ? AND unread > 0", (case_id,)
    )
    if cursor.rowcount:
        conn.execute("UPDATE case_messages SET unread = 0 WHERE case_id = ? AND unread = 1", (case_id,))
    return bool(cursor.rowcount)


def add_question(
    conn: Tx,
    *,
    case_id: int,
    contact_id: str,
    question: str,
    outbox_id: int | None,
    asked_by: str,
    at: datetime,
) -> int:
    """Record a staff question that waits for the citizen's answer."""
    cursor = conn.execute(
        "INSERT INTO staff_questions (case_id, contact_id, question, outbox_id, asked_by, asked_at) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (case_id, contact_id, question, outbox_id, asked_by, iso(at)),
    )
    return int(cursor.fetchone()[0])


def close_questions(conn: Tx, case_id: int, at: datetime) -> None:
    """The case moved on without an answer: its questions no longer wait."""
    conn.execute(
        "UPDATE staff_questions SET answered_at = ? WHERE case_id = ? AND answered_at IS NULL",
        (iso(at), case_id),
    )
    reset_awaiting(conn, case_id=case_id)


def reset_awaiting(conn: Tx, *, case_id: int) -> None:
    """Point the contact's "awaiting" mark at a question that still waits (NULL when none does)."""
    conn.execute(
        "UPDATE contacts SET awaiting_case_id = (SELECT q.case_id FROM staff_questions AS q "
        "WHERE q.contact_id = contacts.id AND q.answered_at IS NULL ORDER BY q.id DESC LIMIT 1) "
        "WHERE id = (SELECT contact_id FROM cases WHERE id = ?)",
        (case_id,),
    )


def answer_question(conn: Tx, question_id: int, at: datetime) -> int | None:
    """Mark a question answered; return its case id (None when it was answered already)."""
    row = conn.execute(
        "UPDATE staff_questions SET answered_at = ? WHERE id = ? AND answered_at IS NULL RETURNING case_id",
        (iso(at), question_id),
    ).fetchone()
    if row is None:
        return None
    reset_awaiting(conn, case_id=int(row[0]))
    return int(row[0])


def move_line(conn: Tx, line_id: int, case_id: int, question_id: int | None) -> None:
    """Put a thread line in another case's thread (the citizen said which question it answers)."""
    row = conn.execute("SELECT case_id, unread FROM case_messages WHERE id = ?", (line_id,)).fetchone()
    if row is None or (row[0] == case_id and question_id is None):
        return
    conn.execute(
        "UPDATE case_messages SET case_id = ?, question_id = ? WHERE id = ?", (case_id, question_id, line_id)
    )
    if row[0] != case_id and row[1]:
        at = conn.execute("SELECT at FROM case_messages WHERE id = ?", (line_id,)).fetchone()[0]
        conn.execute(
            "UPDATE cases SET unread = CASE WHEN unread > 1 THEN unread - 1 ELSE 0 END, "
            "waiting_since = CASE WHEN unread <= 1 THEN NULL "
            "ELSE waiting_since END WHERE id = ?",
            (row[0],),
        )
        conn.execute(
            "UPDATE cases SET unread = unread + 1, waiting_since = COALESCE(waiting_since, ?) WHERE id = ?",
            (at, case_id),
        )


# ---------------------------------------------------------------- reads


async def thread(db: Store, case_id: int, *, limit: int = 500) -> list[ThreadLine]:
    """A case's thread in the order lines were written (the newest `limit` lines)."""
    rows = await db.fetchall(
        "SELECT * FROM (SELECT m.id, m.at, m.direction, m.kind, m.body, m.media_ref, m.author, m.unread, "
        "o.status, o.error, q.question FROM case_messages AS m "
        "LEFT JOIN outbox AS o ON o.id = m.outbox_id "
        "LEFT JOIN staff_questions AS q ON q.id = m.question_id "
        "WHERE m.case_id = ? ORDER BY m.id DESC LIMIT ?) AS newest ORDER BY id",
        (case_id, limit),
    )
    return [
        ThreadLine(
            id=row["id"],
            at=datetime.fromisoformat(row["at"]),
            direction=row["direction"],
            kind=row["kind"],
            body=row["body"],
            media_ref=row["media_ref"],
            author=row["author"],
            unread=bool(row["unread"]),
            status=row["status"],
            error=row["error"],
            question=row["question"],
        )
        for row in rows
    ]


async def thread_stamp(db: Store, case_id: int) -> str:
    """Changes whenever the thread gains a line or an outbound line changes state."""
    states = "o.status || COALESCE(o.error, '')"
    joined = (
        f"group_concat({states}, ',')"
        if db.dialect == "sqlite"
        else f"string_agg({states}, ',' ORDER BY m.id)"
    )
    row = await db.fetchone(
        f"SELECT COUNT(*), MAX(m.id), {joined} "
        "FROM case_messages AS m LEFT JOIN outbox AS o ON o.id = m.outbox_id WHERE m.case_id = ?",
        (case_id,),
    )
    assert row is not None
    return f"{row[0]}.{row[1]}.{zlib.crc32((row[2] or '').encode()):x}"


async def open_questions(db: Store, contact_id: str) -> list[OpenQuestion]:
    """Staff questions waiting for this contact's answer, oldest first, on cases that still wait."""
    rows = await db.fetchall(
        "SELECT q.id, q.case_id, c.reference, q.question, q.asked_at, o.external_id "
        "FROM staff_questions AS q JOIN cases AS c ON c.id = q.case_id "
        "LEFT JOIN outbox AS o ON o.id = q.outbox_id "
        "WHERE q.contact_id = ? AND q.answered_at IS NULL AND c.status = 'perlu_info' ORDER BY q.id",
        (contact_id,),
    )
    return [
        OpenQuestion(
            id=row[0],
            case_id=row[1],
            reference=row[2],
            question=row[3],
            asked_at=datetime.fromisoformat(row[4]),
            external_id=row[5],
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class Quoted:
    """What a message the citizen replied to (quoted) was about."""

    case_id: int | None
    question_id: int | None
    origin: str


async def quoted(db: Store, contact_id: str, external_id: str) -> Quoted | None:
    """The outbox row the citizen quoted, by the platform's message id (ids are per chat on Telegram)."""
    row = await db.fetchone(
        "SELECT o.id, o.case_id, o.origin, q.id AS question_id FROM outbox AS o "
        "LEFT JOIN staff_questions AS q ON q.outbox_id = o.id AND q.answered_at IS NULL "
        "WHERE o.external_id = ? AND o.contact_id = ? ORDER BY o.id DESC LIMIT 1",
        (external_id, contact_id),
    )
    if row is None:
        return None
    return Quoted(row["case_id"], row["question_id"], row["origin"])


async def latest_case(db: Store, contact_id: str) -> tuple[int, str] | None:
    """The case this contact was last told about or wrote about, while it is still open."""
    row = await db.fetchone(
        "SELECT c.id, c.reference FROM contacts AS k JOIN cases AS c ON c.id = k.thread_case_id "
        "WHERE k.id = ? AND c.status != 'selesai'",
        (contact_id,),
    )
    return None if row is None else (int(row[0]), str(row[1]))


async def last_written(db: Store, contact_id: str) -> datetime | None:
    """When this contact last wrote into the thread of the case they are talking about (None: never)."""
    value = await db.fetchval(
        "SELECT MAX(m.at) FROM contacts AS k JOIN case_messages AS m ON m.case_id = k.thread_case_id "
        "WHERE k.id = ? AND m.direction = 'in'",
        (contact_id,),
    )
    return None if value is None else datetime.fromisoformat(value)


async def case_reference(db: Store, case_id: int) -> str | None:
    """A case's reference by id."""
    value = await db.fetchval("SELECT reference FROM cases WHERE id = ?", (case_id,))
    return None if value is None else str(value)


def line_dict(line: ThreadLine) -> dict[str, Any]:
    """A thread line for JSON or a template."""
    return {
        "id": line.id,
        "at": line.at.isoformat(),
        "direction": line.direction,
        "kind": line.kind,
        "body": line.body,
        "media_ref": line.media_ref,
        "author": line.author,
        "unread": line.unread,
        "status": line.status,
        "error": line.error,
        "question": line.question,
    }
