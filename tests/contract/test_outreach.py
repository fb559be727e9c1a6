"""Outreach through the store contract: segments, broadcasts, reminders, appointments, programmes, nudges
and staff drafts, as the staff surfaces and the scheduler see them."""

import asyncio
import json
import threading
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers import outreach
from handlers.i18n import Catalog
from handlers.outreach import OutreachTimes, QuietHours
from handlers.segments import Segment
from handlers.types import Reply
from storage import outreach as outreach_store
from storage import repo
from storage.contract import Store, Tx
from storage.records import (
    CaseKind,
    CaseRecord,
    CaseStatus,
    Consent,
    ContactRecord,
    ConversationRecord,
    OutboxStatus,
    PersonRecord,
)
from storage.segments import contacts_in_segment

WIB = ZoneInfo("Asia/Jakarta")
AT = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)  # 10:00 WIB on a Monday
TIMES = OutreachTimes(
    tz=WIB,
    quiet=QuietHours(time(21), time(6), WIB),
    stale_after=timedelta(hours=6),
    day_before=time(16),
    morning=time(7),
)
CATALOG = Catalog.load()


def _contact(
    tx: Tx,
    contact_id: str,
    name: str,
    *,
    skills: tuple[str, ...] = (),
    language: str = "id",
    kecamatan: str = "36.74.03",
    registered: datetime = AT - timedelta(days=30),
    opted_out: bool = False,
    consent: Consent = Consent.GRANTED,
    victim: bool = False,
) -> None:
    repo.upsert_contact(
        tx,
        ContactRecord(
            id=contact_id,
            channel=contact_id.split(":", 1)[0],
            language=language,
            consent=consent,
            consent_version="2026-11",
            opted_out=opted_out,
            last_inbound_at=AT - timedelta(hours=1),
            created_at=registered,
            updated_at=registered,
        ),
    )
    repo.insert_person(
        tx,
        PersonRecord(
            registered_by=contact_id,
            is_self=True,
            full_name=name,
            kecamatan_code=kecamatan,
            kelurahan_code=f"{kecamatan}.1011",
            skills=list(skills),
            disaster_victim=victim,
            created_at=registered,
            updated_at=registered,
        ),
    )


def _people(tx: Tx) -> None:
    _contact(tx, "telegram:1", "Ani", skills=("montir", "masak"))
    _contact(tx, "telegram:2", "Budi", skills=("montir",), language="en", kecamatan="36.74.04")
    _contact(tx, "telegram:3", "Citra", skills=("masak",), victim=True, registered=AT - timedelta(days=2))
    _contact(tx, "telegram:4", "Dedi", skills=("montir",), opted_out=True)
    _contact(tx, "telegram:5", "Eka", skills=("montir",), consent=Consent.REFUSED)


async def test_a_segment_reaches_only_its_reachable_contacts(store: Store) -> None:
    await store.write(_people)
    montir = Segment(skills=["montir"])
    assert await contacts_in_segment(store, montir, WIB) == ["telegram:1", "telegram:2"]
    assert await contacts_in_segment(store, Segment(skills=["menjahit"]), WIB) == []
    either = Segment(skills=["menjahit", "masak"])
    assert await contacts_in_segment(store, either, WIB) == ["telegram:1", "telegram:3"]
    for near in ("mont", "Montir", "montir "):  # a skill is matched whole and as written
        assert await contacts_in_segment(store, Segment(skills=[near]), WIB) == []
    assert await contacts_in_segment(store, Segment(kecamatan=["36.74.04"]), WIB) == ["telegram:2"]
    assert await contacts_in_segment(store, Segment(disaster_victim=True), WIB) == ["telegram:3"]
    assert await contacts_in_segment(store, Segment(language="en"), WIB) == ["telegram:2"]
    recent = Segment(registered_from=(AT - timedelta(days=3)).date(), registered_to=AT.date())
    assert await contacts_in_segment(store, recent, WIB) == ["telegram:3"]
    everyone = Segment(everyone=True)
    assert await contacts_in_segment(store, everyone, WIB) == ["telegram:1", "telegram:2", "telegram:3"]
    assert await store_preview(store, montir) == (2, ["Ani", "Budi"])
    assert await store_preview(store, Segment(skills=["menjahit"])) == (0, [])


