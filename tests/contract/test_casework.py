"""Cases and their events through the store contract: staff actions (status, assign, note), the queue
and its search (name, reference, NIK/KK by keyed hash, phone number in any spelling)."""

from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest

from handlers import casework
from handlers.casework import CaseworkError
from handlers.i18n import Catalog
from handlers.staff.casework import assign_case, note_case
from handlers.staff.queue import search_of
from storage import cases, repo
from storage import dashboard as reads
from storage.cases import CaseFilter, CaseSearch
from storage.contract import Store
from storage.records import CaseKind, CaseStatus
from tests.contract.casework_seed import AT, SEALER, Seed, account, case_id, seed

CATALOG = Catalog.load(Path(__file__).resolve().parents[2] / "handlers" / "locales")


async def test_a_status_change_moves_the_case_and_records_its_event(store: Store) -> None:
    (reference,) = await seed(store, Seed("Siti Aminah"))
    later = AT + timedelta(hours=2)
    change = partial(casework.change_status, catalog=CATALOG, reference=reference.lower(), actor="staff:budi")

    result = await store.write(partial(change, to_status=CaseStatus.DITOLAK, note="KK tidak cocok", at=later))

    assert (result.from_status, result.to_status, result.citizen_notified) == ("baru", "ditolak", True)
    case = await repo.get_case(store, reference)
    assert case is not None and case.status == CaseStatus.DITOLAK and case.citizen_note == "KK tidak cocok"
    assert case.updated_at == later
    events = await repo.case_events(store, await case_id(store, reference))
    assert [(e.action, e.from_status, e.to_status, e.note) for e in events][-1] == (
        "status_changed",
        "baru",
        "ditolak",
        "KK tidak cocok",
    )
    # A move the rules refuse changes nothing.
    with pytest.raises(CaseworkError) as refused:
        await store.write(partial(change, to_status=CaseStatus.DIPROSES, note=None, at=later))
    assert refused.value.code == "transition"
    assert len(await repo.case_events(store, await case_id(store, reference))) == len(events)


async def test_a_case_is_given_to_an_officer_and_back_to_nobody(store: Store) -> None:
    (reference,) = await seed(store, Seed("Siti Aminah"))
    budi = await account(store, "budi", name="Budi Santoso")
    await account(store, "vera", role="viewer")
    number = await case_id(store, reference)

    given = await store.write(
        partial(assign_case, reference=reference, user_id=budi, actor="staff:ani", at=AT)
    )
    assert given.officer == "Budi Santoso"
    assert await cases.assignee(store, number) == (budi, "Budi Santoso")
    by_name = await store.write(partial(assign_case, reference=reference, username="budi", actor="x", at=AT))
    assert by_name.officer == "Budi Santoso"
    # A viewer may not be given cases; an unknown name neither: nothing changes.
    for who in ({"username": "vera"}, {"username": "nobody"}, {"user_id": budi + 100}):
        with pytest.raises(CaseworkError) as refused:
            await store.write(partial(assign_case, reference=reference, actor="staff:ani", at=AT, **who))
        assert refused.value.code == "no_staff"
    assert await cases.assignee(store, number) == (budi, "Budi Santoso")

    nobody = await store.write(partial(assign_case, reference=reference, actor="staff:ani", at=AT))
    assert nobody.officer is None
    assert await cases.assignee(store, number) == (None, None)
    trail = [(e.action, e.note) for e in await repo.case_events(store, number)]
    assert trail[-3:] == [("assigned", "Budi Santoso"), ("assigned", "Budi Santoso"), ("assigned", None)]
    assert [c.username for c in await cases.staff_choices(store)] == ["budi"]  # viewers are not offered


async def test_a_note_is_kept_on_the_trail_and_audited(store: Store) -> None:
    (reference,) = await seed(store, Seed("Siti Aminah"))
    noted = await store.write(
        partial(note_case, reference=reference, text="  Sudah ditelepon.  ", actor="staff:ani", at=AT)
    )
    assert noted == reference
    events = await repo.case_events(store, await case_id(store, reference))
    assert (events[-1].action, events[-1].note, events[-1].actor) == ("note", "Sudah ditelepon.", "staff:ani")
    audited = await reads.audit_lines(store, actor="staff:ani", action_prefix="case.")
    assert [(line.action, line.target) for line in audited] == [("case.note", reference)]
    for text, code in (("   ", "note_empty"), ("x" * 2001, "note_too_long")):
        with pytest.raises(CaseworkError) as refused:
            await store.write(partial(note_case, reference=reference, text=text, actor="staff:ani", at=AT))
        assert refused.value.code == code
    with pytest.raises(CaseworkError) as missing:
        await store.write(partial(note_case, reference="REG-2026-999999", text="x", actor="a", at=AT))
    assert missing.value.code == "no_case"


