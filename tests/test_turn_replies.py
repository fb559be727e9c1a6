"""A turn's replies leave right after the turn's own commit, already marked `sending` in it.

The promises of the outbox still hold for them: a row is `sending` in the store before its request
leaves (so a crash leaves it in doubt, never re-sent blindly), at most the in-flight limit of rows is
`sending` at once, and rows that did not leave after all (a stop, a cancelled turn) are queued again,
not left in doubt.
"""

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.app import Service
from bot.outbox import SendResult, current_outbox_row
from handlers.types import Inbound, Reply
from storage import repo, turns
from storage.records import ContactRecord, OutboxRecord
from tests.support import Chat, Clock, RecordingChannel, on_both_backends, start_service

WAIT = 10.0  # seconds at most for anything here (each step takes milliseconds)


class WatchingChannel(RecordingChannel):
    """Reads the store as each request leaves: the row's status then, and how many rows are `sending`."""

    def __init__(self) -> None:
        super().__init__()
        self.service: Service | None = None
        self.status_when_sent: list[str] = []
        self.most_sending_seen = 0
        self.gate: asyncio.Event | None = None  # when set up, every send waits for it
        self.waiting = 0
        self._arrived = asyncio.Condition()

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        assert self.service is not None
        row = current_outbox_row.get()
        assert row is not None
        status = await self.service.db.fetchval("SELECT status FROM outbox WHERE id = ?", (row.id,))
        self.status_when_sent.append(status)
        sending = await self.service.db.fetchval("SELECT COUNT(*) FROM outbox WHERE status = 'sending'")
        self.most_sending_seen = max(self.most_sending_seen, sending)
        if self.gate is not None:
            async with self._arrived:
                self.waiting += 1
                self._arrived.notify_all()
            await self.gate.wait()
        return await super().send(contact_id, reply)

    async def until_waiting(self, count: int) -> None:
        """Until `count` requests are on the wire, held by the gate."""
        async with asyncio.timeout(WAIT), self._arrived:
            await self._arrived.wait_for(lambda: self.waiting >= count)


@asynccontextmanager
async def watched(
    tmp_path: Path, clock: Clock, database_url: str | None, **service: object
) -> AsyncIterator[tuple[Service, WatchingChannel]]:
    """A service whose console channel watches the store; closed at the end."""
    channel = WatchingChannel()
    built, _ = await start_service(tmp_path, clock, channel, database_url=database_url, **service)
    channel.service = built
    try:
        yield built, channel
    finally:
        await built.close()


async def statuses(service: Service) -> list[str]:
    return [row["status"] for row in await service.db.fetchall("SELECT status FROM outbox ORDER BY id")]


@on_both_backends
async def test_each_answer_is_marked_sending_in_the_store_before_it_leaves_and_sent_after(
    tmp_path: Path, clock: Clock, database_url: str | None
) -> None:
    async with watched(tmp_path, clock, database_url) as (service, channel):
        chat = Chat(service, channel, clock, "siti")
        assert "Selamat datang" in (await chat.say("halo"))[0].text
        await chat.tap("Setuju")
        await chat.tap("Daftar")
        assert channel.status_when_sent == ["sending", "sending", "sending"]
        await service.dispatcher.recorded()
        assert await statuses(service) == ["sent", "sent", "sent"]
        assert service.dispatcher.sending_now == 0


@on_both_backends
async def test_people_answered_at_once_never_have_more_rows_in_doubt_than_the_in_flight_limit(
    tmp_path: Path, clock: Clock, database_url: str | None
) -> None:
    async with watched(tmp_path, clock, database_url, outbox_in_flight=2) as (service, channel):
        channel.gate = asyncio.Event()
        people = [Chat(service, channel, clock, f"warga{n}") for n in range(6)]
        talking = [asyncio.create_task(person.say("halo")) for person in people]
        await channel.until_waiting(2)  # two answers on the wire; the other turns wait for a slot
        await asyncio.sleep(0.2)
        assert channel.waiting == 2
        assert await statuses(service) == ["sending", "sending"]
        channel.gate.set()
        async with asyncio.timeout(WAIT):
            await asyncio.gather(*talking)
        assert all("Selamat datang" in person.last.text for person in people)
        assert channel.most_sending_seen <= 2 and service.dispatcher.most_sending <= 2
        await service.dispatcher.recorded()
        assert await statuses(service) == ["sent"] * 6


async def test_rows_a_turn_marked_sending_that_did_not_leave_before_a_stop_are_queued_again(
    tmp_path: Path, clock: Clock
) -> None:
    async with watched(tmp_path, clock, None) as (service, channel):
        dispatcher = service.dispatcher
        await Chat(service, channel, clock, "siti").say("halo")
        channel.gate = asyncio.Event()
        channel.sent.clear()
        # A turn with two replies, both written `sending` in its commit (two slots taken for them).
        assert await dispatcher.reserve("console:siti", 2) == 2

        def commit(tx: Any) -> list[OutboxRecord]:
            records = []
            for text in ("Data Ibu sudah kami terima.", "Apa lagi yang bisa kami bantu?"):
                record = turns.queue_reply(
                    tx, "console:siti", Reply(text=text).to_json(), clock(), dispatcher.holder, sending=True
                )
                record._taken = True
                records.append(record)
            return records

        records = await service.db.write(commit)
        delivering = asyncio.create_task(dispatcher.deliver(records))
        await channel.until_waiting(1)  # the first is on the wire
        dispatcher.stop()
        channel.gate.set()
        async with asyncio.timeout(WAIT):
            await delivering
            await dispatcher.recorded()
        # The first left and is recorded sent; the second never left: queued for the next start, not in
        # doubt, and both slots are free again.
        assert [r.text for r in channel.sent["console:siti"]] == ["Data Ibu sudah kami terima."]
        assert await statuses(service) == ["sent", "sent", "queued"]
        assert dispatcher.sending_now == 0
        assert await dispatcher.reserve("console:budi", 2) == 0  # stopping: nothing is taken any more


