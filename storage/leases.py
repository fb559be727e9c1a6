"""Named leases: one holder at a time, until the holder stops renewing and the lease expires.

Several service processes may share one database (PostgreSQL behind a load balancer). What only one of
them may do — tick the outreach scheduler, poll Telegram's getUpdates — belongs to the holder of a named
lease; each process also holds a lease of its own (`replica:...`) while it lives, so rows it claimed are
known to be in hand and those of a dead process can be taken over. Expiry is compared as UTC ISO text
written by the holders' own clocks (keep the machines' clocks in sync, as NTP does).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.contract import Store, Tx, dialect
from storage.repo import iso

REPLICA_PREFIX = "replica:"


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a lease and until when."""

    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime


def acquire(tx: Tx, name: str, holder: str, *, at: datetime, ttl: timedelta) -> bool:
    """Take the lease `name` for `holder` until `at + ttl`, or renew it when `holder` has it already.

    False (nothing changed) while another holder's lease has not expired.
    """
    row = tx.execute(
        "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, "
        "acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at "
        "ELSE excluded.acquired_at END "
        "WHERE leases.expires_at < ? OR leases.holder = ? RETURNING holder",
        (name, holder, iso(at), iso(at + ttl), iso(at), holder),
    ).fetchone()
    return row is not None


def release(tx: Tx, name: str, holder: str) -> bool:
    """Give the lease up at once (another process may take it); False when `holder` did not hold it."""
    return tx.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder)).rowcount > 0


async def current(db: Store, name: str, at: datetime) -> Lease | None:
    """The unexpired lease `name` at `at` (None when nobody holds it)."""
    row = await db.fetchone(
        "SELECT name, holder, acquired_at, expires_at FROM leases WHERE name = ? AND expires_at >= ?",
        (name, iso(at)),
    )
    if row is None:
        return None
    return Lease(
        name=str(row["name"]),
        holder=str(row["holder"]),
        acquired_at=datetime.fromisoformat(row["acquired_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
    )


def lock_reminder(tx: Tx, reminder_id: int, at: datetime) -> bool:
    """Whether the reminder is still due at `at`, holding its row until the transaction ends.

    Two ticks (a leader that lost its lease mid-tick, and its successor) then run one reminder one after
    the other, and the second finds it no longer due (done, or moved to its next time) and queues
    nothing. SQLite's single writer already runs them one after the other.
    """
    lock = " FOR UPDATE" if dialect(tx) == "postgresql" else ""
    row = tx.execute(
        f"SELECT id FROM reminders WHERE id = ? AND status = 'active' AND due_at <= ?{lock}",
        (reminder_id, iso(at)),
    ).fetchone()
    return row is not None


def lock_broadcast(tx: Tx, broadcast_id: int) -> None:
    """Hold a broadcast's row until the transaction ends (see `lock_reminder`)."""
    if dialect(tx) == "postgresql":
        tx.execute("SELECT id FROM broadcasts WHERE id = ? FOR UPDATE", (broadcast_id,))
