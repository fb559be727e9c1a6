"""Benchmark: broadcast enqueue, outbox dispatcher throughput, and start-up with many future reminders.

    python bench/outreach.py [--recipients 50000] [--reminders 100000]

Prints: seconds to write one outbox row per recipient of a 50,000-contact broadcast (target <= 5 s);
messages/s the dispatcher sends to a channel with no limit (target >= 2,000); and, in a fresh process,
service start-up time and RSS with 100,000 future reminders in the store (targets <= 3 s, <= 200 MB).
"""

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import Service, build_service
from bot.outbox import SendResult
from bot.scheduler import OutreachScheduler
from bot.settings import OutreachSettings, ServiceSettings, Settings, StoreSettings
from handlers import outreach
from handlers.outreach import QuietHours
from handlers.segments import Segment
from handlers.types import Reply
from storage.crypto import generate_key_text
from storage.records import OutboxStatus

WIB = ZoneInfo("Asia/Jakarta")
KEY = generate_key_text()


class NullChannel:
    """Accepts everything at once."""

    scheme = "console"

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        self.sent += 1
        return SendResult(OutboxStatus.SENT)


def settings(data_dir: Path) -> Settings:
    no_quiet = OutreachSettings(quiet_start=datetime.min.time(), quiet_end=datetime.min.time())
    return Settings(
        store=StoreSettings(data_dir=data_dir, secret_key=KEY),
        service=ServiceSettings(outbox_poll_seconds=0.05),
        outreach=no_quiet,
    )


def seed(conn: object, count: int) -> None:
    stamp = "2026-11-01T03:00:00+00:00"
    conn.executemany(  # type: ignore[attr-defined]
        "INSERT INTO contacts (id, channel, language, consent, consent_version, created_at, updated_at) "
        "VALUES (?, 'console', 'id', 'granted', '2026-11', ?, ?)",
        [(f"console:w{i}", stamp, stamp) for i in range(count)],
    )
    conn.executemany(  # type: ignore[attr-defined]
        "INSERT INTO persons (registered_by, is_self, full_name, kecamatan_code, kelurahan_code, skills, "
        "created_at, updated_at) VALUES (?, 1, 'Warga', '36.74.03', '36.74.03.1011', ?, ?, ?)",
        [(f"console:w{i}", '["montir"]' if i % 2 else "[]", stamp, stamp) for i in range(count)],
    )


def seed_reminders(conn: object, count: int) -> None:
    base = datetime.now(UTC) + timedelta(days=1)
    conn.executemany(  # type: ignore[attr-defined]
        "INSERT INTO reminders (kind, segment, text_id, due_at, created_by, created_at) "
        "VALUES ('segment', '{}', 'Pengingat', ?, 'bench', ?)",
        [((base + timedelta(minutes=i)).isoformat(), base.isoformat()) for i in range(count)],
    )


async def broadcast_and_dispatch(recipients: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        channel = NullChannel()
        service: Service = await build_service(settings(Path(tmp)), {"console": channel})
        await service.db.write(partial(seed, count=recipients))
        now = datetime.now(UTC)
        quiet = QuietHours(datetime.min.time(), datetime.min.time(), WIB)
        started = time.perf_counter()
        broadcast_id = await service.db.write(
            partial(
                outreach.create_broadcast,
                segment=Segment(everyone=True),
                text_id="Pelatihan montir minggu depan.",
                text_en="Mechanic training next week.",
                template=None,
                send_at=now,
                actor="bench",
                at=now,
                tz=WIB,
                quiet=quiet,
            )
        )
        enqueue = time.perf_counter() - started
        rows = await service.db.fetchval(
            "SELECT COUNT(*) FROM outbox WHERE broadcast_id = ?", (broadcast_id,)
        )
        print(f"broadcast enqueue     {rows} outbox rows in {enqueue:.2f} s")
        started = time.perf_counter()
        task = asyncio.create_task(service.dispatcher.run())
        while channel.sent < rows:  # noqa: ASYNC110 - polling a counter the channel bumps
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        left = await service.db.fetchval(
            "SELECT COUNT(*) FROM outbox WHERE broadcast_id = ? AND status != 'sent'", (broadcast_id,)
        )
        rate = channel.sent / elapsed
        print(
            f"dispatcher            {channel.sent} messages in {elapsed:.2f} s = {rate:.0f} msg/s "
            f"(rows not marked sent: {left})"
        )
        await service.close()


async def start_only(data_dir: Path) -> None:
    started = time.perf_counter()
    service = await build_service(settings(data_dir), {"console": NullChannel()})
    scheduler = OutreachScheduler(
        service.db,
        service.services.catalog,
        service.settings.outreach,
        WIB,
        service.engine.clock,
        on_queued=service.dispatcher.wake,
    )
    report = await scheduler.tick()
    elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pending = await service.db.fetchval("SELECT COUNT(*) FROM reminders WHERE status = 'active'")
    await service.close()
    print(
        f"start-up              {elapsed:.2f} s to open the store and run the first tick "
        f"({pending} future reminders, {len(report.reminders)} due); peak RSS {rss:.0f} MB"
    )


async def prepare_reminders(data_dir: Path, count: int) -> None:
    service = await build_service(settings(data_dir), {"console": NullChannel()})
    await service.db.write(partial(seed_reminders, count=count))
    await service.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument("--reminders", type=int, default=100_000)
    parser.add_argument("--start-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.start_only:
        asyncio.run(start_only(args.start_only))
        return
    asyncio.run(broadcast_and_dispatch(args.recipients))
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(prepare_reminders(Path(tmp), args.reminders))
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--start-only", tmp], check=True)
        print(
            f"start-up, whole process (interpreter, imports, store, first tick, exit): "
            f"{time.perf_counter() - started:.2f} s"
        )


if __name__ == "__main__":
    main()
