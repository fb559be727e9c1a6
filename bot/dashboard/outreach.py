"""Broadcasts, reminders and appointments, training programmes: forms over `handlers.outreach`.

The dashboard only reads forms and shows results; recording a broadcast, writing its outbox rows,
reminders, invitations and RSVPs are the write functions every staff surface shares.
"""

import csv
import io
from dataclasses import asdict
from datetime import datetime
from functools import partial
from typing import Any

from starlette.responses import Response

from bot.dashboard.app import Ctx, Dashboard, Refused
from bot.dashboard.cases import SKILLS, place_names
from handlers import outreach
from handlers.outreach import BroadcastProgress, OutreachError, QuietHours
from handlers.segments import Segment
from handlers.staff.compose import describe_cron, describe_segment, safe_cell
from handlers.staff.compose import number as grouped
from handlers.staff.compose import read_local as parse_local
from handlers.staff.errors import StaffError
from handlers.staff.schedules import staff_reminders
from handlers.staff.segments import SegmentInput, build_segment
from storage import outreach as outreach_store
from storage.outreach import Attendee, ProgrammeRecord
from storage.records import CaseKind, CaseStatus

PENDING = ("queued", "sending")
REPORT_STATUSES = (
    "queued",
    "sending",
    "sent",
    "delivered",
    "read",
    "held",
    "failed",
    "unknown",
    "blocked",
    "cancelled",
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def register(d: Dashboard) -> None:
    """Add these pages to the dashboard."""
    d.route("/segments/preview", segment_preview, role="petugas")
    d.route("/broadcasts", broadcasts_page, role="viewer")
    d.route("/broadcasts", create_broadcast, role="petugas", methods=("POST",))
    d.route("/broadcasts/new", new_broadcast, role="petugas")
    d.route("/broadcasts/{broadcast_id:int}", broadcast_page, role="viewer")
    d.route("/broadcasts/{broadcast_id:int}/progress", broadcast_progress, role="viewer")
    d.route("/broadcasts/{broadcast_id:int}/cancel", cancel_broadcast, role="petugas", methods=("POST",))
    d.route("/reminders", reminders_page, role="viewer")
    d.route("/reminders", create_reminder, role="petugas", methods=("POST",))
    d.route("/reminders/{reminder_id:int}/cancel", cancel_reminder, role="petugas", methods=("POST",))
    d.route("/programmes", programmes_page, role="viewer")
    d.route("/programmes", create_programme, role="petugas", methods=("POST",))
    d.route("/programmes/{programme_id:int}", programme_page, role="viewer")
    d.route("/programmes/{programme_id:int}/invite", invite, role="petugas", methods=("POST",))
    d.route("/programmes/{programme_id:int}/attendees.csv", attendees_csv, role="viewer")
    d.route("/programmes/{programme_id:int}/print", attendees_print, role="viewer")


# ---------------------------------------------------------------- segments


def segment_input(ctx: Ctx, *, from_form: bool) -> SegmentInput:
    """What the `seg_*` fields of a form or query string ask for, as given."""

    def many(name: str) -> list[str]:
        if from_form:
            return ctx.fields(name)
        return [v.strip() for v in ctx.request.query_params.getlist(name) if v.strip()]

    def one(name: str) -> str:
        return ctx.field(name) if from_form else ctx.query(name)

    return SegmentInput(
        kecamatan=many("seg_kecamatan"),
        kelurahan=many("seg_kelurahan"),
        skills=many("seg_skill"),
        kinds=many("seg_case_kind"),
        statuses=many("seg_case_status"),
        disaster_victim=one("seg_disaster"),
        registered_from=one("seg_from"),
        registered_to=one("seg_to"),
        language=one("seg_language"),
        everyone=one("seg_everyone") == "yes",
    )


def checked_segment(ctx: Ctx, *, from_form: bool, require_chosen: bool) -> tuple[Segment, str | None]:
    """The segment of the form (the staff service's builder) and, when it cannot be used, why in the
    staff member's words (then the segment is empty: it reaches nobody)."""
    try:
        given = segment_input(ctx, from_form=from_form)
        built = build_segment(
            given, places=ctx.d.places, catalog=ctx.d.catalog, require_chosen=require_chosen
        )
    except StaffError as error:
        if error.code == "needs_everyone":
            return Segment(), ctx.msg("segment.choose_everyone")
        return Segment(), ctx.problem(error)
    return built, None


def segment_from(ctx: Ctx, *, from_form: bool) -> Segment:
    """The segment a form or query string asks for; empty when it names something unknown."""
    return checked_segment(ctx, from_form=from_form, require_chosen=False)[0]


def segment_words(ctx: Ctx, segment: Segment) -> str:
    """What a segment selects, in the staff member's language (the words every staff surface uses)."""
    return describe_segment(segment, ctx.d.catalog, ctx.lang, ctx.d.places)


async def _preview(ctx: Ctx, segment: Segment) -> tuple[int, list[str]]:
    if not segment.chosen():
        return 0, []
    return await outreach.preview(ctx.d.db, segment, ctx.d.tz)


async def segment_preview(ctx: Ctx) -> Response:
    """How many people a segment reaches, with a few names (shown while the form is filled in)."""
    segment, problem = checked_segment(ctx, from_form=False, require_chosen=False)
    values = await _preview_values(ctx, segment)
    if problem is not None:
        values["words"] = problem
    return ctx.render("_segment_preview.html", **values)


async def _preview_values(ctx: Ctx, segment: Segment) -> dict[str, Any]:
    """What the recipients block shows: the count (in the staff member's digits), a sample, the words."""
    count, sample = await _preview(ctx, segment)
    return {
        "count": count,
        "shown": grouped(count, ctx.lang),
        "sample": sample,
        "words": segment_words(ctx, segment),
        "chosen": segment.chosen(),
    }


def confirmation(ctx: Ctx, count: int, question: str) -> tuple[bool, dict[str, Any] | None]:
    """Whether the form carries a confirmation for exactly `count` recipients; if not, what to ask.

    The count travels back with the button, so a segment that grew or shrank meanwhile is asked again."""
    given = ctx.field("confirm")
    if given == str(count) and not ctx.field("preview"):
        return True, None
    changed = ctx.msg("broadcast.count_changed", count=grouped(count, ctx.lang)) if given else None
    return False, {
        "count": count,
        "shown": grouped(count, ctx.lang),
        "question": ctx.msg(question, count=grouped(count, ctx.lang)),
        "changed": changed,
    }


def _segment_form_values(ctx: Ctx) -> dict[str, Any]:
    kecamatan, kelurahan = place_names(ctx.d)
    return {
        "places": ctx.d.places,
        "kecamatan_names": kecamatan,
        "kelurahan_names": kelurahan,
        "skills": SKILLS,
        "kinds": list(CaseKind),
        "statuses": list(CaseStatus),
    }


# ---------------------------------------------------------------- broadcasts


def display_state(progress: BroadcastProgress, quiet: QuietHours, now: datetime) -> str:
    """The broadcast's state as staff see it: a sending broadcast with nothing left to send is done, or
    held when some messages wait for the citizen to write first; during the quiet hours it waits."""
    counts = progress.counts
    pending = sum(counts.get(status, 0) for status in PENDING)
    if progress.status == "sending" and pending and quiet.active(now) and not counts.get("sending"):
        return "waiting"
    if progress.status in ("sending", "done") and pending == 0:
        return "held" if counts.get("held") else "done"
    return progress.status


async def broadcasts_page(ctx: Ctx) -> Response:
    """Broadcasts, newest first, with their progress."""
    items = []
    for progress in await outreach.recent_broadcasts(ctx.d.db, 100):
        segment = Segment.model_validate(progress.segment)
        state = display_state(progress, ctx.d.times.quiet, ctx.now)
        items.append(asdict(progress) | {"state": state, "words": segment_words(ctx, segment)})
    return ctx.render("broadcasts.html", items=items)


async def new_broadcast(ctx: Ctx) -> Response:
    """The compose form."""
    return ctx.render(
        "broadcast_new.html",
        problem=None,
        values={},
        preview=None,
        confirm=None,
        **_segment_form_values(ctx),
    )


async def create_broadcast(ctx: Ctx) -> Response:
    """Record the broadcast (its outbox rows are written at once when it is due now)."""
    segment, wrong = checked_segment(ctx, from_form=True, require_chosen=True)
    text_id = ctx.field("text_id", limit=4000)
    text_en = ctx.field("text_en", limit=4000)
    template = ctx.field("template", limit=200)
    later = ctx.field("when") == "later"
    send_at = parse_local(ctx.field("date"), ctx.field("time"), ctx.d.tz) if later else ctx.now
    preview = await _preview_values(ctx, segment)
    count = int(preview["count"])
    problem = None
    if not text_id:
        problem = ctx.msg("broadcast.need_text")
    elif send_at is None:
        problem = ctx.msg("broadcast.need_time")
    elif wrong is not None:
        problem = wrong
    elif count == 0:
        problem = ctx.msg("broadcast.nobody")
    confirmed, confirm = confirmation(ctx, count, "broadcast.confirm_question")
    if problem is not None or not confirmed:
        return ctx.render(
            "broadcast_new.html",
            status=400 if problem else 200,
            problem=problem,
            values=_form_dict(ctx),
            preview=preview,
            confirm=None if problem else confirm,
            **_segment_form_values(ctx),
        )
    assert send_at is not None
    broadcast_id = await ctx.d.db.write(
        partial(
            outreach.create_broadcast,
            segment=segment,
            text_id=text_id,
            text_en=text_en or None,
            template=template or None,
            send_at=max(send_at, ctx.now),
            actor=ctx.user.actor,
            at=ctx.now,
            tz=ctx.d.tz,
            quiet=ctx.d.times.quiet,
        )
    )
    ctx.d.service.dispatcher.wake()
    return ctx.redirect(f"/broadcasts/{broadcast_id}", done="broadcast")


def _form_dict(ctx: Ctx) -> dict[str, Any]:
    if ctx.form is None:
        return {}
    values: dict[str, Any] = {}
    for key in ctx.form:
        if key == "csrf_token":
            continue
        found = ctx.fields(key)
        values[key] = found if key.startswith("seg_") else (found[0] if found else "")
    return values


async def _progress(ctx: Ctx) -> dict[str, Any]:
    broadcast_id = int(ctx.request.path_params["broadcast_id"])
    try:
        progress = await outreach.broadcast_progress(ctx.d.db, broadcast_id)
    except OutreachError:
        raise Refused(404, "refused.no_broadcast") from None
    state = display_state(progress, ctx.d.times.quiet, ctx.now)
    counts = progress.counts
    finished = sum(counts.get(s, 0) for s in REPORT_STATUSES if s not in PENDING and s != "cancelled")
    quiet = ctx.d.times.quiet
    send_at = progress.send_at
    waits_for = quiet.next_allowed(max(send_at, ctx.now)) if quiet.active(max(send_at, ctx.now)) else None
    return asdict(progress) | {
        "state": state,
        "finished": finished,
        "statuses": REPORT_STATUSES,
        "quiet_until": waits_for if state in ("scheduled", "sending", "waiting") else None,
    }


async def broadcast_page(ctx: Ctx) -> Response:
    """One broadcast: its text, who it reaches, live progress, and the final report."""
    progress = await _progress(ctx)
    segment = Segment.model_validate(progress["segment"])
    failures = await outreach_store.broadcast_failures(ctx.d.db, progress["id"])
    return ctx.render(
        "broadcast.html",
        p=progress,
        words=segment_words(ctx, segment),
        failures=[asdict(f) | {"who": mask_contact(f.contact_id)} for f in failures],
        created_by=progress["created_by"],
        text_en=progress["text_en"],
        wa_template=progress["template"],
    )


def mask_contact(contact_id: str) -> str:
    """`whatsapp:6281234567890` -> `whatsapp:6281*****7890`: the scheme and enough to recognise."""
    scheme, _, rest = contact_id.partition(":")
    if len(rest) <= 8:
        return contact_id
    return f"{scheme}:{rest[:4]}{'*' * (len(rest) - 8)}{rest[-4:]}"


async def broadcast_progress(ctx: Ctx) -> Response:
    """The progress block alone (the page asks for it every second until the broadcast is done)."""
    return ctx.render("_broadcast_progress.html", p=await _progress(ctx))


async def cancel_broadcast(ctx: Ctx) -> Response:
    """Stop a scheduled or running broadcast; what was already sent stays sent."""
    broadcast_id = int(ctx.request.path_params["broadcast_id"])
    try:
        await ctx.d.db.write(
            partial(outreach.cancel_broadcast, broadcast_id=broadcast_id, actor=ctx.user.actor, at=ctx.now)
        )
    except OutreachError:
        return ctx.redirect(f"/broadcasts/{broadcast_id}", done="too_late")
    return ctx.redirect(f"/broadcasts/{broadcast_id}", done="cancelled")


# ---------------------------------------------------------------- reminders and appointments


def cron_of(ctx: Ctx) -> str | None:
    """The crontab (WIB) of the repeat chosen in the form; None for a one-off reminder."""
    repeat = ctx.field("repeat")
    hour, _, minute = ctx.field("time").partition(":")
    if repeat == "cron":
        return ctx.field("cron", limit=100)
    if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
        return ""
    if repeat == "daily":
        return f"{int(minute)} {int(hour)} * * *"
    if repeat == "weekly":
        day = ctx.field("weekday")
        return f"{int(minute)} {int(hour)} * * {day}" if day in WEEKDAYS else ""
    return None


async def _reminders(ctx: Ctx, status: int = 200, **values: Any) -> Response:
    d = ctx.d
    reminders = [
        asdict(row)
        | {
            "words": segment_words(ctx, Segment.model_validate_json(row.segment or "{}")),
            "repeat": describe_cron(row.cron, ctx.d.catalog, ctx.lang) if row.cron else None,
        }
        for row in (await staff_reminders(d.db)).rows
    ]
    runs = await outreach_store.recent_runs(d.db, 30)
    appointments = await outreach_store.upcoming_appointments(d.db, ctx.now)
    values.setdefault("problem", None)
    values.setdefault("values", {})
    return ctx.render(
        "reminders.html",
        status=status,
        reminders=reminders,
        runs=runs,
        appointments=appointments,
        weekdays=WEEKDAYS,
        **_segment_form_values(ctx),
        **values,
    )


async def reminders_page(ctx: Ctx) -> Response:
    """Active reminders, what recent ones did, upcoming appointments, and a form for a new reminder."""
    return await _reminders(ctx)


async def create_reminder(ctx: Ctx) -> Response:
    """A one-off or repeating message to a segment."""
    segment, wrong = checked_segment(ctx, from_form=True, require_chosen=True)
    text_id = ctx.field("text_id", limit=4000)
    cron = cron_of(ctx)
    due = parse_local(ctx.field("date"), ctx.field("time"), ctx.d.tz) if cron is None else None
    problem = None
    if not text_id:
        problem = "reminder.need_text"
    elif cron == "" or (cron is None and (due is None or due <= ctx.now)):
        problem = "reminder.need_time"
    if problem is None and wrong is not None:
        return await _reminders(ctx, 400, problem=wrong, values=_form_dict(ctx))
    if problem is None:
        try:
            await ctx.d.db.write(
                partial(
                    outreach.create_reminder,
                    segment=segment,
                    text_id=text_id,
                    text_en=ctx.field("text_en", limit=4000) or None,
                    due_at=due,
                    cron=cron,
                    actor=ctx.user.actor,
                    at=ctx.now,
                    tz=ctx.d.tz,
                )
            )
        except OutreachError:
            problem = "reminder.bad_schedule"
    if problem is not None:
        return await _reminders(ctx, 400, problem=ctx.msg(problem), values=_form_dict(ctx))
    return ctx.redirect("/reminders", done="reminder")


async def cancel_reminder(ctx: Ctx) -> Response:
    """Stop a reminder (one already sent stays sent)."""
    reminder_id = int(ctx.request.path_params["reminder_id"])
    stopped = await ctx.d.db.write(
        partial(outreach.cancel_reminder, reminder_id=reminder_id, actor=ctx.user.actor, at=ctx.now)
    )
    if not stopped:
        raise Refused(404, "refused.no_reminder")
    return ctx.redirect("/reminders", done="reminder_cancelled")


# ---------------------------------------------------------------- training programmes


async def _programmes(ctx: Ctx, status: int = 200, **values: Any) -> Response:
    rows = await outreach.programmes(ctx.d.db, 200)
    values.setdefault("problem", None)
    values.setdefault("values", {})
    return ctx.render("programmes.html", status=status, programmes=rows, skills=SKILLS, **values)


async def programmes_page(ctx: Ctx) -> Response:
    """Training programmes with their places taken, and a form for a new one."""
    return await _programmes(ctx)


async def create_programme(ctx: Ctx) -> Response:
    """A programme with a quota; attendees are reminded the day before."""
    tz = ctx.d.tz
    starts = parse_local(ctx.field("start_date"), ctx.field("start_time"), tz)
    ends = parse_local(ctx.field("end_date") or ctx.field("start_date"), ctx.field("end_time"), tz)
    quota = ctx.field("quota")
    name, place, skill = ctx.field("name", limit=200), ctx.field("place", limit=200), ctx.field("skill")
    problem = None
    if not name or not place or skill not in SKILLS:
        problem = "programme.incomplete"
    elif starts is None or ends is None or starts <= ctx.now:
        problem = "programme.need_time"
    elif not quota.isdigit() or int(quota) < 1:
        problem = "programme.need_quota"
    if problem is None:
        assert starts is not None and ends is not None
        try:
            programme_id = await ctx.d.db.write(
                partial(
                    outreach.create_programme,
                    name=name,
                    skill=skill,
                    place=place,
                    starts_at=starts,
                    ends_at=ends,
                    quota=int(quota),
                    actor=ctx.user.actor,
                    at=ctx.now,
                    times=ctx.d.times,
                )
            )
        except OutreachError:
            problem = "programme.need_time"
        else:
            return ctx.redirect(f"/programmes/{programme_id}", done="programme")
    return await _programmes(ctx, 400, problem=ctx.msg(problem), values=_form_dict(ctx))


async def _programme(ctx: Ctx) -> tuple[ProgrammeRecord, list[Attendee]]:
    programme_id = int(ctx.request.path_params["programme_id"])
    programme = await outreach_store.get_programme(ctx.d.db, programme_id)
    if programme is None:
        raise Refused(404, "refused.no_programme")
    return programme, await outreach_store.attendees(ctx.d.db, programme_id)


async def programme_page(ctx: Ctx, status: int = 200, **values: Any) -> Response:
    """A programme: confirmed places, the waiting list in order, and a form to invite a segment."""
    programme, rows = await _programme(ctx)
    values.setdefault("problem", None)
    values.setdefault("preview", None)
    values.setdefault("confirm", None)
    # The invitation starts aimed at the programme's own skill, never at everyone.
    values.setdefault("values", {"seg_skill": [programme.skill]})
    return ctx.render(
        "programme.html",
        status=status,
        programme=programme,
        attendees=rows,
        confirmed=sum(1 for r in rows if r.status == "confirmed"),
        **_segment_form_values(ctx),
        **values,
    )


async def invite(ctx: Ctx) -> Response:
    """Invite a segment (Ya / Tidak buttons); everyone already invited is left alone."""
    programme, _ = await _programme(ctx)
    segment, problem = checked_segment(ctx, from_form=True, require_chosen=True)
    preview = await _preview_values(ctx, segment)
    count = int(preview["count"])
    if problem is None and count == 0:
        problem = ctx.msg("broadcast.nobody")
    confirmed, confirm = confirmation(ctx, count, "programmes.confirm_question")
    if problem is not None or not confirmed:
        return await programme_page(
            ctx,
            400 if problem else 200,
            problem=problem,
            preview=preview,
            confirm=None if problem else confirm,
            values=_form_dict(ctx),
        )
    await ctx.d.db.write(
        partial(
            outreach.invite,
            programme_id=programme.id,
            segment=segment,
            actor=ctx.user.actor,
            at=ctx.now,
            times=ctx.d.times,
            catalog=ctx.d.catalog,
        )
    )
    ctx.d.service.dispatcher.wake()
    return ctx.redirect(f"/programmes/{programme.id}", done="invited")


async def attendees_print(ctx: Ctx) -> Response:
    """The attendee list on A4 paper, with a column to sign on the day."""
    programme, rows = await _programme(ctx)
    await ctx.audit("programme.print", target=f"programme:{programme.id}", detail=f"{len(rows)} rows")
    return ctx.render(
        "programme_print.html",
        programme=programme,
        attendees=rows,
        confirmed=sum(1 for r in rows if r.status == "confirmed"),
        now=ctx.now,
        printed_by=ctx.user.display_name,
    )


async def attendees_csv(ctx: Ctx) -> Response:
    """The attendee list as CSV (cells guarded against spreadsheet formulas)."""
    programme, rows = await _programme(ctx)
    await ctx.audit("programme.export", target=f"programme:{programme.id}", detail=f"{len(rows)} rows")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow([ctx.msg(f"attendees.{c}") for c in ("number", "status", "name", "phone", "answered")])
    for number, row in enumerate(rows, start=1):
        answered = ctx.d.local(row.answered_at) if row.answered_at else ""
        status = ctx.msg(f"rsvp.{row.status}")
        writer.writerow(safe_cell(v) for v in (number, status, row.name, row.phone or "", answered))
    return Response(
        buffer.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="peserta-program-{programme.id}.csv"'},
    )


__all__ = ["register"]
