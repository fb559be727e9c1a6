"""A person who answers each message 0.3 s after it arrives registers on Telegram without the
conversation falling one message behind, under Telegram's real pacing (30 messages/s overall, one per
second per chat over time, short bursts allowed; the fake answers 429 beyond that).

The person answers whatever has arrived when they answer: bubbles that arrive together are read as
one message; a bubble arriving after they answered (a late hint) is taken as the next question, which
is what made the conversation run one behind.
"""

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from bench.telegram_updates import script
from tests.fake_telegram import FakeTelegram, Sent
from tests.support import Clock
from tests.test_telegram import world

# Measures time or load against a bound: run by itself, after the other tests (scripts/check).
pytestmark = pytest.mark.alone

USER = 8001
THINK = 0.3  # seconds from a message's arrival to the person's answer


async def more_than(fake: FakeTelegram, user: int, count: int) -> None:
    """Wait until the chat has more than `count` messages."""
    await asyncio.wait_for(fake.wait_for(lambda: len(fake.to(user)) > count), 10)


async def converse(fake: FakeTelegram, user: int, steps: list[dict[str, Any]]) -> list[float]:
    """Answer step by step; return each reply's latency (update pushed -> its last bubble arrived)."""
    latencies: list[float] = []
    read = 0
    pushed = 0.0
    for number, step in enumerate([{"text": "halo"}, *steps[1:]]):
        if number:
            await more_than(fake, user, read)
            first = fake.to(user)[read]
            await asyncio.sleep(max(0.0, first.at + THINK - time.monotonic()))
            unit: list[Sent] = fake.to(user)[read:]
            read += len(unit)
            latencies.append(unit[-1].at - pushed)
            if "choice" in step:
                carrier = next((s for s in reversed(unit) if s.buttons), None)
                assert carrier is not None and any(d == step["choice"] for _, d in carrier.buttons), (
                    f"step {number}: answered {[s.text for s in unit]} with {step['choice']}"
                )
                update = fake.press(user, carrier, step["choice"])
            elif "contact" in step:
                update = fake.contact(user, step["contact"])
            elif "location" in step:
                update = fake.location(user, *step["location"])
            else:
                update = fake.text(user, step["text"])
        else:
            update = fake.text(user, step["text"])
        pushed = time.monotonic()
        await fake.push(update)
    await more_than(fake, user, read)
    await asyncio.sleep(THINK)
    latencies.append(fake.to(user)[-1].at - pushed)
    return latencies


async def test_a_quick_person_registers_without_the_conversation_falling_behind(
    tmp_path: Path, clock: Clock
) -> None:
    fake = await FakeTelegram(limit_per_second=30, chat_interval=1.0, chat_burst=20, latency=0.05).start()
    try:
        async with world(
            tmp_path,
            clock,
            fake=fake,
            staff_chat_id=None,
            rate_per_second=30,
            per_chat_interval_seconds=1.0,
        ) as w:
            steps = script(7)
            latencies = await converse(fake, USER, steps)
            assert len(latencies) == len(steps)
            final = fake.to(USER)[-1].text or ""
            assert "REG-" in final and "Warga Ti" in final, final
            person = await w.service.db.fetchone(
                "SELECT full_name, household_size FROM persons WHERE registered_by = ?", (f"telegram:{USER}",)
            )
            assert person is not None and person["full_name"] == "Warga Ti" and person["household_size"] == 4
            assert fake.limited == 0 and fake.chat_limited == 0  # within Telegram's limits throughout
            assert statistics.median(latencies) <= 0.3, latencies
    finally:
        await fake.stop()
