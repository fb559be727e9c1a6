"""Benchmark: the staff dashboard's queue page and CSV export with many cases.

    python bench/dashboard.py [--cases 100000] [--requests 40]

Seeds a store with 100,000 cases (random kinds, statuses, places, officers, dates over a year, names;
a third with a shared location), then prints, for each queue filter, the p50 and p95 server time of the
queue page (the time the app took, from its Server-Timing header; target p95 <= 150 ms for any filter),
the same for the summary page with its map of cases per kelurahan under each map filter (target p95
<= 150 ms), and, in a fresh process
serving the dashboard on uvicorn, the time to download the export of all cases as CSV (target <= 10 s)
and that process's peak RSS (VmHWM; target <= 200 MB).
"""

import argparse
import asyncio
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx

from bot.app import build_service, open_sealer
from bot.dashboard import Dashboard, accounts
from bot.settings import ServiceSettings, Settings, StoreSettings, WebSettings
from bot.web import build_asgi
from handlers.geo import Boundaries
from handlers.places import Places
from storage.crypto import generate_key_text
from storage.db import Database

# The serving child (--serve) must open the store with the key that sealed it: handed over by environment.
KEY = os.environ.get("BENCH_DASHBOARD_KEY") or generate_key_text()
FIRST = (
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
    "Lestari",
    "Made",
    "Nur",
    "Oki",
    "Putri",
    "Rina",
    "Sri",
    "Tono",
    "Umar",
    "Wati",
    "Yanti",
    "Zainal",
    "Agus",
    "Bambang",
    "Dewi",
    "Endang",
    "Fitri",
    "Hendra",
)
LAST = (
    "Aminah",
    "Santoso",
    "Wahyuni",
    "Kurnia",
    "Lestari",
    "Siregar",
    "Nasution",
    "Hidayat",
    "Saputra",
    "Rahmawati",
    "Susanto",
    "Purnomo",
    "Handayani",
    "Setiawan",
    "Wibowo",
    "Gunawan",
    "Halim",
    "Prasetyo",
    "Kusuma",
    "Maharani",
)
# Staff accounts of the benchmark never sign in with a password (sessions are opened directly).
UNUSED_HASH = "$argon2id$v=19$m=65536,t=3,p=4$bm90LXVzZWQ$bm90LXVzZWQtYnktdGhlLWJlbmNobWFyaw"
KINDS = ("registration", "lost_ktp", "aid", "message")
STATUSES = ("baru", "diproses", "perlu_info", "disetujui", "ditolak", "selesai")
PREFIX = {"registration": "REG", "lost_ktp": "KTP", "aid": "BAN", "message": "PSN"}
KNOWN_NIK = "3674015708850001"


def settings(data_dir: Path, port: int = 0) -> Settings:
    return Settings(
        store=StoreSettings(data_dir=data_dir, secret_key=KEY, sqlite_synchronous="NORMAL"),
        service=ServiceSettings(log_level="WARNING"),
        web=WebSettings(host="127.0.0.1", port=port),
    )


def seed(conn: sqlite3.Connection, count: int, places: list[tuple[str, str]], nik_hash: str) -> None:
    """`count` cases with contacts and persons, written in bulk (a write function)."""
    rng = random.Random(7)
    boundaries = Boundaries.shared()
    spots = {
        code: (point.y, point.x)
        for code in {v for _, v in places}
        for point in [boundaries.area(code).geometry.representative_point()]
    }
    staff_ids = [
        accounts.create_user(
            conn,
            username=f"petugas{i}",
            display_name=f"Petugas {i}",
            role="petugas",
            password_hash=UNUSED_HASH,
            actor="bench",
            at=datetime.now(UTC),
        )
        for i in range(1, 9)
    ]
    start = datetime(2025, 11, 20, tzinfo=UTC)
    contacts, persons, cases = [], [], []
    for number in range(1, count + 1):
        kind = rng.choice(KINDS)
        kecamatan, kelurahan = rng.choice(places)
        created = (start + timedelta(seconds=number * 315)).isoformat()  # a year, in id order
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        contact = f"whatsapp:62812{number:08d}"
        masked = f"3674********{number % 10000:04d}"
        answers = {
            "full_name": name,
            "nik": {"c": "bench", "h": f"h{number}", "m": masked},
            "address": f"Gang Melati RT {number % 20:02d}/RW {number % 9:02d}",
            "household_size": rng.randint(1, 9),
        }
        located = rng.random() < 0.33
        lat, lon = spots[kelurahan]
        if located:
            lat, lon = lat + rng.uniform(-0.002, 0.002), lon + rng.uniform(-0.002, 0.002)
            answers["location"] = {"lat": lat, "lon": lon}
        contacts.append((contact, "whatsapp", "id", "granted", "2026-11", created, created))
        persons.append((contact, name, kecamatan, kelurahan, created, created))
        cases.append(
            (
                f"{PREFIX[kind]}-{created[:4]}-{number:06d}",
                kind,
                rng.choice(STATUSES),
                number,
                contact,
                name,
                kecamatan,
                kelurahan,
                lat if located else None,
                lon if located else None,
                json.dumps(answers),
                nik_hash if number == count // 2 else None,
                rng.choice(staff_ids) if rng.random() < 0.6 else None,
                created,
                created,
            )
        )
    conn.executemany(
        "INSERT INTO contacts (id, channel, language, consent, consent_version, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        contacts,
    )
    conn.executemany(
        "INSERT INTO persons (registered_by, is_self, full_name, kecamatan_code, kelurahan_code, created_at, "
        "updated_at) VALUES (?, 1, ?, ?, ?, ?, ?)",
        persons,
    )
    conn.executemany(
        "INSERT INTO cases (reference, kind, status, person_id, contact_id, subject_name, kecamatan_code, "
        "kelurahan_code, latitude, longitude, answers, nik_hash, assignee_id, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        cases,
    )


