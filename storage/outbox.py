"""The outbox sender's reads and writes: claiming rows to send, recording results, rows in doubt.

Every process that sends is named by its own lease (`storage.leases`, `replica:...`) and writes that name
into the rows it takes (`claimed_by`): a row `sending` whose process still holds its lease is on the wire
right now and left alone; one whose process is gone was interrupted and is resolved (see `interrupted`).
On PostgreSQL several processes share the outbox: each first reserves the queued rows it will send
(`reserve_pending`, `FOR UPDATE SKIP LOCKED`, never a row another live process reserved, never a contact
whose earlier row another live process holds, so one contact's messages keep their order), and every
claim to send takes the row with `FOR UPDATE SKIP LOCKED`, so no row is claimed by two processes. On
SQLite the one process owning the store reads what is pending and claims it through the single writer.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from handlers.types import Reply
from storage import repo
from storage.contract import Cursor, Store, Tx, check_later, dialect
from storage.records import OutboxRecord, OutboxStatus

# A row held by a process whose own lease has not expired (`o` is the outbox row).
_HOLDER_ALIVE = "EXISTS (SELECT 1 FROM leases AS l WHERE l.name = {row}.claimed_by AND l.expires_at >= ?)"
_FREE = f"({{row}}.claimed_by IS NULL OR {{row}}.claimed_by = ? OR NOT {_HOLDER_ALIVE})"


def _free(row: str) -> str:
    """SQL true when the row (alias `row`) is not in another live process's hands (params: me, now)."""
    return _FREE.format(row=row)


class NotClaimed(Exception):
    """The row is not queued any more (sent, cancelled by staff) or another live process has it."""


def claim(tx: Tx, outbox_id: int, holder: str, at: datetime) -> bool:
    """Mark a queued row `sending` for `holder` (its request leaves next); False when it is not queued
    any more (sent, cancelled by staff) or another live process has it."""
    return _claim(tx, outbox_id, holder, at).fetchone() is not None


def take(tx: Tx, outbox_id: int, holder: str, at: datetime) -> None:
    """`claim`, checked before the commit (`check_later`: on PostgreSQL the writer reads it with the
    rest of its batch): the write fails with `NotClaimed` when the row could not be claimed."""
    cursor = _claim(tx, outbox_id, holder, at)

    def claimed() -> None:
        if cursor.fetchone() is None:
            raise NotClaimed

    check_later(tx, claimed)


def _claim(tx: Tx, outbox_id: int, holder: str, at: datetime) -> Cursor:
    now = repo.iso(at)
    if dialect(tx) == "postgresql":
        sql = (
            "UPDATE outbox SET status = 'sending', claimed_by = ?, updated_at = ?, attempts = attempts + 1 "
            "WHERE id = (SELECT o.id FROM outbox AS o WHERE o.id = ? AND o.status = 'queued' AND "
            f"{_free('o')} FOR UPDATE SKIP LOCKED) RETURNING id"
        )
        params: tuple[Any, ...] = (holder, now, outbox_id, holder, now)
    else:
        sql = (
            "UPDATE outbox SET status = 'sending', claimed_by = ?, updated_at = ?, attempts = attempts + 1 "
            "WHERE id = ? AND status = 'queued' RETURNING id"
        )
        params = (holder, now, outbox_id)
    return tx.execute(sql, params)


def unclaim(tx: Tx, outbox_id: int, at: datetime) -> None:
    """Give a row back to the queue: its request did not leave (the platform refused it at once)."""
    tx.execute(
        "UPDATE outbox SET status = 'queued', updated_at = ? WHERE id = ? AND status = 'sending'",
        (repo.iso(at), outbox_id),
    )


