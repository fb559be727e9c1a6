"""The staff dashboard over a real service and store, driven through HTTP as a browser would (no socket).

Accounts and sign-in, the queue and its filters, a case page and what staff do there, exports, persons,
broadcasts, reminders, programmes, the simulator, and the commands that create accounts and serve it all.
"""

import csv
import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook

from bot import staff_cli
from bot.__main__ import _parser
from bot.app import DB_FILE_NAME
from bot.dashboard import accounts
from handlers.i18n import Catalog
from storage import repo
from storage.records import CaseKind, CaseStatus
from tests.dashboard_support import PASSWORD, Desk, SeedCase, csrf_of, free_port, open_desk
from tests.support import TEST_KEY, Clock, make_settings

CITIZEN = Catalog.load()
UI = Catalog.load(Path(__file__).resolve().parent.parent / "bot" / "dashboard" / "locales")
NIK = "3674015708850001"
NIK_MASKED = "3674********0001"
CASE_LINK = re.compile(r'href="/cases/((?:REG|KTP|BAN|PSN)-\d{4}-\d{6})"')
PONDOK_AREN, SERPONG = "36.74.03", "36.74.01"
JURANGMANGU_TIMUR = "36.74.03.1011"


def ui(key: str, lang: str = "id", **params: object) -> str:
    return UI.text(lang, key, **params)


def listed(html: str) -> list[str]:
    """References linked from a page, in page order, each once."""
    return list(dict.fromkeys(CASE_LINK.findall(html)))


@pytest.fixture
async def desk(tmp_path: Path, clock: Clock) -> AsyncIterator[Desk]:
    async with open_desk(tmp_path / "data", clock) as opened:
        yield opened


# ---------------------------------------------------------------- accounts and signing in


async def test_first_start_makes_an_admin_whose_password_is_printed_once_and_kept_only_as_a_hash(
    desk: Desk,
) -> None:
    out = io.StringIO()
    password = await desk.dashboard.ensure_admin(out)
    assert password is not None and password in out.getvalue()
    (stored,) = await desk.rows("SELECT username, role, password_hash FROM staff_users")
    assert (stored["username"], stored["role"]) == ("admin", "admin")
    assert stored["password_hash"].startswith("$argon2id$")
    assert accounts.check_password(stored["password_hash"], password)
    database = b"".join(p.read_bytes() for p in desk.data_dir.glob(f"{DB_FILE_NAME}*"))
    assert password.encode() not in database

    again = io.StringIO()
    assert await desk.dashboard.ensure_admin(again) is None
    assert password not in again.getvalue() and "create-user" in again.getvalue()
    assert len(await desk.rows("SELECT id FROM staff_users")) == 1

    page = await desk.client.get("/login")
    signed = await desk.client.post(
        "/login", data={"username": "admin", "password": password, "csrf_token": csrf_of(page.text)}
    )
    assert signed.status_code == 303
    # The made-up password must be changed first: every page leads to the change form.
    for path in ("/", "/cases", "/accounts"):
        assert (await desk.client.get(path)).headers["location"] == "/password"
    form = await desk.client.get("/password")
    assert ui("password.required") in form.text
    changed = await desk.client.post(
        "/password",
        data={
            "current": password,
            "new": "sandi-baru-admin-1",
            "repeat": "sandi-baru-admin-1",
            "csrf_token": csrf_of(form.text),
        },
    )
    assert changed.status_code == 303
    page = await desk.client.get("/")
    assert page.status_code == 200 and ui("summary.title") in page.text
    (stored,) = await desk.rows("SELECT password_hash, must_change_password FROM staff_users")
    assert accounts.check_password(stored["password_hash"], "sandi-baru-admin-1")
    assert stored["must_change_password"] == 0


async def test_pages_need_a_signed_in_staff_member(desk: Desk) -> None:
    for path in ("/", "/cases", "/cases/export.csv", "/persons", "/broadcasts", "/audit", "/simulator"):
        response = await desk.client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/login?next={path}"


