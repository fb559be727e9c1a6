"""Broadcasts, reminders, appointments and training programmes: the staff side of reaching people.

What is done is a write function of a `Tx` (run with `Store.write`): the outbox rows a broadcast or
reminder produces are written in the same transaction that records it as done, so a crash either leaves
nothing (and the work is redone) or leaves the rows (and they are sent once by the outbox sender). Outbox
rows carry a `dedupe_key`, unique, as a second guard against doing the same work twice. What staff look at
(previews, progress, lists, what is due) is read from the `Store`, beside the writes. The rows themselves
are kept by `storage.outreach`.
"""

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from handlers.i18n import Catalog
from handlers.segments import Segment
from handlers.speech import Said, speakable
from handlers.staff.errors import StaffError
from handlers.types import Choice, Reply, Spoken, Voice
from storage import outreach as store
from storage import repo
from storage.contract import Store, Tx
from storage.outreach import Attendee, ProgrammeRecord


class OutreachError(StaffError):
    """An outreach request that cannot be done (see `StaffError`: a code each surface words itself)."""


def require_chosen(segment: Segment) -> None:
    """Refuse a segment nobody chose: no filter without an explicit "semua warga"."""
    if not segment.chosen():
        raise OutreachError(
            "choose who receives it, or choose everyone explicitly (--everyone)", "needs_everyone"
        )


@dataclass(frozen=True, slots=True)
class QuietHours:
    """No bulk sends between `start` and `end` local time (21:00-06:00 WIB by default)."""

    start: time
    end: time
    tz: ZoneInfo

    def active(self, at: datetime) -> bool:
        """Whether `at` falls inside the quiet hours."""
        local = at.astimezone(self.tz).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, at: datetime) -> datetime:
        """`at` itself, or the end of the quiet period it falls in."""
        if not self.active(at):
            return at
        local = at.astimezone(self.tz)
        end = datetime.combine(local.date(), self.end, tzinfo=self.tz)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC)


def _payload(
    text: str,
    *,
    template: str | None = None,
    choices: tuple[Choice, ...] = (),
    voice: str | None = None,
    said: Said | None = None,
) -> str:
    """An outbox payload; `voice` (the contact's language) adds its voice note, for contacts in voice mode.

    `said` names the catalog sentence the text is (so the office's recording of it can be played); staff's
    own words are spoken as they are.
    """
    spoken = None
    if voice is not None:
        parts = [Spoken(text=text)]
        if said is not None and text.startswith(said[0]):
            parts = [Spoken(text=said[0], key=said[1], params=said[2])]
            if speakable(rest := text[len(said[0]) :]):
                parts.append(Spoken(text=rest.strip()))  # staff's own words after the sentence
        spoken = Voice(language=voice, parts=tuple(parts))
    return Reply(text=text, template=template, choices=choices, voice=spoken).to_json()


def _insert_for_segment(
    tx: Tx,
    *,
    segment: Segment,
    tz: ZoneInfo,
    origin: str,
    payload_id: str,
    payload_en: str,
    key_prefix: str,
    at: datetime,
    not_before: datetime | None = None,
    broadcast_id: int | None = None,
) -> int:
    """One outbox row per reachable contact of the segment, in its language (with a voice note for
    contacts in voice mode); returns how many."""
    payloads = store.SegmentPayloads(
        id=payload_id,
        en=payload_en,
        id_voiced=_with_voice(payload_id, "id"),
        en_voiced=_with_voice(payload_en, "en"),
    )
    return store.queue_for_segment(
        tx,
        segment=segment,
        tz=tz,
        origin=origin,
        payloads=payloads,
        key_prefix=key_prefix,
        at=at,
        not_before=not_before,
        broadcast_id=broadcast_id,
    )


def _with_voice(payload: str, language: str) -> str:
    """The same payload with its voice note (the text spoken as it is)."""
    reply = Reply.from_json(payload)
    return _payload(reply.text, template=reply.template, choices=reply.choices, voice=language)


# ---------------------------------------------------------------- segments


async def preview(db: Store, segment: Segment, tz: ZoneInfo, sample: int = 5) -> tuple[int, list[str]]:
    """How many contacts a segment reaches, and a few of their names (for the staff preview)."""
    count = await store.segment_size(db, segment, tz)
    names = await store.segment_sample(db, segment, tz, sample) if count else []
    return count, names


