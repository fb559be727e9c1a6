"""/siaran and /pengingat in the Telegram staff group, end to end: real python-telegram-bot, fake Bot API.

A petugas composes a broadcast with buttons, sees who and how many it reaches, confirms, and exactly
the citizens of that kecamatan receive it, once; the one-line form and a scheduled broadcast; a
recurring reminder is made, fires at its WIB time, and is stopped; viewers and strangers are refused
and audited; a half-composed broadcast survives a restart of the service.
"""

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.channels.telegram.desk.drafts import Kind
from bot.channels.telegram.desk.lines import Line, LineError, parse_line
from bot.scheduler import OutreachScheduler
from handlers.i18n import Catalog
from handlers.places import Places
from handlers.segments import Segment
from tests.fake_telegram import FakeTelegram, Sent
from tests.outreach_support import Person, seed
from tests.support import Clock
from tests.test_telegram import PETUGAS, STAFF_CHAT, STRANGER, VIEWER, World, t, within, world

PLACES = Places.load()
PONDOK_AREN, SETU, PAMULANG = "36.74.03", "36.74.07", "36.74.06"
SITI, BUDI, RINA, JOKO, AGUS, DEWI = 7101, 7102, 7103, 7104, 7105, 7106
CITIZENS = (SITI, BUDI, RINA, JOKO, AGUS, DEWI)
STAFF_NAME = "Ani"


def person(user: int, name: str, kecamatan: str, minute: int, **extra: Any) -> Person:
    return Person(
        f"telegram:{user}",
        name,
        kecamatan=kecamatan,
        kelurahan=PLACES.kelurahan_of(kecamatan)[0].code,
        created_at=datetime(2026, 11, 1, 3, minute, tzinfo=UTC),  # the preview's sample follows this order
        **extra,
    )


PEOPLE = [
    person(SITI, "Siti Aminah", PONDOK_AREN, 1, skills=["montir"]),
    person(BUDI, "Budi Santoso", PONDOK_AREN, 2, skills=["masak"]),
    person(RINA, "Rina Wati", PONDOK_AREN, 3, skills=["montir"], opted_out=True),
    person(JOKO, "Joko Susilo", PONDOK_AREN, 4, unreachable=True),
    person(AGUS, "Agus Salim", SETU, 5, skills=["montir"], disaster_victim=True),
    person(DEWI, "Dewi Lestari", PAMULANG, 6, language="en"),
]


def audience(segment: str, count: int, names: list[str]) -> str:
    sample = t("staff.outreach.sample", names=", ".join(names)) if names else ""
    return t("staff.outreach.audience", segment=segment, count=count, sample=sample)


async def seeded(w: World) -> None:
    await w.service.db.write(lambda conn: seed(conn, PEOPLE))


async def command(w: World, user: int, text: str) -> list[Sent]:
    """A staff member writes in the group; what the bot posted because of it."""
    return await w.exchange(STAFF_CHAT, w.fake.group_text(STAFF_CHAT, user, text, STAFF_NAME))


async def reply(w: World, user: int, prompt: Sent, text: str) -> list[Sent]:
    """A staff member answers the bot's question (a reply to its prompt)."""
    return await w.exchange(
        STAFF_CHAT, w.fake.group_text(STAFF_CHAT, user, text, STAFF_NAME, reply_to=prompt)
    )


def data_of(message: Sent, label: str) -> str:
    found = [data for text, data in message.buttons if text == label]
    assert found, f"no button {label!r} in {message.buttons}"
    return found[0]


async def press(w: World, user: int, message: Sent, label: str) -> str | None:
    """Press a button by its label; the bot's short answer on the phone."""
    answer = await w.press(user, message, data_of(message, label), STAFF_NAME)
    return answer.get("text")


def received(w: World, user: int) -> list[str]:
    return [sent.text or "" for sent in w.fake.to(user)]


