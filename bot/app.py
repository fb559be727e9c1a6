"""Composition root: builds the store, the engine and the outbox sender from settings."""

import fcntl
import logging
import os
import sqlite3
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from bot.engine import Clock, Engine, utcnow
from bot.media import MediaStore
from bot.outbox import Channel, Dispatcher
from bot.settings import Settings
from handlers.i18n import Catalog
from handlers.outreach import QuietHours
from handlers.places import Places
from handlers.turn import Services
from handlers.types import Inbound
from storage import repo
from storage.crypto import KEY_FILE_NAME, Sealer, load_or_create_key
from storage.db import Database
from storage.records import OutboxRecord

log = logging.getLogger(__name__)

DB_FILE_NAME = "intake.sqlite3"


@dataclass
class Service:
    """A running intake service: store, engine and sender sharing one event loop."""

    settings: Settings
    db: Database
    services: Services
    engine: Engine
    dispatcher: Dispatcher

    async def receive(self, event: Inbound) -> list[OutboxRecord]:
        """Handle an inbound event and send its replies; then tidy the media folder."""
        records = await self.engine.handle(event, after_commit=self.dispatcher.deliver)
        await self.tidy_media(event)
        return records

    async def tidy_media(self, event: Inbound | None = None) -> list[str]:
        """Delete files nothing holds: the event's file when no conversation or case kept it, and the
        files of erased data. Return the references deleted."""
        media = event.media if event is not None else None
        received = media.ref if media is not None and repo.MEDIA_REF.fullmatch(media.ref) else None
        if received is None and not repo.MEDIA_ERASED.is_set():
            return []
        repo.MEDIA_ERASED.clear()

        def unneeded(conn: sqlite3.Connection) -> list[str]:
            refs = repo.take_media_erasures(conn)
            if (
                received is not None
                and event is not None
                and not repo.media_in_use(conn, event.contact, received)
            ):
                refs.append(received)
            return refs

        refs = await self.db.write(unneeded)
        store = MediaStore(self.settings.store.data_dir)
        for ref in refs:
            try:
                store.path(ref).unlink(missing_ok=True)
            except (OSError, ValueError):
                log.warning("a media file could not be deleted")
        return refs

    async def close(self) -> None:
        """Close the store (pending writes finish first)."""
        await self.db.close()


def open_sealer(settings: Settings, *, announce: IO[str] | None = None) -> Sealer:
    """The NIK/KK sealer, creating a key file on first run (and telling the operator)."""
    configured = settings.store.secret_key
    key, created = load_or_create_key(
        configured.get_secret_value() if configured else None, settings.store.data_dir
    )
    if created:
        path = settings.store.data_dir / KEY_FILE_NAME
        print(
            f"A new encryption key was written to {path} (mode 0600).\n"
            "Back it up now: without it the stored NIK and KK numbers cannot be read.\n"
            "Or set DINSOS_SECRET_KEY in the environment to manage the key yourself.",
            file=announce or sys.stderr,
        )
    return Sealer(key)


async def build_service(
    settings: Settings,
    channels: dict[str, Channel],
    *,
    fallback: Channel | None = None,
    clock: Clock = utcnow,
) -> Service:
    """Open the store and wire the engine and sender together."""
    store = settings.store
    sealer = open_sealer(settings)
    db = await Database.open(
        store.data_dir / DB_FILE_NAME,
        synchronous=store.sqlite_synchronous,
        readers=store.reader_connections,
    )
    service_settings = settings.service
    services = Services(
        db=db,
        catalog=Catalog.load(),
        places=Places.load(),
        sealer=sealer,
        notice_version=service_settings.notice_version,
        resume_after=timedelta(minutes=service_settings.resume_after_minutes),
        timezone=ZoneInfo(service_settings.timezone),
    )
    engine = Engine(services, default_language=service_settings.default_language, clock=clock)
    outreach = settings.outreach
    dispatcher = Dispatcher(
        db,
        channels,
        clock=clock,
        poll_seconds=service_settings.outbox_poll_seconds,
        fallback=fallback,
        quiet=QuietHours(outreach.quiet_start, outreach.quiet_end, services.timezone),
    )
    await dispatcher.recover()
    built = Service(settings, db, services, engine, dispatcher)
    repo.MEDIA_ERASED.set()  # files left queued by a stop between an erasure and their deletion
    await built.tidy_media()
    return built


class ServiceLock:
    """Only one service process may own a data directory (the sender must be alone)."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(data_dir / "service.lock", os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self) -> None:
        """Take the lock or exit with a clear message."""
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit("Another intake service is already running on this data directory.") from None

    def release(self) -> None:
        """Let another process take over."""
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