async def test_previews_and_due_work_are_read_beside_a_busy_writer(store: Store) -> None:
    """Staff see a segment's size, and the scheduler finds what is due, while a long write runs."""
    await store.write(_people)
    started, release = threading.Event(), threading.Event()

    def busy(tx: Tx) -> None:
        started.set()
        release.wait(10)

    writing = asyncio.ensure_future(store.write(busy))
    try:
        assert await asyncio.to_thread(started.wait, 10)
        montir = Segment(skills=["montir"])
        assert await asyncio.wait_for(store_preview(store, montir), 5) == (2, ["Ani", "Budi"])
        assert await asyncio.wait_for(outreach.due_broadcasts(store, AT), 5) == []
        assert await asyncio.wait_for(outreach.due_reminders(store, AT), 5) == []
        assert not writing.done()
    finally:
        release.set()
        await writing


async def store_preview(db: Store, segment: Segment) -> tuple[int, list[str]]:
    return await outreach.preview(db, segment, WIB, sample=5)


async def test_a_segment_by_case_kind_and_status(store: Store) -> None:
    await store.write(_people)

    def cases(tx: Tx) -> None:
        for contact, kind, status in (
            ("telegram:1", CaseKind.AID, CaseStatus.BARU),
            ("telegram:3", CaseKind.LOST_KTP, CaseStatus.SELESAI),
        ):
            repo.insert_case(
                tx,
                CaseRecord(
                    reference=f"REF-{contact[-1]}",
                    kind=kind,
                    status=status,
                    contact_id=contact,
                    subject_name="x",
                    created_at=AT,
                    updated_at=AT,
                ),
                actor="test",
            )

    await store.write(cases)
    assert await contacts_in_segment(store, Segment(case_kinds=[CaseKind.AID]), WIB) == ["telegram:1"]
    done = Segment(case_statuses=[CaseStatus.SELESAI])
    assert await contacts_in_segment(store, done, WIB) == ["telegram:3"]


async def _outbox(db: Store) -> dict[str, str]:
    """Queued rows: contact -> the text of its message."""
    return {row.contact_id: Reply.from_json(row.payload).text for row in await repo.pending_outbox(db)}


async def _new_broadcast(
    db: Store, segment: Segment, send_at: datetime, text_id: str = "Halo", text_en: str | None = None
) -> int:
    """A broadcast made by staff at AT, as every staff surface makes it."""

    def create(tx: Tx) -> int:
        return outreach.create_broadcast(
            tx,
            segment=segment,
            text_id=text_id,
            text_en=text_en,
            template=None,
            send_at=send_at,
            actor="staff:a",
            at=AT,
            tz=WIB,
            quiet=TIMES.quiet,
        )

    return await db.write(create)


async def _new_reminder(
    db: Store, segment: Segment, text_id: str, *, due_at: datetime | None = None, cron: str | None = None
) -> int:
    """A one-off (`due_at`) or recurring (`cron`) reminder made by staff at AT."""

    def create(tx: Tx) -> int:
        return outreach.create_reminder(
            tx,
            segment=segment,
            text_id=text_id,
            text_en=None,
            due_at=due_at,
            cron=cron,
            actor="staff:a",
            at=AT,
            tz=WIB,
        )

    return await db.write(create)


async def test_a_broadcast_queues_one_message_per_recipient_in_their_language(store: Store) -> None:
    await store.write(_people)
    later = AT + timedelta(hours=2)
    montir = Segment(skills=["montir"])
    broadcast_id = await _new_broadcast(store, montir, later, "Pelatihan montir", "Mechanic training")
    scheduled = await _broadcast(store, broadcast_id)
    assert (
        scheduled.status == "scheduled" and scheduled.send_at == later and scheduled.created_by == "staff:a"
    )
    assert await outreach.due_broadcasts(store, AT) == []
    assert await outreach.due_broadcasts(store, later) == [broadcast_id]

    def enqueue(tx: Tx) -> int:
        return outreach.enqueue_broadcast(tx, broadcast_id=broadcast_id, at=later, tz=WIB, quiet=TIMES.quiet)

    assert await store.write(enqueue) == 2
    assert await store.write(enqueue) == 0  # already sending: nothing queued twice
    assert await _outbox(store) == {"telegram:1": "Pelatihan montir", "telegram:2": "Mechanic training"}
    progress = await outreach.broadcast_progress(store, broadcast_id)
    assert (progress.status, progress.recipients, progress.counts) == ("sending", 2, {"queued": 2})
    assert progress.segment["skills"] == ["montir"] and progress.enqueued_at == later
    assert await outreach.due_broadcasts(store, later) == []
    assert [b.id for b in await outreach.recent_broadcasts(store, 10)] == [broadcast_id]

    stop = AT + timedelta(hours=3)
    cancelled = await store.write(
        lambda tx: outreach.cancel_broadcast(tx, broadcast_id=broadcast_id, actor="staff:b", at=stop)
    )
    assert cancelled == 2
    progress = await outreach.broadcast_progress(store, broadcast_id)
    assert (progress.status, progress.counts, progress.finished_at) == ("cancelled", {"cancelled": 2}, stop)
    assert await _outbox(store) == {}