async def wait_received(w: World, users: list[int], count: int = 1) -> None:
    await within(w.fake.wait_for(lambda: all(len(w.fake.to(user)) >= count for user in users)))
    await asyncio.sleep(0.2)  # room for anything sent twice, or to the wrong people, to show up


def scheduler(w: World, clock: Clock) -> OutreachScheduler:
    return OutreachScheduler(
        w.service.db,
        Catalog.load(),
        w.settings.outreach,
        w.service.services.timezone,
        clock,
        on_queued=w.service.dispatcher.wake,
    )


def labels(message: Sent) -> list[str]:
    return [text for text, _ in message.buttons]


async def test_a_petugas_composes_a_broadcast_to_a_kecamatan_with_buttons(
    tmp_path: Path, clock: Clock
) -> None:
    async with world(tmp_path, clock) as w:
        await seeded(w)
        [panel] = await command(w, PETUGAS, "/siaran")
        # Nobody is chosen at first, and Lanjut does not take an empty choice for everyone.
        assert panel.text == "\n".join(
            [
                t("staff.outreach.title_siaran"),
                t("staff.outreach.audience_none"),
                t("staff.outreach.who_hint"),
            ]
        )
        assert await press(w, PETUGAS, panel, t("staff.outreach.btn.next")) == t("staff.outreach.choose_all")
        await press(w, PETUGAS, panel, t("staff.outreach.btn.all"))
        everyone = audience(t("staff.outreach.seg.all"), 4, ["Siti Aminah", "Budi Santoso", "Agus Salim"])
        assert everyone in (panel.text or "")
        assert t("staff.outreach.btn.kecamatan") in labels(panel)

        await press(w, PETUGAS, panel, t("staff.outreach.btn.kecamatan"))
        kecamatan = [p.name for p in PLACES.kecamatan]
        assert labels(panel) == [*kecamatan, t("staff.outreach.btn.back")]  # the same message, new buttons
        await press(w, PETUGAS, panel, "Pondok Aren")
        chosen = audience(
            t("staff.outreach.seg.kecamatan", names="Pondok Aren"), 2, ["Siti Aminah", "Budi Santoso"]
        )
        assert chosen in (panel.text or "")

        answer = await press(w, PETUGAS, panel, t("staff.outreach.btn.next"))
        assert answer == t("staff.reply_below")
        assert panel.buttons == []  # the panel keeps what was chosen, without buttons
        prompt = w.fake.to(STAFF_CHAT)[-1]
        assert prompt.text == t("staff.outreach.ask_text", name=STAFF_NAME, command="siaran")
        assert prompt.params["reply_markup"]["force_reply"] is True

        text = "Pelatihan montir minggu depan di Panti Tunas, yang berminat daftar ke petugas."
        [when] = await reply(w, PETUGAS, prompt, text)
        assert t("staff.outreach.when_siaran") in (when.text or "") and text in (when.text or "")
        await press(w, PETUGAS, when, t("staff.outreach.btn.now"))
        assert when.text is not None and when.text.startswith(t("staff.outreach.title_check_siaran"))
        assert (
            chosen in when.text
            and t("staff.outreach.line_time", when=t("staff.outreach.when_now")) in when.text
        )

        # An English version for those who chose English: asked for, then shown in a fresh preview.
        await press(w, PETUGAS, when, t("staff.outreach.btn.english"))
        prompt = w.fake.to(STAFF_CHAT)[-1]
        assert prompt.text == t("staff.outreach.ask_text_en", name=STAFF_NAME, command="siaran")
        english = "Mechanic training next week at Panti Tunas; tell a staff member if you want to join."
        [preview] = await reply(w, PETUGAS, prompt, english)
        assert t("staff.outreach.message_en", text=english) in (preview.text or "")

        kirim = data_of(preview, t("staff.outreach.btn.send"))
        assert await press(w, PETUGAS, preview, t("staff.outreach.btn.send")) == t(
            "staff.outreach.done_short"
        )
        assert (preview.text or "").startswith(t("staff.outreach.sending", id=1, count=2))
        assert await w.service.db.fetchval("SELECT text_en FROM broadcasts WHERE id = 1") == english
        await wait_received(w, [SITI, BUDI])
        assert received(w, SITI) == [text] and received(w, BUDI) == [text]
        assert all(received(w, user) == [] for user in (RINA, JOKO, AGUS, DEWI))

        # A second tap on Kirim sends nothing more.
        again = await w.press(PETUGAS, preview, kirim, STAFF_NAME)
        assert again["text"] == t("tg.button_old")
        assert await w.service.db.fetchval("SELECT COUNT(*) FROM broadcasts") == 1
        await asyncio.sleep(0.1)
        assert len(received(w, SITI)) == 1

        # Progress, for a viewer too; the broadcast is recorded under the petugas's name.
        [status] = await command(w, VIEWER, "/siaran status 1")
        assert t("staff.outreach.count.sent", n=2) in (status.text or "")
        assert t("staff.outreach.count.failed", n=0) in (status.text or "")
        creator = await w.service.db.fetchval("SELECT actor FROM audit_log WHERE action = 'broadcast.create'")
        assert creator == f"telegram:{PETUGAS}"


