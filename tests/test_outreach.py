"""Segments, broadcasts, quiet hours, reminders, appointments, nudges and training programmes."""

import asyncio
import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from bot.app import Service
from bot.engine import utcnow
from bot.scheduler import OutreachScheduler
from handlers import outreach
from handlers.i18n import Catalog
from handlers.segments import Segment
from handlers.types import Reply
from storage.records import CaseKind, CaseStatus, Consent
from tests.outreach_support import Person, seed
from tests.support import Chat, Clock, RecordingChannel, start_service

WIB = ZoneInfo("Asia/Jakarta")
CATALOG = Catalog.load()


def wib(text: str) -> datetime:
    """'YYYY-MM-DD HH:MM' in WIB as an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=WIB).astimezone(UTC)


def scheduler_for(service: Service, clock: object = utcnow) -> OutreachScheduler:
    return OutreachScheduler(
        service.db,
        service.services.catalog,
        service.settings.outreach,
        WIB,
        clock,  # type: ignore[arg-type]
        on_queued=service.dispatcher.wake,
    )


async def drain(service: Service) -> None:
    """Run the outbox sender until nothing it may send now is left."""
    task = asyncio.create_task(service.dispatcher.run())
    try:
        for _ in range(200):
            await asyncio.sleep(0.02)
            left = await service.db.fetchval(
                "SELECT COUNT(*) FROM outbox WHERE status IN ('queued', 'sending') "
                "AND (not_before IS NULL OR not_before <= ?)",
                (service.engine.clock().isoformat(),),
            )
            if not left:
                break
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def broadcast(
    service: Service,
    text: str,
    clock: Clock,
    *,
    segment: Segment | None = None,
    text_en: str | None = None,
    send_at: datetime | None = None,
) -> int:
    """A broadcast created by staff now (sent now unless `send_at` is later)."""
    return await service.db.write(
        partial(
            outreach.create_broadcast,
            segment=segment or Segment(everyone=True),
            text_id=text,
            text_en=text_en,
            template=None,
            send_at=send_at or clock.now,
            actor="staff:test",
            at=clock.now,
            tz=WIB,
            quiet=scheduler_for(service, clock).times.quiet,
        )
    )


PEOPLE = [
    Person("console:ani", "Ani", skills=["masak", "rias"], disaster_victim=True),
    Person("console:budi", "Budi", kecamatan="36.74.06", kelurahan="36.74.06.1001", skills=["montir"]),
    Person("console:citra", "Citra", skills=["service_hp"], language="en"),
    Person("console:dedi", "Dedi", opted_out=True, skills=["masak"]),
    Person("console:eka", "Eka", unreachable=True, skills=["masak"]),
    Person("console:fajar", "Fajar", consent=Consent.REFUSED, skills=["masak"]),
    Person(
        "console:gita",
        "Gita pendamping",
        extra_persons=3,
        skills=["masak"],
        created_at=datetime(2026, 11, 15, 3, 0, tzinfo=UTC),
    ),
]


@pytest.fixture
async def seeded(service: Service) -> Service:
    await service.db.write(partial(seed, people=PEOPLE))
    return service


async def count(service: Service, segment: Segment) -> tuple[int, list[str]]:
    return await outreach.preview(service.db, segment, WIB)


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        (Segment(everyone=True), 4),
        (Segment(kecamatan=["36.74.03"]), 3),
        (Segment(kecamatan=["36.74.06"]), 1),
        (Segment(kelurahan=["36.74.06.1001"]), 1),
        (Segment(skills=["masak"]), 2),
        (Segment(skills=["masak"], disaster_victim=True), 1),
        (Segment(disaster_victim=False), 3),
        (Segment(language="en"), 1),
        (Segment(registered_from=datetime(2026, 11, 10).date()), 1),
        (Segment(registered_to=datetime(2026, 11, 10).date()), 3),
        (Segment(kecamatan=["36.74.03"], skills=["service_hp"]), 1),
        (Segment(case_kinds=[CaseKind.AID]), 0),
    ],
)
async def test_segments_count_reachable_contacts_once(
    seeded: Service, segment: Segment, expected: int
) -> None:
    total, sample = await count(seeded, segment)
    assert total == expected
    assert len(sample) == min(expected, 5)
    assert "Dedi" not in sample and "Eka" not in sample and "Fajar" not in sample


async def test_segment_by_case_kind_and_status(chat: Chat, service: Service) -> None:
    from tests.flow_steps import agree

    await agree(chat)
    await chat.tap(CATALOG.text("id", "menu.talk"))
    await chat.say("Saya butuh bantuan sembako")
    assert (await count(service, Segment(case_kinds=[CaseKind.MESSAGE])))[0] == 1
    assert (await count(service, Segment(case_kinds=[CaseKind.MESSAGE], case_statuses=[CaseStatus.BARU])))[
        0
    ] == 1
    assert (await count(service, Segment(case_statuses=[CaseStatus.DISETUJUI])))[0] == 0


async def test_broadcast_reaches_each_recipient_once_in_their_language(
    seeded: Service, channel: RecordingChannel, clock: Clock
) -> None:
    service = seeded
    broadcast_id = await broadcast(
        service,
        "Pelatihan montir minggu depan, yang berminat daftar.",
        clock,
        segment=Segment(skills=["masak", "service_hp"]),
        text_en="Mechanic training next week.",
    )
    progress = await outreach.broadcast_progress(service.db, broadcast_id)
    assert progress.recipients == 3 and progress.counts == {"queued": 3}
    await drain(service)
    assert [r.text for r in channel.sent["console:ani"]] == [
        "Pelatihan montir minggu depan, yang berminat daftar."
    ]
    assert [r.text for r in channel.sent["console:citra"]] == ["Mechanic training next week."]
    assert len(channel.sent["console:gita"]) == 1  # a field worker with four persons gets one message
    assert "console:dedi" not in channel.sent and "console:eka" not in channel.sent
    report = await scheduler_for(service, clock).tick()
    assert report.broadcasts_finished == [broadcast_id]
    progress = await outreach.broadcast_progress(service.db, broadcast_id)
    assert progress.status == "done" and progress.counts == {"sent": 3}


async def test_quiet_hours_postpone_bulk_but_not_replies(
    tmp_path: Path, clock: Clock, channel: RecordingChannel
) -> None:
    clock.now = wib("2026-11-20 21:30")
    service, channel = await start_service(tmp_path / "q", clock, channel)
    try:
        await service.db.write(partial(seed, people=PEOPLE[:2]))
        await broadcast(service, "Besok jam 9 bawa KK ke kantor Dinsos.", clock)
        await drain(service)
        assert not channel.sent["console:ani"], "nothing goes out at 21:30 WIB"
        chat = Chat(service, channel, clock, name="zahra")
        assert await chat.say("halo"), "a citizen who writes at night still gets an answer"
        clock.now = wib("2026-11-21 05:59")
        await drain(service)
        assert not channel.sent["console:ani"]
        clock.now = wib("2026-11-21 06:00")
        await drain(service)
        assert [r.text for r in channel.sent["console:ani"]] == ["Besok jam 9 bawa KK ke kantor Dinsos."]
        assert len(channel.sent["console:budi"]) == 1
    finally:
        await service.close()


async def test_cancel_stops_a_running_broadcast(
    seeded: Service, channel: RecordingChannel, clock: Clock
) -> None:
    service = seeded
    clock.now = wib("2026-11-20 22:00")  # quiet: nothing leaves before the cancel
    broadcast_id = await broadcast(service, "Info", clock)
    cancelled = await service.db.write(
        partial(outreach.cancel_broadcast, broadcast_id=broadcast_id, actor="staff:test", at=clock.now)
    )
    assert cancelled == 4
    clock.now = wib("2026-11-21 08:00")
    await drain(service)
    assert not any(channel.sent.values())
    progress = await outreach.broadcast_progress(service.db, broadcast_id)
    assert progress.status == "cancelled" and progress.counts == {"cancelled": 4}
    with pytest.raises(outreach.OutreachError):
        await service.db.write(
            partial(outreach.cancel_broadcast, broadcast_id=broadcast_id, actor="staff:test", at=clock.now)
        )


async def test_scheduled_broadcast_waits_for_its_time(
    seeded: Service, channel: RecordingChannel, clock: Clock
) -> None:
    service = seeded
    scheduler = scheduler_for(service, clock)
    clock.now = wib("2026-11-20 10:00")
    await broadcast(service, "Siaran terjadwal", clock, send_at=wib("2026-11-20 13:00"))
    assert (await scheduler.tick()).messages_queued == 0
    clock.now = wib("2026-11-20 13:00")
    assert (await scheduler.tick()).messages_queued == 4
    assert (await scheduler.tick()).messages_queued == 0
    await drain(service)
    assert sum(len(v) for v in channel.sent.values()) == 4


async def test_recurring_reminder_fires_at_wib_times_across_days(seeded: Service) -> None:
    service = seeded
    with time_machine.travel(wib("2026-11-20 12:00"), tick=False) as traveller:  # a Friday
        reminder_id = await service.db.write(
            partial(
                outreach.create_reminder,
                segment=Segment(skills=["montir"]),
                text_id="Pengingat Senin",
                text_en=None,
                due_at=None,
                cron="0 8 * * mon",
                actor="staff:test",
                at=utcnow(),
                tz=WIB,
            )
        )
        scheduler = scheduler_for(service)
        fired = []
        for moment in [
            "2026-11-22 23:00",
            "2026-11-23 07:59",
            "2026-11-23 08:00",
            "2026-11-23 08:01",
            "2026-11-29 12:00",
            "2026-11-30 08:00",
        ]:
            traveller.move_to(wib(moment))
            report = await scheduler.tick()
            fired += [(moment, run.outcome) for run in report.reminders]
        assert fired == [("2026-11-23 08:00", "sent"), ("2026-11-30 08:00", "sent")]
        due = await service.db.fetchval("SELECT due_at FROM reminders WHERE id = ?", (reminder_id,))
        assert datetime.fromisoformat(due) == wib("2026-12-07 08:00")
        sent = await service.db.fetchval("SELECT COUNT(*) FROM outbox WHERE origin = 'reminder'")
        assert sent == 2  # Budi, on each of the two Mondays


async def test_reminders_due_during_downtime_are_sent_or_skipped(seeded: Service, clock: Clock) -> None:
    service = seeded
    scheduler = scheduler_for(service, clock)
    clock.now = wib("2026-11-20 08:00")
    fresh = await service.db.write(
        partial(
            outreach.create_reminder,
            segment=Segment(everyone=True),
            text_id="Segera",
            text_en=None,
            due_at=wib("2026-11-20 09:00"),
            cron=None,
            actor="staff:test",
            at=clock.now,
            tz=WIB,
        )
    )
    stale = await service.db.write(
        partial(
            outreach.create_reminder,
            segment=Segment(everyone=True),
            text_id="Kemarin",
            text_en=None,
            due_at=wib("2026-11-19 09:00"),
            cron=None,
            actor="staff:test",
            at=wib("2026-11-18 08:00"),
            tz=WIB,
        )
    )
    clock.now = wib("2026-11-20 10:30")  # the service was down from 08:30 to 10:30
    runs = {run.reminder_id: run.outcome for run in (await scheduler.tick()).reminders}
    assert runs == {fresh: "sent", stale: "skipped_stale"}
    rows = await service.db.fetchall("SELECT reminder_id, outcome FROM reminder_runs")
    recorded = {row[0]: row[1] for row in rows}
    assert recorded == {fresh: "sent", stale: "skipped_stale"}
    assert (await scheduler.tick()).reminders == []  # never twice
    assert await service.db.fetchval("SELECT COUNT(*) FROM outbox WHERE origin = 'reminder'") == 4


async def test_a_crash_mid_dispatch_redoes_the_reminder_once(seeded: Service, clock: Clock) -> None:
    service = seeded
    scheduler = scheduler_for(service, clock)
    reminder_id = await service.db.write(
        partial(
            outreach.create_reminder,
            segment=Segment(everyone=True),
            text_id="Sekali saja",
            text_en=None,
            due_at=clock.now,
            cron=None,
            actor="staff:test",
            at=clock.now,
            tz=WIB,
        )
    )

    def dies_midway(conn: sqlite3.Connection) -> None:
        outreach.run_reminder(
            conn,
            reminder_id=reminder_id,
            at=clock.now,
            times=scheduler.times,
            catalog=CATALOG,
        )
        raise RuntimeError("process died before commit")

    with pytest.raises(RuntimeError):
        await service.db.write(dies_midway)
    assert await service.db.fetchval("SELECT COUNT(*) FROM outbox WHERE origin = 'reminder'") == 0
    await scheduler.tick()
    await scheduler.tick()
    assert await service.db.fetchval("SELECT COUNT(*) FROM outbox WHERE origin = 'reminder'") == 4


async def case_with_appointment(
    chat: Chat,
    service: Service,
    clock: Clock,
    starts: str,
    place: str,
    note: str | None,
    *,
    voice: bool = False,
) -> OutreachScheduler:
    """A citizen's message case with an appointment set at 2026-11-20 10:00 WIB; the scheduler to tick.
    `voice`: the citizen asked for voice notes (SUARA)."""
    from tests.flow_steps import agree

    await agree(chat)
    if voice:
        await chat.say("SUARA")
    await chat.tap(CATALOG.text("id", "menu.talk"))
    await chat.say("Saya mau tanya soal KTP")
    scheduler = scheduler_for(service, clock)
    clock.now = wib("2026-11-20 10:00")
    await service.db.write(
        partial(
            outreach.create_appointment,
            reference="PSN-2026-000001",
            starts_at=wib(starts),
            place=place,
            note=note,
            actor="staff:test",
            at=clock.now,
            times=scheduler.times,
            catalog=CATALOG,
        )
    )
    return scheduler


async def test_appointment_reminders_day_before_and_morning(
    chat: Chat, service: Service, clock: Clock
) -> None:
    scheduler = await case_with_appointment(
        chat, service, clock, "2026-11-24 09:00", "Kantor Dinsos, Jl. Witana Harja", "Bawa fotokopi KK."
    )
    told = await service.db.fetchval("SELECT payload FROM outbox WHERE origin = 'staff' ORDER BY id DESC")
    assert "24-11-2026" in told and "09:00" in told and "Kantor Dinsos" in told
    outcomes = []
    for moment in [
        "2026-11-23 15:59",
        "2026-11-23 16:00",
        "2026-11-24 06:59",
        "2026-11-24 07:00",
        "2026-11-24 09:30",
    ]:
        clock.now = wib(moment)
        outcomes += [(moment, r.outcome) for r in (await scheduler.tick()).reminders]
    assert outcomes == [("2026-11-23 16:00", "sent"), ("2026-11-24 07:00", "sent")]
    texts = [
        row[0]
        for row in await service.db.fetchall(
            "SELECT payload FROM outbox WHERE origin = 'reminder' ORDER BY id"
        )
    ]
    assert "besok" in texts[0] and "hari ini" in texts[1]


async def test_appointment_passed_during_downtime_is_skipped(
    chat: Chat, service: Service, clock: Clock
) -> None:
    scheduler = await case_with_appointment(chat, service, clock, "2026-11-21 09:00", "Kantor Dinsos", None)
    clock.now = wib("2026-11-21 12:00")  # down from before 16:00 yesterday until after the appointment
    outcomes = sorted(r.outcome for r in (await scheduler.tick()).reminders)
    assert outcomes == ["skipped_stale", "skipped_stale"]
    assert await service.db.fetchval("SELECT COUNT(*) FROM outbox WHERE origin = 'reminder'") == 0


async def test_single_nudges(chat: Chat, service: Service, clock: Clock) -> None:
    from tests.flow_steps import agree

    await agree(chat)
    await chat.tap(CATALOG.text("id", "menu.registration"))
    await chat.tap(CATALOG.text("id", "reg.for_self"))
    scheduler = scheduler_for(service, clock)
    clock.advance(hours=2)
    assert (await scheduler.tick()).nudges == 0
    clock.advance(hours=2)
    assert (await scheduler.tick()).nudges == 1
    clock.advance(hours=5)
    assert (await scheduler.tick()).nudges == 0  # a single nudge per unfinished registration
    payload = await service.db.fetchval("SELECT payload FROM outbox WHERE origin = 'nudge'")
    assert CATALOG.text("id", "notify.nudge_registration") in payload


async def test_whatsapp_nudge_only_inside_the_window(service: Service, clock: Clock) -> None:
    scheduler = scheduler_for(service, clock)
    last_seen = clock.now - timedelta(hours=30)
    await service.db.write(
        partial(seed, people=[Person("whatsapp:6281200000001", last_inbound_at=last_seen)])
    )
    await service.db.write(
        lambda conn: conn.execute(
            "INSERT INTO conversations (contact_id, flow, step, data, started_at, updated_at) "
            "VALUES ('whatsapp:6281200000001', 'registration', 'nik', '{}', ?, ?)",
            (last_seen.isoformat(), last_seen.isoformat()),
        )
    )
    assert (await scheduler.tick()).nudges == 0


async def test_opted_out_and_blocked_receive_nothing_until_mulai(
    chat: Chat, service: Service, channel: RecordingChannel, clock: Clock
) -> None:
    from tests.flow_steps import agree, register

    await agree(chat)
    await register(chat, name="Siti Aminah")

    async def broadcast_and_drain(text: str) -> None:
        await broadcast(service, text, clock)
        await drain(service)

    await chat.say("berhenti")  # asks which is meant: nothing changes yet
    await chat.say("berhenti info")
    await broadcast_and_drain("Siaran pertama")
    assert "Siaran pertama" not in [r.text for r in channel.sent[chat.contact]]
    await chat.say("mulai info")
    await broadcast_and_drain("Siaran kedua")
    assert channel.sent[chat.contact][-1].text == "Siaran kedua"
    await service.db.write(
        lambda conn: conn.execute("UPDATE contacts SET unreachable = 1 WHERE id = ?", (chat.contact,))
    )
    await broadcast_and_drain("Siaran ketiga")
    assert channel.sent[chat.contact][-1].text == "Siaran kedua"


@pytest.fixture
async def programme(service: Service, clock: Clock) -> int:
    scheduler = scheduler_for(service, clock)
    people = [Person(f"console:p{i:02d}", f"Peserta {i}", skills=["montir"]) for i in range(50)]
    await service.db.write(partial(seed, people=people))
    programme_id = await service.db.write(
        partial(
            outreach.create_programme,
            name="Pelatihan montir",
            skill="montir",
            place="Panti Tunas Sosial Banten",
            starts_at=clock.now + timedelta(days=7),
            ends_at=clock.now + timedelta(days=9),
            quota=20,
            actor="staff:test",
            at=clock.now,
            times=scheduler.times,
        )
    )
    invited = await service.db.write(
        partial(
            outreach.invite,
            programme_id=programme_id,
            segment=Segment(skills=["montir"]),
            actor="staff:test",
            at=clock.now,
            times=scheduler.times,
            catalog=CATALOG,
        )
    )
    assert invited == 50
    return programme_id


@pytest.mark.parametrize("concurrent", [True, False], ids=["simultaneous", "one_after_another"])
async def test_quota_and_waiting_list_under_concurrent_answers(
    service: Service, channel: RecordingChannel, clock: Clock, programme: int, concurrent: bool
) -> None:
    chats = [Chat(service, channel, clock, name=f"p{i:02d}") for i in range(50)]
    if concurrent:
        await asyncio.gather(*(chat.choose(f"rsvp:{programme}:yes") for chat in chats))
    else:
        for chat in chats:
            await chat.choose(f"rsvp:{programme}:yes")
    rows = await outreach.attendees(service.db, programme)
    confirmed = [r.contact_id for r in rows if r.status == "confirmed"]
    waiting = [r for r in rows if r.status == "waiting"]
    assert len(confirmed) == 20 and len(waiting) == 30
    orders = [r.answer_order or 0 for r in rows if r.status in ("confirmed", "waiting")]
    assert orders == sorted(orders) == list(range(1, 51))  # places went strictly first come, first served
    for position, row in enumerate(waiting, start=1):
        told = next(c for c in chats if c.contact == row.contact_id).replies[0].text
        assert told == CATALOG.text("id", "programme.waiting", name="Pelatihan montir", position=position)
    if not concurrent:  # answers that arrive one after another keep exactly that order
        assert confirmed == [f"console:p{i:02d}" for i in range(20)]
        assert [r.contact_id for r in waiting] == [f"console:p{i:02d}" for i in range(20, 50)]
    waiting_ids = [r.contact_id for r in waiting]
    # A confirmed participant cancels: the first on the waiting list moves up and is told.
    leaver = next(c for c in chats if c.contact == confirmed[0])
    await leaver.choose(f"rsvp:{programme}:no")
    assert leaver.replies[0].text == CATALOG.text("id", "programme.declined", name="Pelatihan montir")
    await drain(service)
    first_waiting = waiting_ids[0]
    assert "Ada tempat kosong" in channel.sent[first_waiting][-1].text
    rows = await outreach.attendees(service.db, programme)
    assert sum(r.status == "confirmed" for r in rows) == 20
    assert [r.contact_id for r in rows if r.status == "waiting"] == waiting_ids[1:]


async def test_rsvp_by_typed_word_at_the_menu_and_attendee_reminder(
    service: Service, channel: RecordingChannel, clock: Clock, programme: int
) -> None:
    chat = Chat(service, channel, clock, name="p07")
    await chat.say("ya")
    assert chat.replies[0].text == CATALOG.text("id", "programme.confirmed", name="Pelatihan montir")
    scheduler = scheduler_for(service, clock)
    clock.advance(days=6)
    clock.now = clock.now.astimezone(WIB).replace(hour=16, minute=0).astimezone(UTC)
    report = await scheduler.tick()
    assert [r.outcome for r in report.reminders] == ["sent"]
    await drain(service)
    assert "Pengingat" in channel.sent["console:p07"][-1].text
    assert all("Pengingat" not in r.text for r in channel.sent["console:p08"])


async def test_people_in_voice_mode_hear_broadcasts_and_appointments(
    seeded: Service, channel: RecordingChannel, clock: Clock
) -> None:
    """Someone who listens instead of reading gets each bulk or staff message as a voice note too."""
    service = seeded
    chat = Chat(service, channel, clock, name="listener-1")
    await service.db.write(
        lambda conn: conn.execute(
            "UPDATE contacts SET voice = 1 WHERE id IN ('console:ani', 'console:citra')"
        )
    )
    await broadcast(
        service,
        "Pelatihan montir minggu depan.",
        clock,
        segment=Segment(skills=["masak", "service_hp"]),
        text_en="Mechanic training next week.",
    )
    await drain(service)
    [ani], [citra], [gita] = (channel.sent[f"console:{name}"] for name in ("ani", "citra", "gita"))
    assert ani.voice is not None and citra.voice is not None and gita.voice is None
    assert (ani.voice.language, [p.text for p in ani.voice.parts]) == ("id", [ani.text])
    assert (citra.voice.language, [p.text for p in citra.voice.parts]) == ("en", [citra.text])
    assert (ani.text, citra.text) == ("Pelatihan montir minggu depan.", "Mechanic training next week.")

    place, note_text = "Kantor Dinsos, Jl. Witana Harja", "Bawa fotokopi KK."
    scheduler = await case_with_appointment(
        chat, service, clock, "2026-11-24 09:00", place, note_text, voice=True
    )
    told = Reply.from_json(
        await service.db.fetchval("SELECT payload FROM outbox WHERE origin = 'staff' ORDER BY id DESC")
    )
    assert told.voice is not None
    sentence, note = told.voice.parts
    assert sentence.key == "notify.appointment_set" and dict(sentence.params)["place"].startswith("Kantor")
    assert (note.key, note.text) == (None, note_text)  # the officer's own words, spoken as written
    clock.now = wib("2026-11-23 16:00")
    await scheduler.tick()
    reminder = Reply.from_json(
        await service.db.fetchval("SELECT payload FROM outbox WHERE origin = 'reminder'")
    )
    assert reminder.voice is not None and reminder.voice.parts[0].key == "notify.appointment_day_before"
