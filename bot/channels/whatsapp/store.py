"""The WhatsApp channel's reads and writes: webhook inbox, contact identities, windows, delivery statuses.

Write functions take a `sqlite3.Connection` and run inside the writer's transaction (`Database.write`).
"""

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.channels.whatsapp.payloads import StatusUpdate
from storage.db import Database
from storage.repo import iso

SOURCE = "whatsapp"
INBOX_PURPOSE = "webhook-inbox"  # sub-key for the sealed bodies kept until processed
WINDOW = timedelta(hours=24)
RESEND_NOTE = "131047 outside the 24-hour window; sending the template instead"


# ---------------------------------------------------------------- webhook inbox


def insert_inbox(conn: sqlite3.Connection, body: bytes, at: datetime) -> int:
    """Keep one (sealed) webhook body until it is processed; return its row id."""
    cursor = conn.execute(
        "INSERT INTO webhook_inbox (source, body, received_at) VALUES (?, ?, ?)", (SOURCE, body, iso(at))
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def finish_inbox(conn: sqlite3.Connection, inbox_id: int) -> None:
    """Forget a processed body (its events now live in the store)."""
    conn.execute("DELETE FROM webhook_inbox WHERE id = ?", (inbox_id,))


def fail_inbox(conn: sqlite3.Connection, inbox_id: int, error: str, at: datetime) -> None:
    """Keep a body whose processing failed, with the reason, for the operator."""
    conn.execute(
        "UPDATE webhook_inbox SET processed_at = ?, error = ? WHERE id = ?", (iso(at), error[:500], inbox_id)
    )


async def inbox_body(db: Database, inbox_id: int) -> bytes | None:
    """One stored (sealed) body not yet processed (None when it is gone)."""
    body = await db.fetchval(
        "SELECT body FROM webhook_inbox WHERE id = ? AND processed_at IS NULL", (inbox_id,)
    )
    return None if body is None else bytes(body)


async def pending_inbox(db: Database) -> list[tuple[int, bytes]]:
    """Bodies received but not yet processed (the process stopped first), oldest first."""
    rows = await db.fetchall(
        "SELECT id, body FROM webhook_inbox WHERE processed_at IS NULL AND source = ? ORDER BY id", (SOURCE,)
    )
    return [(int(row[0]), bytes(row[1])) for row in rows]


# ---------------------------------------------------------------- contacts


@dataclass(frozen=True, slots=True)
class KnownContact:
    """The stored contact a message belongs to, if any."""

    id: str
    alt_id: str | None
    has_held: bool


async def find_contact(db: Database, address: str, other: str | None) -> KnownContact | None:
    """The contact known by either address (as its id or its alternative id); the first address wins."""
    second = other or address
    rows = await db.fetchall(
        "SELECT id, alt_id, EXISTS(SELECT 1 FROM outbox AS o WHERE o.contact_id = c.id "
        "AND o.status = 'held') AS held FROM contacts AS c "
        "WHERE id IN (?, ?) OR alt_id IN (?, ?)",
        (address, second, address, second),
    )
    if not rows:
        return None
    row = next((r for r in rows if address in (r["id"], r["alt_id"])), rows[0])
    return KnownContact(row["id"], row["alt_id"], bool(row["held"]))


def link_contact(
    conn: sqlite3.Connection, contact_id: str, other: str | None, *, release_since: datetime, at: datetime
) -> int:
    """Record the contact's second address, and queue again messages held for it; return how many."""
    if other and other != contact_id:
        conn.execute(
            "UPDATE contacts SET alt_id = ? WHERE id = ? AND alt_id IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM contacts WHERE id = ? OR alt_id = ?)",
            (other, contact_id, other, other),
        )
    cursor = conn.execute(
        "UPDATE outbox SET status = 'queued', error = NULL, updated_at = ? "
        "WHERE contact_id = ? AND status = 'held' AND created_at >= ?",
        (iso(at), contact_id, iso(release_since)),
    )
    return cursor.rowcount


async def seen(db: Database, event_id: str) -> bool:
    """Whether the engine already handled this inbound event."""
    return await db.fetchval("SELECT 1 FROM inbound WHERE id = ?", (event_id,)) is not None


# ---------------------------------------------------------------- the 24-hour window


@dataclass(frozen=True, slots=True)
class Window:
    """What decides whether a free-form message may be sent to a contact."""

    language: str
    last_inbound_at: datetime | None
    closed_at: datetime | None

    def is_open(self, now: datetime) -> bool:
        """Within 24 h of the person's last message, unless Meta said otherwise since."""
        if self.last_inbound_at is None or now - self.last_inbound_at >= WINDOW:
            return False
        return self.closed_at is None or self.last_inbound_at > self.closed_at


async def window(db: Database, contact_id: str, default_language: str) -> Window:
    """The contact's language and window."""
    row = await db.fetchone(
        "SELECT c.language, c.last_inbound_at, w.closed_at FROM contacts AS c "
        "LEFT JOIN whatsapp_windows AS w ON w.contact_id = c.id WHERE c.id = ?",
        (contact_id,),
    )
    if row is None:
        return Window(default_language, None, None)
    return Window(row[0] or default_language, _when(row[1]), _when(row[2]))


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def close_window(conn: sqlite3.Connection, contact_id: str, at: datetime) -> None:
    """Meta refused a free-form message (131047): templates only until the person writes again."""
    conn.execute(
        "INSERT INTO whatsapp_windows (contact_id, closed_at) VALUES (?, ?) "
        "ON CONFLICT (contact_id) DO UPDATE SET closed_at = excluded.closed_at",
        (contact_id, iso(at)),
    )


# ---------------------------------------------------------------- delivery statuses

StatusOutcome = Literal["updated", "unchanged", "missing", "resend"]

# Statuses only move forward (webhooks can arrive out of order): sent < delivered < read.
_RANK = {"sending": 0, "unknown": 0, "sent": 1, "delivered": 2, "read": 3}


def apply_status(conn: sqlite3.Connection, update: StatusUpdate, at: datetime) -> StatusOutcome:
    """Move the outbox row of a sent message to its new status."""
    row = conn.execute(
        "SELECT id, contact_id, status, error FROM outbox WHERE external_id = ?", (update.wamid,)
    ).fetchone()
    if row is None:
        return "missing"
    outbox_id, contact_id, current, error = row[0], row[1], row[2], row[3]
    if current not in _RANK:
        return "unchanged"  # already failed, held, cancelled or queued again
    if update.status == "failed":
        first = update.errors[0] if update.errors else None
        if first is not None and first.code == 131047 and not (error or "").startswith("131047"):
            # Not delivered because the window had closed: send it again as the template, once.
            close_window(conn, contact_id, at)
            conn.execute(
                "UPDATE outbox SET status = 'queued', error = ?, updated_at = ? WHERE id = ?",
                (RESEND_NOTE, iso(at), outbox_id),
            )
            return "resend"
        conn.execute(
            "UPDATE outbox SET status = 'failed', error = ?, updated_at = ? WHERE id = ?",
            (first.describe() if first else "failed (no reason given)", iso(at), outbox_id),
        )
        return "updated"
    if _RANK[update.status] <= _RANK[current]:
        return "unchanged"
    conn.execute(
        "UPDATE outbox SET status = ?, updated_at = ? WHERE id = ?", (update.status, iso(at), outbox_id)
    )
    return "updated"