async def test_one_line_broadcasts_now_and_at_a_time(tmp_path: Path, clock: Clock) -> None:
    async with world(tmp_path, clock) as w:
        await seeded(w)
        text = "Pelatihan montir minggu depan, yang berminat daftar."
        [preview] = await command(w, PETUGAS, f"/siaran kecamatan=pd aren; keterampilan=montir | {text}")
        segment = "; ".join(
            [
                t("staff.outreach.seg.kecamatan", names="Pondok Aren"),
                t("staff.outreach.seg.skills", names=t("skill.montir")),
            ]
        )
        assert audience(segment, 1, ["Siti Aminah"]) in (preview.text or "")  # Rina opted out
        await press(w, PETUGAS, preview, t("staff.outreach.btn.send"))
        await wait_received(w, [SITI])
        assert received(w, SITI) == [text] and all(not received(w, u) for u in CITIZENS if u != SITI)

        # Something the bot cannot read is explained, with the usage.
        [error] = await command(w, PETUGAS, "/siaran kecamatan=atlantis | Halo semua")
        assert (error.text or "").startswith(
            t("staff.outreach.line_unknown_value", name="kecamatan", value="atlantis")
        )
        assert t("staff.outreach.usage_siaran") in (error.text or "")

        # At a time, with an English version: nothing goes out before it, then each in their language.
        indonesian, english = "Kantor Dinsos tutup besok siang.", "The Dinsos office closes tomorrow at noon."
        [preview] = await command(
            w, PETUGAS, f"/siaran semua; waktu=2026-11-21 09:00 | {indonesian} | {english}"
        )
        when = t("staff.outreach.when_at", time="21-11-2026 09:00")
        assert t("staff.outreach.line_time", when=when) in (preview.text or "")
        await press(w, PETUGAS, preview, t("staff.outreach.btn.send"))
        assert (preview.text or "").startswith(t("staff.outreach.scheduled", id=2, count=4, when=when))
        assert await w.service.db.fetchval("SELECT COUNT(*) FROM outbox WHERE broadcast_id = 2") == 0
        clock.now = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)  # 09:00 WIB
        await scheduler(w, clock).tick()
        await within(
            w.fake.wait_for(
                lambda: (
                    english in received(w, DEWI)
                    and all(indonesian in received(w, u) for u in (SITI, BUDI, AGUS))
                )
            )
        )
        await asyncio.sleep(0.2)
        assert received(w, DEWI) == [english] and received(w, BUDI) == [indonesian]
        assert received(w, SITI) == [text, indonesian]

        # A scheduled broadcast stopped from its progress message: nobody receives it.
        [preview] = await command(w, PETUGAS, "/siaran semua; waktu=2026-11-22 09:00 | Jangan dikirim.")
        await press(w, PETUGAS, preview, t("staff.outreach.btn.send"))
        await press(w, PETUGAS, preview, t("staff.outreach.btn.progress"))
        assert t("staff.outreach.bstatus.scheduled") in (preview.text or "")
        await press(w, PETUGAS, preview, t("staff.outreach.btn.stop"))
        assert preview.text == t("staff.outreach.stop_confirm", id=3)
        await press(w, PETUGAS, preview, t("staff.outreach.btn.stop_yes"))
        assert (preview.text or "").startswith(t("staff.outreach.stopped", id=3, count=0))
        assert await w.service.db.fetchval("SELECT status FROM broadcasts WHERE id = 3") == "cancelled"
        clock.now = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
        await scheduler(w, clock).tick()
        assert await w.service.db.fetchval("SELECT COUNT(*) FROM outbox WHERE broadcast_id = 3") == 0
        [missing] = await command(w, PETUGAS, "/siaran batal 99")
        assert missing.text == t("staff.outreach.not_found", id=99)
        [recent] = await command(w, VIEWER, "/siaran daftar")
        stopped = t(
            "staff.outreach.recent_line",
            id=3,
            status=t("staff.outreach.bstatus.cancelled"),
            time="22-11-2026 09:00",
            recipients=0,
            text="Jangan dikirim.",
        )
        assert (recent.text or "").split("\n")[1] == stopped  # newest first
        assert len((recent.text or "").split("\n")) == 4