async def _broadcast(db: Store, broadcast_id: int) -> outreach_store.BroadcastRecord:
    found = await outreach_store.get_broadcast(db, broadcast_id)
    assert found is not None
    return found


async def test_the_same_segment_rows_are_queued_once_under_one_key(store: Store) -> None:
    await store.write(_people)
    payloads = outreach_store.SegmentPayloads(id="a", en="b", id_voiced="a", en_voiced="b")

    def queue(tx: Tx) -> int:
        return outreach_store.queue_for_segment(
            tx,
            segment=Segment(everyone=True),
            tz=WIB,
            origin="broadcast",
            payloads=payloads,
            key_prefix="test:1:",
            at=AT,
        )

    assert await store.write(queue) == 3
    assert await store.write(queue) == 0
    assert len(await repo.pending_outbox(store)) == 3


async def test_a_finished_broadcast_is_marked_done_once(store: Store) -> None:
    await store.write(_people)
    broadcast_id = await _new_broadcast(store, Segment(everyone=True), AT)
    assert await store.write(lambda tx: outreach.finish_broadcasts(tx, AT)) == []  # rows still queued
    sent = [row.id for row in await repo.pending_outbox(store)]
    await store.write(lambda tx: repo.mark_outbox(tx, sent, OutboxStatus.SENT, AT))
    assert await store.write(lambda tx: outreach.finish_broadcasts(tx, AT)) == [broadcast_id]
    assert await store.write(lambda tx: outreach.finish_broadcasts(tx, AT)) == []
    progress = await outreach.broadcast_progress(store, broadcast_id)
    assert (progress.status, progress.counts) == ("done", {"sent": 3})


async def test_a_reminder_due_is_sent_once_and_recorded(store: Store) -> None:
    await store.write(_people)
    due = AT + timedelta(minutes=30)
    reminder_id = await _new_reminder(store, Segment(skills=["masak"]), "Jangan lupa", due_at=due)
    assert await outreach.due_reminders(store, AT) == []
    assert await outreach.due_reminders(store, due) == [reminder_id]

    def run(tx: Tx) -> outreach.ReminderRun:
        return outreach.run_reminder(tx, reminder_id=reminder_id, at=due, times=TIMES, catalog=CATALOG)

    first = await store.write(run)
    again = await store.write(run)
    assert (first.outcome, first.recipients, first.due_at) == ("sent", 2, due)
    assert again.outcome == "already_done"
    assert await outreach.due_reminders(store, due + timedelta(days=1)) == []
    assert sorted(await _outbox(store)) == ["telegram:1", "telegram:3"]
    (recorded,) = await outreach_store.recent_runs(store)
    assert (recorded.reminder_id, recorded.outcome, recorded.recipients, recorded.at) == (
        reminder_id,
        "sent",
        2,
        due,
    )
    reminder = await outreach_store.get_reminder(store, reminder_id)
    assert reminder is not None and reminder.status == "done"
    assert await outreach_store.active_reminders(store, staff_only=False) == []


async def test_a_recurring_reminder_moves_to_its_next_time(store: Store) -> None:
    await store.write(_people)
    reminder_id = await _new_reminder(store, Segment(everyone=True), "Setiap pagi", cron="0 8 * * *")
    first_due = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)  # 08:00 WIB the next day
    (listed,) = await outreach_store.active_reminders(store, staff_only=True)
    assert (listed.id, listed.due_at, listed.cron, listed.kind) == (
        reminder_id,
        first_due,
        "0 8 * * *",
        "recurring",
    )
    run = await store.write(
        lambda tx: outreach.run_reminder(
            tx, reminder_id=reminder_id, at=first_due, times=TIMES, catalog=CATALOG
        )
    )
    assert (run.outcome, run.recipients) == ("sent", 3)
    moved = await outreach_store.get_reminder(store, reminder_id)
    assert moved is not None and moved.status == "active" and moved.due_at == first_due + timedelta(days=1)
    assert await outreach_store.active_staff_reminder(store, reminder_id) == moved
    assert await store.write(
        lambda tx: outreach.cancel_reminder(tx, reminder_id=reminder_id, actor="a", at=AT)
    )
    assert not await store.write(
        lambda tx: outreach.cancel_reminder(tx, reminder_id=reminder_id, actor="a", at=AT)
    )
    assert await outreach_store.active_staff_reminder(store, reminder_id) is None


