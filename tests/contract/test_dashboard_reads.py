"""The dashboard's reads through the store contract: the summary's counts, the map, people, the SIKS-NG
worksheet's people, the outbox and audit pages, canned replies."""

from datetime import date, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from handlers import casework
from handlers.i18n import Catalog
from handlers.segments import Segment
from handlers.staff.casework import assign_case
from handlers.staff.queue import search_of
from storage import cases
from storage import dashboard as reads
from storage.contract import Store
from storage.records import CaseKind, CaseStatus
from tests.contract.casework_seed import AT, SEALER, Seed, account, case_id, seed

WIB = ZoneInfo("Asia/Jakarta")
CATALOG = Catalog.load(Path(__file__).resolve().parents[2] / "handlers" / "locales")
OTHER_KECAMATAN, OTHER_KELURAHAN = "36.74.01", "36.74.01.1001"


async def test_summary_counts_by_status_kind_place_week_and_target(store: Store) -> None:
    budi = await account(store, "budi")
    _, assigned, *_ = await seed(
        store,
        Seed("Hari Ini", created_at=AT),
        Seed(
            "Kemarin", CaseKind.AID, CaseStatus.DIPROSES, OTHER_KECAMATAN, OTHER_KELURAHAN, AT - timedelta(1)
        ),
        # Monday 00:30 WIB is still Sunday in UTC: it counts in the local week of Monday.
        Seed("Senin Dini Hari", created_at=AT.replace(day=15, hour=17, minute=30)),
        Seed(
            "Lewat Batas",
            status=CaseStatus.DIPROSES,
            kecamatan=None,
            kelurahan=None,
            created_at=AT - timedelta(5),
        ),
        Seed("Tunggu Warga", status=CaseStatus.PERLU_INFO, created_at=AT - timedelta(8)),
        Seed("Selesai", CaseKind.LOST_KTP, CaseStatus.SELESAI, created_at=AT - timedelta(15)),
    )
    await store.write(partial(assign_case, reference=assigned, user_id=budi, actor="staff:ani", at=AT))
    cutoffs = {"registration": AT - timedelta(days=3), "aid": AT - timedelta(days=3)}

    numbers = await reads.summary(store, now=AT, tz=WIB, weeks=3, overdue=cutoffs)

    assert numbers.total == 6
    assert numbers.by_status == {"baru": 2, "diproses": 2, "perlu_info": 1, "selesai": 1}
    assert numbers.by_kind == {"registration": 4, "aid": 1, "lost_ktp": 1}
    assert numbers.by_kecamatan == {"36.74.03": 4, OTHER_KECAMATAN: 1, None: 1}
    assert numbers.open_unassigned == 4  # open, given to nobody
    assert numbers.today == 1
    assert numbers.weeks == [(date(2026, 11, 2), 1), (date(2026, 11, 9), 2), (date(2026, 11, 16), 3)]
    assert numbers.overdue == 1  # waiting on staff past its target; perlu_info waits on the citizen
    assert (await reads.summary(store, now=AT, tz=WIB, weeks=1)).weeks == [(date(2026, 11, 16), 3)]
    # The counts follow a status change.
    await store.write(
        partial(
            casework.change_status,
            catalog=CATALOG,
            reference=assigned,
            to_status=CaseStatus.DISETUJUI,
            actor="staff:ani",
            note=None,
            at=AT,
        )
    )
    again = await reads.summary(store, now=AT, tz=WIB, weeks=3)
    assert again.by_status["disetujui"] == 1 and again.by_status["diproses"] == 1 and again.overdue == 0


