"""Broadcasts, reminders, appointments and training programmes: the staff side of reaching people.

Everything here is a write function (run with `Database.write`): the outbox rows a broadcast or reminder
produces are written in the same transaction that records it as done, so a crash either leaves nothing
(and the work is redone) or leaves the rows (and they are sent once by the outbox sender). Outbox rows
carry a `dedupe_key`, unique, as a second guard against doing the same work twice.
"""

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from handlers.i18n import Catalog
from handlers.segments import Segment, segment_where
from handlers.speech import Said, speakable
from handlers.staff.errors import StaffError
from handlers.types import Choice, Reply, Spoken, Voice
from storage import repo


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
    conn: sqlite3.Connection,
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
    where, params = segment_where(segment, tz)
    stamp = repo.iso(at)
    voiced_en, voiced_id = _with_voice(payload_en, "en"), _with_voice(payload_id, "id")
    cursor = conn.execute(
        f"""
        INSERT OR IGNORE INTO outbox (contact_id, origin, payload, status, broadcast_id, not_before,
            dedupe_key, created_at, updated_at)
        SELECT c.id, ?,
            CASE WHEN c.language = 'en' THEN (CASE WHEN c.voice THEN ? ELSE ? END)
                 ELSE (CASE WHEN c.voice THEN ? ELSE ? END) END,
            'queued', ?, ?, ? || c.id, ?, ?
        FROM contacts AS c WHERE {where}
        """,
        (
            origin,
            voiced_en,
            payload_en,
            voiced_id,
            payload_id,
            broadcast_id,
            repo.iso(not_before),
            key_prefix,
            stamp,
            stamp,
            *params,
        ),
    )
    return cursor.rowcount


def _with_voice(payload: str, language: str) -> str:
    """The same payload with its voice note (the text spoken as it is)."""
    reply = Reply.from_json(payload)
    return _payload(reply.text, template=reply.template, choices=reply.choices, voice=language)


# ---------------------------------------------------------------- segments


def preview(
    conn: sqlite3.Connection, segment: Segment, tz: ZoneInfo, sample: int = 5
) -> tuple[int, list[str]]:
    """How many contacts a segment reaches, and a few of their names (for the staff preview)."""
    where, params = segment_where(segment, tz)
    count = conn.execute(f"SELECT COUNT(*) FROM contacts AS c WHERE {where}", params).fetchone()[0]
    names = [
        row[0]
        for row in conn.execute(
            f"""SELECT COALESCE((SELECT p.full_name FROM persons AS p WHERE p.registered_by = c.id
                    AND p.deleted_at IS NULL ORDER BY p.is_self DESC, p.id LIMIT 1), c.display_name, '-')
                FROM contacts AS c WHERE {where} ORDER BY c.created_at LIMIT ?""",
            (*params, sample),
        )
    ]
    return int(count), names


# ---------------------------------------------------------------- broadcasts


