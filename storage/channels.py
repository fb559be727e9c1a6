"""Channel state: raw webhook bodies kept until handled, handled inbound ids, a contact's second address,
WhatsApp's 24-hour windows and delivery statuses, Telegram's long button ids and keyboards, delivery
figures for the metrics.

Write functions take a `Tx` and run inside one write transaction; reads are coroutines on the `Store`.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from storage.contract import Store, Tx, insert_id
from storage.repo import iso

# ---------------------------------------------------------------- webhook inbox


def keep_bodies(tx: Tx, source: str, bodies: Iterable[bytes], at: datetime) -> list[int]:
    """Keep raw (sealed) webhook bodies of `source` until processed; return their ids, in order."""
    received = iso(at)
    return [
        insert_id(
            tx,
            "INSERT INTO webhook_inbox (source, body, received_at) VALUES (?, ?, ?) RETURNING id",
            (source, body, received),
        )
        for body in bodies
    ]


def forget_bodies(tx: Tx, inbox_ids: Iterable[int]) -> None:
    """Delete processed bodies (their events now live in the store)."""
    tx.executemany("DELETE FROM webhook_inbox WHERE id = ?", [(inbox_id,) for inbox_id in inbox_ids])


def fail_bodies(tx: Tx, failed: Iterable[tuple[int, str]], at: datetime) -> None:
    """Keep bodies whose processing failed, each with its reason (cut to 500 characters)."""
    when = iso(at)
    tx.executemany(
        "UPDATE webhook_inbox SET processed_at = ?, error = ? WHERE id = ?",
        [(when, error[:500], inbox_id) for inbox_id, error in failed],
    )


async def body(db: Store, inbox_id: int) -> bytes | None:
    """One kept body not yet processed (None when it is gone)."""
    found = await db.fetchval(
        "SELECT body FROM webhook_inbox WHERE id = ? AND processed_at IS NULL", (inbox_id,)
    )
    return None if found is None else bytes(found)


async def unprocessed(db: Store, source: str) -> list[tuple[int, bytes]]:
    """Bodies of `source` received but not yet processed (the process stopped first), oldest first."""
    rows = await db.fetchall(
        "SELECT id, body FROM webhook_inbox WHERE source = ? AND processed_at IS NULL ORDER BY id", (source,)
    )
    return [(int(row[0]), bytes(row[1])) for row in rows]


async def unprocessed_ids(db: Store, source: str) -> set[int]:
    """Ids of the bodies of `source` received but not yet processed (whichever process stored them)."""
    rows = await db.fetchall(
        "SELECT id FROM webhook_inbox WHERE source = ? AND processed_at IS NULL", (source,)
    )
    return {int(row[0]) for row in rows}


# ---------------------------------------------------------------- inbound ids, contacts' addresses


async def seen(db: Store, event_id: str) -> bool:
    """Whether the engine already handled this inbound event."""
    return await db.fetchval("SELECT 1 FROM inbound WHERE id = ?", (event_id,)) is not None


@dataclass(frozen=True, slots=True)
class KnownContact:
    """A stored contact found by one of its addresses."""

    id: str
    alt_id: str | None
    has_held: bool  # messages are held for it until its other address is known


async def contacts_by_address(db: Store, address: str, other: str) -> list[KnownContact]:
    """The contacts known by either address, as their id or their alternative id."""
    rows = await db.fetchall(
        "SELECT id, alt_id, CASE WHEN EXISTS(SELECT 1 FROM outbox AS o WHERE o.contact_id = c.id "
        "AND o.status = 'held') THEN 1 ELSE 0 END AS held FROM contacts AS c "
        "WHERE id IN (?, ?) OR alt_id IN (?, ?)",
        (address, other, address, other),
    )
    return [KnownContact(str(row["id"]), row["alt_id"], bool(row["held"])) for row in rows]


def link_address(tx: Tx, contact_id: str, other: str) -> None:
    """Record a contact's second address, unless it has one or another contact holds this one."""
    tx.execute(
        "UPDATE contacts SET alt_id = ? WHERE id = ? AND alt_id IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM contacts WHERE id = ? OR alt_id = ?)",
        (other, contact_id, other, other),
    )


def release_held(tx: Tx, contact_id: str, *, since: datetime, at: datetime) -> int:
    """Queue again the messages held for a contact since `since`; return how many."""
    cursor = tx.execute(
        "UPDATE outbox SET status = 'queued', error = NULL, updated_at = ? "
        "WHERE contact_id = ? AND status = 'held' AND created_at >= ?",
        (iso(at), contact_id, iso(since)),
    )
    return cursor.rowcount


# ---------------------------------------------------------------- WhatsApp's 24-hour window


@dataclass(frozen=True, slots=True)
class WindowState:
    """A contact's language, last message and when Meta last refused a free-form message."""

    language: str | None
    last_inbound_at: datetime | None
    closed_at: datetime | None


