"""Cases, persons and their trail through the store contract: references count up, events are kept,
duplicates are found by keyed NIK hash or name and birth date, the summary counts follow every change,
and erasing a person keeps a tombstone."""

from datetime import date

from storage import repo
from storage.contract import Store, Tx
from storage.records import CaseEventRecord, CaseKind, CaseStatus
from tests.contract.seed import AT, SEALER, contact, filed, person

NIK = "3674015708850001"


async def test_a_case_is_filed_with_its_first_event_and_read_back(store: Store) -> None:
    person_id, case_id, reference = await filed(store)
    assert reference == "REG-2026-000001"
    case = await repo.get_case(store, reference)
    assert case is not None and case.id == case_id and case.person_id == person_id
    assert case.kind == CaseKind.REGISTRATION and case.status == CaseStatus.BARU
    assert case.created_at == AT and case.answers == {"full_name": "Siti Aminah"}
    assert await repo.get_case_by_id(store, case_id) == case
    events = await repo.case_events(store, case_id)
    assert [(e.action, e.to_status) for e in events] == [("created", CaseStatus.BARU)]
    assert [c.reference for c in await repo.cases_of_contact(store, contact().id)] == [reference]


async def test_references_count_up_per_kind_and_year(store: Store) -> None:
    def allocate(tx: Tx) -> list[str]:
        return [
            repo.next_reference(tx, CaseKind.REGISTRATION, 2026),
            repo.next_reference(tx, CaseKind.REGISTRATION, 2026),
            repo.next_reference(tx, CaseKind.AID, 2026),
            repo.next_reference(tx, CaseKind.REGISTRATION, 2027),
        ]

    assert await store.write(allocate) == [
        "REG-2026-000001",
        "REG-2026-000002",
        "BAN-2026-000001",
        "REG-2027-000001",
    ]


async def test_status_changes_keep_the_trail_and_the_summary_counts(store: Store) -> None:
    _, case_id, _ = await filed(store)
    await filed(store, contact("telegram:7"), name="Budi")

    def move(tx: Tx) -> None:
        repo.set_case_status(tx, case_id, CaseStatus.DIPROSES, AT, citizen_note="diperiksa")
        repo.add_case_event(
            tx,
            CaseEventRecord(
                case_id=case_id,
                at=AT,
                actor="staff:rina",
                action="status",
                from_status=CaseStatus.BARU,
                to_status=CaseStatus.DIPROSES,
                citizen_notified=True,
            ),
        )

    await store.write(move)
    events = await repo.case_events(store, case_id)
    assert [(e.action, e.citizen_notified) for e in events] == [("created", False), ("status", True)]
    tally = {
        row["status"]: row["n"]
        for row in await store.fetchall("SELECT status, n FROM case_tally WHERE n > 0 ORDER BY status")
    }
    assert tally == {"baru": 1, "diproses": 1}
    hours = await store.fetchall("SELECT kind, open, hour, n FROM case_hours WHERE n > 0")
    assert [tuple(row) for row in hours] == [("registration", 1, "2026-11-20T02", 2)]


async def test_a_person_is_updated_and_a_duplicate_found_by_nik_or_name(store: Store) -> None:
    person_id, _, _ = await filed(store)
    original = await repo.get_person(store, person_id)
    assert original is not None
    sealed = SEALER.seal(NIK)
    updated = original.model_copy(
        update={"nik": sealed, "birth_date": date(1985, 8, 17), "skills": ["masak"]}
    )
    await store.write(lambda tx: repo.update_person(tx, updated))
    found = await repo.get_person(store, person_id)
    assert found is not None and found.nik == sealed and SEALER.open(found.nik) == NIK
    assert found.birth_date == date(1985, 8, 17) and found.skills == ["masak"]

    same_nik = person("telegram:8", "Orang Lain", nik=SEALER.seal(NIK))
    same_name = person(
        "telegram:8", "SITI AMINAH", birth_date=date(1985, 8, 17), kelurahan_code="36.74.03.1011"
    )
    stranger = person("telegram:8", "Ani", birth_date=date(1990, 1, 1), kelurahan_code="36.74.03.1011")
    assert await store.write(lambda tx: repo.find_duplicate_person(tx, same_nik)) == person_id
    assert await store.write(lambda tx: repo.find_duplicate_person(tx, same_name)) == person_id
    assert await store.write(lambda tx: repo.find_duplicate_person(tx, stranger)) is None
    # A person is not a duplicate of itself.
    assert await store.write(lambda tx: repo.find_duplicate_person(tx, found)) is None


async def test_erasing_a_contact_keeps_a_tombstone_and_redacts_cases(store: Store) -> None:
    who = contact()
    person_id, case_id, reference = await filed(store, who)
    await store.write(lambda tx: repo.record_consent(tx, who.id, True, "v1", AT))
    await store.write(lambda tx: repo.erase_contact(tx, who.id, AT, "contact"))
    erased = await repo.get_person(store, person_id)
    assert erased is not None and erased.full_name == repo.ERASED and erased.deleted_at == AT
    case = await repo.get_case(store, reference)
    assert case is not None and case.subject_name == repo.ERASED and case.answers == {}
    assert [e.action for e in await repo.case_events(store, case_id)][-1] == "data_deleted"
    assert await store.fetchval("SELECT COUNT(*) FROM consents WHERE withdrawn_at IS NULL") == 0