async def test_a_recurring_reminder_is_made_fires_on_monday_and_is_stopped(
    tmp_path: Path, clock: Clock
) -> None:
    async with world(tmp_path, clock) as w:
        await seeded(w)
        [panel] = await command(w, PETUGAS, "/pengingat")
        assert (panel.text or "").startswith(t("staff.outreach.title_pengingat"))
        await press(w, PETUGAS, panel, t("staff.outreach.btn.kecamatan"))
        await press(w, PETUGAS, panel, "Setu")
        await press(w, PETUGAS, panel, t("staff.outreach.btn.next"))
        text = "Posyandu hari ini jam 9 di balai warga."
        [when] = await reply(w, PETUGAS, w.fake.to(STAFF_CHAT)[-1], text)
        assert labels(when) == [
            t("staff.outreach.btn.once"),
            t("staff.outreach.btn.daily"),
            t("staff.outreach.btn.weekly"),
            t("staff.outreach.btn.cron"),
            t("staff.outreach.btn.cancel"),
        ]
        await press(w, PETUGAS, when, t("staff.outreach.btn.cron"))
        prompt = w.fake.to(STAFF_CHAT)[-1]
        assert prompt.text == t("staff.outreach.ask_cron", name=STAFF_NAME, command="pengingat")
        [again] = await reply(w, PETUGAS, prompt, "tiap senin")  # not a schedule: asked again
        assert (again.text or "").startswith(t("staff.outreach.cron_bad"))
        assert again.params["reply_markup"]["force_reply"] is True
        [preview] = await reply(w, PETUGAS, again, "0 8 * * mon")
        schedule = t("staff.outreach.when_cron", cron="setiap Senin 08.00", time="23-11-2026 08:00")
        assert t("staff.outreach.line_schedule", when=schedule) in (preview.text or "")
        assert audience(t("staff.outreach.seg.kecamatan", names="Setu"), 1, ["Agus Salim"]) in (
            preview.text or ""
        )
        await press(w, PETUGAS, preview, t("staff.outreach.btn.save"))
        assert (preview.text or "").startswith(t("staff.outreach.saved", id=1, when=schedule))
        row = await w.service.db.fetchone("SELECT kind, cron, due_at, created_by FROM reminders WHERE id = 1")
        assert row is not None
        assert tuple(row) == ("recurring", "0 8 * * mon", "2026-11-23T01:00:00+00:00", f"telegram:{PETUGAS}")

        # Monday 08:00 WIB: the people of Setu are reminded; a tick a minute earlier sends nothing.
        clock.now = datetime(2026, 11, 23, 0, 59, tzinfo=UTC)
        await scheduler(w, clock).tick()
        clock.now += timedelta(minutes=1)
        await scheduler(w, clock).tick()
        await wait_received(w, [AGUS])
        assert received(w, AGUS) == [text] and all(not received(w, u) for u in CITIZENS if u != AGUS)

        # The list is for every staff member to read; stopping is for admin and petugas.
        [listing] = await command(w, VIEWER, "/pengingat daftar")
        assert t("staff.outreach.btn.stop_reminder", id=1) in labels(listing)
        assert "setiap Senin 08.00" in (listing.text or "") and text in (listing.text or "")
        refusal = await press(w, VIEWER, listing, t("staff.outreach.btn.stop_reminder", id=1))
        assert refusal == t("staff.refused_viewer")
        await press(w, PETUGAS, listing, t("staff.outreach.btn.stop_reminder", id=1))
        await press(w, PETUGAS, listing, t("staff.outreach.btn.stop_yes"))
        assert listing.text == "\n".join(
            [t("staff.outreach.reminder_stopped", id=1), t("staff.outreach.reminders_empty")]
        )
        assert await w.service.db.fetchval("SELECT status FROM reminders WHERE id = 1") == "cancelled"
        stopper = await w.service.db.fetchval("SELECT actor FROM audit_log WHERE action = 'reminder.cancel'")
        assert stopper == f"telegram:{PETUGAS}"
        clock.now = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # next Monday: nothing more
        await scheduler(w, clock).tick()
        await asyncio.sleep(0.2)
        assert received(w, AGUS) == [text]

        # The one-line form, and stopping by number.
        [error] = await command(w, PETUGAS, "/pengingat korban bencana | Cek bantuan di posko.")
        assert (error.text or "").startswith(t("staff.outreach.line_when"))
        [preview] = await command(
            w, PETUGAS, "/pengingat jadwal=0 7 * * *; korban bencana | Cek bantuan di posko."
        )
        assert audience(t("staff.outreach.seg.victim"), 1, ["Agus Salim"]) in (preview.text or "")
        await press(w, PETUGAS, preview, t("staff.outreach.btn.save"))
        assert await w.service.db.fetchval("SELECT cron FROM reminders WHERE id = 2") == "0 7 * * *"
        [stopped] = await command(w, PETUGAS, "/pengingat batal 2")
        assert stopped.text == t("staff.outreach.reminder_stopped", id=2)
        assert await w.service.db.fetchval("SELECT status FROM reminders WHERE id = 2") == "cancelled"