async def window_state(db: Store, contact_id: str) -> WindowState | None:
    """What decides a contact's 24-hour window (None for an unknown contact)."""
    row = await db.fetchone(
        "SELECT c.language, c.last_inbound_at, w.closed_at FROM contacts AS c "
        "LEFT JOIN whatsapp_windows AS w ON w.contact_id = c.id WHERE c.id = ?",
        (contact_id,),
    )
    if row is None:
        return None
    return WindowState(row[0], _when(row[1]), _when(row[2]))


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def close_window(tx: Tx, contact_id: str, at: datetime) -> None:
    """Note that Meta refused a free-form message to this contact at `at`."""
    tx.execute(
        "INSERT INTO whatsapp_windows (contact_id, closed_at) VALUES (?, ?) "
        "ON CONFLICT (contact_id) DO UPDATE SET closed_at = excluded.closed_at",
        (contact_id, iso(at)),
    )


# ---------------------------------------------------------------- delivery statuses


@dataclass(frozen=True, slots=True)
class SentMessage:
    """An outbox row as a platform's delivery status sees it."""

    id: int
    contact_id: str
    status: str
    error: str | None


def sent_message(tx: Tx, external_id: str) -> SentMessage | None:
    """The outbox row the platform knows by `external_id` (None when there is none)."""
    row = tx.execute(
        "SELECT id, contact_id, status, error FROM outbox WHERE external_id = ?", (external_id,)
    ).fetchone()
    return None if row is None else SentMessage(int(row[0]), str(row[1]), str(row[2]), row[3])


def set_delivery(tx: Tx, outbox_id: int, status: str, at: datetime) -> None:
    """Move a sent message to a later status (`delivered`, `read`)."""
    tx.execute("UPDATE outbox SET status = ?, updated_at = ? WHERE id = ?", (status, iso(at), outbox_id))


def set_delivery_error(tx: Tx, outbox_id: int, status: str, error: str, at: datetime) -> None:
    """Mark a message `failed`, or `queued` again, with the reason."""
    tx.execute(
        "UPDATE outbox SET status = ?, error = ?, updated_at = ? WHERE id = ?",
        (status, error, iso(at), outbox_id),
    )


# ---------------------------------------------------------------- Telegram: channel state, keyboards


async def outbox_id_of_sent(db: Store, contact_id: str, external_id: str) -> int | None:
    """The newest outbox row sent to a contact that the platform knows by `external_id`."""
    value = await db.fetchval(
        "SELECT id FROM outbox WHERE contact_id = ? AND external_id = ? ORDER BY id DESC LIMIT 1",
        (contact_id, external_id),
    )
    return None if value is None else int(value)


# How a stored reply payload with a question's choices reads (`Reply.to_json`).
_CHOICES_PATTERN = '%"choices": [%'


async def answered_or_asked_since(db: Store, contact_id: str, outbox_id: int) -> bool:
    """Whether a reply, or a message with choices, went out to a contact after outbox row `outbox_id`."""
    value = await db.fetchval(
        "SELECT 1 FROM outbox WHERE contact_id = ? AND id > ? AND status IN ('sent', 'unknown') "
        "AND (origin = 'reply' OR payload LIKE ?) LIMIT 1",
        (contact_id, outbox_id, _CHOICES_PATTERN),
    )
    return value is not None


# ---------------------------------------------------------------- delivery figures (metrics)


@dataclass(frozen=True, slots=True)
class QueuedFigures:
    """Queued outbound messages of one channel and when the oldest was queued."""

    queued: int
    oldest: datetime


def _channel_sql(dialect: str) -> str:
    # The address scheme of `contact_id` ("telegram:42" -> "telegram"; "" when there is none).
    position = "instr(contact_id, ':')" if dialect == "sqlite" else "strpos(contact_id, ':')"
    return f"CASE WHEN {position} > 0 THEN substr(contact_id, 1, {position} - 1) ELSE '' END"


async def outbound_counts(db: Store) -> dict[tuple[str, str], int]:
    """Outbox rows by channel and status (channel "" for an address without a scheme)."""
    channel = _channel_sql(db.dialect)
    rows = await db.fetchall(
        f"SELECT {channel} AS channel, status, count(*) AS n FROM outbox GROUP BY {channel}, status"
    )
    return {(str(row["channel"] or ""), str(row["status"])): int(row["n"]) for row in rows}


async def queued_by_channel(db: Store) -> dict[str, QueuedFigures]:
    """Queued outbox rows by channel, with the oldest one's time."""
    channel = _channel_sql(db.dialect)
    rows = await db.fetchall(
        f"SELECT {channel} AS channel, count(*) AS n, min(created_at) AS oldest "
        f"FROM outbox WHERE status = 'queued' GROUP BY {channel}"
    )
    return {
        str(row["channel"] or ""): QueuedFigures(int(row["n"]), datetime.fromisoformat(str(row["oldest"])))
        for row in rows
    }


async def broadcasts_sending(db: Store) -> int:
    """How many broadcasts are being sent."""
    return int(await db.fetchval("SELECT count(*) FROM broadcasts WHERE status = 'sending'") or 0)
