"""Who a broadcast, reminder or invitation reaches, built once in the staff service from what staff gave:
the command line and the dashboard build the same segment from the same input and say it in the same
words (Indonesian and English); a value that names nothing is refused (it used to be dropped, widening
the segment); a segment without filters exists only when "semua warga" was chosen explicitly."""

import html
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import staff_cli, staff_outreach
from bot.__main__ import _parser
from bot.channels.telegram.desk.lines import parse_line
from bot.dashboard.app import LANG_COOKIE
from handlers import outreach
from handlers.i18n import Catalog
from handlers.places import Places
from handlers.segments import Segment
from handlers.staff.compose import describe_segment
from handlers.staff.errors import StaffError
from handlers.staff.segments import SegmentInput, build_segment, picked, toggled
from storage.contract import Tx
from storage.records import CaseKind, CaseStatus
from tests.dashboard_support import Desk, SeedCase, open_desk
from tests.support import Clock, make_settings

CATALOG = Catalog.load()
PLACES = Places.load()
UI = Catalog.load(Path(__file__).resolve().parent.parent / "bot" / "dashboard" / "locales")
PONDOK_AREN = "36.74.03"
SETU = "36.74.04"


def build(**given: object) -> Segment:
    return build_segment(SegmentInput(**given), places=PLACES, catalog=CATALOG)  # type: ignore[arg-type]


def words(segment: Segment, lang: str) -> str:
    return describe_segment(segment, CATALOG, lang, PLACES)


@pytest.fixture
async def desk(tmp_path: Path, clock: Clock) -> AsyncIterator[Desk]:
    async with open_desk(tmp_path / "data", clock) as opened:
        await opened.seed(SeedCase("Ani Lestari", skills=["montir"]))
        yield opened


async def cli(desk: Desk, *argv: str, lang: str = "id") -> tuple[int, str]:
    args = _parser().parse_args(
        ["--data-dir", str(desk.data_dir), "staff", "--as", "rina", "--lang", lang, *argv]
    )
    out = io.StringIO()
    code = await staff_cli.run(args, make_settings(desk.data_dir), out=out)
    return code, out.getvalue()


def test_names_codes_typos_and_both_languages_build_the_same_segment() -> None:
    expected = Segment(
        kecamatan=[PONDOK_AREN],
        skills=["montir"],
        case_kinds=[CaseKind.LOST_KTP],
        case_statuses=[CaseStatus.PERLU_INFO],
        disaster_victim=True,
        registered_from=date(2026, 8, 17),
        language="id",
    )
    typed = build(
        kecamatan=["pd aren"],
        skills=["Montir"],
        kinds=["ktp hilang"],
        statuses=["perlu info"],
        disaster_victim="ya",
        registered_from="17-08-2026",
        language="indonesia",
    )
    coded = build(
        kecamatan=[PONDOK_AREN, "Pondok Aren"],  # the same place twice is one filter value
        skills=["montir"],
        kinds=["lost_ktp"],
        statuses=["perlu_info"],
        disaster_victim=True,
        registered_from="2026-08-17",
        language="id",
    )
    assert typed == coded == expected
    assert words(expected, "id").startswith("kecamatan Pondok Aren; keterampilan ")
    assert "17-08-2026" in words(expected, "id") and "korban kebakaran atau bencana" in words(expected, "id")
    assert words(expected, "en") != words(expected, "id") and "Pondok Aren" in words(expected, "en")


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ({"kecamatan": ["atlantis"]}, "segment_unknown"),
        ({"kecamatan": ["pd aren"], "skills": ["astronot"]}, "segment_unknown"),
        ({"kinds": ["pajak"], "everyone": True}, "segment_unknown"),
        ({"disaster_victim": "mungkin", "skills": ["montir"]}, "segment_unknown"),
        ({"registered_from": "32-13-2026", "skills": ["montir"]}, "segment_date"),
        ({"registered_from": "01-09-2026", "registered_to": "01-08-2026"}, "segment_dates"),
        ({}, "needs_everyone"),
        ({"kecamatan": [" ", ""]}, "needs_everyone"),  # blanks are no filter
    ],
)
def test_what_names_nothing_is_refused_with_a_code(given: dict[str, object], code: str) -> None:
    with pytest.raises(StaffError) as refused:
        build(**given)
    assert refused.value.code == code


def test_semua_warga_is_chosen_explicitly_and_filters_narrow_it() -> None:
    assert build(everyone=True) == Segment(everyone=True)
    assert words(build(everyone=True), "id") == CATALOG.text("id", "staff.outreach.seg.all")
    assert build(everyone=True, skills=["montir"]) == Segment(skills=["montir"])  # the filter wins
    preview = build_segment(SegmentInput(), places=PLACES, catalog=CATALOG, require_chosen=False)
    assert not preview.chosen()  # a form being filled in: nothing chosen yet, nobody reached


