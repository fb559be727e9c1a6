"""The dashboard in a real browser against the real service (`run_service` on uvicorn, as `python -m bot`).

An officer signs in, filters the queue, opens a case, approves it and sees the citizen's message leave;
composes a broadcast to a segment and watches it finish; and registers a citizen through the simulator,
then finds the new case in the queue. Names made of HTML never run as script (a dialog fails the test).
"""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from handlers.i18n import Catalog
from storage.records import CaseKind, CaseStatus
from tests.dashboard_support import (
    IMG_NAME,
    PASSWORD,
    SCRIPT_NAME,
    LiveService,
    SeedCase,
    add_user,
    live_service,
    prepare_store_sync,
    query,
    seed_cases,
)

CITIZEN = Catalog.load()
UI = Catalog.load(Path(__file__).resolve().parents[2] / "bot" / "dashboard" / "locales")
PONDOK_AREN, SERPONG = "36.74.03", "36.74.01"


def ui(key: str, **params: object) -> str:
    return UI.text("id", key, **params)


def citizen(key: str, **params: object) -> str:
    return CITIZEN.text("id", key, **params)


def seeded(data_dir: Path, cases: list[SeedCase]) -> list[str]:
    """An officer account and some cases in a fresh store; returns the references."""

    def work(conn: object) -> list[str]:
        add_user(conn, "siti", "petugas", "Siti Rahma")  # type: ignore[arg-type]
        return seed_cases(conn, cases)  # type: ignore[arg-type]

    refs: list[str] = prepare_store_sync(data_dir, work)
    return refs


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[LiveService, list[str]]]:
    cases = [
        SeedCase("Ani Lestari", CaseKind.REGISTRATION),
        SeedCase("Budi Santoso", CaseKind.AID, kecamatan=SERPONG, kelurahan=None),
        SeedCase(SCRIPT_NAME, CaseKind.AID),
        SeedCase(IMG_NAME, CaseKind.LOST_KTP, CaseStatus.DIPROSES),
        SeedCase("Citra Dewi", CaseKind.REGISTRATION, CaseStatus.DISETUJUI),
    ]
    refs = seeded(tmp_path / "data", cases)
    with live_service(tmp_path / "data") as live:
        yield live, refs


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label(ui("login.username")).fill("siti")
    page.get_by_label(ui("login.password")).fill(PASSWORD)
    page.get_by_role("button", name=ui("login.button")).click()
    expect(page.get_by_role("heading", name=ui("summary.title"))).to_be_visible()


def test_an_officer_filters_the_queue_opens_a_case_approves_it_and_sees_the_message_leave(
    page: Page, office: tuple[LiveService, list[str]]
) -> None:
    live, (ani, *_) = office
    sign_in(page, live.url)
    page.get_by_role("link", name=ui("nav.queue")).click()
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(5)
    expect(page.locator("table.queue")).to_contain_text(SCRIPT_NAME)  # shown as text, never run
    expect(page.locator("table.queue")).to_contain_text(IMG_NAME)

    page.locator("select[name=kecamatan]").select_option(PONDOK_AREN)
    page.locator("select[name=status]").select_option("baru")
    page.get_by_role("button", name=ui("queue.apply")).click()
    expect(rows).to_have_count(2)  # Ani and the script name; not Budi (Serpong), nor the others (status)
    expect(page.locator("table.queue")).not_to_contain_text("Budi Santoso")
    page.locator("select[name=kind]").select_option("registration")
    page.get_by_role("button", name=ui("queue.apply")).click()
    expect(rows).to_have_count(1)

    page.get_by_role("link", name=ani).click()
    expect(page.get_by_role("heading", name=ani)).to_be_visible()
    page.get_by_label(ui("status.disetujui")).check()
    approved = citizen("notify.disetujui", reference=ani, note=citizen("notify.note_fallback"))
    expect(page.locator("#status-preview")).to_contain_text(approved)  # previewed before sending
    page.get_by_role("button", name=ui("case.save_and_send")).click()

    expect(page.get_by_role("status")).to_contain_text(ui("done.status"))
    messages = page.locator("#case-messages")
    expect(messages).to_contain_text(approved)
    expect(messages.locator(".badge")).to_have_text(ui("outbox.sent"), timeout=10_000)  # refreshed live
    page.get_by_role("link", name=ui("nav.outbox")).click()
    outbox = page.locator("table.outbox tbody tr").first
    expect(outbox).to_contain_text(ani)
    expect(outbox).to_contain_text(ui("outbox.sent"))
    (case,) = query(live.data_dir, "SELECT status FROM cases WHERE reference = ?", ani)
    assert case["status"] == "disetujui"


