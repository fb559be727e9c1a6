"""Benchmark: case threads in the dashboard with many cases and many thread messages.

    python bench/threads.py [--cases 100000] [--messages 1000000] [--requests 200]

Seeds a store with 100,000 cases (one in twenty with unread citizen messages, aid cases with an
urgency) and 1,000,000 thread messages (about 10 per case; four in ten outbound, each with its outbox
row), then prints the p50 and p95 server time (the app's own Server-Timing header) of:
  - a case page with its thread (target p95 <= 100 ms),
  - the queue with the unread filter, in each sort and on later pages (target p95 <= 150 ms),
  - the live-update request, with a case (target p95 <= 20 ms).
"""

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx

from bot.app import build_service
from bot.dashboard import Dashboard, accounts
from bot.settings import ServiceSettings, Settings, StoreSettings
from bot.web import build_asgi
from storage.crypto import generate_key_text
from storage.db import Database

KEY = generate_key_text()
KINDS = ("registration", "lost_ktp", "aid", "message")
PREFIX = {"registration": "REG", "lost_ktp": "KTP", "aid": "BAN", "message": "PSN"}
STATUSES = ("baru", "diproses", "perlu_info", "disetujui", "ditolak", "selesai")
URGENCIES = ("today", "week", "later")
WORDS = ("bantuan", "sembako", "alamat", "rumah", "kapan", "datang", "terima", "kasih", "foto", "ktp")
UNUSED_HASH = "$argon2id$v=19$m=65536,t=3,p=4$bm90LXVzZWQ$bm90LXVzZWQtaGFzaA"


def settings(data_dir: Path) -> Settings:
    return Settings(
        store=StoreSettings(data_dir=data_dir, secret_key=KEY, sqlite_synchronous="NORMAL"),
        service=ServiceSettings(log_level="WARNING"),
    )


def seed(conn: sqlite3.Connection, cases: int, messages: int) -> None:
    """Cases, contacts, thread lines and the outbox rows of outbound lines, in bulk (a write function)."""
    rng = random.Random(11)
    staff = [
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
    contacts, rows = [], []
    for number in range(1, cases + 1):
        kind = rng.choice(KINDS)
        created = (start + timedelta(seconds=number * 315)).isoformat()
        contact = f"whatsapp:62812{number:08d}"
        answers: dict[str, object] = {"full_name": f"Warga {number}"}
        if kind == "aid":
            answers["urgency"] = rng.choice(URGENCIES)
        unread = rng.randint(1, 5) if rng.random() < 0.05 else 0
        contacts.append((contact, "whatsapp", "id", "granted", "2026-11", created, created, created))
        rows.append(
            (
                f"{PREFIX[kind]}-{created[:4]}-{number:06d}",
                kind,
                rng.choice(STATUSES),
                contact,
                f"Warga {number}",
                json.dumps(answers),
                rng.choice(staff) if rng.random() < 0.6 else None,
                unread,
                created if unread else None,
                created,
                created,
            )
        )
    conn.executemany(
        "INSERT INTO contacts (id, channel, language, consent, consent_version, last_inbound_at, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        contacts,
    )
    conn.executemany(
        "INSERT INTO cases (reference, kind, status, contact_id, subject_name, answers, assignee_id, unread, "
        "waiting_since, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    batch: list[tuple[object, ...]] = []
    outbox: list[tuple[object, ...]] = []
    for index in range(messages):
        case_id = rng.randint(1, cases)
        at = (start + timedelta(seconds=index * 31)).isoformat()
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 25)))
        if rng.random() < 0.4:  # an outbound line: its outbox row writes it (migration 0009's trigger)
            payload = json.dumps({"text": text})
            contact = f"whatsapp:62812{case_id:08d}"
            outbox.append((contact, payload, rng.choice(("sent", "delivered", "read")), case_id, at, at))
        else:
            batch.append((case_id, at, "in", "text", text, None, f"contact:{case_id}", None, 0))
        if len(batch) + len(outbox) >= 50_000:
            _flush(conn, batch, outbox)
    _flush(conn, batch, outbox)


