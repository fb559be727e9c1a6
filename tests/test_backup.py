"""`python -m bot backup` while the service writes, `restore` elsewhere, and the nightly backup."""

import asyncio
import contextlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime, time
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import DB_FILE_NAME
from bot.media import MediaStore
from bot.nightly_backup import next_backup_at, nightly_backup
from bot.settings import BackupSettings
from storage.crypto import Sealed, Sealer, parse_key
from tests.dashboard_support import SeedCase, seed_cases
from tests.support import TEST_KEY, Clock, start_service

WIB = ZoneInfo("Asia/Jakarta")


async def bot(*argv: str, key: str | None = TEST_KEY) -> tuple[int, str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DINSOS_")}
    if key is not None:
        environ["DINSOS_SECRET_KEY"] = key
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *argv, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def cases_of(data_dir: Path) -> dict[str, tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(data_dir / DB_FILE_NAME)) as conn:
        return {
            r[0]: (r[1], r[2])
            for r in conn.execute(
                "SELECT c.reference, c.answers, p.full_name FROM cases c JOIN persons p ON p.id = c.person_id"
            )
        }


async def test_backup_while_writing_restores_elsewhere_with_the_same_cases(tmp_path: Path) -> None:
    data = tmp_path / "data"
    service, _ = await start_service(data, Clock())
    sealer = Sealer(parse_key(TEST_KEY, "test"))
    media = MediaStore(data)
    photo = media.save(b"\xff\xd8 a photo of a KTP", mime="image/jpeg", at=datetime(2026, 11, 20, tzinfo=UTC))
    stop = asyncio.Event()

    async def load() -> int:
        written = 0
        while not stop.is_set() or written < 400:
            batch = [
                SeedCase(name=f"Warga {written + i}", nik=f"36740115079{written + i:05d}") for i in range(20)
            ]
            await service.db.write(partial(seed_cases, cases=batch, sealer=sealer))
            written += len(batch)
        return written

    writer = asyncio.create_task(load())
    await asyncio.sleep(0.3)
    archive = tmp_path / "backups" / "now.tar.gz"
    code, out, err = await bot("--data-dir", str(data), "backup", str(archive))
    stop.set()
    written = await writer
    await service.close()
    assert code == 0, err
    assert "not in it" in out  # the key's role is said
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600

    elsewhere = tmp_path / "restored" / "data"
    code, out, err = await bot("restore", str(archive), "--data-dir", str(elsewhere))
    assert code == 0, err
    assert "opens this backup" in out
    restored, source = cases_of(elsewhere), cases_of(data)
    assert 0 < len(restored) <= written
    assert all(source[ref] == row for ref, row in restored.items())  # the same cases, byte for byte
    for answers, _ in restored.values():
        nik = sealer.open(Sealed.model_validate(json.loads(answers)["nik"]))
        assert nik.startswith("36740115079")
    assert (elsewhere / photo).read_bytes() == (data / photo).read_bytes()
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o700
    # The restored store starts and shows its cases.
    code, out, err = await bot("--data-dir", str(elsewhere), "staff", "list", "--limit", "1")
    assert code == 0, err


async def test_restore_refuses_a_directory_in_use_and_a_wrong_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    service, _ = await start_service(data, Clock())
    await service.db.write(
        partial(
            seed_cases,
            cases=[SeedCase(name="Siti", nik="3674011507900001")],
            sealer=Sealer(parse_key(TEST_KEY, "t")),
        )
    )
    await service.close()
    archive = tmp_path / "b.tar.gz"
    assert (await bot("--data-dir", str(data), "backup", str(archive)))[0] == 0
    code, _, err = await bot("restore", str(archive), "--data-dir", str(data))
    assert code != 0 and "not empty" in err and "Traceback" not in err
    other = tmp_path / "other"
    code, _, err = await bot("restore", str(archive), "--data-dir", str(other), key=None)
    assert code == 0, err
    wrong = Sealer(os.urandom(32))
    assert wrong.check_value not in err
    (other / "secret.key").write_text("x" * 50 + "\n")
    code, _, err = await bot("--data-dir", str(other), "staff", "list", key=None)
    assert code != 0 and "Traceback" not in err
    code, _, err = await bot("restore", str(tmp_path / "missing.tar.gz"), "--data-dir", str(tmp_path / "x"))
    assert code != 0 and "not a backup" in err


def test_the_nightly_backup_runs_at_its_time_and_keeps_the_newest(tmp_path: Path) -> None:
    settings = BackupSettings(dir=tmp_path / "backups", daily_at=time(2, 0), keep=3)
    assert next_backup_at(datetime(2026, 11, 20, 18, 0, tzinfo=UTC), settings, WIB) == datetime(
        2026, 11, 21, 2, 0, tzinfo=WIB
    )  # 01:00 WIB -> 02:00 the same night
    assert next_backup_at(datetime(2026, 11, 20, 19, 30, tzinfo=UTC), settings, WIB) == datetime(
        2026, 11, 22, 2, 0, tzinfo=WIB
    )  # 02:30 WIB -> the next night
    data = tmp_path / "data"
    data.mkdir()
    with contextlib.closing(sqlite3.connect(data / DB_FILE_NAME)) as conn:
        conn.execute("CREATE TABLE cases (id INTEGER)")
    for day in range(1, 6):
        nightly_backup(data, settings, datetime(2026, 11, day, 19, 0, tzinfo=UTC))
    kept = sorted(p.name for p in settings.dir.iterdir())
    assert kept == [f"dinsos-202611{day:02d}-190000.tar.gz" for day in (3, 4, 5)]


def test_keep_zero_turns_the_nightly_backup_off(tmp_path: Path) -> None:
    settings = BackupSettings(dir=tmp_path / "b", keep=0)

    async def run() -> None:
        from bot.nightly_backup import run_nightly_backups

        await asyncio.wait_for(
            run_nightly_backups(tmp_path, settings, WIB, lambda: datetime.now(UTC), asyncio.Event()), 2
        )

    asyncio.run(run())
    assert not settings.dir.exists()
