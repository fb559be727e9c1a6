"""The Telegram sender: the outbox's channel for `telegram:<user id>` contacts.

Every Bot API call that sends something goes through `call`: it waits for the chat's slot and a global
slot, and retries only a 429 (after its `retry_after`). A timeout is "maybe delivered": recorded as
`unknown`, never sent again. A 403 marks the contact unreachable (the dispatcher records `blocked`).
"""

import asyncio
import datetime as dtm
import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from telegram import Bot, InputFile, Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.channels.base import InFlight
from bot.channels.telegram.pacing import ChatPacer, Pacer
from bot.channels.telegram.render import LONG_ID_PREFIX, render
from bot.outbox import SendResult, current_outbox_row, gate_begun, leaving
from bot.settings import TelegramSettings
from bot.voice import audio_id, known_upload, remember_upload
from handlers.i18n import Catalog
from handlers.types import Reply
from storage import channel_state, channels, contacts, repo
from storage.contract import Store, Tx
from storage.records import OutboxStatus

log = logging.getLogger(__name__)

SCHEME = "telegram"
LONG_ID_STATE = "telegram.callback."
T = TypeVar("T")


class ChannelClosed(TelegramError):
    """The channel is stopping: the call was not made (nothing reached Telegram)."""

    def __init__(self) -> None:
        super().__init__("the Telegram channel is stopping")


def retry_seconds(error: RetryAfter) -> float:
    """Seconds a 429 asks to wait."""
    value: Any = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def classify(error: TelegramError) -> SendResult:
    """What a failed send means for the outbox row."""
    if isinstance(error, TimedOut):
        return SendResult(OutboxStatus.UNKNOWN, error=f"timed out, may have been delivered: {error.message}")
    if isinstance(error, Forbidden):
        return SendResult(OutboxStatus.BLOCKED, error=error.message)
    if isinstance(error, RetryAfter):
        return SendResult(OutboxStatus.FAILED, error="rate limited (429) at every attempt")
    if isinstance(error, BadRequest | NetworkError):
        return SendResult(OutboxStatus.FAILED, error=error.message)
    return SendResult(OutboxStatus.FAILED, error=f"{type(error).__name__}: {error.message}")


def chat_of(contact_id: str) -> int | None:
    """The chat id of a `telegram:<id>` address (None when it is not one)."""
    scheme, _, raw = contact_id.partition(":")
    if scheme != SCHEME:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


