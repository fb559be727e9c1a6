"""Staff actions on cases, shared by every staff surface (CLI now; Telegram group and web later).

A status change checks the allowed transition inside the write transaction, records an event, and
queues a plain-language message to the citizen in their own language. "Perlu info" carries a
question; the citizen's next message is attached to the case (`attach_info_answer`, called from
`router._attach_info_answer`). Staff write from another process while a citizen's turn runs, so the
contact's "awaiting" mark and the case status are only changed by targeted updates that check the
current row inside the write transaction.
"""

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from handlers.i18n import Catalog
from handlers.types import Reply
from storage import repo
from storage.crypto import Sealed, Sealer
from storage.records import ALLOWED_TRANSITIONS, CaseEventRecord, CaseStatus, Consent


class CaseworkError(ValueError):
    """A staff action that cannot be done; the message says why, for the staff member. `key` and `params`
    name the same sentence in the staff catalog (`cli.<key>`), for tools that speak the staff's language."""

    def __init__(self, message: str, key: str | None = None, **params: object) -> None:
        super().__init__(message)
        self.key = key
        self.params = params


@dataclass(frozen=True, slots=True)
class StatusChange:
    """The outcome of a status change."""

    reference: str
    from_status: CaseStatus
    to_status: CaseStatus
    citizen_notified: bool
    message: str | None


def citizen_message(
    catalog: Catalog,
    language: str,
    status: CaseStatus,
    reference: str,
    kind: str,
    note: str | None,
) -> str:
    """What the citizen is told about a status change."""
    kind_label = catalog.text(language, f"kind.{kind}")
    if status == CaseStatus.PERLU_INFO:
        return catalog.text(language, "notify.perlu_info", reference=reference, question=note or "")
    if status == CaseStatus.DITOLAK:
        return catalog.text(language, "notify.ditolak", reference=reference, reason=note or "")
    if status == CaseStatus.DISETUJUI:
        return catalog.text(
            language,
            "notify.disetujui",
            reference=reference,
            note=note or catalog.text(language, "notify.note_fallback"),
        )
    if status == CaseStatus.DIPROSES:
        return catalog.text(language, "notify.diproses", reference=reference, kind=kind_label)
    return catalog.text(language, "notify.selesai", reference=reference)


def change_status(
    conn: sqlite3.Connection,
    *,
    catalog: Catalog,
    reference: str,
    to_status: CaseStatus,
    actor: str,
    note: str | None,
    at: datetime,
    notify: bool = True,
) -> StatusChange:
    """Move a case to `to_status` (a write function: run it with `Database.write`)."""
    note = (note or "").strip() or None
    row = conn.execute(
        "SELECT id, status, kind, contact_id, reference FROM cases WHERE reference = ?",
        (reference.strip().upper(),),
    ).fetchone()
    if row is None:
        raise CaseworkError(f"no case with reference {reference!r}", "no_case", reference=reference)
    case_id, current, kind, contact_id = row[0], CaseStatus(row[1]), row[2], row[3]
    reference = row[4]
    if to_status not in ALLOWED_TRANSITIONS[current]:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "none"
        raise CaseworkError(
            f"{reference}: cannot go from {current} to {to_status} (allowed: {allowed})",
            "transition",
            reference=reference,
            current=current.value,
            to=to_status.value,
            allowed=allowed if allowed != "none" else "-",
        )
    if to_status == CaseStatus.DITOLAK and not note:
        raise CaseworkError(
            "a rejection needs a reason (--note), which the citizen will read", "reason_needed"
        )
    if to_status == CaseStatus.PERLU_INFO and not note:
        raise CaseworkError("'perlu_info' needs the question for the citizen (--note)", "question_needed")
    contact = conn.execute("SELECT language, consent FROM contacts WHERE id = ?", (contact_id,)).fetchone()
    reachable = contact is not None and contact[1] == Consent.GRANTED
    message = None
    if notify and reachable:
        message = citizen_message(catalog, contact[0], to_status, reference, kind, note)
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
        conn.execute("UPDATE contacts SET awaiting_case_id = ? WHERE id = ?", (case_id, contact_id))
    elif current == CaseStatus.PERLU_INFO:
        stop_awaiting(conn, contact_id=contact_id, case_id=case_id)
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
    if message is not None:
        repo.insert_outbox(
            conn,
            contact_id=contact_id,
            payload=Reply(text=message).to_json(),
            origin="staff",
            at=at,
            case_id=case_id,
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


def stop_awaiting(conn: sqlite3.Connection, *, contact_id: str, case_id: int) -> None:
    """Forget that the contact's next message answers `case_id` (unless staff asked again since)."""
    conn.execute(
        "UPDATE contacts SET awaiting_case_id = NULL WHERE id = ? AND awaiting_case_id = ?",
        (contact_id, case_id),
    )


def attach_info_answer(
    conn: sqlite3.Connection, *, contact_id: str, case_id: int, note: str, at: datetime
) -> bool:
    """Attach a citizen's answer to a staff question; reopen the case if it still waits for it.

    The turn read the case before this runs, and staff may have moved it since (another process):
    a case that no longer waits keeps its status, so the workflow is never bypassed, but the
    answer is still recorded for staff. Returns whether the case went back to `diproses`.
    """
    stop_awaiting(conn, contact_id=contact_id, case_id=case_id)
    row = conn.execute("SELECT status FROM cases WHERE id = ?", (case_id,)).fetchone()
    reopened = row is not None and row[0] == CaseStatus.PERLU_INFO
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


def reveal_numbers(
    conn: sqlite3.Connection, *, sealer: Sealer, reference: str, actor: str, at: datetime
) -> dict[str, str]:
    """Decrypt a case's NIK/KK for a staff member, recording that they looked."""
    row = conn.execute(
        "SELECT id, answers, person_id FROM cases WHERE reference = ?", (reference.upper(),)
    ).fetchone()
    if row is None:
        raise CaseworkError(f"no case with reference {reference!r}", "no_case", reference=reference)
    answers = json.loads(row[1])
    revealed: dict[str, str] = {}
    for key in ("nik", "kk"):
        if answers.get(key):
            revealed[key] = sealer.open(Sealed.model_validate(answers[key]))
    if row[2] is not None and "nik" not in revealed:
        person = conn.execute("SELECT nik, kk FROM persons WHERE id = ?", (row[2],)).fetchone()
        for key, raw in zip(("nik", "kk"), person or (), strict=False):
            if raw and key not in revealed:
                revealed[key] = sealer.open(Sealed.model_validate_json(raw))
    if revealed:
        repo.add_case_event(
            conn,
            CaseEventRecord(
                case_id=row[0],
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
