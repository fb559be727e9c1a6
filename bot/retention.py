"""The periodic prune of message history (see `storage.retention`), a job on the outreach scheduler."""

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.settings import StoreSettings
from storage.contract import Store
from storage.retention import PruneReport, prune_history

log = logging.getLogger(__name__)

# Between two batches the prune yields this long, so conversations' writes are never kept waiting.
BATCH_PAUSE_SECONDS = 0.01


class HistoryPruner:
    """Deletes inbound ids past the redelivery window and outbox bodies past theirs, batch by batch."""

    def __init__(self, db: Store, settings: StoreSettings, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.every = timedelta(minutes=settings.retention_every_minutes)
        self._running = asyncio.Lock()
        self._stopping = asyncio.Event()

    async def run_once(self) -> PruneReport:
        """Prune what is due now (one run at a time)."""
        async with self._running:
            started = time.perf_counter()
            report = await prune_history(
                self.db,
                now=self.clock(),
                inbound_days=self.settings.retention_inbound_days,
                outbox_days=self.settings.retention_outbox_days,
                batch=self.settings.retention_batch,
                pause=BATCH_PAUSE_SECONDS,
                stopping=self._stopping,
            )
            if report.inbound or report.outbox:
                log.info(
                    "history pruned: %d inbound ids, %d outbound messages in %d batches (%.1f s)",
                    report.inbound,
                    report.outbox,
                    report.batches,
                    time.perf_counter() - started,
                )
            return report

    async def stop(self) -> None:
        """Stop between two batches and wait for a run in progress to end."""
        self._stopping.set()
        async with self._running:
            pass
