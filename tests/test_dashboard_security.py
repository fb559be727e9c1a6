"""Dashboard security: CSRF on every form, read-only viewers, hostile names shown as text everywhere (exports
included, no spreadsheet formulas), hostile searches, the sign-in limit, the audit log, and headers."""

import csv
import io
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from handlers.i18n import Catalog
from storage.records import CaseKind
from tests.dashboard_support import (
    FORMULA_NAME,
    IMG_NAME,
    PASSWORD,
    SCRIPT_NAME,
    Desk,
    SeedCase,
    csrf_of,
    open_desk,
    sign_in,
)
from tests.support import Clock

UI = Catalog.load(Path(__file__).resolve().parent.parent / "bot" / "dashboard" / "locales")
NIK = "3674015708850001"
HOSTILE = (SCRIPT_NAME, IMG_NAME)


def ui(key: str, **params: object) -> str:
    return UI.text("id", key, **params)


@pytest.fixture
async def desk(tmp_path: Path, clock: Clock) -> AsyncIterator[Desk]:
    async with open_desk(tmp_path / "data", clock) as opened:
        yield opened


def actions_of(
    ref: str, programme: int = 1, broadcast: int = 1, reminder: int = 1, user: int = 1
) -> list[tuple[str, dict[str, str]]]:
    """Every form post of the dashboard that changes something, with a valid-looking body."""
    return [
        (f"/cases/{ref}/status", {"status": "disetujui"}),
        (f"/cases/{ref}/assign", {"assignee": "1"}),
        (f"/cases/{ref}/note", {"note": "catatan"}),
        (f"/cases/{ref}/appointment", {"date": "2030-01-02", "time": "10:00", "place": "Kantor"}),
        (f"/cases/{ref}/reveal", {}),
        ("/broadcasts", {"text_id": "Halo semua", "when": "now"}),
        (f"/broadcasts/{broadcast}/cancel", {}),
        ("/reminders", {"text_id": "Halo", "repeat": "daily", "time": "08:00", "seg_everyone": "yes"}),
        (f"/reminders/{reminder}/cancel", {}),
        (
            "/programmes",
            {
                "name": "Montir",
                "skill": "montir",
                "place": "Panti",
                "start_date": "2030-01-02",
                "start_time": "09:00",
                "end_time": "15:00",
                "quota": "5",
            },
        ),
        (f"/programmes/{programme}/invite", {}),
        ("/simulator/send", {"contact": "x", "text": "halo"}),
        ("/accounts", {"username": "baru", "role": "admin", "password": PASSWORD}),
        (f"/accounts/{user}", {"action": "role", "role": "viewer"}),
    ]


async def fingerprint(desk: Desk) -> list[object]:
    """Everything a forged or forbidden post could have changed."""
    tables = (
        "cases",
        "case_events",
        "outbox",
        "broadcasts",
        "reminders",
        "programmes",
        "rsvps",
        "appointments",
        "staff_users",
        "contacts",
    )
    found: list[object] = []
    for table in tables:
        found.append(
            [tuple(row) for row in await desk.service.db.fetchall(f"SELECT * FROM {table} ORDER BY 1")]
        )
    return found


# ---------------------------------------------------------------- CSRF


async def test_every_form_without_the_csrf_token_is_refused_and_changes_nothing(desk: Desk) -> None:
    csrf = await desk.signed_in("admin", "kepala")
    (ref,) = await desk.seed(SeedCase("Ani Lestari", nik=NIK))
    before = await fingerprint(desk)
    for path, body in actions_of(ref):
        missing = await desk.client.post(path, data=body)
        assert missing.status_code == 403, path
        assert ui("refused.csrf") in missing.text
        forged = await desk.client.post(path, data=body | {"csrf_token": csrf[:-2] + "xx"})
        assert forged.status_code == 403, path
    assert await fingerprint(desk) == before
    denied = await desk.rows("SELECT detail FROM audit_log WHERE action = 'denied'")
    assert len(denied) == 2 * len(actions_of(ref))
    # The token of another session does not work either.
    other = await desk.client.post("/logout", data={"csrf_token": csrf})
    assert other.status_code == 303
    await sign_in(desk.client, "kepala")
    stale = await desk.client.post(f"/cases/{ref}/note", data={"csrf_token": csrf, "note": "x"})
    assert stale.status_code == 403