def test_the_telegram_buttons_pick_and_drop_a_value_through_the_builder() -> None:
    everyone = Segment(everyone=True)
    one = toggled(everyone, "kecamatan", SETU, places=PLACES, catalog=CATALOG)
    assert one == Segment(kecamatan=[SETU]) and picked(one, "kecamatan") == [SETU]
    two = toggled(one, "skill", "montir", places=PLACES, catalog=CATALOG)
    assert picked(two, "skill") == ["montir"] and picked(two, "kecamatan") == [SETU]
    dropped = toggled(
        toggled(two, "skill", "montir", places=PLACES, catalog=CATALOG),
        "kecamatan",
        SETU,
        places=PLACES,
        catalog=CATALOG,
    )
    assert not dropped.chosen()  # nothing left: not "everyone" again by itself
    assert picked(toggled(dropped, "kind", "aid", places=PLACES, catalog=CATALOG), "kind") == ["aid"]


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_the_command_line_and_the_dashboard_build_and_say_the_same_segment(
    desk: Desk, lang: str
) -> None:
    expected = Segment(kecamatan=[PONDOK_AREN], skills=["montir"], disaster_victim=False)
    args = _parser().parse_args(
        ["staff", "segment", "--kecamatan", "pondok aren", "--skill", "montir", "--not-disaster-victim"]
    )
    assert staff_outreach.segment_from_args(args, PLACES, CATALOG) == expected
    # The Telegram staff group's one-line form, written as an officer types it (a typo, words in English).
    line = parse_line(
        "kecamatan=pondok arem; keterampilan=mechanic; korban=tidak | Pelatihan montir",
        kind="siaran",
        places=PLACES,
        catalog=CATALOG,
        t=partial(CATALOG.text, lang),
        tz=ZoneInfo("Asia/Jakarta"),
        now=datetime(2026, 11, 20, 2, 0, tzinfo=UTC),
    )
    assert line.segment == expected
    code, printed = await cli(
        desk, "segment", "--kecamatan", "pondok aren", "--skill", "montir", "--not-disaster-victim", lang=lang
    )
    assert code == 0 and f"Segmen: {words(expected, lang)}\n" in printed

    await desk.signed_in("petugas", "siti")
    desk.client.cookies.set(LANG_COOKIE, lang)
    preview = await desk.client.get(
        "/segments/preview",
        params={"seg_kecamatan": PONDOK_AREN, "seg_skill": "montir", "seg_disaster": "no"},
    )
    assert preview.status_code == 200
    assert html.escape(words(expected, lang)) in preview.text


async def test_an_unknown_value_is_refused_on_both_surfaces_not_dropped(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    # Seen: the dashboard left an unknown kecamatan out, and "montir in X" became every montir.
    capsys.readouterr()
    code, _ = await cli(
        desk, "broadcast", "send", "--text", "Halo", "--kecamatan", "atlantis", "--skill", "montir"
    )
    assert code == 2
    assert UI.text("id", "cli.segment_unknown", value="atlantis") in capsys.readouterr().err
    csrf = await desk.signed_in("petugas", "siti")
    sent = await desk.client.post(
        "/broadcasts",
        data={
            "csrf_token": csrf,
            "text_id": "Halo",
            "when": "now",
            "seg_kecamatan": "99.99",
            "seg_skill": "montir",
        },
    )
    assert sent.status_code == 400
    assert html.escape(UI.text("id", "staff_error.segment_unknown", value="99.99")) in sent.text
    assert await desk.rows("SELECT id FROM broadcasts") == []


async def test_a_reminder_without_recipients_needs_semua_warga(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code, _ = await cli(desk, "reminder", "add", "--text", "Posyandu", "--cron", "0 8 * * mon")
    assert code == 2 and UI.text("id", "cli.needs_everyone") in capsys.readouterr().err
    csrf = await desk.signed_in("petugas", "siti")
    form = {"csrf_token": csrf, "text_id": "Posyandu", "repeat": "weekly", "weekday": "mon", "time": "08:00"}
    refused = await desk.client.post("/reminders", data=form)
    assert (
        refused.status_code == 400 and html.escape(UI.text("id", "segment.choose_everyone")) in refused.text
    )
    assert await desk.rows("SELECT id FROM reminders WHERE kind = 'recurring'") == []
    made = await desk.client.post("/reminders", data={**form, "seg_everyone": "yes"})
    assert made.status_code == 303
    code, _ = await cli(desk, "reminder", "add", "--text", "Posyandu", "--cron", "0 8 * * mon", "--everyone")
    assert code == 0
    assert len(await desk.rows("SELECT id FROM reminders WHERE kind = 'recurring'")) == 2


async def test_the_reminder_write_itself_refuses_a_segment_nobody_chose(desk: Desk) -> None:
    def remind(tx: Tx, segment: Segment) -> int:
        return outreach.create_reminder(
            tx,
            segment=segment,
            text_id="Posyandu",
            text_en=None,
            due_at=None,
            cron="0 8 * * mon",
            actor="staff:rina",
            at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC),
            tz=ZoneInfo("Asia/Jakarta"),
        )

    with pytest.raises(StaffError) as refused:
        await desk.service.db.write(partial(remind, segment=Segment()))
    assert refused.value.code == "needs_everyone"
    assert await desk.service.db.write(partial(remind, segment=Segment(everyone=True))) > 0