def create_broadcast(
    conn: sqlite3.Connection,
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
    cursor = conn.execute(
        "INSERT INTO broadcasts (created_by, created_at, segment, text_id, text_en, template, send_at, "
        "status) VALUES (?, ?, ?, ?, ?, ?, ?, 'scheduled')",
        (
            actor,
            repo.iso(at),
            segment.model_dump_json(),
            text_id.strip(),
            (text_en or "").strip() or None,
            template,
            repo.iso(send_at),
        ),
    )
    broadcast_id = cursor.lastrowid
    assert broadcast_id is not None
    repo.audit(
        conn,
        actor=actor,
        action="broadcast.create",
        at=at,
        target=f"broadcast:{broadcast_id}",
        detail=segment.model_dump_json(exclude_defaults=True),
    )
    if send_at <= at:
        enqueue_broadcast(conn, broadcast_id=broadcast_id, at=at, tz=tz, quiet=quiet)
    return broadcast_id


def enqueue_broadcast(
    conn: sqlite3.Connection, *, broadcast_id: int, at: datetime, tz: ZoneInfo, quiet: QuietHours
) -> int:
    """Write one outbox row per recipient (before any is sent); return the number of recipients."""
    row = conn.execute(
        "SELECT segment, text_id, text_en, template, status FROM broadcasts WHERE id = ?", (broadcast_id,)
    ).fetchone()
    if row is None or row[4] != "scheduled":
        return 0
    segment = Segment.model_validate_json(row[0])
    text_en = row[2] or row[1]
    count = _insert_for_segment(
        conn,
        segment=segment,
        tz=tz,
        origin="broadcast",
        payload_id=_payload(row[1], template=row[3]),
        payload_en=_payload(text_en, template=row[3]),
        key_prefix=f"b:{broadcast_id}:",
        at=at,
        not_before=quiet.next_allowed(at),
        broadcast_id=broadcast_id,
    )
    conn.execute(
        "UPDATE broadcasts SET status = 'sending', recipients = ?, enqueued_at = ? WHERE id = ?",
        (count, repo.iso(at), broadcast_id),
    )
    return count


def cancel_broadcast(conn: sqlite3.Connection, *, broadcast_id: int, actor: str, at: datetime) -> int:
    """Stop a broadcast: rows not yet sent are cancelled; returns how many were cancelled."""
    row = conn.execute("SELECT status FROM broadcasts WHERE id = ?", (broadcast_id,)).fetchone()
    if row is None:
        raise OutreachError(f"no broadcast {broadcast_id}")
    if row[0] in ("done", "cancelled"):
        raise OutreachError(f"broadcast {broadcast_id} is already {row[0]}")
    cursor = conn.execute(
        "UPDATE outbox SET status = 'cancelled', updated_at = ? WHERE broadcast_id = ? AND status = 'queued'",
        (repo.iso(at), broadcast_id),
    )
    conn.execute(
        "UPDATE broadcasts SET status = 'cancelled', finished_at = ?, cancelled_by = ? WHERE id = ?",
        (repo.iso(at), actor, broadcast_id),
    )
    repo.audit(
        conn,
        actor=actor,
        action="broadcast.cancel",
        at=at,
        target=f"broadcast:{broadcast_id}",
        detail=f"{cursor.rowcount} not sent",
    )
    return cursor.rowcount


def broadcast_progress(conn: sqlite3.Connection, broadcast_id: int) -> dict[str, Any]:
    """Counts by outbox status, with the broadcast's own state."""
    row = conn.execute(
        "SELECT status, recipients, created_at, send_at, enqueued_at, finished_at, text_id, segment "
        "FROM broadcasts WHERE id = ?",
        (broadcast_id,),
    ).fetchone()
    if row is None:
        raise OutreachError(f"no broadcast {broadcast_id}")
    counts = dict(
        conn.execute(
            "SELECT status, COUNT(*) FROM outbox WHERE broadcast_id = ? GROUP BY status", (broadcast_id,)
        ).fetchall()
    )
    return {
        "id": broadcast_id,
        "status": row[0],
        "recipients": row[1] or 0,
        "created_at": row[2],
        "send_at": row[3],
        "enqueued_at": row[4],
        "finished_at": row[5],
        "text": row[6],
        "segment": json.loads(row[7]),
        "counts": {status: int(n) for status, n in counts.items()},
    }


def finish_broadcasts(conn: sqlite3.Connection, at: datetime) -> list[int]:
    """Mark broadcasts done once none of their rows wait to be sent."""
    done = [
        row[0]
        for row in conn.execute(
            "SELECT b.id FROM broadcasts AS b WHERE b.status = 'sending' AND NOT EXISTS ("
            "SELECT 1 FROM outbox AS o WHERE o.broadcast_id = b.id AND o.status IN ('queued', 'sending'))"
        )
    ]
    conn.executemany(
        "UPDATE broadcasts SET status = 'done', finished_at = ? WHERE id = ?",
        [(repo.iso(at), broadcast_id) for broadcast_id in done],
    )
    return done


def due_broadcasts(conn: sqlite3.Connection, at: datetime) -> list[int]:
    """Scheduled broadcasts whose time has come."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT id FROM broadcasts WHERE status = 'scheduled' AND send_at <= ? ORDER BY send_at",
            (repo.iso(at),),
        )
    ]


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
    conn: sqlite3.Connection,
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
    """A one-off (`due_at`) or recurring (`cron`, local time) message to a segment."""
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
    cursor = conn.execute(
        "INSERT INTO reminders (kind, segment, text_id, text_en, cron, due_at, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            "recurring" if cron else "segment",
            segment.model_dump_json(),
            text_id.strip(),
            (text_en or "").strip() or None,
            cron,
            repo.iso(first),
            actor,
            repo.iso(at),
        ),
    )
    assert cursor.lastrowid is not None
    repo.audit(
        conn,
        actor=actor,
        action="reminder.create",
        at=at,
        target=f"reminder:{cursor.lastrowid}",
        detail=cron or repo.iso(first),
    )
    return cursor.lastrowid


def cancel_reminder(conn: sqlite3.Connection, *, reminder_id: int, actor: str, at: datetime) -> bool:
    """Stop a staff reminder (one-off or recurring; appointment and programme reminders follow those)."""
    cursor = conn.execute(
        "UPDATE reminders SET status = 'cancelled' WHERE id = ? AND status = 'active' "
        "AND kind IN ('segment', 'recurring')",
        (reminder_id,),
    )
    if cursor.rowcount:
        repo.audit(conn, actor=actor, action="reminder.cancel", at=at, target=f"reminder:{reminder_id}")
    return bool(cursor.rowcount)


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


def due_reminders(conn: sqlite3.Connection, at: datetime, limit: int = 200) -> list[int]:
    """Active reminders whose time has come, oldest first."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT id FROM reminders WHERE status = 'active' AND due_at <= ? ORDER BY due_at LIMIT ?",
            (repo.iso(at), limit),
        )
    ]