class KeyboardTracker:
    """Which message of each chat carries the buttons of the question being asked.

    Kept in memory (bounded); after a restart the store answers instead (see `TelegramChannel.is_current`).
    """

    LIMIT = 100_000

    def __init__(self) -> None:
        self._current: dict[int, int] = {}

    def shown(self, chat_id: int, message_id: int) -> None:
        """A new question with buttons was sent."""
        self._current.pop(chat_id, None)
        self._current[chat_id] = message_id
        if len(self._current) > self.LIMIT:
            for chat in list(self._current)[: self.LIMIT // 2]:
                del self._current[chat]

    def used(self, chat_id: int, message_id: int) -> None:
        """A button of that message was pressed: its other buttons are spent."""
        if self._current.get(chat_id) == message_id:
            self._current[chat_id] = -message_id

    def known(self, chat_id: int) -> int | None:
        """The current keyboard message (negative once pressed), or None when not known."""
        return self._current.get(chat_id)


class TelegramChannel:
    """Sends outbox rows to Telegram chats, paced, with honest results."""

    scheme = SCHEME
    marks_sending = True  # `call` marks the outbox row `sending` once its pacing slots are taken

    def __init__(
        self,
        bot: Bot,
        db: Store,
        catalog: Catalog,
        settings: TelegramSettings,
        *,
        on_skip: Callable[[str], None] | None = None,
    ) -> None:
        self.bot = bot
        self.db = db
        self.catalog = catalog
        self.default_language = "id"
        self.max_attempts = settings.max_send_attempts
        rate = settings.rate_per_second
        # Catching up after a stall bunches sends, and bunches arrive squeezed (network and server
        # jitter): 20 ms of catch-up at most, so the limit is not met in Telegram's count.
        self.pacer = Pacer(rate, burst=max(1, int(rate * 0.02)))
        self.chat_pacer = ChatPacer(settings.per_chat_interval_seconds, burst=settings.per_chat_burst)
        self.group_pacer = ChatPacer(settings.group_interval_seconds, burst=3)
        self.keyboards = KeyboardTracker()
        self.cosmetic_wait = settings.cosmetic_wait_seconds
        self.cosmetic_skipped = 0  # cosmetic calls skipped because the budget was tight
        self._on_skip = on_skip
        self._reply_keyboards: set[int] = set()
        self._long_ids: dict[str, str] = {}
        self._closing = False
        self._in_flight = InFlight()

    async def call(
        self,
        make: Callable[[], Awaitable[T]],
        *,
        chat_id: int | None = None,
        urgent: bool = True,
        group: bool = False,
    ) -> T:
        """Run one Bot API call in its chat's and the global slot; retry it only after a 429."""
        attempt = 0
        while True:
            attempt += 1
            if chat_id is not None:
                await (self.group_pacer if group else self.chat_pacer).acquire(chat_id)
            await self.pacer.acquire(urgent=urgent)
            if self._closing and not gate_begun():
                raise ChannelClosed
            # In flight from here: `close` waits for this call before the HTTP session is shut, even
            # when it closes while the row is being written `sending` (the request then still leaves).
            with self._in_flight:
                try:
                    await leaving()  # an outbox row becomes `sending` only now, as its request leaves
                    return await make()
                except RetryAfter as error:
                    # The pacer pauses every sender, so the retry waits its turn after the pause.
                    self.pacer.limited_for(retry_seconds(error))
                    log.warning(
                        "Bot API asked to slow down for %.0f s (attempt %d)", retry_seconds(error), attempt
                    )
                    if attempt >= self.max_attempts:
                        raise

    async def call_if_spare(self, make: Callable[[], Awaitable[object]], *, kind: str) -> bool:
        """Run a cosmetic Bot API call (an edit) in a slot no message needs; False when it was skipped.

        It waits at most `cosmetic_wait` seconds behind every reply and broadcast, and is tried once: a
        429 skips it too. Skips are counted (`cosmetic_skipped`, and `on_skip(kind)` for /metrics).
        """
        if self._closing or not await self.pacer.acquire_spare(self.cosmetic_wait) or self._closing:
            self._skipped(kind)
            return False
        with self._in_flight:
            try:
                await make()
            except RetryAfter as error:
                self.pacer.limited_for(retry_seconds(error))
                self._skipped(kind)
                return False
        return True

    def _skipped(self, kind: str) -> None:
        self.cosmetic_skipped += 1
        if self._on_skip is not None:
            self._on_skip(kind)

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        """Deliver `reply` to the contact's private chat."""
        chat_id = chat_of(contact_id)
        if chat_id is None:
            return SendResult(OutboxStatus.FAILED, error="not a Telegram address")
        row = current_outbox_row.get()
        urgent = row is None or row.origin not in repo.BULK_ORIGINS
        language = self.default_language
        if reply.request in ("phone", "location"):
            language = await self._language(contact_id)
        rendered = render(reply, self.catalog, language, remove_keyboard=chat_id in self._reply_keyboards)
        if rendered.long_ids:
            await self._remember_long_ids(rendered.long_ids)
        # The bubbles of one reply are booked together and leave back to back, so a question and its
        # hint arrive as one unit; bulk messages get no burst (one per interval to a chat).
        await self.chat_pacer.acquire(chat_id, len(rendered.messages), burst=None if urgent else 1)
        message: Message | None = None
        for index, outgoing in enumerate(rendered.messages):
            try:
                message = await self.call(
                    partial(self.bot.send_message, chat_id, outgoing.text, reply_markup=outgoing.markup),
                    urgent=urgent,
                )
            except ChannelClosed:
                if index == 0:
                    # Nothing left: back to the queue, sent when the service runs again.
                    return SendResult(OutboxStatus.QUEUED, error="the service stopped before sending")
                return SendResult(OutboxStatus.FAILED, error=f"part {index + 1}: the service stopped")
            except TelegramError as error:
                result = classify(error)
                if index:
                    result = SendResult(result.status, error=f"part {index + 1}: {result.error}")
                return result
            if index == rendered.keyboard_at:
                self.keyboards.shown(chat_id, message.message_id)
        if rendered.reply_keyboard:
            self._reply_keyboards.add(chat_id)
        elif rendered.keyboard_at is None:
            self._reply_keyboards.discard(chat_id)
        assert message is not None
        return SendResult(OutboxStatus.SENT, external_id=str(message.message_id))

    async def send_voice(self, contact_id: str, audio: Path) -> SendResult:
        """A reply's voice note (sendVoice): the file once, then its file_id, which Telegram keeps."""
        chat_id = chat_of(contact_id)
        if chat_id is None:
            return SendResult(OutboxStatus.FAILED, error="not a Telegram address")
        row = current_outbox_row.get()
        urgent = row is None or row.origin not in repo.BULK_ORIGINS
        name = audio_id(audio)
        file_id = await known_upload(self.db, SCHEME, name)
        try:
            if file_id is not None:
                try:
                    message = await self.call(
                        partial(self.bot.send_voice, chat_id, voice=file_id), chat_id=chat_id, urgent=urgent
                    )
                    return SendResult(OutboxStatus.SENT, external_id=str(message.message_id))
                except BadRequest:
                    log.info("a kept Telegram voice file_id was refused; uploading the file again")
            data = await asyncio.to_thread(audio.read_bytes)
            upload = InputFile(data, filename="suara.ogg", attach=True)
            message = await self.call(
                partial(self.bot.send_voice, chat_id, voice=upload), chat_id=chat_id, urgent=urgent
            )
        except ChannelClosed:
            return SendResult(OutboxStatus.FAILED, error="the service stopped before the voice note")
        except TelegramError as error:
            return classify(error)
        if message.voice is not None:
            await remember_upload(self.db, SCHEME, name, message.voice.file_id, dtm.datetime.now(dtm.UTC))
        return SendResult(OutboxStatus.SENT, external_id=str(message.message_id))

    async def _language(self, contact_id: str) -> str:
        language = await contacts.language_of(self.db, contact_id)
        return language or self.default_language

    # ------------------------------------------------------------ callback data of long choice ids

    async def _remember_long_ids(self, long_ids: dict[str, str]) -> None:
        fresh = {key: value for key, value in long_ids.items() if self._long_ids.get(key) != value}
        if fresh:
            await self.db.write(partial(_store_long_ids, mapping=fresh))
            self._long_ids.update(fresh)

    async def choice_of(self, data: str) -> str | None:
        """The choice id a button's callback data stands for (None when unknown)."""
        if not data.startswith(LONG_ID_PREFIX):
            return data
        if data in self._long_ids:
            return self._long_ids[data]
        value = await channel_state.value(self.db, LONG_ID_STATE + data)
        if value is None:
            return None
        self._long_ids[data] = value
        return value

    # ------------------------------------------------------------ which keyboard is current

    async def is_current(self, chat_id: int, message_id: int) -> bool:
        """Whether the buttons of `message_id` belong to the question the chat is being asked now."""
        known = self.keyboards.known(chat_id)
        if known is not None:
            return known == message_id
        # Not seen since start-up: a later question with buttons makes this one stale, and so does any
        # later reply (the person answered it, by a tap whose edit was skipped, or by typing).
        contact = f"{SCHEME}:{chat_id}"
        sent = await channels.outbox_id_of_sent(self.db, contact, str(message_id))
        if sent is None:
            return True  # cannot tell (e.g. a message part): let the conversation judge the choice
        return not await channels.answered_or_asked_since(self.db, contact, sent)

    async def close(self) -> None:
        """Stop sending: calls in flight finish (a few seconds at most), later ones are not made."""
        self._closing = True
        await self.pacer.close()
        await self._in_flight.settle(5)


def _store_long_ids(tx: Tx, mapping: dict[str, str]) -> None:
    channel_state.save(tx, {LONG_ID_STATE + key: value for key, value in mapping.items()})


def dumps(value: object) -> str:
    """Compact JSON for channel state."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
