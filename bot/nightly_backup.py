"""The running service's nightly backup: one file a night in DINSOS_BACKUP_DIR, the newest N kept."""

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.engine import Clock
from bot.settings import BackupSettings
from storage.backup import BackupSummary, create_backup, prune_backups

log = logging.getLogger(__name__)

PREFIX = "dinsos-"


def next_backup_at(now: datetime, settings: BackupSettings, timezone: ZoneInfo) -> datetime:
    """The next moment (aware, UTC-comparable) the nightly backup is due after `now`."""
    local = now.astimezone(timezone)
    due = local.replace(hour=settings.daily_at.hour, minute=settings.daily_at.minute, second=0, microsecond=0)
    if due <= local:
        due = (due + timedelta(days=1)).replace(hour=settings.daily_at.hour, minute=settings.daily_at.minute)
    return due


def nightly_backup(data_dir: Path, settings: BackupSettings, now: datetime) -> BackupSummary:
    """Write tonight's backup and delete the oldest beyond `keep`."""
    folder = settings.dir
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    summary = create_backup(data_dir, folder / f"{PREFIX}{now:%Y%m%d-%H%M%S}.tar.gz", now=now)
    removed = prune_backups(folder, settings.keep, PREFIX)
    log.info(
        "nightly backup written: %s (%d cases, %d media files); %d old backups removed",
        summary.path.name,
        summary.cases,
        summary.media_files,
        len(removed),
    )
    return summary


async def run_nightly_backups(
    data_dir: Path, settings: BackupSettings, timezone: ZoneInfo, clock: Clock, stop: asyncio.Event
) -> None:
    """Until `stop`: sleep to the next backup time, then back up (a failure is logged, not fatal)."""
    if settings.keep == 0:
        return
    while not stop.is_set():
        due = next_backup_at(clock(), settings, timezone)
        wait = max(0.0, (due - clock()).total_seconds())
        try:
            async with asyncio.timeout(wait):
                await stop.wait()
            return
        except TimeoutError:
            pass
        try:
            await asyncio.to_thread(nightly_backup, data_dir, settings, clock())
        except Exception:
            log.exception("the nightly backup failed")
