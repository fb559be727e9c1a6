"""Composition root: builds the store, the engine and the outbox sender from settings."""

import fcntl
import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from time import perf_counter
from typing import IO
from zoneinfo import ZoneInfo

from bot.engine import Clock, Engine, utcnow
from bot.media import MediaStore
from bot.metrics import Metrics
from bot.ordering import AckFirst
from bot.outbox import Channel, Dispatcher
from bot.replicas import Replicas
from bot.settings import Settings
from bot.voice import VoiceBank
from handlers.i18n import Catalog
from handlers.outreach import QuietHours
from handlers.places import Places
from handlers.turn import Services
from handlers.types import Inbound
from storage import media as shared_media
from storage import repo
from storage.backup import DB_FILE_NAME
from storage.contract import Store, Tx, dialect
from storage.crypto import KEY_FILE_NAME, Sealer
from storage.keys import StoreAt, record_check_value, resolve_key, secure_data_dir
from storage.location import open_store
from storage.records import OutboxRecord

__all__ = [
    "DB_FILE_NAME",
    "Service",
    "ServiceLock",
    "build_service",
    "open_sealer",
    "open_settings_store",
    "store_at",
]

log = logging.getLogger(__name__)


@dataclass
class Service:
    """A running intake service: store, engine and sender sharing one event loop."""

    settings: Settings
    db: Store
    services: Services
    engine: Engine
    dispatcher: Dispatcher
    metrics: Metrics = field(default_factory=Metrics)
    voice: VoiceBank | None = None
    # This process among others sharing the store (leases; on SQLite it is alone and plays every role).
    replicas: Replicas | None = None
    # Webhook receipts go before handling work (the channels' webhooks and lanes, the outbox sender).
    acks: AckFirst = field(default_factory=AckFirst)
    # Files people send, in the data directory (one instance for every channel and the dashboard).
    media: MediaStore = field(init=False)

    def __post_init__(self) -> None:
        self.media = MediaStore(self.settings.store.data_dir)

    async def receive(self, event: Inbound) -> list[OutboxRecord]:
        """Handle an inbound event and send its replies (counted and timed for /metrics); then tidy the
        media folder."""
        started = perf_counter()
        try:
            records = await self.engine.handle(event, sender=self.dispatcher)
        except BaseException:
            self.metrics.inbound_done(event.contact, "error", perf_counter() - started)
            raise
        outcome = "replied" if records else "no_reply"
        self.metrics.inbound_done(event.contact, outcome, perf_counter() - started)
        await self.tidy_media(event)
        return records

    async def wait_for_role(self, role: str) -> None:
        """Return once this process may play `role` (see `bot.replicas`; at once when it is alone)."""
        if self.replicas is not None:
            await self.replicas.wait_for(role)

    async def tidy_media(self, event: Inbound | None = None) -> list[str]:
        """Delete files nothing holds: the event's file when no conversation or case kept it, and the
        files of erased data. Return the references deleted."""
        media = event.media if event is not None else None
        received = media.ref if media is not None and repo.MEDIA_REF.fullmatch(media.ref) else None
        if received is None and not repo.MEDIA_ERASED.is_set():
            return []
        repo.MEDIA_ERASED.clear()

        at = self.engine.clock()

        def unneeded(conn: Tx) -> list[str]:
            refs = repo.take_media_erasures(conn)
            if (
                received is not None
                and event is not None
                and not repo.media_in_use(conn, event.contact, received)
            ):
                refs.append(received)
            if refs and dialect(conn) != "sqlite":  # the other processes delete their copies too
                shared_media.forget(conn, refs, at)
            return refs

        refs = await self.db.write(unneeded)
        for ref in refs:
            try:
                self.media.path(ref).unlink(missing_ok=True)
            except (OSError, ValueError):
                log.warning("a media file could not be deleted")
        return refs

    async def close(self) -> None:
        """Give this process's leases up, then close the store (pending writes finish first)."""
        await self.dispatcher.recorded()
        if self.replicas is not None:
            await self.replicas.stop()
        await self.db.close()


STORE_FILES = [KEY_FILE_NAME, DB_FILE_NAME, f"{DB_FILE_NAME}-wal", f"{DB_FILE_NAME}-shm"]


def store_at(settings: Settings) -> StoreAt:
    """The store the settings name: the SQLite file in the data directory, or a PostgreSQL URL."""
    return settings.store.postgresql_url or settings.store.data_dir / DB_FILE_NAME


async def open_settings_store(settings: Settings) -> Store:
    """Open the store the settings name (its schema brought up to date)."""
    store = settings.store
    return await open_store(
        store.postgresql_url,
        store.data_dir,
        synchronous=store.sqlite_synchronous,
        readers=store.reader_connections,
        pool_size=store.database_pool_size,
        writers=store.database_writers,
    )


def open_sealer(settings: Settings, *, announce: IO[str] | None = None) -> Sealer:
    """The NIK/KK sealer, checked against the store (`KeyProblem`, nothing written, when it is not the
    store's key); a key file is created on a fresh store (and the operator told). The data directory is
    made private (0700, files 0600), and the operator warned of what was fixed."""
    configured = settings.store.secret_key
    data_dir = settings.store.data_dir
    key, created = resolve_key(
        configured.get_secret_value() if configured else None, data_dir, store_at(settings)
    )
    for note in secure_data_dir(data_dir, STORE_FILES):
        log.warning("%s", note)
        print(note, file=announce or sys.stderr)
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
    db = await open_settings_store(settings)
    await db.write(partial(record_check_value, sealer=sealer))
    service_settings = settings.service
    services = Services(
        db=db,
        catalog=Catalog.load(),
        places=Places.load(),
        sealer=sealer,
        notice_version=service_settings.notice_version,
        resume_after=timedelta(minutes=service_settings.resume_after_minutes),
        timezone=ZoneInfo(service_settings.timezone),
        target_days=service_settings.target_days(),
    )
    engine = Engine(services, default_language=service_settings.default_language, clock=clock)
    outreach = settings.outreach
    replicas = Replicas(
        db,
        clock=clock,
        lease_seconds=service_settings.lease_seconds,
        renew_seconds=service_settings.lease_renew_seconds,
    )
    # Announced before any outbox row is claimed, so others leave this process's rows alone.
    await replicas.start()
    engine.holder = replicas.name
    voice = VoiceBank(store.data_dir, services.catalog, settings.voice)
    dispatcher = Dispatcher(
        db,
        channels,
        clock=clock,
        poll_seconds=service_settings.outbox_poll_seconds,
        in_flight=service_settings.outbox_in_flight,
        fallback=fallback,
        quiet=QuietHours(outreach.quiet_start, outreach.quiet_end, services.timezone),
        voice=voice,
        holder=replicas.name,
        recover_every=service_settings.lease_renew_seconds,
    )
    await dispatcher.recover()
    built = Service(settings, db, services, engine, dispatcher, voice=voice, replicas=replicas)
    dispatcher.before_send = built.acks.turn
    repo.MEDIA_ERASED.set()  # files left queued by a stop between an erasure and their deletion
    await built.tidy_media()
    return built


class ServiceLock:
    """Only one service process may own a data directory (the sender must be alone)."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
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
