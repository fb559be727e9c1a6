"""Benchmark: the readable case export (one column per answer, in words) with many cases.

    python -m bench.export [--cases 1000000] [--xlsx-cases 20000] [--keep DIR] [--profile FILE] [--postgres]

Seeds a store with `--cases` cases whose answers look like real ones (registrations with birth date,
sex, phone, places, address, household, skills, documents; aid requests with kind, urgency, text;
lost-KTP reports), written with executemany, then prints the time to produce the CSV export of all of
them (the dashboard's streaming body, consumed in this process; target <= 10 s for 1,000,000 cases):
wall and CPU seconds (this process and the export's worker processes), rows/s, the time to the first
byte and the first row, and the peak memory of this process and of the largest worker; then the time to
make the XLSX rows of the first `--xlsx-cases`. `--keep DIR` seeds into DIR once and reuses it on
later runs (seeding a million takes minutes); `--profile FILE` writes a cProfile of the CSV export.
`--postgres` then copies the store into a throwaway local PostgreSQL cluster (as `migrate-store` does)
and measures the same export there.
"""

import argparse
import asyncio
import cProfile
import json
import random
import resource
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# The service is imported where it is used: the export's worker processes import this module as their
# main one (multiprocessing's spawn), and under `python -m bot` they import nothing of the kind.

PREFIX = {"registration": "REG", "lost_ktp": "KTP", "aid": "BAN", "message": "PSN"}


def answers_of(
    kind: str, rng: random.Random, number: int, name: str, place: tuple[str, str]
) -> dict[str, object]:
    """Answers shaped as the forms store them."""
    kecamatan, kelurahan = place
    masked = {"c": "bench", "h": f"h{number}", "m": f"3674********{number % 10000:04d}"}
    if kind == "registration":
        return {
            "for_whom": "self",
            "full_name": name,
            "nik": masked,
            "birth_date": f"{rng.randint(1950, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "sex": rng.choice(("L", "P")),
            "phone": f"+62812{number:08d}",
            "kecamatan": kecamatan,
            "kelurahan": kelurahan,
            "address": f"Gang Melati RT {number % 20:02d}/RW {number % 9:02d}",
            "household_size": rng.randint(1, 9),
            "skills": rng.sample(["masak", "rias", "menjahit", "montir", "service_hp"], 2),
            "disaster_victim": rng.random() < 0.2,
            "documents": rng.sample(["ktp", "kk", "akta", "kis"], 2),
            "aid_received": [],
        }
    if kind == "aid":
        return {
            "for_whom": "self",
            "beneficiary_name": name,
            "aid_kind": rng.choice(("basic", "health", "school")),
            "description": {"text": "Beras dan minyak untuk keluarga, rumah terbakar minggu lalu."},
            "urgency": rng.choice(("today", "week", "later")),
            "people": rng.randint(1, 8),
            "kecamatan": kecamatan,
            "kelurahan": kelurahan,
        }
    if kind == "lost_ktp":
        return {
            "whose": "self",
            "owner_name": name,
            "what_happened": rng.choice(("hilang", "terbakar", "rusak", "dicuri")),
            "when": rng.choice(("week", "month", "older")),
            "nik": masked,
            "kk": {"c": "bench", "h": f"k{number}", "m": f"3674********{number % 9000:04d}"},
            "documents_left": ["kk_copy"],
            "kecamatan": kecamatan,
            "kelurahan": kelurahan,
        }
    return {"message": {"text": "Kapan bantuan dibagikan?"}}


def seed(path: Path, count: int) -> None:
    """`count` cases with contacts, in bulk (executemany, one transaction per 100,000)."""
    from bench.dashboard import FIRST, LAST
    from handlers.places import Places

    rng = random.Random(14)
    places = [(k.code, v.code) for k in Places.load().kecamatan for v in Places.load().kelurahan_of(k.code)]
    start = datetime(2025, 11, 20, tzinfo=UTC)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    for first in range(1, count + 1, 100_000):
        contacts, cases = [], []
        for number in range(first, min(count, first + 99_999) + 1):
            kind = rng.choice(("registration", "registration", "aid", "lost_ktp", "message"))
            created = (start + timedelta(seconds=number * 30)).isoformat()
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            contact = f"whatsapp:62812{number:08d}" if number % 10 else f"web:sim{number}"
            place = rng.choice(places)
            contacts.append((contact, contact.split(":")[0], created, created))
            cases.append(
                (
                    f"{PREFIX[kind]}-{created[:4]}-{number:07d}",
                    kind,
                    rng.choice(("baru", "diproses", "selesai")),
                    contact,
                    name,
                    place[0],
                    place[1],
                    json.dumps(answers_of(kind, rng, number, name, place)),
                    created,
                    created,
                )
            )
        with conn:
            conn.executemany(
                "INSERT INTO contacts (id, channel, language, consent, consent_version, created_at, "
                "updated_at) VALUES (?, ?, 'id', 'granted', '2026-11', ?, ?)",
                contacts,
            )
            conn.executemany(
                "INSERT INTO cases (reference, kind, status, contact_id, subject_name, kecamatan_code, "
                "kelurahan_code, answers, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                cases,
            )
    conn.close()