async def test_viewers_and_strangers_are_refused_and_audited(tmp_path: Path, clock: Clock) -> None:
    async with world(tmp_path, clock) as w:
        await seeded(w)
        for user, text, refusal in (
            (VIEWER, "/siaran", "staff.refused_viewer"),
            (STRANGER, "/siaran", "staff.refused"),
            (VIEWER, "/siaran kecamatan=setu | Halo warga Setu", "staff.refused_viewer"),
            (STRANGER, "/pengingat daftar", "staff.refused"),
            (VIEWER, "/pengingat batal 1", "staff.refused_viewer"),
        ):
            assert [s.text for s in await command(w, user, text)] == [t(refusal)], text
        # A viewer may read progress (a read), here of a broadcast that does not exist.
        [status] = await command(w, VIEWER, "/siaran status 1")
        assert status.text == t("staff.outreach.not_found", id=1)

        # Buttons and replies of a petugas's draft: refused for others, and the draft is unchanged.
        [panel] = await command(w, PETUGAS, "/siaran")
        before = (panel.text, panel.buttons)
        assert await press(w, VIEWER, panel, t("staff.outreach.btn.kecamatan")) == t("staff.refused_viewer")
        assert await press(w, STRANGER, panel, t("staff.outreach.btn.next")) == t("staff.refused")
        assert (panel.text, panel.buttons) == before
        await press(w, PETUGAS, panel, t("staff.outreach.btn.all"))
        await press(w, PETUGAS, panel, t("staff.outreach.btn.next"))
        prompt = w.fake.to(STAFF_CHAT)[-1]
        assert [s.text for s in await reply(w, STRANGER, prompt, "Kirim ini ke semua")] == [
            t("staff.refused")
        ]
        assert [s.text for s in await reply(w, VIEWER, prompt, "Kirim ini juga")] == [
            t("staff.refused_viewer")
        ]
        [when] = await reply(w, PETUGAS, prompt, "Pesan dari petugas yang benar.")
        assert "Pesan dari petugas yang benar." in (when.text or "")

        refusals = await w.service.db.fetchall(
            "SELECT actor, target, detail FROM audit_log WHERE action = 'telegram.refused' ORDER BY id"
        )
        assert [tuple(r) for r in refusals] == [
            (f"telegram:{VIEWER}", "/siaran", "command"),
            (f"telegram:{STRANGER}", "/siaran", "command"),
            (f"telegram:{VIEWER}", "/siaran", "one-line"),
            (f"telegram:{STRANGER}", "/pengingat", "command"),
            (f"telegram:{VIEWER}", "/pengingat", "batal"),
            (f"telegram:{VIEWER}", "/siaran", "button k"),
            (f"telegram:{STRANGER}", "/siaran", "button n"),
            (f"telegram:{STRANGER}", "/siaran", "reply"),
            (f"telegram:{VIEWER}", "/siaran", "reply"),
        ]
        assert await w.service.db.fetchval("SELECT COUNT(*) FROM broadcasts") == 0
        assert await w.service.db.fetchval("SELECT COUNT(*) FROM outbox") == 0

        # A draft left alone for more than a day is not picked up again.
        await press(w, PETUGAS, when, t("staff.outreach.btn.later"))
        prompt = w.fake.to(STAFF_CHAT)[-1]
        assert prompt.text == t(
            "staff.outreach.ask_time", name=STAFF_NAME, command="siaran", example="2026-11-21 09:00"
        )
        clock.advance(hours=25)
        assert [s.text for s in await reply(w, PETUGAS, prompt, "2026-11-22 09:00")] == [
            t("staff.outreach.expired")
        ]
        assert await w.service.db.fetchval("SELECT COUNT(*) FROM broadcasts") == 0