# ---------------------------------------------------------------- broadcasts


def create_broadcast(
    tx: Tx,
    *,
    segment: Segment,
    text_id: str,
    text_en: str | None,
    template: str | None,
    send_at: datetime,
    actor: str,
    at: datetime,
    tz: ZoneInfo,
    quiet: QuietHours,
) -> int:
    """Record a broadcast; when it is due now, write its outbox rows at once."""
    if not text_id.strip():
        raise OutreachError("a broadcast needs its Indonesian text", "needs_text")
    require_chosen(segment)
    broadcast_id = store.insert_broadcast(
        tx,
        segment=segment.model_dump_json(),
        text_id=text_id.strip(),
        text_en=(text_en or "").strip() or None,
        template=template,
        send_at=send_at,
        actor=actor,
        at=at,
    )
    repo.audit(
        tx,
        actor=actor,
        action="broadcast.create",
        at=at,
        target=f"broadcast:{broadcast_id}",
        detail=segment.model_dump_json(exclude_defaults=True),
    )
    if send_at <= at:
        enqueue_broadcast(tx, broadcast_id=broadcast_id, at=at, tz=tz, quiet=quiet)
    return broadcast_id


def enqueue_broadcast(tx: Tx, *, broadcast_id: int, at: datetime, tz: ZoneInfo, quiet: QuietHours) -> int:
    """Write one outbox row per recipient (before any is sent); return the number of recipients."""
    broadcast = store.broadcast_in(tx, broadcast_id)
    if broadcast is None or broadcast.status != "scheduled":
        return 0
    segment = Segment.model_validate_json(broadcast.segment)
    count = _insert_for_segment(
        tx,
        segment=segment,
        tz=tz,
        origin="broadcast",
        payload_id=_payload(broadcast.text_id, template=broadcast.template),
        payload_en=_payload(broadcast.text_en or broadcast.text_id, template=broadcast.template),
        key_prefix=f"b:{broadcast_id}:",
        at=at,
        not_before=quiet.next_allowed(at),
        broadcast_id=broadcast_id,
    )
    store.mark_broadcast_sending(tx, broadcast_id, recipients=count, at=at)
    return count


def cancel_broadcast(tx: Tx, *, broadcast_id: int, actor: str, at: datetime) -> int:
    """Stop a broadcast: rows not yet sent are cancelled; returns how many were cancelled."""
    broadcast = store.broadcast_in(tx, broadcast_id)
    if broadcast is None:
        raise OutreachError(f"no broadcast {broadcast_id}")
    if broadcast.status in ("done", "cancelled"):
        raise OutreachError(f"broadcast {broadcast_id} is already {broadcast.status}")
    cancelled = store.cancel_broadcast(tx, broadcast_id, actor=actor, at=at)
    repo.audit(
        tx,
        actor=actor,
        action="broadcast.cancel",
        at=at,
        target=f"broadcast:{broadcast_id}",
        detail=f"{cancelled} not sent",
    )
    return cancelled


@dataclass(frozen=True, slots=True)
class BroadcastProgress:
    """A broadcast with its outbox rows counted by status (`segment`: its filters, as a dict)."""

    id: int
    status: str
    recipients: int
    created_at: datetime
    send_at: datetime
    enqueued_at: datetime | None
    finished_at: datetime | None
    text: str
    text_en: str | None
    template: str | None
    created_by: str
    segment: dict[str, Any]
    counts: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        """The progress as JSON values (times as ISO text)."""
        return {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in asdict(self).items()
        }


async def broadcast_progress(db: Store, broadcast_id: int) -> BroadcastProgress:
    """Counts by outbox status, with the broadcast's own state."""
    broadcast = await store.get_broadcast(db, broadcast_id)
    if broadcast is None:
        raise OutreachError(f"no broadcast {broadcast_id}")
    return BroadcastProgress(
        id=broadcast.id,
        status=broadcast.status,
        recipients=broadcast.recipients,
        created_at=broadcast.created_at,
        send_at=broadcast.send_at,
        enqueued_at=broadcast.enqueued_at,
        finished_at=broadcast.finished_at,
        text=broadcast.text_id,
        text_en=broadcast.text_en,
        template=broadcast.template,
        created_by=broadcast.created_by,
        segment=json.loads(broadcast.segment),
        counts=await store.broadcast_counts(db, broadcast_id),
    )


