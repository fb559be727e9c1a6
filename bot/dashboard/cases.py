"""The summary, the queue, a case's page and what staff do there, persons, the outbox, exports, media.

Status changes, appointments and the NIK reveal go through the same write functions as every other
staff surface (`handlers.casework`, `handlers.outreach`), so the workflow, the citizen's message and the
audit trail are the same whether a change is made here, in the CLI or in the Telegram staff group.
"""

import mimetypes
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial
from typing import Any

from starlette.responses import FileResponse, Response

from bot.dashboard import admin as admin_words
from bot.dashboard import conversation, exports, maps, queries
from bot.dashboard.app import Ctx, Dashboard, Refused
from bot.dashboard.queries import QueueFilter
from handlers import casework
from handlers.casework import CaseworkError
from handlers.fields import PhoneField
from handlers.registration import SKILLS as SKILL_OPTIONS
from handlers.staff import present, workdays
from handlers.staff.casework import assign_case, note_case
from handlers.staff.casework import set_appointment as schedule
from handlers.staff.compose import read_local
from handlers.staff.moves import allowed_moves, may_move
from handlers.staff.present import FORMS as FORMS
from handlers.staff.present import Presenter
from handlers.staff.present import mask_phone as mask_phone
from handlers.staff.queue import may_search, search_of
from handlers.types import Reply
from storage import cases as case_store
from storage import dashboard as reads
from storage import repo
from storage.records import CaseKind, CaseRecord, CaseStatus

# The staff service's refusals that the officer fixes in the same form, in this page's words.
FORM_PROBLEMS = {"reason_needed": "case.need_reason", "question_needed": "case.need_question"}
# Served in the page; anything else (an SVG could carry script) is only offered as a download.
INLINE_MEDIA = {
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "audio/ogg",
    "audio/mpeg",
    "audio/mp4",
    "audio/webm",
    "audio/wav",
    "audio/x-wav",
    "video/mp4",
}
OPEN_STATUSES = (CaseStatus.BARU, CaseStatus.DIPROSES, CaseStatus.PERLU_INFO)
SIMULATED = "web:"


def register(d: Dashboard) -> None:
    """Add these pages to the dashboard."""
    d.route("/", summary_page, role="viewer")
    d.route("/cases", queue_page, role="viewer")
    d.route("/cases/export.csv", export_csv, role="viewer")
    d.route("/cases/export.xlsx", export_xlsx, role="viewer")
    d.route("/cases/rows", queue_rows, role="viewer")
    d.route("/cases/{reference}", case_page, role="viewer")
    d.route("/cases/{reference}/messages", case_messages, role="viewer")
    d.route("/cases/{reference}/print", case_print, role="viewer")
    d.route("/cases/{reference}/preview", status_preview, role="petugas")
    d.route("/cases/{reference}/status", change_status, role="petugas", methods=("POST",))
    d.route("/cases/{reference}/assign", assign, role="petugas", methods=("POST",))
    d.route("/cases/{reference}/note", add_note, role="petugas", methods=("POST",))
    d.route("/cases/{reference}/appointment", set_appointment, role="petugas", methods=("POST",))
    d.route("/cases/{reference}/reveal", reveal, role="petugas", methods=("POST",))
    d.route("/persons", persons_page, role="viewer")
    d.route("/persons/{person_id:int}", person_page, role="viewer")
    d.route("/outbox", outbox_page, role="viewer")
    d.route("/media/{ref:path}", media, role="viewer")


# ---------------------------------------------------------------- names shown for codes


def place_names(d: Dashboard) -> tuple[dict[str, str], dict[str, str]]:
    """Kecamatan and kelurahan names by code."""
    kecamatan = {k.code: k.name for k in d.places.kecamatan}
    kelurahan = {v.code: v.name for k in d.places.kecamatan for v in d.places.kelurahan_of(k.code)}
    return kecamatan, kelurahan


