"""Run the service with its platform channels: senders, webhooks on uvicorn, polling, the outbox sender."""

import asyncio
import contextlib
import importlib
import logging
import signal
from collections.abc import Iterator
from typing import Protocol, cast

import uvicorn

from bot.app import Service, build_service
from bot.channels.base import ChannelRuntime
from bot.outbox import Channel
from bot.settings import Settings
from bot.web import build_asgi

log = logging.getLogger(__name__)


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


async def run_service(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or `stop` is set)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    channels: dict[str, Channel] = {}
    service = await build_service(settings, channels)
    runtimes: list[ChannelRuntime] = []
    for name in enabled_channels(settings):
        module = cast(ChannelModule, importlib.import_module(f"bot.channels.{name}"))
        runtime = await module.setup(settings, service)
        channels[runtime.channel.scheme] = runtime.channel
        runtimes.append(runtime)
        log.info("channel %s started", name)
    tasks = [asyncio.create_task(service.dispatcher.run(), name="outbox")]
    tasks += [asyncio.create_task(task) for runtime in runtimes for task in runtime.tasks]
    server = _Server(
        uvicorn.Config(
            build_asgi([route for runtime in runtimes for route in runtime.routes]),
            host=settings.web.host,
            port=settings.web.port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    tasks.append(asyncio.create_task(server.serve(), name="http"))
    log.info("listening on http://%s:%d", settings.web.host, settings.web.port)
    try:
        await stop.wait()
    finally:
        server.should_exit = True
        for runtime in runtimes:
            if runtime.stop is not None:
                await runtime.stop()
        for task in tasks:
            if task.get_name() != "http":
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await service.close()
