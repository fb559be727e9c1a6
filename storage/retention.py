"""Message history that does not grow forever: inbound ids and outbox bodies are pruned by age.

- An inbound event id only matters while the platform may deliver the event again (WhatsApp retries a
  webhook for up to 7 days): after the redelivery window the id is deleted.
- A finished outbound message that is not about a case (the bot's questions and answers in a
  conversation) is deleted once older than the outbox window; one that must stay as a row (a broadcast's
  recipients, which its report counts; a reminder's or nudge's row, which keeps it from being sent twice)
  keeps its row and status but loses its body.
- What stays: cases, their events and their threads (`case_messages`, whose lines carry their own text),
  the outbox rows about a case (the case page lists them), and anything not finished (queued, sending,
  held, in doubt).

The prune runs in small batches, each its own short write transaction, so the single writer is never
held for long: conversations' writes go in between.
"""

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from storage.contract import Store, Tx, dialect
from storage.migrations import OUTBOX_PRUNABLE
from storage.repo import iso

PRUNED_PAYLOAD = '{"text": ""}'


def _indexed_by(conn: Tx, index: str) -> str:
    """SQLite's hint to walk `index` (its planner might otherwise scan the table); PostgreSQL's planner
    picks the index from the statistics on its own."""
    return f" INDEXED BY {index}" if dialect(conn) == "sqlite" else ""


def prune_inbound(conn: Tx, before: datetime, limit: int) -> int:
    """Delete up to `limit` inbound ids received before `before` (a write function); how many."""
    cursor = conn.execute(
        f"DELETE FROM inbound WHERE id IN (SELECT id FROM inbound{_indexed_by(conn, 'inbound_received')} "
        "WHERE received_at < ? LIMIT ?)",
        (iso(before), limit),
    )
    return cursor.rowcount


def prune_outbox(conn: Tx, before: datetime, limit: int) -> int:
    """Delete, or clear the body of, up to `limit` finished outbox rows not about a case last changed
    before `before` (a write function); how many."""
    rows = conn.execute(
        "SELECT o.id, CASE WHEN o.broadcast_id IS NULL AND o.dedupe_key IS NULL AND NOT EXISTS ("
        "    SELECT 1 FROM case_messages AS m WHERE m.outbox_id = o.id"
        ") AND NOT EXISTS (SELECT 1 FROM staff_questions AS q WHERE q.outbox_id = o.id) THEN 1 ELSE 0 END "
        f"FROM outbox AS o{_indexed_by(conn, 'outbox_retention')} WHERE {OUTBOX_PRUNABLE} "
        "AND o.updated_at < ? LIMIT ?",
        (iso(before), limit),
    ).fetchall()
    delete = [(row[0],) for row in rows if row[1]]
    clear = [(PRUNED_PAYLOAD, row[0]) for row in rows if not row[1]]
    conn.executemany("DELETE FROM outbox WHERE id = ?", delete)
    conn.executemany("UPDATE outbox SET payload = ? WHERE id = ?", clear)
    return len(rows)


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What one prune removed."""

    inbound: int
    outbox: int
    batches: int


async def prune_history(
    db: Store,
    *,
    now: datetime,
    inbound_days: float,
    outbox_days: float,
    batch: int,
    pause: float = 0.0,
    stopping: "asyncio.Event | None" = None,
) -> PruneReport:
    """Prune inbound ids and outbox bodies past their windows, `batch` rows per write transaction."""
    totals = {"inbound": 0, "outbox": 0}
    batches = 0
    for name, fn, days in (("inbound", prune_inbound, inbound_days), ("outbox", prune_outbox, outbox_days)):
        before = now - timedelta(days=days)
        while stopping is None or not stopping.is_set():
            done = await db.write(partial(fn, before=before, limit=batch))
            batches += 1
            totals[name] += done
            if done < batch:
                break
            await asyncio.sleep(pause)  # let conversations' writes in between batches
    return PruneReport(totals["inbound"], totals["outbox"], batches)
