"""Benchmark: N simulated contacts complete registrations concurrently, in-process, on a SQLite file.

Every reply is committed to the store (state, answers, outbox row) before it is handed to the channel,
and its outbox row is marked sent afterwards, exactly as in production. Prints messages/s, handling
latency percentiles (receive -> reply delivered) and peak RSS.

    python bench/registration_load.py --contacts 1000
"""

import argparse
import asyncio
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

from bot.app import Service, build_service
from bot.outbox import SendResult
from bot.settings import ServiceSettings, Settings, StoreSettings
from handlers.types import Inbound, Reply
from storage.crypto import generate_key_text
from storage.records import OutboxStatus

COMPLETIONS: list[float] = []


class CountingChannel:
    """Accepts every message at once (no platform limits), counting them."""

    scheme = "console"

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        self.sent += 1
        return SendResult(OutboxStatus.SENT)


def letters(index: int) -> str:
    """A name part made of letters only (names with digits are refused, rightly)."""
    syllables = ["ba", "di", "ku", "ma", "ni", "ra", "sa", "ti", "wa", "yu"]
    return "".join(syllables[int(d)] for d in str(index)).capitalize()


def script(index: int) -> list[dict[str, object]]:
    """The events of one complete self-registration."""
    day = 1 + index % 28
    return [
        {"text": "halo"},
        {"choice": "consent:yes"},
        {"choice": "menu:registration"},
        {"choice": "for_whom:self"},
        {"text": f"Warga {letters(index)}"},
        {"text": f"367401{day + 40:02d}0885{index % 9999 + 1:04d}"},
        {"text": f"{day}-08-1985"},
        {"choice": "sex:P"},
        {"text": f"0812{index:08d}"},
        {"choice": "kecamatan:36.74.03"},
        {"choice": "kelurahan:36.74.03.1011"},
        {"text": "Jl. H. Sarmili RT 03/05"},
        {"text": "0"},
        {"text": "4"},
        {"text": "1 3"},
        {"text": "tidak"},
        {"text": "1 2"},
        {"choice": "aid_received:none"},
        {"choice": "summary:send"},
    ]


async def contact_run(service: Service, index: int, latencies: list[float], interval: float) -> None:
    """One person typing: a message, the reply, a pause of about `interval` s between sends."""
    contact = f"console:bench{index}"
    await asyncio.sleep(random.random() * max(interval, 0.2))  # arrivals spread over time
    for number, step in enumerate(script(index)):
        sent_at = time.perf_counter()
        event = Inbound(
            contact=contact,
            at=service.engine.clock(),
            event_id=f"bench:{index}:{number}",
            text=step.get("text"),  # type: ignore[arg-type]
            choice=step.get("choice"),  # type: ignore[arg-type]
        )
        started = time.perf_counter()
        replies = await service.receive(event)
        finished = time.perf_counter()
        latencies.append(finished - started)
        COMPLETIONS.append(finished)
        if not replies:
            raise RuntimeError(f"contact {index} got no reply at step {number}")
        if interval:
            pause = interval * random.uniform(0.5, 1.5) - (time.perf_counter() - sent_at)
            await asyncio.sleep(max(0.0, pause))


async def main(contacts: int, synchronous: str, interval: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            store=StoreSettings(
                data_dir=Path(tmp), secret_key=generate_key_text(), sqlite_synchronous=synchronous
            ),
            service=ServiceSettings(),
        )
        channel = CountingChannel()
        service = await build_service(settings, {"console": channel})
        latencies: list[float] = []
        started = time.perf_counter()
        await asyncio.gather(*(contact_run(service, i, latencies, interval) for i in range(contacts)))
        elapsed = time.perf_counter() - started
        cases = await service.db.fetchval("SELECT COUNT(*) FROM cases")
        queued = await service.db.fetchval("SELECT COUNT(*) FROM outbox WHERE status != 'sent'")
        await service.close()
    latencies.sort()
    count = len(latencies)
    done = sorted(COMPLETIONS)
    low, high = done[int(count * 0.1)], done[int(count * 0.9)]
    sustained = (0.8 * count) / (high - low)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"contacts            {contacts}")
    print(f"sqlite synchronous  {synchronous}")
    print(f"send interval       {interval:.2f} s per contact (0 = as fast as replies come)")
    print(f"inbound messages    {count}")
    print(f"replies delivered   {channel.sent}")
    print(f"cases created       {cases}  (unsent outbox rows: {queued})")
    print(f"wall time           {elapsed:.2f} s")
    print(f"throughput          {count / elapsed:.0f} msgs/s over the whole run")
    print(f"sustained           {sustained:.0f} msgs/s (middle 80% of messages, ramp-up excluded)")
    print(f"latency p50         {statistics.median(latencies) * 1000:.1f} ms")
    print(f"latency p99         {latencies[int(count * 0.99) - 1] * 1000:.1f} ms")
    print(f"latency max         {latencies[-1] * 1000:.1f} ms")
    print(f"peak RSS            {rss_mb:.0f} MB")
    if cases != contacts:
        raise SystemExit(f"FAILED: {contacts} registrations expected, {cases} cases stored")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--synchronous", choices=["NORMAL", "FULL"], default="FULL")
    parser.add_argument(
        "--interval",
        type=float,
        default=0.9,
        help="mean seconds between one contact's messages (jittered 50-150%%); 0 = saturate",
    )
    args = parser.parse_args()
    asyncio.run(main(args.contacts, args.synchronous, args.interval))