async def test_signing_in_and_switching_language_need_the_forms_token_too(desk: Desk) -> None:
    await desk.user("siti", "petugas")
    await desk.client.get("/login")
    refused = await desk.client.post("/login", data={"username": "siti", "password": PASSWORD})
    assert refused.status_code == 403
    assert "dinsos_session" not in desk.client.cookies
    page = await desk.client.get("/login")
    switched = await desk.client.post(
        "/lang", data={"lang": "en", "csrf_token": csrf_of(page.text), "next": "/login"}
    )
    assert switched.status_code == 303
    assert UI.text("en", "login.title") in (await desk.client.get("/login")).text
    assert (await desk.client.post("/lang", data={"lang": "id", "next": "/login"})).status_code == 403


# ---------------------------------------------------------------- viewers only read


async def test_a_viewer_sees_no_action_and_cannot_post_one(desk: Desk) -> None:
    await desk.user("kepala", "admin")
    csrf = await desk.signed_in("viewer", "pemantau")
    (ref,) = await desk.seed(SeedCase("Ani Lestari", nik=NIK))
    page = await desk.client.get(f"/cases/{ref}")
    assert page.status_code == 200
    assert ui("case.read_only") in page.text
    assert 'method="post"' not in page.text.replace('method="post" action="/logout"', "").replace(
        'method="post" action="/lang"', ""
    )
    assert "3674********0001" in page.text and NIK not in page.text
    for path in ("/broadcasts", "/reminders", "/programmes", "/cases"):
        listing = await desk.client.get(path)
        assert listing.status_code == 200
        assert ui("broadcasts.new") not in listing.text and ui("reminders.new") not in listing.text
    assert (await desk.client.get("/simulator")).status_code == 403
    assert (await desk.client.get("/broadcasts/new")).status_code == 403
    assert (await desk.client.get("/accounts")).status_code == 403

    before = await fingerprint(desk)
    for path, body in actions_of(ref):
        response = await desk.client.post(path, data=body | {"csrf_token": csrf})
        assert response.status_code == 403, path
        assert NIK not in response.text
    assert await fingerprint(desk) == before
    assert not [
        row
        for row in await desk.rows("SELECT action FROM audit_log")
        if row["action"] == "case.reveal_numbers"
    ]
    denied = await desk.rows("SELECT actor, target FROM audit_log WHERE action = 'denied'")
    assert {row["actor"] for row in denied} == {"staff:pemantau"}
    assert len(denied) == 3 + len(actions_of(ref))  # the three pages above, then every post


