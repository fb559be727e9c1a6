"""Moving an office's SQLite store to PostgreSQL (`python -m bot migrate-store --to URL`): everything is
copied with its ids, sealed numbers open with the same key, row counts are checked, and a database that
is not empty is refused."""

import io
import os
import subprocess
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from bot import staff_cli
from bot.__main__ import _parser
from bot.dashboard.accounts import create_user
from storage import repo
from tests import pg
from tests.flow_steps import KK, NIK, agree, register
from tests.support import TEST_KEY, Chat, Clock, make_settings, start_service

AT = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def bot(data_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot ...` as the operator runs it, with the store's key in the environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DINSOS_")}
    environ["DINSOS_SECRET_KEY"] = TEST_KEY
    return subprocess.run(
        [sys.executable, "-m", "bot", "--data-dir", str(data_dir), *argv],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=False,
    )


async def staff(data_dir: Path, *argv: str) -> str:
    out = io.StringIO()
    args = _parser().parse_args(["--data-dir", str(data_dir), "staff", "--as", "rina", *argv])
    assert await staff_cli.run(args, make_settings(data_dir), out=out) == 0, out.getvalue()
    return out.getvalue()


async def test_an_office_store_moves_to_postgresql_and_reads_the_same(
    tmp_path: Path, clock: Clock, postgres_cluster: pg.Cluster
) -> None:
    data = tmp_path / "data"
    service, channel = await start_service(data, clock)
    chat = Chat(service, channel, clock, name="siti")
    await agree(chat)
    first = await register(chat, name="Siti Aminah", nik=NIK)
    worker = Chat(service, channel, clock, name="pendamping")
    await agree(worker)
    second = await register(worker, name="Budi Santoso", self_=False)
    await service.db.write(
        partial(
            create_user,
            username="rina",
            display_name="Rina",
            role="petugas",
            password_hash="argon2-hash",
            actor="test",
            at=AT,
        )
    )
    await service.close()
    await staff(data, "set-status", first, "perlu_info", "--note", f"Mohon kirim foto KK {KK[:4]}")
    await staff(data, "reply", second, "--text", "Data Bapak sudah kami terima.")

    service, channel = await start_service(data, clock)
    before_cases = [await repo.get_case(service.db, ref) for ref in (first, second)]
    before_persons = await repo.persons_of_contact(service.db, chat.contact)
    before_thread = [
        dict(row) for row in await service.db.fetchall("SELECT * FROM case_messages ORDER BY id")
    ]
    await service.close()
    assert before_thread, "the staff reply and the question are thread lines"

    url = postgres_cluster.create()  # an empty database, as the operator creates it
    moved = bot(data, "migrate-store", "--to", url)
    assert moved.returncode == 0, moved.stderr
    for table, count in [
        ("cases", 2),
        ("persons", 2),
        ("staff_users", 1),
        ("case_messages", len(before_thread)),
    ]:
        assert any(line.split() == [table, str(count)] for line in moved.stdout.splitlines()), moved.stdout
    assert "every table's row count checked" in moved.stdout
    assert "postgres@127.0.0.1" in moved.stdout

    # The same cases and persons through the app on PostgreSQL, the NIK opened with the same key.
    service, channel = await start_service(data, clock, database_url=url)
    try:
        assert [await repo.get_case(service.db, ref) for ref in (first, second)] == before_cases
        persons = await repo.persons_of_contact(service.db, chat.contact)
        assert persons == before_persons
        assert persons[0].nik is not None and service.services.sealer.open(persons[0].nik) == NIK
        after_thread = [
            dict(row) for row in await service.db.fetchall("SELECT * FROM case_messages ORDER BY id")
        ]
        assert after_thread == before_thread
        # New rows continue after the copied ones: the next reference and ids do not collide.
        again = Chat(service, channel, clock, name="ani")
        await agree(again)
        third = await register(again, name="Ani Lestari")
        assert third.endswith("000003")
        found = await repo.get_case(service.db, third)
        assert (
            found is not None
            and found.id is not None
            and found.id > max(c.id or 0 for c in before_cases if c)
        )
    finally:
        await service.close()

    # A second copy into the same (now full) database is refused, and nothing in it changes.
    refused = bot(data, "migrate-store", "--to", url)
    assert refused.returncode == 2
    assert "not empty" in refused.stderr and "Nothing was copied" in refused.stderr
