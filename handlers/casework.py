"""Staff actions on cases, shared by every staff surface (CLI, Telegram staff group, web dashboard).

A status change checks the allowed transition inside the write transaction, records an event, and
queues a plain-language message to the citizen in their own language. "Perlu info" carries a
question, recorded as a staff question that waits for its answer (several may wait at once; the
citizen's answer is matched to one in `handlers.thread`). A free-text reply (`send_reply`) goes to
the citizen as it is written. Every message to the citizen is also a line of the case's thread.
Staff write from another process while a citizen's turn runs, so the contact's "awaiting" mark and
the case status are only changed by targeted updates that check the current row inside the write
transaction.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handlers.i18n import Catalog
from handlers.speech import Said, compose
from handlers.staff.errors import StaffError
from handlers.staff.moves import may_move, note_needed
from handlers.types import Reply
from storage import cases, repo, threads
from storage.contract import Tx
from storage.crypto import Sealed, Sealer
from storage.records import ALLOWED_TRANSITIONS, CaseEventRecord, CaseStatus


class CaseworkError(StaffError):
    """A case action that cannot be done (see `StaffError`: a code each surface words itself)."""


# The log's words for a move made without the note it needs (`handlers.staff.moves.NOTE_NEEDED`).
_NOTE_MISSING = {
    "reason_needed": "a rejection needs a reason (--note), which the citizen will read",
    "question_needed": "'perlu_info' needs the question for the citizen (--note)",
}


@dataclass(frozen=True, slots=True)
class StatusChange:
    """The outcome of a status change."""

    reference: str
    from_status: CaseStatus
    to_status: CaseStatus
    citizen_notified: bool
    message: str | None


def citizen_notice(
    catalog: Catalog,
    language: str,
    status: CaseStatus,
    reference: str,
    kind: str,
    note: str | None,
) -> Said:
    """What the citizen is told about a status change: the text, its catalog key and parameters."""
    said: list[Said] = []

    def text(language: str, key: str, **params: str) -> str:
        worded = catalog.text(language, key, **params)
        said.append((worded, key, tuple(params.items())))
        return worded

    if status == CaseStatus.PERLU_INFO:
        text(language, "notify.perlu_info", reference=reference, question=note or "")
    elif status == CaseStatus.DITOLAK:
        text(language, "notify.ditolak", reference=reference, reason=note or "")
    elif status == CaseStatus.DISETUJUI:
        fallback = catalog.text(language, "notify.note_fallback")
        text(language, "notify.disetujui", reference=reference, note=note or fallback)
    elif status == CaseStatus.DIPROSES:
        kind_label = catalog.text(language, f"kind.{kind}")
        text(language, "notify.diproses", reference=reference, kind=kind_label)
    else:
        text(language, "notify.selesai", reference=reference)
    return said[-1]


def _to_citizen(catalog: Catalog, language: str, voice: bool, said: Said, **extra: Any) -> Reply:
    """A message to a citizen; with its voice note when they asked for voice messages."""
    text = said[0]
    spoken = compose(catalog, language, text, (), (said,)) if voice else None
    return Reply(text=text, voice=spoken, **extra)


def change_status(
    conn: Tx,
    *,
    catalog: Catalog,
    reference: str,
    to_status: CaseStatus,
    actor: str,
    note: str | None,
    at: datetime,
    notify: bool = True,
) -> StatusChange:
    """Move a case to `to_status` (a write function: run it with `Store.write`)."""
    note = (note or "").strip() or None
    found = cases.case_to_act(conn, reference)
    if found is None:
        raise CaseworkError(f"no case with reference {reference!r}", "no_case", reference=reference)
    case_id, current, kind, contact_id = found.id, found.status, found.kind, found.contact_id
    reference = found.reference
    if not may_move(current, to_status):
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "none"
        raise CaseworkError(
            f"{reference}: cannot go from {current} to {to_status} (allowed: {allowed})",
            "transition",
            reference=reference,
            current=current.value,
            to=to_status.value,
            allowed=allowed if allowed != "none" else "-",
        )
    needed = note_needed(to_status)
    if needed is not None and not note:
        raise CaseworkError(_NOTE_MISSING[needed], needed)
    reach = cases.reach_of(conn, contact_id)
    notice = message = None
    if notify and reach is not None and reach.consented:
        said = citizen_notice(catalog, reach.language, to_status, reference, kind, note)
        notice, message = _to_citizen(catalog, reach.language, reach.voice, said), said[0]
    citizen_note = note if to_status in (CaseStatus.DISETUJUI, CaseStatus.DITOLAK) else None
    repo.set_case_status(
        conn,
        case_id,
        to_status,
        at,
        info_question=note if to_status == CaseStatus.PERLU_INFO else None,
        citizen_note=citizen_note,
    )
    if to_status == CaseStatus.PERLU_INFO:
        cases.await_answer(conn, contact_id=contact_id, case_id=case_id)
    elif current == CaseStatus.PERLU_INFO:
        stop_awaiting(conn, contact_id=contact_id, case_id=case_id)
        threads.close_questions(conn, case_id, at)
    repo.add_case_event(
        conn,
        CaseEventRecord(
            case_id=case_id,
            at=at,
            actor=actor,
            action="status_changed",
            from_status=current,
            to_status=to_status,
            note=note,
            citizen_notified=message is not None,
        ),
    )
    outbox_id = None
    if notice is not None and message is not None:
        outbox_id = repo.insert_outbox(
            conn,
            contact_id=contact_id,
            payload=notice.to_json(),
            origin="staff",
            at=at,
            case_id=case_id,
        ).id
        threads.add_outbound(
            conn,
            case_id=case_id,
            kind="question" if to_status == CaseStatus.PERLU_INFO else "status",
            body=message,
            author=actor,
            outbox_id=outbox_id,
            at=at,
        )
    if to_status == CaseStatus.PERLU_INFO and note is not None:
        threads.add_question(
            conn,
            case_id=case_id,
            contact_id=contact_id,
            question=note,
            outbox_id=outbox_id,
            asked_by=actor,
            at=at,
        )
    repo.audit(
        conn,
        actor=actor,
        action="case.status",
        at=at,
        target=reference.upper(),
        detail=f"{current}->{to_status}",
    )
    return StatusChange(reference.upper(), current, to_status, message is not None, message)


def stop_awaiting(conn: Tx, *, contact_id: str, case_id: int) -> None:
    """Forget that the contact's next message answers `case_id` (unless staff asked again since)."""
    cases.stop_awaiting(conn, contact_id=contact_id, case_id=case_id)


