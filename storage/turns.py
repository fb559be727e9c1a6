"""One contact's conversation turns one at a time, across every process sharing the store.

A turn reads the contact's state, computes the step, then commits (inbound id, answers, conversation,
outbox rows) in one write. In one process the engine's per-contact lock orders the turns. With several
processes on PostgreSQL two turns of one contact may be computed at once (two deliveries reaching two
replicas): the commit then takes the contact's transaction-level advisory lock, so commits of one contact
never interleave, and checks that the conversation it read is still the stored one. When another
process moved it meanwhile, the commit writes nothing and the engine runs the turn again on the new
state. SQLite has one process and one writer: nothing more is needed there.
"""

from datetime import datetime

from storage.contract import Tx, dialect


def hold_contact(tx: Tx, contact_id: str, read_at: datetime | None) -> bool:
    """Serialise this commit with the contact's other commits (PostgreSQL) and say whether the
    conversation read for the turn (its `updated_at`, None when it had none) is still current."""
    if dialect(tx) != "postgresql":
        return True
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(CAST(? AS TEXT), 0))", (contact_id,))
    row = tx.execute("SELECT updated_at FROM conversations WHERE contact_id = ?", (contact_id,)).fetchone()
    stored = None if row is None else datetime.fromisoformat(row[0])
    return stored == read_at