def run_reminder(
    conn: sqlite3.Connection, *, reminder_id: int, at: datetime, times: OutreachTimes, catalog: Catalog
) -> ReminderRun:
    """Send (queue) or consciously skip one due reminder, and move it to its next time — atomically."""
    row = conn.execute("SELECT * FROM reminders WHERE id = ?", (reminder_id,)).fetchone()
    due_at = datetime.fromisoformat(row["due_at"])
    done = conn.execute(
        "SELECT outcome FROM reminder_runs WHERE reminder_id = ? AND due_at = ?", (reminder_id, row["due_at"])
    ).fetchone()
    if row["status"] != "active" or done is not None:
        return ReminderRun(reminder_id, due_at, "already_done")
    kind = row["kind"]
    outcome, recipients, detail = "sent", 0, None
    if kind in ("segment", "recurring"):
        if at - due_at > times.stale_after:
            outcome, detail = "skipped_stale", f"{at - due_at} late"
        else:
            segment = Segment.model_validate_json(row["segment"])
            text_id = row["text_id"]
            recipients = _insert_for_segment(
                conn,
                segment=segment,
                tz=times.tz,
                origin="reminder",
                payload_id=_payload(text_id),
                payload_en=_payload(row["text_en"] or text_id),
                key_prefix=f"r:{reminder_id}:{row['due_at']}:",
                at=at,
                not_before=times.quiet.next_allowed(at),
            )
    elif kind in ("appointment_day_before", "appointment_morning"):
        outcome, recipients, detail = _appointment_reminder(conn, row, at, times, catalog)
    elif kind == "programme":
        outcome, recipients, detail = _programme_reminder(conn, row, at, times, catalog)
    conn.execute(
        "INSERT INTO reminder_runs (reminder_id, due_at, outcome, detail, recipients, at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (reminder_id, row["due_at"], outcome, detail, recipients, repo.iso(at)),
    )
    if kind == "recurring":
        conn.execute(
            "UPDATE reminders SET due_at = ?, last_run_at = ? WHERE id = ?",
            (repo.iso(next_cron(row["cron"], times.tz, max(at, due_at))), repo.iso(at), reminder_id),
        )
    else:
        conn.execute(
            "UPDATE reminders SET status = 'done', last_run_at = ? WHERE id = ?", (repo.iso(at), reminder_id)
        )
    return ReminderRun(reminder_id, due_at, outcome, recipients)


