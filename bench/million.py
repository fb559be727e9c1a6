"""Benchmark: a million cases, and what a registration leaves in the store after retention.

    python bench/million.py [--cases 1000000] [--requests 40] [--registrations 200] [--startups 5]
                            [--keep DIR] [--postgres [--postgres-url URL] [--only-postgres]]

1. History: runs `--registrations` complete registrations through the engine on a fresh store, prints
   the bytes stored per registration (pages in use, indexes included), then runs the retention prune as
   it would run once the windows have passed (`DINSOS_RETENTION_*` defaults) and prints the bytes per
   registration after it.
2. A store with `--cases` cases (contacts, persons with phone and KK, answers) and as many finished
   outbox rows plus a few left `sending`, seeded with executemany in large transactions. Then, each in
   a fresh process: start-up (open the store, check the key, recover interrupted sends twice, as the
   runner does; target <= 3 s) `--startups` times. Then the dashboard's queue search (name, part of a
   name, no match, case number, NIK, KK, phone in three spellings), the persons search, and the
   summary page with its map, `--requests` requests each: p50 and p95 of the server time (Server-Timing;
   target p95 <= 150 ms). The machine may be shared: the figures are medians and percentiles of
   alternating requests, and vary between runs.
3. With `--postgres`: the same pages on PostgreSQL, after copying the store into a throwaway cluster
   (`migrate-store`, a few minutes at a million), or on `--postgres-url`, a database that already holds
   the copy (made once with `python -m bot migrate-store`); `--only-postgres` skips the SQLite figures.
"""

import argparse
import asyncio
import hashlib
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

import httpx
import psycopg
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.registration_load import CountingChannel, script
from bot.app import DB_FILE_NAME, build_service, open_sealer
from bot.dashboard import Dashboard, accounts
from bot.retention import HistoryPruner
from bot.settings import ServiceSettings, Settings, StoreSettings, WebSettings
from bot.web import build_asgi
from handlers.places import Places
from handlers.types import Inbound
from storage.contract import Store
from storage.crypto import Sealer, generate_key_text
from storage.keys import record_check_value
from storage.migrations import MIGRATIONS, _statements, apply_migrations

FIRST: tuple[str, ...] = (
    "Siti",
    "Ani",
    "Budi",
    "Citra",
    "Dedi",
    "Eka",
    "Fajar",
    "Gita",
    "Hadi",
    "Indah",
    "Joko",
    "Kartini",
)
FIRST += ("Lestari", "Made", "Nur", "Oki", "Putri", "Rina", "Sri", "Tono", "Umar", "Wati", "Yanti", "Agus")
LAST: tuple[str, ...] = (
    "Aminah",
    "Santoso",
    "Wahyuni",
    "Kurnia",
    "Siregar",
    "Nasution",
    "Hidayat",
    "Saputra",
    "Rahmawati",
)
LAST += ("Susanto", "Purnomo", "Handayani", "Setiawan", "Wibowo", "Gunawan", "Halim", "Prasetyo", "Kusuma")
KINDS = ("registration", "lost_ktp", "aid", "message")
STATUSES = ("baru", "diproses", "perlu_info", "disetujui", "ditolak", "selesai")
PREFIX = {"registration": "REG", "lost_ktp": "KTP", "aid": "BAN", "message": "PSN"}
UNUSED_HASH = "$argon2id$v=19$m=65536,t=3,p=4$bm90LXVzZWQ$bm90LXVzZWQtYnktdGhlLWJlbmNobWFyaw"
KNOWN_NIK = "3674015708850001"
KNOWN_KK = "3674031205100007"
KNOWN_PHONE = "+6281234567890"
CHUNK = 100_000
T = TypeVar("T")
INTERRUPTED = 3


def settings(data_dir: Path, key: str, database_url: str | None = None) -> Settings:
    return Settings(
        store=StoreSettings(
            data_dir=data_dir,
            secret_key=key,
            sqlite_synchronous="NORMAL",
            database_url=None if database_url is None else SecretStr(database_url),
        ),
        service=ServiceSettings(log_level="WARNING"),
        web=WebSettings(host="127.0.0.1", port=0),
    )


