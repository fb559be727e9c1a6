"""Run the service: platform channels (senders, webhooks, polling), the staff dashboard and simulator on
uvicorn, the outbox sender and the outreach scheduler, on one event loop."""

import asyncio
import contextlib
import errno
import gc
import importlib
import logging
import signal
import socket
from collections.abc import Iterator
from functools import partial
from typing import Protocol, cast

import uvicorn

from bot.app import Service, build_service
from bot.channels.base import ChannelRuntime
from bot.dashboard import WEB, Dashboard, WebChatChannel
from bot.engine import utcnow
from bot.media import MEDIA_SHARE_SECONDS, MediaShare
from bot.nightly_backup import run_nightly_backups
from bot.outbox import Channel
from bot.replicas import OUTREACH
from bot.retention import HistoryPruner
from bot.scheduler import OutreachScheduler
from bot.settings import Settings
from bot.web import Probes, build_asgi

log = logging.getLogger(__name__)


class StartupFailure(Exception):
    """The service cannot start; the message is one sentence for the operator."""


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the HTTP port before anything else starts, so a busy port is one clear error at once."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as error:
        raise StartupFailure(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise StartupFailure(
                f"port {port} on {host} is already in use (another program, or this service already "
                "running); stop it or set DINSOS_WEB_PORT to a free port"
            ) from None
        raise StartupFailure(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.setblocking(False)
    return sock


class ChannelModule(Protocol):
    """A channel adapter module: `setup` starts it for a service."""

    async def setup(self, settings: Settings, service: Service) -> ChannelRuntime: ...


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: this runner owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def enabled_channels(settings: Settings) -> list[str]:
    """Names of the platform channels whose settings are present."""
    names = []
    if settings.telegram.enabled:
        names.append("telegram")
    if settings.whatsapp.enabled:
        names.append("whatsapp")
    return names


# The cycle collector's young generation is collected once this many more objects were made than freed
# (Python's default is 700). A message makes thousands of short-lived objects, nearly all freed at once
# by reference counting; at the default, a busy service collected hundreds of times a second, each pass
# mostly moving messages still in flight to an older generation that later took 10-50 ms to collect,
# the event loop and the writer stopped meanwhile. Measured at 800-1,000 msgs/s (bench/registration_load.py,
# 19,000 messages): 350-510 passes and 0.6-0.95 s of pauses per run, the longest 24-58 ms; with this,
# 2-3 passes and 5-25 ms in all.
YOUNG_COLLECTION_THRESHOLD = 20_000


def started_up() -> None:
    """What start-up built lives as long as the process: keep it out of the collector's full passes,
    which otherwise pause the event loop for tens of milliseconds (answers wait meanwhile); and collect
    young objects less often (see `YOUNG_COLLECTION_THRESHOLD`)."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, max(older, 20), max(oldest, 20))


async def run_service(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    extra_channels: dict[str, Channel] | None = None,
) -> None:
    """Run until SIGINT/SIGTERM (or `stop` is set); `extra_channels` add senders by scheme."""
    stop = stop or asyncio.Event()
    listener = bind_socket(settings.web.host, settings.web.port)
    try:
        await _run_bound(settings, stop, listener, extra_channels)
    finally:
        listener.close()


async def _run_bound(
    settings: Settings,
    stop: asyncio.Event,
    listener: socket.socket,
    extra_channels: dict[str, Channel] | None,
) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    channels: dict[str, Channel] = dict(extra_channels or {})
    # The simulator's citizens are `web:` contacts; their replies are kept for the simulator page.
    web_chat = WebChatChannel()
    channels.setdefault(WEB, web_chat)
    service = await build_service(settings, channels)
    dashboard = Dashboard(service, settings, web_channel=web_chat if channels[WEB] is web_chat else None)
    await dashboard.ensure_admin()
    runtimes: list[ChannelRuntime] = []
    try:
        for name in enabled_channels(settings):
            module = cast(ChannelModule, importlib.import_module(f"bot.channels.{name}"))
            runtime = await module.setup(settings, service)
            channels[runtime.channel.scheme] = runtime.channel
            runtimes.append(runtime)
            log.info("channel %s started", name)
    except BaseException as error:
        # A channel that cannot start (settings missing) stops the service: close what is open, or the
        # store's reader threads keep the process alive after the error is shown.
        for runtime in runtimes:
            for coroutine in runtime.tasks:
                coroutine.close()
            if runtime.stop is not None:
                await runtime.stop()
        await service.close()
        if isinstance(error, Exception) and not isinstance(error, StartupFailure):
            log.debug("channel start-up failed", exc_info=True)
            raise StartupFailure(f"a channel could not start: {type(error).__name__}: {error}") from error
        raise
    pruner = HistoryPruner(service.db, settings.store, utcnow)
    replicas = service.replicas
    if replicas is not None:
        await replicas.take(OUTREACH)  # with several processes on one store, one of them ticks
    scheduler = OutreachScheduler(
        service.db,
        service.services.catalog,
        settings.outreach,
        service.services.timezone,
        utcnow,
        on_queued=service.dispatcher.wake,
        periodic=[("history-prune", pruner.run_once, pruner.every)],
        leader=None if replicas is None else partial(replicas.holds, OUTREACH),
    )
    started_up()
    tasks = [asyncio.create_task(service.dispatcher.run(), name="outbox")]
    scheduler.start()
    if settings.store.postgresql_url is None:
        tasks.append(
            asyncio.create_task(
                run_nightly_backups(
                    settings.store.data_dir, settings.backup, service.services.timezone, utcnow, stop
                ),
                name="backup",
            )
        )
    else:
        log.info(
            "the store is PostgreSQL: the nightly backup file is not written; back the database up with "
            "pg_dump (docs/deploy.md), and keep the key file apart"
        )
        # Other processes may serve the same database: received files are shared through it.
        share = MediaShare(service.db, service.media, utcnow)
        tasks.append(asyncio.create_task(share.run(MEDIA_SHARE_SECONDS), name="media"))
    channel_tasks = {
        name: [asyncio.create_task(task, name=f"channel-{name}") for task in runtime.tasks]
        for name, runtime in zip(enabled_channels(settings), runtimes, strict=True)
    }
    tasks += [task for started in channel_tasks.values() for task in started]
    token = settings.web.metrics_token
    probes = Probes(
        db=service.db,
        metrics=service.metrics,
        clock=utcnow,
        channels=lambda: {name: not any(t.done() for t in runs) for name, runs in channel_tasks.items()},
        scheduler_running=lambda: scheduler.running,
        metrics_token=token.get_secret_value() if token else None,
    )
    server = _Server(
        uvicorn.Config(
            # The dashboard comes last: its pages sit at the root, after the channels' webhook paths.
            build_asgi(
                [*(route for runtime in runtimes for route in runtime.routes), *dashboard.routes()], probes
            ),
            host=settings.web.host,
            port=settings.web.port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    http = asyncio.create_task(server.serve(sockets=[listener]), name="http")
    # If the HTTP server ends on its own (it failed), the service stops rather than run half-deaf.
    http.add_done_callback(lambda _: stop.set())
    tasks.append(http)
    host, port = listener.getsockname()[:2]
    log.info("listening on http://%s:%d", host, port)
    try:
        await stop.wait()
    finally:
        server.should_exit = True
        await scheduler.stop()
        await pruner.stop()
        # The sender finishes the batches it started before the channels close, so no row it
        # claimed is left `sending` (which the next start would have to mark `unknown`).
        service.dispatcher.stop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15):
                await asyncio.shield(tasks[0])
        for runtime in runtimes:
            if runtime.stop is not None:
                await runtime.stop()
        for task in tasks:
            if task.get_name() != "http":
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await service.close()
