"""The outbox sender: hands queued rows to their channel, marks each `sending` as it leaves, records it.

A row becomes `sending` in the store only when its platform request is about to leave: the channel calls
`SendGate.leaving()` after it has waited for its pacing slots, right before the request. Rows handed to a
channel but still waiting for a slot stay `queued`, so after a crash they are simply sent. A turn's
replies through a channel without pacing (the simulator, the terminal) leave right after the turn's
commit, so that commit writes them `sending` already (`Dispatcher.reserve`), sparing each a write of its
own. At most `in_flight` rows are `sending` at any moment (a slot is held from the mark, or from before
the turn's commit, until the result is queued for the writer, which commits in queue order), which
bounds what a kill -9 can leave in doubt. The result's commit is not waited for by the contact's next
message (`deliver(..., recorded=False)`), and results that end while the writer is busy share one write
(`ResultWrites`). A row found still `sending` at start-up may or may not
have reached the person: it is marked `unknown`, never re-sent blindly; staff see those rows and may
choose to send them again (`resend_unknown`). A graceful stop gives back every row not yet on the wire
and finishes the ones that are.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Protocol, cast, runtime_checkable

from handlers.outreach import QuietHours
from handlers.types import Reply, Voice
from storage import outbox as store
from storage import repo
from storage.contract import Store, Tx
from storage.outbox import Flooder, InDoubt, flooders, in_doubt, resend_in_doubt
from storage.records import OutboxRecord, OutboxStatus

__all__ = [
    "Channel",
    "Dispatcher",
    "Flooder",
    "InDoubt",
    "SendResult",
    "flooders",
    "in_doubt",
    "resend_in_doubt",
]

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
        """Deliver `reply` to `contact_id` (e.g. `console:u1`).

        A channel whose class sets `marks_sending = True` calls `leaving()` right before each platform
        request (after its pacing); for any other channel the dispatcher marks the row before `send`.
        """
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


class Released(Exception):
    """The row was not sent and stays queued: the sender is stopping, or the row is no longer queued."""


class SendGate:
    """One row's passage onto the wire: the channel calls `leaving()` right before each request.

    The first call takes an in-flight slot and marks the row `sending` (committed before it returns);
    later calls (the other parts of a multi-part message) pass at once. A channel that never calls it
    is marked by the dispatcher before `send` (see `Channel.marks_sending`).
    """

    __slots__ = ("_dispatcher", "begun", "bulk", "record")

    def __init__(self, dispatcher: "Dispatcher", record: OutboxRecord) -> None:
        self._dispatcher = dispatcher
        self.record = record
        self.bulk = record.origin in repo.BULK_ORIGINS
        self.begun = False

    async def leaving(self) -> None:
        """The row's request leaves next: mark it `sending` (once); raise `Released` to not send it."""
        if self.begun:
            return
        await self._dispatcher._begin(self)


# The gate of the outbox row a channel's `send` is delivering (None outside the sender).
current_gate: ContextVar[SendGate | None] = ContextVar("current_gate", default=None)


async def leaving() -> None:
    """Called by a channel right before a platform request: marks the current outbox row `sending`."""
    gate = current_gate.get()
    if gate is not None:
        await gate.leaving()


async def not_sent() -> None:
    """Called by a channel whose request for the current row was refused before any part of the row
    left (a rate limit): the row is `queued` again and its in-flight slot free while the channel waits;
    its next `leaving()` claims it anew. A crash meanwhile leaves it queued, so it is simply sent."""
    gate = current_gate.get()
    if gate is not None and gate.begun:
        await gate._dispatcher._step_back(gate)


def gate_begun() -> bool:
    """Whether the current outbox row is already on the wire (its later parts must follow it)."""
    gate = current_gate.get()
    return gate is not None and gate.begun


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


_KINDS: dict[tuple[type, type], bool] = {}


def _is_a(channel: object, protocol: type) -> bool:
    """`isinstance(channel, protocol)` for a runtime-checkable protocol, remembered per class (the
    check walks the protocol's attributes every time, a real cost on every message sent)."""
    key = (type(channel), protocol)
    known = _KINDS.get(key)
    if known is None:
        known = _KINDS[key] = isinstance(channel, protocol)
    return known