async def test_summary_overdue_matches_each_case_also_within_the_cutoffs_hour(store: Store) -> None:
    # Cutoffs off the hour (a target counted in working hours, or a time zone half an hour away): the
    # cases of the cutoff's own hour are told apart by their minute, on every side of every cutoff.
    cutoffs = {"registration": AT - timedelta(days=2, minutes=25), "aid": AT - timedelta(hours=30, minutes=5)}
    items = []
    for kind, cutoff in (*cutoffs.items(), ("lost_ktp", AT - timedelta(days=2))):
        case_kind = CaseKind(kind)
        hour = cutoff.replace(minute=0, second=0)
        for status in (CaseStatus.BARU, CaseStatus.DIPROSES, CaseStatus.PERLU_INFO, CaseStatus.SELESAI):
            for moment in (
                hour - timedelta(days=9),
                hour - timedelta(minutes=1),
                hour,
                cutoff - timedelta(seconds=1),
                cutoff,
                cutoff + timedelta(minutes=1),
                hour + timedelta(hours=1),
                AT,
            ):
                items.append(
                    Seed(f"{kind} {status} {moment:%d %H%M%S}", case_kind, status, created_at=moment)
                )
    references = await seed(store, *items)
    marked = [await cases.is_overdue(store, await case_id(store, ref), cutoffs) for ref in references]

    numbers = await reads.summary(store, now=AT, tz=WIB, weeks=3, overdue=cutoffs)

    # Per kind with a target: 2 statuses waiting on staff x 4 moments before the cutoff.
    assert numbers.overdue == sum(marked) == 16
    assert (await reads.summary(store, now=AT, tz=WIB, weeks=3, overdue={})).overdue == 0


async def test_the_map_counts_cases_per_kelurahan_and_shows_located_ones(store: Store) -> None:
    here, _, _, old = await seed(
        store,
        Seed("Satu", location=(-6.28, 106.71)),
        Seed("Dua", status=CaseStatus.DIPROSES),
        Seed("Tiga", kecamatan=OTHER_KECAMATAN, kelurahan=OTHER_KELURAHAN, location=(-6.3, 106.7)),
        Seed("Empat", status=CaseStatus.SELESAI, created_at=AT - timedelta(days=40), location=(-6.2, 106.6)),
    )
    open_cases = reads.MapQuery(statuses=("baru", "diproses", "perlu_info"))
    assert await reads.map_counts(store, open_cases) == {
        "36.74.03.1011": {"baru": 1, "diproses": 1},
        OTHER_KELURAHAN: {"baru": 1},
    }
    recent = reads.MapQuery(created_from=AT - timedelta(days=1), created_before=AT + timedelta(days=1))
    assert await reads.map_counts(store, recent) == {
        "36.74.03.1011": {"baru": 1, "diproses": 1},
        OTHER_KELURAHAN: {"baru": 1},
    }
    everything = await reads.map_points(store, reads.MapQuery(), limit=10)
    assert [(p.reference, p.latitude, p.longitude) for p in everything][-1] == (here, -6.28, 106.71)
    assert old in [p.reference for p in everything] and len(everything) == 3
    assert len(await reads.map_points(store, open_cases, limit=1)) == 1


async def test_people_are_found_by_name_number_place_and_skill(store: Store) -> None:
    await seed(
        store,
        Seed("Siti Aminah", skills=["jahit", "masak"], nik="3674035508850001", phone="0812-3456-7890"),
        Seed("Budi Santoso", skills=["service_hp"], kecamatan=OTHER_KECAMATAN, kelurahan=OTHER_KELURAHAN),
        Seed("siti rahma", skills=["servicexhp"], contact="whatsapp:6281299998888"),
    )

    async def names(**asked: object) -> list[str]:
        page = await reads.persons_page(store, page_size=10, **asked)  # type: ignore[arg-type]
        return [person.full_name for person in page.people]

    assert await names() == ["siti rahma", "Budi Santoso", "Siti Aminah"]
    assert await names(search=search_of("SITI", SEALER)) == ["siti rahma", "Siti Aminah"]
    assert await names(search=search_of("ti", SEALER)) == ["siti rahma", "Siti Aminah"]
    assert await names(search=search_of("3674 0355 0885 0001", SEALER)) == ["Siti Aminah"]
    assert await names(search=search_of("+62 812-3456-7890", SEALER)) == ["Siti Aminah"]
    assert await names(search=search_of("0812 9999 8888", SEALER)) == ["siti rahma"]  # her WhatsApp
    assert await names(kecamatan=OTHER_KECAMATAN) == ["Budi Santoso"]
    assert await names(skill="masak") == ["Siti Aminah"]
    assert await names(skill="service_hp") == ["Budi Santoso"]  # "_" is a letter here, not a wildcard
    assert await names(nothing=True) == []
    first = await reads.persons_page(store, page_size=2)
    assert first.more and first.people[0].nik_masked == "-" and first.people[0].cases == 1
    assert (await reads.persons_page(store, page=2, page_size=2)).people[0].nik_masked.endswith("0001")