async def test_search_finds_names_references_phones_in_any_spelling_and_kk(store: Store) -> None:
    siti, budi, ani = await seed(
        store,
        Seed("Siti Aminah", phone="0812-3456-7890"),
        Seed("Budi Santoso", kk="3674031234567890", nik="3674035508850001"),
        Seed("Ani Lestari", kind=CaseKind.AID),
    )

    async def found(text: str) -> list[str]:
        return [case.reference for case in await cases.find_cases(store, search_of(text, SEALER))]

    assert await found("aminah") == [siti]  # part of a name, any case
    assert await found("AMI") == [siti]
    assert await found("nt") == [budi]  # shorter than a trigram
    assert await found(budi.lower()) == [budi]
    assert await found(budi[:8]) == [budi, siti]  # part of a reference: newest first
    for spelling in ("0812-3456-7890", "62812 3456 7890", "+62 812-3456-7890"):
        assert await found(spelling) == [siti], spelling
    assert await found("3674 0312 3456 7890") == [budi]  # the KK, by its keyed hash
    assert await found("3674035508850001") == [budi]  # the NIK
    assert await found("Tidak Ada") == []
    assert await found("100%") == []  # % taken literally
    # The queue's filter combines the search with the others.
    page = await cases.queue_page(store, CaseFilter(kinds=["aid"], search=CaseSearch("name", "lestari")))
    assert [row.reference for row in page.rows] == [ani]
    none = await cases.queue_page(store, CaseFilter(kinds=["aid"], search=CaseSearch("name", "aminah")))
    assert (none.rows, none.total) == ([], 0)


async def test_a_name_with_the_queues_filters_finds_only_cases_matching_all(store: Store) -> None:
    other_kecamatan, other_kelurahan = "36.74.01", "36.74.01.1001"
    references = await seed(
        store,
        *(
            Seed(f"Siti Rahma {number}", kind, status, kecamatan, kelurahan, AT + timedelta(minutes=number))
            for number, (kind, status, (kecamatan, kelurahan)) in enumerate(
                (kind, status, place)
                for kind in (CaseKind.REGISTRATION, CaseKind.AID)
                for status in (CaseStatus.BARU, CaseStatus.DIPROSES, CaseStatus.SELESAI)
                for place in (("36.74.03", "36.74.03.1011"), (other_kecamatan, other_kelurahan))
            )
        ),
        Seed("Budi Santoso", CaseKind.AID, CaseStatus.BARU, other_kecamatan, other_kelurahan),
    )

    async def listed(flt: CaseFilter, *, page: int = 1, page_size: int = 50) -> tuple[list[str], int, int]:
        found = await cases.queue_page(store, flt, page=page, page_size=page_size)
        return [row.reference for row in found.rows], found.total, found.page

    siti = CaseSearch("name", "rahma")
    both = CaseFilter(kinds=["aid"], statuses=["baru"], kecamatan=other_kecamatan, search=siti)
    assert await listed(both) == ([references[7]], 1, 1)
    by_place = CaseFilter(kelurahan=other_kelurahan, search=siti)
    assert await listed(by_place) == (references[11::-2], 6, 1)  # newest first
    # A later page: the count first, then the page it allows (a page past the end shows the last).
    assert await listed(by_place, page=2, page_size=4) == (references[3::-2], 6, 2)
    assert await listed(by_place, page=9, page_size=4) == (references[3::-2], 6, 2)
    assert await listed(CaseFilter(statuses=["selesai"], search=CaseSearch("name", "santoso"))) == ([], 0, 1)
    # A name alone, a later page and one past the end.
    assert await listed(CaseFilter(search=siti), page=2, page_size=5) == (references[6:1:-1], 12, 2)
    assert await listed(CaseFilter(search=siti), page=7, page_size=5) == (references[1::-1], 12, 3)
    assert await listed(CaseFilter(search=CaseSearch("name", "tidak ada"))) == ([], 0, 1)