async def staff_choices(d: Dashboard) -> list[case_store.StaffChoice]:
    """Active accounts a case can be assigned to (those who may act)."""
    return await case_store.staff_choices(d.db)


# ---------------------------------------------------------------- summary and queue


def overdue_of(ctx: Ctx) -> dict[str, datetime]:
    """Per case kind, the instant before which a case waiting on staff is past its working-day target."""
    targets = ctx.d.service.settings.service.target_days()
    return workdays.overdue_cutoffs(ctx.now, targets, ctx.d.tz)


async def summary_page(ctx: Ctx) -> Response:
    """The map of cases per kelurahan, counts by status, kind and kecamatan, new cases per week."""
    numbers = await reads.summary(ctx.d.db, now=ctx.now, tz=ctx.d.tz, overdue=overdue_of(ctx))
    kecamatan, _ = place_names(ctx.d)
    highest = max([count for _, count in numbers.weeks] + [1])
    return ctx.render(
        "summary.html",
        s=numbers,
        statuses=list(CaseStatus),
        kinds=list(CaseKind),
        kecamatan_names=kecamatan,
        highest=highest,
        map=await maps.summary_map(ctx),
        **maps.segment_form(ctx),
    )


async def queue_page(ctx: Ctx) -> Response:
    """The queue: filters, search, sort, pagination; its rows follow new cases and replies live."""
    return ctx.render("queue.html", **await _queue_values(ctx))


async def queue_rows(ctx: Ctx) -> Response:
    """Just the queue's rows (fetched again when the live-update request says something changed)."""
    return ctx.render("_queue_rows.html", **await _queue_values(ctx))


async def _queue_values(ctx: Ctx) -> dict[str, Any]:
    d = ctx.d
    flt = QueueFilter.from_query(ctx.request.query_params, d.places, sees_numbers=ctx.user.can_act)
    page = await queries.queue_page(
        d.db, flt, tz=d.tz, sealer=d.sealer, page_size=d.config.page_size, overdue=overdue_of(ctx)
    )
    kecamatan, kelurahan = place_names(d)
    return {
        "f": flt,
        "page": page,
        "statuses": list(CaseStatus),
        "kinds": list(CaseKind),
        "places": d.places,
        "kecamatan_names": kecamatan,
        "kelurahan_names": kelurahan,
        "staff": await staff_choices(d),
        "simulated": SIMULATED,
        "urgencies": list(queries.URGENCY_RANK),
        "unread_total": await case_store.unread_count(d.db),
        "sorts": [key for key in queries.SORTS if key],
    }


async def export_csv(ctx: Ctx) -> Response:
    """The filtered queue as CSV, streamed (NIK masked; cells a spreadsheet would run are made inert)."""
    flt = QueueFilter.from_query(ctx.request.query_params, ctx.d.places, sees_numbers=ctx.user.can_act)
    await ctx.audit("cases.export", detail=f"csv {flt.query_string(page=1) or 'all'}")
    return exports.csv_response(ctx.d, flt, ctx.lang, mask_phones=not ctx.user.can_act)


async def export_xlsx(ctx: Ctx) -> Response:
    """The filtered queue as an Excel workbook, written row by row to a temporary file."""
    flt = QueueFilter.from_query(ctx.request.query_params, ctx.d.places, sees_numbers=ctx.user.can_act)
    await ctx.audit("cases.export", detail=f"xlsx {flt.query_string(page=1) or 'all'}")
    return await exports.xlsx_response(ctx.d, flt, ctx.lang, mask_phones=not ctx.user.can_act)