async def test_a_half_composed_broadcast_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    async with FakeTelegram() as fake:
        async with world(tmp_path, clock, fake=fake) as w:
            await seeded(w)
            [panel] = await command(w, PETUGAS, "/siaran")
            old_button = data_of(panel, t("staff.outreach.btn.kecamatan"))
            await press(w, PETUGAS, panel, t("staff.outreach.btn.kecamatan"))
            await press(w, PETUGAS, panel, "Pondok Aren")
            await press(w, PETUGAS, panel, t("staff.outreach.btn.next"))
            prompt = fake.to(STAFF_CHAT)[-1]
        async with world(tmp_path, clock, fake=fake) as w:
            # An older step's button does nothing; the answer to the question asked before the restart counts.
            assert (await w.press(PETUGAS, panel, old_button, STAFF_NAME))["text"] == t("tg.button_old")
            text = "Besok jam 9 bawa KK ke kantor Dinsos."
            [when] = await reply(w, PETUGAS, prompt, text)
            # /siaran shows where things stand again; the older panel's buttons stop working.
            [resumed] = await command(w, PETUGAS, "/siaran")
            assert (resumed.text or "").startswith(t("staff.outreach.resume"))
            assert await press(w, PETUGAS, when, t("staff.outreach.btn.now")) == t("tg.button_old")
            await press(w, PETUGAS, resumed, t("staff.outreach.btn.now"))
            chosen = audience(
                t("staff.outreach.seg.kecamatan", names="Pondok Aren"), 2, ["Siti Aminah", "Budi Santoso"]
            )
            assert chosen in (resumed.text or "") and text in (resumed.text or "")
            await press(w, PETUGAS, resumed, t("staff.outreach.btn.send"))
            await wait_received(w, [SITI, BUDI])
            assert received(w, SITI) == [text] and received(w, BUDI) == [text]
            assert all(not received(w, user) for user in (RINA, JOKO, AGUS, DEWI))


