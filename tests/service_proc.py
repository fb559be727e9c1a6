"""The real service (runner, outbox sender, scheduler) with a fake keyed channel, for crash tests.

    python -m tests.service_proc SINK_URL

Settings come from the environment (DINSOS_DATA_DIR, DINSOS_SECRET_KEY, ...). Every message for a
`console:` contact is POSTed to the sink with its idempotency key; the sink answers whether a key arrived.
"""

import asyncio
import os
import sys
from pathlib import Path

import httpx

from bot.outbox import SendResult
from bot.runner import run_service
from bot.settings import Settings
from handlers.types import Reply
from storage.records import OutboxStatus
from tests.support import TEST_KEY


def service_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a service subprocess on `data_dir`: quick ticks, no quiet hours, any port."""
    return {
        **os.environ,
        "DINSOS_DATA_DIR": str(data_dir),
        "DINSOS_SECRET_KEY": TEST_KEY,
        "DINSOS_WEB_PORT": "0",
        "DINSOS_OUTREACH_TICK_SECONDS": "0.2",
        "DINSOS_OUTBOX_POLL_SECONDS": "0.1",
        "DINSOS_OUTREACH_QUIET_START": "00:00",  # no quiet hours in these tests, whatever the hour
        "DINSOS_OUTREACH_QUIET_END": "00:00",
        "DINSOS_LOG_LEVEL": "WARNING",
        **extra,
    }


class SinkChannel:
    """A keyed channel: the receiver (the test's sink) keeps what arrived, by key."""

    scheme = "console"

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.client = httpx.AsyncClient(timeout=10)

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        raise RuntimeError("a keyed channel is always sent to with a key")

    async def send_keyed(self, key: str, contact_id: str, reply: Reply) -> SendResult:
        response = await self.client.post(
            f"{self.url}/messages", json={"key": key, "to": contact_id, "text": reply.text}
        )
        response.raise_for_status()
        return SendResult(OutboxStatus.SENT, external_id=key)

    async def delivered(self, key: str) -> bool | None:
        response = await self.client.get(f"{self.url}/delivered", params={"key": key})
        response.raise_for_status()
        return bool(response.json()["delivered"])


def main() -> None:
    asyncio.run(run_service(Settings(), extra_channels={"console": SinkChannel(sys.argv[1])}))


if __name__ == "__main__":
    main()
