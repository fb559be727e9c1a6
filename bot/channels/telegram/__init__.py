"""The Telegram channel (python-telegram-bot 22 as transport) and the staff group.

`setup` is what the runner calls: it builds the PTB `Bot` on an aiohttp request backend pointed at the
configured Bot API (Telegram's, a self-hosted one, or a test fake), and returns the sender for the
outbox, the webhook route (webhook mode), the background tasks (polling, the staff-card poster) and how
to stop. See `adapter.py` for the flow of an update, `sender.py` for pacing and delivery results.
"""

import logging
import os

from telegram import Bot

from bot.app import Service
from bot.channels.base import ChannelRuntime
from bot.channels.telegram.adapter import TelegramAdapter
from bot.channels.telegram.sender import TelegramChannel
from bot.channels.telegram.staff import parse_roles
from bot.channels.telegram.transport import AiohttpRequest
from bot.settings import Settings, TelegramSettings

# python-telegram-bot 22 warns whenever a time period is read as seconds (e.g. RetryAfter.retry_after)
# unless the process opts in to timedelta values, which this channel reads. PTB reads it at call time.
os.environ.setdefault("PTB_TIMEDELTA", "true")

__all__ = ["TelegramAdapter", "TelegramChannel", "build_bot", "runtime", "setup", "start"]


def bot_request(settings: TelegramSettings, pool_size: int) -> AiohttpRequest:
    """An aiohttp request backend with the configured timeouts."""
    timeout = settings.request_timeout_seconds
    token = settings.token.get_secret_value() if settings.token else ""
    return AiohttpRequest(
        pool_size=pool_size,
        read_timeout=timeout,
        write_timeout=timeout,
        connect_timeout=timeout,
        secret=token,
    )


def build_bot(settings: TelegramSettings, *, updates_request: AiohttpRequest | None = None) -> Bot:
    """A PTB `Bot` for the configured Bot API server, on the aiohttp request backend."""
    # At DEBUG, PTB logs the Bot API URL (which holds the token) and every request and answer (which
    # hold what people typed): never let those through, whatever the service's log level.
    ptb_log = logging.getLogger("telegram")
    if ptb_log.getEffectiveLevel() < logging.INFO:
        ptb_log.setLevel(logging.INFO)
    assert settings.token is not None
    return Bot(
        settings.token.get_secret_value(),
        base_url=settings.base_url,
        base_file_url=settings.base_file_url,
        request=bot_request(settings, settings.connection_pool_size),
        get_updates_request=updates_request or bot_request(settings, 1),
    )


def check(settings: TelegramSettings) -> None:
    """Refuse settings that cannot work, with a message that says what to fix."""
    if settings.mode == "webhook":
        if not settings.webhook_url:
            raise ValueError("DINSOS_TELEGRAM_WEBHOOK_URL is needed in webhook mode")
        if settings.webhook_secret is None or not settings.webhook_secret.get_secret_value():
            raise ValueError("DINSOS_TELEGRAM_WEBHOOK_SECRET is needed in webhook mode")
    parse_roles(settings.staff)


async def start(settings: Settings, service: Service) -> TelegramAdapter:
    """Build and start the adapter (getMe, webhook or polling mode, updates left from a crash)."""
    check(settings.telegram)
    updates = bot_request(settings.telegram, 1)
    bot = build_bot(settings.telegram, updates_request=updates)
    adapter = TelegramAdapter(settings, service, bot, updates_request=updates)
    await adapter.start()
    return adapter


def runtime(adapter: TelegramAdapter) -> ChannelRuntime:
    """What the runner needs of a started adapter."""
    routes = [adapter.webhook_route()] if adapter.settings.mode == "webhook" else []
    return ChannelRuntime(channel=adapter.channel, routes=routes, tasks=adapter.tasks(), stop=adapter.stop)


async def setup(settings: Settings, service: Service) -> ChannelRuntime:
    """Start the Telegram channel for `service`."""
    return runtime(await start(settings, service))
