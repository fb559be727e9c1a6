"""Creating cases from submitted forms (shared by registration, lost KTP, aid and messages)."""

from typing import Any

from handlers.turn import Turn
from storage import cases, repo
from storage.contract import Tx
from storage.crypto import Sealed
from storage.records import CaseEventRecord, CaseKind, CaseRecord, PersonRecord


def _public_answers(answers: dict[str, Any]) -> dict[str, Any]:
    """Answers as stored on the case: hidden context (keys starting with `_`) left out."""
    return {key: value for key, value in answers.items() if not key.startswith("_")}


async def submit_case(
    turn: Turn,
    *,
    kind: CaseKind,
    subject_name: str,
    answers: dict[str, Any],
    person: PersonRecord | None = None,
    person_id: int | None = None,
) -> str:
    """Queue the writes that create a case (and a new person, if given); return its reference."""
    reference = await turn.allocate_reference(kind)
    nik = answers.get("nik")
    shared = answers.get("location")
    location: dict[str, Any] = shared if isinstance(shared, dict) else {}
    case = CaseRecord(
        reference=reference,
        kind=kind,
        person_id=person_id,
        contact_id=turn.contact.id,
        subject_name=subject_name,
        kecamatan_code=answers.get("kecamatan"),
        kelurahan_code=answers.get("kelurahan"),
        latitude=location.get("lat"),
        longitude=location.get("lon"),
        answers=_public_answers(answers),
        nik_hash=Sealed.model_validate(nik).h if nik else None,
        created_at=turn.now,
        updated_at=turn.now,
    )
    actor = f"contact:{turn.contact.id}"

    def create(conn: Tx) -> None:
        duplicate_of: str | None = None
        linked = person_id
        if person is not None:
            duplicate = repo.find_duplicate_person(conn, person)
            linked = repo.insert_person(conn, person)
            if duplicate is not None:
                duplicate_of = cases.first_registration(conn, duplicate) or f"person:{duplicate}"
        elif case.nik_hash is not None:
            duplicate_of = cases.open_case_with_nik(conn, case.nik_hash, kind)
        stored = case.model_copy(update={"person_id": linked, "duplicate_of": duplicate_of})
        case_id = repo.insert_case(conn, stored, actor)
        if duplicate_of is not None:
            repo.add_case_event(
                conn,
                CaseEventRecord(
                    case_id=case_id,
                    at=turn.now,
                    actor="system",
                    action="possible_duplicate",
                    note=duplicate_of,
                ),
            )

    turn.write(create)
    return reference


async def self_person(turn: Turn) -> PersonRecord | None:
    """The person this contact registered as themselves, if any."""
    persons = await repo.persons_of_contact(turn.db, turn.contact.id)
    return next((p for p in persons if p.is_self), None)


async def self_context(turn: Turn) -> dict[str, Any]:
    """Hidden answers about the contact's own registration (name and id), when there is one."""
    me = await self_person(turn)
    return {"_self_name": me.full_name, "_self_id": me.id} if me else {}
