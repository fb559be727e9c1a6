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
from collections import deque
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
from pywa_async.errors import (
    RateLimitHit,
    RateLimitIssues,
    ReEngagementMessage,
    ThrottlingError,
    ToManyAPICalls,
    TooManyMessages,
    WhatsAppError,
)

from bot.channels.base import InFlight
from bot.channels.whatsapp import store
from bot.channels.whatsapp.payloads import SCHEME, MediaRef
from bot.channels.whatsapp.render import Outgoing, Wording, render
from bot.engine import Clock
from bot.media import MAX_MEDIA_BYTES, MediaStore
from bot.outbox import SendResult, current_outbox_row, gate_begun, leaving, not_sent
from bot.settings import WhatsAppSettings
from bot.voice import audio_id, known_upload, remember_upload
from handlers.i18n import Catalog
from handlers.types import Media, Reply
from storage.contract import Store
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
    """The business number's send slots: never more than `rate` requests in any sliding second.

    Meta counts throughput over a sliding second at its end of the wire, so what leaves here must stay
    under the limit even after the requests' travel times have varied. Slots are spaced evenly at
    `(1 + margin) / rate` (no burst, also at start-up and after a quiet spell: at most one slot of
    credit is ever kept), and a sliding-window check over the slots actually taken refuses the next one
    while `rate` of them fall within the last `1 + margin` seconds (so a late wake-up cannot bunch
    them). The margin absorbs differences in travel time up to `margin` seconds and costs
    `margin / (1 + margin)` of the rate (2.9 % at the default 0.03: 0.96 of the rate is used). The
    first requests after a quiet spell (at start-up too) open connections and reach Meta later than
    the rest: the window counts each of the first `ramp` of them `cold_margin` seconds later than it
    left, which delays one request in `rate` once, by that much, after each quiet spell.

    After a throughput refusal (130429) `pause` stops every send for a while, doubling with each
    refusal in a row and reset by the next success (`ok`); the margin grows by `margin_step` (up to
    `max_margin`): travel times here vary more than it allowed for.
    """

    def __init__(
        self,
        rate: float,
        *,
        margin: float = 0.03,
        base_pause: float = 1.0,
        cold_margin: float = 0.25,
        ramp: int = GRAPH_CONNECTIONS,
        margin_step: float = 0.02,
        max_margin: float = 0.2,
    ) -> None:
        self.margin_step = margin_step
        self.max_margin = max_margin
        self.rate = rate
        self.margin = margin
        self.cold_margin = cold_margin
        self.ramp = ramp
        self._warm = 0  # slots taken since the last quiet spell
        self.interval = (1.0 + margin) / rate
        self.span = 1.0 + margin
        self.base_pause = base_pause
        self._limit = max(1, int(rate))
        self._taken: deque[float] = deque(maxlen=self._limit)
        self._next = 0.0  # the next slot on the even schedule
        self._resume = 0.0  # no send before this (a global pause)
        self._pauses = 0  # refusals in a row
        self._lock = asyncio.Lock()
        self.paused_seconds = 0.0

    async def wait(self) -> None:
        """Return when one more request may leave (FIFO among waiters)."""
        async with self._lock:
            while True:
                now = time.monotonic()
                due = max(self._next, self._resume)
                if len(self._taken) >= self._limit:
                    due = max(due, self._taken[0] + self.span)
                if due <= now:
                    break
                await asyncio.sleep(due - now)
            if self._taken and now - self._taken[-1] >= 1.0:
                self._warm = 0  # a quiet spell: connections may be opened again
            self._warm += 1
            self._taken.append(now + (self.cold_margin if self._warm <= self.ramp else 0.0))
            # A slot missed by a late wake-up is caught up (one at most: bunched requests reach Meta
            # less evenly than they left), idle time is not.
            self._next = max(self._next, now - self.interval) + self.interval

    def pause(self) -> float:
        """Meta refused a request for throughput: hold every send; return the pause in seconds."""
        seconds = min(60.0, self.base_pause * 2.0**self._pauses)
        self.margin = min(self.max_margin, self.margin + self.margin_step)
        self.interval = (1.0 + self.margin) / self.rate
        self.span = 1.0 + self.margin
        self._pauses += 1
        self._resume = max(self._resume, time.monotonic() + seconds)
        self.paused_seconds += seconds
        return seconds

    def ok(self) -> None:
        """A request went through: the next refusal starts the pauses afresh."""
        self._pauses = 0


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


class ChannelClosed(Exception):
    """The channel has stopped: the request was not made."""