async def used_bytes(db: Store) -> int:
    """Bytes of the store's pages in use (free pages left out), as seen through a connection."""
    pages = int(await db.fetchval("PRAGMA page_count"))
    free = int(await db.fetchval("PRAGMA freelist_count"))
    return (pages - free) * int(await db.fetchval("PRAGMA page_size"))


# ---------------------------------------------------------------- 1. history per registration


async def history(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = settings(Path(tmp), generate_key_text())
        service = await build_service(cfg, {"console": CountingChannel()})
        empty = await used_bytes(service.db)

        async def one(index: int) -> None:
            for number, step in enumerate(script(index)):
                event = Inbound(
                    contact=f"console:r{index}",
                    at=service.engine.clock(),
                    event_id=f"r:{index}:{number}",
                    text=step.get("text"),  # type: ignore[arg-type]
                    choice=step.get("choice"),  # type: ignore[arg-type]
                )
                await service.receive(event)

        try:
            for start in range(1, count + 1, 50):
                await asyncio.gather(*(one(i) for i in range(start, min(count + 1, start + 50))))
            cases = int(await service.db.fetchval("SELECT COUNT(*) FROM cases"))
            assert cases == count, (cases, count)
            before = await used_bytes(service.db) - empty
            store = cfg.store
            later = datetime.now(UTC) + timedelta(
                days=max(store.retention_inbound_days, store.retention_outbox_days) + 1
            )
            report = await HistoryPruner(service.db, store, lambda: later).run_once()
            after = await used_bytes(service.db) - empty
        finally:
            await service.close()
    print(f"history: {count} registrations through the engine")
    print(f"  bytes stored per registration: {before / count:,.0f} before retention")
    print(
        f"  bytes stored per registration: {after / count:,.0f} after retention "
        f"(pruned {report.inbound:,} inbound ids and {report.outbox:,} outbound messages "
        f"in {report.batches} batches; the case, its person and its thread stay)"
    )


# ---------------------------------------------------------------- 2. a million cases


def seed(conn: sqlite3.Connection, start: int, stop: int, total: int, sealer: Sealer) -> None:
    """Cases `start`..`stop` with their contacts, persons and one finished outbox row each."""
    rng = random.Random(start)
    places = [
        (v.kecamatan.code, v.code)
        for k in Places.load().kecamatan
        for v in Places.load().kelurahan_of(k.code)
    ]
    first_day = datetime(2025, 12, 1, tzinfo=UTC)
    spacing = 365 * 86400 / total
    contacts, persons, cases, outbox = [], [], [], []
    known = total // 2
    for number in range(start, stop):
        kind = rng.choice(KINDS)
        kecamatan, kelurahan = rng.choice(places)
        created = (first_day + timedelta(seconds=number * spacing)).isoformat()
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        contact = f"whatsapp:62812{number:08d}"
        phone = KNOWN_PHONE if number == known else f"+62813{number:08d}"
        if number == known:
            nik, kk = sealer.seal(KNOWN_NIK), sealer.seal(KNOWN_KK)
            nik_text, nik_hash, kk_text, kk_hash = nik.model_dump_json(), nik.h, kk.model_dump_json(), kk.h
        else:
            nik_hash = hashlib.sha256(b"n%d" % number).hexdigest()
            kk_hash = hashlib.sha256(b"k%d" % number).hexdigest()
            nik_text = json.dumps({"c": "x" * 60, "h": nik_hash, "m": f"3674********{number % 10000:04d}"})
            kk_text = json.dumps({"c": "x" * 60, "h": kk_hash, "m": f"3674********{number % 9999:04d}"})
        answers = {
            "full_name": name,
            "nik": json.loads(nik_text),
            "kk": json.loads(kk_text),
            "phone": phone,
            "address": f"Gang Melati RT {number % 20:02d}/RW {number % 9:02d}",
            "household_size": rng.randint(1, 9),
        }
        contacts.append((contact, "whatsapp", "id", "granted", "2026-11", created, created))
        persons.append(
            (
                number,
                contact,
                name,
                nik_text,
                nik_hash,
                kk_text,
                kk_hash,
                phone,
                kecamatan,
                kelurahan,
                created,
            )
        )
        cases.append(
            (
                number,
                f"{PREFIX[kind]}-{created[:4]}-{number % 1_000_000:06d}",
                kind,
                rng.choice(STATUSES),
                number,
                contact,
                name,
                kecamatan,
                kelurahan,
                json.dumps(answers),
                nik_hash,
                rng.randint(1, 8) if rng.random() < 0.6 else None,
                created,
            )
        )
        status = "sending" if stop - number <= INTERRUPTED and stop == total + 1 else "sent"
        outbox.append((contact, '{"text": "Terima kasih, Bapak/Ibu."}', status, created))
    conn.executemany(
        "INSERT INTO contacts (id, channel, language, consent, consent_version, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        contacts,
    )
    conn.executemany(
        "INSERT INTO persons (id, registered_by, is_self, full_name, nik, nik_hash, kk, kk_hash, phone, "
        "kecamatan_code, kelurahan_code, created_at, updated_at) "
        "VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?11)",
        persons,
    )
    conn.executemany(
        "INSERT INTO cases (id, reference, kind, status, person_id, contact_id, subject_name, "
        "kecamatan_code, kelurahan_code, answers, nik_hash, assignee_id, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?13)",
        cases,
    )
    conn.executemany(
        "INSERT INTO outbox (contact_id, origin, payload, status, created_at, updated_at, sent_at) "
        "VALUES (?, 'reply', ?, ?, ?4, ?4, ?4)",
        outbox,
    )


# What the store derives from cases and persons by trigger (trigram indexes, kept counts): seeding in bulk
# leaves the triggers out and builds the same rows afterwards with the migration's own statements.
DERIVED = ("cases_fts_", "persons_fts_", "case_tally_")


def drop_derived_triggers(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    kept = [(name, sql) for name, sql in rows if name.startswith(DERIVED)]
    for name, _ in kept:
        conn.execute(f"DROP TRIGGER {name}")
    return [sql for _, sql in kept]


def rebuild_derived(conn: sqlite3.Connection, triggers: list[str]) -> None:
    migrations = dict(MIGRATIONS)
    for name, prefixes in (
        (
            "0013_i17c_capacity",
            ("INSERT INTO cases_fts", "INSERT INTO persons_fts", "INSERT INTO case_tally"),
        ),
        ("0013_i17c_counts_by_kind", ("INSERT INTO case_hours",)),
    ):
        for sql in _statements(migrations[name]):
            if sql.startswith(prefixes):
                conn.execute(sql)
    for sql in triggers:
        conn.execute(sql)


def prepare(data_dir: Path, key: str, total: int) -> None:
    """Seed the store in bulk: the service's schema, written without a journal in large transactions
    (the service opens it in WAL mode afterwards)."""
    sealer = open_sealer(settings(data_dir, key))
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(data_dir / DB_FILE_NAME, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -400000")  # 400 MB while seeding: index inserts stay in memory
    apply_migrations(conn)

    def transaction(fn: Callable[[sqlite3.Connection], T]) -> T:
        conn.execute("BEGIN")
        value = fn(conn)
        conn.execute("COMMIT")
        return value

    transaction(partial(record_check_value, sealer=sealer))
    for i in range(1, 9):
        transaction(
            partial(
                accounts.create_user,
                username=f"petugas{i}",
                display_name=f"Petugas {i}",
                role="petugas" if i > 1 else "admin",
                password_hash=UNUSED_HASH,
                actor="bench",
                at=datetime.now(UTC),
            )
        )
    started = time.perf_counter()
    triggers = transaction(drop_derived_triggers)
    for start in range(1, total + 1, CHUNK):
        transaction(
            partial(seed, start=start, stop=min(total + 1, start + CHUNK), total=total, sealer=sealer)
        )
        print(
            f"  seeded {min(total, start + CHUNK - 1):,} cases ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    transaction(partial(rebuild_derived, triggers=triggers))
    conn.close()
    size = (data_dir / DB_FILE_NAME).stat().st_size
    print(f"seeded {total:,} cases in {time.perf_counter() - started:.0f} s; store file {size / 1e6:,.0f} MB")


async def startup(data_dir: Path, key: str) -> None:
    """The child: open the store as the service starts (key check, migrations, recovery twice)."""
    started = time.perf_counter()
    service = await build_service(settings(data_dir, key), {})
    await service.dispatcher.recover()  # the runner's second pass, once the channels are registered
    elapsed = time.perf_counter() - started
    await service.close()
    print(json.dumps({"startup": elapsed}))


def measure_startups(data_dir: Path, key: str, runs: int) -> None:
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--startup", str(data_dir), key],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(json.loads(out.stdout.strip().splitlines()[-1])["startup"])
    conn = sqlite3.connect(data_dir / DB_FILE_NAME)
    began = time.perf_counter()
    conn.execute(
        "SELECT id, contact_id FROM outbox NOT INDEXED WHERE status = 'sending' ORDER BY id"
    ).fetchall()
    scan = time.perf_counter() - began
    began = time.perf_counter()
    conn.execute("SELECT id, contact_id FROM outbox WHERE status = 'sending' ORDER BY id").fetchall()
    indexed = time.perf_counter() - began
    conn.close()
    print(
        f"start-up (fresh process: key check, store open, recovery twice), {runs} runs: median "
        f"{statistics.median(times):.2f} s, max {max(times):.2f} s (target <= 3 s)"
    )
    print(
        f"  rows left 'sending' found by index in {indexed * 1000:.1f} ms "
        f"(a full scan of the outbox takes {scan * 1000:.0f} ms)"
    )


SEARCHES: dict[str, list[tuple[str, dict[str, str]]]] = {
    "queue: none": [("/cases", {}), ("/cases", {"page": "2"})],
    "queue: name": [("/cases", {"q": q}) for q in ("siti", "santoso", "wati aminah")],
    "queue: part of a name": [("/cases", {"q": q}) for q in ("ani", "rahma")],
    "queue: no match": [("/cases", {"q": "tidak ada orang ini"})],
    "queue: NIK": [("/cases", {"q": KNOWN_NIK})],
    "queue: KK": [("/cases", {"q": "3674-0312-0510-0007"})],
    "queue: phone 0812-": [("/cases", {"q": "0812-3456-7890"})],
    "queue: phone 62812": [("/cases", {"q": "6281234567890"})],
    "queue: phone +62 812": [("/cases", {"q": "+62 812 3456 7890"})],
    "queue: name + status": [("/cases", {"q": "siti", "status": "baru"})],
    "persons: name": [("/persons", {"q": q}) for q in ("siti", "santoso")],
    "persons: phone": [("/persons", {"q": "0812 3456 7890"})],
    "persons: KK": [("/persons", {"q": KNOWN_KK})],
    "summary (open cases)": [("/", {})],
    "summary: kind": [("/", {"kind": "aid"})],
    "summary: one status": [("/", {"status": "perlu_info"})],
}


# Measured and printed, with no target at this size: filters read case by case rather than from an index
# (a word shorter than a trigram; the map by dates or by a segment's people).
OPTIONAL = {
    "queue: 2 letters + kind": [("/cases", {"q": "an", "kind": "aid"})],
    "summary: date range": [("/", {"date_from": "2026-03-01", "date_to": "2026-05-31"})],
    "summary: segment": [("/", {"seg_kecamatan": "36.74.03"})],
}


async def measure_pages(
    data_dir: Path, key: str, total: int, requests: int, database_url: str | None = None
) -> None:
    cfg = settings(data_dir, key, database_url)
    service = await build_service(cfg, {})
    dashboard = Dashboard(service, cfg)
    token, _ = await service.db.write(
        partial(accounts.start_session, user_id=1, at=datetime.now(UTC), lifetime=timedelta(hours=2))
    )
    (reference,) = [
        row[0] for row in await service.db.fetchall("SELECT reference FROM cases WHERE id = ?", (total // 3,))
    ]
    transport = httpx.ASGITransport(app=build_asgi(dashboard.routes()))
    groups = SEARCHES | {"queue: case number": [("/cases", {"q": reference.lower()})]} | OPTIONAL
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", cookies={"dinsos_session": token}
    ) as client:
        for path in ("/cases", "/", "/persons"):
            assert (await client.get(path)).status_code == 200
        timings: dict[str, list[float]] = {name: [] for name in groups}
        found: dict[str, int] = {}
        # Alternate the requests of every group round by round, so that noise from other work on the
        # machine spreads over all of them.
        for index in range(requests):
            for name, variants in groups.items():
                path, params = variants[index % len(variants)]
                response = await client.get(path, params=params)
                assert response.status_code == 200, (name, response.status_code)
                timings[name].append(float(response.headers["server-timing"].split("dur=")[1]))
                if index == 0:
                    found[name] = response.text.count('<tr>\n    <td><a href="/') or response.text.count(
                        "<tr>"
                    )
    await service.close()
    backend = "SQLite" if database_url is None else "PostgreSQL"
    print(
        f"dashboard on {backend} at {total:,} cases, {requests} requests each "
        "(server time from Server-Timing, ms):"
    )
    print(f"  {'page':<26} {'p50':>7} {'p95':>7} {'max':>7}")
    worst: dict[bool, float] = {True: 0.0, False: 0.0}
    for name, times in timings.items():
        p95 = statistics.quantiles(times, n=20)[-1]
        targeted = name not in OPTIONAL
        worst[targeted] = max(worst[targeted], p95)
        mark = "" if targeted else "  (no target)"
        print(f"  {name:<26} {statistics.median(times):7.1f} {p95:7.1f} {max(times):7.1f}{mark}")
    print(f"  worst p95 of the searches and the summary: {worst[True]:.1f} ms (target <= 150 ms)")


@contextmanager
def copied_to_postgres(data_dir: Path) -> Iterator[str]:
    """The store of `data_dir` copied into a throwaway local PostgreSQL cluster (the `migrate-store`
    copy, row counts checked, then analysed as autovacuum would after a bulk load): its address."""
    from storage.postgres.copy import copy_sqlite_store
    from tests.pg import Cluster

    cluster = Cluster.start(fsync=True)
    try:
        url = cluster.create("copy")
        started = time.perf_counter()
        counts = copy_sqlite_store(data_dir / DB_FILE_NAME, url)
        print(
            f"copied into PostgreSQL (migrate-store) in {time.perf_counter() - started:.0f} s: "
            f"{counts.get('cases', 0):,} cases, {sum(counts.values()):,} rows in all"
        )
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        yield url
    finally:
        cluster.stop()


def measure_on_postgres(data_dir: Path, key: str, total: int, requests: int) -> None:
    """Copy the seeded SQLite store into a throwaway PostgreSQL cluster, then measure the same pages
    there."""
    with copied_to_postgres(data_dir) as url:
        asyncio.run(measure_pages(data_dir, key, total, requests, database_url=url))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--registrations", type=int, default=200)
    parser.add_argument("--startups", type=int, default=5)
    parser.add_argument(
        "--keep", type=Path, help="seed into (or reuse) this folder instead of a temporary one"
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also copy the seeded store into a throwaway local PostgreSQL cluster (migrate-store) and "
        "measure the dashboard there",
    )
    parser.add_argument(
        "--postgres-url", help="with --postgres: a database already holding the copy of the store (no copy)"
    )
    parser.add_argument(
        "--only-postgres", action="store_true", help="with --postgres: skip start-up and the SQLite pages"
    )
    parser.add_argument("--startup", nargs=2, metavar=("DATA_DIR", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.startup:
        asyncio.run(startup(Path(args.startup[0]), args.startup[1]))
        return
    if args.registrations:
        asyncio.run(history(args.registrations))

    def run(data_dir: Path, key: str) -> None:
        if not (args.postgres and args.only_postgres):
            measure_startups(data_dir, key, args.startups)
            asyncio.run(measure_pages(data_dir, key, args.cases, args.requests))
        if args.postgres and args.postgres_url:
            asyncio.run(measure_pages(data_dir, key, args.cases, args.requests, args.postgres_url))
        elif args.postgres:
            measure_on_postgres(data_dir, key, args.cases, args.requests)

    if args.keep is not None:
        key_file = args.keep / "bench.key"
        if not key_file.exists():
            args.keep.mkdir(parents=True, exist_ok=True)
            key_file.write_text(generate_key_text())
            prepare(args.keep / "data", key_file.read_text(), args.cases)
        run(args.keep / "data", key_file.read_text())
        return
    with tempfile.TemporaryDirectory() as tmp:
        key = generate_key_text()
        prepare(Path(tmp) / "data", key, args.cases)
        run(Path(tmp) / "data", key)


if __name__ == "__main__":
    main()
