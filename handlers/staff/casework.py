"""Case actions of the staff service besides status changes and replies (`handlers.casework`): giving a
case to an officer, an internal note, an appointment (with its reminders to the citizen). Every surface
(the command line, the Telegram staff group, the dashboard) calls these; the rules live here and refusals
are codes each surface words itself (`StaffError`).

Each is a write function: run it with `Store.write`, alone or composed with other writes.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from handlers.casework import CaseworkError
from handlers.i18n import Catalog
from handlers.outreach import OutreachTimes, at_local, tell_of_appointment
from storage import cases
from storage import outreach as outreach_store
from storage.contract import Tx

NOTE_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Assigned:
    """The outcome of giving a case to someone: the case and the officer's name (None: nobody)."""

    reference: str
    officer: str | None


def _case(tx: Tx, reference: str) -> cases.ActionCase:
    found = cases.case_to_act(tx, reference)
    if found is None:
        raise CaseworkError(f"no case with reference {reference!r}", "no_case", reference=reference)
    return found


def assign_case(
    tx: Tx,
    *,
    reference: str,
    actor: str,
    at: datetime,
    user_id: int | None = None,
    username: str | None = None,
) -> Assigned:
    """Give a case to an active account that may act, named by id or user name (neither: to nobody)."""
    case = _case(tx, reference)
    name = None
    if username is not None:
        found = cases.assignable_by_username(tx, username)
        if found is None:
            raise CaseworkError("no such active staff member", "no_staff", officer=username)
        user_id, name = found
    elif user_id is not None:
        name = cases.assignable_name(tx, user_id)
        if name is None:
            raise CaseworkError("no such active staff member", "no_staff", officer=str(user_id))
    cases.set_assignee(tx, case_id=case.id, user_id=user_id, actor=actor, name=name, at=at)
    cases.record_action(
        tx, actor=actor, action="case.assign", at=at, target=case.reference, detail=name or "-"
    )
    return Assigned(case.reference, name)


def note_case(tx: Tx, *, reference: str, text: str, actor: str, at: datetime) -> str:
    """An internal note on a case: for staff only, never sent to the citizen. Returns the reference."""
    text = text.strip()
    if not text:
        raise CaseworkError("a note needs text", "note_empty")
    if len(text) > NOTE_LIMIT:
        raise CaseworkError(
            f"a note may be at most {NOTE_LIMIT} characters", "note_too_long", limit=NOTE_LIMIT
        )
    case = _case(tx, reference)
    cases.add_note(tx, case_id=case.id, text=text, actor=actor, at=at)
    cases.record_action(tx, actor=actor, action="case.note", at=at, target=case.reference)
    return case.reference


def set_appointment(
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
    """An appointment on a case: the citizen is told now (when they can be) and reminded the day before
    and that morning; refused for an unknown case, without a place, or at a time already past.
    Returns the appointment's id."""
    case = _case(tx, reference)
    place = place.strip()
    if not place:
        raise CaseworkError("an appointment needs a place", "appointment_place")
    if starts_at <= at:
        raise CaseworkError("the appointment time is already past", "appointment_past")
    appointment_id = outreach_store.insert_appointment(
        tx, case_id=case.id, starts_at=starts_at, place=place, note=note, actor=actor, at=at
    )
    local_day = starts_at.astimezone(times.tz).date()
    moments = {
        "appointment_day_before": at_local(local_day - timedelta(days=1), times.day_before, times.tz),
        "appointment_morning": at_local(local_day, times.morning, times.tz),
    }
    for kind, when in moments.items():
        if when >= starts_at:
            continue  # an early-morning appointment needs no "this morning" reminder after it began
        outreach_store.insert_reminder(
            tx,
            kind=kind,
            due_at=max(when, at),
            case_id=case.id,
            appointment_id=appointment_id,
            actor=actor,
            at=at,
        )
    tell_of_appointment(
        tx,
        message_key="notify.appointment_set",
        contact_id=case.contact_id,
        case_id=case.id,
        reference=case.reference,
        starts_at=starts_at,
        place=place,
        origin="staff",
        at=at,
        times=times,
        catalog=catalog,
        note=note,
    )
    cases.record_action(
        tx,
        actor=actor,
        action="case.appointment",
        at=at,
        target=case.reference,
        detail=starts_at.astimezone(UTC).isoformat(),
    )
    return appointment_id
