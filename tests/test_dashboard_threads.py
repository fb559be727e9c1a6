"""The dashboard shows what needs attention: urgency, unread replies, waiting-since, live stamps, canned.

Driven through HTTP as a browser would (no socket), over a real service and store.
"""

import functools
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from handlers.i18n import Catalog
from storage import threads
from storage.records import CaseKind
from tests.dashboard_support import Desk, SeedCase, open_desk
from tests.support import Clock

UI = Catalog.load(Path(__file__).resolve().parent.parent / "bot" / "dashboard" / "locales")
CITIZEN = Catalog.load()
CASE_LINK = re.compile(r'href="/cases/((?:REG|KTP|BAN|PSN)-\d{4}-\d{6})"')


def ui(key: str, lang: str = "id", **params: object) -> str:
    return UI.text(lang, key, **params)


def listed(html: str) -> list[str]:
    return list(dict.fromkeys(CASE_LINK.findall(html)))


@pytest.fixture
async def desk(tmp_path: Path, clock: Clock) -> AsyncIterator[Desk]:
    async with open_desk(tmp_path / "data", clock) as opened:
        yield opened


async def citizen_writes(desk: Desk, reference: str, text: str, clock: Clock) -> None:
    """A citizen message landing in a case's thread (as the conversation step writes it)."""
    (row,) = await desk.rows("SELECT id, contact_id FROM cases WHERE reference = ?", reference)
    await desk.service.db.write(
        functools.partial(
            threads.add_inbound,
            case_id=row["id"],
            contact_id=row["contact_id"],
            kind="text",
            body=text,
            media_ref=None,
            at=clock(),
        )
    )


async def test_the_queue_shows_urgency_first_unread_marks_counts_and_waiting_since(
    desk: Desk, clock: Clock
) -> None:
    await desk.signed_in("petugas")
    later, urgent, plain, week = await desk.seed(
        SeedCase("Ani Later", CaseKind.AID, answers={"urgency": "later"}),
        SeedCase("Budi Darurat", CaseKind.AID, answers={"urgency": "today"}),
        SeedCase("Citra Daftar", CaseKind.REGISTRATION),
        SeedCase("Dedi Minggu", CaseKind.AID, answers={"urgency": "week"}),
    )
    page = await desk.client.get("/cases")
    assert listed(page.text) == [week, plain, urgent, later]  # newest first by default
    assert ui("urgency.today") in page.text and ui("queue.col_urgency") in page.text

    page = await desk.client.get("/cases?sort=urgent")
    assert listed(page.text) == [urgent, week, later, plain]  # darurat first
    page = await desk.client.get("/cases?urgency=today")
    assert listed(page.text) == [urgent]

    await citizen_writes(desk, later, "Kapan bantuannya datang?", clock)
    clock.advance(minutes=30)
    await citizen_writes(desk, plain, "Saya sudah pindah alamat.", clock)
    await citizen_writes(desk, plain, "Ini alamat baru saya.", clock)
    page = await desk.client.get("/cases?unread=1")
    assert listed(page.text) == [plain, later]
    assert ui("queue.unread_count", count=2) in page.text and ui("queue.unread_count", count=1) in page.text
    assert ui("queue.unread_total", count=2) in page.text
    assert "09:00" in page.text and "09:30" in page.text  # waiting since (WIB)
    page = await desk.client.get("/cases?sort=waiting")
    assert listed(page.text) == [later, plain]  # waiting longest first


async def test_live_stamps_change_with_a_new_message_and_the_badge_counts_the_officers_cases(
    desk: Desk, clock: Clock
) -> None:
    await desk.signed_in("petugas", "rina")
    (me,) = await desk.rows("SELECT id FROM staff_users WHERE username = 'rina'")
    mine, other = await desk.seed(
        SeedCase("Ani", CaseKind.AID, assignee_id=me["id"]),
        SeedCase("Budi", CaseKind.AID),
    )
    first = (await desk.client.get(f"/live?case={mine}")).json()
    assert first["mine"] == 0 and first["unread"] == 0
    await citizen_writes(desk, mine, "Halo Bu Rina, bantuannya kapan?", clock)
    second = (await desk.client.get(f"/live?case={mine}")).json()
    assert second["queue"] != first["queue"] and second["case"] != first["case"]
    assert second["mine"] == 1 and second["unread"] == 1
    await citizen_writes(desk, other, "Pesan untuk kasus lain.", clock)
    third = (await desk.client.get(f"/live?case={mine}")).json()
    assert third["case"] == second["case"] and third["queue"] != second["queue"] and third["mine"] == 1

    page = await desk.client.get("/")
    assert ui("nav.my_replies", count=1) in page.text  # the badge, on every page

    thread = await desk.client.get(f"/cases/{mine}/thread")
    assert "Halo Bu Rina, bantuannya kapan?" in thread.text and ui("thread.new") in thread.text


