"""What the IT person waits for: backup, restore and rotate-key on a store of N cases; a /metrics scrape;
a held-back sign-in attempt (no argon2) against a wrong one (argon2).

    python bench/operations.py [--cases 10000]
"""

import argparse
import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import DB_FILE_NAME, build_service
from bot.dashboard import accounts
from bot.settings import Settings, StoreSettings
from bot.web import Probes, build_asgi
from storage.crypto import KEY_FILE_NAME, Sealer, parse_key
from tests.dashboard_support import SeedCase, seed_cases


def bot(data_dir: Path, *argv: str) -> float:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DINSOS_")}
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "bot", "--data-dir", str(data_dir), *argv],
        env=environ,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - began


async def scrape_and_gate(data_dir: Path) -> tuple[float, float, float]:
    settings = Settings(store=StoreSettings(data_dir=data_dir, sqlite_synchronous="NORMAL"))
    service = await build_service(settings, {})
    try:
        probes = Probes(service.db, service.metrics, lambda: datetime.now(UTC), dict, lambda: True)
        transport = httpx.ASGITransport(app=build_asgi([], probes))
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
            await client.get("/metrics")
            began = time.perf_counter()
            for _ in range(20):
                assert (await client.get("/metrics")).status_code == 200
            scrape = (time.perf_counter() - began) / 20
        policy = accounts.LoginPolicy(per_account_address=1)
        gate = partial(accounts.login_gate, username="admin", address="198.51.100.7", policy=policy)
        await service.db.write(partial(gate, at=datetime.now(UTC)))
        began = time.perf_counter()
        for _ in range(200):
            assert await service.db.write(partial(gate, at=datetime.now(UTC))) > 0
        held = (time.perf_counter() - began) / 200
        stored = accounts.hash_password("kata-sandi-uji-123")
        began = time.perf_counter()
        for _ in range(5):
            accounts.check_password(stored, "salah")
        argon = (time.perf_counter() - began) / 5
        return scrape, held, argon
    finally:
        await service.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=10_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        bot(data, "staff", "list")
        sealer = Sealer(parse_key((data / KEY_FILE_NAME).read_bytes(), "bench"))
        with contextlib.closing(sqlite3.connect(data / DB_FILE_NAME)) as conn, conn:
            seed_cases(
                conn,
                [SeedCase(name=f"Warga {i}", nik=f"3674011507{i:06d}") for i in range(options.cases)],
                sealer,
            )
        archive = Path(tmp) / "backup.tar.gz"
        backup = bot(data, "backup", str(archive))
        restore = bot(Path(tmp) / "restored", "restore", str(archive))
        rotate = bot(data, "rotate-key")
        scrape, held, argon = asyncio.run(scrape_and_gate(data))
        print(f"cases: {options.cases}")
        print(
            f"backup (python -m bot backup, incl. start-up): {backup:.2f} s, "
            f"{archive.stat().st_size // 1024} KB"
        )
        print(f"restore (python -m bot restore, incl. start-up): {restore:.2f} s")
        print(f"rotate-key (python -m bot rotate-key, incl. start-up): {rotate:.2f} s")
        print(f"/metrics scrape: {scrape * 1000:.1f} ms")
        print(f"held-back sign-in attempt (store check, no argon2): {held * 1000:.2f} ms")
        print(f"wrong password (argon2 verify): {argon * 1000:.0f} ms")


if __name__ == "__main__":
    main()