def _flush(
    conn: sqlite3.Connection, batch: list[tuple[object, ...]], outbox: list[tuple[object, ...]]
) -> None:
    conn.executemany(
        "INSERT INTO outbox (contact_id, origin, payload, status, case_id, created_at, updated_at) "
        "VALUES (?, 'staff', ?, ?, ?, ?, ?)",
        outbox,
    )
    conn.executemany(
        "INSERT INTO case_messages (case_id, at, direction, kind, body, media_ref, author, outbox_id, "
        "unread) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        batch,
    )
    batch.clear()
    outbox.clear()


def timing(response: httpx.Response) -> float:
    return float(response.headers["server-timing"].split("dur=")[1])


def report(name: str, times: list[float], target: float) -> float:
    p95 = statistics.quantiles(times, n=20)[-1]
    verdict = "ok" if p95 <= target else "OVER"
    print(
        f"  {name:<34} p50 {statistics.median(times):6.1f}  p95 {p95:6.1f}  max {max(times):6.1f} ms"
        f"  (target p95 <= {target:.0f}: {verdict})"
    )
    return p95


async def measure(data_dir: Path, cases: int, requests: int) -> None:
    cfg = settings(data_dir)
    service = await build_service(cfg, {})
    dashboard = Dashboard(service, cfg)
    token, _ = await service.db.write(
        partial(accounts.start_session, user_id=1, at=datetime.now(UTC), lifetime=timedelta(hours=2))
    )
    rng = random.Random(5)
    references = [
        str(row[0])
        for row in await service.db.fetchall(
            "SELECT reference FROM cases WHERE id IN (" + ",".join("?" * 50) + ")",
            [rng.randint(1, cases) for _ in range(50)],
        )
    ]
    transport = httpx.ASGITransport(app=build_asgi(dashboard.routes()))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", cookies={"dinsos_session": token}
    ) as client:
        assert (await client.get(f"/cases/{references[0]}")).status_code == 200
        print(f"{requests} requests each (server time from Server-Timing):")
        case_times = []
        for index in range(requests):
            response = await client.get(f"/cases/{references[index % len(references)]}")
            assert response.status_code == 200
            case_times.append(timing(response))
        report("case page with its thread", case_times, 100)
        variants = [
            {"unread": "1"},
            {"unread": "1", "page": "2"},
            {"unread": "1", "sort": "urgent"},
            {"sort": "waiting"},
            {"unread": "1", "kind": "aid"},
            {"unread": "1", "assignee": "1"},
        ]
        queue_times = []
        by_variant: dict[str, list[float]] = {}
        for index in range(requests):
            params = variants[index % len(variants)]
            response = await client.get("/cases", params=params)
            assert response.status_code == 200
            queue_times.append(timing(response))
            by_variant.setdefault("&".join(f"{k}={v}" for k, v in params.items()), []).append(
                timing(response)
            )
        report("queue, unread filter (all sorts)", queue_times, 150)
        for name, times in by_variant.items():
            print(f"    {name:<32} median {statistics.median(times):6.1f}  max {max(times):6.1f} ms")
        urgent = []
        for _ in range(max(20, requests // 5)):
            response = await client.get("/cases", params={"sort": "urgent"})
            urgent.append(timing(response))
        report("queue, darurat first (no filter)", urgent, 150)
        live_times = []
        for index in range(requests):
            response = await client.get("/live", params={"case": references[index % len(references)]})
            assert response.status_code == 200
            live_times.append(timing(response))
        report("live-update request", live_times, 20)
        rows = await client.get("/cases/rows", params={"unread": "1"})
        print(f"  {'queue rows fragment (live reload)':<34} {timing(rows):6.1f} ms")
    await service.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"

        async def prepare() -> None:
            db = await Database.open(data_dir / "intake.sqlite3", synchronous="NORMAL")
            started = time.perf_counter()
            await db.write(partial(seed, cases=args.cases, messages=args.messages))
            count = await db.fetchval("SELECT COUNT(*) FROM case_messages")
            took = time.perf_counter() - started
            print(f"seeded {args.cases:,} cases and {count:,} thread messages in {took:.1f} s")
            await db.close()

        asyncio.run(prepare())
        asyncio.run(measure(data_dir, args.cases, args.requests))


if __name__ == "__main__":
    main()
