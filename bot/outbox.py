"""The outbox sender: claims queued rows, sends them through their channel, records the result.

A row is claimed (`queued` -> `sending`) in the store before it is sent, so two senders never send the
same row. A row found still `sending` at start-up may or may not have reached the user (the process
died mid-send): it is marked `unknown`, never re-sent blindly.
"""

import asyncio
import contextlib
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Protocol

from handlers.types import Reply
from storage import repo
from storage.db import Database
from storage.records import OutboxRecord, OutboxStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of one send."""

    status: OutboxStatus
    external_id: str | None = None
    error: str | None = None


class Channel(Protocol):
    """A transport that can deliver a reply to a contact address of its scheme."""

    scheme: str

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        """Deliver `reply` to `contact_id` (e.g. `console:u1`)."""
        ...


def _claim(conn: sqlite3.Connection, ids: list[int], at: datetime) -> set[int]:
    claimed: set[int] = set()
    for outbox_id in ids:
        row = conn.execute(
            "UPDATE outbox SET status = 'sending', updated_at = ?, attempts = attempts + 1 "
            "WHERE id = ? AND status = 'queued' RETURNING id",
            (repo.iso(at), outbox_id),
        ).fetchone()
        if row is not None:
            claimed.add(int(row[0]))
    return claimed


def _record(conn: sqlite3.Connection, results: list[tuple[int, SendResult]], at: datetime) -> None:
    blocked: set[str] = set()
    for outbox_id, result in results:
        repo.mark_outbox(conn, [outbox_id], result.status, at, error=result.error)
        if result.external_id:
            repo.set_external_id(conn, outbox_id, result.external_id)
        if result.status == OutboxStatus.BLOCKED:
            row = conn.execute("SELECT contact_id FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
            if row is not None:
                blocked.add(row[0])
    for contact_id in blocked:
        conn.execute("UPDATE contacts SET unreachable = 1 WHERE id = ?", (contact_id,))


def _recover(conn: sqlite3.Connection, at: datetime) -> int:
    cursor = conn.execute(
        "UPDATE outbox SET status = 'unknown', error = 'interrupted while sending', "
        "updated_at = ? WHERE status = 'sending'",
        (repo.iso(at),),
    )
    return cursor.rowcount


class Dispatcher:
    """Sends outbox rows through the channel that owns each contact's scheme."""

    def __init__(
        self,
        db: Database,
        channels: dict[str, Channel],
        *,
        clock: Callable[[], datetime],
        poll_seconds: float = 2.0,
        concurrency: int = 64,
        fallback: Channel | None = None,
    ) -> None:
        self.db = db
        self.channels = channels
        self.fallback = fallback
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._limit = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()

    async def recover(self) -> int:
        """Mark rows left `sending` by a dead process as `unknown`; return how many."""
        count = await self.db.write(partial(_recover, at=self.clock()))
        if count:
            log.warning("%d outbound messages were interrupted mid-send; not re-sent", count)
        return count

    async def deliver(self, records: list[OutboxRecord]) -> None:
        """Claim, send (in order per contact, contacts concurrently) and record `records`."""
        if not records:
            return
        claimed = await self.db.write(partial(_claim, ids=[r.id for r in records], at=self.clock()))
        by_contact: dict[str, list[OutboxRecord]] = defaultdict(list)
        for record in records:
            if record.id in claimed:
                by_contact[record.contact_id].append(record)
        outcomes = await asyncio.gather(*(self._send_in_order(items) for items in by_contact.values()))
        results = [pair for group in outcomes for pair in group]
        await self.db.write(partial(_record, results=results, at=self.clock()))

    async def _send_in_order(self, items: list[OutboxRecord]) -> list[tuple[int, SendResult]]:
        results: list[tuple[int, SendResult]] = []
        async with self._limit:
            for record in items:
                results.append((record.id, await self._send_one(record)))
        return results

    async def _send_one(self, record: OutboxRecord) -> SendResult:
        scheme = record.contact_id.split(":", 1)[0]
        channel = self.channels.get(scheme, self.fallback)
        if channel is None:
            return SendResult(OutboxStatus.FAILED, error=f"no channel for scheme {scheme!r}")
        try:
            return await channel.send(record.contact_id, Reply.from_json(record.payload))
        except Exception as exc:  # a channel bug must not stop the sender
            log.exception("channel %s failed to send outbox row %d", scheme, record.id)
            return SendResult(OutboxStatus.UNKNOWN, error=type(exc).__name__)

    def wake(self) -> None:
        """Look for queued rows now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Send queued rows written by anyone (staff tools, other processes) until cancelled."""
        while True:
            schemes = None if self.fallback else list(self.channels)
            rows = await repo.pending_outbox(self.db, schemes)
            if rows:
                await self.deliver(rows)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