# ---------------------------------------------------------------- one case


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer as shown: its label, its words, and a file to show or play."""

    label: str
    text: str
    media_kind: str | None = None
    media_url: str | None = None
    field: str | None = None
    # Answered by voice note and not yet typed out: the page offers a form to do it ("perlu didengar").
    to_hear: bool = False


def presenter(d: Dashboard, lang: str, now: datetime) -> Presenter:
    """The staff service's presenter, in the staff member's language."""
    return Presenter(d.catalog, lang, d.places, now, d.tz)


def media_url(d: Dashboard, ref: str) -> str | None:
    """The dashboard address of a stored file, when the file is here (not only on a platform)."""
    if not ref.startswith("media/"):
        return None
    try:
        path = d.media.path(ref)
    except ValueError:
        return None
    return f"/{ref}" if path.is_file() else None


def phone_fields(kind: str) -> frozenset[str]:
    """Names of the answers of a case kind that are phone numbers."""
    form = FORMS.get(CaseKind(kind)) if kind in set(CaseKind) else None
    return frozenset(f.name for f in form.fields if isinstance(f, PhoneField)) if form else frozenset()


def answers_of(
    d: Dashboard, case: CaseRecord, lang: str, now: datetime, *, mask_phones: bool = False
) -> list[Answer]:
    """A case's answers in the order of its form, in words, with their photos and voice notes (phone
    numbers masked for viewers): the staff service's presenter, with the files as this site's links."""
    shown: list[Answer] = []
    for answer in present.case_answers(case, presenter(d, lang, now), mask_phones=mask_phones):
        url = media_url(d, answer.media_ref) if answer.media_ref else None
        if answer.flagged:
            kind = answer.media_kind if url else None
            shown.append(Answer(answer.label, answer.text, kind, url, answer.field, answer.to_hear))
        else:
            shown.append(Answer(answer.label, answer.text, answer.media_kind, url))
    return shown


async def _case_or_404(ctx: Ctx) -> CaseRecord:
    case = await repo.get_case(ctx.d.db, ctx.request.path_params["reference"][:40])
    if case is None:
        raise Refused(404, "refused.no_case")
    return case


def _event_media(d: Dashboard, note: str | None) -> tuple[str | None, str | None]:
    match = casework_media_note(note)
    if match is None:
        return None, None
    return match[0], media_url(d, match[1])


def casework_media_note(note: str | None) -> tuple[str, str] | None:
    """A citizen's answer that was a file is noted as "photo:<ref>" (see the router)."""
    if not note or ":" not in note:
        return None
    kind, _, ref = note.partition(":")
    if kind in ("photo", "voice", "audio", "document", "video") and ref:
        return kind, ref
    return None


async def case_messages_rows(d: Dashboard, case_id: int) -> list[dict[str, Any]]:
    """Messages queued for the citizen about this case, newest first, with what became of them."""
    return [
        asdict(message) | {"text": Reply.from_json(message.payload).text}
        for message in await case_store.messages(d.db, case_id)
    ]


async def case_view(ctx: Ctx, case: CaseRecord, status: int = 200, **extra: Any) -> Response:
    d = ctx.d
    assert case.id is not None
    events = await repo.case_events(d.db, case.id)
    contact = await repo.get_contact(d.db, case.contact_id)
    kecamatan, kelurahan = place_names(d)
    assignee_id, assignee = await case_store.assignee(d.db, case.id)
    appointments = await case_store.appointments(d.db, case.id)
    values: dict[str, Any] = {
        "case": case,
        "answers": answers_of(d, case, ctx.lang, ctx.now, mask_phones=not ctx.user.can_act),
        "events": [(event, *_event_media(d, event.note)) for event in events],
        "contact": contact,
        "kecamatan": kecamatan.get(case.kecamatan_code or "", "-"),
        "kelurahan": kelurahan.get(case.kelurahan_code or "", "-"),
        "assignee": assignee,
        "assignee_id": assignee_id,
        "allowed": allowed_moves(case.status),
        "messages": await case_messages_rows(d, case.id),
        "appointments": appointments,
        "staff": await staff_choices(d),
        "simulated": case.contact_id.startswith(SIMULATED),
        "revealed": None,
        "problem": None,
        "preview": None,
        "chosen": "",
        "note": "",
        "case_map": maps.case_map(d, case, show_point=ctx.user.can_act),
        "who": partial(admin_words.party_words, ctx),
        **await conversation.thread_values(d, case, contact),
    }
    return ctx.render("case.html", status=status, **(values | extra))


