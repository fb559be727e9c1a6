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
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Protocol, runtime_checkable

from handlers.outreach import QuietHours
from handlers.types import Reply, Voice
from storage import repo
from storage.db import Database
from storage.records import OutboxRecord, OutboxStatus

log = logging.getLogger(__name__)

RETRY_PAUSE = timedelta(seconds=5)
REPLY_GRACE = timedelta(seconds=30)

# The outbox row a channel's `send` is delivering (None outside the sender): channels that pace bulk
# messages differently from replies, or pick a message form by origin, read it here.
current_outbox_row: ContextVar[OutboxRecord | None] = ContextVar("current_outbox_row", default=None)
# The voice note (an OGG/Opus file) of the reply a channel's `send` is delivering, for channels that show
# it beside the text (terminal, simulate, simulator); platform channels send it with `send_voice`.
current_voice_note: ContextVar[Path | None] = ContextVar("current_voice_note", default=None)


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


class VoiceRenderer(Protocol):
    """Makes the voice-note file of a reply (None when it cannot: the text then goes alone)."""

    async def render(self, voice: Voice) -> Path | None:
        """The OGG/Opus file of `voice`."""
        ...


@runtime_checkable
class VoiceChannel(Protocol):
    """A channel that sends a reply's voice note as its own message, after the text."""

    async def send_voice(self, contact_id: str, audio: Path) -> SendResult:
        """Deliver the voice note `audio` to `contact_id`."""
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
        if result.status == OutboxStatus.QUEUED:  # a retry: not before a short pause
            conn.execute(
                "UPDATE outbox SET not_before = ? WHERE id = ?",
                (repo.iso(at + RETRY_PAUSE), outbox_id),
            )
        if result.external_id:
            repo.set_external_id(conn, outbox_id, result.external_id)
        if result.status == OutboxStatus.BLOCKED:
            row = conn.execute("SELECT contact_id FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
            if row is not None:
                blocked.add(row[0])
    for contact_id in blocked:
        conn.execute("UPDATE contacts SET unreachable = 1 WHERE id = ?", (contact_id,))


@runtime_checkable
class KeyedChannel(Channel, Protocol):
    """A channel whose receiver deduplicates by a key and can say whether a key was delivered.

    For such a channel a row interrupted mid-send (the process died) is safely resolved at start-up:
    delivered -> sent, not delivered -> sent again with the same key. Platforms without idempotency
    keys (Telegram, WhatsApp) are not keyed: their interrupted rows become `unknown`, never re-sent.
    """

    async def send_keyed(self, key: str, contact_id: str, reply: Reply) -> SendResult:
        """Deliver `reply` once per `key`."""
        ...

    async def delivered(self, key: str) -> bool | None:
        """Whether a message with `key` reached the receiver (None: cannot tell)."""
        ...


def outbox_key(outbox_id: int) -> str:
    """The idempotency key of an outbox row."""
    return f"outbox-{outbox_id}"


def _interrupted(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    return [
        (int(row[0]), str(row[1]))
        for row in conn.execute("SELECT id, contact_id FROM outbox WHERE status = 'sending' ORDER BY id")
    ]


def _resolve_interrupted(
    conn: sqlite3.Connection, verdicts: list[tuple[int, bool | None]], at: datetime
) -> None:
    for outbox_id, delivered in verdicts:
        if delivered is None:
            conn.execute(
                "UPDATE outbox SET status = 'unknown', error = 'interrupted while sending', updated_at = ? "
                "WHERE id = ? AND status = 'sending'",
                (repo.iso(at), outbox_id),
            )
        else:
            status = OutboxStatus.SENT if delivered else OutboxStatus.QUEUED
            conn.execute(
                "UPDATE outbox SET status = ?, updated_at = ?, "
                "sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE id = ? AND status = 'sending'",
                (status, repo.iso(at), status, repo.iso(at), outbox_id),
            )


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
        quiet: QuietHours | None = None,
        chunk: int = 64,
        max_batches: int = 4,
        voice: VoiceRenderer | None = None,
    ) -> None:
        self.db = db
        self.voice = voice
        self.channels = channels
        self.fallback = fallback
        self.quiet = quiet
        self.chunk = chunk
        self._in_flight: set[int] = set()
        self._stopping = False
        self.max_batches = max_batches
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._limit = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()

    async def recover(self) -> int:
        """Resolve rows left `sending` by a dead process; return how many were found.

        A keyed channel is asked whether each was delivered (re-queued if not); for other channels the
        row becomes `unknown` and is not re-sent. Rows of a scheme with no channel yet are left alone
        (the runner registers platform channels after start-up and calls this again).
        """
        interrupted = await self.db.write(_interrupted)
        verdicts: list[tuple[int, bool | None]] = []
        for outbox_id, contact_id in interrupted:
            if outbox_id in self._in_flight:
                continue  # being sent by this process right now
            channel = self.channels.get(contact_id.split(":", 1)[0], self.fallback)
            if channel is None:
                continue
            verdict = (
                await channel.delivered(outbox_key(outbox_id)) if isinstance(channel, KeyedChannel) else None
            )
            verdicts.append((outbox_id, verdict))
        if verdicts:
            await self.db.write(partial(_resolve_interrupted, verdicts=verdicts, at=self.clock()))
            unknown = sum(1 for _, verdict in verdicts if verdict is None)
            if unknown:
                log.warning("%d outbound messages were interrupted mid-send; not re-sent", unknown)
        return len(verdicts)

    async def deliver(self, records: list[OutboxRecord]) -> None:
        """Claim, send (in order per contact, contacts concurrently) and record `records`."""
        if not records:
            return
        claimed = await self.db.write(partial(_claim, ids=[r.id for r in records], at=self.clock()))
        by_contact: dict[str, list[OutboxRecord]] = defaultdict(list)
        for record in records:
            if record.id in claimed:
                by_contact[record.contact_id].append(record)
        self._in_flight |= claimed
        try:
            outcomes = await asyncio.gather(*(self._send_in_order(items) for items in by_contact.values()))
            results = [pair for group in outcomes for pair in group]
            await self.db.write(partial(_record, results=results, at=self.clock()))
        finally:
            self._in_flight -= claimed

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
        token = current_outbox_row.set(record)
        voice_token = current_voice_note.set(None)
        try:
            reply = Reply.from_json(record.payload)
            # A platform channel sends the voice note as its own message after the text, so the text is
            # never held up by synthesis; channels that show it beside the text need the file first.
            separate = isinstance(channel, VoiceChannel)
            if not separate:
                current_voice_note.set(await self._voice_note(reply))
            if isinstance(channel, KeyedChannel):
                result = await self._send_keyed(channel, record, reply)
            else:
                result = await channel.send(record.contact_id, reply)
            if separate and result.status == OutboxStatus.SENT:
                audio = await self._voice_note(reply)
                if audio is not None:
                    await self._send_voice(channel, record, audio)
            return result
        except Exception as exc:  # a channel bug must not stop the sender
            log.exception("channel %s failed to send outbox row %d", scheme, record.id)
            return SendResult(OutboxStatus.UNKNOWN, error=type(exc).__name__)
        finally:
            current_voice_note.reset(voice_token)
            current_outbox_row.reset(token)

    async def _voice_note(self, reply: Reply) -> Path | None:
        if reply.voice is None or self.voice is None:
            return None
        return await self.voice.render(reply.voice)

    @staticmethod
    async def _send_voice(channel: Channel, record: OutboxRecord, audio: Path) -> None:
        """The voice note after its text; the row stays sent whatever becomes of it (the text arrived)."""
        assert isinstance(channel, VoiceChannel)
        try:
            result = await channel.send_voice(record.contact_id, audio)
        except Exception:
            log.exception("voice note of outbox row %d failed", record.id)
            return
        if result.status != OutboxStatus.SENT:
            log.warning("voice note of outbox row %d not sent: %s", record.id, result.error)

    async def _send_keyed(self, channel: KeyedChannel, record: OutboxRecord, reply: Reply) -> SendResult:
        key = outbox_key(record.id)
        try:
            return await channel.send_keyed(key, record.contact_id, reply)
        except Exception as exc:
            # The receiver deduplicates by key, so a failed attempt is safely retried later.
            log.warning("keyed send of outbox row %d failed (%s); will retry", record.id, type(exc).__name__)
            return SendResult(OutboxStatus.QUEUED, error=type(exc).__name__)

    def wake(self) -> None:
        """Look for queued rows now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Ask `run` to finish the batches it started and return (no row is left half-sent)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Send queued rows written by anyone (staff tools, other processes) until stopped.

        Several small batches are in flight at once, so one slow platform answer does not hold up the
        rest; a contact is in at most one batch at a time, so its messages keep their order.
        """
        await self.recover()
        batches: set[asyncio.Task[None]] = set()
        busy: set[str] = set()

        def finished(task: asyncio.Task[None], contacts: set[str]) -> None:
            batches.discard(task)
            busy.difference_update(contacts)
            self._wake.set()

        try:
            while not self._stopping:
                self._wake.clear()
                if len(batches) < self.max_batches:
                    rows = [row for row in await self._pending() if row.contact_id not in busy]
                    if rows:
                        rows = rows[: self.chunk]
                        contacts = {row.contact_id for row in rows}
                        busy |= contacts
                        task = asyncio.create_task(self.deliver(rows))
                        batches.add(task)
                        task.add_done_callback(partial(finished, contacts=contacts))
                        continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
        finally:
            if batches:
                await asyncio.gather(*batches, return_exceptions=True)

    async def _pending(self) -> list[OutboxRecord]:
        now = self.clock()
        return await repo.pending_outbox(
            self.db,
            None if self.fallback else list(self.channels),
            # Small batches: few rows are ever `sending` at once, so a crash leaves little in doubt.
            limit=self.chunk * 2,
            now=now,
            include_bulk=self.quiet is None or not self.quiet.active(now),
            reply_grace=REPLY_GRACE,
        )