async def test_the_worksheet_lists_people_of_a_period_by_kelurahan_and_name(store: Store) -> None:
    first, *_ = await seed(
        store,
        Seed("zainal", created_at=AT),
        Seed("Ahmad", created_at=AT),
        Seed("Budi", kecamatan=OTHER_KECAMATAN, kelurahan=OTHER_KELURAHAN, created_at=AT),
        Seed("Lama", created_at=AT - timedelta(days=30)),
        Seed("Tanpa Tempat", kecamatan=None, kelurahan=None, created_at=AT),
    )
    found = await reads.worksheet_people(
        store, registered_from=AT - timedelta(days=1), registered_before=AT + timedelta(days=1)
    )
    assert [row.person.full_name for row in found] == ["Budi", "Ahmad", "zainal"]
    assert found[-1].reference == first and found[-1].person.created_at == AT
    mine = await reads.worksheet_people(
        store,
        registered_from=AT - timedelta(days=1),
        registered_before=AT + timedelta(days=1),
        kecamatan=OTHER_KECAMATAN,
    )
    assert [row.person.full_name for row in mine] == ["Budi"]


async def test_outbox_and_case_messages_and_the_audit_log(store: Store) -> None:
    (reference,) = await seed(store, Seed("Siti Aminah"))
    await store.write(
        partial(
            casework.change_status,
            catalog=CATALOG,
            reference=reference,
            to_status=CaseStatus.DIPROSES,
            actor="staff:ani",
            note=None,
            at=AT,
        )
    )
    (line,) = await reads.outbox_lines(store, status="queued", origin="staff")
    assert (line.reference, line.created_at, line.sent_at) == (reference, AT, None)
    assert await reads.outbox_lines(store, status="sent") == []
    (message,) = await cases.messages(store, await case_id(store, reference))
    assert message.id == line.id and message.payload == line.payload
    audited = await reads.audit_lines(store, action_prefix="case.stat")
    assert [(a.actor, a.action, a.target, a.detail, a.at) for a in audited] == [
        ("staff:ani", "case.status", reference, "baru->diproses", AT)
    ]
    assert await reads.audit_lines(store, action_prefix="case_") == []  # "_" taken literally
    assert await reads.audit_lines(store, before_id=audited[0].id) == []


async def test_canned_replies_are_added_listed_by_language_and_removed(store: Store) -> None:
    for language, title in (("id", "Sembako"), ("id", "Alamat kantor"), ("en", "Office")):
        await store.write(
            partial(
                reads.add_canned, language=language, title=title, body=f"{title}.", actor="staff:a", at=AT
            )
        )
    indonesian = await reads.canned_replies(store, language="id")
    assert [reply.title for reply in indonesian] == ["Alamat kantor", "Sembako"]
    assert [(r.language, r.title) for r in await reads.canned_replies(store)] == [
        ("en", "Office"),
        ("id", "Alamat kantor"),
        ("id", "Sembako"),
    ]
    assert await reads.canned_body(store, indonesian[1].id) == "Sembako."
    remove = partial(reads.delete_canned, canned_id=indonesian[1].id, actor="staff:a", at=AT)
    assert await store.write(remove) is True
    assert await store.write(remove) is False
    assert await reads.canned_body(store, indonesian[1].id) is None


async def test_the_map_counts_the_cases_of_the_people_a_segment_reaches(store: Store) -> None:
    await seed(
        store,
        Seed("Penjahit", skills=["jahit"]),
        Seed("Montir", skills=["montir"], kecamatan=OTHER_KECAMATAN, kelurahan=OTHER_KELURAHAN),
        Seed("Penjahit Lain", CaseKind.AID, skills=["jahit", "masak"], created_at=AT - timedelta(days=9)),
    )
    sewing = Segment(skills=["jahit"])
    assert await reads.map_counts(store, reads.MapQuery(segment=sewing, tz=WIB)) == {
        "36.74.03.1011": {"baru": 2}
    }
    recent = reads.MapQuery(segment=sewing, tz=WIB, created_from=AT - timedelta(days=1))
    assert await reads.map_counts(store, recent) == {"36.74.03.1011": {"baru": 1}}
    elsewhere = reads.MapQuery(segment=Segment(kecamatan=[OTHER_KECAMATAN]), tz=WIB)
    assert await reads.map_counts(store, elsewhere) == {OTHER_KELURAHAN: {"baru": 1}}