def _is_voice(channel: object) -> bool:
    return _is_a(channel, VoiceChannel)


def _is_keyed(channel: object) -> bool:
    return _is_a(channel, KeyedChannel)


def outbox_key(outbox_id: int) -> str:
    """The idempotency key of an outbox row."""
    return f"outbox-{outbox_id}"


class ResultWrites:
    """Results of sends go to the writer together: each joins the write already queued for results (if
    that write has not yet begun) instead of being a write of its own, so a busy sender records dozens of
    results with one statement. The write takes what has joined it when it runs; a result that comes
    later starts the next one. Writes commit in the order they are queued, so a result is on disk before
    anything queued after it joined (the contact's next row, their next turn)."""

    def __init__(self, db: Store) -> None:
        self.db = db
        self._lock = threading.Lock()  # `add` runs on the loop, the write on the writer's thread
        self._joining: list[store.SendOutcome] = []
        self._queued: asyncio.Future[None] | None = None  # the write the next result joins

    def add(self, outcome: store.SendOutcome) -> "asyncio.Future[None]":
        """Queue `outcome`; the future resolves once it is committed."""
        with self._lock:
            if self._queued is None:
                self._queued = self.db.submit(_TakeResults(self))
            self._joining.append(outcome)
            return self._queued

    def take(self) -> list[store.SendOutcome]:
        """On the writer: the results that joined the write now running; later ones start another."""
        with self._lock:
            taken, self._joining, self._queued = self._joining, [], None
        return taken


class _TakeResults:
    """The write of `ResultWrites`: takes its results once, and records the same ones if it runs again
    (its batch failed and each job runs alone)."""

    __slots__ = ("_outcomes", "_results")

    def __init__(self, results: ResultWrites) -> None:
        self._results = results
        self._outcomes: list[store.SendOutcome] | None = None

    def __call__(self, tx: Tx) -> None:
        if self._outcomes is None:
            self._outcomes = self._results.take()
        store.record_results(tx, self._outcomes)