async def recent_broadcasts(db: Store, limit: int) -> list[BroadcastProgress]:
    """The newest broadcasts with their progress, newest first."""
    return [
        await broadcast_progress(db, broadcast_id)
        for broadcast_id in await store.recent_broadcasts(db, limit)
    ]


def finish_broadcasts(tx: Tx, at: datetime) -> list[int]:
    """Mark broadcasts done once none of their rows wait to be sent."""
    return store.finish_broadcasts(tx, at)


async def due_broadcasts(db: Store, at: datetime) -> list[int]:
    """Scheduled broadcasts whose time has come."""
    return await store.due_broadcasts(db, at)


# ---------------------------------------------------------------- reminders


def next_cron(cron: str, tz: ZoneInfo, after: datetime) -> datetime:
    """The next firing strictly after `after` of a crontab expression in local time."""
    trigger = CronTrigger.from_crontab(cron, timezone=tz)
    fire = trigger.get_next_fire_time(None, after + timedelta(seconds=1))
    if fire is None:
        raise OutreachError(f"the schedule {cron!r} never fires")
    result: datetime = fire.astimezone(UTC)
    return result


def create_reminder(
    tx: Tx,
    *,
    segment: Segment,
    text_id: str,
    text_en: str | None,
    due_at: datetime | None,
    cron: str | None,
    actor: str,
    at: datetime,
    tz: ZoneInfo,
) -> int:
    """A one-off (`due_at`) or recurring (`cron`, local time) message to a segment (chosen: some filter,
    or "semua warga" explicitly)."""
    require_chosen(segment)
    if (due_at is None) == (cron is None):
        raise OutreachError("give either a time (once) or a schedule (recurring), not both")
    if cron is not None:
        try:
            first = next_cron(cron, tz, at)
        except ValueError as error:
            raise OutreachError(f"not a crontab schedule: {cron!r} ({error})") from None
    else:
        assert due_at is not None
        first = due_at
    reminder_id = store.insert_reminder(
        tx,
        kind="recurring" if cron else "segment",
        segment=segment.model_dump_json(),
        text_id=text_id.strip(),
        text_en=(text_en or "").strip() or None,
        cron=cron,
        due_at=first,
        actor=actor,
        at=at,
    )
    repo.audit(
        tx,
        actor=actor,
        action="reminder.create",
        at=at,
        target=f"reminder:{reminder_id}",
        detail=cron or first.astimezone(UTC).isoformat(),
    )
    return reminder_id


def cancel_reminder(tx: Tx, *, reminder_id: int, actor: str, at: datetime) -> bool:
    """Stop a staff reminder (one-off or recurring; appointment and programme reminders follow those)."""
    stopped = store.cancel_staff_reminder(tx, reminder_id)
    if stopped:
        repo.audit(tx, actor=actor, action="reminder.cancel", at=at, target=f"reminder:{reminder_id}")
    return stopped


@dataclass(frozen=True, slots=True)
class ReminderRun:
    """What one due reminder did."""

    reminder_id: int
    due_at: datetime
    outcome: str  # sent | skipped_stale | skipped_irrelevant | already_done
    recipients: int = 0


@dataclass(frozen=True, slots=True)
class OutreachTimes:
    """Times and thresholds the reminders follow."""

    tz: ZoneInfo
    quiet: QuietHours
    stale_after: timedelta
    day_before: time
    morning: time


async def due_reminders(db: Store, at: datetime, limit: int = 200) -> list[int]:
    """Active reminders whose time has come, oldest first."""
    return await store.due_reminders(db, at, limit)


