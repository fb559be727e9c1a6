"""Durability and concurrency: restarts resume, redeliveries change nothing, many contacts at once."""

import asyncio
import json
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import Service
from bot.outbox import SendResult
from handlers import validators
from handlers.i18n import Catalog
from handlers.places import Places
from handlers.types import Inbound, Reply
from storage import repo
from storage.crypto import Sealed
from storage.records import OutboxStatus
from tests.support import Chat, Clock, RecordingChannel, on_both_backends, start_service

CATALOG = Catalog.load()
PLACES = Places.load()

FIRST = ("Siti", "Budi", "Dewi", "Agus", "Rina", "Joko", "Wati", "Hadi", "Lina", "Eko")
LAST = ("Aminah", "Santoso", "Lestari", "Saputra", "Wulandari", "Hidayat", "Kurnia", "Pratama",
        "Rahayu", "Setiawan", "Utami", "Nugroho", "Fitriani", "Gunawan", "Maharani", "Siregar",
        "Halim", "Yusuf", "Permata", "Ramadhan")  # fmt: skip


def t(key: str, lang: str = "id", **params: object) -> str:
    return CATALOG.text(lang, key, **params)


@dataclass(frozen=True)
class Citizen:
    """What one simulated contact types during a self-registration; every value differs per index."""

    index: int

    @property
    def contact(self) -> str:
        return f"console:warga{self.index}"

    @property
    def name(self) -> str:
        return f"{FIRST[self.index % len(FIRST)]} {LAST[self.index // len(FIRST) % len(LAST)]}"

    @property
    def day(self) -> int:
        return 1 + self.index % 28

    @property
    def nik(self) -> str:
        # Region 367401, a woman (day + 40) born on `day` August 1985, a serial unique per contact.
        return f"367401{self.day + 40:02d}0885{self.index + 1:04d}"

    @property
    def phone_typed(self) -> str:
        return f"0812 {self.index:04d} {self.index:04d}"

    @property
    def phone_stored(self) -> str:
        return f"+62812{self.index:04d}{self.index:04d}"

    @property
    def kelurahan_code(self) -> str:
        district = PLACES.kecamatan[self.index % len(PLACES.kecamatan)]
        villages = PLACES.kelurahan_of(district.code)
        return villages[self.index // len(PLACES.kecamatan) % len(villages)].code

    @property
    def kecamatan_code(self) -> str:
        return self.kelurahan_code.rsplit(".", 1)[0]

    @property
    def household_size(self) -> int:
        return 2 + self.index % 5

    def script(self) -> list[dict[str, str]]:
        """Every event of a complete self-registration, from the first hello to the send button."""
        return [
            {"text": "halo"},
            {"choice": "consent:yes"},
            {"choice": "menu:registration"},
            {"choice": "for_whom:self"},
            {"text": self.name.lower()},
            {"text": self.nik},  # the NIK answers the birth date and sex questions
            {"text": self.phone_typed},
            {"choice": f"kecamatan:{self.kecamatan_code}"},
            {"choice": f"kelurahan:{self.kelurahan_code}"},
            {"text": f"Gang Mawar RT 0{self.index % 9 + 1}/RW 02"},
            {"text": str(self.household_size)},
            {"text": "1 3"},
            {"text": "tidak"},
            {"text": "1 2"},
            {"choice": "aid_received:none"},
            {"choice": "summary:send"},
        ]

    def event(self, number: int, at: datetime) -> Inbound:
        step = self.script()[number]
        return Inbound(
            contact=self.contact,
            at=at,
            event_id=f"test:{self.index}:{number}",
            text=step.get("text"),
            choice=step.get("choice"),
        )


async def check_registered(service: Service, citizen: Citizen) -> str:
    """The contact's one person and one case hold exactly what this contact typed; return the reference."""
    persons = await repo.persons_of_contact(service.db, citizen.contact)
    assert len(persons) == 1, citizen
    person = persons[0]
    assert person.is_self
    assert person.full_name == citizen.name
    assert person.nik is not None and service.services.sealer.open(person.nik) == citizen.nik
    assert person.birth_date == date(1985, 8, citizen.day)
    assert person.phone == citizen.phone_stored
    assert person.kelurahan_code == citizen.kelurahan_code
    assert person.household_size == citizen.household_size
    assert person.skills == ["masak", "menjahit"] and person.documents == ["ktp", "kk"]
    cases = await repo.cases_of_contact(service.db, citizen.contact)
    assert len(cases) == 1, citizen
    case = cases[0]
    assert case.kind == "registration" and case.status == "baru"
    assert case.person_id == person.id and case.duplicate_of is None
    assert case.subject_name == citizen.name
    assert (case.kecamatan_code, case.kelurahan_code) == (citizen.kecamatan_code, citizen.kelurahan_code)
    assert case.nik_hash == service.services.sealer.lookup_hash(citizen.nik)
    return case.reference


async def run_steps(service: Service, citizen: Citizen, clock: Clock, steps: range) -> None:
    for number in steps:
        assert await service.receive(citizen.event(number, clock())), f"no reply to step {number}"


async def conversation(service: Service, contact: str) -> tuple[str, str, dict[str, Any]]:
    row = await service.db.fetchone(
        "SELECT flow, step, data FROM conversations WHERE contact_id = ?", (contact,)
    )
    assert row is not None
    return row["flow"], row["step"], json.loads(row["data"])["answers"]


KELURAHAN_STEP = 8  # index in Citizen.script() of the kelurahan answer
HOUSEHOLD_STEP = 10  # ... and of the household size


# ------------------------------------------------------------------------------------------- restarts


@on_both_backends
async def test_restart_resumes_at_the_same_question(
    tmp_path: Path, clock: Clock, database_url: str | None
) -> None:
    citizen = Citizen(7)
    first, channel = await start_service(tmp_path / "data", clock, database_url=database_url)
    await run_steps(first, citizen, clock, range(KELURAHAN_STEP))
    district = PLACES.kecamatan_by_code(citizen.kecamatan_code).name
    assert channel.sent[citizen.contact][-1].text == t("reg.q.kelurahan", kecamatan=district)
    before = await conversation(first, citizen.contact)
    await first.close()

    clock.advance(minutes=5)
    second, channel2 = await start_service(tmp_path / "data", clock, database_url=database_url)
    try:
        assert await conversation(second, citizen.contact) == before
        flow, _, answers = before
        assert flow == "registration"
        await run_steps(second, citizen, clock, range(KELURAHAN_STEP, KELURAHAN_STEP + 1))
        # The kelurahan answer was taken as the answer to the question asked before the restart.
        assert channel2.sent[citizen.contact][-1].text == t("reg.q.address.self")
        await run_steps(second, citizen, clock, range(KELURAHAN_STEP + 1, len(citizen.script())))
        reference = await check_registered(second, citizen)
        assert reference in channel2.sent[citizen.contact][-1].text
        assert answers["full_name"] == citizen.name and answers["sex"] == "P"
    finally:
        await second.close()


async def test_restart_after_a_long_pause_offers_to_continue(tmp_path: Path, clock: Clock) -> None:
    citizen = Citizen(3)
    first, _ = await start_service(tmp_path / "data", clock)
    await run_steps(first, citizen, clock, range(KELURAHAN_STEP))
    await first.close()

    clock.advance(hours=5)
    second, channel = await start_service(tmp_path / "data", clock)
    try:
        chat = Chat(second, channel, clock, name=f"warga{citizen.index}")
        await chat.say("halo")
        assert chat.last.text == t("resume.prompt", title=t("reg.title"))
        await chat.tap(t("resume.continue"))
        district = PLACES.kecamatan_by_code(citizen.kecamatan_code).name
        assert chat.last.text == t("reg.q.kelurahan", kecamatan=district)
        await run_steps(second, citizen, clock, range(KELURAHAN_STEP, len(citizen.script())))
        await check_registered(second, citizen)
    finally:
        await second.close()


# ------------------------------------------------------------------------------------ redeliveries


@on_both_backends
async def test_same_event_twice_is_handled_once(
    service: Service, channel: RecordingChannel, clock: Clock
) -> None:
    citizen = Citizen(1)
    await run_steps(service, citizen, clock, range(4))
    name_event = citizen.event(4, clock())
    first = await service.receive(name_event)
    again = await service.receive(name_event)
    assert len(first) == 1 and again == []
    assert [r.text for r in channel.sent[citizen.contact][-1:]] == [t("reg.q.nik.self")]
    _, step, answers = await conversation(service, citizen.contact)
    assert step == "nik"
    assert answers["full_name"] == citizen.name and "nik" not in answers
    # Had the copy been taken as the next answer, the NIK would now be refused as a name.
    await service.receive(citizen.event(5, clock()))
    assert channel.sent[citizen.contact][-1].text == t("reg.q.phone.self")
    assert await service.db.fetchval("SELECT COUNT(*) FROM inbound WHERE id = ?", (name_event.event_id,)) == 1


@on_both_backends
async def test_concurrent_redeliveries_give_one_reply_and_one_state_change(
    service: Service, channel: RecordingChannel, clock: Clock
) -> None:
    citizen = Citizen(2)
    await run_steps(service, citizen, clock, range(4))
    sent_before = len(channel.sent[citizen.contact])
    name_event = citizen.event(4, clock())
    results = await asyncio.gather(*(service.receive(name_event) for _ in range(8)))
    assert sorted(len(r) for r in results) == [0] * 7 + [1]
    assert [r.text for r in channel.sent[citizen.contact][sent_before:]] == [t("reg.q.nik.self")]
    outbox = await service.db.fetchval("SELECT COUNT(*) FROM outbox WHERE contact_id = ?", (citizen.contact,))
    assert outbox == len(channel.sent[citizen.contact])
    _, _, answers = await conversation(service, citizen.contact)
    assert answers["full_name"] == citizen.name and "nik" not in answers


@on_both_backends
async def test_redelivery_after_restart_changes_nothing(
    tmp_path: Path, clock: Clock, database_url: str | None
) -> None:
    citizen = Citizen(4)
    first, _ = await start_service(tmp_path / "data", clock, database_url=database_url)
    await run_steps(first, citizen, clock, range(6))
    state = await conversation(first, citizen.contact)
    await first.close()

    second, channel = await start_service(tmp_path / "data", clock, database_url=database_url)
    try:
        for number in range(6):  # the platform redelivers everything it had sent
            assert await second.receive(citizen.event(number, clock())) == []
        assert channel.sent[citizen.contact] == []
        assert await conversation(second, citizen.contact) == state
        await run_steps(second, citizen, clock, range(6, len(citizen.script())))
        await check_registered(second, citizen)
    finally:
        await second.close()


# ------------------------------------------------------------------------------------- concurrency


async def test_200_interleaved_registrations_are_each_complete_and_correct(
    service: Service, channel: RecordingChannel, clock: Clock
) -> None:
    citizens = [Citizen(i) for i in range(200)]
    jitter = random.Random(20261120)
    pauses = {c.index: [jitter.random() * 0.004 for _ in c.script()] for c in citizens}

    async def converse(citizen: Citizen) -> None:
        for number in range(len(citizen.script())):
            await asyncio.sleep(pauses[citizen.index][number])
            replies = await service.receive(citizen.event(number, clock()))
            assert replies, f"contact {citizen.index} got no reply at step {number}"

    started = time.perf_counter()
    await asyncio.gather(*(converse(c) for c in citizens))
    # A bound against a stall only (about 2 s on a quiet machine); throughput and latency are measured by
    # bench/registration_load.py, not here.
    assert time.perf_counter() - started < 60

    references = [await check_registered(service, c) for c in citizens]
    assert len(set(references)) == 200
    assert await service.db.fetchval("SELECT COUNT(*) FROM persons") == 200
    assert await service.db.fetchval("SELECT COUNT(*) FROM cases") == 200
    for citizen in citizens:  # the confirmation each contact saw names their own case
        reference = (await repo.cases_of_contact(service.db, citizen.contact))[0].reference
        assert reference in channel.sent[citizen.contact][-1].text
    unsent = await service.db.fetchval("SELECT COUNT(*) FROM outbox WHERE status != 'sent'")
    assert unsent == 0


@dataclass
class SlowChannel:
    """Takes a random moment per send, so sends to different contacts overtake each other."""

    scheme: str = "console"
    seed: int = 7
    sent: dict[str, list[Reply]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        await asyncio.sleep(self._random.random() * 0.02)
        self.sent[contact_id].append(reply)
        return SendResult(OutboxStatus.SENT)


async def test_replies_to_one_contact_arrive_in_handling_order(tmp_path: Path, clock: Clock) -> None:
    channel = SlowChannel()
    service, _ = await start_service(tmp_path / "data", clock, channel)  # type: ignore[arg-type]
    citizens = [Citizen(i) for i in range(25)]
    try:
        # Every event of every contact is in flight at once, created in script order per contact.
        tasks = [
            asyncio.create_task(service.receive(c.event(n, clock())))
            for n in range(len(Citizen(0).script()))
            for c in citizens
        ]
        await asyncio.gather(*tasks)
        for citizen in citizens:
            rows = await service.db.fetchall(
                "SELECT payload FROM outbox WHERE contact_id = ? ORDER BY id", (citizen.contact,)
            )
            queued = [Reply.from_json(row["payload"]).text for row in rows]
            assert [r.text for r in channel.sent[citizen.contact]] == queued
            assert queued[0] == t("consent.notice") and "REG-2026-" in queued[-1]
            await check_registered(service, citizen)
    finally:
        await service.close()


# ------------------------------------------------------------------------------- a failing step


async def test_a_step_that_raises_apologises_and_asks_again(
    service: Service, channel: RecordingChannel, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    citizen = Citizen(0)
    chat = Chat(service, channel, clock, name="warga0")
    await run_steps(service, citizen, clock, range(HOUSEHOLD_STEP))
    real_parse_count = validators.parse_count
    calls: list[str] = []

    def broken_once(text: str, *, low: int, high: int) -> int:
        calls.append(text)
        if len(calls) == 1:
            raise RuntimeError("disk on fire")
        return real_parse_count(text, low=low, high=high)

    monkeypatch.setattr("handlers.fields.parse_count", broken_once)
    await chat.say(str(citizen.household_size))
    assert [r.text for r in chat.replies] == [t("err.internal"), t("reg.q.household_size.self")]
    _, _, answers = await conversation(service, citizen.contact)
    assert answers["full_name"] == citizen.name
    assert service.services.sealer.open(Sealed.model_validate(answers["nik"])) == citizen.nik
    assert "household_size" not in answers

    await chat.say(str(citizen.household_size))
    assert chat.last.text.startswith(t("reg.q.skills.self"))
    await run_steps(service, citizen, clock, range(HOUSEHOLD_STEP + 1, len(citizen.script())))
    await check_registered(service, citizen)


# ------------------------------------------------------------------------------------------ outbox


@on_both_backends
async def test_rows_interrupted_mid_send_become_unknown_and_are_never_resent(
    tmp_path: Path, clock: Clock, database_url: str | None
) -> None:
    first, _ = await start_service(tmp_path / "data", clock, database_url=database_url)
    chat = Chat(first, RecordingChannel(), clock, name="u1")
    await first.receive(Inbound(contact=chat.contact, at=clock(), text="halo"))

    def leave_sending_and_queued(conn: Any) -> tuple[int, int]:
        at = clock()
        interrupted = repo.insert_outbox(
            conn, contact_id=chat.contact, payload=Reply(text="terputus").to_json(), origin="staff", at=at
        )
        conn.execute("UPDATE outbox SET status = 'sending' WHERE id = ?", (interrupted.id,))
        waiting = repo.insert_outbox(
            conn, contact_id=chat.contact, payload=Reply(text="menunggu").to_json(), origin="staff", at=at
        )
        return interrupted.id, waiting.id

    interrupted_id, waiting_id = await first.db.write(leave_sending_and_queued)
    await first.close()  # the process "dies" with one row mid-send

    second, channel = await start_service(
        tmp_path / "data", clock, database_url=database_url, outbox_poll_seconds=0.02
    )
    runner = asyncio.create_task(second.dispatcher.run())
    try:
        await wait_until(lambda: bool(channel.sent[chat.contact]))
        await asyncio.sleep(0.1)  # several more polls: nothing else may go out
        assert [r.text for r in channel.sent[chat.contact]] == ["menunggu"]
        status = await outbox_status(second, interrupted_id)
        assert status == ("unknown", "interrupted while sending")
        assert (await outbox_status(second, waiting_id))[0] == "sent"
        assert await second.dispatcher.recover() == 0  # nothing left mid-send
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await second.close()


async def test_row_queued_by_staff_is_sent_within_the_poll_interval(tmp_path: Path, clock: Clock) -> None:
    service, channel = await start_service(tmp_path / "data", clock, outbox_poll_seconds=0.05)
    await service.receive(Inbound(contact="console:u2", at=clock(), text="halo"))
    runner = asyncio.create_task(service.dispatcher.run())
    try:
        await asyncio.sleep(0.06)  # the sender is now idle, waiting for its next poll
        row = await service.db.write(
            lambda conn: repo.insert_outbox(
                conn,
                contact_id="console:u2",
                payload=Reply(text="Kasus Bapak/Ibu sedang diproses.").to_json(),
                origin="staff",
                at=clock(),
            )
        )
        # Nobody wakes the sender: only its poll (every 0.05 s) can find the row; allow for a slow machine.
        await wait_until(lambda: len(channel.sent["console:u2"]) == 2, within=0.5)
        assert channel.sent["console:u2"][-1].text == "Kasus Bapak/Ibu sedang diproses."
        await wait_until_async(lambda: outbox_is(service, row.id, "sent"))
        sent_at = await service.db.fetchval("SELECT sent_at FROM outbox WHERE id = ?", (row.id,))
        assert sent_at is not None
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await service.close()


@dataclass
class BlockingChannel:
    """A platform that refuses delivery while the user has blocked the bot."""

    scheme: str = "console"
    blocked: bool = True
    sent: dict[str, list[Reply]] = field(default_factory=lambda: defaultdict(list))

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        if self.blocked:
            return SendResult(OutboxStatus.BLOCKED, error="bot was blocked by the user")
        self.sent[contact_id].append(reply)
        return SendResult(OutboxStatus.SENT)


async def test_blocked_contact_is_marked_unreachable_until_they_write_again(
    tmp_path: Path, clock: Clock
) -> None:
    channel = BlockingChannel()
    service, _ = await start_service(tmp_path / "data", clock, channel)  # type: ignore[arg-type]
    try:
        records = await service.receive(Inbound(contact="console:u3", at=clock(), text="halo"))
        await service.dispatcher.recorded()  # the reply is back once it has left; its result commits after
        assert (await outbox_status(service, records[0].id))[0] == "blocked"
        contact = await repo.get_contact(service.db, "console:u3")
        assert contact is not None and contact.unreachable

        channel.blocked = False  # they unblocked the bot and write again
        records = await service.receive(Inbound(contact="console:u3", at=clock(), text="halo"))
        await service.dispatcher.recorded()
        contact = await repo.get_contact(service.db, "console:u3")
        assert contact is not None and not contact.unreachable
        assert [(await outbox_status(service, r.id))[0] for r in records] == ["sent"] * len(records)
        assert [r.text for r in channel.sent["console:u3"]] == [
            Reply.from_json(r.payload).text for r in records
        ]
    finally:
        await service.close()


# ----------------------------------------------------------------------------------------- helpers


async def outbox_status(service: Service, outbox_id: int) -> tuple[str, str | None]:
    row = await service.db.fetchone("SELECT status, error FROM outbox WHERE id = ?", (outbox_id,))
    assert row is not None
    return row["status"], row["error"]


async def outbox_is(service: Service, outbox_id: int, status: str) -> bool:
    return (await outbox_status(service, outbox_id))[0] == status


async def wait_until(condition: Callable[[], bool], within: float = 2.0) -> None:
    """Poll until `condition` holds (an effect of the background sender)."""
    for _ in range(int(within / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("not within time")


async def wait_until_async(condition: Callable[[], Awaitable[bool]], within: float = 2.0) -> None:
    """Poll until the awaited `condition` holds."""
    for _ in range(int(within / 0.005)):
        if await condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("not within time")