class Dispatcher:
    """Sends outbox rows through the channel that owns each contact's scheme."""

    def __init__(
        self,
        db: Store,
        channels: dict[str, Channel],
        *,
        clock: Callable[[], datetime],
        poll_seconds: float = 2.0,
        in_flight: int = 24,
        fallback: Channel | None = None,
        quiet: QuietHours | None = None,
        chunk: int = 64,
        max_batches: int = 4,
        voice: VoiceRenderer | None = None,
        holder: str = "replica:local",
        recover_every: float = 10.0,
    ) -> None:
        self.db = db
        # This process's name (its `replica:` lease): written into the rows it claims, so other
        # processes on a shared store leave them alone while it lives and resolve them when it is gone.
        self.holder = holder
        self.recover_every = recover_every
        self.voice = voice
        self.channels = channels
        self.fallback = fallback
        self.quiet = quiet
        self.chunk = chunk
        self.max_batches = max_batches
        self.clock = clock
        self.poll_seconds = poll_seconds
        # At most `in_flight` rows are `sending` at once (the most a kill -9 can leave in doubt); bulk
        # rows may take all but one of those slots, so a reply never waits behind a broadcast.
        self.in_flight = max(1, in_flight)
        self._slots = asyncio.Semaphore(self.in_flight)
        self._bulk_slots = asyncio.Semaphore(max(1, self.in_flight - 1))
        self._held: set[int] = set()  # rows handed to a channel by this process, not yet finished
        self._waiting: dict[asyncio.Task[None], SendGate] = {}  # each contact task's current row
        self._stopping = False
        self._wake = asyncio.Event()
        # Awaited before each row is sent (the service gives way to webhook receipts here).
        self.before_send: Callable[[], Awaitable[None]] | None = None
        self.sending_now = 0  # rows marked `sending` right now (for tests and benchmarks)
        self.most_sending = 0
        self._results = ResultWrites(db)
        # Results writes queued and not yet committed (see `_finish`, `recorded`).
        self._recording: set[asyncio.Future[None]] = set()

    def _channel_of(self, contact_id: str) -> Channel | None:
        """The channel that owns the contact's scheme (else the fallback, if any)."""
        return self.channels.get(contact_id.split(":", 1)[0], self.fallback)

    async def recover(self) -> int:
        """Resolve rows left `sending` by a dead process; return how many were found.

        A keyed channel is asked whether each was delivered (re-queued if not); for other channels the
        row becomes `unknown` and is not re-sent. Rows of a scheme with no channel yet are left alone
        (the runner registers platform channels after start-up and calls this again).
        """
        interrupted = await self.db.write(partial(store.interrupted, holder=self.holder, at=self.clock()))
        verdicts: list[tuple[int, bool | None]] = []
        for outbox_id, contact_id in interrupted:
            if outbox_id in self._held:
                continue  # being sent by this process right now
            channel = self._channel_of(contact_id)
            if channel is None:
                continue
            verdict = (
                await channel.delivered(outbox_key(outbox_id)) if isinstance(channel, KeyedChannel) else None
            )
            verdicts.append((outbox_id, verdict))
        if verdicts:
            await self.db.write(partial(store.resolve_interrupted, verdicts=verdicts, at=self.clock()))
            unknown = sum(1 for _, verdict in verdicts if verdict is None)
            if unknown:
                log.warning(
                    "%d outbound messages were interrupted mid-send; not re-sent unless staff choose to",
                    unknown,
                )
        return len(verdicts)

    async def reserve(self, contact_id: str, count: int) -> int:
        """How many of a turn's first `count` replies to `contact_id` may be written `sending` by the
        turn's own commit: their requests leave right after it, so a separate mark would only add a
        write each. An in-flight slot is taken for each: for the first, waiting for one to be free
        (as its mark would), the others only if free now. None for a channel that paces its requests
        (it marks each row once its pacing slot is taken).
        """
        if self._stopping or count < 1:
            return 0
        channel = self._channel_of(contact_id)
        if channel is None or getattr(channel, "marks_sending", False) or _is_keyed(channel):
            return 0
        await self._slots.acquire()
        if self._stopping:
            self._slots.release()
            return 0
        taken = 1
        while taken < count and not self._slots.locked():
            await self._slots.acquire()  # returns at once: a slot is free
            taken += 1
        self.sending_now += taken
        self.most_sending = max(self.most_sending, self.sending_now)
        return taken

    def unreserve(self, count: int) -> None:
        """Give back `count` slots `reserve` took for rows that were not written `sending`."""
        for _ in range(count):
            self.sending_now -= 1
            self._slots.release()

    def give_back(self, records: list[OutboxRecord]) -> None:
        """Rows written `sending` (`reserve`) that will not be sent by this turn: queued again (their
        requests never left), their slots freed once that is committed."""
        try:
            future = self.db.submit(
                partial(store.unclaim_all, outbox_ids=[record.id for record in records], at=self.clock())
            )
        except RuntimeError:  # the store is closed: they are resolved as interrupted at the next start
            self.unreserve(len(records))
            return
        self._recording.add(future)
        future.add_done_callback(lambda done: self.unreserve(len(records)))
        future.add_done_callback(self._result_committed)

    async def deliver(self, records: list[OutboxRecord], *, recorded: bool = True) -> None:
        """Send `records` (in order per contact, contacts concurrently), recording each result; return
        once those results are committed. `recorded=False` (a turn's replies): once each has left and
        its result is queued for the writer: the person has the answer, and what is queued commits
        before anything queued after it (the contact's next row, its next turn)."""
        records = [record for record in records if record.id not in self._held]
        if not records:
            return
        ids = {record.id for record in records}
        self._held |= ids
        results: list[asyncio.Future[None]] = []
        try:
            by_contact: dict[str, list[OutboxRecord]] = defaultdict(list)
            for record in records:
                by_contact[record.contact_id].append(record)
            if len(by_contact) == 1 and all(record._taken for record in records):
                # A turn's replies, all written `sending` by its commit: sent by the turn's own task (a
                # task of their own would cost a pass of the event loop before they leave, their
                # in-flight slots held all the while). Nothing here waits for a slot, so a stop never
                # cancels this task (`stop` cancels only senders still waiting for one).
                await self._send_in_order(records, results)
            else:
                tasks = [
                    asyncio.create_task(self._send_in_order(items, results)) for items in by_contact.values()
                ]
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._held -= ids
        if recorded and results:
            await asyncio.gather(*results, return_exceptions=True)

    async def _send_in_order(self, items: list[OutboxRecord], results: "list[asyncio.Future[None]]") -> None:
        task = asyncio.current_task()
        assert task is not None
        upcoming = 0  # items[upcoming:] have not begun to be sent
        try:
            for record in items:
                gate = SendGate(self, record)
                gate.begun = record._taken  # written `sending` by its turn, its slot already held
                self._waiting[task] = gate
                if self._stopping:
                    return  # the rest stays queued for the next start
                upcoming += 1
                if self.before_send is not None:
                    await self.before_send()
                result = await self._send_one(record, gate)
                if result is not None:
                    recorded = self._finish(gate, result)
                    if recorded is not None:
                        results.append(recorded)
                elif gate.begun:
                    self._release(gate)
        finally:
            self._waiting.pop(task, None)
            # Rows their turn wrote `sending` that never began to leave (a stop, a cancelled turn) are
            # queued again, as if never claimed.
            taken = [item for item in items[upcoming:] if item._taken]
            if taken:
                self.give_back(taken)

    async def _begin(self, gate: SendGate) -> None:
        if self._stopping:
            raise Released
        if gate.bulk:
            await self._bulk_slots.acquire()
        try:
            await self._slots.acquire()
        except BaseException:
            if gate.bulk:
                self._bulk_slots.release()
            raise
        if self._stopping:
            self._free(gate)
            raise Released
        gate.begun = True  # from here on the row is not given back: it goes out, then is recorded
        self.sending_now += 1
        self.most_sending = max(self.most_sending, self.sending_now)
        try:
            await self.db.write(
                partial(store.take, outbox_id=gate.record.id, holder=self.holder, at=self.clock())
            )
        except store.NotClaimed:  # cancelled by staff meanwhile, or not queued any more
            self._release(gate)
            raise Released from None
        except BaseException:
            self._release(gate)
            raise

    async def _step_back(self, gate: SendGate) -> None:
        try:
            await self.db.write(partial(store.unclaim, outbox_id=gate.record.id, at=self.clock()))
        finally:
            self._release(gate)

    def _free(self, gate: SendGate) -> None:
        self._slots.release()
        if gate.bulk:
            self._bulk_slots.release()

    def _release(self, gate: SendGate) -> None:
        if gate.begun:
            gate.begun = False
            self.sending_now -= 1
            self._free(gate)

    def _finish(self, gate: SendGate, result: SendResult) -> "asyncio.Future[None] | None":
        """Queue the row's result for the writer (None: nothing to record); free its slot."""
        if not gate.begun and result.status == OutboxStatus.QUEUED:
            return None  # never left: still queued as it was
        try:
            at = self.clock()
            recorded = self._results.add(
                store.SendOutcome(
                    gate.record.id,
                    result.status,
                    at,
                    error=result.error,
                    external_id=result.external_id,
                    # a retry: not before a short pause
                    retry_at=at + RETRY_PAUSE if result.status == OutboxStatus.QUEUED else None,
                )
            )
        finally:
            # The slot is free as soon as the result is queued: writes commit in the order they are
            # queued, so the next row's `sending` mark never reaches the disk before this row's result,
            # and at most `in_flight` rows are ever marked without a result.
            self._release(gate)
        # The contact's next row and turn need not wait for the commit: what is queued commits before
        # anything queued after it. `recorded()` waits for all of them.
        if recorded not in self._recording:  # the first result to join this write
            self._recording.add(recorded)
            recorded.add_done_callback(self._result_committed)
        return recorded

    def _result_committed(self, recorded: "asyncio.Future[None]") -> None:
        self._recording.discard(recorded)
        if not recorded.cancelled() and recorded.exception() is not None:
            log.error(
                "what became of a message could not be recorded (%s); it is resolved at the next start",
                type(recorded.exception()).__name__,
            )

    async def recorded(self) -> None:
        """Wait until the result of every message this process has sent so far is committed."""
        while self._recording:
            await asyncio.gather(*self._recording, return_exceptions=True)

    async def _send_one(self, record: OutboxRecord, gate: SendGate) -> SendResult | None:
        """The row's result (None: not sent, still queued)."""
        scheme = record.contact_id.split(":", 1)[0]
        channel = self._channel_of(record.contact_id)
        if channel is None:
            return SendResult(OutboxStatus.FAILED, error=f"no channel for scheme {scheme!r}")
        row_token = current_outbox_row.set(record)
        gate_token = current_gate.set(gate)
        voice_token = current_voice_note.set(None)
        try:
            # A row just committed by a conversation step carries its reply; others are read back.
            reply = record.reply if isinstance(record.reply, Reply) else Reply.from_json(record.payload)
            # A platform channel sends the voice note as its own message after the text, so the text is
            # never held up by synthesis; channels that show it beside the text need the file first.
            separate = _is_voice(channel)
            if not separate:
                current_voice_note.set(await self._voice_note(reply))
            if _is_keyed(channel):
                await gate.leaving()
                result = await self._send_keyed(cast(KeyedChannel, channel), record, reply)
            else:
                if not getattr(channel, "marks_sending", False):
                    await gate.leaving()
                result = await channel.send(record.contact_id, reply)
            if separate and result.status == OutboxStatus.SENT:
                audio = await self._voice_note(reply)
                if audio is not None:
                    await self._send_voice(channel, record, audio)
            return result
        except Released:
            return None
        except Exception as exc:  # a channel bug must not stop the sender
            log.exception("channel %s failed to send outbox row %d", scheme, record.id)
            if not gate.begun:
                return SendResult(OutboxStatus.FAILED, error=type(exc).__name__)
            return SendResult(OutboxStatus.UNKNOWN, error=type(exc).__name__)
        finally:
            current_voice_note.reset(voice_token)
            current_gate.reset(gate_token)
            current_outbox_row.reset(row_token)

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
        """Ask `run` to return: rows waiting for a slot are given back (still `queued`), rows on the
        wire are finished and recorded, so a graceful stop leaves nothing in doubt."""
        self._stopping = True
        for task, gate in list(self._waiting.items()):
            if not gate.begun:
                task.cancel()
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

        shared = self.db.dialect != "sqlite"
        recovered = time.monotonic()
        try:
            while not self._stopping:
                self._wake.clear()
                if shared and time.monotonic() - recovered >= self.recover_every:
                    # Another process may have died with rows on the wire: resolve them once its
                    # lease has expired (a process alone on its store found them all at start).
                    recovered = time.monotonic()
                    with contextlib.suppress(Exception):
                        await self.recover()
                if len(batches) < self.max_batches:
                    rows = [
                        row
                        for row in await self._pending()
                        if row.contact_id not in busy and row.id not in self._held
                    ]
                    if rows and not self._stopping:
                        rows = rows[: self.chunk]
                        contacts = {row.contact_id for row in rows}
                        busy |= contacts
                        task = asyncio.create_task(self.deliver(rows))
                        batches.add(task)
                        task.add_done_callback(partial(finished, contacts=contacts))
                        continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_seconds):
                        await self._wake.wait()
        finally:
            if batches:
                await asyncio.gather(*batches, return_exceptions=True)

    async def _pending(self) -> list[OutboxRecord]:
        now = self.clock()
        include_bulk = self.quiet is None or not self.quiet.active(now)
        schemes = None if self.fallback else list(self.channels)
        # Rows already handed to a channel are still queued: fetch past them.
        limit = self.chunk * 2 + len(self._held)
        if self.db.dialect != "sqlite":
            # Processes sharing the store reserve what each sends (a contact's rows stay together).
            return await self.db.write(
                partial(
                    store.reserve_pending,
                    holder=self.holder,
                    at=now,
                    schemes=schemes,
                    limit=limit,
                    include_bulk=include_bulk,
                    reply_grace=REPLY_GRACE,
                )
            )
        return await repo.pending_outbox(
            self.db, schemes, limit=limit, now=now, include_bulk=include_bulk, reply_grace=REPLY_GRACE
        )