def run_reminder(
    tx: Tx, *, reminder_id: int, at: datetime, times: OutreachTimes, catalog: Catalog
) -> ReminderRun:
    """Send (queue) or consciously skip one due reminder, and move it to its next time — atomically."""
    reminder = store.reminder_in(tx, reminder_id)
    if reminder is None:
        raise OutreachError(f"no reminder {reminder_id}")
    due_at = reminder.due_at
    if reminder.status != "active" or store.run_recorded(tx, reminder_id, due_at):
        return ReminderRun(reminder_id, due_at, "already_done")
    kind = reminder.kind
    outcome, recipients, detail = "sent", 0, None
    if kind in ("segment", "recurring"):
        if at - due_at > times.stale_after:
            outcome, detail = "skipped_stale", f"{at - due_at} late"
        else:
            segment = Segment.model_validate_json(reminder.segment or "{}")
            text_id = reminder.text_id or ""
            recipients = _insert_for_segment(
                tx,
                segment=segment,
                tz=times.tz,
                origin="reminder",
                payload_id=_payload(text_id),
                payload_en=_payload(reminder.text_en or text_id),
                key_prefix=store.run_key(reminder_id, due_at),
                at=at,
                not_before=times.quiet.next_allowed(at),
            )
    elif kind in ("appointment_day_before", "appointment_morning"):
        outcome, recipients, detail = _appointment_reminder(tx, reminder, at, times, catalog)
    elif kind == "programme":
        outcome, recipients, detail = _programme_reminder(tx, reminder, at, times, catalog)
    next_due = None
    if kind == "recurring":
        assert reminder.cron is not None
        next_due = next_cron(reminder.cron, times.tz, max(at, due_at))
    store.record_run(
        tx,
        reminder_id,
        due_at=due_at,
        outcome=outcome,
        detail=detail,
        recipients=recipients,
        at=at,
        next_due=next_due,
    )
    return ReminderRun(reminder_id, due_at, outcome, recipients)


def _local_parts(value: datetime, tz: ZoneInfo) -> tuple[str, str]:
    local = value.astimezone(tz)
    return local.strftime("%d-%m-%Y"), local.strftime("%H:%M")


def tell_of_appointment(
    tx: Tx,
    *,
    message_key: str,
    contact_id: str,
    case_id: int | None,
    reference: str,
    starts_at: datetime,
    place: str,
    origin: str,
    at: datetime,
    times: OutreachTimes,
    catalog: Catalog,
    note: str | None = None,
) -> bool:
    """Queue the citizen's message about an appointment (`message_key`: set, the day before, that morning) in
    their language, as a voice note too when they asked for those; False when they cannot be reached."""
    contact = store.contact_reach(tx, contact_id)
    if contact is None or not contact.reachable:
        return False
    day, clock = _local_parts(starts_at, times.tz)
    params = {"reference": reference, "date": day, "time": clock, "place": place}
    text = catalog.text(contact.language, message_key, **params)
    said = (text, message_key, tuple(params.items()))
    if note:
        text += "\n" + note
    repo.insert_outbox(
        tx,
        contact_id=contact_id,
        payload=_payload(text, voice=contact.language if contact.voice else None, said=said),
        origin=origin,
        at=at,
        case_id=case_id,
    )
    return True


def _appointment_reminder(
    tx: Tx, reminder: store.ReminderRecord, at: datetime, times: OutreachTimes, catalog: Catalog
) -> tuple[str, int, str | None]:
    assert reminder.appointment_id is not None
    appointment = store.appointment_in(tx, reminder.appointment_id)
    if appointment is None:
        return "skipped_irrelevant", 0, "appointment gone"
    starts = appointment.starts_at
    if appointment.status != "scheduled":
        return "skipped_irrelevant", 0, f"appointment {appointment.status}"
    if starts <= at:
        return "skipped_stale", 0, "appointment already past"
    told = tell_of_appointment(
        tx,
        message_key=(
            "notify.appointment_morning"
            if reminder.kind == "appointment_morning"
            else "notify.appointment_day_before"
        ),
        contact_id=appointment.contact_id,
        case_id=reminder.case_id,
        reference=appointment.reference,
        starts_at=starts,
        place=appointment.place,
        origin="reminder",
        at=at,
        times=times,
        catalog=catalog,
    )
    if not told:
        return "skipped_irrelevant", 0, "contact cannot be reached"
    return "sent", 1, None


def create_appointment(
    tx: Tx,
    *,
    reference: str,
    starts_at: datetime,
    place: str,
    note: str | None,
    actor: str,
    at: datetime,
    times: OutreachTimes,
    catalog: Catalog,
) -> int:
    """Set an appointment on a case: the staff service's `handlers.staff.casework.set_appointment` (its
    rules live there; this name stays for the callers of this module)."""
    from handlers.staff.casework import set_appointment  # the staff service builds on this module

    return set_appointment(
        tx,
        reference=reference,
        starts_at=starts_at,
        place=place,
        note=note,
        actor=actor,
        at=at,
        times=times,
        catalog=catalog,
    )


def at_local(day: date, moment: time, tz: ZoneInfo) -> datetime:
    """A local day and time of day as a UTC moment."""
    return datetime.combine(day, moment, tzinfo=tz).astimezone(UTC)