async def test_a_turn_cancelled_while_its_commit_is_on_its_way_leaves_its_answer_queued_not_in_doubt(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with watched(tmp_path, clock, None) as (service, channel):
        dispatcher = service.dispatcher
        submit = service.db.submit
        turn_task: list[asyncio.Task[Any]] = []

        def cancel_right_after(fn: Any, **options: Any) -> "asyncio.Future[Any]":
            future = submit(fn, **options)
            if turn_task:
                turn_task[0].cancel()  # the service stops while the turn's commit is queued
            return future

        monkeypatch.setattr(service.db, "submit", cancel_right_after)
        turn_task.append(
            asyncio.create_task(service.receive(Inbound(contact="console:siti", at=clock(), text="halo")))
        )
        async with asyncio.timeout(WAIT):
            with contextlib.suppress(asyncio.CancelledError):
                await turn_task[0]
            monkeypatch.undo()
            await service.db.write(lambda tx: None)  # committed after the turn's commit, queued before it
            await dispatcher.recorded()  # the rows given back
        assert dispatcher.sending_now == 0
        # The turn committed (its state and answer are kept) but its answer never left: it is queued,
        # so the sender delivers it, rather than `sending`, which a restart would have to call in doubt.
        assert await statuses(service) == ["queued"]
        await dispatcher.deliver(await pending(service))
        assert "Selamat datang" in channel.sent["console:siti"][0].text
        assert await statuses(service) == ["sent"]


async def pending(service: Service) -> list[OutboxRecord]:
    return await repo.pending_outbox(service.db)


async def sent_now(service: Service, clock: Clock, contacts: list[str]) -> list[OutboxRecord]:
    """One answer per contact, committed `sending` as a turn does (a slot held for each)."""
    dispatcher = service.dispatcher
    for contact in contacts:
        assert await dispatcher.reserve(contact, 1) == 1

    def commit(tx: Any) -> list[OutboxRecord]:
        records = []
        for contact in contacts:
            repo.upsert_contact(
                tx, ContactRecord(id=contact, channel="console", created_at=clock(), updated_at=clock())
            )
            reply = Reply(text="Data Ibu sudah kami terima.").to_json()
            record = turns.queue_reply(tx, contact, reply, clock(), dispatcher.holder, sending=True)
            record._taken = True
            records.append(record)
        return records

    return await service.db.write(commit)


@asynccontextmanager
async def writer_held(service: Service) -> AsyncIterator[list[Any]]:
    """The store's writer busy with one long write until the block ends; yields every write queued
    meanwhile (the write functions)."""
    release = threading.Event()
    holding = service.db.submit(lambda tx: release.wait(WAIT))
    queued: list[Any] = []
    submit = service.db.submit

    def counted(fn: Any, **options: Any) -> "asyncio.Future[Any]":
        queued.append(fn)
        return submit(fn, **options)

    service.db.submit = counted  # type: ignore[method-assign]
    try:
        yield queued
    finally:
        service.db.submit = submit  # type: ignore[method-assign]
        release.set()
        await holding


@on_both_backends
async def test_answers_sent_while_the_store_is_busy_are_recorded_sent_by_one_write(
    tmp_path: Path, clock: Clock, database_url: str | None
) -> None:
    async with watched(tmp_path, clock, database_url) as (service, channel):
        contacts = [f"console:warga{n}" for n in range(10)]
        records = await sent_now(service, clock, contacts)
        async with writer_held(service) as queued:
            async with asyncio.timeout(WAIT):  # the answers leave without waiting for the store
                await service.dispatcher.deliver(records, recorded=False)
            assert sorted(channel.sent) == sorted(contacts)
        async with asyncio.timeout(WAIT):
            await service.dispatcher.recorded()
        # Ten results, one write (one statement) rather than ten: the store keeps up with busy hours.
        assert len(queued) == 1
        rows = await service.db.fetchall("SELECT status, sent_at FROM outbox ORDER BY id")
        assert [row["status"] for row in rows] == ["sent"] * 10
        assert all(row["sent_at"] is not None for row in rows)
        assert service.dispatcher.sending_now == 0


@on_both_backends
async def test_results_sharing_a_write_are_kept_when_another_write_of_the_batch_fails(
    tmp_path: Path, clock: Clock, database_url: str | None
) -> None:
    async with watched(tmp_path, clock, database_url) as (service, _):
        records = await sent_now(service, clock, ["console:siti", "console:budi"])

        def broken(tx: Any) -> None:
            raise ValueError("a write that fails")

        async with writer_held(service):
            await service.dispatcher.deliver(records, recorded=False)
            failing = service.db.submit(broken)  # in the same batch as the results, after them
        async with asyncio.timeout(WAIT):
            await service.dispatcher.recorded()
            with pytest.raises(ValueError, match="a write that fails"):
                await failing
        # The batch was rolled back and each write ran again alone: the results were written again.
        assert await statuses(service) == ["sent", "sent"]