def filters(places: list[tuple[str, str]], references: list[str]) -> dict[str, list[dict[str, str]]]:
    """Each filter the queue offers, with a few values so that pages are not all alike."""
    kecamatan = sorted({k for k, _ in places})
    kelurahan = sorted({v for _, v in places})
    return {
        "none": [{}, {"page": "2"}, {"page": "3"}],
        "kind": [{"kind": k} for k in KINDS],
        "status": [{"status": s} for s in STATUSES],
        "kecamatan": [{"kecamatan": k} for k in kecamatan],
        "kelurahan": [{"kelurahan": v} for v in kelurahan[:10]],
        "assignee": [{"assignee": str(i)} for i in range(1, 9)],
        "unassigned": [{"assignee": "none"}],
        "date range": [{"date_from": "2026-03-01", "date_to": "2026-03-31"}, {"date_from": "2026-09-01"}],
        "search name": [{"q": "siti"}, {"q": "santoso"}, {"q": "wati"}],
        "search, no match": [{"q": "tidak ada orang ini"}],
        "search reference": [{"q": reference.lower()} for reference in references],
        "search NIK": [{"q": KNOWN_NIK}],
        "kind+status+kecamatan": [{"kind": "aid", "status": "baru", "kecamatan": kecamatan[0]}],
        "all filters": [
            {
                "kind": "aid",
                "status": "baru",
                "kecamatan": kecamatan[0],
                "assignee": "1",
                "date_from": "2026-01-01",
                "q": "a",
            }
        ],
        "last page": [{"page": "200"}],
    }


def map_filters(places: list[tuple[str, str]]) -> dict[str, dict[str, str]]:
    """The summary map's filters (open cases by default), one request each round."""
    return {
        "open (default)": {},
        "kind": {"kind": "aid"},
        "every status": {"status": "all"},
        "one status": {"status": "perlu_info"},
        "date range": {"date_from": "2026-03-01", "date_to": "2026-05-31"},
        "segment (kecamatan)": {"seg_kecamatan": places[0][0]},
        "all filters": {
            "kind": "aid",
            "status": "baru",
            "date_from": "2026-01-01",
            "seg_kecamatan": places[0][0],
        },
        "with case points": {"points": "1"},
    }


