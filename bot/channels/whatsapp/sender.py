"""Sending through the WhatsApp Cloud API with pywa: the 24-hour window, templates, pacing, retries, media.

pywa (`pywa_async`) builds and sends the typed messages (text, reply buttons, lists, location requests,
templates) and maps Graph errors to exception classes by code. This module decides what to send:
free-form inside the window, the approved template outside it (or hold the row when none is
configured), and it paces messages per business number and per person for bulk sends.
"""

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

import httpx
from pywa.types.callback import Button, Section, SectionList, SectionRow
from pywa.types.templates import TemplateLanguage
from pywa_async.client import WhatsApp
from pywa_async.errors import ReEngagementMessage, ThrottlingError, TooManyMessages, WhatsAppError

from bot.channels.whatsapp import store
from bot.channels.whatsapp.payloads import SCHEME, MediaRef
from bot.channels.whatsapp.render import Outgoing, Wording, render
from bot.engine import Clock
from bot.media import MAX_MEDIA_BYTES, MediaStore
from bot.outbox import SendResult, current_outbox_row, leaving
from bot.settings import WhatsAppSettings
from bot.voice import audio_id, known_upload, remember_upload
from handlers.i18n import Catalog
from handlers.types import Media, Reply
from storage.db import Database
from storage.records import OutboxStatus

log = logging.getLogger(__name__)

T = TypeVar("T")

# Template body parameters may not hold line breaks, tabs or more than four spaces in a row.
_WHITESPACE = re.compile(r"\s+")
TEMPLATE_PARAM_MAX = 900
_BSUID = re.compile(r"^[A-Z]{2}\.\d+$")
_PAIR_MEMORY_SECONDS = 60.0
# Graph API requests in flight at once (80 messages/s at ~200 ms each needs about 16). The channel waits
# for a free one itself: requests queued inside httpx's pool cost time on every pool change.
GRAPH_CONNECTIONS = 24
# Idle connections kept open: httpcore checks each one (a system call) whenever a request starts or ends.
GRAPH_IDLE_CONNECTIONS = 8


class ConfigurationError(ValueError):
    """A WhatsApp setting is missing or wrong."""


class Pacer:
    """Messages evenly spaced at `rate` per second, with no burst: Meta counts throughput over a sliding
    second, so a bucket holding a second's worth would send up to twice the rate in the first second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = 1.0
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when one more message may go out."""
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens < 1:
                delay = (1 - self._tokens) / self.rate
                await asyncio.sleep(delay)
                self._stamp = time.monotonic()
                self._tokens = 1.0
            self._tokens -= 1


def one_line(text: str, limit: int = TEMPLATE_PARAM_MAX) -> str:
    """Text fit for a template parameter: one line, single spaces, within `limit` characters."""
    flat = _WHITESPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def template_language(code: str) -> TemplateLanguage:
    """The pywa language of a template language code such as `id` or `en_US`."""
    try:
        return TemplateLanguage(code)
    except ValueError:
        raise ConfigurationError(
            f"DINSOS_WHATSAPP_TEMPLATE_LANGUAGE {code!r} is not a WhatsApp language"
        ) from None


@dataclass(frozen=True, slots=True)
class _Sent:
    wamid: str


