"""The conversation engine: one inbound event -> one step of the contact's flow -> queued replies.

State, answers and replies (outbox rows) are committed in one transaction before anything is sent.
Events of one contact are handled strictly one at a time, in arrival order; different contacts run
concurrently. Inbound ids are recorded in the same transaction, so a redelivery changes nothing.
"""

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from handlers import router
from handlers.turn import Services, Turn
from handlers.types import Inbound
from storage import repo
from storage.records import ContactRecord, ConversationRecord, OutboxRecord

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
AfterCommit = Callable[[list[OutboxRecord]], Awaitable[None]]


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


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


class Engine:
    """Runs conversation steps against the store."""

    def __init__(self, services: Services, *, default_language: str = "id", clock: Clock = utcnow) -> None:
        self.services = services
        self.default_language = default_language
        self.clock = clock
        self.locks = KeyedLocks()

    async def handle(self, event: Inbound, after_commit: AfterCommit | None = None) -> list[OutboxRecord]:
        """Handle one event; return the replies it queued (empty for a redelivered event).

        `after_commit` runs inside the contact's turn, so replies to one contact leave in order.
        """
        async with self.locks.hold(event.contact):
            records = await self._step(event)
            if records and after_commit is not None:
                await after_commit(records)
            return records

    async def _step(self, event: Inbound) -> list[OutboxRecord]:
        state = await repo.load_turn_state(self.services.db, event.contact, event.event_id)
        if state.seen:
            log.info("redelivered event ignored")
            return []
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
        result = await self.services.db.write(lambda conn: self._commit(conn, turn, event))
        if result is None:
            log.info("redelivered event ignored at commit")
            return []
        return result

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
    def _commit(conn: sqlite3.Connection, turn: Turn, event: Inbound) -> list[OutboxRecord] | None:
        contact = turn.contact
        turn.late_replies.clear()  # a batch that was rolled back runs this again
        if event.event_id and not repo.record_inbound(conn, event.event_id, contact.id, turn.now):
            return None
        repo.upsert_contact(conn, contact)
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
        return [
            repo.insert_outbox(
                conn, contact_id=contact.id, payload=reply.to_json(), origin="reply", at=turn.now
            )
            for reply in turn.outgoing()
        ]
