"""Staff commands for segments, broadcasts, reminders, appointments and programmes."""

import csv
import io
import json
from functools import partial
from pathlib import Path

from bot import staff_cli
from bot.__main__ import _parser
from bot.app import Service
from tests.outreach_support import Person, seed
from tests.support import Chat, make_settings


async def staff(data_dir: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    args = _parser().parse_args(["--data-dir", str(data_dir), "staff", "--as", "rina", *argv])
    code = await staff_cli.run(args, make_settings(data_dir), out=out)
    return code, out.getvalue()


async def test_broadcast_preview_send_status_and_cancel(service: Service, tmp_path: Path) -> None:
    data = tmp_path / "data"
    await service.db.write(
        partial(
            seed,
            people=[
                Person("console:a", "Ani", skills=["masak"]),
                Person(
                    "console:b", "Budi", kecamatan="36.74.06", kelurahan="36.74.06.1001", skills=["montir"]
                ),
            ],
        )
    )
    code, text = await staff(data, "segment", "--kecamatan", "pd aren")
    assert code == 0 and "Penerima: 1" in text and "Ani" in text
    code, text = await staff(data, "broadcast", "send", "--text", "Besok jam 9 bawa KK.", "--skill", "montir")
    assert code == 0 and "Belum dikirim" in text
    assert await service.db.fetchval("SELECT COUNT(*) FROM broadcasts") == 0
    code, text = await staff(
        data,
        "broadcast",
        "send",
        "--text",
        "Besok jam 9 bawa KK.",
        "--skill",
        "montir",
        "--at",
        "2099-01-05 09:00",
        "--yes",
    )
    assert code == 0 and "dijadwalkan" in text
    code, text = await staff(data, "broadcast", "status", "1")
    progress = json.loads(text)
    assert progress["status"] == "scheduled" and progress["segment"]["skills"] == ["montir"]
    code, text = await staff(data, "broadcast", "cancel", "1")
    assert code == 0 and "dihentikan" in text
    code, _ = await staff(data, "broadcast", "cancel", "1")
    assert code == 2
    code, _ = await staff(data, "broadcast", "send", "--text", "x", "--kecamatan", "atlantis", "--yes")
    assert code == 2
    assert await service.db.fetchval("SELECT COUNT(*) FROM audit_log WHERE actor = 'staff:rina'") == 2


async def test_reminder_appointment_and_programme_commands(
    chat: Chat, service: Service, tmp_path: Path
) -> None:
    from tests.flow_steps import agree, t

    data = tmp_path / "data"
    await agree(chat)
    await chat.tap(t("menu.talk"))
    await chat.say("Kapan saya bisa ambil KTP?")
    code, text = await staff(
        data, "reminder", "add", "--text", "Posyandu hari Senin", "--cron", "0 8 * * mon", "--everyone"
    )
    assert code == 0 and "WIB" in text
    code, text = await staff(data, "reminder", "add", "--text", "x", "--cron", "tiap senin", "--everyone")
    assert code == 2
    code, text = await staff(data, "reminder", "list")
    assert "Posyandu" in text and "setiap Senin 08.00" in text
    code, text = await staff(
        data,
        "appointment",
        "PSN-2026-000001",
        "--at",
        "2099-01-05 09:00",
        "--place",
        "Kantor Dinsos",
        "--note",
        "Bawa fotokopi KK",
    )
    assert code == 0
    told = await service.db.fetchval("SELECT payload FROM outbox WHERE origin = 'staff'")
    assert "05-01-2099" in told and "Kantor Dinsos" in told and "Bawa fotokopi KK" in told
    assert await service.db.fetchval("SELECT COUNT(*) FROM reminders WHERE kind LIKE 'appointment%'") == 2
    code, text = await staff(
        data, "appointment", "PSN-2026-000001", "--at", "2001-01-05 09:00", "--place", "X"
    )
    assert code == 2
    code, text = await staff(
        data,
        "programme",
        "create",
        "--name",
        "Pelatihan service HP",
        "--skill",
        "service_hp",
        "--place",
        "Panti Tunas Sosial",
        "--start",
        "2099-02-01 08:00",
        "--end",
        "2099-02-03 16:00",
        "--quota",
        "10",
    )
    assert code == 0
    code, text = await staff(data, "programme", "invite", "1", "--case-kind", "message", "--yes")
    assert code == 0 and "1 undangan" in text
    await chat.choose("rsvp:1:yes")  # the button of the invitation
    code, text = await staff(data, "programme", "list")
    assert "ikut 1/10" in text
    out = tmp_path / "peserta.csv"
    code, text = await staff(data, "programme", "export", "1", "--out", str(out))
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[0] == ["no", "status", "name", "phone", "answered_at_wib"]
    assert rows[1][1] == "confirmed"