async def case_page(ctx: Ctx) -> Response:
    """A case: answers, files, timeline, messages to the citizen, and (for petugas) what can be done."""
    case = await _case_or_404(ctx)
    await ctx.audit("case.view", target=case.reference)
    return await case_view(ctx, case)


async def case_print(ctx: Ctx) -> Response:
    """A case on A4 paper: its details, answers (photos as thumbnails) and history, without the menus."""
    d = ctx.d
    case = await _case_or_404(ctx)
    assert case.id is not None
    await ctx.audit("case.print", target=case.reference)
    kecamatan, kelurahan = place_names(d)
    _, assignee = await case_store.assignee(d.db, case.id)
    overdue = await case_store.is_overdue(d.db, case.id, overdue_of(ctx))
    appointments = await case_store.appointments(d.db, case.id, scheduled_only=True)
    return ctx.render(
        "case_print.html",
        case=case,
        answers=answers_of(d, case, ctx.lang, ctx.now, mask_phones=not ctx.user.can_act),
        events=[(event, *_event_media(d, event.note)) for event in await repo.case_events(d.db, case.id)],
        appointments=appointments,
        kecamatan=kecamatan.get(case.kecamatan_code or "", "-"),
        kelurahan=kelurahan.get(case.kelurahan_code or "", "-"),
        assignee=assignee,
        overdue=overdue,
        simulated=case.contact_id.startswith(SIMULATED),
        who=partial(admin_words.party_words, ctx),
        now=ctx.now,
        printed_by=ctx.user.display_name,
    )


async def case_messages(ctx: Ctx) -> Response:
    """Just the case's messages (the page refreshes them while some wait to be sent)."""
    case = await _case_or_404(ctx)
    assert case.id is not None
    return ctx.render("_case_messages.html", messages=await case_messages_rows(ctx.d, case.id), case=case)


async def _preview_text(ctx: Ctx, case: CaseRecord, status: str, note: str) -> str:
    if not may_move(case.status, status):
        return ctx.msg("case.preview_pick")
    contact = await repo.get_contact(ctx.d.db, case.contact_id)
    if contact is None or contact.consent != "granted":
        return ctx.msg("case.preview_unreachable")
    said = casework.citizen_notice(
        ctx.d.catalog, contact.language, CaseStatus(status), case.reference, case.kind, note.strip() or None
    )
    return said[0]


async def status_preview(ctx: Ctx) -> Response:
    """The message the citizen would receive for a status and note (shown while staff type)."""
    case = await _case_or_404(ctx)
    text = await _preview_text(
        ctx, case, ctx.query("status"), ctx.request.query_params.get("note", "")[:2000]
    )
    return ctx.render("_preview.html", preview=text)


async def change_status(ctx: Ctx) -> Response:
    """Move the case on and tell the citizen (or, with "preview", only show what they would read)."""
    case = await _case_or_404(ctx)
    chosen = ctx.field("status")
    note = ctx.field("note", limit=2000)
    if ctx.field("preview"):
        text = await _preview_text(ctx, case, chosen, note)
        return await case_view(ctx, case, preview=text, chosen=chosen, note=note)
    if chosen not in {str(s) for s in CaseStatus}:
        return await case_view(ctx, case, 400, problem=ctx.msg("case.pick_status"), note=note)
    target = CaseStatus(chosen)
    # The rules (which moves are allowed, which need a note) are the staff service's; the page only words
    # what it says.
    try:
        await ctx.d.db.write(
            partial(
                casework.change_status,
                catalog=ctx.d.catalog,
                reference=case.reference,
                to_status=target,
                actor=ctx.user.actor,
                note=note or None,
                at=ctx.now,
            )
        )
    except CaseworkError as error:  # e.g. no reason given, or someone else moved it a moment ago
        if error.code in FORM_PROBLEMS:
            return await case_view(ctx, case, 400, problem=ctx.msg(FORM_PROBLEMS[error.code]), chosen=chosen)
        fresh = await _case_or_404(ctx)
        raced = fresh.status != case.status  # 409: someone else moved it; 400: a move the rules refuse
        problem = ctx.msg("case.not_done", reason=ctx.problem(error))
        return await case_view(ctx, fresh, 409 if raced else 400, problem=problem, note=note)
    ctx.d.service.dispatcher.wake()
    return ctx.redirect(f"/cases/{case.reference}", done="status")