def parse(args: str, kind: Kind = "siaran") -> Line:
    return parse_line(
        args,
        kind=kind,
        places=PLACES,
        catalog=Catalog.load(),
        t=t,
        tz=ZoneInfo("Asia/Jakarta"),
        now=datetime(2026, 11, 20, 2, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("args", "segment"),
    [
        ("semua | Halo semua", Segment(everyone=True)),
        ("kec=pd aren, setu | Halo", Segment(kecamatan=[PONDOK_AREN, SETU])),
        ("kelurahan=jurang mangu timur | Halo", Segment(kelurahan=["36.74.03.1011"])),
        ("keterampilan=servis hp, bengkel | Halo", Segment(skills=["service_hp", "montir"])),
        (
            "jenis kasus=ktp hilang; status=perlu info | Halo",
            Segment(case_kinds=["lost_ktp"], case_statuses=["perlu_info"]),
        ),
        ("korban bencana; bahasa=inggris | Halo", Segment(disaster_victim=True, language="en")),
        ("korban=tidak | Halo", Segment(disaster_victim=False)),
        (
            "dari=2026-11-01; sampai=2026-11-30 | Halo",
            Segment(registered_from=date(2026, 11, 1), registered_to=date(2026, 11, 30)),
        ),
    ],
)
def test_the_one_line_filters(args: str, segment: Segment) -> None:
    line = parse(args)
    assert line.segment == segment
    assert line.text == args.split("|")[1].strip() and line.text_en is None


def test_the_one_line_times_and_versions() -> None:
    line = parse("semua; waktu=2026-11-21 09:00; template=pengumuman | Teks | English text")
    assert line.send_at == datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    assert (line.text, line.text_en, line.template) == ("Teks", "English text", "pengumuman")
    assert parse("semua; jadwal=0  8 * * mon | Posyandu", "pengingat").cron == "0 8 * * mon"
    refused: list[tuple[str, Kind, str]] = [
        ("kecamatan=pondok aren", "siaran", t("staff.outreach.line_no_text")),
        # An empty filter list used to mean everyone; "semua" must be written.
        ("| Halo semua", "siaran", t("staff.outreach.line_choose_all")),
        ("waktu=2026-11-21 09:00 | Halo semua", "pengingat", t("staff.outreach.line_choose_all")),
        ("warna=merah | Halo", "siaran", t("staff.outreach.line_unknown_filter", name="warna")),
        ("jadwal=0 8 * * mon | Halo", "siaran", t("staff.outreach.line_unknown_filter", name="jadwal")),
        ("template=x | Halo", "pengingat", t("staff.outreach.line_unknown_filter", name="template")),
        (
            "keterampilan=terbang | Halo",
            "siaran",
            t("staff.outreach.line_unknown_value", name="keterampilan", value="terbang"),
        ),
        ("dari=kemarin | Halo", "siaran", t("staff.outreach.line_date", value="kemarin")),
        ("waktu=besok | Halo", "siaran", t("staff.outreach.time_format", example="2026-11-21 09:00")),
        (
            "waktu=2026-11-19 09:00 | Halo",
            "siaran",
            t("staff.outreach.time_past", example="2026-11-21 09:00"),
        ),
        ("jadwal=tiap senin | Halo", "pengingat", t("staff.outreach.cron_bad")),
        ("kecamatan=setu | Halo", "pengingat", t("staff.outreach.line_when")),
        ("waktu=2026-11-21 09:00; jadwal=0 8 * * * | Halo", "pengingat", t("staff.outreach.line_when")),
        (f"| {'x' * 1501}", "siaran", t("staff.outreach.text_long", length=1501, limit=1500)),
    ]
    for args, kind, error in refused:
        with pytest.raises(LineError) as raised:
            parse(args, kind)
        assert str(raised.value) == error, args