def test_an_officer_broadcasts_to_a_segment_and_watches_it_finish(
    page: Page, office: tuple[LiveService, list[str]]
) -> None:
    live, _ = office
    sign_in(page, live.url)
    page.get_by_role("link", name=ui("nav.broadcasts")).click()
    page.get_by_role("link", name=ui("broadcasts.new")).click()
    page.get_by_label(ui("broadcast.text_id")).fill("Pelatihan montir hari Senin di Panti Tunas Sosial.")
    preview = page.locator("#segment-preview")
    expect(preview).to_contain_text(ui("segment.not_chosen_hint"))  # nobody until chosen
    page.get_by_label(ui("segment.everyone_choice")).check()
    expect(preview).to_contain_text(ui("segment.reaches", count=5))
    page.get_by_label(ui("segment.everyone_choice")).uncheck()
    page.locator("select[name=seg_kecamatan]").select_option(PONDOK_AREN)
    expect(preview).to_contain_text(ui("segment.reaches", count=4))  # Budi lives in Serpong
    page.get_by_role("button", name=ui("broadcast.send_button")).click()
    # Nothing is sent before the officer confirms the count.
    expect(page.get_by_text(ui("broadcast.confirm_question", count=4))).to_be_visible()
    assert query(live.data_dir, "SELECT COUNT(*) AS n FROM broadcasts") == [{"n": 0}]
    page.get_by_role("button", name=ui("broadcast.confirm_button", count=4)).click()

    expect(page.get_by_role("heading", name=re.compile(r"#\d+"))).to_be_visible()
    progress = page.locator("#broadcast-progress")
    expect(progress).to_contain_text(ui("broadcast.state_done"), timeout=15_000)
    expect(progress).to_contain_text(ui("broadcast.progress", done=4, total=4))
    sent = query(
        live.data_dir, "SELECT status, COUNT(*) AS n FROM outbox WHERE origin = 'broadcast' GROUP BY status"
    )
    assert sent == [{"status": "sent", "n": 4}]


def test_a_citizen_registers_in_the_simulator_and_the_new_case_appears_in_the_queue(
    page: Page, office: tuple[LiveService, list[str]]
) -> None:
    live, _ = office
    sign_in(page, live.url)
    page.get_by_role("link", name=ui("nav.simulator")).click()
    lines = page.locator("#sim-lines .bubble.bot")
    box = page.get_by_placeholder(ui("simulator.type"))

    def say(text: str) -> None:
        before = lines.count()
        box.fill(text)
        box.press("Enter")
        expect(lines).not_to_have_count(before)

    def tap(label: str) -> None:
        before = lines.count()
        page.locator("#sim-lines .bubble.bot").last.get_by_role(
            "button",
            name=re.compile(re.escape(label) + "$"),  # "Setuju", not "Setuju + terima info"
        ).click()
        expect(lines).not_to_have_count(before)

    say("halo")
    expect(lines.last).to_contain_text(citizen("consent.agree"))
    tap(citizen("consent.agree"))
    tap(citizen("menu.registration"))
    for answer in (
        "1",  # for myself
        "Sri Wahyuni",
        "0",  # no NIK
        "17-08-1985",
        "perempuan",
        "0",  # no phone
        "Pondok Aren",
        "Jurangmangu Timur",
        "Gang Melati RT 01/RW 02",
        "0",  # no location
        "3",
        "7",  # skills: none
        "tidak",
        "5",  # documents: none
        "5",  # aid received: none
    ):
        say(answer)
    say("kirim")
    found = re.search(r"REG-\d{4}-\d{6}", lines.last.inner_text())
    assert found is not None, lines.last.inner_text()
    reference = found.group(0)

    page.get_by_role("link", name=ui("nav.queue")).click()
    row = page.locator("table.queue tbody tr").first
    expect(row).to_contain_text(reference)
    expect(row).to_contain_text("Sri Wahyuni")
    expect(row).to_contain_text(ui("queue.simulated"))
    row.get_by_role("link", name=reference).click()
    expect(page.locator("dl.answers")).to_contain_text("Jurangmangu Timur")


