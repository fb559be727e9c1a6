"""Small records the contract tests write through the repositories (the same on every backend)."""

import json
from datetime import UTC, datetime
from typing import Any

from storage import repo
from storage.contract import Store, Tx
from storage.crypto import Sealer, parse_key
from storage.records import CaseKind, CaseRecord, ContactRecord, PersonRecord
from tests.support import TEST_KEY

AT = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SEALER = Sealer(parse_key(TEST_KEY, "test"))


def contact(contact_id: str = "whatsapp:6281234567890") -> ContactRecord:
    return ContactRecord(id=contact_id, channel=contact_id.split(":")[0], created_at=AT, updated_at=AT)


def person(contact_id: str, name: str = "Siti Aminah", **extra: Any) -> PersonRecord:
    return PersonRecord(
        registered_by=contact_id,
        is_self=True,
        full_name=name,
        created_at=AT,
        updated_at=AT,
        **extra,
    )


def file_case(
    tx: Tx, who: ContactRecord, *, name: str = "Siti Aminah", answers: dict[str, object] | None = None
) -> tuple[int, int, str]:
    """A contact, their person and a registration case (one write function); ids and the reference."""
    repo.upsert_contact(tx, who)
    person_id = repo.insert_person(
        tx, person(who.id, name, kecamatan_code="36.74.03", kelurahan_code="36.74.03.1011")
    )
    reference = repo.next_reference(tx, CaseKind.REGISTRATION, 2026)
    case_id = repo.insert_case(
        tx,
        CaseRecord(
            reference=reference,
            kind=CaseKind.REGISTRATION,
            person_id=person_id,
            contact_id=who.id,
            subject_name=name,
            kecamatan_code="36.74.03",
            kelurahan_code="36.74.03.1011",
            answers=answers or {"full_name": name},
            created_at=AT,
            updated_at=AT,
        ),
        actor=f"contact:{who.id}",
    )
    return person_id, case_id, reference


async def filed(store: Store, who: ContactRecord | None = None, **kw: str) -> tuple[int, int, str]:
    name = str(kw.get("name", "Siti Aminah"))
    found: tuple[int, int, str] = await store.write(lambda tx: file_case(tx, who or contact(), name=name))
    return found


def payload(text: str) -> str:
    return json.dumps({"text": text})