def _contact_language(conn: sqlite3.Connection, contact_id: str) -> tuple[str, bool, bool] | None:
    """A contact's language, whether they can be reached, and whether they asked for voice notes."""
    row = conn.execute(
        "SELECT language, consent = 'granted' AND unreachable = 0, voice FROM contacts WHERE id = ?",
        (contact_id,),
    ).fetchone()
    return None if row is None else (row[0], bool(row[1]), bool(row[2]))


def _local_parts(value: datetime, tz: ZoneInfo) -> tuple[str, str]:
    local = value.astimezone(tz)
    return local.strftime("%d-%m-%Y"), local.strftime("%H:%M")


def _appointment_reminder(
    conn: sqlite3.Connection, reminder: sqlite3.Row, at: datetime, times: OutreachTimes, catalog: Catalog
) -> tuple[str, int, str | None]:
    appointment = conn.execute(
        "SELECT a.starts_at, a.place, a.status, c.contact_id, c.reference FROM appointments AS a "
        "JOIN cases AS c ON c.id = a.case_id WHERE a.id = ?",
        (reminder["appointment_id"],),
    ).fetchone()
    starts = datetime.fromisoformat(appointment["starts_at"])
    if appointment["status"] != "scheduled":
        return "skipped_irrelevant", 0, f"appointment {appointment['status']}"
    if starts <= at:
        return "skipped_stale", 0, "appointment already past"
    contact = _contact_language(conn, appointment["contact_id"])
    if contact is None or not contact[1]:
        return "skipped_irrelevant", 0, "contact cannot be reached"
    day, clock = _local_parts(starts, times.tz)
    key = (
        "notify.appointment_morning"
        if reminder["kind"] == "appointment_morning"
        else "notify.appointment_day_before"
    )
    params = {"reference": appointment["reference"], "date": day, "time": clock}
    params["place"] = appointment["place"]
    text = catalog.text(contact[0], key, **params)
    said = (text, key, tuple(params.items()))
    repo.insert_outbox(
        conn,
        contact_id=appointment["contact_id"],
        payload=_payload(text, voice=contact[0] if contact[2] else None, said=said),
        origin="reminder",
        at=at,
        case_id=reminder["case_id"],
    )
    return "sent", 1, None


