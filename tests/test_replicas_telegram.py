"""Several replicas on one PostgreSQL store, Telegram in webhook mode: an update another replica
stored (and answered 200 for) but never handled, because it died in between, is taken over by a replica
that lives, and the citizen gets the answer. Telegram does not deliver it again: the 200 was its receipt.
"""

import json
import logging
from pathlib import Path

import pytest

from bot.channels.telegram.intake import Inbox
from storage.postgres.store import PostgresStore
from tests.support import Clock
from tests.test_telegram import CITIZEN, t, within, world

LEASE = 1.0  # seconds: how often a replica looks for leftovers (30 s by default)


async def test_an_update_a_dead_replica_stored_is_answered_by_the_one_alive(
    tmp_path: Path, clock: Clock, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.adoption")
    async with world(tmp_path, clock, "webhook", database_url=postgres_url, lease_seconds=LEASE) as w:
        # This replica's own webhook deliveries are handled once, never "taken over".
        assert (await w.say(CITIZEN + 1, "halo"))[0].text == t("consent.notice")

        # Another replica received "halo" from the citizen, stored it, told Telegram 200, and died.
        update = w.fake.text(CITIZEN, "halo")
        other = await PostgresStore.open(postgres_url)
        try:
            cipher = w.service.services.sealer.cipher("webhook-inbox")
            await Inbox(other, clock, cipher).store([json.dumps(update).encode()], urgent=True)
        finally:
            await other.close()

        await within(w.adapter.wait_handled(update["update_id"]), 4 * LEASE + 5)
        assert [s.text for s in w.fake.to(CITIZEN)] == [t("consent.notice")]
        assert [s.text for s in w.fake.to(CITIZEN + 1)] == [t("consent.notice")]
        taken = [r.getMessage() for r in caplog.records if "taken over" in r.getMessage()]
        assert taken == ["1 Telegram updates another process stored were taken over"]
        await w.adapter.inbox.flush()
        assert await w.service.db.fetchval("SELECT COUNT(*) FROM webhook_inbox") == 0