async def assign(ctx: Ctx) -> Response:
    """Give the case to a staff member (or to nobody)."""
    case = await _case_or_404(ctx)
    chosen = ctx.field("assignee")
    try:
        await ctx.d.db.write(
            partial(
                assign_case,
                reference=case.reference,
                user_id=int(chosen) if chosen.isdigit() else None,
                actor=ctx.user.actor,
                at=ctx.now,
            )
        )
    except CaseworkError as error:
        problem = ctx.msg("case.no_staff") if error.code == "no_staff" else ctx.problem(error)
        return await case_view(ctx, case, 400, problem=problem)
    return ctx.redirect(f"/cases/{case.reference}", done="assigned")


async def add_note(ctx: Ctx) -> Response:
    """An internal note: for staff only, never sent to the citizen."""
    case = await _case_or_404(ctx)
    try:
        await ctx.d.db.write(
            partial(
                note_case,
                reference=case.reference,
                text=ctx.field("note", limit=2000),
                actor=ctx.user.actor,
                at=ctx.now,
            )
        )
    except CaseworkError as error:
        problem = ctx.msg("case.note_empty") if error.code == "note_empty" else ctx.problem(error)
        return await case_view(ctx, case, 400, problem=problem)
    return ctx.redirect(f"/cases/{case.reference}", done="note")


def parse_local(day: str, clock: str, tz: Any) -> datetime | None:
    """A date (17-08-2026 or 2026-08-17) and time (HH:MM) typed in WIB, as UTC; None when unreadable."""
    return read_local(day, clock, tz)


# The staff service's refusals of an appointment, in this page's words.
APPOINTMENT_PROBLEMS = {
    "appointment_place": "case.appointment_incomplete",
    "appointment_past": "case.appointment_past",
}


async def set_appointment(ctx: Ctx) -> Response:
    """An appointment: the citizen is told now and reminded the day before and that morning."""
    case = await _case_or_404(ctx)
    starts = parse_local(ctx.field("date"), ctx.field("time"), ctx.d.tz)
    if starts is None:
        return await case_view(ctx, case, 400, problem=ctx.msg("case.appointment_incomplete"))
    try:
        await ctx.d.db.write(
            partial(
                schedule,
                reference=case.reference,
                starts_at=starts,
                place=ctx.field("place", limit=200),
                note=ctx.field("note", limit=500) or None,
                actor=ctx.user.actor,
                at=ctx.now,
                times=ctx.d.times,
                catalog=ctx.d.catalog,
            )
        )
    except CaseworkError as error:
        key = APPOINTMENT_PROBLEMS.get(error.code)
        return await case_view(ctx, case, 400, problem=ctx.msg(key) if key else ctx.problem(error))
    ctx.d.service.dispatcher.wake()
    return ctx.redirect(f"/cases/{case.reference}", done="appointment")


async def reveal(ctx: Ctx) -> Response:
    """Show the full NIK and KK on this page only; the viewing is recorded on the case and in the audit."""
    case = await _case_or_404(ctx)
    revealed = await ctx.d.db.write(
        partial(
            casework.reveal_numbers,
            sealer=ctx.d.sealer,
            reference=case.reference,
            actor=ctx.user.actor,
            at=ctx.now,
        )
    )
    return await case_view(ctx, case, revealed=revealed or {})