# ---------------------------------------------------------------- nudges


def queue_nudges(
    tx: Tx,
    *,
    at: datetime,
    unfinished_after: timedelta,
    info_after: timedelta,
    catalog: Catalog,
    quiet: QuietHours,
) -> int:
    """One nudge per unfinished registration and per unanswered "perlu info" question."""
    if quiet.active(at):
        return 0
    count = 0
    unfinished = store.unfinished_registrations(
        tx,
        idle_since=at - unfinished_after,
        inbound_since=at - timedelta(hours=23),  # WhatsApp free-form window, with an hour to spare
    )
    for registration in unfinished:
        count += store.queue_once(
            tx,
            contact_id=registration.contact_id,
            origin="nudge",
            payload=_payload(catalog.text(registration.language, "notify.nudge_registration")),
            dedupe_key=registration.dedupe_key,
            at=at,
        )
    for case in store.cases_waiting_for_info(tx, unchanged_since=at - info_after):
        text = catalog.text(
            case.language, "notify.nudge_info", reference=case.reference, question=case.question or ""
        )
        count += store.queue_once(
            tx,
            contact_id=case.contact_id,
            origin="nudge",
            payload=_payload(text),
            dedupe_key=case.dedupe_key,
            at=at,
            case_id=case.case_id,
        )
    return count


# ---------------------------------------------------------------- training programmes


def create_programme(
    tx: Tx,
    *,
    name: str,
    skill: str,
    place: str,
    starts_at: datetime,
    ends_at: datetime,
    quota: int,
    actor: str,
    at: datetime,
    times: OutreachTimes,
) -> int:
    """A training programme with a quota; attendees are reminded the day before it starts."""
    if quota < 1:
        raise OutreachError("the quota must be at least 1")
    if ends_at < starts_at:
        raise OutreachError("the programme ends before it starts")
    programme_id = store.insert_programme(
        tx,
        name=name.strip(),
        skill=skill,
        place=place.strip(),
        starts_at=starts_at,
        ends_at=ends_at,
        quota=quota,
        actor=actor,
        at=at,
    )
    remind = at_local(starts_at.astimezone(times.tz).date() - timedelta(days=1), times.day_before, times.tz)
    store.insert_reminder(
        tx, kind="programme", due_at=max(remind, at), programme_id=programme_id, actor=actor, at=at
    )
    repo.audit(
        tx,
        actor=actor,
        action="programme.create",
        at=at,
        target=f"programme:{programme_id}",
        detail=name.strip(),
    )
    return programme_id


def _programme_in(tx: Tx, programme_id: int) -> ProgrammeRecord:
    programme = store.programme_in(tx, programme_id)
    if programme is None:
        raise OutreachError(f"no programme {programme_id}")
    return programme


async def get_programme(db: Store, programme_id: int) -> ProgrammeRecord:
    """One programme (OutreachError when there is none)."""
    programme = await store.get_programme(db, programme_id)
    if programme is None:
        raise OutreachError(f"no programme {programme_id}")
    return programme


def invitation(catalog: Catalog, language: str, programme: ProgrammeRecord, tz: ZoneInfo) -> Reply:
    """The invitation message with Ya / Tidak buttons."""
    day, clock = _local_parts(programme.starts_at, tz)
    text = catalog.text(
        language,
        "programme.invite",
        name=programme.name,
        place=programme.place,
        date=day,
        time=clock,
        quota=programme.quota,
    )
    return Reply(
        text=text,
        choices=(
            Choice(f"rsvp:{programme.id}:yes", catalog.text(language, "programme.yes")),
            Choice(f"rsvp:{programme.id}:no", catalog.text(language, "programme.no")),
        ),
    )


def invite(
    tx: Tx,
    *,
    programme_id: int,
    segment: Segment,
    actor: str,
    at: datetime,
    times: OutreachTimes,
    catalog: Catalog,
) -> int:
    """Invite a segment: an RSVP row and an invitation message per contact not yet invited."""
    programme = _programme_in(tx, programme_id)
    require_chosen(segment)
    store.invite_segment(tx, programme_id, segment=segment, tz=times.tz, at=at)
    count = _insert_for_segment(
        tx,
        segment=segment,
        tz=times.tz,
        origin="programme",
        payload_id=invitation(catalog, "id", programme, times.tz).to_json(),
        payload_en=invitation(catalog, "en", programme, times.tz).to_json(),
        key_prefix=f"p:{programme_id}:invite:",
        at=at,
        not_before=times.quiet.next_allowed(at),
    )
    repo.audit(
        tx,
        actor=actor,
        action="programme.invite",
        at=at,
        target=f"programme:{programme_id}",
        detail=f"{count} invited",
    )
    return count