async def test_an_appointment_tells_the_citizen_and_is_listed(store: Store) -> None:
    await store.write(_people)

    def case(tx: Tx) -> int:
        return repo.insert_case(
            tx,
            CaseRecord(
                reference="AID-2026-0001",
                kind=CaseKind.AID,
                contact_id="telegram:1",
                subject_name="Ani",
                created_at=AT,
                updated_at=AT,
            ),
            actor="test",
        )

    await store.write(case)
    starts = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)  # 09:00 WIB

    def appoint(tx: Tx) -> int:
        return outreach.create_appointment(
            tx,
            reference="aid-2026-0001",
            starts_at=starts,
            place="Kantor Dinsos",
            note=None,
            actor="staff:a",
            at=AT,
            times=TIMES,
            catalog=CATALOG,
        )

    await store.write(appoint)
    (listed,) = await outreach_store.upcoming_appointments(store, AT)
    assert (listed.reference, listed.place, listed.starts_at, listed.status) == (
        "AID-2026-0001",
        "Kantor Dinsos",
        starts,
        "scheduled",
    )
    assert await outreach_store.upcoming_appointments(store, starts + timedelta(minutes=1)) == []
    assert list(await _outbox(store)) == ["telegram:1"]
    reminders = await outreach_store.active_reminders(store, staff_only=False)
    assert [r.kind for r in reminders] == ["appointment_day_before", "appointment_morning"]
    assert await outreach_store.active_reminders(store, staff_only=True) == []


async def test_programme_invitations_places_and_waiting_list(store: Store) -> None:
    await store.write(_people)
    starts = AT + timedelta(days=7)

    def create(tx: Tx) -> int:
        return outreach.create_programme(
            tx,
            name="Pelatihan montir",
            skill="montir",
            place="Balai",
            starts_at=starts,
            ends_at=starts + timedelta(hours=4),
            quota=1,
            actor="staff:a",
            at=AT,
            times=TIMES,
        )

    programme_id = await store.write(create)

    def invite(tx: Tx) -> int:
        return outreach.invite(
            tx,
            programme_id=programme_id,
            segment=Segment(everyone=True),
            actor="staff:a",
            at=AT,
            times=TIMES,
            catalog=CATALOG,
        )

    assert await store.write(invite) == 3
    assert await store.write(invite) == 0  # everyone already invited is left alone
    assert await outreach_store.open_invitation(store, "telegram:2") == programme_id
    assert await outreach_store.open_invitation(store, "telegram:4") is None

    async def say(contact: str, attending: bool) -> outreach.RsvpOutcome:
        def write(tx: Tx) -> outreach.RsvpOutcome:
            return outreach.answer_rsvp(
                tx,
                programme_id=programme_id,
                contact_id=contact,
                attending=attending,
                at=AT,
                catalog=CATALOG,
                tz=WIB,
            )

        return await store.write(write)

    assert await say("telegram:2", True) == outreach.RsvpOutcome("confirmed", "Pelatihan montir")
    assert await say("telegram:1", True) == outreach.RsvpOutcome("waiting", "Pelatihan montir", 1)
    assert await say("telegram:3", True) == outreach.RsvpOutcome("waiting", "Pelatihan montir", 2)
    assert await say("telegram:3", True) == outreach.RsvpOutcome("waiting", "Pelatihan montir", 2)
    assert await outreach_store.open_invitation(store, "telegram:2") is None
    listed = await outreach.attendees(store, programme_id)
    assert [(a.contact_id, a.status, a.name) for a in listed] == [
        ("telegram:2", "confirmed", "Budi"),
        ("telegram:1", "waiting", "Ani"),
        ("telegram:3", "waiting", "Citra"),
    ]
    assert all(a.answered_at == AT for a in listed)
    (summary,) = await outreach.programmes(store)
    assert (summary.id, summary.confirmed, summary.waiting, summary.quota, summary.starts_at) == (
        programme_id,
        1,
        2,
        1,
        starts,
    )

    assert await say("telegram:2", False) == outreach.RsvpOutcome("declined", "Pelatihan montir")
    listed = await outreach.attendees(store, programme_id)
    assert [(a.contact_id, a.status) for a in listed] == [
        ("telegram:1", "confirmed"),
        ("telegram:3", "waiting"),
        ("telegram:2", "declined"),
    ]
    assert await say("telegram:3", True) == outreach.RsvpOutcome("waiting", "Pelatihan montir", 1)

    # The day before, those with a place are reminded, once.
    remind_at = datetime(2026, 11, 8, 9, 0, tzinfo=UTC)  # 16:00 WIB the day before
    (reminder_id,) = await outreach.due_reminders(store, remind_at)
    run = await store.write(
        lambda tx: outreach.run_reminder(
            tx, reminder_id=reminder_id, at=remind_at, times=TIMES, catalog=CATALOG
        )
    )
    assert (run.outcome, run.recipients) == ("sent", 1)
    reminded = [r for r in await repo.pending_outbox(store) if r.origin == "reminder"]
    assert [r.contact_id for r in reminded] == ["telegram:1"]