def test_an_officer_sees_a_citizen_message_arrive_live_answers_it_and_sees_it_delivered(
    page: Page, tmp_path: Path
) -> None:
    def work(conn: object) -> list[str]:
        officer = add_user(conn, "siti", "petugas", "Siti Rahma")  # type: ignore[arg-type]
        case = SeedCase("Ani Lestari", CaseKind.AID, contact="web:ani", assignee_id=officer)
        refs = seed_cases(conn, [case, SeedCase("Budi Santoso", CaseKind.REGISTRATION)])  # type: ignore[arg-type]
        conn.execute(  # type: ignore[attr-defined]  # the case she was last told about
            "UPDATE contacts SET thread_case_id = (SELECT id FROM cases WHERE reference = ?) "
            "WHERE id = 'web:ani'",
            (refs[0],),
        )
        return refs

    ani, _ = prepare_store_sync(tmp_path / "data", work)
    with live_service(tmp_path / "data") as live:
        sign_in(page, live.url)
        page.get_by_role("link", name=ui("nav.queue")).click()
        row = page.locator("table.queue tbody tr", has_text=ani)
        expect(row).not_to_contain_text(ui("queue.unread_count", count=1))

        citizen_tab = page.context.new_page()
        citizen_tab.goto(f"{live.url}/simulator?contact=ani")
        box = citizen_tab.get_by_placeholder(ui("simulator.type"))
        box.fill("Rumah saya kebanjiran tadi malam, Bu.")
        box.press("Enter")
        expect(citizen_tab.locator("#sim-lines .bubble.bot").last).to_contain_text(
            citizen("info.forwarded", reference=ani)
        )

        # The officer's queue shows the new message without a reload: the mark, the count, the badge.
        expect(row).to_contain_text(ui("queue.unread_count", count=1), timeout=10_000)
        expect(page.locator("#my-replies")).to_have_text(ui("nav.my_replies", count=1), timeout=10_000)
        row.get_by_role("link", name=ani).click()
        thread = page.locator("#case-thread")
        expect(thread).to_contain_text("Rumah saya kebanjiran tadi malam, Bu.")

        box.fill("Sekarang kami mengungsi di masjid.")
        box.press("Enter")
        expect(thread).to_contain_text(
            "Sekarang kami mengungsi di masjid.", timeout=10_000
        )  # live, no reload

        page.get_by_label(ui("thread.reply_text")).fill("Petugas datang ke masjid jam 3 sore, Bu.")
        page.get_by_role("button", name=ui("thread.send")).click()
        expect(page.get_by_role("status")).to_contain_text(ui("done.reply"))
        reply = page.locator("#case-thread li.out", has_text="Petugas datang ke masjid jam 3 sore, Bu.")
        expect(reply.locator(".badge")).to_have_text(ui("outbox.sent"), timeout=10_000)
        expect(page.locator("#my-replies")).to_be_hidden(timeout=10_000)  # answered: nothing unread
        (sent,) = query(live.data_dir, "SELECT status FROM outbox WHERE origin = 'staff'")
        assert sent["status"] == "sent"
        citizen_tab.close()
