"""The conversation engine: one inbound event -> one step of the contact's flow -> queued replies.

State, answers and replies (outbox rows) are committed in one transaction before anything is sent.
Events of one contact are handled strictly one at a time, in arrival order; different contacts run
concurrently. Inbound ids are recorded in the same transaction, so a redelivery changes nothing.
"""

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Protocol

from handlers import router
from handlers.turn import Services, Turn
from handlers.types import Inbound
from storage import contacts, repo, turns
from storage.contract import Store, Tx
from storage.records import ContactRecord, ConversationRecord, OutboxRecord

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
AfterCommit = Callable[[list[OutboxRecord]], Awaitable[None]]


class Sender(Protocol):
    """Who sends a turn's replies (`bot.outbox.Dispatcher`): it may take the first of them at once."""

    async def reserve(self, contact_id: str, count: int) -> int:
        """How many of a turn's first `count` replies to `contact_id` leave right after the commit
        (an in-flight slot is now held for each): those rows are written `sending`."""
        ...

    def unreserve(self, count: int) -> None:
        """Give back `count` slots `reserve` took for rows that were not written."""
        ...

    def give_back(self, records: list[OutboxRecord]) -> None:
        """Rows written `sending` that this process will not send after all (its turn was cancelled
        while the commit was on its way): queue them again and free their slots."""
        ...

    async def deliver(self, records: list[OutboxRecord], *, recorded: bool = True) -> None:
        """Send a turn's rows, in order (`recorded=False`: return once each has left, not waiting for
        its result to be committed)."""
        ...


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class _Stale:
    """A turn computed on a conversation another process has moved since (nothing was written)."""


_STALE = _Stale()
STALE_RETRIES = 10


class KeyedLocks:
    """One FIFO lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the lock of `key` for the duration of the block."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key]
                del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)


Job = Callable[[], Awaitable[None]]
Reload = Callable[[Hashable, object], Awaitable[Job | None]]
OnFlood = Callable[[Hashable, int], Awaitable[None]]


class FairLanes:
    """Per-contact FIFO lanes served in turn, so one flooding contact costs the others almost nothing.

    One contact's jobs run one after another in arrival order; different contacts run concurrently, at
    most `concurrency` at once, each taking its turn at the back of the line after every job (round
    robin). A contact keeps at most `backlog` jobs in memory; beyond that only a small token is kept
    (the event itself is already stored durably, e.g. in the webhook inbox) and `reload` turns it back
    into a job when its turn comes. So a flood is never dropped, memory stays bounded by the backlog,
    and the flood is reported once: a log line (no identifiers) and `on_flood` (a mark on the contact).
    """

    def __init__(
        self,
        concurrency: int,
        *,
        backlog: int = 16,
        reload: Reload | None = None,
        on_flood: OnFlood | None = None,
        name: str = "lane",
    ) -> None:
        self.concurrency = max(1, concurrency)
        self.backlog = max(1, backlog)
        self._reload = reload
        self._on_flood = on_flood
        self._name = name
        self._jobs: dict[Hashable, deque[Job]] = {}
        self._spilled: dict[Hashable, deque[object]] = {}
        self._ready: deque[Hashable] = deque()  # contacts with work waiting for their turn
        self._active: set[Hashable] = set()  # contacts waiting for their turn or running
        self._flooding: dict[Hashable, bool] = {}  # contact -> reported to `on_flood` yet
        self._workers: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self.pending = 0  # jobs queued or running, spilled ones included
        self.in_memory = 0  # jobs held in memory (spilled ones are tokens only)
        self.floods = 0  # flood episodes seen
        self._stopping = False

    def submit(self, key: Hashable, job: Job, token: object | None = None) -> None:
        """Queue `job` behind the contact's earlier jobs; past the backlog only `token` is kept."""
        self.pending += 1
        jobs = self._jobs.setdefault(key, deque())
        spilled = self._spilled.get(key)
        if token is not None and self._reload is not None and (spilled or len(jobs) >= self.backlog):
            if spilled is None:
                spilled = self._spilled[key] = deque()
            spilled.append(token)
            if key not in self._flooding:
                self._flooding[key] = False
                self.floods += 1
                log.warning(
                    "a %s contact sent more than %d messages before the first were answered; the rest "
                    "are kept in the store and answered in turn with everyone else",
                    self._name,
                    self.backlog,
                )
        else:
            jobs.append(job)
            self.in_memory += 1
        if key not in self._active:
            self._active.add(key)
            self._ready.append(key)
            self._start_workers()

    def queued(self, key: Hashable) -> int:
        """Jobs of one contact waiting (in memory or spilled)."""
        return len(self._jobs.get(key, ())) + len(self._spilled.get(key, ()))

    def _start_workers(self) -> None:
        # One more worker per newly active contact, up to `concurrency`; busy workers take the rest.
        if len(self._workers) < self.concurrency:
            worker = asyncio.create_task(self._work(), name=f"{self._name}-worker")
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)

    async def _next(self, key: Hashable) -> Job | None:
        jobs = self._jobs.get(key)
        if jobs:
            self.in_memory -= 1
            return jobs.popleft()
        spilled = self._spilled.get(key)
        if spilled:
            token = spilled.popleft()
            if not spilled:
                del self._spilled[key]
            assert self._reload is not None
            return await self._reload(key, token)
        return None

    async def _work(self) -> None:
        while self._ready and not self._stopping:
            key = self._ready.popleft()
            try:
                job = await self._next(key)
                if job is not None:
                    await job()
            except Exception:  # one bad event must not stop the contact's later ones
                log.exception("a queued %s event failed", self._name)
            finally:
                self.pending -= 1
            if self._flooding.get(key) is False and self._on_flood is not None:
                self._flooding[key] = True
                try:
                    await self._on_flood(key, self.queued(key))
                except Exception:
                    log.exception("could not mark a flooding %s contact", self._name)
            if self.queued(key):
                self._ready.append(key)  # its next job waits for everyone else's turn
            else:
                self._active.discard(key)
                self._jobs.pop(key, None)
                self._flooding.pop(key, None)
            async with self._changed:
                self._changed.notify_all()

    async def wait_below(self, limit: int) -> None:
        """Wait until fewer than `limit` jobs are held in memory (back-pressure for a reader)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_memory < limit)

    async def join(self) -> None:
        """Wait until every queued job has run."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.pending < 1)

    async def close(self, grace: float = 0.0) -> None:
        """Stop taking jobs: those running may finish within `grace` seconds, then are cancelled.

        What is left was stored before it was queued, and is handled at the next start.
        """
        self._stopping = True
        workers = list(self._workers)
        if workers and grace > 0:
            await asyncio.wait(workers, timeout=grace)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


