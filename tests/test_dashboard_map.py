"""The dashboard's maps over a real service and store, through HTTP: the summary map of cases per
kelurahan (counts, colours, filters, the queue it opens), case points for staff who act and never for
viewers, the case page's small map, and choosing kelurahan for a segment on the map."""

import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from handlers.geo import Boundaries
from handlers.i18n import Catalog
from storage.migrations import MIGRATIONS, apply_migrations
from storage.records import CaseKind, CaseStatus
from tests.dashboard_support import Desk, SeedCase, open_desk
from tests.support import Clock

UI = Catalog.load(Path(__file__).resolve().parent.parent / "bot" / "dashboard" / "locales")
CASE_LINK = re.compile(r'href="/cases/((?:REG|KTP|BAN|PSN)-\d{4}-\d{6})"')
AREA = re.compile(r'<a href="([^"]+)" class="area b(\d)" data-code="([\d.]+)" data-count="(\d+)"')
LABEL = re.compile(r'<text x="[\d.]+" y="[\d.]+" class="b\d">(\d+)</text>')
POINT = re.compile(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="4"><title>([A-Z]{3}-\d{4}-\d{6})</title>')
PONDOK_AREN, SERPONG = "36.74.03", "36.74.01"
JURANGMANGU_TIMUR, PONDOK_BETUNG, CIATER, SETU = (
    "36.74.03.1011",
    "36.74.03.1001",
    "36.74.01.1001",
    "36.74.07.1002",
)


def ui(key: str, **params: object) -> str:
    return UI.text("id", key, **params)


def inside(code: str) -> tuple[float, float]:
    point = Boundaries.shared().area(code).geometry.representative_point()
    return point.y, point.x


def areas(html: str) -> dict[str, tuple[int, int, str]]:
    """Each kelurahan on the summary map: (count, colour class, link)."""
    return {
        code: (int(count), int(bucket), href.replace("&amp;", "&"))
        for href, bucket, code, count in AREA.findall(html)
    }


@pytest.fixture
async def desk(tmp_path: Path, clock: Clock) -> AsyncIterator[Desk]:
    async with open_desk(tmp_path / "data", clock) as opened:
        yield opened


async def seed_city(desk: Desk) -> list[str]:
    """Open and closed cases in a few kelurahan, some with a shared location."""
    day = SeedCase("x").created_at
    return await desk.seed(
        *[
            SeedCase(f"Warga JT {i}", kelurahan=JURANGMANGU_TIMUR, location=inside(JURANGMANGU_TIMUR))
            for i in range(4)
        ],
        SeedCase("Warga JT selesai", status=CaseStatus.SELESAI, kelurahan=JURANGMANGU_TIMUR),
        SeedCase("Warga PB 1", CaseKind.AID, CaseStatus.DIPROSES, kelurahan=PONDOK_BETUNG),
        SeedCase(
            "Warga PB 2", CaseKind.AID, CaseStatus.PERLU_INFO, kelurahan=PONDOK_BETUNG, skills=["montir"]
        ),
        SeedCase(
            "Warga Ciater",
            CaseKind.LOST_KTP,
            kecamatan=SERPONG,
            kelurahan=CIATER,
            created_at=day - timedelta(days=30),
            location=inside(CIATER),
        ),
        SeedCase("Warga tanpa tempat", kecamatan=None, kelurahan=None),
    )


async def test_the_summary_map_draws_every_kelurahan_coloured_by_open_cases_with_the_number_on_it(
    desk: Desk,
) -> None:
    await desk.signed_in("viewer", "vina")
    await seed_city(desk)
    page = (await desk.client.get("/")).text
    shown = areas(page)
    assert len(shown) == 54
    assert shown[JURANGMANGU_TIMUR][0] == 4  # the closed case is not counted
    assert shown[PONDOK_BETUNG][0] == 2
    assert shown[CIATER][0] == 1
    assert shown[SETU][:2] == (0, 0)
    # Colours follow the counts: more cases never a lighter class.
    ranked = sorted(shown.values())
    assert all(a[1] <= b[1] for a, b in pairwise(ranked))
    assert shown[JURANGMANGU_TIMUR][1] == 5 and shown[CIATER][1] < shown[PONDOK_BETUNG][1]
    # Readable in black and white: every area carries its number; hatching for print.
    labels = LABEL.findall(page)
    assert len(labels) == 54 and sorted(map(int, labels)) == sorted(count for count, _, _ in shown.values())
    assert page.count('<pattern id="hatch-') == 5
    assert ui("map.counting_open", count=8) in page and ui("map.unplaced", count=1) in page
    # Hover/tap words for each area; nothing loaded from another site.
    assert ui("map.info", name="Jurangmangu Timur", kecamatan="Pondok Aren", count=4) in page
    assert not re.search(r'(src|href)="(https?:)?//', page)


async def test_clicking_an_area_opens_the_queue_filtered_to_it_with_the_cases_it_counted(desk: Desk) -> None:
    await desk.signed_in("viewer", "vina")
    refs = await seed_city(desk)
    link = areas((await desk.client.get("/")).text)[JURANGMANGU_TIMUR][2]
    assert link == f"/cases?kelurahan={JURANGMANGU_TIMUR}&status=open"
    queue = (await desk.client.get(link)).text
    assert sorted(dict.fromkeys(CASE_LINK.findall(queue))) == sorted(refs[:4])
    # With other filters, the queue keeps those the queue has.
    link = areas((await desk.client.get("/", params={"kind": "aid", "status": "all"})).text)[PONDOK_BETUNG][2]
    assert link == f"/cases?kelurahan={PONDOK_BETUNG}&kind=aid"
    assert sorted(dict.fromkeys(CASE_LINK.findall((await desk.client.get(link)).text))) == sorted(refs[5:7])


async def test_the_map_filters_by_kind_status_dates_and_segment(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas", "siti")
    await seed_city(desk)

    async def counts(**params: str) -> dict[str, int]:
        response = await desk.client.get("/", params=params)
        assert response.status_code == 200
        return {code: n for code, (n, _, _) in areas(response.text).items() if n}

    assert await counts() == {JURANGMANGU_TIMUR: 4, PONDOK_BETUNG: 2, CIATER: 1}
    assert await counts(kind="aid") == {PONDOK_BETUNG: 2}
    assert await counts(status="all") == {JURANGMANGU_TIMUR: 5, PONDOK_BETUNG: 2, CIATER: 1}
    assert await counts(status="selesai") == {JURANGMANGU_TIMUR: 1}
    assert await counts(date_to="2026-10-31") == {CIATER: 1}
    assert await counts(date_from="2026-11-01") == {JURANGMANGU_TIMUR: 4, PONDOK_BETUNG: 2}
    assert await counts(seg_skill="montir") == {PONDOK_BETUNG: 1}
    assert await counts(seg_kecamatan=SERPONG) == {CIATER: 1}
    assert await counts(kind="nonsense", status="nonsense") == await counts()  # unknown values ignored
    # The segment of a past broadcast.
    sent = await desk.client.post(
        "/broadcasts",
        data={
            "csrf_token": csrf,
            "text_id": "Pelatihan montir.",
            "seg_skill": "montir",
            "when": "now",
            "confirm": "1",
        },
    )
    assert sent.status_code == 303
    (broadcast,) = await desk.rows("SELECT id FROM broadcasts")
    page = (await desk.client.get("/", params={"seg_broadcast": str(broadcast["id"])})).text
    assert {code: n for code, (n, _, _) in areas(page).items() if n} == {PONDOK_BETUNG: 1}
    montir = Catalog.load().text(
        "id", "staff.outreach.seg.skills", names=Catalog.load().text("id", "skill.montir")
    )
    assert ui("map.segment_is", words=montir) in page  # the words every staff surface uses


async def test_case_points_only_for_staff_who_choose_them_never_for_viewers(desk: Desk) -> None:
    await desk.signed_in("petugas", "siti")
    refs = await seed_city(desk)
    plain = (await desk.client.get("/")).text
    assert ui("map.show_points") in plain and POINT.findall(plain) == []
    with_points = (await desk.client.get("/", params={"points": "1"})).text
    drawn = {ref: (float(x), float(y)) for x, y, ref in POINT.findall(with_points)}
    assert set(drawn) == set(refs[:4]) | {refs[7]}  # the located cases the filter selects
    jt = Boundaries.shared().area(JURANGMANGU_TIMUR).shape
    assert abs(drawn[refs[0]][0] - jt.label_x) < 60 and abs(drawn[refs[0]][1] - jt.label_y) < 60
    only_aid = (await desk.client.get("/", params={"points": "1", "kind": "lost_ktp"})).text
    assert {ref for _, _, ref in POINT.findall(only_aid)} == {refs[7]}

    desk.client.cookies.clear()
    await desk.signed_in("viewer", "vina")
    viewer = (await desk.client.get("/", params={"points": "1"})).text
    assert POINT.findall(viewer) == [] and "<circle" not in viewer
    assert ui("map.show_points") not in viewer
    assert areas(viewer)[JURANGMANGU_TIMUR][0] == 4  # the aggregate is still there


async def test_the_case_page_map_shows_the_point_to_staff_and_only_the_kelurahan_to_viewers(
    desk: Desk,
) -> None:
    refs = await seed_city(desk)
    await desk.signed_in("petugas", "siti")
    located = (await desk.client.get(f"/cases/{refs[0]}")).text
    assert 'class="case-point"' in located and ui("map.case_point") in located
    assert located.count('class="focus"') == 1 and located.count('class="other"') == 53
    unlocated = (await desk.client.get(f"/cases/{refs[5]}")).text
    assert 'class="case-point"' not in unlocated and ui("map.case_area") in unlocated
    nowhere = (await desk.client.get(f"/cases/{refs[8]}")).text
    assert 'class="case-map"' not in nowhere

    desk.client.cookies.clear()
    await desk.signed_in("viewer", "vina")
    viewer = (await desk.client.get(f"/cases/{refs[0]}")).text
    assert viewer.count('class="focus"') == 1 and 'class="case-point"' not in viewer
    assert "<circle" not in viewer


async def test_the_segment_form_offers_the_map_picker_and_counts_the_kelurahan_chosen(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas", "siti")
    await seed_city(desk)
    page = (await desk.client.get("/broadcasts/new")).text
    picks = re.findall(r'<path d="[^"]+" class="pick( chosen)?" data-code="([\d.]+)"', page)
    assert len(picks) == 54 and not any(chosen for chosen, _ in picks)
    assert 'data-select="seg_kelurahan"' in page and '<script src="/static/map.js"' in page
    counted = await desk.client.get(
        "/segments/preview", params=[("seg_kelurahan", JURANGMANGU_TIMUR), ("seg_kelurahan", CIATER)]
    )
    assert ui("segment.reaches", count=6) in counted.text
    # A refused form keeps the kelurahan chosen on the map.
    kept = await desk.client.post(
        "/broadcasts",
        data={
            "csrf_token": csrf,
            "text_id": "x",
            "seg_kelurahan": CIATER,
            "preview": "1",
        },
    )
    chosen = re.findall(r'class="pick chosen" data-code="([\d.]+)"', kept.text)
    assert chosen == [CIATER]
    # The programme invitation form has the same picker.
    start = (desk.dashboard.clock() + timedelta(days=7)).astimezone(desk.dashboard.tz)
    programme = await desk.programme(csrf, start)
    invite_form = (await desk.client.get(f"/programmes/{programme}")).text
    assert len(re.findall(r'class="pick" data-code=', invite_form)) == 54


async def test_the_map_script_is_a_static_file_served_with_the_strict_policy(desk: Desk) -> None:
    await desk.signed_in("viewer", "vina")
    page = await desk.client.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and " onclick=" not in page.text and " style=" not in page.text
    script = await desk.client.get("/static/map.js")
    assert script.status_code == 200 and "data-map" in script.text


def test_migration_copies_the_location_of_cases_filed_before(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.sqlite3", isolation_level=None)
    before = [name for name, _ in MIGRATIONS if name < "0012"]
    saved = list(MIGRATIONS)
    try:
        MIGRATIONS[:] = [m for m in saved if m[0] in before]
        apply_migrations(conn)
    finally:
        MIGRATIONS[:] = saved
    conn.execute(
        "INSERT INTO contacts (id, channel, created_at, updated_at) VALUES ('web:a', 'web', '2026', '2026')"
    )
    for number, answers in enumerate(('{"location": {"lat": -6.27, "lon": 106.72}}', '{"full_name": "B"}')):
        conn.execute(
            "INSERT INTO cases (reference, kind, status, contact_id, subject_name, answers, created_at, "
            "updated_at) VALUES (?, 'registration', 'baru', 'web:a', 'A', ?, '2026', '2026')",
            (f"REG-2026-00000{number}", answers),
        )
    assert "0012_case_location" in apply_migrations(conn)
    rows = conn.execute("SELECT latitude, longitude FROM cases ORDER BY id").fetchall()
    assert rows == [(-6.27, 106.72), (None, None)]