@dataclass(frozen=True, slots=True)
class RsvpOutcome:
    """Where an answer left the contact: confirmed, waiting (with position), declined, or closed."""

    status: str
    programme: str
    position: int = 0


def answer_rsvp(
    tx: Tx,
    *,
    programme_id: int,
    contact_id: str,
    attending: bool,
    at: datetime,
    catalog: Catalog,
    tz: ZoneInfo,
) -> RsvpOutcome:
    """Record Ya / Tidak. Places go in arrival order up to the quota, then a waiting list that moves up."""
    programme = store.programme_in(tx, programme_id)
    if programme is None or programme.status != "open" or programme.starts_at <= at:
        return RsvpOutcome("closed", programme.name if programme else "")
    current = store.rsvp_in(tx, programme_id, contact_id)
    status = current.status if current else None
    name = programme.name
    if attending:
        if status in ("confirmed", "waiting"):
            assert status is not None
            return RsvpOutcome(status, name, _position(tx, programme_id, contact_id))
        new_status = "confirmed" if store.confirmed_count(tx, programme_id) < programme.quota else "waiting"
        store.answer_yes(tx, programme_id, contact_id, status=new_status, at=at)
        return RsvpOutcome(new_status, name, _position(tx, programme_id, contact_id))
    store.answer_no(tx, programme_id, contact_id, at=at)
    if status == "confirmed":
        _promote_waiting(tx, programme, at, catalog, tz)
    return RsvpOutcome("declined", name)


def _position(tx: Tx, programme_id: int, contact_id: str) -> int:
    rsvp = store.rsvp_in(tx, programme_id, contact_id)
    if rsvp is None or rsvp.status != "waiting" or rsvp.answer_order is None:
        return 0
    return store.waiting_ahead(tx, programme_id, rsvp.answer_order) + 1


def _promote_waiting(
    tx: Tx, programme: ProgrammeRecord, at: datetime, catalog: Catalog, tz: ZoneInfo
) -> None:
    moved = store.promote_first_waiting(tx, programme.id)
    if moved is None:
        return
    day, clock = _local_parts(programme.starts_at, tz)
    text = catalog.text(
        moved.language, "programme.moved_up", name=programme.name, place=programme.place, date=day, time=clock
    )
    repo.insert_outbox(tx, contact_id=moved.contact_id, payload=_payload(text), origin="programme", at=at)


def _programme_reminder(
    tx: Tx, reminder: store.ReminderRecord, at: datetime, times: OutreachTimes, catalog: Catalog
) -> tuple[str, int, str | None]:
    assert reminder.programme_id is not None
    programme = _programme_in(tx, reminder.programme_id)
    if programme.starts_at <= at:
        return "skipped_stale", 0, "programme already started"
    day, clock = _local_parts(programme.starts_at, times.tz)
    invitees = store.confirmed_reachable(tx, programme.id)
    for invitee in invitees:
        text = catalog.text(
            invitee.language,
            "programme.reminder",
            name=programme.name,
            place=programme.place,
            date=day,
            time=clock,
        )
        store.queue_once(
            tx,
            contact_id=invitee.contact_id,
            origin="reminder",
            payload=_payload(text),
            dedupe_key=f"p:{programme.id}:remind:{invitee.contact_id}",
            at=at,
        )
    return "sent", len(invitees), None


async def attendees(db: Store, programme_id: int) -> list[Attendee]:
    """RSVPs of a programme: confirmed first, then the waiting list in order, then the rest."""
    await get_programme(db, programme_id)
    return await store.attendees(db, programme_id)


async def programmes(db: Store, limit: int | None = 200) -> list[ProgrammeRecord]:
    """Programmes, latest start first, with places taken and waiting."""
    return await store.programmes(db, limit)


async def open_invitation(db: Store, contact_id: str) -> int | None:
    """The programme of the contact's newest unanswered invitation (None: none open)."""
    return await store.open_invitation(db, contact_id)