async def measure(
    data_dir: Path,
    count: int,
    xlsx_cases: int,
    profile: Path | None = None,
    key: str | None = None,
    save: Path | None = None,
    database_url: str | None = None,
) -> None:
    from pydantic import SecretStr

    from bench.dashboard import settings
    from bot.app import build_service
    from bot.dashboard import Dashboard, exports, queries
    from bot.dashboard.queries import QueueFilter

    cfg = settings(data_dir)
    if key is not None:
        cfg.store = cfg.store.model_copy(update={"secret_key": SecretStr(key)})
    if database_url is not None:
        cfg.store = cfg.store.model_copy(update={"database_url": SecretStr(database_url)})
    service = await build_service(cfg, {})
    dashboard = Dashboard(service, cfg)
    try:
        seeded = int(await service.db.fetchval("SELECT COUNT(*) FROM cases"))
        if seeded == 0 and database_url is None:
            started = time.perf_counter()
            seed(data_dir / "intake.sqlite3", count)
            print(f"seeded {count:,} cases in {time.perf_counter() - started:.1f} s")
        else:
            count = seeded
            print(f"reusing the {count:,} cases seeded in {data_dir}")
        response = exports.csv_response(dashboard, QueueFilter(), "id")
        profiler = cProfile.Profile() if profile is not None else None
        if profiler is not None:
            profiler.enable()
        size = lines = 0
        first_byte = first_row = 0.0
        out = save.open("wb") if save is not None else None
        cpu, workers_cpu = time.process_time(), _children_cpu()
        started = time.perf_counter()
        async for chunk in response.body_iterator:
            data = chunk if isinstance(chunk, bytes) else str(chunk).encode()
            if not first_byte:
                first_byte = time.perf_counter() - started
            size += len(data)
            lines += data.count(b"\n")
            if not first_row and lines > 1:
                first_row = time.perf_counter() - started
            if out is not None:
                out.write(data)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        workers_cpu = _children_cpu() - workers_cpu
        if out is not None:
            out.close()
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        rows_out = lines - 1
        store = "PostgreSQL" if database_url is not None else "SQLite"
        print(
            f"CSV export ({store}) of all {count:,} cases (one column per answer, in words): "
            f"{elapsed:.2f} s wall "
            f"(target <= 10 s for 1,000,000), {cpu + workers_cpu:.2f} s CPU ({cpu:.2f} s this process, "
            f"{workers_cpu:.2f} s worker processes), {rows_out / elapsed:,.0f} rows/s, {size / 1e6:.0f} MB, "
            f"{rows_out:,} rows; first byte after {first_byte * 1000:.0f} ms, first row after "
            f"{first_row * 1000:.0f} ms; peak RSS {_peak_rss(resource.RUSAGE_SELF):.0f} MB this process, "
            f"{_peak_rss(resource.RUSAGE_CHILDREN):.0f} MB the largest worker"
        )
        assert lines - 1 >= count, "every case is exported"
        flt = QueueFilter()
        started = time.perf_counter()
        maker = exports.row_maker(dashboard, "id", dates=True)
        rows = 0
        async for batch in queries.iter_export_rows(
            dashboard.db, flt, tz=dashboard.tz, sealer=dashboard.sealer
        ):
            for row in batch:
                maker.values(row)
            rows += len(batch)
            if rows >= xlsx_cases:
                break
        print(f"XLSX rows of {rows:,} cases prepared in {time.perf_counter() - started:.2f} s")
    finally:
        await service.close()


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (the export's workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _peak_rss(who: int) -> float:
    """Peak resident memory in MB (for children: of the largest finished one)."""
    return resource.getrusage(who).ru_maxrss / 1024


def on_postgres(data_dir: Path, count: int, xlsx_cases: int, key: str, save: Path | None) -> None:
    """Copy the seeded store into a throwaway local PostgreSQL cluster and measure the same export
    there."""
    from bench.million import copied_to_postgres

    with copied_to_postgres(data_dir) as url:
        asyncio.run(measure(data_dir, count, xlsx_cases, None, key, save, database_url=url))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--xlsx-cases", type=int, default=20_000)
    parser.add_argument(
        "--keep", type=Path, help="seed into (or reuse) this folder instead of a temporary one"
    )
    parser.add_argument("--profile", type=Path, help="write a cProfile of the CSV export to this file")
    parser.add_argument("--save", type=Path, help="write the CSV export to this file")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="then copy the store into a throwaway local PostgreSQL cluster and measure the export there",
    )
    args = parser.parse_args()
    from storage.crypto import generate_key_text

    def run(data_dir: Path, key: str) -> None:
        asyncio.run(measure(data_dir, args.cases, args.xlsx_cases, args.profile, key, args.save))
        if args.postgres:
            on_postgres(data_dir, args.cases, args.xlsx_cases, key, args.save)

    if args.keep is not None:
        key_file = args.keep / "bench.key"
        if not key_file.exists():
            (args.keep / "data").mkdir(parents=True, exist_ok=True)
            key_file.write_text(generate_key_text())
        run(args.keep / "data", key_file.read_text())
        return
    with tempfile.TemporaryDirectory() as tmp:
        run(Path(tmp), generate_key_text())


if __name__ == "__main__":
    main()