# ---------------------------------------------------------------- persons


async def persons_page(ctx: Ctx) -> Response:
    """Registered people: search by name, filter by kecamatan or skill."""
    d = ctx.d
    q = " ".join(ctx.query("q").split())
    kecamatan_code = ctx.query("kecamatan")
    skill = ctx.query("skill")
    page_text = ctx.query("page")
    page = min(queries.MAX_PAGE, max(1, int(page_text))) if page_text.isdigit() else 1
    refused = bool(q) and not may_search(q, sees_numbers=ctx.user.can_act)
    kecamatan, kelurahan = place_names(d)
    if kecamatan_code not in kecamatan:
        kecamatan_code = ""
    skill = skill if skill.isidentifier() else ""
    found = await reads.persons_page(
        d.db,
        search=search_of(q, d.sealer) if q and not refused else None,
        nothing=refused,
        kecamatan=kecamatan_code or None,
        skill=skill or None,
        page=page,
        page_size=d.config.page_size,
    )
    people, more = found.people, found.more
    return ctx.render(
        "persons.html",
        people=people,
        q=q,
        refused=refused,
        kecamatan=kecamatan_code,
        skill=skill,
        page=page,
        more=more,
        places=d.places,
        kecamatan_names=kecamatan,
        kelurahan_names=kelurahan,
        skills=SKILLS,
    )


SKILLS = tuple(option.key for option in SKILL_OPTIONS)  # one list of skills: the registration form's


async def person_page(ctx: Ctx) -> Response:
    """One person: what they gave (NIK masked), who registered them, their cases."""
    d = ctx.d
    person = await repo.get_person(d.db, int(ctx.request.path_params["person_id"]))
    if person is None:
        raise Refused(404, "refused.no_person")
    await ctx.audit("person.view", target=f"person:{person.id}")
    contact = await repo.get_contact(d.db, person.registered_by)
    assert person.id is not None
    rows = await case_store.cases_of_person(d.db, person.id)
    kecamatan, kelurahan = place_names(d)
    return ctx.render(
        "person.html",
        person=person,
        contact=contact,
        cases=rows,
        kecamatan=kecamatan.get(person.kecamatan_code or "", "-"),
        kelurahan=kelurahan.get(person.kelurahan_code or "", "-"),
        phone=_phone(ctx, person.phone),
    )


def _phone(ctx: Ctx, phone: str | None) -> str:
    """Viewers see a phone number masked: enough to recognise, not to dial."""
    if not phone:
        return "-"
    if ctx.user.can_act:
        return phone
    return mask_phone(phone)


# ---------------------------------------------------------------- outbox and files


async def outbox_page(ctx: Ctx) -> Response:
    """The newest outbound messages and what became of them."""
    status = ctx.query("status")
    origin = ctx.query("origin")
    status = status if status.isidentifier() else ""
    origin = origin if origin.isidentifier() else ""
    lines = await reads.outbox_lines(ctx.d.db, status=status or None, origin=origin or None)
    messages = [asdict(line) | {"text": Reply.from_json(line.payload).text} for line in lines]
    return ctx.render("outbox.html", messages=messages, status_filter=status, origin=origin)


async def media(ctx: Ctx) -> Response:
    """A photo or voice note of a case, for signed-in staff only."""
    ref = "media/" + ctx.request.path_params["ref"]
    try:
        path = ctx.d.media.path(ref)
    except ValueError:
        raise Refused(404, "refused.no_file") from None
    if not path.is_file():
        raise Refused(404, "refused.no_file")
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if mime in INLINE_MEDIA:
        return FileResponse(path, media_type=mime, content_disposition_type="inline")
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)


__all__ = ["OPEN_STATUSES", "register"]