async def test_marking_read_and_replying_clear_the_unread_mark(desk: Desk, clock: Clock) -> None:
    csrf = await desk.signed_in("petugas")
    (reference,) = await desk.seed(SeedCase("Ani", CaseKind.AID))
    await citizen_writes(desk, reference, "Terima kasih, Pak.", clock)
    done = await desk.client.post(f"/cases/{reference}/read", data={"csrf_token": csrf})
    assert done.status_code == 303
    (case,) = await desk.rows("SELECT unread, waiting_since FROM cases WHERE reference = ?", reference)
    assert case == {"unread": 0, "waiting_since": None}

    await citizen_writes(desk, reference, "Satu lagi, Pak.", clock)
    forged = await desk.client.post(f"/cases/{reference}/reply", data={"text": "tanpa token"})
    assert forged.status_code == 403  # no CSRF token: nothing sent
    empty = await desk.client.post(f"/cases/{reference}/reply", data={"csrf_token": csrf, "text": "  "})
    assert empty.status_code == 400 and ui("case.reply_empty") in empty.text
    sent = await desk.client.post(f"/cases/{reference}/reply", data={"csrf_token": csrf, "text": "Baik, Bu."})
    assert sent.status_code == 303 and "done=reply" in sent.headers["location"]
    (case,) = await desk.rows("SELECT unread FROM cases WHERE reference = ?", reference)
    assert case["unread"] == 0
    rows = await desk.rows("SELECT payload, origin FROM outbox WHERE origin = 'staff'")
    assert len(rows) == 1 and "Baik, Bu." in rows[0]["payload"]


async def test_an_admin_manages_canned_replies_and_officers_pick_them_in_the_citizens_language(
    desk: Desk,
) -> None:
    admin_csrf = await desk.signed_in("admin")
    for language, title, body in (
        ("id", "Jadwal", "Bantuan dibagikan Senin pukul 09.00 di kantor kelurahan."),
        ("en", "Schedule", "Aid is handed out on Monday at 09:00 at the kelurahan office."),
    ):
        added = await desk.client.post(
            "/canned", data={"csrf_token": admin_csrf, "language": language, "title": title, "body": body}
        )
        assert added.status_code == 303
    bad = await desk.client.post("/canned", data={"csrf_token": admin_csrf, "language": "fr", "title": "x"})
    assert bad.status_code == 400 and ui("canned.incomplete") in bad.text
    listing = await desk.client.get("/canned")
    assert "Jadwal" in listing.text and "Schedule" in listing.text

    (reference,) = await desk.seed(SeedCase("Ani", CaseKind.AID))
    page = await desk.client.get(f"/cases/{reference}")
    assert "Jadwal" in page.text and "Schedule" not in page.text  # the citizen reads Indonesian
    (canned,) = await desk.rows("SELECT id FROM canned_replies WHERE language = 'id'")
    sent = await desk.client.post(
        f"/cases/{reference}/reply", data={"csrf_token": admin_csrf, "text": "", "canned": str(canned["id"])}
    )
    assert sent.status_code == 303
    (row,) = await desk.rows("SELECT payload FROM outbox WHERE origin = 'staff'")
    assert "Bantuan dibagikan Senin pukul 09.00" in row["payload"]

    deleted = await desk.client.post(f"/canned/{canned['id']}/delete", data={"csrf_token": admin_csrf})
    assert deleted.status_code == 303
    assert len(await desk.rows("SELECT id FROM canned_replies")) == 1
    assert [
        r["action"] for r in await desk.rows("SELECT action FROM audit_log WHERE action LIKE 'canned.%'")
    ] == [
        "canned.add",
        "canned.add",
        "canned.delete",
    ]


async def test_a_viewer_cannot_reply_nor_manage_canned_replies(desk: Desk) -> None:
    csrf = await desk.signed_in("viewer")
    (reference,) = await desk.seed(SeedCase("Ani", CaseKind.AID))
    refused = await desk.client.post(f"/cases/{reference}/reply", data={"csrf_token": csrf, "text": "Halo"})
    assert refused.status_code == 403
    assert (await desk.client.get("/canned")).status_code == 403
    assert await desk.rows("SELECT id FROM outbox") == []
