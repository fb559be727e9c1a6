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

`--ramp 25,50,100,150` instead runs that many people chatting at once, at a human pace (each answer
3-7 s after the question arrives, starts spread over 10 s), each a whole registration, one level after
another on a fresh store. Per level it prints the answers' p50 / p95, the useful sends (sendMessage)
per second in the busiest 10 s and over the middle half of the run against the 30/s limit, the
"chosen" edits made and skipped, the 429s, and at the end how many people at once the default limits
serve with answers p95 <= 1 s.

    python bench/reply_latency.py --ramp 25,50,100,150
"""

import argparse
import asyncio
import random
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
from tests.test_telegram_budget import person  # noqa: E402
from tests.test_telegram_pace import converse  # noqa: E402

LIMIT = 30  # Telegram's global limit, messages/s (the shipped setting)


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


def send_rates(stamps: list[float]) -> tuple[float, float]:
    """Sends per second in the busiest 10 s, and over the middle half of the run."""
    stamps = sorted(stamps)
    if len(stamps) < 2:
        return 0.0, 0.0
    busiest = 0
    start = 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] > 10.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    low, high = stamps[0], stamps[-1]
    quarter = (high - low) / 4
    middle = [stamp for stamp in stamps if low + quarter <= stamp <= high - quarter]
    return busiest / 10.0, len(middle) / max(2 * quarter, 1e-9)


async def level(people: int, latency: float, seed: int) -> dict[str, float]:
    """`people` registering at once at a human pace; the figures of the run."""
    fake = await FakeTelegram(
        limit_per_second=LIMIT, chat_interval=1.0, chat_burst=20, latency=latency
    ).start()
    latencies: list[float] = []
    rng = random.Random(seed)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with world(
                Path(tmp), Clock(), fake=fake, staff_chat_id=None, rate_per_second=LIMIT,
                per_chat_interval_seconds=1.0, per_chat_burst=20,
            ) as w:  # fmt: skip
                users = [90_000 + index for index in range(people)]
                await asyncio.gather(
                    *(
                        person(fake, user, script(index), rng, latencies, spread=10.0, think=(3.0, 7.0))
                        for index, user in enumerate(users)
                    )
                )
                finished = sum(1 for user in users if "REG-" in (fake.to(user)[-1].text or ""))
                skipped = w.adapter.channel.cosmetic_skipped
    finally:
        await fake.stop()
    busiest, middle = send_rates([sent.at for sent in fake.sent if sent.method == "sendMessage"])
    return {
        "people": people,
        "finished": finished,
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "busiest": busiest,
        "middle": middle,
        "edits": fake.calls["editMessageText"],
        "skipped": skipped,
        "limited": fake.limited + fake.chat_limited,
    }


async def ramp(levels: list[int], latency: float) -> None:
    rows = []
    for people in levels:
        row = await level(people, latency, seed=people)
        rows.append(row)
        print(
            f"{people:>4} people: finished {row['finished']:.0f}, answers p50 {row['p50'] * 1000:.0f} ms "
            f"p95 {row['p95'] * 1000:.0f} ms; sendMessage/s busiest 10 s {row['busiest']:.1f} "
            f"({row['busiest'] / LIMIT:.2f} L), middle half {row['middle']:.1f} "
            f"({row['middle'] / LIMIT:.2f} L); "
            f"chosen edits made {row['edits']:.0f}, skipped {row['skipped']:.0f}; 429s {row['limited']:.0f}",
            flush=True,
        )
    served = [row["people"] for row in rows if row["p95"] <= 1.0 and row["finished"] == row["people"]]
    figure = f"{max(served):.0f}" if served else f"fewer than {min(levels)}"
    print(f"people chatting at once served with answers p95 <= 1 s: {figure} (levels tried: {levels})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every Bot API call")
    parser.add_argument("--ramp", default=None, help="people at once per level, e.g. 25,50,100,150")
    args = parser.parse_args()
    if args.ramp:
        asyncio.run(ramp([int(value) for value in args.ramp.split(",")], args.latency))
    else:
        asyncio.run(main(args.people, args.latency))