async def measure_queue(data_dir: Path, count: int, requests: int) -> None:
    cfg = settings(data_dir)
    service = await build_service(cfg, {})
    dashboard = Dashboard(service, cfg)
    places = [
        (v.kecamatan.code, v.code)
        for k in dashboard.places.kecamatan
        for v in dashboard.places.kelurahan_of(k.code)
    ]
    token, _ = await service.db.write(
        partial(accounts.start_session, user_id=1, at=datetime.now(UTC), lifetime=timedelta(hours=1))
    )
    transport = httpx.ASGITransport(app=build_asgi(dashboard.routes()))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", cookies={"dinsos_session": token}
    ) as client:
        warm = await client.get("/cases")
        assert warm.status_code == 200, warm.text[:300]
        print(f"queue page, {requests} requests per filter (server time from Server-Timing, ms):")
        print(f"  {'filter':<24} {'p50':>7} {'p95':>7} {'max':>7}  rows on page 1")
        worst = 0.0
        references = [
            row[0]
            for row in await service.db.fetchall(
                "SELECT reference FROM cases WHERE id IN (?, ?, ?)", (count // 3, count // 2, count - 1)
            )
        ]
        for name, variants in filters(places, references).items():
            times = []
            rows = 0
            for index in range(requests):
                params = variants[index % len(variants)]
                response = await client.get("/cases", params=params)
                assert response.status_code == 200, (name, response.status_code)
                times.append(float(response.headers["server-timing"].split("dur=")[1]))
                if index == 0:
                    rows = response.text.count('<tr>\n    <td><a href="/cases/')
            p95 = statistics.quantiles(times, n=20)[-1]
            worst = max(worst, p95)
            print(f"  {name:<24} {statistics.median(times):7.1f} {p95:7.1f} {max(times):7.1f}  {rows}")
        print(f"  worst p95: {worst:.1f} ms (target <= 150 ms)")
        print(f"summary page with the map, {requests} requests per map filter (server time, ms):")
        print(f"  {'map filter':<24} {'p50':>7} {'p95':>7} {'max':>7}  bytes")
        worst = 0.0
        for name, params in map_filters(places).items():
            times = []
            size = 0
            for _ in range(requests):
                response = await client.get("/", params=params)
                assert response.status_code == 200 and 'class="area' in response.text, name
                times.append(float(response.headers["server-timing"].split("dur=")[1]))
                size = len(response.content)
            p95 = statistics.quantiles(times, n=20)[-1]
            worst = max(worst, p95)
            print(f"  {name:<24} {statistics.median(times):7.1f} {p95:7.1f} {max(times):7.1f}  {size:,}")
        print(f"  worst p95: {worst:.1f} ms (target <= 150 ms)")
    await service.close()


async def serve(data_dir: Path, port: int) -> None:
    """The export child: the dashboard alone on uvicorn (as the runner serves it)."""
    import uvicorn

    cfg = settings(data_dir, port)
    service = await build_service(cfg, {})
    dashboard = Dashboard(service, cfg)
    server = uvicorn.Server(
        uvicorn.Config(
            build_asgi(dashboard.routes()),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    try:
        await server.serve()
    finally:
        await service.close()


def peak_rss_mb(pid: int) -> tuple[float, float]:
    """Current and peak resident memory of a process (from /proc), in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def measure_export(data_dir: Path, count: int) -> None:
    db = sqlite3.connect(data_dir / "intake.sqlite3")
    with db:
        token, _ = accounts.start_session(db, user_id=1, at=datetime.now(UTC), lifetime=timedelta(hours=1))
    db.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(data_dir), str(port)],
        env={**os.environ, "BENCH_DASHBOARD_KEY": KEY},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, cookies={"dinsos_session": token}, timeout=60) as client:
            for _ in range(400):
                if child.poll() is not None:
                    raise SystemExit(f"the dashboard process stopped (exit {child.returncode})")
                try:
                    client.get("/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            _, before = peak_rss_mb(child.pid)
            started = time.perf_counter()
            first_byte = None
            size = lines = 0
            with client.stream("GET", "/cases/export.csv") as response:
                assert response.status_code == 200
                for chunk in response.iter_bytes():
                    first_byte = first_byte or time.perf_counter() - started
                    size += len(chunk)
                    lines += chunk.count(b"\n")
            elapsed = time.perf_counter() - started
            _, peak = peak_rss_mb(child.pid)
        print(
            f"CSV export of all {count:,} cases in a fresh process on uvicorn: {elapsed:.2f} s "
            f"(first bytes after {first_byte or 0:.2f} s; {size / 1e6:.1f} MB, {lines - 1:,} rows; "
            "target <= 10 s)"
        )
        print(
            f"  that process's peak RSS: {peak:.0f} MB (before the export: {before:.0f} MB; target <= 200 MB)"
        )
        assert lines - 1 >= count, "every case is exported"
    finally:
        child.terminate()  # uvicorn stops on SIGTERM, then the store is closed
        child.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(Path(args.serve[0]), int(args.serve[1])))
        return
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"

        async def prepare() -> None:
            db = await Database.open(data_dir / "intake.sqlite3", synchronous="NORMAL")
            cfg = settings(data_dir)
            sealer = open_sealer(cfg)
            places = [
                (v.kecamatan.code, v.code)
                for k in Places.load().kecamatan
                for v in Places.load().kelurahan_of(k.code)
            ]
            started = time.perf_counter()
            await db.write(
                partial(seed, count=args.cases, places=places, nik_hash=sealer.lookup_hash(KNOWN_NIK))
            )
            print(f"seeded {args.cases:,} cases in {time.perf_counter() - started:.1f} s")
            await db.close()

        asyncio.run(prepare())
        asyncio.run(measure_queue(data_dir, args.cases, args.requests))
        measure_export(data_dir, args.cases)


if __name__ == "__main__":
    main()