class WhatsAppChannel:
    """The `whatsapp` scheme's sender (the outbox calls `send`) and media fetcher."""

    scheme = SCHEME
    marks_sending = True  # each request marks the outbox row `sending` once its pacing slot is taken

    def __init__(
        self,
        settings: WhatsAppSettings,
        *,
        client: WhatsApp,
        db: Store,
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
        self.pacer = Pacer(settings.rate_per_second, base_pause=settings.retry_base_seconds)
        self._language = template_language(settings.template_language)
        self._params = self._parse_params(settings.template_params)
        self._last_sent: dict[str, float] = {}
        # Recipients Meta refused for the pair rate (131056): no send to them before the time given,
        # with the refusals in a row (the pause doubles).
        self._pair_until: dict[str, tuple[float, int]] = {}
        self.rate_limited = 0  # refusals for a rate limit (all retried)
        self._graph = asyncio.Semaphore(GRAPH_CONNECTIONS)
        self._closing = False  # requests of rows not yet on the wire are refused
        self._closed = False  # every request is refused (the HTTP client is about to close)
        self._in_flight = InFlight()

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
        number = 0
        try:
            sent: _Sent | None = None
            for number, message in enumerate(rendered.messages):
                sent = await self._with_retries(
                    partial(self._send_outgoing, recipient, message), recipient, first=number == 0
                )
        except ChannelClosed:
            if number == 0:  # nothing left: back to the queue, sent when the service runs again
                return SendResult(OutboxStatus.QUEUED, error="the service stopped before sending")
            return SendResult(OutboxStatus.FAILED, error=f"part {number + 1}: the service stopped")
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
                with self._request():
                    async with self._graph:
                        media = await self.client.upload_media(
                            media=data, mime_type="audio/ogg", filename="suara.ogg"
                        )
                return str(media.id)

            media_id = await self._with_retries(upload)
            await remember_upload(self.db, SCHEME, name, media_id, self.clock())
            return await self._send_audio(recipient, media_id)
        except ChannelClosed:
            return SendResult(OutboxStatus.FAILED, error="the service stopped before the voice note")
        except (WhatsAppError, httpx.HTTPError) as error:
            return self._failure(error, "voice note")

    async def _send_audio(self, recipient: str, media_id: str) -> SendResult:
        async def once() -> _Sent:
            with self._request():
                async with self._graph:
                    sent = await self.client.send_audio(to=recipient, audio=media_id, is_voice=True)
            self._note_sent(recipient)
            return _Sent(sent.id)

        sent = await self._with_retries(once, recipient)
        return SendResult(OutboxStatus.SENT, external_id=sent.wamid)

    def _request(self) -> InFlight:
        """One Graph API request (`with`), counted in flight so that `close` waits for it. Refused once
        the channel is closing, unless its row is already on the wire (its later parts follow it while
        `close` waits), and refused always once closed."""
        if self._closed or (self._closing and not gate_begun()):
            raise ChannelClosed
        return self._in_flight

    async def close(self) -> None:
        """Stop sending: requests in flight finish (a few seconds at most), later ones are not made,
        and a row none of whose parts left stays queued for the next start."""
        self._closing = True
        await self._in_flight.settle(5)
        self._closed = True

    async def pace(self, request: httpx.Request) -> None:
        """The HTTP client's request hook: a message request takes its pacing slot here, after pywa
        built it and right before it is written, so nothing (a store write, building the request) stands
        between the slot and the wire, and Meta sees the requests spaced as they were paced."""
        if request.method == "POST" and request.url.path.endswith("/messages"):
            await self.pacer.wait()

    def _wording(self, language: str) -> Wording:
        text = partial(self.catalog.text, language)
        return Wording(
            list_button=text("whatsapp.list_button"),
            section_title=text("whatsapp.list_section"),
            numbered_hint=text("whatsapp.numbered_hint"),
        )

    async def _send_outgoing(self, recipient: str, message: Outgoing) -> _Sent:
        await self._pair_backoff_wait(recipient)
        with self._request():
            await leaving()  # an outbox row becomes `sending` only now, as its request leaves
            async with self._graph:
                sent = await self._post(recipient, message)  # paced in `pace` as it leaves
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
            await self._pair_backoff_wait(recipient)
            with self._request():
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
            sent = await self._with_retries(once, recipient, first=True)
        except ChannelClosed:
            return SendResult(OutboxStatus.QUEUED, error="the service stopped before sending")
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

    async def _with_retries(
        self, attempt: Callable[[], Awaitable[T]], recipient: str | None = None, *, first: bool = False
    ) -> T:
        """Run `attempt` until it goes through or fails for good.

        A rate-limit refusal means "not sent, slow down" and is retried however often it comes:
        throughput (130429, and the API call limits 4 and 80007) pauses every send of the number
        (`Pacer.pause`); the pair rate (131056) pauses only this recipient, while the others go on.
        Meanwhile a row none of whose parts left yet (`first`) is given back to the outbox (`not_sent`),
        so its in-flight slot serves other people. Other throttling answers and refused connections
        (nothing left this machine) are tried `max_send_attempts` times.
        """
        tries = self.settings.max_send_attempts
        failures = 0
        while True:
            reason: Exception
            try:
                result = await attempt()
            except TooManyMessages as error:
                self.rate_limited += 1
                delay = self._pair_refused(recipient)
                reason = error
            except (RateLimitHit, ToManyAPICalls, RateLimitIssues) as error:
                self.rate_limited += 1
                delay = self.pacer.pause()
                reason = error
            except (ThrottlingError, httpx.ConnectError, httpx.ConnectTimeout) as error:
                failures += 1
                if failures >= tries:
                    raise
                delay = self.settings.retry_base_seconds * 2 ** (failures - 1)
                reason = error
            else:
                self.pacer.ok()
                if recipient is not None:
                    self._pair_until.pop(recipient, None)
                return result
            log.info("WhatsApp send slowed down (%s); retrying in %.1f s", _reason(reason), delay)
            if first:
                await not_sent()
            await asyncio.sleep(delay)

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

    def _pair_refused(self, recipient: str | None) -> float:
        """Meta refused a message to `recipient` for the pair rate: hold that person's messages (the
        pause doubles with each refusal in a row); return the pause in seconds."""
        if recipient is None:
            return self.settings.bulk_pair_interval_seconds
        _, refusals = self._pair_until.get(recipient, (0.0, 0))
        seconds = min(300.0, self.settings.bulk_pair_interval_seconds * 2.0**refusals)
        self._pair_until[recipient] = (time.monotonic() + seconds, refusals + 1)
        return seconds

    async def _pair_backoff_wait(self, recipient: str) -> None:
        """Wait while `recipient` is paused after a pair-rate refusal (other people are not)."""
        until = self._pair_until.get(recipient)
        if until is not None and until[0] > time.monotonic():
            await asyncio.sleep(until[0] - time.monotonic())

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