async def test_a_closed_or_started_programme_takes_no_answer(store: Store) -> None:
    await store.write(_people)
    starts = AT + timedelta(hours=1)
    programme_id = await store.write(
        lambda tx: outreach_store.insert_programme(
            tx,
            name="Rias",
            skill="rias",
            place="Balai",
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            quota=5,
            actor="a",
            at=AT,
        )
    )
    late = await store.write(
        lambda tx: outreach.answer_rsvp(
            tx,
            programme_id=programme_id,
            contact_id="telegram:1",
            attending=True,
            at=starts,
            catalog=CATALOG,
            tz=WIB,
        )
    )
    assert late.status == "closed"
    assert await outreach.attendees(store, programme_id) == []


async def test_nudge_candidates_are_nudged_once(store: Store) -> None:
    await store.write(_people)
    started = AT - timedelta(days=2)

    def half_way(tx: Tx) -> None:
        for contact in ("telegram:1", "telegram:4"):  # telegram:4 receives no information messages
            repo.save_conversation(
                tx,
                ConversationRecord(
                    contact_id=contact,
                    flow="registration",
                    step="nik",
                    started_at=started,
                    updated_at=started,
                ),
            )
        repo.insert_case(
            tx,
            CaseRecord(
                reference="AID-2026-0009",
                kind=CaseKind.AID,
                status=CaseStatus.PERLU_INFO,
                contact_id="telegram:2",
                subject_name="Budi",
                info_question="Alamat lengkap?",
                created_at=started,
                updated_at=started,
            ),
            actor="test",
        )

    await store.write(half_way)
    (unfinished,) = await store.write(
        lambda tx: outreach_store.unfinished_registrations(
            tx, idle_since=AT - timedelta(hours=1), inbound_since=AT - timedelta(hours=23)
        )
    )
    assert (unfinished.contact_id, unfinished.started_at) == ("telegram:1", started)
    (waiting,) = await store.write(
        lambda tx: outreach_store.cases_waiting_for_info(tx, unchanged_since=AT - timedelta(days=1))
    )
    assert (waiting.reference, waiting.contact_id, waiting.question) == (
        "AID-2026-0009",
        "telegram:2",
        "Alamat lengkap?",
    )

    def nudge(tx: Tx) -> int:
        return outreach.queue_nudges(
            tx,
            at=AT,
            unfinished_after=timedelta(hours=1),
            info_after=timedelta(days=1),
            catalog=CATALOG,
            quiet=TIMES.quiet,
        )

    assert await store.write(nudge) == 2
    assert await store.write(nudge) == 0
    assert sorted(await _outbox(store)) == ["telegram:1", "telegram:2"]
    assert "Alamat lengkap?" in (await _outbox(store))["telegram:2"]


async def test_a_staff_draft_is_kept_found_by_its_question_and_dropped(store: Store) -> None:
    prefix = "telegram.staff.outreach."
    first = json.dumps({"kind": "siaran", "prompt": 41})
    await store.write(lambda tx: outreach_store.save_draft(tx, f"{prefix}7.siaran", first))
    await store.write(
        lambda tx: outreach_store.save_draft(tx, f"{prefix}8.pengingat", json.dumps({"prompt": 42}))
    )
    await store.write(lambda tx: outreach_store.save_draft(tx, "telegram.other", json.dumps({"prompt": 41})))
    assert await outreach_store.load_draft(store, f"{prefix}7.siaran") == first
    assert await outreach_store.draft_asking(store, prefix, 41) == first
    assert await outreach_store.draft_asking(store, prefix, 43) is None
    changed = json.dumps({"kind": "siaran", "prompt": 43})
    await store.write(lambda tx: outreach_store.save_draft(tx, f"{prefix}7.siaran", changed))
    assert await outreach_store.draft_asking(store, prefix, 43) == changed
    await store.write(lambda tx: outreach_store.drop_draft(tx, f"{prefix}7.siaran"))
    assert await outreach_store.load_draft(store, f"{prefix}7.siaran") is None
