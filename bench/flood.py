"""Benchmark: one contact floods the bot while 50 other people start a conversation.

Telegram (polling, Telegram's pacing: 30 messages/s, one per second per chat over time): one chat sends
1,500 messages within 5 s while 50 people each say "halo" (10 a second); prints the median and p95
wait for their first reply. WhatsApp (signed webhooks, fake Graph API): one number sends 5,000
messages; once 1,000 are in, 50 people say "halo"; prints their p95 wait and how much the process's
memory grew meanwhile. Both print how much of the flood was handled and how much waits in the store.

    python bench/flood.py
    python bench/flood.py --telegram-flood 1500 --whatsapp-flood 5000
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import Clock  # noqa: E402
from tests.test_fairness import FLOODER, telegram_flood, whatsapp_flood  # noqa: E402
from tests.test_telegram import world  # noqa: E402
from tests.test_whatsapp import Harness  # noqa: E402


def p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank)."""
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


async def telegram(flood: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pacing: dict[str, Any] = {"rate_per_second": 30, "per_chat_interval_seconds": 1.0}
        async with world(Path(tmp), Clock(), staff_chat_id=None, **pacing) as w:
            waits = await telegram_flood(w, flood)
            handled = await w.service.db.fetchval(
                "SELECT COUNT(*) FROM inbound WHERE contact_id = ?", (f"telegram:{FLOODER}",)
            )
            lanes = w.adapter.lanes
            print(
                f"Telegram: {flood} messages from one chat in 5 s, 50 others: first reply median "
                f"{statistics.median(waits) * 1000:.0f} ms, p95 {p95(waits) * 1000:.0f} ms, "
                f"max {max(waits) * 1000:.0f} ms; flood handled so far {handled}, waiting {lanes.pending} "
                f"({lanes.in_memory} in memory)"
            )


async def whatsapp(flood: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        harness = await Harness.start(Path(tmp) / "data", Clock())
        try:
            flooder = "6281100000001"
            waits, grown = await whatsapp_flood(harness, flooder, flood)
            handled = await harness.db.fetchval(
                "SELECT COUNT(*) FROM inbound WHERE contact_id = ?", (f"whatsapp:{flooder}",)
            )
            stored = await harness.db.fetchval(
                "SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL"
            )
            print(
                f"WhatsApp: {flood} messages from one number, 50 others: first reply median "
                f"{statistics.median(waits) * 1000:.0f} ms, p95 {p95(waits) * 1000:.0f} ms, "
                f"max {max(waits) * 1000:.0f} ms; memory growth {grown:.1f} MB; flood handled {handled}, "
                f"still stored {stored}"
            )
        finally:
            await harness.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--telegram-flood", type=int, default=1500)
    parser.add_argument("--whatsapp-flood", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(telegram(args.telegram_flood))
    asyncio.run(whatsapp(args.whatsapp_flood))