async def test_a_common_name_is_counted_up_to_a_cap_and_the_newest_listed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cases, "COUNT_CAP", 6)
    monkeypatch.setattr(cases, "NAME_AND_FILTERS_CAP", 3)
    references = await seed(
        store,
        *(Seed(f"Siti Aminah {number}", created_at=AT + timedelta(minutes=number)) for number in range(8)),
    )

    page = await cases.queue_page(store, CaseFilter(search=CaseSearch("name", "siti")), page_size=2)

    # SQLite counts a name alone from its trigram index, to the broad cap; PostgreSQL checks each match
    # on its row, so it stops at the name-with-filters cap: either way "more than N cases".
    cap = 6 if store.dialect == "sqlite" else 3
    assert (page.total, page.capped, page.pages) == (cap, True, -(-cap // 2))
    assert [row.reference for row in page.rows] == references[:5:-1]
    filtered = await cases.queue_page(store, CaseFilter(statuses=["baru"], search=CaseSearch("name", "siti")))
    assert (filtered.total, filtered.capped, len(filtered.rows)) == (3, True, 8)


async def test_the_queue_orders_cases_past_their_target_first(store: Store) -> None:
    old, recent, waiting_citizen, older_done = await seed(
        store,
        Seed("Lama", created_at=AT - timedelta(days=10)),
        Seed("Baru Masuk", created_at=AT),
        Seed("Tunggu Warga", status=CaseStatus.PERLU_INFO, created_at=AT - timedelta(days=20)),
        Seed("Sudah Selesai", status=CaseStatus.SELESAI, created_at=AT - timedelta(days=30)),
    )
    cutoffs = {"registration": AT - timedelta(days=3)}

    page = await cases.queue_page(store, CaseFilter(), sort="overdue", overdue=cutoffs)

    assert [(row.reference, row.overdue) for row in page.rows] == [
        (old, True),  # waiting on staff past its target: first
        (older_done, False),  # then oldest first
        (waiting_citizen, False),  # waiting on the citizen is not staff's delay
        (recent, False),
    ]
    assert (page.total, page.capped, page.page, page.pages) == (4, False, 1, 1)
    newest = await cases.queue_page(store, CaseFilter(statuses=["baru", "diproses", "perlu_info"]))
    assert [row.reference for row in newest.rows] == [waiting_citizen, recent, old]
    assert await cases.is_overdue(store, await case_id(store, old), cutoffs)
    listed = await cases.listing(store, CaseFilter(statuses=["baru"]), overdue=cutoffs, oldest_first=True)
    assert (listed.total, [(e.case.reference, e.overdue) for e in listed.entries]) == (
        2,
        [(old, True), (recent, False)],
    )


async def test_the_queue_filters_by_place_officer_and_dates(store: Store) -> None:
    budi = await account(store, "budi")
    here, there, late = await seed(
        store,
        Seed("Satu", created_at=AT - timedelta(days=2)),
        Seed("Dua", kecamatan="36.74.01", kelurahan="36.74.01.1001", created_at=AT - timedelta(days=1)),
        Seed("Tiga", created_at=AT),
    )
    await store.write(partial(assign_case, reference=there, user_id=budi, actor="a", at=AT))

    async def refs(flt: CaseFilter) -> list[str]:
        return [row.reference for row in (await cases.queue_page(store, flt)).rows]

    assert await refs(CaseFilter(kecamatan="36.74.03")) == [late, here]
    assert await refs(CaseFilter(kelurahan="36.74.01.1001")) == [there]
    assert await refs(CaseFilter(assignee=budi)) == [there]
    assert await refs(CaseFilter(unassigned=True)) == [late, here]
    assert await refs(CaseFilter(created_from=AT - timedelta(days=1), created_before=AT)) == [there]
    assert await refs(CaseFilter(nothing=True)) == []
    row = (await cases.queue_page(store, CaseFilter(assignee=budi))).rows[0]
    assert row.assignee_name == "Budi" and row.created_at == AT - timedelta(days=1)
    exported = [row async for batch in cases.iter_export_rows(store, CaseFilter()) for row in batch]
    assert [(r.reference, r.created_at, r.assignee_name) for r in exported] == [
        (here, AT - timedelta(days=2), None),
        (there, AT - timedelta(days=1), "Budi"),
        (late, AT, None),
    ]


async def test_the_queue_puts_urgent_aid_first_and_filters_by_urgency(store: Store) -> None:
    later, today, week, registration = await seed(
        store,
        Seed("Nanti", CaseKind.AID, answers={"urgency": "later"}),
        Seed("Hari Ini", CaseKind.AID, answers={"urgency": "today"}),
        Seed("Minggu Ini", CaseKind.AID, answers={"urgency": "week"}),
        Seed("Daftar"),
    )
    urgent = await cases.queue_page(store, CaseFilter(), sort="urgent")
    assert [(row.reference, row.urgency_rank) for row in urgent.rows] == [
        (today, 0),
        (week, 1),
        (later, 2),
        (registration, 3),
    ]
    darurat = await cases.queue_page(store, CaseFilter(urgency_rank=0))
    assert [row.reference for row in darurat.rows] == [today]