async def mark_flooding(db: Store, clock: Clock, scheme: str, key: Hashable, waiting: int) -> None:
    """Mark the contact of a lane key (`telegram` user id, or a full `scheme:address`) as flooding."""
    if isinstance(key, str) and key.startswith(f"{scheme}:"):
        contact = key
    elif isinstance(key, int):
        contact = f"{scheme}:{key}"
    else:
        return
    await db.write(partial(contacts.mark_flooding, contact_id=contact, waiting=waiting, at=clock()))


class Engine:
    """Runs conversation steps against the store."""

    def __init__(self, services: Services, *, default_language: str = "id", clock: Clock = utcnow) -> None:
        self.services = services
        self.default_language = default_language
        self.clock = clock
        self.locks = KeyedLocks()
        # This process's name among those sharing the store (its `replica:` lease): a turn's replies are
        # reserved for it, so no other process sends them while it lives (see storage.outbox).
        self.holder: str | None = None

    async def handle(
        self, event: Inbound, after_commit: AfterCommit | None = None, *, sender: Sender | None = None
    ) -> list[OutboxRecord]:
        """Handle one event; return the replies it queued (empty for a redelivered event).

        `after_commit` (or the `sender`'s `deliver`) runs inside the contact's turn, so replies to one
        contact leave in order. A `sender` may have the first replies written `sending` in the turn's
        own commit (see `Sender.reserve`), which spares each a write of its own before it leaves.
        """
        async with self.locks.hold(event.contact):
            records = await self._step(event, sender)
            if records:
                if sender is not None:
                    await sender.deliver(records, recorded=False)
                elif after_commit is not None:
                    await after_commit(records)
            return records

    async def _step(self, event: Inbound, sender: Sender | None = None) -> list[OutboxRecord]:
        for _ in range(STALE_RETRIES):
            result = await self._attempt(event, sender)
            if not isinstance(result, _Stale):
                return result
            # Another process sharing the store moved this contact's conversation meanwhile (two of
            # its deliveries reached two processes): run the turn again on the state it left.
            log.info("conversation moved by another process; turn run again")
        raise RuntimeError("the conversation kept moving under this turn")

    async def _attempt(self, event: Inbound, sender: Sender | None = None) -> "list[OutboxRecord] | _Stale":
        state = await repo.load_turn_state(self.services.db, event.contact, event.event_id)
        if state.seen:
            log.info("redelivered event ignored")
            return []
        read_at = state.conversation.updated_at if state.conversation is not None else None
        now = self.clock()
        contact = self._contact(state.contact, event, now)
        conversation = state.conversation
        turn = self._turn(event, contact, conversation, now)
        try:
            await router.step(turn)
        except Exception:
            # Never lose earlier answers or crash the conversation: apologise and ask again
            # from the last committed state. The log carries no message text or identifiers.
            log.exception("conversation step failed in flow %s/%s", turn.flow, turn.step)
            turn = self._turn(event, self._contact(state.contact, event, now), conversation, now)
            turn.say(turn.t("err.internal"))
            try:
                await router.resume_current(turn)
            except Exception:
                log.exception("could not ask again after a failed step")
        try:
            return await self._commit_turn(turn, event, read_at, sender, state.contact)
        except turns.TurnMoved:
            return _STALE  # nothing written: the turn runs again on the state now stored
        except turns.Redelivered:
            log.info("redelivered event ignored at commit")
            return []

    async def _commit_turn(
        self,
        turn: Turn,
        event: Inbound,
        read_at: datetime | None,
        sender: Sender | None,
        stored: ContactRecord | None = None,
    ) -> list[OutboxRecord]:
        """Commit the turn (`stored`: the contact as the turn read it). With a `sender`, slots are
        reserved first for the replies it may write `sending`; those not used are given back, and a
        cancelled turn's once its commit has landed."""
        taking = await sender.reserve(event.contact, len(turn.replies)) if sender is not None else 0
        try:
            committed = self.services.db.submit(
                lambda conn: self._commit(conn, turn, event, read_at, self.holder, taking, stored)
            )
            records = await asyncio.shield(committed)
        except asyncio.CancelledError:
            if sender is not None:  # the commit goes on without this turn: settled when it lands
                committed.add_done_callback(partial(_abandoned, sender, taking))
            raise
        except BaseException:
            turn.writes.clear()
            if sender is not None:
                sender.unreserve(taking)
            raise
        # The commit has ended and its write functions never run again: dropped now, because those
        # that refer back to the turn (a reference cycle) would otherwise wait for the cycle collector,
        # whose passes stop the loop and the writer.
        turn.writes.clear()
        if sender is not None:
            sender.unreserve(taking - sum(1 for record in records if record._taken))
        return records

    def _contact(self, stored: ContactRecord | None, event: Inbound, now: datetime) -> ContactRecord:
        if stored is None:
            contact = ContactRecord(
                id=event.contact,
                channel=event.channel,
                language=self.default_language,
                created_at=now,
                updated_at=now,
            )
        else:
            contact = stored.model_copy()
        contact.last_inbound_at = now
        contact.updated_at = now
        contact.unreachable = False  # they wrote to us, so they can be reached again
        if event.channel_phone and contact.consent == "granted" and not contact.phone:
            contact.phone = event.channel_phone
        return contact

    def _turn(
        self,
        event: Inbound,
        contact: ContactRecord,
        conversation: ConversationRecord | None,
        now: datetime,
    ) -> Turn:
        return Turn(
            event=event,
            contact=contact,
            flow=conversation.flow if conversation else "new",
            step=conversation.step if conversation else "",
            data=dict(conversation.data) if conversation else {},
            started_at=conversation.started_at if conversation else now,
            updated_at=conversation.updated_at if conversation else None,
            services=self.services,
            now=now,
        )

    @staticmethod
    def _commit(
        conn: Tx,
        turn: Turn,
        event: Inbound,
        read_at: datetime | None,
        holder: str | None = None,
        taking: int = 0,
        stored: ContactRecord | None = None,
    ) -> list[OutboxRecord]:
        contact = turn.contact
        turn.late_replies.clear()  # a batch that was rolled back runs this again
        turns.hold_turn(conn, contact.id, read_at)
        if event.event_id:
            turns.record_event(conn, event.event_id, contact.id, turn.now)
        repo.save_turn_contact(conn, contact, stored)
        for write in turn.writes:
            write(conn)
        repo.save_conversation(
            conn,
            ConversationRecord(
                contact_id=contact.id,
                flow=turn.flow,
                step=turn.step,
                data=turn.stored_data(),
                started_at=turn.started_at,
                updated_at=turn.now,
            ),
        )
        records = []
        for index, reply in enumerate(turn.outgoing()):
            taken = index < taking and holder is not None
            record = turns.queue_reply(conn, contact.id, reply.to_json(), turn.now, holder, sending=taken)
            record._reply = reply  # the dispatcher sends it without reading the payload back
            record._taken = taken
            records.append(record)
        return records


def _abandoned(sender: Sender, taking: int, committed: "asyncio.Future[list[OutboxRecord]]") -> None:
    """A cancelled turn's commit has ended: give back the slots, and the rows it wrote `sending`."""
    records = [] if committed.cancelled() or committed.exception() else committed.result()
    taken = [record for record in records if record._taken]
    sender.unreserve(taking - len(taken))
    if taken:
        sender.give_back(taken)
