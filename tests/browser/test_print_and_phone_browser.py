"""Printing and phones, in a real browser against the real service.

A typical case prints on one or two A4 pages (answers, history, the photo as a thumbnail), and so does a
programme's attendee list; at a phone's width (390x844) the queue, the outbox and a case page do not
scroll sideways and the menu folds away; at an office laptop's size (1366x768) nothing changes for the
worse.
"""

import re
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from handlers.i18n import Catalog
from storage.records import CaseKind, CaseStatus
from tests.dashboard_support import (
    PASSWORD,
    LiveService,
    SeedCase,
    add_user,
    live_service,
    prepare_store_sync,
    seed_cases,
)

UI = Catalog.load(Path(__file__).resolve().parents[2] / "bot" / "dashboard" / "locales")
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}
PHOTO_REF = "media/ktp-terbakar.png"
REGISTRATION = {
    "for_whom": "self",
    "birth_date": "1985-08-17",
    "sex": "P",
    "phone": "+6281234567890",
    "address": "Jl. H. Sarmili Gang Melati No. 12 RT 03/RW 05, dekat lapak pemulung",
    "household_size": 5,
    "skills": ["masak", "service_hp"],
    "disaster_victim": True,
    "documents": ["kk"],
    "aid_received": ["pkh"],
}


def ui(key: str, **params: object) -> str:
    return UI.text("id", key, **params)


def png(width: int, height: int) -> bytes:
    """A plain grey PNG (a stand-in for a photo of a burned card)."""
    raw = b"".join(b"\x00" + b"\x88\x88\x88" * width for _ in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[LiveService, list[str]]]:
    data = tmp_path / "data"
    start = datetime(2026, 11, 16, 3, 0, tzinfo=UTC)

    def work(conn: object) -> list[str]:
        add_user(conn, "siti", "petugas", "Siti Rahma")  # type: ignore[arg-type]
        cases = [
            SeedCase("Ani Lestari", answers=REGISTRATION, created_at=start),
            SeedCase(
                "Budi Santoso",
                CaseKind.LOST_KTP,
                CaseStatus.DIPROSES,
                answers={
                    "whose": "self",
                    "what_happened": "terbakar",
                    "when": "month",
                    "documents_left": ["kk_copy"],
                    "photo": {"ref": PHOTO_REF, "kind": "photo"},
                },
            ),
            *(SeedCase(f"Warga Nomor {n} Dengan Nama Yang Cukup Panjang", CaseKind.AID) for n in range(30)),
        ]
        refs = seed_cases(conn, cases)  # type: ignore[arg-type]
        # A history: status changes with notes for the citizen, as an officer would leave them.
        for hours, (before, after, note) in enumerate(
            [
                ("baru", "diproses", None),
                ("diproses", "perlu_info", "Apakah Ibu masih punya fotokopi KK? Mohon kirim fotonya."),
                ("perlu_info", "diproses", "Sudah dijawab warga: fotokopi KK ada di kelurahan."),
            ],
            start=1,
        ):
            conn.execute(  # type: ignore[attr-defined]
                "INSERT INTO case_events (case_id, at, actor, action, from_status, to_status, note, "
                "citizen_notified) VALUES (1, ?, 'staff:siti', 'status_changed', ?, ?, ?, 1)",
                ((start + timedelta(hours=hours)).isoformat(), before, after, note),
            )
        # Messages to citizens for the outbox page: long ones, with a failure reason.
        text = (
            "Pesan dari petugas Dinsos tentang pendaftaran Bapak/Ibu: mohon bawa fotokopi KK ke kantor. " * 3
        )
        for number in range(60):
            conn.execute(  # type: ignore[attr-defined]
                "INSERT INTO outbox (contact_id, origin, payload, status, error, case_id, created_at, "
                "updated_at) SELECT contact_id, 'staff', ?, ?, ?, id, created_at, created_at FROM cases "
                "WHERE id = ?",
                (
                    f'{{"text": "{text}"}}',
                    "failed" if number % 5 == 0 else "delivered",
                    "131047 Re-engagement message: outside the 24-hour window" if number % 5 == 0 else None,
                    number % 30 + 1,
                ),
            )
        return refs

    refs: list[str] = prepare_store_sync(data, work)
    (data / "media").mkdir(exist_ok=True)
    (data / PHOTO_REF).write_bytes(png(800, 600))
    with live_service(data) as live:
        yield live, refs


def signed_in(browser: Browser, base: str, viewport: dict[str, int]) -> Page:
    context = browser.new_context(viewport=viewport, locale="id-ID")  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/login")
    page.get_by_label(ui("login.username")).fill("siti")
    page.get_by_label(ui("login.password")).fill(PASSWORD)
    page.get_by_role("button", name=ui("login.button")).click()
    expect(page.get_by_role("heading", name=ui("summary.title"))).to_be_visible()
    return page


