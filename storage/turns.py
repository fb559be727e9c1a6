"""One contact's conversation turns one at a time, across every process sharing the store.

A turn reads the contact's state, computes the step, then commits (inbound id, answers, conversation,
outbox rows) in one write. In one process the engine's per-contact lock orders the turns. With several
processes on PostgreSQL two turns of one contact may be computed at once (two deliveries reaching two
replicas): the commit then takes the contact's transaction-level advisory lock, so commits of one contact
never interleave, and checks that the conversation it read is still the stored one. When another
process moved it meanwhile, the commit writes nothing and the engine runs the turn again on the new
state. SQLite has one process and one writer: nothing more is needed there.

The commit's own checks (the conversation still current, the event not seen before) and the new reply
rows' ids are read with `check_later`: on PostgreSQL the writer reads them once for its whole batch,
before the commit, instead of waiting for a round trip in the middle of each turn; a check that fails
aborts the write with `TurnMoved` or `Redelivered` (nothing of the turn is kept).
"""

from datetime import datetime

from storage.contract import Tx, check_later, dialect
from storage.records import OutboxRecord, OutboxStatus
from storage.repo import iso

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(CAST(? AS TEXT), 0))"
_STORED = "SELECT updated_at FROM conversations WHERE contact_id = ?"


class TurnMoved(Exception):
    """The conversation a turn was computed on was moved by another process meanwhile."""


class Redelivered(Exception):
    """The turn's inbound event was already handled (a redelivery that raced its first delivery)."""


def _current(stored: object, read_at: datetime | None) -> bool:
    return (None if stored is None else datetime.fromisoformat(str(stored))) == read_at


def hold_turn(tx: Tx, contact_id: str, read_at: datetime | None) -> None:
    """Serialise this commit with the contact's other commits (PostgreSQL) and check, before the commit,
    that the conversation read for the turn (its `updated_at`, None when it had none) is still the
    stored one: the write fails with `TurnMoved` when it is not."""
    if dialect(tx) != "postgresql":
        return
    tx.execute(_LOCK, (contact_id,))
    cursor = tx.execute(_STORED, (contact_id,))

    def still_current() -> None:
        row = cursor.fetchone()
        if not _current(None if row is None else row[0], read_at):
            raise TurnMoved

    check_later(tx, still_current)


def record_event(tx: Tx, event_id: str, contact_id: str, at: datetime) -> None:
    """Remember an inbound event id; the write fails with `Redelivered` when it was already recorded."""
    cursor = tx.execute(
        "INSERT INTO inbound (id, contact_id, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (event_id, contact_id, iso(at)),
    )

    def first_time() -> None:
        if cursor.rowcount != 1:
            raise Redelivered

    check_later(tx, first_time)


def queue_reply(
    tx: Tx, contact_id: str, payload: str, at: datetime, holder: str | None, *, sending: bool = False
) -> OutboxRecord:
    """Queue one reply of a turn and return its row. On PostgreSQL the row is reserved for `holder`,
    the process that sends it (see `storage.outbox`), and its id is filled in before the commit.

    `sending`: the row is written already claimed by `holder` and `sending`, as `storage.outbox.take`
    would mark it, because its request leaves right after this commit (an in-flight slot is held for it).
    """
    stamp = iso(at)
    claimed_by = holder if sending or dialect(tx) == "postgresql" else None
    status = OutboxStatus.SENDING if sending else OutboxStatus.QUEUED
    cursor = tx.execute(
        "INSERT INTO outbox (contact_id, origin, payload, status, claimed_by, attempts, created_at, "
        "updated_at) VALUES (?, 'reply', ?, ?, ?, ?, ?, ?) RETURNING id",
        (contact_id, payload, status.value, claimed_by, int(sending), stamp, stamp),
    )
    # Built from the values just written (already of their types): no validation needed.
    record = OutboxRecord.model_construct(
        id=0,
        contact_id=contact_id,
        origin="reply",
        payload=payload,
        status=status,
        attempts=int(sending),
        case_id=None,
        created_at=at,
        updated_at=at,
    )

    def fill_id() -> None:
        record.id = int(cursor.fetchone()[0])

    check_later(tx, fill_id)
    return record
