"""The dashboard's maps in a real browser against the real service: the summary map renders the 54
kelurahan coloured by their counts, shows counts on hover and on a first tap, opens the filtered queue
on a click; screenshots at a laptop's and a phone's size; and kelurahan chosen on the broadcast map
change the recipient count."""

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from handlers.geo import Boundaries
from storage.records import CaseKind, CaseStatus
from tests.browser.test_dashboard_browser import seeded, sign_in, ui
from tests.dashboard_support import LiveService, SeedCase, live_service

JURANGMANGU_TIMUR, PONDOK_BETUNG, CIATER, SETU = (
    "36.74.03.1011",
    "36.74.03.1001",
    "36.74.01.1001",
    "36.74.07.1002",
)


def inside(code: str) -> tuple[float, float]:
    point = Boundaries.shared().area(code).geometry.representative_point()
    return point.y, point.x


@pytest.fixture
def city(tmp_path: Path) -> Iterator[LiveService]:
    cases = [
        *[SeedCase(f"Warga JT {i}", location=inside(JURANGMANGU_TIMUR)) for i in range(6)],
        *[
            SeedCase(f"Warga PB {i}", CaseKind.AID, CaseStatus.DIPROSES, kelurahan=PONDOK_BETUNG)
            for i in range(3)
        ],
        SeedCase("Warga Ciater", CaseKind.LOST_KTP, kecamatan="36.74.01", kelurahan=CIATER),
        SeedCase("Warga selesai", status=CaseStatus.SELESAI, kelurahan=SETU, kecamatan="36.74.07"),
    ]
    seeded(tmp_path / "data", cases)
    with live_service(tmp_path / "data") as live:
        yield live


def luminance(rgb: str) -> float:
    """Relative brightness of a computed `rgb(r, g, b)` colour."""
    r, g, b = (int(part) for part in rgb.removeprefix("rgb(").removesuffix(")").split(","))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def fill_of(page: Page, code: str) -> str:
    fill: str = page.locator(f"svg[data-map=summary] a.area[data-code='{code}'] path").evaluate(
        "element => getComputedStyle(element).fill"
    )
    return fill


def test_the_summary_map_renders_colours_by_count_and_opens_the_filtered_queue(
    page: Page, city: LiveService, tmp_path: Path
) -> None:
    sign_in(page, city.url)
    areas = page.locator("svg[data-map=summary] a.area")
    expect(areas).to_have_count(54)
    expect(page.locator("svg[data-map=summary] .labels text")).to_have_count(54)
    # Colours follow the counts: 6 darker than 3, 3 darker than 1, 1 darker than none (the closed case).
    shades = [luminance(fill_of(page, code)) for code in (JURANGMANGU_TIMUR, PONDOK_BETUNG, CIATER, SETU)]
    assert shades == sorted(shades) and len(set(shades)) == 4, shades
    # The map fits the laptop screen's width; a screenshot of it is taken.
    box = page.locator("svg[data-map=summary]").bounding_box()
    assert box is not None and box["width"] > 300 and box["x"] + box["width"] <= 1366
    laptop = tmp_path / "map-1366x768.png"
    page.locator("#peta").scroll_into_view_if_needed()
    page.screenshot(path=str(laptop))
    assert png_size(laptop) == (1366, 768) and laptop.stat().st_size > 20_000

    # Hovering shows the counts, clicking opens the queue of that kelurahan.
    area = page.locator(f"svg[data-map=summary] a.area[data-code='{PONDOK_BETUNG}']")
    area.hover()
    expect(page.locator("#map-info")).to_contain_text(
        ui("map.info", name="Pondok Betung", kecamatan="Pondok Aren", count=3)
    )
    area.click()
    expect(page).to_have_url(f"{city.url}/cases?kelurahan={PONDOK_BETUNG}&status=open")
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("table.queue")).to_contain_text("Warga PB 0")


def test_on_a_phone_a_first_tap_shows_the_counts_and_a_second_opens_the_queue(
    browser: Browser, city: LiveService, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, city.url)
        svg = page.locator("svg[data-map=summary]")
        expect(svg.locator("a.area")).to_have_count(54)
        box = svg.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390  # no sideways scrolling
        phone = tmp_path / "map-390x844.png"
        svg.scroll_into_view_if_needed()
        page.screenshot(path=str(phone))
        assert png_size(phone) in {(390, 844), (780, 1688), (1170, 2532)}  # device pixel ratio 1, 2 or 3
        assert phone.stat().st_size > 10_000

        # Tap where the area's number is written (the number lets taps through to the area).
        label = Boundaries.shared().area(JURANGMANGU_TIMUR).shape
        box = svg.bounding_box()
        assert box is not None
        scale = box["width"] / Boundaries.shared().width
        x, y = box["x"] + label.label_x * scale, box["y"] + label.label_y * scale
        page.touchscreen.tap(x, y)
        expect(page.locator("#map-info")).to_contain_text(
            ui("map.info", name="Jurangmangu Timur", kecamatan="Pondok Aren", count=6)
        )
        assert "/cases" not in page.url
        page.touchscreen.tap(x, y)
        expect(page).to_have_url(f"{city.url}/cases?kelurahan={JURANGMANGU_TIMUR}&status=open")
        expect(page.locator("table.queue tbody tr")).to_have_count(6)
    finally:
        context.close()


def test_kelurahan_chosen_on_the_broadcast_map_change_the_recipient_count(
    page: Page, city: LiveService
) -> None:
    sign_in(page, city.url)
    page.goto(f"{city.url}/broadcasts/new")
    preview = page.locator("#segment-preview")
    expect(preview).to_contain_text(ui("segment.not_chosen_hint"))  # nobody until chosen
    picker = page.locator("svg[data-map=picker]")
    expect(picker.locator("path.pick")).to_have_count(54)
    picker.locator(f"path[data-code='{PONDOK_BETUNG}']").click()
    expect(preview).to_contain_text(ui("segment.reaches", count=3))
    expect(picker.locator(f"path[data-code='{PONDOK_BETUNG}']")).to_have_attribute("aria-checked", "true")
    picker.locator(f"path[data-code='{CIATER}']").click()
    expect(preview).to_contain_text(ui("segment.reaches", count=4))
    selected = page.locator("select[name=seg_kelurahan]").evaluate(
        "select => Array.from(select.selectedOptions).map(option => option.value)"
    )
    assert sorted(selected) == sorted([PONDOK_BETUNG, CIATER])
    picker.locator(f"path[data-code='{PONDOK_BETUNG}']").click()  # taken out again
    expect(preview).to_contain_text(ui("segment.reaches", count=1))
    # The list beside the map and the map agree both ways.
    page.locator("select[name=seg_kelurahan]").select_option([JURANGMANGU_TIMUR])
    expect(picker.locator(f"path[data-code='{JURANGMANGU_TIMUR}']")).to_have_class("pick chosen")
    expect(preview).to_contain_text(ui("segment.reaches", count=6))