def attach_info_answer(
    conn: Tx,
    *,
    contact_id: str,
    case_id: int,
    note: str,
    at: datetime,
    question_id: int | None = None,
) -> bool:
    """Attach a citizen's answer to a staff question; reopen the case if it still waits for it.

    The turn read the case before this runs, and staff may have moved it since (another process):
    a case that no longer waits keeps its status, so the workflow is never bypassed, but the
    answer is still recorded for staff. Returns whether the case went back to `diproses`.
    """
    stop_awaiting(conn, contact_id=contact_id, case_id=case_id)
    if question_id is not None:
        threads.answer_question(conn, question_id, at)
    else:
        threads.close_questions(conn, case_id, at)
    # A case asked several things goes back to work once every question has its answer.
    reopened = cases.status_now(conn, case_id) == CaseStatus.PERLU_INFO and not cases.has_open_questions(
        conn, case_id
    )
    if reopened:
        repo.set_case_status(conn, case_id, CaseStatus.DIPROSES, at)
    repo.add_case_event(
        conn,
        CaseEventRecord(
            case_id=case_id,
            at=at,
            actor=f"contact:{contact_id}",
            action="info_answered",
            from_status=CaseStatus.PERLU_INFO if reopened else None,
            to_status=CaseStatus.DIPROSES if reopened else None,
            note=note,
        ),
    )
    return reopened