async def test_sign_in_sets_a_strict_session_cookie_and_sign_out_ends_the_session(desk: Desk) -> None:
    await desk.user("siti", "petugas", "Siti Petugas")
    page = await desk.client.get("/login")
    response = await desk.client.post(
        "/login",
        data={"username": "Siti", "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "/cases"},
    )
    assert response.status_code == 303 and response.headers["location"] == "/cases"
    cookie = response.headers["set-cookie"].lower()
    assert "dinsos_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    token = desk.client.cookies["dinsos_session"]
    (session,) = await desk.rows("SELECT token_hash FROM staff_sessions")
    assert token not in session["token_hash"]  # only a hash of the cookie is stored

    queue = await desk.client.get("/cases")
    assert "Siti Petugas" in queue.text and ui("role.petugas") in queue.text
    out = await desk.client.post("/logout", data={"csrf_token": csrf_of(queue.text)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert await desk.rows("SELECT * FROM staff_sessions") == []
    desk.client.cookies.set("dinsos_session", token)  # the old cookie opens nothing any more
    assert (await desk.client.get("/cases")).status_code == 303
    actions = [row["action"] for row in await desk.rows("SELECT action FROM audit_log ORDER BY id")]
    assert actions[-2:] == ["login", "logout"]


async def test_a_wrong_password_is_refused_kindly(desk: Desk) -> None:
    await desk.user("siti", "petugas")
    page = await desk.client.get("/login")
    response = await desk.client.post(
        "/login", data={"username": "siti", "password": "salah", "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 401
    assert ui("login.wrong") in response.text
    assert "dinsos_session" not in response.cookies
    assert (await desk.rows("SELECT action, target FROM audit_log ORDER BY id DESC LIMIT 1")) == [
        {"action": "login.failed", "target": "user:siti"}
    ]


async def test_an_idle_session_ends(desk: Desk, clock: Clock) -> None:
    await desk.signed_in("petugas")
    assert (await desk.client.get("/cases")).status_code == 200
    clock.advance(hours=desk.dashboard.config.session_idle_hours + 0.1)
    assert (await desk.client.get("/cases")).status_code == 303


async def test_an_admin_adds_accounts_and_the_last_admin_stays(desk: Desk) -> None:
    csrf = await desk.signed_in("admin", "kepala")
    made = await desk.client.post(
        "/accounts",
        data={
            "csrf_token": csrf,
            "username": "Budi",
            "display_name": "Budi S",
            "role": "viewer",
            "password": "",
        },
    )
    assert made.status_code == 200
    password = re.search(r'<strong class="mono">([^<]+)</strong>', made.text)
    assert password is not None  # a made-up password, shown this once
    (budi,) = await desk.rows("SELECT id, role, password_hash FROM staff_users WHERE username = 'budi'")
    assert budi["role"] == "viewer" and accounts.check_password(budi["password_hash"], password.group(1))
    again = await desk.client.post(
        "/accounts", data={"csrf_token": csrf, "username": "budi", "role": "viewer", "password": PASSWORD}
    )
    assert again.status_code == 400 and ui("account.username_taken") in again.text

    (me,) = await desk.rows("SELECT id FROM staff_users WHERE username = 'kepala'")
    demote = await desk.client.post(
        f"/accounts/{me['id']}", data={"csrf_token": csrf, "action": "role", "role": "petugas"}
    )
    assert demote.status_code == 400 and ui("account.last_admin") in demote.text
    off = await desk.client.post(f"/accounts/{budi['id']}", data={"csrf_token": csrf, "action": "disable"})
    assert off.status_code == 303
    assert (await desk.rows("SELECT active FROM staff_users WHERE id = ?", budi["id"])) == [{"active": 0}]
    await desk.client.post("/logout", data={"csrf_token": csrf})
    page = await desk.client.get("/login")  # a switched-off account cannot sign in
    refused = await desk.client.post(
        "/login", data={"username": "budi", "password": password.group(1), "csrf_token": csrf_of(page.text)}
    )
    assert refused.status_code == 401


# ---------------------------------------------------------------- the queue


async def test_the_queue_filters_by_each_field_and_searches_by_name_reference_and_nik(desk: Desk) -> None:
    await desk.signed_in("petugas", "siti")
    (siti,) = await desk.rows("SELECT id FROM staff_users WHERE username = 'siti'")
    day = SeedCase("x").created_at
    refs = await desk.seed(
        SeedCase(
            "Ani Lestari", CaseKind.REGISTRATION, CaseStatus.BARU, nik=NIK, created_at=day - timedelta(days=9)
        ),
        SeedCase("Budi Santoso", CaseKind.AID, CaseStatus.DIPROSES, assignee_id=siti["id"]),
        SeedCase("Citra Dewi", CaseKind.LOST_KTP, CaseStatus.PERLU_INFO, kecamatan=SERPONG, kelurahan=None),
        SeedCase("Dedi Kurnia", CaseKind.AID, CaseStatus.DISETUJUI, kelurahan="36.74.03.1001"),
        SeedCase("Eka Putri", CaseKind.MESSAGE, CaseStatus.BARU, kecamatan=None, kelurahan=None),
    )
    ani, budi, citra, dedi, eka = refs

    async def shown(**params: str) -> list[str]:
        response = await desk.client.get("/cases", params=params)
        assert response.status_code == 200
        return listed(response.text)

    assert await shown() == [eka, dedi, citra, budi, ani]  # newest first
    assert await shown(kind="aid") == [dedi, budi]
    assert await shown(status="perlu_info") == [citra]
    assert await shown(kecamatan=PONDOK_AREN) == [dedi, budi, ani]
    assert await shown(kelurahan=JURANGMANGU_TIMUR) == [budi, ani]
    assert await shown(assignee=str(siti["id"])) == [budi]
    assert await shown(assignee="none") == [eka, dedi, citra, ani]
    assert await shown(date_from="2026-11-15") == [eka, dedi, citra, budi]
    assert await shown(date_to="2026-11-10") == [ani]
    assert await shown(kind="aid", kecamatan=PONDOK_AREN, status="disetujui") == [dedi]
    assert await shown(q="santo") == [budi]
    assert await shown(q=citra.lower()) == [citra]
    assert await shown(q="3674 0157 0885 0001") == [ani]  # NIK found by its keyed hash
    assert await shown(kind="nonsense", kecamatan="99.99") == [eka, dedi, citra, budi, ani]  # ignored
    empty = await desk.client.get("/cases", params={"q": "Tidak Ada Orang Ini"})
    assert ui("queue.empty") in empty.text and ui("queue.count", count=0) in empty.text


async def test_the_queue_pages_through_many_cases(desk: Desk) -> None:
    await desk.signed_in("viewer")
    refs = await desk.seed(*(SeedCase(f"Warga Nomor {i}") for i in range(1, 61)))
    first = await desk.client.get("/cases")
    assert listed(first.text) == refs[::-1][:50]
    assert ui("pager.page", page=1, pages=2) in first.text and ui("queue.count", count=60) in first.text
    second = await desk.client.get("/cases", params={"page": "2"})
    assert listed(second.text) == refs[::-1][50:]
    beyond = await desk.client.get("/cases", params={"page": "9"})
    assert listed(beyond.text) == refs[::-1][50:]


# ---------------------------------------------------------------- a case


async def test_a_case_page_shows_answers_in_words_with_the_photo_and_voice_note_playable(
    desk: Desk, clock: Clock
) -> None:
    await desk.signed_in("viewer")
    photo = desk.dashboard.media.save(b"\xff\xd8\xff\xe0 photo bytes", mime="image/jpeg", at=clock())
    voice = desk.dashboard.media.save(b"OggS voice bytes", mime="audio/ogg", at=clock())
    story = "Lapak kami terbakar malam itu. " * 6
    ref, _ = await desk.seed(
        SeedCase(
            "Sri Wahyuni",
            CaseKind.AID,
            answers={
                "aid_kind": "basic",
                "description": {"text": story.strip()},
                "photo": {"kind": "photo", "ref": photo, "mime": "image/jpeg"},
                "people": 4,
            },
        ),
        SeedCase("Tono", CaseKind.LOST_KTP, answers={"voice": {"voice": voice, "mime": "audio/ogg"}}),
    )
    page = await desk.client.get(f"/cases/{ref}")
    assert page.status_code == 200
    assert story.strip() in page.text  # whole, though the chat summary shortens it
    assert f'<img src="/{photo}"' in page.text
    got = await desk.client.get(f"/{photo}")
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.content.startswith(b"\xff\xd8")
    assert (await desk.client.get("/media/../intake.sqlite3")).status_code == 404
    audits = await desk.rows("SELECT action, target FROM audit_log WHERE action = 'case.view'")
    assert audits == [{"action": "case.view", "target": ref}]


async def test_approving_a_case_queues_the_citizens_message_and_records_who_did_it(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas", "siti")
    (ref,) = await desk.seed(SeedCase("Ani Lestari"))
    expected = CITIZEN.text(
        "id", "notify.disetujui", reference=ref, note=CITIZEN.text("id", "notify.note_fallback")
    )
    preview = await desk.client.get(f"/cases/{ref}/preview", params={"status": "disetujui", "note": ""})
    assert expected in preview.text.replace("&#39;", "'")

    response = await desk.client.post(
        f"/cases/{ref}/status", data={"csrf_token": csrf, "status": "disetujui"}
    )
    assert response.status_code == 303 and response.headers["location"] == f"/cases/{ref}?done=status"
    case = await repo.get_case(desk.service.db, ref)
    assert case is not None and case.status == CaseStatus.DISETUJUI
    (message,) = await desk.rows("SELECT origin, payload, status FROM outbox WHERE case_id = ?", case.id)
    assert message["origin"] == "staff" and message["status"] == "queued"
    assert expected in message["payload"]
    events = await desk.rows(
        "SELECT actor, action, to_status, citizen_notified FROM case_events WHERE case_id = ?", case.id
    )
    assert events[-1] == {
        "actor": "staff:siti",
        "action": "status_changed",
        "to_status": "disetujui",
        "citizen_notified": 1,
    }
    page = await desk.client.get(response.headers["location"])
    assert ui("done.status") in page.text and expected in page.text and ui("outbox.queued") in page.text


async def test_a_rejection_needs_a_reason_and_a_question_needs_its_words(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas")
    (ref,) = await desk.seed(SeedCase("Ani Lestari"))
    refused = await desk.client.post(f"/cases/{ref}/status", data={"csrf_token": csrf, "status": "ditolak"})
    assert refused.status_code == 400 and ui("case.need_reason") in refused.text
    asked = await desk.client.post(f"/cases/{ref}/status", data={"csrf_token": csrf, "status": "perlu_info"})
    assert asked.status_code == 400 and ui("case.need_question") in asked.text
    impossible = await desk.client.post(
        f"/cases/{ref}/status", data={"csrf_token": csrf, "status": "selesai"}
    )
    assert impossible.status_code == 400
    assert (await desk.rows("SELECT status FROM cases")) == [{"status": "baru"}]
    assert await desk.rows("SELECT id FROM outbox") == []

    shown = await desk.client.post(
        f"/cases/{ref}/status",
        data={"csrf_token": csrf, "status": "ditolak", "note": "Data ganda", "preview": "1"},
    )
    assert shown.status_code == 200
    assert CITIZEN.text("id", "notify.ditolak", reference=ref, reason="Data ganda") in shown.text
    assert (await desk.rows("SELECT status FROM cases")) == [{"status": "baru"}]  # a preview changes nothing
    done = await desk.client.post(
        f"/cases/{ref}/status", data={"csrf_token": csrf, "status": "ditolak", "note": "Data ganda"}
    )
    assert done.status_code == 303
    (message,) = await desk.rows("SELECT payload FROM outbox")
    assert "Data ganda" in message["payload"]


async def test_assign_note_appointment_and_the_audited_nik_reveal(desk: Desk, clock: Clock) -> None:
    csrf = await desk.signed_in("petugas", "siti")
    (siti,) = await desk.rows("SELECT id FROM staff_users WHERE username = 'siti'")
    (ref,) = await desk.seed(SeedCase("Ani Lestari", nik=NIK))
    page = await desk.client.get(f"/cases/{ref}")
    assert NIK_MASKED in page.text and NIK not in page.text

    assigned = await desk.client.post(
        f"/cases/{ref}/assign", data={"csrf_token": csrf, "assignee": str(siti["id"])}
    )
    assert assigned.status_code == 303
    assert listed((await desk.client.get("/cases", params={"assignee": str(siti["id"])})).text) == [ref]
    noted = await desk.client.post(f"/cases/{ref}/note", data={"csrf_token": csrf, "note": "Sudah ditelepon"})
    assert noted.status_code == 303
    tomorrow = (clock() + timedelta(days=2)).astimezone(desk.dashboard.tz)
    made = await desk.client.post(
        f"/cases/{ref}/appointment",
        data={
            "csrf_token": csrf,
            "date": f"{tomorrow:%Y-%m-%d}",
            "time": "10:00",
            "place": "Kantor Dinsos",
            "note": "Bawa KK",
        },
    )
    assert made.status_code == 303
    (appointment,) = await desk.rows("SELECT place, note FROM appointments")
    assert appointment == {"place": "Kantor Dinsos", "note": "Bawa KK"}
    assert len(await desk.rows("SELECT id FROM reminders WHERE kind LIKE 'appointment%'")) == 2
    (told,) = await desk.rows("SELECT payload FROM outbox")
    assert "Kantor Dinsos" in told["payload"] and "Bawa KK" in told["payload"]
    past = await desk.client.post(
        f"/cases/{ref}/appointment",
        data={"csrf_token": csrf, "date": "2020-01-01", "time": "10:00", "place": "X"},
    )
    assert past.status_code == 400 and ui("case.appointment_past") in past.text

    revealed = await desk.client.post(f"/cases/{ref}/reveal", data={"csrf_token": csrf})
    assert revealed.status_code == 200 and NIK in revealed.text
    assert revealed.headers["cache-control"] == "no-store"
    assert NIK not in (await desk.client.get(f"/cases/{ref}")).text  # only on the page that revealed it
    events = [row["action"] for row in await desk.rows("SELECT action FROM case_events ORDER BY id")]
    assert events == ["created", "assigned", "note", "nik_viewed"]
    audit = [
        row["action"] for row in await desk.rows("SELECT action FROM audit_log WHERE actor = 'staff:siti'")
    ]
    for action in ("case.assign", "case.note", "case.appointment", "case.reveal_numbers"):
        assert action in audit


# ---------------------------------------------------------------- exports and persons


async def test_exports_follow_the_filter_and_mask_identity_numbers(desk: Desk) -> None:
    await desk.signed_in("viewer")
    refs = await desk.seed(
        SeedCase("Ani Lestari", nik=NIK),
        SeedCase("Budi Santoso", kecamatan=SERPONG, kelurahan=None),
        SeedCase("Citra Dewi", CaseKind.AID),
    )
    response = await desk.client.get("/cases/export.csv", params={"kecamatan": PONDOK_AREN})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == [ui(f"export.{c}") for c in ("reference", "kind", "status", "created_at", "name")]
    assert [row[0] for row in rows[1:]] == [refs[0], refs[2]]
    assert rows[1][7] == NIK_MASKED and NIK not in text
    assert rows[1][1] == ui("kind.registration") and rows[2][1] == ui("kind.aid")

    workbook = await desk.client.get("/cases/export.xlsx", params={"kind": "aid"})
    assert workbook.status_code == 200
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert [row[0] for row in values[1:]] == [refs[2]]
    exports = await desk.rows("SELECT detail FROM audit_log WHERE action = 'cases.export'")
    assert [row["detail"] for row in exports] == [f"csv kecamatan={PONDOK_AREN}", "xlsx kind=aid"]


async def test_persons_can_be_searched_and_opened(desk: Desk) -> None:
    await desk.signed_in("petugas")
    await desk.seed(
        SeedCase("Ani Lestari", nik=NIK, skills=["montir"]), SeedCase("Budi Santoso", skills=["masak"])
    )
    found = await desk.client.get("/persons", params={"q": "lestari"})
    assert "Ani Lestari" in found.text and "Budi Santoso" not in found.text and NIK_MASKED in found.text
    by_skill = await desk.client.get("/persons", params={"skill": "masak"})
    assert "Budi Santoso" in by_skill.text and "Ani Lestari" not in by_skill.text
    (ani,) = await desk.rows("SELECT id FROM persons WHERE full_name = 'Ani Lestari'")
    person = await desk.client.get(f"/persons/{ani['id']}")
    assert person.status_code == 200 and NIK_MASKED in person.text and NIK not in person.text
    assert ui("skill.montir") in person.text


# ---------------------------------------------------------------- outreach


async def test_a_broadcast_is_composed_counted_sent_and_reported(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas", "siti")
    await desk.seed(
        SeedCase("Ani", kecamatan=PONDOK_AREN),
        SeedCase("Budi", kecamatan=PONDOK_AREN),
        SeedCase("Citra", kecamatan=SERPONG),
    )
    counted = await desk.client.get("/segments/preview", params={"seg_kecamatan": PONDOK_AREN})
    assert ui("segment.reaches", count=2) in counted.text
    form = {
        "csrf_token": csrf,
        "text_id": "Pelatihan montir hari Senin.",
        "seg_kecamatan": PONDOK_AREN,
        "when": "now",
    }
    previewed = await desk.client.post("/broadcasts", data=form | {"preview": "1"})
    assert previewed.status_code == 200 and ui("segment.reaches", count=2) in previewed.text
    assert await desk.rows("SELECT id FROM broadcasts") == []

    sent = await desk.client.post("/broadcasts", data=form | {"confirm": "2"})
    assert sent.status_code == 303
    (broadcast,) = await desk.rows("SELECT id, recipients, status, created_by FROM broadcasts")
    assert broadcast["recipients"] == 2 and broadcast["created_by"] == "staff:siti"
    progress = await desk.client.get(f"/broadcasts/{broadcast['id']}/progress")
    assert (
        ui("broadcast.state_sending") in progress.text
        and ui("broadcast.progress", done=0, total=2) in progress.text
    )

    await desk.service.dispatcher.deliver(await repo.pending_outbox(desk.service.db))
    progress = await desk.client.get(f"/broadcasts/{broadcast['id']}/progress")
    assert ui("broadcast.state_done") in progress.text and "data-final" in progress.text
    assert ui("broadcast.progress", done=2, total=2) in progress.text
    delivered = [line.text for lines in desk.web._lines.values() for line in lines]
    assert delivered == ["Pelatihan montir hari Senin."] * 2

    nobody = await desk.client.post("/broadcasts", data=form | {"seg_kecamatan": "36.74.05"})
    assert nobody.status_code == 400 and ui("broadcast.nobody") in nobody.text


async def test_a_scheduled_broadcast_can_be_cancelled(desk: Desk, clock: Clock) -> None:
    csrf = await desk.signed_in("petugas")
    await desk.seed(SeedCase("Ani"))
    later = (clock() + timedelta(days=1)).astimezone(desk.dashboard.tz)
    made = await desk.client.post(
        "/broadcasts",
        data={
            "csrf_token": csrf,
            "text_id": "Besok",
            "seg_everyone": "yes",
            "confirm": "1",
            "when": "later",
            "date": f"{later:%Y-%m-%d}",
            "time": "10:00",
        },
    )
    assert made.status_code == 303
    (broadcast,) = await desk.rows("SELECT id, status FROM broadcasts")
    assert broadcast["status"] == "scheduled"
    stop = await desk.client.post(f"/broadcasts/{broadcast['id']}/cancel", data={"csrf_token": csrf})
    assert stop.headers["location"].endswith("done=cancelled")
    assert (await desk.rows("SELECT status FROM broadcasts")) == [{"status": "cancelled"}]
    page = await desk.client.get(f"/broadcasts/{broadcast['id']}")
    assert ui("broadcast.state_cancelled") in page.text and ui("broadcast.cancel_button") not in page.text


async def test_reminders_repeat_weekly_and_can_be_stopped(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas")
    made = await desk.client.post(
        "/reminders",
        data={
            "csrf_token": csrf,
            "text_id": "Bawa KK ke kantor",
            "repeat": "weekly",
            "weekday": "mon",
            "time": "08:00",
            "seg_everyone": "yes",
        },
    )
    assert made.status_code == 303
    (reminder,) = await desk.rows("SELECT id, cron, kind, text_id FROM reminders")
    assert reminder["cron"] == "0 8 * * mon" and reminder["kind"] == "recurring"
    page = await desk.client.get("/reminders")
    assert "Bawa KK ke kantor" in page.text and "0 8 * * mon" in page.text
    bad = await desk.client.post(
        "/reminders",
        data={"csrf_token": csrf, "text_id": "x", "repeat": "cron", "cron": "bukan", "seg_everyone": "yes"},
    )
    assert bad.status_code == 400 and ui("reminder.bad_schedule") in bad.text
    stopped = await desk.client.post(f"/reminders/{reminder['id']}/cancel", data={"csrf_token": csrf})
    assert stopped.status_code == 303
    assert (await desk.rows("SELECT status FROM reminders")) == [{"status": "cancelled"}]


async def test_a_programme_invites_a_segment_and_exports_its_attendees(desk: Desk, clock: Clock) -> None:
    csrf = await desk.signed_in("petugas")
    await desk.seed(SeedCase("Ani", skills=["montir"]), SeedCase("Budi", skills=["masak"]))
    start = (clock() + timedelta(days=7)).astimezone(desk.dashboard.tz)
    await desk.programme(csrf, start)
    (programme,) = await desk.rows("SELECT id, quota FROM programmes")
    invited = await desk.client.post(
        f"/programmes/{programme['id']}/invite",
        data={"csrf_token": csrf, "seg_skill": "montir", "confirm": "1"},
    )
    assert invited.status_code == 303
    (rsvp,) = await desk.rows("SELECT status FROM rsvps")
    assert rsvp == {"status": "invited"}
    (invitation,) = await desk.rows("SELECT payload FROM outbox WHERE origin = 'programme'")
    assert "Pelatihan montir" in invitation["payload"] and "rsvp:" in invitation["payload"]
    page = await desk.client.get(f"/programmes/{programme['id']}")
    assert "Ani" in page.text and ui("rsvp.invited") in page.text
    exported = await desk.client.get(f"/programmes/{programme['id']}/attendees.csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[1][1:3] == [ui("rsvp.invited"), "Ani"]


# ---------------------------------------------------------------- the simulator


async def test_the_simulator_chats_as_a_citizen_through_the_web_channel(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas", "siti")
    said = await desk.client.post(
        "/simulator/send",
        data={"csrf_token": csrf, "contact": "bu-ani", "text": "halo"},
        headers={"x-requested-with": "fetch"},
    )
    assert said.status_code == 200
    notice = CITIZEN.text("id", "consent.notice")
    assert notice.split("\n")[0] in said.text.replace("&#39;", "'")
    agreed = await desk.client.post(
        "/simulator/send",
        data={"csrf_token": csrf, "contact": "bu-ani", "choice": "consent:yes", "label": "Setuju"},
    )
    assert agreed.status_code == 303 and agreed.headers["location"] == "/simulator?contact=bu-ani"
    page = await desk.client.get(agreed.headers["location"])
    assert CITIZEN.text("id", "menu.prompt") in page.text.replace("&#39;", "'")
    contact = await repo.get_contact(desk.service.db, "web:bu-ani")
    assert contact is not None and contact.consent == "granted"
    assert (await desk.rows("SELECT action, target FROM audit_log WHERE action = 'simulator.send'")) == [
        {"action": "simulator.send", "target": "web:bu-ani"}
    ] * 2


# ---------------------------------------------------------------- the commands


async def test_staff_create_user_makes_an_account_that_can_sign_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path / "data")

    async def command(*words: str, stdin: str = "") -> tuple[int, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        out = io.StringIO()
        code = await staff_cli.run(_parser().parse_args(["staff", "--as", "kepala", *words]), settings, out)
        return code, out.getvalue()

    code, said = await command(
        "create-user",
        "--username",
        "Siti",
        "--role",
        "petugas",
        "--password-stdin",
        stdin="rahasia-sekali-123\n",
    )
    assert code == 0 and "siti" in said and "rahasia" not in said
    with sqlite3.connect(tmp_path / "data" / DB_FILE_NAME) as conn:
        role, hashed = conn.execute(
            "SELECT role, password_hash FROM staff_users WHERE username = 'siti'"
        ).fetchone()
        audit = conn.execute("SELECT actor, action, target FROM audit_log").fetchall()
    assert role == "petugas" and accounts.check_password(hashed, "rahasia-sekali-123")
    assert audit == [("staff:kepala", "account.create", "user:siti")]
    short = await command(
        "create-user", "--username", "budi", "--role", "viewer", "--password-stdin", stdin="pendek\n"
    )
    assert short[0] == 2
    taken = await command("create-user", "--username", "siti", "--role", "viewer", "--generate")
    assert taken[0] == 2
    code, said = await command(
        "create-user", "--username", "budi", "--role", "viewer"
    )  # no terminal: made up
    assert code == 0
    made_up = re.search(r": ([A-Za-z0-9]{16})$", said.strip())
    assert made_up is not None
    with sqlite3.connect(tmp_path / "data" / DB_FILE_NAME) as conn:
        (hashed,) = conn.execute("SELECT password_hash FROM staff_users WHERE username = 'budi'").fetchone()
    assert accounts.check_password(hashed, made_up.group(1))


def test_python_m_bot_serves_the_dashboard_and_prints_how_to_sign_in(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DINSOS_")},
        "DINSOS_SECRET_KEY": TEST_KEY,
        "DINSOS_WEB_PORT": str(port),
        "DINSOS_SQLITE_SYNCHRONOUS": "NORMAL",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "--data-dir", str(tmp_path / "data")],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        password = None
        seen = []
        for _ in range(50):
            line = process.stdout.readline()
            seen.append(line)
            found = re.search(r"admin,\s+\S+ \S+ (\S+)$", line.strip())
            if found:
                password = found.group(1)
                break
        assert password is not None, "".join(seen)
        assert f"http://127.0.0.1:{port}/" in "".join(seen)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(200):
                try:
                    login = client.get("/login")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            assert ui("login.title") in login.text
            signed = client.post(
                "/login", data={"username": "admin", "password": password, "csrf_token": csrf_of(login.text)}
            )
            assert signed.status_code == 303
            # The made-up password is changed before anything else.
            assert client.get("/simulator").headers["location"] == "/password"
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(20)
        assert process.stdout is not None
        process.stdout.close()
    assert code == 0
