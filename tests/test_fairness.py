"""One contact flooding the bot costs everyone else almost nothing, on Telegram and on WhatsApp.

Telegram (polling, default pacing): one chat sends 1,500 messages within 5 s while 50 other people each
start a conversation; all 50 get their first reply, median within 2 s. WhatsApp: one number sends 5,000
messages; the other 50 people's replies come within 1 s (p95) and memory grows by less than 30 MB. The
flood itself is kept (nothing dropped), logged and marked on the contact for staff.
"""

import asyncio
import json
import logging
import resource
import statistics
import time
from pathlib import Path

import pytest

from tests.fake_graph import webhook_body
from tests.support import Clock
from tests.test_telegram import World, t, world
from tests.test_whatsapp import Harness

# Measures time or load against a bound: run by itself, after the other tests (scripts/check).
pytestmark = pytest.mark.alone

FLOODER = 66_000
OTHERS = 50


def rss_mb() -> float:
    """The process's resident memory now (MB)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 1e6


async def telegram_flood(w: World, flood: int = 1500, others: int = OTHERS) -> list[float]:
    """One chat sends `flood` messages over 5 s while `others` people each say halo (10 a second);
    return each person's wait for their first reply, sorted."""
    fake = w.fake
    asked: dict[int, float] = {}
    people = [70_000 + i for i in range(others)]
    messages = [fake.text(FLOODER, f"pesan {n}") for n in range(flood)]
    per_second = -(-flood // 5)
    started = time.monotonic()
    for second in range(5):
        await fake.push(*messages[second * per_second : (second + 1) * per_second])
        for user in people[second * others // 5 : (second + 1) * others // 5]:
            asked[user] = time.monotonic()
            await fake.push(fake.text(user, "halo"))
        await asyncio.sleep(max(0.0, started + second + 1 - time.monotonic()))
    await asyncio.wait_for(fake.wait_for(lambda: all(fake.to(user) for user in people)), 30)
    return sorted(fake.to(user)[0].at - asked[user] for user in people)


async def test_a_flooding_telegram_chat_does_not_stop_replies_to_everyone_else(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.engine")
    # Telegram's real pacing: about 30 messages a second overall, one a second per chat after a burst.
    async with world(
        tmp_path, clock, staff_chat_id=None, rate_per_second=30, per_chat_interval_seconds=1.0
    ) as w:
        fake = w.fake
        people = [70_000 + i for i in range(OTHERS)]
        waits = await telegram_flood(w)
        assert statistics.median(waits) <= 2.0, waits
        for user in people:
            assert fake.to(user)[0].text == t("consent.notice")
        # Nothing of the flood is dropped: what is not handled yet waits in the store.
        await asyncio.sleep(0.3)  # the inbox marks of handled updates are written in batches
        handled = await w.service.db.fetchval(
            "SELECT COUNT(*) FROM inbound WHERE contact_id = ?", (f"telegram:{FLOODER}",)
        )
        waiting = await w.service.db.fetchval(
            "SELECT COUNT(*) FROM webhook_inbox WHERE source = 'telegram' AND processed_at IS NULL"
        )
        assert handled + waiting >= 1500 and handled < 1500
        assert fake.fetched_offsets and not fake._updates  # polling went on through the flood
        marked = await w.service.db.fetchone(
            "SELECT flooded_at, flood_waiting FROM contacts WHERE id = ?", (f"telegram:{FLOODER}",)
        )
        assert marked is not None and marked["flooded_at"] and marked["flood_waiting"] > 100
        assert any("answered in turn" in r.getMessage() for r in caplog.records)
        assert not any(str(FLOODER) in r.getMessage() for r in caplog.records)  # no identifiers


def text_body(wa_id: str, text: str, number: int) -> bytes:
    """A signed-webhook body carrying one text message."""
    message = {"id": f"wamid.IN{number}", "type": "text", "text": {"body": text}}
    return json.dumps(webhook_body(message, wa_id=wa_id)).encode()


async def whatsapp_flood(
    harness: Harness, flooder: str, flood: int = 5000, others: int = OTHERS
) -> tuple[list[float], float]:
    """One number sends `flood` messages (8 webhook deliveries at a time, as Meta does); once 1,000 are
    in, `others` people say halo, 50 a second. Return their waits for a first reply, sorted, and how much
    the process's memory grew (MB) by the time they all had it."""
    fake = harness.fake
    people = [f"62812000{i:05d}" for i in range(others)]
    before = rss_mb()
    bodies = [text_body(flooder, f"pesan {n}", n) for n in range(flood)]
    posted = 0
    under_way = asyncio.Event()

    async def poster(share: list[bytes]) -> None:
        nonlocal posted
        for raw in share:
            response = await harness.post(raw)
            assert response.status_code == 200
            posted += 1
            if posted >= min(1000, flood):
                under_way.set()

    flooding = [asyncio.create_task(poster(bodies[i::8])) for i in range(8)]
    await asyncio.wait_for(under_way.wait(), 60)
    asked: dict[str, float] = {}
    for number, wa_id in enumerate(people):
        asked[wa_id] = time.monotonic()
        response = await harness.post(text_body(wa_id, "halo", flood + number))
        assert response.status_code == 200
        await asyncio.sleep(0.02)
    for _ in range(4000):  # 20 s at most
        if all(fake.to(p) for p in people):
            break
        await asyncio.sleep(0.005)
    grown = rss_mb() - before
    await asyncio.gather(*flooding)
    return sorted(fake.to(p)[0].at - asked[p] if fake.to(p) else float("inf") for p in people), grown


async def test_a_flooding_whatsapp_number_does_not_slow_down_the_others(tmp_path: Path, clock: Clock) -> None:
    harness = await Harness.start(tmp_path / "data", clock)
    try:
        fake = harness.fake
        flooder = "6281100000001"
        people = [f"62812000{i:05d}" for i in range(OTHERS)]
        waits, grown = await whatsapp_flood(harness, flooder)
        assert waits[-1] < float("inf"), "somebody got no reply"
        p95 = waits[int(len(waits) * 0.95) - 1]
        assert p95 <= 1.0, waits
        assert grown < 30, f"memory grew by {grown:.0f} MB"
        for wa_id in people:
            assert fake.to(wa_id)[0].text == t("consent.notice")
        stored = await harness.db.fetchval("SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL")
        handled = await harness.db.fetchval(
            "SELECT COUNT(*) FROM inbound WHERE contact_id = ?", (f"whatsapp:{flooder}",)
        )
        assert stored + handled >= 5000  # every message kept, answered in turn
        marked = await harness.db.fetchval(
            "SELECT flooded_at FROM contacts WHERE id = ?", (f"whatsapp:{flooder}",)
        )
        assert marked
    finally:
        await harness.close()
