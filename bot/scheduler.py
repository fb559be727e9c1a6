"""The outreach clock: APScheduler 3 ticks, the store decides what is due.

Nothing about a reminder lives only in memory: each tick reads due broadcasts and reminders from the
store and handles each in its own transaction (see `handlers.outreach.run_reminder`), so a reminder
that fell due while the service was down is found at the first tick after start, and a crash in the
middle of a tick leaves every reminder either done (with its outbox rows) or still due — never both.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.settings import OutreachSettings
from handlers import outreach
from handlers.i18n import Catalog
from handlers.outreach import OutreachTimes, QuietHours
from storage import leases
from storage.contract import Store, Tx

log = logging.getLogger(__name__)

STOP_WAIT_SECONDS = 15.0
T = TypeVar("T")


def outreach_times(settings: OutreachSettings, tz: ZoneInfo) -> OutreachTimes:
    """The times reminders follow, from settings."""
    return OutreachTimes(
        tz=tz,
        quiet=QuietHours(settings.quiet_start, settings.quiet_end, tz),
        stale_after=timedelta(hours=settings.stale_after_hours),
        day_before=settings.appointment_day_before_time,
        morning=settings.appointment_morning_time,
    )


@dataclass
class TickReport:
    """What one tick did."""

    broadcasts_enqueued: int = 0
    messages_queued: int = 0
    reminders: list[outreach.ReminderRun] = field(default_factory=list)
    nudges: int = 0
    broadcasts_finished: list[int] = field(default_factory=list)


def _locked(tx: Tx, lock: Callable[[Tx], None], fn: Callable[[Tx], T]) -> T:
    """Take a row lock, then run `fn`, in one transaction."""
    lock(tx)
    return fn(tx)


def _remind_once(
    tx: Tx, reminder_id: int, at: datetime, remind: Callable[[Tx], outreach.ReminderRun]
) -> outreach.ReminderRun:
    """Run a reminder still due (its row held meanwhile); one already run is left alone."""
    if not leases.lock_reminder(tx, reminder_id, at):
        return outreach.ReminderRun(reminder_id, at, "already_done")
    return remind(tx)


class OutreachScheduler:
    """Turns due broadcasts, reminders and nudges into outbox rows."""

    def __init__(
        self,
        db: Store,
        catalog: Catalog,
        settings: OutreachSettings,
        tz: ZoneInfo,
        clock: Callable[[], datetime],
        on_queued: Callable[[], None] | None = None,
        periodic: Sequence[tuple[str, Callable[[], Awaitable[object]], timedelta]] = (),
        leader: Callable[[], bool] | None = None,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.settings = settings
        self.times = outreach_times(settings, tz)
        self.clock = clock
        self.on_queued = on_queued
        # Other periodic housekeeping on the same scheduler (e.g. the history prune): name, job, interval.
        self.periodic = list(periodic)
        self._scheduler: AsyncIOScheduler | None = None
        self._ticking = asyncio.Lock()
        # Whether this process ticks now: with several processes on one store only the holder of the
        # `outreach` lease does (None: always, the process is alone).
        self.leader = leader

    def leading(self) -> bool:
        """Whether this process is the one ticking."""
        return self.leader is None or self.leader()

    async def tick(self) -> TickReport:
        """Handle everything due now (one tick at a time; nothing when another process is the leader)."""
        async with self._ticking:
            if not self.leading():
                return TickReport()
            return await self._tick()

    def _when_leading(self, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if self.leading():
                await job()

        return run

    async def _tick(self) -> TickReport:
        now = self.clock()
        report = TickReport()
        for broadcast_id in await outreach.due_broadcasts(self.db, now):
            enqueue = partial(
                outreach.enqueue_broadcast,
                broadcast_id=broadcast_id,
                at=now,
                tz=self.times.tz,
                quiet=self.times.quiet,
            )
            count = await self.db.write(
                partial(_locked, lock=partial(leases.lock_broadcast, broadcast_id=broadcast_id), fn=enqueue)
            )
            report.broadcasts_enqueued += 1
            report.messages_queued += count
        while True:
            due = await outreach.due_reminders(self.db, now)
            for reminder_id in due:
                if not self.leading():
                    return report  # the lease ran out mid-tick: the new leader carries on
                remind = partial(
                    outreach.run_reminder,
                    reminder_id=reminder_id,
                    at=now,
                    times=self.times,
                    catalog=self.catalog,
                )
                # The reminder's row is held while it runs: a second tick (a leader that lost its lease
                # mid-tick, and its successor) waits, then finds it no longer due and queues nothing.
                run = await self.db.write(
                    partial(_remind_once, reminder_id=reminder_id, at=now, remind=remind)
                )
                report.reminders.append(run)
                report.messages_queued += run.recipients
                if run.outcome.startswith("skipped"):
                    log.info("reminder %d due %s skipped: %s", run.reminder_id, run.due_at, run.outcome)
            if len(due) < 200:
                break
        report.nudges = await self.db.write(
            partial(
                outreach.queue_nudges,
                at=now,
                unfinished_after=timedelta(hours=self.settings.nudge_unfinished_after_hours),
                info_after=timedelta(days=self.settings.nudge_info_after_days),
                catalog=self.catalog,
                quiet=self.times.quiet,
            )
        )
        report.messages_queued += report.nudges
        report.broadcasts_finished = await self.db.write(partial(outreach.finish_broadcasts, at=now))
        if report.messages_queued and self.on_queued is not None:
            self.on_queued()
        return report

    def start(self) -> None:
        """Tick now and then every `tick_seconds` (one tick at a time; missed ticks coalesce)."""
        scheduler = AsyncIOScheduler(timezone=self.times.tz)
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.settings.tick_seconds,
            next_run_time=datetime.now(self.times.tz),
            id="outreach-tick",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        for name, job, every in self.periodic:
            scheduler.add_job(
                self._when_leading(job),
                "interval",
                seconds=every.total_seconds(),
                next_run_time=datetime.now(self.times.tz),
                id=name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        scheduler.start()
        self._scheduler = scheduler

    @property
    def running(self) -> bool:
        """Whether the scheduler is ticking (for /health)."""
        return self._scheduler is not None and bool(self._scheduler.running)

    def shutdown(self) -> None:
        """Stop ticking."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    async def stop(self) -> None:
        """Stop ticking and let a tick in progress finish its writes before the store closes."""
        self.shutdown()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_WAIT_SECONDS), self._ticking:
                pass
