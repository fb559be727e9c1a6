"""Seeding for the case repositories' contract tests: contacts, people, cases and staff accounts written
through the store's own write functions (the same on every backend)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from storage import repo
from storage.contract import Store, Tx, insert_id
from storage.crypto import Sealer, generate_key_text
from storage.records import CaseKind, CaseRecord, CaseStatus, Consent, ContactRecord, PersonRecord

AT = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)  # Wednesday 18 November 2026, 10:00 WIB
SEALER = Sealer(generate_key_text().encode())


@dataclass
class Seed:
    """One case with its contact and person."""

    name: str
    kind: CaseKind = CaseKind.REGISTRATION
    status: CaseStatus = CaseStatus.BARU
    kecamatan: str | None = "36.74.03"
    kelurahan: str | None = "36.74.03.1011"
    created_at: datetime = AT
    contact: str | None = None
    phone: str | None = None  # the person's phone number, as stored
    nik: str | None = None
    kk: str | None = None  # on the case's answers
    skills: list[str] = field(default_factory=list)
    location: tuple[float, float] | None = None
    answers: dict[str, Any] = field(default_factory=dict)


_numbers = iter(range(1, 10**9))


def _seed(tx: Tx, items: list[Seed]) -> list[str]:
    references = []
    for item in items:
        number = next(_numbers)
        contact = item.contact or f"web:seed{number}"
        repo.upsert_contact(
            tx,
            ContactRecord(
                id=contact,
                channel=contact.split(":", 1)[0],
                language="id",
                consent=Consent.GRANTED,
                consent_version="2026-11",
                created_at=item.created_at,
                updated_at=item.created_at,
            ),
        )
        nik = SEALER.seal(item.nik) if item.nik else None
        person_id = repo.insert_person(
            tx,
            PersonRecord(
                registered_by=contact,
                is_self=True,
                full_name=item.name,
                nik=nik,
                phone=item.phone,
                kecamatan_code=item.kecamatan,
                kelurahan_code=item.kelurahan,
                skills=item.skills,
                created_at=item.created_at,
                updated_at=item.created_at,
            ),
        )
        answers: dict[str, Any] = {"full_name": item.name, **item.answers}
        if nik is not None:
            answers["nik"] = nik.model_dump()
        if item.kk:
            answers["kk"] = SEALER.seal(item.kk).model_dump()
        reference = repo.next_reference(tx, item.kind, item.created_at.year)
        repo.insert_case(
            tx,
            CaseRecord(
                reference=reference,
                kind=item.kind,
                status=item.status,
                person_id=person_id,
                contact_id=contact,
                subject_name=item.name,
                kecamatan_code=item.kecamatan,
                kelurahan_code=item.kelurahan,
                latitude=item.location[0] if item.location else None,
                longitude=item.location[1] if item.location else None,
                answers=answers,
                nik_hash=nik.h if nik is not None else None,
                created_at=item.created_at,
                updated_at=item.created_at,
            ),
            actor=f"contact:{contact}",
        )
        references.append(reference)
    return references


async def seed(store: Store, *items: Seed) -> list[str]:
    """Write the cases (with their contacts and people); return their references, in order."""
    return await store.write(lambda tx: _seed(tx, list(items)))


async def account(store: Store, username: str, *, role: str = "petugas", name: str = "") -> int:
    """A staff account (no password needed here); its id."""

    def create(tx: Tx) -> int:
        return insert_id(
            tx,
            "INSERT INTO staff_users (username, display_name, role, password_hash, created_at, updated_at) "
            "VALUES (?, ?, ?, 'x', ?, ?) RETURNING id",
            (username, name or username.title(), role, repo.iso(AT), repo.iso(AT)),
        )

    return await store.write(create)


async def case_id(store: Store, reference: str) -> int:
    """A seeded case's id."""
    found = await repo.get_case(store, reference)
    assert found is not None and found.id is not None
    return found.id


__all__ = ["AT", "SEALER", "Seed", "account", "case_id", "seed"]