async def test_a_petugas_cannot_manage_accounts(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas", "siti")
    assert (await desk.client.get("/accounts")).status_code == 403
    made = await desk.client.post(
        "/accounts", data={"csrf_token": csrf, "username": "x1", "role": "admin", "password": PASSWORD}
    )
    assert made.status_code == 403
    (me,) = await desk.rows("SELECT id, role FROM staff_users")
    raised = await desk.client.post(
        f"/accounts/{me['id']}", data={"csrf_token": csrf, "action": "role", "role": "admin"}
    )
    assert raised.status_code == 403
    assert (await desk.rows("SELECT role FROM staff_users")) == [{"role": "petugas"}]


# ---------------------------------------------------------------- hostile names


async def test_names_made_of_html_are_shown_as_text_on_every_page(desk: Desk, clock: Clock) -> None:
    csrf = await desk.signed_in("admin", "kepala")
    refs = await desk.seed(
        SeedCase(SCRIPT_NAME, answers={"address": SCRIPT_NAME}, skills=["montir"]),
        SeedCase(IMG_NAME, CaseKind.AID, answers={"description": {"text": IMG_NAME}}, skills=["montir"]),
    )
    for ref, name in zip(refs, HOSTILE, strict=True):
        await desk.client.post(f"/cases/{ref}/note", data={"csrf_token": csrf, "note": name})
        await desk.client.post(
            f"/cases/{ref}/status", data={"csrf_token": csrf, "status": "ditolak", "note": name}
        )
    await desk.client.post(
        "/broadcasts",
        data={
            "csrf_token": csrf,
            "text_id": SCRIPT_NAME,
            "when": "now",
            "seg_everyone": "yes",
            "confirm": "2",
        },
    )
    await desk.client.post(
        "/programmes",
        data={
            "csrf_token": csrf,
            "name": IMG_NAME,
            "skill": "montir",
            "place": SCRIPT_NAME,
            "start_date": "2030-01-02",
            "start_time": "09:00",
            "end_time": "15:00",
            "quota": "5",
        },
    )
    await desk.client.post(
        "/programmes/1/invite", data={"csrf_token": csrf, "seg_skill": "montir", "confirm": "2"}
    )
    await desk.client.post(
        "/simulator/send", data={"csrf_token": csrf, "contact": "uji", "text": SCRIPT_NAME}
    )
    await desk.client.get("/audit", params={"actor": SCRIPT_NAME})
    persons = [row["id"] for row in await desk.rows("SELECT id FROM persons")]
    pages = [
        "/",
        "/cases",
        f"/cases?q={SCRIPT_NAME}",
        *(f"/cases/{ref}" for ref in refs),
        "/persons",
        *(f"/persons/{pid}" for pid in persons),
        "/outbox",
        "/broadcasts",
        "/broadcasts/1",
        "/broadcasts/1/progress",
        "/segments/preview",
        "/programmes",
        "/programmes/1",
        "/simulator?contact=uji",
        "/simulator/messages?contact=uji",
        "/audit",
        f"/cases/{refs[0]}/preview?status=ditolak&note={SCRIPT_NAME}",
        "/reminders",
    ]
    for path in pages:
        response = await desk.client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        html = response.text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert 'src="x"' not in html and "onerror=alert(1)>" not in html.replace("&gt;", ""), path
    case_page = (await desk.client.get(f"/cases/{refs[0]}")).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in case_page  # shown, as text
    img_page = (await desk.client.get(f"/cases/{refs[1]}")).text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in img_page

    exported = await desk.client.get("/cases/export.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.headers["content-disposition"].startswith("attachment")
    assert exported.headers["x-content-type-options"] == "nosniff"
    names = [row[4] for row in csv.reader(io.StringIO(exported.content.decode("utf-8-sig")))][1:]
    assert names == list(HOSTILE)  # the data itself, unchanged, in a file no browser renders as a page
    attendees = await desk.client.get("/programmes/1/attendees.csv")
    assert attendees.headers["content-type"].startswith("text/csv")
    assert SCRIPT_NAME in attendees.content.decode("utf-8-sig")


async def test_a_name_that_looks_like_a_formula_is_exported_inert(desk: Desk) -> None:
    await desk.signed_in("viewer")
    (ref,) = await desk.seed(SeedCase(FORMULA_NAME, answers={"address": "@SUM(1+1)"}))
    exported = await desk.client.get("/cases/export.csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[1][0] == ref and rows[1][4] == "'" + FORMULA_NAME  # a leading apostrophe: text, not a formula
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)

    workbook = await desk.client.get("/cases/export.xlsx")
    assert workbook.headers["content-disposition"].startswith("attachment")
    cell = load_workbook(io.BytesIO(workbook.content)).active["E2"]  # type: ignore[index]
    assert cell.value == FORMULA_NAME and cell.data_type == "s"
    with zipfile.ZipFile(io.BytesIO(workbook.content)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet  # no cell is a formula


# ---------------------------------------------------------------- hostile searches


@pytest.mark.parametrize(
    "search",
    [
        "' OR '1'='1",
        '"; DROP TABLE cases; --',
        "Robert'); DROP TABLE persons;--",
        "%",
        "_",
        "\\",
        "' UNION SELECT password_hash FROM staff_users --",
        "REG-2026-000001' OR 1=1 --",
        "%' AND 1=1 AND '%'='",
    ],
)
async def test_searches_full_of_quotes_and_sql_find_only_what_they_say(desk: Desk, search: str) -> None:
    await desk.signed_in("petugas")
    await desk.seed(SeedCase("Ani Lestari"), SeedCase("Budi 100% Santoso"), SeedCase("O'Brien Siregar"))
    for path in ("/cases", "/persons"):
        response = await desk.client.get(path, params={"q": search})
        assert response.status_code == 200
        shown = re.findall(
            r"Ani Lestari|Budi 100% Santoso|O&#39;Brien Siregar", response.text.split("</form>", 1)[1]
        )
        expected = [
            name
            for name in ("Ani Lestari", "Budi 100% Santoso", "O'Brien Siregar")
            if search.lower() in name.lower()
        ]
        assert sorted(shown) == sorted(n.replace("'", "&#39;") for n in expected), (path, search)
    assert len(await desk.rows("SELECT id FROM cases")) == 3
    assert len(await desk.rows("SELECT id FROM persons")) == 3
    for csv_search in (search,):
        exported = await desk.client.get("/cases/export.csv", params={"q": csv_search})
        assert exported.status_code == 200


async def test_a_quote_in_a_search_finds_the_name_with_a_quote(desk: Desk) -> None:
    await desk.signed_in("petugas")
    await desk.seed(SeedCase("Ani Lestari"), SeedCase("O'Brien Siregar"))
    response = await desk.client.get("/cases", params={"q": "o'bri"})
    assert "O&#39;Brien Siregar" in response.text and "Ani Lestari" not in response.text


# ---------------------------------------------------------------- the audit log


async def test_every_action_is_in_the_audit_log(desk: Desk, clock: Clock) -> None:
    csrf = await desk.signed_in("admin", "kepala")
    await desk.seed(SeedCase("Ani Lestari", nik=NIK, skills=["montir"]))
    (ref,) = [row["reference"] for row in await desk.rows("SELECT reference FROM cases")]
    posts: list[tuple[str, dict[str, str]]] = [
        (f"/cases/{ref}/assign", {"assignee": "1"}),
        (f"/cases/{ref}/note", {"note": "catatan"}),
        (f"/cases/{ref}/appointment", {"date": "2030-01-02", "time": "10:00", "place": "Kantor"}),
        (f"/cases/{ref}/reveal", {}),
        (f"/cases/{ref}/status", {"status": "disetujui"}),
        (
            "/broadcasts",
            {
                "text_id": "Halo semua",
                "when": "later",
                "date": "2030-01-01",
                "time": "09:00",
                "seg_everyone": "yes",
                "confirm": "1",
            },
        ),
        ("/broadcasts/1/cancel", {}),
        ("/reminders", {"text_id": "Halo", "repeat": "daily", "time": "08:00", "seg_everyone": "yes"}),
        ("/reminders/3/cancel", {}),  # 1 and 2 remind of the appointment
        (
            "/programmes",
            {
                "name": "Montir",
                "skill": "montir",
                "place": "Panti",
                "start_date": "2030-01-02",
                "start_time": "09:00",
                "end_time": "15:00",
                "quota": "5",
            },
        ),
        ("/programmes/1/invite", {"seg_skill": "montir"}),
        ("/simulator/send", {"contact": "uji", "text": "halo"}),
        ("/accounts", {"username": "baru", "role": "viewer", "password": PASSWORD}),
        ("/accounts/2", {"action": "password"}),
    ]
    for path, body in posts:
        response = await desk.client.post(path, data=body | {"csrf_token": csrf})
        asked = re.search(r'name="confirm" value="(\d+)"', response.text)
        if asked:  # a broadcast or an invitation asks first, with its recipient count
            response = await desk.client.post(path, data=body | {"csrf_token": csrf, "confirm": asked[1]})
        assert response.status_code in (200, 303), (path, response.text[:300])
    for path in (
        f"/cases/{ref}",
        "/persons/1",
        "/cases/export.csv",
        "/cases/export.xlsx",
        "/programmes/1/attendees.csv",
    ):
        assert (await desk.client.get(path)).status_code == 200
    await desk.client.post("/logout", data={"csrf_token": csrf})
    logged = {(row["actor"], row["action"]) for row in await desk.rows("SELECT actor, action FROM audit_log")}
    for action in (
        "login",
        "case.assign",
        "case.note",
        "case.appointment",
        "case.reveal_numbers",
        "case.status",
        "broadcast.create",
        "broadcast.cancel",
        "reminder.create",
        "reminder.cancel",
        "programme.create",
        "programme.invite",
        "simulator.send",
        "account.create",
        "account.update",
        "case.view",
        "person.view",
        "cases.export",
        "programme.export",
        "logout",
    ):
        assert ("staff:kepala", action) in logged, action
    audit_page = await desk.client.get("/audit")
    assert audit_page.status_code == 303  # signed out


# ---------------------------------------------------------------- headers, redirects, files


async def test_pages_carry_security_headers_and_never_redirect_elsewhere(desk: Desk) -> None:
    await desk.user("siti", "petugas")
    page = await desk.client.get("/login")
    headers = page.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = await desk.client.post(
            "/login",
            data={"username": "siti", "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": target},
        )
        assert response.headers["location"] == "/", target
        await desk.client.post("/logout", data={"csrf_token": csrf_of((await desk.client.get("/")).text)})
        page = await desk.client.get("/login")


async def test_files_need_a_session_and_stay_inside_the_media_folder(desk: Desk, clock: Clock) -> None:
    ref = desk.dashboard.media.save(b"\xff\xd8\xff photo", mime="image/jpeg", at=clock())
    svg = desk.dashboard.media.save(b"<svg onload=alert(1)>", mime="image/svg+xml", at=clock())
    assert (await desk.client.get(f"/{ref}")).status_code == 303  # to the sign-in page
    await desk.signed_in("viewer")
    assert (await desk.client.get(f"/{ref}")).status_code == 200
    forced = await desk.client.get(f"/{svg}")
    assert forced.headers["content-type"] == "application/octet-stream"
    assert forced.headers["content-disposition"].startswith("attachment")
    for path in ("/media/../secret.key", "/media/%2e%2e/secret.key", "/media/2026/../../intake.sqlite3"):
        assert (await desk.client.get(path)).status_code == 404, path