def create_appointment(
    conn: sqlite3.Connection,
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
    """Set an appointment on a case: tell the citizen now, remind the day before and the morning of."""
    case = conn.execute(
        "SELECT id, contact_id, reference FROM cases WHERE reference = ?", (reference.strip().upper(),)
    ).fetchone()
    if case is None:
        raise OutreachError(f"no case with reference {reference!r}")
    if starts_at <= at:
        raise OutreachError("the appointment time is already past")
    if not place.strip():
        raise OutreachError("an appointment needs a place")
    cursor = conn.execute(
        "INSERT INTO appointments (case_id, starts_at, place, note, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (case["id"], repo.iso(starts_at), place.strip(), note, actor, repo.iso(at)),
    )
    appointment_id = cursor.lastrowid
    assert appointment_id is not None
    local_day = starts_at.astimezone(times.tz).date()
    moments = {
        "appointment_day_before": _at_local(local_day - timedelta(days=1), times.day_before, times.tz),
        "appointment_morning": _at_local(local_day, times.morning, times.tz),
    }
    for kind, when in moments.items():
        if when >= starts_at:
            continue  # an early-morning appointment needs no "this morning" reminder after it began
        conn.execute(
            "INSERT INTO reminders (kind, due_at, case_id, appointment_id, created_by, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (kind, repo.iso(max(when, at)), case["id"], appointment_id, actor, repo.iso(at)),
        )
    contact = _contact_language(conn, case["contact_id"])
    if contact is not None and contact[1]:
        day, clock = _local_parts(starts_at, times.tz)
        params = {"reference": case["reference"], "date": day, "time": clock, "place": place.strip()}
        text = catalog.text(contact[0], "notify.appointment_set", **params)
        said = (text, "notify.appointment_set", tuple(params.items()))
        if note:
            text += "\n" + note
        repo.insert_outbox(
            conn,
            contact_id=case["contact_id"],
            payload=_payload(text, voice=contact[0] if contact[2] else None, said=said),
            origin="staff",
            at=at,
            case_id=case["id"],
        )
    repo.audit(
        conn,
        actor=actor,
        action="case.appointment",
        at=at,
        target=case["reference"],
        detail=repo.iso(starts_at),
    )
    return appointment_id


def _at_local(day: date, moment: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=tz).astimezone(UTC)


# ---------------------------------------------------------------- nudges


def queue_nudges(
    conn: sqlite3.Connection,
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
    window = repo.iso(at - timedelta(hours=23))  # WhatsApp free-form window, with an hour to spare
    unfinished = conn.execute(
        """SELECT v.contact_id, v.started_at, c.language FROM conversations AS v
           JOIN contacts AS c ON c.id = v.contact_id
           WHERE v.flow = 'registration' AND v.updated_at <= ? AND c.consent = 'granted'
             AND c.opted_out = 0 AND c.unreachable = 0
             AND (c.channel != 'whatsapp' OR c.last_inbound_at >= ?)""",
        (repo.iso(at - unfinished_after), window),
    ).fetchall()
    for contact_id, started_at, language in unfinished:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO outbox (contact_id, origin, payload, status, dedupe_key, created_at, "
            "updated_at) "
            "VALUES (?, 'nudge', ?, 'queued', ?, ?, ?)",
            (
                contact_id,
                _payload(catalog.text(language, "notify.nudge_registration")),
                f"nudge:registration:{contact_id}:{started_at}",
                repo.iso(at),
                repo.iso(at),
            ),
        )
        count += cursor.rowcount
    waiting = conn.execute(
        """SELECT k.id, k.reference, k.contact_id, k.updated_at, k.info_question, c.language FROM cases AS k
           JOIN contacts AS c ON c.id = k.contact_id
           WHERE k.status = 'perlu_info' AND k.updated_at <= ? AND c.consent = 'granted'
             AND c.unreachable = 0""",
        (repo.iso(at - info_after),),
    ).fetchall()
    for case_id, reference, contact_id, updated_at, question, language in waiting:
        text = catalog.text(language, "notify.nudge_info", reference=reference, question=question or "")
        cursor = conn.execute(
            "INSERT OR IGNORE INTO outbox (contact_id, origin, payload, status, case_id, dedupe_key, "
            "created_at, "
            "updated_at) VALUES (?, 'nudge', ?, 'queued', ?, ?, ?, ?)",
            (
                contact_id,
                _payload(text),
                case_id,
                f"nudge:info:{case_id}:{updated_at}",
                repo.iso(at),
                repo.iso(at),
            ),
        )
        count += cursor.rowcount
    return count


# ---------------------------------------------------------------- training programmes


def create_programme(
    conn: sqlite3.Connection,
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
    cursor = conn.execute(
        "INSERT INTO programmes (name, skill, place, starts_at, ends_at, quota, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            name.strip(),
            skill,
            place.strip(),
            repo.iso(starts_at),
            repo.iso(ends_at),
            quota,
            actor,
            repo.iso(at),
        ),
    )
    programme_id = cursor.lastrowid
    assert programme_id is not None
    remind = _at_local(starts_at.astimezone(times.tz).date() - timedelta(days=1), times.day_before, times.tz)
    conn.execute(
        "INSERT INTO reminders (kind, due_at, programme_id, created_by, created_at) "
        "VALUES ('programme', ?, ?, ?, ?)",
        (repo.iso(max(remind, at)), programme_id, actor, repo.iso(at)),
    )
    repo.audit(
        conn,
        actor=actor,
        action="programme.create",
        at=at,
        target=f"programme:{programme_id}",
        detail=name.strip(),
    )
    return programme_id


def _programme_row(conn: sqlite3.Connection, programme_id: int) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM programmes WHERE id = ?", (programme_id,)).fetchone()
    if row is None:
        raise OutreachError(f"no programme {programme_id}")
    return row  # type: ignore[no-any-return]


def invitation(catalog: Catalog, language: str, programme: sqlite3.Row, tz: ZoneInfo) -> Reply:
    """The invitation message with Ya / Tidak buttons."""
    day, clock = _local_parts(datetime.fromisoformat(programme["starts_at"]), tz)
    text = catalog.text(
        language,
        "programme.invite",
        name=programme["name"],
        place=programme["place"],
        date=day,
        time=clock,
        quota=programme["quota"],
    )
    return Reply(
        text=text,
        choices=(
            Choice(f"rsvp:{programme['id']}:yes", catalog.text(language, "programme.yes")),
            Choice(f"rsvp:{programme['id']}:no", catalog.text(language, "programme.no")),
        ),
    )


def invite(
    conn: sqlite3.Connection,
    *,
    programme_id: int,
    segment: Segment,
    actor: str,
    at: datetime,
    times: OutreachTimes,
    catalog: Catalog,
) -> int:
    """Invite a segment: an RSVP row and an invitation message per contact not yet invited."""
    programme = _programme_row(conn, programme_id)
    require_chosen(segment)
    where, params = segment_where(segment, times.tz)
    stamp = repo.iso(at)
    conn.execute(
        f"INSERT OR IGNORE INTO rsvps (programme_id, contact_id, status, invited_at) "
        f"SELECT ?, c.id, 'invited', ? FROM contacts AS c WHERE {where}",
        (programme_id, stamp, *params),
    )
    count = _insert_for_segment(
        conn,
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
        conn,
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
    conn: sqlite3.Connection,
    *,
    programme_id: int,
    contact_id: str,
    attending: bool,
    at: datetime,
    catalog: Catalog,
    tz: ZoneInfo,
) -> RsvpOutcome:
    """Record Ya / Tidak. Places go in arrival order up to the quota, then a waiting list that moves up."""
    programme = conn.execute("SELECT * FROM programmes WHERE id = ?", (programme_id,)).fetchone()
    if (
        programme is None
        or programme["status"] != "open"
        or datetime.fromisoformat(programme["starts_at"]) <= at
    ):
        return RsvpOutcome("closed", programme["name"] if programme else "")
    current = conn.execute(
        "SELECT status FROM rsvps WHERE programme_id = ? AND contact_id = ?", (programme_id, contact_id)
    ).fetchone()
    status = current[0] if current else None
    name = programme["name"]
    if attending:
        if status in ("confirmed", "waiting"):
            return RsvpOutcome(status, name, _position(conn, programme_id, contact_id))
        confirmed = conn.execute(
            "SELECT COUNT(*) FROM rsvps WHERE programme_id = ? AND status = 'confirmed'", (programme_id,)
        ).fetchone()[0]
        new_status = "confirmed" if confirmed < programme["quota"] else "waiting"
        order = conn.execute(
            "SELECT COALESCE(MAX(answer_order), 0) + 1 FROM rsvps WHERE programme_id = ?", (programme_id,)
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO rsvps (programme_id, contact_id, status, invited_at, answered_at, answer_order) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (programme_id, contact_id) DO UPDATE SET "
            "status = excluded.status, answered_at = excluded.answered_at, "
            "answer_order = excluded.answer_order",
            (programme_id, contact_id, new_status, repo.iso(at), repo.iso(at), order),
        )
        return RsvpOutcome(new_status, name, _position(conn, programme_id, contact_id))
    conn.execute(
        "INSERT INTO rsvps (programme_id, contact_id, status, invited_at, answered_at) "
        "VALUES (?, ?, 'declined', ?, ?) ON CONFLICT (programme_id, contact_id) "
        "DO UPDATE SET status = 'declined', answered_at = excluded.answered_at",
        (programme_id, contact_id, repo.iso(at), repo.iso(at)),
    )
    if status == "confirmed":
        _promote_waiting(conn, programme, at, catalog, tz)
    return RsvpOutcome("declined", name)


def _position(conn: sqlite3.Connection, programme_id: int, contact_id: str) -> int:
    row = conn.execute(
        "SELECT status, answer_order FROM rsvps WHERE programme_id = ? AND contact_id = ?",
        (programme_id, contact_id),
    ).fetchone()
    if row is None or row[0] != "waiting":
        return 0
    ahead = conn.execute(
        "SELECT COUNT(*) FROM rsvps WHERE programme_id = ? AND status = 'waiting' AND answer_order < ?",
        (programme_id, row[1]),
    ).fetchone()[0]
    return int(ahead) + 1


def _promote_waiting(
    conn: sqlite3.Connection, programme: sqlite3.Row, at: datetime, catalog: Catalog, tz: ZoneInfo
) -> None:
    row = conn.execute(
        "SELECT r.contact_id, c.language FROM rsvps AS r JOIN contacts AS c ON c.id = r.contact_id "
        "WHERE r.programme_id = ? AND r.status = 'waiting' ORDER BY r.answer_order LIMIT 1",
        (programme["id"],),
    ).fetchone()
    if row is None:
        return
    conn.execute(
        "UPDATE rsvps SET status = 'confirmed' WHERE programme_id = ? AND contact_id = ?",
        (programme["id"], row[0]),
    )
    day, clock = _local_parts(datetime.fromisoformat(programme["starts_at"]), tz)
    text = catalog.text(
        row[1], "programme.moved_up", name=programme["name"], place=programme["place"], date=day, time=clock
    )
    repo.insert_outbox(conn, contact_id=row[0], payload=_payload(text), origin="programme", at=at)


def _programme_reminder(
    conn: sqlite3.Connection, reminder: sqlite3.Row, at: datetime, times: OutreachTimes, catalog: Catalog
) -> tuple[str, int, str | None]:
    programme = _programme_row(conn, reminder["programme_id"])
    starts = datetime.fromisoformat(programme["starts_at"])
    if starts <= at:
        return "skipped_stale", 0, "programme already started"
    day, clock = _local_parts(starts, times.tz)
    rows = conn.execute(
        "SELECT r.contact_id, c.language FROM rsvps AS r JOIN contacts AS c ON c.id = r.contact_id "
        "WHERE r.programme_id = ? AND r.status = 'confirmed' AND c.unreachable = 0 AND c.consent = 'granted'",
        (programme["id"],),
    ).fetchall()
    for contact_id, language in rows:
        text = catalog.text(
            language,
            "programme.reminder",
            name=programme["name"],
            place=programme["place"],
            date=day,
            time=clock,
        )
        conn.execute(
            "INSERT OR IGNORE INTO outbox (contact_id, origin, payload, status, dedupe_key, created_at, "
            "updated_at) "
            "VALUES (?, 'reminder', ?, 'queued', ?, ?, ?)",
            (
                contact_id,
                _payload(text),
                f"p:{programme['id']}:remind:{contact_id}",
                repo.iso(at),
                repo.iso(at),
            ),
        )
    return "sent", len(rows), None


def attendees(conn: sqlite3.Connection, programme_id: int) -> list[dict[str, Any]]:
    """RSVPs of a programme: confirmed first, then the waiting list in order, then the rest."""
    _programme_row(conn, programme_id)
    rows = conn.execute(
        """SELECT r.status, r.answered_at, r.answer_order, r.contact_id,
                  COALESCE((SELECT p.full_name FROM persons AS p WHERE p.registered_by = r.contact_id
                            AND p.deleted_at IS NULL ORDER BY p.is_self DESC, p.id LIMIT 1), '-') AS name,
                  (SELECT p.phone FROM persons AS p WHERE p.registered_by = r.contact_id
                   AND p.deleted_at IS NULL
                   ORDER BY p.is_self DESC, p.id LIMIT 1) AS phone
           FROM rsvps AS r WHERE r.programme_id = ?
           ORDER BY CASE r.status WHEN 'confirmed' THEN 0 WHEN 'waiting' THEN 1 ELSE 2 END,
                    r.answer_order, r.id""",
        (programme_id,),
    ).fetchall()
    return [dict(row) for row in rows]