def pdf_pages(page: Page) -> int:
    """How many A4 pages the page prints on (Chromium's own print, the page's @page rules)."""
    document = page.pdf(format="A4", prefer_css_page_size=True, print_background=True)
    return len(re.findall(rb"/Type\s*/Page(?!s)", document))


def test_a_typical_case_prints_on_one_or_two_a4_pages(
    browser: Browser, office: tuple[LiveService, list[str]]
) -> None:
    live, (ani, budi, *_) = office
    page = signed_in(browser, live.url, LAPTOP)
    # Seen: a case printed as four pages of menus and forms.
    page.goto(f"{live.url}/cases/{ani}")
    page.get_by_role("link", name=ui("print.case_link")).click()
    expect(page.get_by_role("heading", name=re.compile(ani))).to_be_visible()
    assert page.locator("nav, form, textarea, select").count() == 0  # no menus, no forms on paper
    expect(page.get_by_text("Jl. H. Sarmili Gang Melati No. 12 RT 03/RW 05", exact=False)).to_be_visible()
    expect(page.get_by_text("Apakah Ibu masih punya fotokopi KK?", exact=False)).to_be_visible()
    assert 1 <= pdf_pages(page) <= 2

    page.goto(f"{live.url}/cases/{budi}/print")
    thumb = page.locator("img.thumb")
    expect(thumb).to_have_count(1)
    box = thumb.bounding_box()
    assert box is not None and box["width"] <= 200 and box["height"] <= 140  # a thumbnail, not the photo
    assert 1 <= pdf_pages(page) <= 2
    page.context.close()


def test_the_attendee_list_prints_on_a4(browser: Browser, office: tuple[LiveService, list[str]]) -> None:
    live, _ = office
    page = signed_in(browser, live.url, LAPTOP)
    page.goto(f"{live.url}/programmes")
    form = page.locator("form[action='/programmes']")
    form.locator("input[name=name]").fill("Pelatihan service HP")
    form.locator("input[name=place]").fill("Panti Tunas Sosial Banten")
    form.locator("select[name=skill]").select_option("service_hp")
    form.locator("input[name=start_date]").fill("2030-01-02")
    form.locator("input[name=start_time]").fill("09:00")
    form.locator("input[name=end_time]").fill("15:00")
    form.locator("input[name=quota]").fill("20")
    form.locator("button.primary").click()
    page.get_by_role("link", name=ui("print.attendees_link")).click()
    expect(page.get_by_role("heading", name="Pelatihan service HP")).to_be_visible()
    expect(page.get_by_role("columnheader", name=ui("print.signature"))).to_be_visible()
    assert pdf_pages(page) == 1
    page.context.close()


def no_sideways_scroll(page: Page) -> None:
    """Neither the page nor any table on it scrolls sideways."""
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{page.url}: {width} px wide in a {viewport} px window"
    hidden = page.evaluate(
        "Array.from(document.querySelectorAll('.table-wrap, table')).filter("
        "e => e.scrollWidth > e.clientWidth + 1).map(e => e.className)"
    )
    assert hidden == [], f"{page.url}: these scroll sideways (columns hidden without a cue): {hidden}"


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["phone", "laptop"])
def test_queue_outbox_and_case_pages_fit_the_screen(
    browser: Browser, office: tuple[LiveService, list[str]], viewport: dict[str, int]
) -> None:
    live, (ani, *_) = office
    page = signed_in(browser, live.url, viewport)
    for path in ("/cases", "/outbox", f"/cases/{ani}", "/persons", "/broadcasts", "/reminders"):
        page.goto(f"{live.url}{path}")
        no_sideways_scroll(page)
    page.goto(f"{live.url}/outbox")
    # Seen: the outbox page was 48,700 px tall on a phone.
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 60 * 400, height
    page.context.close()


def test_on_a_phone_the_menu_folds_away_and_tables_become_cards(
    browser: Browser, office: tuple[LiveService, list[str]]
) -> None:
    live, _ = office
    page = signed_in(browser, live.url, PHONE)
    page.goto(f"{live.url}/cases")
    # Seen: the menu took a quarter of the screen.
    header = page.locator("header.top").bounding_box()
    assert header is not None and header["height"] <= 0.12 * PHONE["height"], header
    queue_link = page.locator("header nav").get_by_role("link", name=ui("nav.queue"))
    expect(queue_link).to_be_hidden()
    page.get_by_role("button", name=ui("nav.menu")).click()
    expect(queue_link).to_be_visible()
    page.get_by_role("button", name=ui("nav.menu")).click()
    expect(queue_link).to_be_hidden()
    # Each case is a card that names its fields (no column is hidden off screen).
    first = page.locator("table.queue tbody tr").first
    expect(first).to_contain_text(ui("queue.col_status"))
    expect(first).to_contain_text(ui("queue.col_place"))
    page.context.close()
