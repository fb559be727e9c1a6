"""Benchmark: reply latency on Telegram for a person who answers each message 0.3 s after it arrives.

The service runs with Telegram's default pacing (30 messages/s overall, one per second per chat over
time with the default burst) against the fake Bot API on 127.0.0.1, which enforces the same limits
(429 beyond them). Each person completes a whole self-registration (19 updates), answering whatever
has arrived 0.3 s after the first bubble of a reply; a reply is measured from the update being pushed
to the arrival of its last bubble. People register one after another (one person chatting at a time).

    python bench/reply_latency.py --people 5
    python bench/reply_latency.py --people 5 --latency 0.05     # 50 ms added to every Bot API call

Prints p50 / p95 / p99 / max of the reply latency, the 429 answers, and whether every registration
completed with each answer taken for the question it was meant for.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.telegram_updates import script  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.support import Clock  # noqa: E402
from tests.test_telegram import world  # noqa: E402
from tests.test_telegram_pace import converse  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))]


async def main(people: int, latency: float) -> None:
    fake = await FakeTelegram(limit_per_second=30, chat_interval=1.0, chat_burst=20, latency=latency).start()
    latencies: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with world(
                Path(tmp),
                Clock(),
                fake=fake,
                staff_chat_id=None,
                rate_per_second=30,
                per_chat_interval_seconds=1.0,
            ) as w:
                for index in range(people):
                    user = 90_000 + index
                    latencies += await converse(fake, user, script(index))
                    final = fake.to(user)[-1].text or ""
                    assert "REG-" in final, f"person {index} did not finish: {final[:80]}"
                registered = await w.service.db.fetchval("SELECT COUNT(*) FROM persons")
    finally:
        await fake.stop()
    ms = [value * 1000 for value in latencies]
    api = f"Bot API latency {latency * 1000:.0f} ms"
    print(f"people: {people} registrations ({registered} stored), {len(ms)} replies, {api}")
    print(
        f"reply latency (update -> last bubble): p50 {statistics.median(ms):.0f} ms, "
        f"p95 {percentile(ms, 0.95):.0f} ms, p99 {percentile(ms, 0.99):.0f} ms, max {max(ms):.0f} ms"
    )
    print(f"429 answers: global {fake.limited}, per chat {fake.chat_limited}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every Bot API call")
    args = parser.parse_args()
    asyncio.run(main(args.people, args.latency))
