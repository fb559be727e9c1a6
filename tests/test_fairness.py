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
from tests.test_telegram import t, world
from tests.test_whatsapp import Harness

FLOODER = 66_000
OTHERS = 50


def rss_mb() -> float:
    """The process's resident memory now (MB)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 1e6


async def test_a_flooding_telegram_chat_does_not_stop_replies_to_everyone_else(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.engine")
    # Telegram's real pacing: about 30 messages a second overall, one a second per chat after a burst.
    async with world(
        tmp_path, clock, staff_chat_id=None, rate_per_second=30, per_chat_interval_seconds=1.0
    ) as w:
        fake = w.fake
        asked: dict[int, float] = {}
        answered: dict[int, float] = {}
        people = [70_000 + i for i in range(OTHERS)]

        def note_answers() -> bool:
            for sent in fake.sent[len(seen) :]:
                seen.append(sent)
                if sent.chat_id in asked and sent.chat_id not in answered:
                    answered[sent.chat_id] = time.monotonic()
            return len(answered) == OTHERS

        seen: list[object] = []
        flood = [fake.text(FLOODER, f"pesan {n}") for n in range(1500)]
        watcher = asyncio.create_task(fake.wait_for(note_answers))  # notes each reply as it is sent
        started = time.monotonic()
        for second in range(5):  # 300 a second for 5 s; ten people start talking each second
            await fake.push(*flood[second * 300 : (second + 1) * 300])
            for user in people[second * 10 : (second + 1) * 10]:
                asked[user] = time.monotonic()
                await fake.push(fake.text(user, "halo"))
            await asyncio.sleep(max(0.0, started + second + 1 - time.monotonic()))
        await asyncio.wait_for(watcher, 30)

        waits = sorted(answered[user] - asked[user] for user in people)
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


async def test_a_flooding_whatsapp_number_does_not_slow_down_the_others(tmp_path: Path, clock: Clock) -> None:
    harness = await Harness.start(tmp_path / "data", clock)
    try:
        fake = harness.fake
        flooder = "6281100000001"
        people = [f"62812000{i:05d}" for i in range(OTHERS)]
        ids = iter(range(1_000_000))

        def text_body(wa_id: str, text: str) -> bytes:
            message = {"id": f"wamid.IN{next(ids)}", "type": "text", "text": {"body": text}}
            return json.dumps(webhook_body(message, wa_id=wa_id)).encode()

        before = rss_mb()
        flood = [text_body(flooder, f"pesan {n}") for n in range(5000)]
        posted = 0

        async def poster(share: list[bytes]) -> None:
            nonlocal posted
            for raw in share:
                response = await harness.post(raw)
                assert response.status_code == 200
                posted += 1
                if posted >= 1000:
                    under_way.set()

        under_way = asyncio.Event()  # the flood is well under way once 1,000 have arrived

        flooding = [asyncio.create_task(poster(flood[i::8])) for i in range(8)]
        await asyncio.wait_for(under_way.wait(), 30)
        asked: dict[str, float] = {}
        answered: dict[str, float] = {}

        def note_answers() -> None:
            now = time.monotonic()
            for sent in fake.sent:
                if sent.to in asked and sent.to not in answered:
                    answered[sent.to] = now

        for wa_id in people:
            asked[wa_id] = time.monotonic()
            response = await harness.post(text_body(wa_id, "halo"))
            assert response.status_code == 200
            note_answers()
            await asyncio.sleep(0.02)
        deadline = time.monotonic() + 20
        while len(answered) < OTHERS and time.monotonic() < deadline:
            note_answers()
            await asyncio.sleep(0.005)
        await asyncio.gather(*flooding)
        grown = rss_mb() - before

        assert len(answered) == OTHERS, f"{OTHERS - len(answered)} people got no reply"
        waits = sorted(answered[p] - asked[p] for p in people)
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