def unclaim_all(tx: Tx, outbox_ids: Sequence[int], at: datetime) -> None:
    """`unclaim` several rows (their requests never left)."""
    for outbox_id in outbox_ids:
        unclaim(tx, outbox_id, at)


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What became of one send, to be recorded (`record_results`)."""

    outbox_id: int
    status: OutboxStatus
    at: datetime
    error: str | None = None
    external_id: str | None = None
    retry_at: datetime | None = None  # a retry: not sent again before this


def record_results(tx: Tx, outcomes: Sequence[SendOutcome]) -> None:
    """Record several sends at once: one statement for all rows of one status (and error), stamped with
    the latest of their times (they ended within the same few milliseconds); then what only some rows
    have (a platform message id, a retry time, a blocked contact)."""
    groups: dict[tuple[OutboxStatus, str | None], list[SendOutcome]] = {}
    for outcome in outcomes:
        groups.setdefault((outcome.status, outcome.error), []).append(outcome)
    for (status, error), group in groups.items():
        at = max(outcome.at for outcome in group)
        repo.mark_outbox(tx, [outcome.outbox_id for outcome in group], status, at, error=error)
    for outcome in outcomes:
        if outcome.retry_at is not None:
            retry_at = repo.iso(outcome.retry_at)
            tx.execute("UPDATE outbox SET not_before = ? WHERE id = ?", (retry_at, outcome.outbox_id))
        if outcome.external_id:
            repo.set_external_id(tx, outcome.outbox_id, outcome.external_id)
        if outcome.status == OutboxStatus.BLOCKED:
            tx.execute(
                "UPDATE contacts SET unreachable = 1 WHERE id = (SELECT contact_id FROM outbox WHERE id = ?)",
                (outcome.outbox_id,),
            )


def interrupted(tx: Tx, holder: str, at: datetime) -> list[tuple[int, str]]:
    """Rows left `sending` by a process that is gone (its lease expired, or it had none): id, contact.

    Rows `holder` itself is sending, and rows of another process still alive, are not among them.
    """
    now = repo.iso(at)
    rows = tx.execute(
        "SELECT o.id, o.contact_id FROM outbox AS o WHERE o.status = 'sending' AND "
        f"(o.claimed_by IS NULL OR (o.claimed_by != ? AND NOT {_HOLDER_ALIVE.format(row='o')})) "
        "ORDER BY o.id",
        (holder, now),
    )
    return [(int(row[0]), str(row[1])) for row in rows]


def resolve_interrupted(tx: Tx, verdicts: Sequence[tuple[int, bool | None]], at: datetime) -> None:
    """Settle interrupted rows: delivered -> sent, not delivered -> queued again, cannot tell -> unknown."""
    stamp = repo.iso(at)
    for outbox_id, delivered in verdicts:
        if delivered is None:
            tx.execute(
                "UPDATE outbox SET status = 'unknown', error = 'interrupted while sending', updated_at = ? "
                "WHERE id = ? AND status = 'sending'",
                (stamp, outbox_id),
            )
        else:
            status = OutboxStatus.SENT if delivered else OutboxStatus.QUEUED
            tx.execute(
                "UPDATE outbox SET status = ?, updated_at = ?, "
                "sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE id = ? AND status = 'sending'",
                (status, stamp, status, stamp, outbox_id),
            )


def reserve_pending(
    tx: Tx,
    holder: str,
    at: datetime,
    *,
    schemes: Sequence[str] | None = None,
    limit: int = 500,
    include_bulk: bool = True,
    reply_grace: timedelta | None = None,
) -> list[OutboxRecord]:
    """Queued rows that may leave now, reserved for `holder` (the same choice as
    `repo.pending_outbox`: replies and staff messages first, then bulk).

    Rows reserved by another live process are skipped, and so is a contact while another live process
    holds one of its earlier rows; rows locked by a concurrent reservation are skipped, not waited for.
    On PostgreSQL a row is also skipped while its contact's first waiting row is locked: a reservation
    not yet committed elsewhere may hold that first row (its LIMIT falling between the two), and its
    claim is not visible here yet.
    """
    now = repo.iso(at)
    clauses = ["o.status = 'queued'", "o.bulk = ?", "(o.not_before IS NULL OR o.not_before <= ?)"]
    params: list[Any] = [now]
    if schemes is not None:
        clauses.append("(" + (" OR ".join("o.contact_id LIKE ?" for _ in schemes) or "1 = 0") + ")")
        params.extend(f"{scheme}:%" for scheme in schemes)
    if reply_grace is not None:
        # A fresh reply belongs to the turn that wrote it (which sends it itself); one reserved by its
        # writer is taken as soon as the writer is gone (below), others after the grace.
        clauses.append(
            "(o.origin != 'reply' OR o.created_at <= ? OR (o.claimed_by IS NOT NULL AND o.claimed_by != ?))"
        )
        params += [repo.iso(at - reply_grace), holder]
    clauses.append(_free("o"))
    params += [holder, now]
    clauses.append(
        "NOT EXISTS (SELECT 1 FROM outbox AS e WHERE e.contact_id = o.contact_id AND e.id < o.id "
        "AND e.status IN ('queued', 'sending') AND e.claimed_by IS NOT NULL AND e.claimed_by != ? "
        f"AND {_HOLDER_ALIVE.format(row='e')})"
    )
    params += [holder, now]
    rows, lock = "outbox AS o", ""
    if dialect(tx) == "postgresql":
        rows += (
            " JOIN outbox AS f ON f.id = (SELECT MIN(x.id) FROM outbox AS x "
            "WHERE x.contact_id = o.contact_id AND x.status IN ('queued', 'sending'))"
        )
        lock = " FOR UPDATE OF o, f SKIP LOCKED"
    sql = (
        f"UPDATE outbox SET claimed_by = ? WHERE id IN (SELECT o.id FROM {rows} WHERE "
        f"{' AND '.join(clauses)} ORDER BY o.id LIMIT ?{lock}) RETURNING *"
    )

    def reserve(bulk: int, count: int) -> list[OutboxRecord]:
        rows = tx.execute(sql, (holder, bulk, *params, count))
        return sorted((repo.outbox_from_row(row) for row in rows), key=lambda record: record.id)

    records = reserve(0, limit)
    if include_bulk and len(records) < limit:
        records += reserve(1, limit - len(records))
    return records


# ---------------------------------------------------------------- rows in doubt, flooders (staff views)


def _person(contact: str) -> str:
    """SQL for the name of the person a contact registered (themselves first), as `person`."""
    return (
        f"(SELECT p.full_name FROM persons AS p WHERE p.registered_by = {contact} "
        "ORDER BY p.is_self DESC, p.id LIMIT 1) AS person"
    )


@dataclass(frozen=True, slots=True)
class InDoubt:
    """A message that may or may not have reached its person (the process died while it was sent)."""

    id: int
    contact_id: str
    name: str
    channel: str
    text: str
    origin: str
    since: str


async def in_doubt(db: Store, limit: int = 500) -> list[InDoubt]:
    """The rows in doubt (`unknown`), oldest first, as people: name, channel and message."""
    rows = await db.fetchall(
        "SELECT o.id, o.contact_id, o.payload, o.origin, o.updated_at, c.display_name, "
        f"{_person('o.contact_id')} "
        "FROM outbox AS o LEFT JOIN contacts AS c ON c.id = o.contact_id "
        "WHERE o.status = 'unknown' ORDER BY o.id LIMIT ?",
        (limit,),
    )
    return [
        InDoubt(
            id=int(row["id"]),
            contact_id=str(row["contact_id"]),
            name=str(row["person"] or row["display_name"] or ""),
            channel=str(row["contact_id"]).split(":", 1)[0],
            text=Reply.from_json(row["payload"]).text,
            origin=str(row["origin"]),
            since=str(row["updated_at"] or ""),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class Flooder:
    """A contact who sent far more messages than could be answered at once (kept, answered in turn)."""

    contact_id: str
    name: str
    channel: str
    since: str
    waiting: int


async def flooders(db: Store, limit: int = 50) -> list[Flooder]:
    """Contacts marked as flooding, most recent first."""
    rows = await db.fetchall(
        f"SELECT c.id, c.display_name, c.flooded_at, c.flood_waiting, {_person('c.id')} "
        "FROM contacts AS c WHERE c.flooded_at IS NOT NULL ORDER BY c.flooded_at DESC LIMIT ?",
        (limit,),
    )
    return [
        Flooder(
            contact_id=str(row["id"]),
            name=str(row["person"] or row["display_name"] or ""),
            channel=str(row["id"]).split(":", 1)[0],
            since=str(row["flooded_at"]),
            waiting=int(row["flood_waiting"] or 0),
        )
        for row in rows
    ]


def resend_in_doubt(tx: Tx, ids: list[int] | None, *, actor: str, at: datetime) -> int:
    """Staff chose to send rows in doubt again (`ids`, or all when None): queue them, audited."""
    if ids is not None and not ids:
        return 0
    sql = "UPDATE outbox SET status = 'queued', error = NULL, not_before = NULL, claimed_by = NULL, "
    sql += "updated_at = ? WHERE status = 'unknown'"
    params: list[object] = [repo.iso(at)]
    if ids is not None:
        sql += f" AND id IN ({', '.join('?' for _ in ids)})"
        params += ids
    queued = [int(row[0]) for row in tx.execute(sql + " RETURNING id", params)]
    for outbox_id in sorted(queued):
        repo.audit(tx, actor=actor, action="outbox.resend", at=at, target=f"outbox:{outbox_id}")
    return len(queued)
