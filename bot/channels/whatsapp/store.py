"""The WhatsApp channel's state: webhook inbox, contact identities, windows, delivery statuses.

The rows are kept by `storage.channels`; write functions here take a `Tx` and run inside one write
transaction (`Store.write`).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.channels.whatsapp.payloads import StatusUpdate
from storage import channels
from storage.channels import KnownContact
from storage.contract import Store, Tx

__all__ = ["KnownContact"]

SOURCE = "whatsapp"
INBOX_PURPOSE = "webhook-inbox"  # sub-key for the sealed bodies kept until processed
WINDOW = timedelta(hours=24)
RESEND_NOTE = "131047 outside the 24-hour window; sending the template instead"


# ---------------------------------------------------------------- webhook inbox


def insert_inbox(tx: Tx, body: bytes, at: datetime) -> int:
    """Keep one (sealed) webhook body until it is processed; return its row id."""
    (inbox_id,) = channels.keep_bodies(tx, SOURCE, [body], at)
    return inbox_id


def finish_inbox(tx: Tx, inbox_id: int) -> None:
    """Forget a processed body (its events now live in the store)."""
    channels.forget_bodies(tx, [inbox_id])


def fail_inbox(tx: Tx, inbox_id: int, error: str, at: datetime) -> None:
    """Keep a body whose processing failed, with the reason, for the operator."""
    channels.fail_bodies(tx, [(inbox_id, error)], at)


async def inbox_body(db: Store, inbox_id: int) -> bytes | None:
    """One stored (sealed) body not yet processed (None when it is gone)."""
    return await channels.body(db, inbox_id)


async def pending_inbox(db: Store) -> list[tuple[int, bytes]]:
    """Bodies received but not yet processed (the process stopped first), oldest first."""
    return await channels.unprocessed(db, SOURCE)


async def pending_ids(db: Store) -> set[int]:
    """Ids of the bodies received but not yet processed, whichever process stored them."""
    return await channels.unprocessed_ids(db, SOURCE)


# ---------------------------------------------------------------- contacts


async def find_contact(db: Store, address: str, other: str | None) -> KnownContact | None:
    """The contact known by either address (as its id or its alternative id); the first address wins."""
    found = await channels.contacts_by_address(db, address, other or address)
    if not found:
        return None
    return next((c for c in found if address in (c.id, c.alt_id)), found[0])


def link_contact(tx: Tx, contact_id: str, other: str | None, *, release_since: datetime, at: datetime) -> int:
    """Record the contact's second address, and queue again messages held for it; return how many."""
    if other and other != contact_id:
        channels.link_address(tx, contact_id, other)
    return channels.release_held(tx, contact_id, since=release_since, at=at)


async def seen(db: Store, event_id: str) -> bool:
    """Whether the engine already handled this inbound event."""
    return await channels.seen(db, event_id)


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


async def window(db: Store, contact_id: str, default_language: str) -> Window:
    """The contact's language and window."""
    state = await channels.window_state(db, contact_id)
    if state is None:
        return Window(default_language, None, None)
    return Window(state.language or default_language, state.last_inbound_at, state.closed_at)


def close_window(tx: Tx, contact_id: str, at: datetime) -> None:
    """Meta refused a free-form message (131047): templates only until the person writes again."""
    channels.close_window(tx, contact_id, at)


# ---------------------------------------------------------------- delivery statuses

StatusOutcome = Literal["updated", "unchanged", "missing", "resend"]

# Statuses only move forward (webhooks can arrive out of order): sent < delivered < read.
_RANK = {"sending": 0, "unknown": 0, "sent": 1, "delivered": 2, "read": 3}


def apply_status(tx: Tx, update: StatusUpdate, at: datetime) -> StatusOutcome:
    """Move the outbox row of a sent message to its new status."""
    sent = channels.sent_message(tx, update.wamid)
    if sent is None:
        return "missing"
    if sent.status not in _RANK:
        return "unchanged"  # already failed, held, cancelled or queued again
    if update.status == "failed":
        first = update.errors[0] if update.errors else None
        if first is not None and first.code == 131047 and not (sent.error or "").startswith("131047"):
            # Not delivered because the window had closed: send it again as the template, once.
            close_window(tx, sent.contact_id, at)
            channels.set_delivery_error(tx, sent.id, "queued", RESEND_NOTE, at)
            return "resend"
        reason = first.describe() if first else "failed (no reason given)"
        channels.set_delivery_error(tx, sent.id, "failed", reason, at)
        return "updated"
    if _RANK[update.status] <= _RANK[sent.status]:
        return "unchanged"
    channels.set_delivery(tx, sent.id, update.status, at)
    return "updated"
