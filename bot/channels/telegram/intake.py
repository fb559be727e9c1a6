"""How updates come in: stored first, then handled per user in order, users concurrently.

`Inbox` keeps each raw update in `webhook_inbox` before Telegram is told it arrived (the webhook's 200,
or the next `getUpdates` offset), and deletes it once handled; updates found there at start-up (the
process died in between) are handled then. The engine records every `update_id` in the same
transaction as its effects, so an update handled twice changes nothing and sends nothing twice.

Each user has a lane (`bot.ordering.OrderedLanes` over `bot.engine.FairLanes`): one user's updates run
one after another in update_id order, different users concurrently and in turn, and a user who floods
the bot keeps only a few updates in memory (the rest are read back from the inbox when their turn
comes), so polling never stops for everyone else. python-telegram-bot's `Application` would either run
every update one at a time, or, with `concurrent_updates`, lose the per-user order; so the channel feeds
its own lanes from PTB's `getUpdates` and `Update.de_json`.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial

from storage import channels
from storage.contract import Store, Tx
from storage.crypto import BlobCipher

log = logging.getLogger(__name__)

SOURCE = "telegram"


def _store(tx: Tx, bodies: list[bytes], at: datetime) -> list[int]:
    # `bodies` arrive sealed: raw updates can hold a typed NIK, never stored in clear.
    return channels.keep_bodies(tx, SOURCE, bodies, at)


def _settle(tx: Tx, done: list[int], failed: list[tuple[int, str]], at: datetime) -> None:
    # Handled updates hold message texts: they are deleted, not kept. Failed ones stay for the operator.
    channels.forget_bodies(tx, done)
    channels.fail_bodies(tx, failed, at)


class Inbox:
    """Raw updates kept until handled."""

    def __init__(
        self,
        db: Store,
        clock: Callable[[], datetime],
        cipher: BlobCipher,
        *,
        flush_seconds: float = 0.2,
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.clock = clock
        self.flush_seconds = flush_seconds
        self._done: list[int] = []
        self._failed: list[tuple[int, str]] = []
        self._wake = asyncio.Event()

    async def store(self, bodies: list[bytes], *, urgent: bool = False) -> list[int]:
        """Keep raw updates (one transaction); return their inbox ids. `urgent`: a webhook waiting for
        its answer goes before queued writes."""
        sealed = [self.cipher.seal(body) for body in bodies]
        keep = partial(_store, bodies=sealed, at=self.clock())
        return await self.db.submit(keep, urgent=urgent)

    def settle(self, inbox_id: int, error: str | None = None) -> None:
        """Mark an update handled (or failed); written in batches."""
        if error is None:
            self._done.append(inbox_id)
        else:
            self._failed.append((inbox_id, error))
        if len(self._done) >= 256:
            self._wake.set()

    async def flush(self) -> None:
        """Write the settled marks now."""
        if not self._done and not self._failed:
            return
        done, failed = self._done, self._failed
        self._done, self._failed = [], []
        await self.db.write(partial(_settle, done=done, failed=failed, at=self.clock()))

    async def run(self) -> None:
        """Flush the settled marks every `flush_seconds` until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_seconds):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("could not clear handled Telegram updates")

    async def load(self, inbox_id: int) -> bytes | None:
        """One stored update (None when it is gone or cannot be read)."""
        body = await channels.body(self.db, inbox_id)
        if body is None:
            return None
        try:
            return self.cipher.open(body)
        except Exception as error:  # a key change or a damaged row: keep it, say so, go on
            log.error("stored Telegram update %d could not be read (%s)", inbox_id, type(error).__name__)
            self.settle(inbox_id, error=type(error).__name__)
            return None

    async def waiting(self) -> set[int]:
        """Ids of the updates stored and not yet handled (by any process sharing the store)."""
        return await channels.unprocessed_ids(self.db, SOURCE)

    async def unhandled(self, only: set[int] | None = None) -> list[tuple[int, bytes]]:
        """Updates stored but never handled (the process stopped in between; those of `only`, when
        given), oldest first."""
        rows = await channels.unprocessed(self.db, SOURCE)
        readable: list[tuple[int, bytes]] = []
        for inbox_id, sealed in rows:
            if only is not None and inbox_id not in only:
                continue
            try:
                readable.append((inbox_id, self.cipher.open(sealed)))
            except Exception as error:  # a key change or a damaged row: keep it, say so, go on
                log.error("stored Telegram update %d could not be read (%s)", inbox_id, type(error).__name__)
                self.settle(inbox_id, error=type(error).__name__)
        return readable
