"""Safety and words on every staff surface: a broadcast or an invitation shows how many it reaches and
waits for a confirmation; "semua warga" must be chosen, never implied by an empty form; states, audit
lines, numbers and schedules read as words, in Indonesian first and in English.
"""

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import staff_cli
from bot.__main__ import _parser
from handlers import outreach
from handlers.i18n import Catalog
from handlers.outreach import OutreachError, QuietHours
from handlers.segments import Segment
from handlers.staff.compose import describe_cron, number
from tests.dashboard_support import Desk, SeedCase, open_desk
from tests.support import Clock, make_settings

CITIZEN = Catalog.load()
UI = Catalog.load(Path(__file__).resolve().parent.parent / "bot" / "dashboard" / "locales")
PONDOK_AREN = "36.74.03"
WIB = ZoneInfo("Asia/Jakarta")


def ui(key: str, lang: str = "id", **params: object) -> str:
    return UI.text(lang, key, **params)


@pytest.fixture
async def desk(tmp_path: Path, clock: Clock) -> AsyncIterator[Desk]:
    async with open_desk(tmp_path / "data", clock) as opened:
        yield opened


# ---------------------------------------------------------------- broadcasts need a confirmation


async def test_send_shows_the_count_and_sends_only_after_the_confirmation(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas", "siti")
    await desk.seed(SeedCase("Ani", kecamatan=PONDOK_AREN), SeedCase("Budi", kecamatan=PONDOK_AREN))
    form = {"csrf_token": csrf, "text_id": "Pelatihan montir.", "seg_kecamatan": PONDOK_AREN, "when": "now"}
    asked = await desk.client.post("/broadcasts", data=form)
    # Seen: "Kirim siaran" sent at once. Now the first press only asks, with the count.
    assert asked.status_code == 200
    assert await desk.rows("SELECT id FROM broadcasts") == []
    assert ui("broadcast.confirm_question", count="2") in asked.text
    assert 'name="confirm" value="2"' in asked.text
    sent = await desk.client.post("/broadcasts", data=form | {"confirm": "2"})
    assert sent.status_code == 303
    assert [r["recipients"] for r in await desk.rows("SELECT recipients FROM broadcasts")] == [2]


async def test_a_confirmation_for_another_count_asks_again(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas")
    await desk.seed(SeedCase("Ani", kecamatan=PONDOK_AREN), SeedCase("Budi", kecamatan=PONDOK_AREN))
    form = {"csrf_token": csrf, "text_id": "Halo", "seg_kecamatan": PONDOK_AREN, "when": "now"}
    again = await desk.client.post("/broadcasts", data=form | {"confirm": "1"})
    assert again.status_code == 200 and ui("broadcast.count_changed", count="2") in again.text
    assert await desk.rows("SELECT id FROM broadcasts") == []


async def test_an_empty_segment_is_refused_until_everyone_is_chosen(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas")
    await desk.seed(SeedCase("Ani"), SeedCase("Budi"), SeedCase("Citra"))
    form = {"csrf_token": csrf, "text_id": "Halo semua", "when": "now"}
    # Seen: an empty segment meant everyone.
    refused = await desk.client.post("/broadcasts", data=form | {"confirm": "3"})
    assert refused.status_code == 400 and ui("segment.choose_everyone") in refused.text
    assert await desk.rows("SELECT id FROM broadcasts") == []
    page = await desk.client.get("/broadcasts/new")
    assert 'name="seg_everyone"' in page.text
    asked = await desk.client.post("/broadcasts", data=form | {"seg_everyone": "yes"})
    assert asked.status_code == 200 and ui("broadcast.confirm_question", count="3") in asked.text
    sent = await desk.client.post("/broadcasts", data=form | {"seg_everyone": "yes", "confirm": "3"})
    assert sent.status_code == 303
    (row,) = await desk.rows("SELECT recipients FROM broadcasts")
    assert row["recipients"] == 3


def test_the_shared_write_refuses_a_segment_nobody_chose() -> None:
    import sqlite3

    conn = sqlite3.connect(":memory:")
    with pytest.raises(OutreachError) as refused:
        outreach.create_broadcast(
            conn,
            segment=Segment(),
            text_id="Halo",
            text_en=None,
            template=None,
            send_at=datetime(2026, 11, 20, tzinfo=UTC),
            actor="staff:x",
            at=datetime(2026, 11, 20, tzinfo=UTC),
            tz=WIB,
            quiet=QuietHours(time(21), time(6), WIB),
        )
    assert refused.value.code == "needs_everyone"


# ---------------------------------------------------------------- programme invitations


async def test_the_invite_form_starts_with_the_programmes_skill_and_asks_before_inviting(
    desk: Desk, clock: Clock
) -> None:
    csrf = await desk.signed_in("petugas")
    await desk.seed(SeedCase("Ani", skills=["montir"]), SeedCase("Budi", skills=["masak"]))
    start = (clock() + timedelta(days=7)).astimezone(WIB)
    programme_id = await desk.programme(csrf, start, name="Pelatihan service HP")
    page = await desk.client.get(f"/programmes/{programme_id}")
    # Seen: the form was empty, so one click invited everyone.
    assert 'name="seg_skill" value="montir" checked' in page.text
    assert 'name="seg_skill" value="masak" checked' not in page.text
    form = {"csrf_token": csrf, "seg_skill": "montir"}
    asked = await desk.client.post(f"/programmes/{programme_id}/invite", data=form)
    assert asked.status_code == 200 and ui("programmes.confirm_question", count="1") in asked.text
    assert await desk.rows("SELECT id FROM rsvps") == []
    nobody_chosen = await desk.client.post(f"/programmes/{programme_id}/invite", data={"csrf_token": csrf})
    assert nobody_chosen.status_code == 400 and ui("segment.choose_everyone") in nobody_chosen.text
    invited = await desk.client.post(f"/programmes/{programme_id}/invite", data=form | {"confirm": "1"})
    assert invited.status_code == 303
    (invitation,) = await desk.rows("SELECT payload FROM outbox WHERE origin = 'programme'")
    # Seen: "Ada pelatihan Pelatihan service HP".
    assert "Pelatihan service HP" in invitation["payload"]
    assert "pelatihan pelatihan" not in invitation["payload"].lower()


def test_the_invitation_and_its_reminder_name_the_programme_once_in_both_languages() -> None:
    for language in ("id", "en"):
        for key in ("programme.invite", "programme.reminder", "programme.moved_up"):
            text = CITIZEN.text(
                language,
                key,
                name="Pelatihan service HP",
                place="Panti",
                date="10-12-2026",
                time="08.00",
                quota=20,
            ).lower()
            assert "pelatihan pelatihan" not in text and "training pelatihan" not in text
            assert "pelatihan service hp training" not in text


# ---------------------------------------------------------------- states in words


async def test_a_broadcast_waiting_for_the_quiet_hours_does_not_read_as_sending(
    desk: Desk, clock: Clock
) -> None:
    clock.now = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 22:00 WIB: quiet hours
    csrf = await desk.signed_in("petugas")
    await desk.seed(SeedCase("Ani"))
    form = {"csrf_token": csrf, "text_id": "Halo", "seg_everyone": "yes", "when": "now", "confirm": "1"}
    assert (await desk.client.post("/broadcasts", data=form)).status_code == 303
    (row,) = await desk.rows("SELECT id FROM broadcasts")
    progress = await desk.client.get(f"/broadcasts/{row['id']}/progress")
    # Seen: a held broadcast read "Sedang dikirim".
    assert ui("broadcast.state_sending") not in progress.text
    assert ui("broadcast.state_waiting") in progress.text
    listing = await desk.client.get("/broadcasts")
    assert ui("broadcast.state_sending") not in listing.text and ui("broadcast.state_waiting") in listing.text


async def test_a_broadcast_whose_messages_are_held_says_so(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas")
    await desk.seed(SeedCase("Ani"))
    form = {"csrf_token": csrf, "text_id": "Halo", "seg_everyone": "yes", "when": "now", "confirm": "1"}
    assert (await desk.client.post("/broadcasts", data=form)).status_code == 303
    (row,) = await desk.rows("SELECT id FROM broadcasts")
    await desk.service.db.write(
        lambda conn: conn.execute("UPDATE outbox SET status = 'held' WHERE broadcast_id = ?", (row["id"],))
    )
    progress = await desk.client.get(f"/broadcasts/{row['id']}/progress")
    assert ui("broadcast.state_sending") not in progress.text
    assert ui("broadcast.state_held") in progress.text


async def test_the_audit_log_reads_in_words(desk: Desk) -> None:
    await desk.signed_in("admin", "rina")
    (reference,) = await desk.seed(SeedCase("Ani", contact="web:warga1"))
    await desk.client.get(f"/cases/{reference}")
    await desk.service.db.write(
        partial(
            __import__("storage.repo", fromlist=["audit"]).audit,
            actor="staff:rina",
            action="case.status",
            at=datetime(2026, 11, 20, tzinfo=UTC),
            target="contact:web:warga1",
        )
    )
    page = await desk.client.get("/audit")
    # Seen: `case.view` and `contact:web:warga1`.
    assert ui("audit_action.case_view") in page.text and ui("audit_action.case_status") in page.text
    assert ">case.view<" not in page.text and "contact:web:warga1" not in page.text
    assert ui("audit_target.contact", channel=ui("channel.web"), who="warga1") in page.text


async def test_reminders_and_counts_read_in_words(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas")
    made = await desk.client.post(
        "/reminders",
        data={
            "csrf_token": csrf,
            "text_id": "Bawa KK",
            "repeat": "weekly",
            "weekday": "mon",
            "time": "08:00",
            "seg_everyone": "yes",
        },
    )
    assert made.status_code == 303
    page = await desk.client.get("/reminders")
    # Seen: weekly reminders showed as cron.
    assert "<td>setiap Senin 08.00</td>" in page.text and "<td>0 8 * * mon</td>" not in page.text


@pytest.mark.parametrize(
    ("cron", "words_id", "words_en"),
    [
        ("0 8 * * mon", "setiap Senin 08.00", "every Monday 08:00"),
        ("30 7 * * *", "setiap hari 07.30", "every day 07:30"),
        ("0 9 1 * *", "setiap tanggal 1 09.00", "on day 1 of every month 09:00"),
        ("0 16 * * mon,thu", "setiap Senin dan Kamis 16.00", "every Monday and Thursday 16:00"),
        ("*/5 * * * *", "jadwal */5 * * * *", "schedule */5 * * * *"),
    ],
)
def test_schedules_in_words(cron: str, words_id: str, words_en: str) -> None:
    assert describe_cron(cron, CITIZEN, "id") == words_id
    assert describe_cron(cron, CITIZEN, "en") == words_en


def test_numbers_have_thousands_separators_by_language() -> None:
    assert (number(1234567, "id"), number(1234567, "en"), number(12, "id")) == (
        "1.234.567",
        "1,234,567",
        "12",
    )


# ---------------------------------------------------------------- the command line


async def cli(data_dir: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    args = _parser().parse_args(["--data-dir", str(data_dir), "staff", "--as", "rina", *argv])
    code = await staff_cli.run(args, make_settings(data_dir), out=out)
    return code, out.getvalue()


async def test_the_cli_needs_everyone_for_an_empty_segment_and_words_its_schedules(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    await desk.seed(*(SeedCase(f"Warga {i}") for i in range(3)))
    data = desk.data_dir
    code, _ = await cli(data, "broadcast", "send", "--text", "Halo semua", "--yes")
    assert code == 2 and "--everyone" in capsys.readouterr().err
    assert await desk.rows("SELECT id FROM broadcasts") == []
    code, text = await cli(data, "broadcast", "send", "--text", "Halo semua", "--everyone")
    assert code == 0 and "Penerima: 3" in text and "semua warga" in text
    assert await desk.rows("SELECT id FROM broadcasts") == []
    code, _ = await cli(data, "broadcast", "send", "--text", "Halo semua", "--everyone", "--yes")
    assert code == 0 and len(await desk.rows("SELECT id FROM broadcasts")) == 1
    code, _ = await cli(
        data, "reminder", "add", "--text", "Posyandu", "--cron", "0 8 * * mon", "--kecamatan", "pd aren"
    )
    assert code == 0
    code, text = await cli(data, "reminder", "list")
    assert "setiap Senin 08.00" in text and "0 8 * * mon" not in text
    # Times are typed as written in Indonesia (ISO still works); an unreadable one is answered in words.
    code, text = await cli(
        data, "reminder", "add", "--text", "Besok", "--at", "01-12-2099 18:00", "--everyone"
    )
    assert code == 0 and "01-12-2099 18:00" in text
    capsys.readouterr()
    code, _ = await cli(data, "reminder", "add", "--text", "Besok", "--at", "besok sore", "--everyone")
    assert code == 2 and UI.text("id", "cli.bad_time", text="besok sore") in capsys.readouterr().err


def test_every_audited_action_has_words() -> None:
    import re

    root = Path(__file__).resolve().parent.parent
    sources = "\n".join(p.read_text() for d in ("bot", "handlers") for p in (root / d).rglob("*.py"))
    actions = set(re.findall(r'action="([a-z_]+\.[a-z_.]+)"', sources))
    actions |= set(re.findall(r'\.audit\(\s*"([a-z_.]+)"', sources))
    assert {"case.view", "case.status", "broadcast.create"} <= actions
    missing = sorted(a for a in actions if not UI.has("audit_action." + a.replace(".", "_")))
    assert missing == []


def test_dates_are_read_as_written_in_indonesia() -> None:
    from datetime import date

    from handlers.staff.compose import read_day, read_local

    assert read_day("17-08-2026") == read_day("17/8/2026") == read_day("2026-08-17") == date(2026, 8, 17)
    assert read_day("31-02-2026") is None and read_day("08/17/2026") is None and read_day("") is None
    assert read_local("01-12-2026", "09.00", WIB) == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


async def test_date_boxes_take_dd_mm_yyyy(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas")
    page = await desk.client.get("/cases")
    # Seen: the browser's date box showed mm/dd/yyyy; the boxes now ask for dd-mm-yyyy.
    assert 'type="date"' not in page.text and ui("form.date_placeholder") in page.text
    await desk.seed(SeedCase("Ani", created_at=datetime(2026, 11, 18, 3, 0, tzinfo=UTC)))
    found = await desk.client.get("/cases", params={"date_from": "18-11-2026", "date_to": "18-11-2026"})
    assert "Ani" in found.text
    none = await desk.client.get("/cases", params={"date_from": "19-11-2026"})
    assert "Ani" not in none.text
    made = await desk.client.post(
        "/programmes",
        data={
            "csrf_token": csrf,
            "name": "Pelatihan montir",
            "skill": "montir",
            "place": "Panti",
            "start_date": "02-01-2030",
            "start_time": "09.00",
            "end_time": "15:00",
            "quota": "5",
        },
    )
    assert made.status_code == 303
    (programme,) = await desk.rows("SELECT starts_at FROM programmes")
    assert programme["starts_at"].startswith("2030-01-02T02:00")


async def test_the_dashboard_words_a_move_the_rules_refuse(desk: Desk) -> None:
    csrf = await desk.signed_in("petugas")
    (ref,) = await desk.seed(SeedCase("Ani"))
    refused = await desk.client.post(f"/cases/{ref}/status", data={"csrf_token": csrf, "status": "selesai"})
    # Seen: the service's English, CLI-worded error was printed as it was.
    assert refused.status_code == 400 and "cannot go from" not in refused.text
    words = ui("staff_error.transition", reference=ref, current="baru", to="selesai", allowed="-")
    assert (
        words.split(" berstatus")[0] in refused.text and "tidak bisa langsung menjadi selesai" in refused.text
    )