class WhatsAppChannel:
    """The `whatsapp` scheme's sender (the outbox calls `send`) and media fetcher."""

    scheme = SCHEME
    marks_sending = True  # each request marks the outbox row `sending` once its pacing slot is taken

    def __init__(
        self,
        settings: WhatsAppSettings,
        *,
        client: WhatsApp,
        db: Database,
        catalog: Catalog,
        media: MediaStore,
        clock: Clock,
        default_language: str = "id",
        voice_media_days: float = 25.0,
    ) -> None:
        self.settings = settings
        self.voice_media_age = timedelta(days=voice_media_days)
        self.client = client
        self.db = db
        self.catalog = catalog
        self.media = media
        self.clock = clock
        self.default_language = default_language
        self.pacer = Pacer(settings.rate_per_second)
        self._language = template_language(settings.template_language)
        self._params = self._parse_params(settings.template_params)
        self._last_sent: dict[str, float] = {}
        self._graph = asyncio.Semaphore(GRAPH_CONNECTIONS)

    def _parse_params(self, spec: str) -> list[str]:
        sources = [part.strip() for part in spec.split(",") if part.strip()]
        for source in sources:
            if source == "text":
                continue
            key = source.removeprefix("catalog:")
            if not source.startswith("catalog:") or not self.catalog.has(key):
                raise ConfigurationError(
                    f"DINSOS_WHATSAPP_TEMPLATE_PARAMS: {source!r} is neither 'text' nor 'catalog:<known key>'"
                )
        return sources

    # ------------------------------------------------------------ sending

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        """Deliver `reply`: free-form inside the 24-hour window, else the template, else hold it."""
        row = current_outbox_row.get()
        label = f"outbox row {row.id}" if row is not None else "message"
        bulk = row is not None and row.origin != "reply"
        recipient = contact_id.partition(":")[2]
        if not (recipient.isdigit() or _BSUID.match(recipient)):
            return SendResult(OutboxStatus.FAILED, error="not a WhatsApp address")
        window = await store.window(self.db, contact_id, self.default_language)
        if not window.is_open(self.clock()):
            return await self._send_template(
                recipient, reply, window.language, label, "outside the 24-hour window"
            )
        rendered = render(reply, self._wording(window.language))
        if rendered.notes:
            log.info("WhatsApp %s adjusted: %s", label, "; ".join(rendered.notes))
        if bulk:
            await self._pair_pause(recipient)
        try:
            sent: _Sent | None = None
            for message in rendered.messages:
                sent = await self._with_retries(partial(self._send_outgoing, recipient, message))
        except ReEngagementMessage:
            await self.db.write(partial(store.close_window, contact_id=contact_id, at=self.clock()))
            return await self._send_template(recipient, reply, window.language, label, "Meta answered 131047")
        except (WhatsAppError, httpx.HTTPError) as error:
            return self._failure(error, label)
        if sent is None:
            return SendResult(OutboxStatus.FAILED, error="empty message")
        return SendResult(OutboxStatus.SENT, external_id=sent.wamid)

    async def send_voice(self, contact_id: str, audio: Path) -> SendResult:
        """A reply's voice note: the file uploaded once (its media id reused while Meta keeps it), then
        sent as an audio message with `voice: true`. Only inside the 24-hour window (no template carries
        audio); an id Meta no longer knows is replaced by a fresh upload."""
        recipient = contact_id.partition(":")[2]
        window = await store.window(self.db, contact_id, self.default_language)
        if not window.is_open(self.clock()):
            return SendResult(OutboxStatus.FAILED, error="voice note not sent: outside the 24-hour window")
        name = audio_id(audio)
        media_id = await known_upload(self.db, SCHEME, name, newer_than=self.clock() - self.voice_media_age)
        try:
            if media_id is not None:
                try:
                    return await self._send_audio(recipient, media_id)
                except WhatsAppError as error:
                    log.info("a kept WhatsApp media id was refused (%s); uploading again", _reason(error))
            data = await asyncio.to_thread(audio.read_bytes)

            async def upload() -> str:
                async with self._graph:
                    media = await self.client.upload_media(
                        media=data, mime_type="audio/ogg", filename="suara.ogg"
                    )
                return str(media.id)

            media_id = await self._with_retries(upload)
            await remember_upload(self.db, SCHEME, name, media_id, self.clock())
            return await self._send_audio(recipient, media_id)
        except (WhatsAppError, httpx.HTTPError) as error:
            return self._failure(error, "voice note")

    async def _send_audio(self, recipient: str, media_id: str) -> SendResult:
        async def once() -> _Sent:
            await self.pacer.wait()
            async with self._graph:
                sent = await self.client.send_audio(to=recipient, audio=media_id, is_voice=True)
            self._note_sent(recipient)
            return _Sent(sent.id)

        sent = await self._with_retries(once)
        return SendResult(OutboxStatus.SENT, external_id=sent.wamid)

    def _wording(self, language: str) -> Wording:
        text = partial(self.catalog.text, language)
        return Wording(
            list_button=text("whatsapp.list_button"),
            section_title=text("whatsapp.list_section"),
            numbered_hint=text("whatsapp.numbered_hint"),
        )

    async def _send_outgoing(self, recipient: str, message: Outgoing) -> _Sent:
        await self.pacer.wait()
        await leaving()  # an outbox row becomes `sending` only now, as its request leaves
        async with self._graph:
            sent = await self._post(recipient, message)
        self._note_sent(recipient)
        return sent

    async def _post(self, recipient: str, message: Outgoing) -> _Sent:
        client = self.client
        if message.kind == "buttons":
            buttons = [Button(title=o.title, callback_data=o.id) for o in message.options]
            sent = await client.send_message(to=recipient, text=message.body, buttons=buttons)
        elif message.kind == "list":
            rows = [
                SectionRow(title=o.title, callback_data=o.id, description=o.description)
                for o in message.options
            ]
            section = Section(title=message.section_title or "", rows=rows)
            menu = SectionList(button_title=message.list_button or "", sections=[section])
            sent = await client.send_message(to=recipient, text=message.body, buttons=menu)
        elif message.kind == "location_request":
            sent = await client.request_location(to=recipient, text=message.body)
        else:
            sent = await client.send_message(to=recipient, text=message.body)
        return _Sent(sent.id)

    async def _send_template(
        self, recipient: str, reply: Reply, language: str, label: str, reason: str
    ) -> SendResult:
        name = reply.template or self.settings.template_name
        if not name:
            log.warning("WhatsApp %s held: %s and no approved template is configured", label, reason)
            return SendResult(OutboxStatus.HELD, error=f"held: {reason}; no template configured")
        values = self._template_values(reply, language)

        async def once() -> _Sent:
            await self.pacer.wait()
            await leaving()
            async with self._graph:
                sent = await self.client.send_template(
                    to=recipient,
                    name=name,
                    language=self._language,
                    params=[_body_params(values)] if values else None,
                )
            self._note_sent(recipient)
            return _Sent(sent.id)

        try:
            sent = await self._with_retries(once)
        except (WhatsAppError, httpx.HTTPError) as error:
            return self._failure(error, label)
        log.info("WhatsApp %s sent as template %r (%s)", label, name, reason)
        return SendResult(OutboxStatus.SENT, external_id=sent.wamid)

    def _template_values(self, reply: Reply, language: str) -> list[str]:
        values = []
        for source in self._params:
            if source == "text":
                text = reply.text
                if reply.choices:
                    # The buttons cannot travel in the template: offer the numbers to type instead.
                    text += " " + ", ".join(f"{n}. {c.label}" for n, c in enumerate(reply.choices, start=1))
                values.append(one_line(text))
            else:
                values.append(one_line(self.catalog.text(language, source.removeprefix("catalog:"))))
        return values

    async def _with_retries(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run `attempt`, backing off and trying again after rate limits and failed connections."""
        tries = self.settings.max_send_attempts
        for number in range(1, tries + 1):
            try:
                return await attempt()
            except (ThrottlingError, httpx.ConnectError, httpx.ConnectTimeout) as error:
                # 130429 (number throughput) and 131056 (pair rate) mean "not sent, slow down"; a
                # refused connection means nothing left this machine. All are safe to repeat.
                if number == tries:
                    raise
                delay = self.settings.retry_base_seconds * 2 ** (number - 1)
                if isinstance(error, TooManyMessages):
                    delay = max(delay, self.settings.bulk_pair_interval_seconds)
                log.info("WhatsApp send slowed down (%s); retrying in %.1f s", _reason(error), delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    @staticmethod
    def _failure(error: Exception, label: str) -> SendResult:
        if isinstance(error, WhatsAppError):
            log.warning("WhatsApp %s failed: %s", label, _reason(error))
            return SendResult(OutboxStatus.FAILED, error=_reason(error))
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            log.warning("WhatsApp %s not sent: Graph API unreachable", label)
            return SendResult(OutboxStatus.FAILED, error=f"Graph API unreachable ({type(error).__name__})")
        # A read timeout or a broken connection: the message may or may not have left.
        log.warning("WhatsApp %s outcome unknown (%s)", label, type(error).__name__)
        return SendResult(
            OutboxStatus.UNKNOWN, error=f"no answer from the Graph API ({type(error).__name__})"
        )

    # ------------------------------------------------------------ pacing per person

    def _note_sent(self, recipient: str) -> None:
        now = time.monotonic()
        self._last_sent[recipient] = now
        if len(self._last_sent) > 10_000:
            horizon = now - max(_PAIR_MEMORY_SECONDS, self.settings.bulk_pair_interval_seconds)
            self._last_sent = {k: v for k, v in self._last_sent.items() if v > horizon}

    async def _pair_pause(self, recipient: str) -> None:
        """Bulk messages: no more than one per `bulk_pair_interval_seconds` to the same person."""
        last = self._last_sent.get(recipient)
        if last is None:
            return
        wait = last + self.settings.bulk_pair_interval_seconds - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    # ------------------------------------------------------------ media

    async def download(self, ref: MediaRef, at: datetime) -> Media | None:
        """Fetch a file announced by a webhook (its URL lives minutes) and keep it; None if that failed."""
        api = self.client.api
        try:
            async with self._graph:
                info = await api.get_media_url(media_id=ref.media_id)
            url = str(info["url"])
            mime = info.get("mime_type") or ref.mime
            data = bytearray()
            async with self._graph, api.stream_media_bytes(media_url=url) as response:
                response.raise_for_status()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_MEDIA_BYTES:
                        raise ValueError("media file too large")
            stored = await asyncio.to_thread(self.media.save, bytes(data), mime=mime, at=at)
        except (WhatsAppError, httpx.HTTPError, KeyError, TypeError, ValueError, OSError) as error:
            log.warning("could not fetch a WhatsApp %s (%s)", ref.kind, type(error).__name__)
            return None
        return Media(kind=ref.kind, ref=stored, mime=mime, caption=ref.caption)


def _body_params(values: list[str]) -> dict[str, object]:
    """The template's body component with its text parameters, in order."""
    return {"type": "body", "parameters": [{"type": "text", "text": value} for value in values]}


def _reason(error: Exception) -> str:
    """A short, personal-data-free description of a Graph error, e.g. `131026 Message undeliverable`."""
    if isinstance(error, WhatsAppError):
        message = re.sub(r"^\(#\d+\)\s*", "", error.message or "").strip()
        return f"{error.code} {message}"[:200].strip()
    return type(error).__name__
