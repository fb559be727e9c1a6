"""The WhatsApp Cloud API channel: webhook in, pywa out.

What pywa (`pywa_async` 4.5) does here, and what is written by hand, and why:
- Sending (text, reply buttons, lists, location requests, templates), media URL lookup and download,
  and Graph error classes by code: pywa. Its base URL is fixed, so the channel hands it its own
  `httpx.AsyncClient` and points that client at `DINSOS_WHATSAPP_GRAPH_BASE_URL` (a fake in tests).
- The webhook (signature, size cap, durable inbox, acknowledgement) and payload parsing: by hand.
  pywa's webhook dispatch reads only the first message of a body, keeps its duplicate filter in
  memory (Meta redelivers for days), has no size cap before reading, and its MessageStatus fails on
  failed statuses without contacts[] as Meta documents them. Here the engine's commit deduplicates.
"""

import logging

import httpx
from pywa_async.client import WhatsApp

from bot.app import Service
from bot.channels.base import ChannelRuntime
from bot.channels.whatsapp.sender import (
    GRAPH_CONNECTIONS,
    GRAPH_IDLE_CONNECTIONS,
    ConfigurationError,
    WhatsAppChannel,
)
from bot.channels.whatsapp.store import INBOX_PURPOSE
from bot.channels.whatsapp.webhook import InboxWorker, Webhook
from bot.settings import Settings

__all__ = ["WhatsAppRuntime", "build", "setup"]


class WhatsAppRuntime:
    """The started channel's parts: sender, webhook, inbox worker, and the runtime for the runner."""

    def __init__(
        self, channel: WhatsAppChannel, webhook: Webhook, worker: InboxWorker, http: httpx.AsyncClient
    ):
        self.channel = channel
        self.webhook = webhook
        self.worker = worker
        self.http = http
        self.runtime = ChannelRuntime(
            channel=channel, routes=webhook.routes(), tasks=[worker.run()], stop=self.stop
        )

    async def stop(self) -> None:
        """Stop processing, let the requests in flight finish (the outbox sender may still hand the
        channel rows: those not yet on the wire stay queued), then close the HTTP client."""
        await self.worker.stop()
        await self.channel.close()
        await self.http.aclose()


async def setup(settings: Settings, service: Service) -> ChannelRuntime:
    """Start the WhatsApp channel for `service` (called by the runner)."""
    try:
        return (await build(settings, service)).runtime
    except ConfigurationError as error:
        raise SystemExit(f"WhatsApp settings: {error}") from None


async def build(
    settings: Settings, service: Service, *, transport: httpx.AsyncBaseTransport | None = None
) -> WhatsAppRuntime:
    """Build the channel; `transport` routes Graph API calls elsewhere (an in-process fake in tests)."""
    wa = settings.whatsapp
    missing = [
        name
        for name, value in (
            ("DINSOS_WHATSAPP_PHONE_NUMBER_ID", wa.phone_number_id),
            ("DINSOS_WHATSAPP_APP_SECRET", wa.app_secret and wa.app_secret.get_secret_value()),
            ("DINSOS_WHATSAPP_VERIFY_TOKEN", wa.verify_token and wa.verify_token.get_secret_value()),
        )
        if not value
    ]
    if missing or wa.access_token is None:
        raise ConfigurationError("the WhatsApp channel needs " + ", ".join(missing or ["an access token"]))
    assert wa.app_secret is not None and wa.verify_token is not None and wa.phone_number_id is not None
    # pywa logs request bodies and recipients below WARNING; those hold what people typed and numbers.
    for name in ("pywa", "pywa_async"):
        logger = logging.getLogger(name)
        logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))
    http = httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(wa.request_timeout_seconds, connect=min(10.0, wa.request_timeout_seconds)),
        limits=httpx.Limits(
            max_connections=GRAPH_CONNECTIONS, max_keepalive_connections=GRAPH_IDLE_CONNECTIONS
        ),
    )
    version = wa.graph_version.removeprefix("v")
    client = WhatsApp(
        phone_id=wa.phone_number_id,
        token=wa.access_token.get_secret_value(),
        session=http,
        api_version=version,
        validate_updates=False,  # the webhook here checks signatures itself; pywa only sends
    )
    # pywa sets Meta's address on the session it is given; point it at the configured Graph API.
    http.base_url = httpx.URL(f"{wa.graph_base_url.rstrip('/')}/v{version}/")
    channel = WhatsAppChannel(
        wa,
        client=client,
        db=service.db,
        catalog=service.services.catalog,
        media=service.media,
        clock=service.engine.clock,
        default_language=service.engine.default_language,
        voice_media_days=settings.voice.whatsapp_media_days,
    )
    # Message requests take their pacing slot as they leave (see WhatsAppChannel.pace).
    http.event_hooks = {**http.event_hooks, "request": [*http.event_hooks["request"], channel.pace]}
    worker = InboxWorker(
        service,
        channel,
        service.services.sealer.cipher(INBOX_PURPOSE),
        concurrency=wa.concurrency,
        backlog=wa.per_contact_backlog,
        hold=wa.order_hold_ms / 1000,
    )
    await worker.recover()
    webhook = Webhook(
        path=wa.webhook_path,
        verify_token=wa.verify_token.get_secret_value(),
        app_secret=wa.app_secret.get_secret_value(),
        max_body_bytes=settings.web.max_body_bytes,
        worker=worker,
    )
    return WhatsAppRuntime(channel, webhook, worker, http)