@dataclass(frozen=True, slots=True)
class SentReply:
    """The outcome of a free-text reply: its outbox row and, when it is held, why."""

    reference: str
    outbox_id: int
    held_reason: str | None


def reply_text(catalog: Catalog, language: str, reference: str, text: str) -> str:
    """What the citizen reads: the officer's words, under a line saying which case they are about."""
    return catalog.text(language, "notify.staff_reply", reference=reference, text=text)


def send_reply(
    conn: Tx,
    *,
    catalog: Catalog,
    reference: str,
    text: str,
    actor: str,
    at: datetime,
    template: str | None = None,
    hold_reason: str | None = None,
) -> SentReply:
    """Queue a staff member's free-text reply to the citizen of a case (a write function).

    `template` is the approved template that may carry it where free-form messages are not allowed
    (WhatsApp outside the 24-hour window); `hold_reason`, when given, keeps it back at once (status
    `held`, the reason on the row) so the officer sees it is not on its way. Replying marks the
    case's messages read.
    """
    text = text.strip()
    if not text:
        raise CaseworkError("a reply needs text", "reply_empty")
    if len(text) > 3000:
        raise CaseworkError("a reply may be at most 3000 characters", "reply_too_long", limit=3000)
    found = cases.case_to_act(conn, reference)
    reach = None if found is None else cases.reach_of(conn, found.contact_id)
    if found is None or reach is None:
        raise CaseworkError(f"no case with reference {reference!r}", "no_case", reference=reference)
    case_id, reference, contact_id, language = found.id, found.reference, found.contact_id, reach.language
    if not reach.consented:
        raise CaseworkError(
            f"{reference}: the citizen has not agreed to be contacted (consent withdrawn)",
            "no_consent",
            reference=reference,
        )
    said: Said = (
        reply_text(catalog, language, reference, text),
        "notify.staff_reply",
        (("reference", reference), ("text", text)),
    )
    outbox = repo.insert_outbox(
        conn,
        contact_id=contact_id,
        payload=_to_citizen(catalog, language, reach.voice, said, template=template).to_json(),
        origin="staff",
        at=at,
        case_id=case_id,
    )
    if hold_reason is not None:
        cases.hold_message(conn, outbox.id, hold_reason)
    threads.add_outbound(
        conn, case_id=case_id, kind="reply", body=text, author=actor, outbox_id=outbox.id, at=at
    )
    threads.mark_read(conn, case_id)
    cases.touch(conn, case_id, at)
    repo.add_case_event(
        conn,
        CaseEventRecord(
            case_id=case_id, at=at, actor=actor, action="replied", note=text, citizen_notified=True
        ),
    )
    repo.audit(conn, actor=actor, action="case.reply", at=at, target=reference)
    return SentReply(reference, outbox.id, hold_reason)


def reveal_numbers(conn: Tx, *, sealer: Sealer, reference: str, actor: str, at: datetime) -> dict[str, str]:
    """Decrypt a case's NIK/KK for a staff member, recording that they looked."""
    found = cases.sealed_numbers(conn, reference)
    if found is None:
        raise CaseworkError(f"no case with reference {reference!r}", "no_case", reference=reference)
    revealed: dict[str, str] = {}
    for key in ("nik", "kk"):
        if found.answers.get(key):
            revealed[key] = sealer.open(Sealed.model_validate(found.answers[key]))
    if "nik" not in revealed:
        for key, raw in (("nik", found.person_nik), ("kk", found.person_kk)):
            if raw and key not in revealed:
                revealed[key] = sealer.open(Sealed.model_validate_json(raw))
    if revealed:
        repo.add_case_event(
            conn,
            CaseEventRecord(
                case_id=found.case_id,
                at=at,
                actor=actor,
                action="nik_viewed",
                note=",".join(sorted(revealed)),
            ),
        )
        repo.audit(
            conn,
            actor=actor,
            action="case.reveal_numbers",
            at=at,
            target=reference.upper(),
            detail=",".join(sorted(revealed)),
        )
    return revealed
