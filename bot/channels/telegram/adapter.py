"""The Telegram channel at work: updates in (polling or webhook), the engine, replies out.

python-telegram-bot is the transport: its `Bot` makes every Bot API call (through an aiohttp request
backend), its `getUpdates` and `Update.de_json` read updates. Conversation state lives in this service's
store, not in PTB (its `ConversationHandler` and persistence lose answers on a crash).

Per update the bot makes few calls: a typed answer costs its replies only; a pressed button adds
`answerCallbackQuery` (so the phone stops spinning) and one edit that shows the choice under the
question and removes its buttons. Both run beside the conversation step, not before it. The edit is
cosmetic: it takes a send slot only when no reply needs it, and is skipped (counted) when the budget is
tight; an old button left on screen is harmless, as a tap on it is answered "that question is over"
and changes nothing.
"""

import asyncio
import contextlib
import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from telegram import Bot, BotCommand, CallbackQuery, Message, Update
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.adoption import Adoption
from bot.app import Service
from bot.channels.telegram.desk.context import DeskContext
from bot.channels.telegram.inbound import InboundReader, file_of
from bot.channels.telegram.intake import Inbox
from bot.channels.telegram.render import strip_number
from bot.channels.telegram.sender import TelegramChannel, retry_seconds
from bot.channels.telegram.staff import StaffDesk, parse_roles
from bot.channels.telegram.transport import AiohttpRequest
from bot.engine import mark_flooding
from bot.ordering import OrderedLanes
from bot.replicas import TELEGRAM_POLLER
from bot.settings import Settings
from handlers.types import Inbound
from storage import channels, contacts

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 - a header name, not a secret
# Commands shown in Telegram's menu button, per language (the router knows all of them, and more words).
MENU_COMMANDS = {
    "id": ("start", "menu", "status", "batal", "bantuan", "bahasa"),
    "en": ("start", "menu", "status", "cancel", "help", "language"),
}


class TelegramAdapter:
    """Reads updates, hands them to the engine, and runs the staff group."""

    def __init__(
        self, settings: Settings, service: Service, bot: Bot, *, updates_request: AiohttpRequest | None = None
    ) -> None:
        telegram = settings.telegram
        self.updates_request = updates_request
        self.settings = telegram
        self.service = service
        self.bot = bot
        self.catalog = service.services.catalog
        self.channel = TelegramChannel(
            bot, service.db, self.catalog, telegram, on_skip=service.metrics.cosmetic_skip
        )
        self.channel.default_language = settings.service.default_language
        media = service.media
        self.reader = InboundReader(bot, media)
        self.inbox = Inbox(service.db, service.engine.clock, service.services.sealer.cipher("webhook-inbox"))
        # Several replicas: updates another one stored and did not handle (it died) are taken over.
        self.adoption = Adoption("Telegram updates", self.inbox.waiting, self._requeue)
        # One user's updates in update_id order: in webhook mode an update that skips one not yet
        # received waits up to `order_hold_ms` for it (polling receives them in order).
        self.lanes = OrderedLanes(
            telegram.concurrency,
            hold=telegram.order_hold_ms / 1000,
            backlog=telegram.per_chat_backlog,
            reload=self._reload,
            on_flood=partial(mark_flooding, service.db, service.engine.clock, "telegram"),
            name="Telegram",
            acks=service.acks,
        )
        # update_ids received: all up to `_floor`, and those above it in `_above` (a gap below them).
        self._floor: int | None = None
        self._above: set[int] = set()
        self.max_body_bytes = settings.web.max_body_bytes
        self.staff: StaffDesk | None = None
        if telegram.staff_chat_id is not None:
            desk = DeskContext(
                bot=bot,
                channel=self.channel,
                service=service,
                chat_id=telegram.staff_chat_id,
                roles=parse_roles(telegram.staff),
                media=media,
            )
            self.staff = StaffDesk(desk, poll_seconds=telegram.staff_poll_seconds)
        self._side: set[asyncio.Task[Any]] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._handled: OrderedDict[int, None] = OrderedDict()
        self._handled_changed = asyncio.Condition()
        self.username: str | None = None

    # ------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Meet the Bot API (getMe), pick the run mode, and handle updates left from a crash."""
        await self.bot.initialize()
        self.username = self.bot.username
        telegram = self.settings
        if telegram.mode == "webhook":
            assert telegram.webhook_url and telegram.webhook_secret  # checked by setup()
            await self.bot.set_webhook(
                telegram.webhook_url,
                secret_token=telegram.webhook_secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            # getUpdates is refused while a webhook is set.
            await self.bot.delete_webhook(drop_pending_updates=False)
        await self._set_commands()
        await self._requeue()

    async def _requeue(self, only: set[int] | None = None) -> int:
        """Queue the updates stored but not handled (those of `only`, when given): left by a crash of
        this process, or by another replica that died; return how many."""
        taken = 0
        for inbox_id, body in await self.inbox.unhandled(only):
            try:
                update = Update.de_json(json.loads(body), self.bot)
            except (ValueError, TypeError, KeyError) as error:
                self.inbox.settle(inbox_id, f"unreadable: {type(error).__name__}")
                continue
            self.accept(update, inbox_id)
            taken += 1
        return taken

    async def _set_commands(self) -> None:
        for language, names in MENU_COMMANDS.items():
            commands = [BotCommand(name, self.catalog.text(language, f"tg.cmd.{name}")) for name in names]
            code = None if language == self.channel.default_language else language
            try:
                await self.bot.set_my_commands(commands, language_code=code)
            except TelegramError as error:  # cosmetic: the bot works without its menu
                log.warning("could not set the command menu: %s", type(error).__name__)

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        """Background work for the runner (stop() ends it, whoever runs it)."""
        work: list[Coroutine[Any, Any, None]] = [self._owned(self.inbox.run)]
        if self.settings.mode == "polling":
            work.append(self._owned(self.poll))
        if self.staff is not None:
            work.append(self._owned(self.staff.run_poster))
        if self.service.db.dialect != "sqlite":  # other processes may share the store
            work.append(self._owned(partial(self.adoption.run, self.service.settings.service.lease_seconds)))
        return work

    async def _owned(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._background.add(task)
        try:
            await work()
        finally:
            self._background.discard(task)

    async def stop(self) -> None:
        """Stop taking updates, finish those in hand (seconds at most), then close the connections.

        The outbox sender may still hand the channel rows meanwhile: the channel sends them until it
        closes, and after that gives them back to the queue unsent.
        """
        background = list(self._background)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        # Updates being handled finish; the others stay in the inbox for the next start.
        await self.lanes.close(grace=10)
        if self._side:
            await asyncio.wait(self._side, timeout=5)
        await self.inbox.flush()
        await self.channel.close()
        await self.bot.shutdown()

    # ------------------------------------------------------------ updates in

    async def poll(self) -> None:
        """Long-poll getUpdates until cancelled; each batch is stored before it is acknowledged."""
        offset: int | None = None
        backoff = 1.0
        timeout = self.settings.poll_timeout_seconds
        while True:
            # With several processes on one store, one of them polls (the Bot API allows one poller).
            await self.service.wait_for_role(TELEGRAM_POLLER)
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=timeout, limit=100, allowed_updates=ALLOWED_UPDATES
                )
            except RetryAfter as error:
                await asyncio.sleep(retry_seconds(error))
                continue
            except TimedOut:
                continue
            except InvalidToken:
                log.error("Telegram refused the bot token; polling stopped")
                return
            except (Conflict, NetworkError) as error:
                # Conflict: another process polls this bot, or a webhook is set.
                log.warning("getUpdates failed (%s); retrying in %.0f s", type(error).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            except Exception:  # e.g. an update PTB cannot read: keep polling, loudly
                log.exception("getUpdates failed; retrying in %.0f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            if not updates:
                continue
            ids = await self.inbox.store(self._raw_updates(updates))
            for update, inbox_id in zip(updates, ids, strict=True):
                self.accept(update, inbox_id)
            offset = updates[-1].update_id + 1
            # Back-pressure: do not fetch faster than the updates are handled. A flooding chat holds at
            # most its backlog in memory, so it never stops polling for the others.
            await self.lanes.wait_below(self.settings.concurrency * 4)

    def _raw_updates(self, updates: tuple[Update, ...]) -> list[bytes]:
        """The updates as Telegram sent them (cheaper and truer than serialising PTB's objects again)."""
        request = self.updates_request  # used by this loop alone, so its last answer is this batch
        if request is not None:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                raw = {item["update_id"]: item for item in json.loads(request.last_body)["result"]}
                return [json.dumps(raw[update.update_id]).encode() for update in updates]
        return [update.to_json().encode() for update in updates]

    def webhook_route(self) -> BaseRoute:
        """The webhook endpoint: secret checked in constant time, body capped, stored, then 200."""
        secret = self.settings.webhook_secret
        expected = secret.get_secret_value().encode() if secret else b""

        async def receive(request: Request) -> Response:
            given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
            if not expected or not hmac.compare_digest(given, expected):
                return Response(status_code=403)
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
                return Response(status_code=413)
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > self.max_body_bytes:
                    return Response(status_code=413)
            try:
                data = json.loads(body)
                if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                    raise ValueError("not an update")
                update = Update.de_json(data, self.bot)
            except (ValueError, TypeError, KeyError, AttributeError):
                return Response(status_code=400)
            with self.service.acks.receiving():
                [inbox_id] = await self.inbox.store([bytes(body)], urgent=True)
            self.accept(update, inbox_id, webhook=True)
            return Response(status_code=200)

        return Route(self.settings.webhook_path, receive, methods=["POST"])

    def accept(self, update: Update, inbox_id: int, *, webhook: bool = False) -> None:
        """Queue an update in its user's lane, in update_id order. A webhook delivery that skips an
        update_id not yet received waits for it (up to the hold); otherwise it goes at once."""
        self.adoption.took(inbox_id)
        user = update.effective_user
        key: Any = (
            user.id
            if user is not None
            else ("chat", update.effective_chat.id if update.effective_chat else 0)
        )
        gap = webhook and self._received(update.update_id)
        if gap:
            # Whatever is still missing then was lost or filtered: stop waiting for it.
            asyncio.get_running_loop().call_later(self.lanes.hold, self._settle_gap, update.update_id)
        self.lanes.submit(
            key,
            (update.update_id,),
            partial(self._handle, update, inbox_id),
            token=inbox_id,
            hold=None if gap else 0.0,
        )

    def _received(self, update_id: int) -> bool:
        """Note an update_id; whether one below it is still missing (the first after a start has
        nothing to compare with)."""
        if self._floor is None:
            self._floor = update_id
        elif update_id > self._floor:
            self._above.add(update_id)
            while self._floor + 1 in self._above:
                self._floor += 1
                self._above.discard(self._floor)
        return update_id > self._floor

    def _settle_gap(self, update_id: int) -> None:
        if self._floor is not None and update_id > self._floor:
            self._floor = update_id
            self._above = {i for i in self._above if i > update_id}
            while self._floor + 1 in self._above:
                self._floor += 1
                self._above.discard(self._floor)

    async def _reload(self, token: object) -> Callable[[], Awaitable[None]] | None:
        """A flooding user's update, read back from the inbox when its turn comes."""
        assert isinstance(token, int)
        body = await self.inbox.load(token)
        if body is None:
            return None
        try:
            update = Update.de_json(json.loads(body), self.bot)
        except (ValueError, TypeError, KeyError) as error:
            self.inbox.settle(token, f"unreadable: {type(error).__name__}")
            return None
        return partial(self._handle, update, token)

    async def _handle(self, update: Update, inbox_id: int) -> None:
        error: str | None = None
        try:
            await self._dispatch(update)
        except Exception as exc:
            error = type(exc).__name__
            raise
        finally:
            self.inbox.settle(inbox_id, error)
            await self._mark_handled(update.update_id)

    async def _dispatch(self, update: Update) -> None:
        event_id = f"telegram:update:{update.update_id}"
        staff_chat = self.settings.staff_chat_id
        if update.callback_query is not None:
            query = update.callback_query
            chat = query.message.chat if query.message is not None else None
            if self.staff is not None and chat is not None and chat.id == staff_chat:
                await self.staff.on_callback(query, event_id)
            elif chat is not None and chat.type == "private":
                await self._on_button(query, event_id)
            else:
                self._aside(self.bot.answer_callback_query(query.id))
        elif update.message is not None:
            message = update.message
            if message.chat.type == "private":
                await self._on_message(message, event_id)
            elif self.staff is not None and message.chat.id == staff_chat:
                await self.staff.on_message(message, event_id, self.username)
        elif update.my_chat_member is not None:
            member = update.my_chat_member
            if member.chat.type == "private":
                await self._on_block_change(member.from_user.id, member.new_chat_member.status)

    async def _on_message(self, message: Message, event_id: str) -> None:
        found = file_of(message)
        if found is not None and await self._seen(event_id):
            return  # a redelivered file: do not download it again
        event = await self.reader.event(message, event_id=event_id, at=self.service.engine.clock())
        if event is not None:
            await self.service.receive(event)

    async def _seen(self, event_id: str) -> bool:
        return await channels.seen(self.service.db, event_id)

    async def _on_button(self, query: CallbackQuery, event_id: str) -> None:
        """A citizen pressed an inline button."""
        message = query.message
        user = query.from_user
        data = query.data or ""
        choice = await self.channel.choice_of(data) if data else None
        if message is None or choice is None:
            self._aside(self._answer(query, self.catalog.text(self._language(), "tg.button_old")))
            return
        chat_id = message.chat.id
        if not await self.channel.is_current(chat_id, message.message_id):
            # An old question's button: say so, and take its buttons away.
            self._aside(self._answer(query, self.catalog.text(self._language(), "tg.button_old")))
            self._aside(self._clear_buttons(chat_id, message.message_id))
            return
        self.channel.keyboards.used(chat_id, message.message_id)
        self._aside(self._answer(query))
        self._aside(self._mark_choice(query, data))
        event = Inbound(
            contact=f"telegram:{user.id}",
            at=self.service.engine.clock(),
            event_id=event_id,
            choice=choice,
            profile_name=user.full_name,
        )
        await self.service.receive(event)

    def _language(self) -> str:
        return self.channel.default_language

    async def _answer(self, query: CallbackQuery, text: str | None = None) -> None:
        try:
            await self.bot.answer_callback_query(query.id, text=text)
        except TelegramError as error:  # expired or repeated: the press is handled all the same
            log.debug("callback answer failed: %s", type(error).__name__)

    async def _mark_choice(self, query: CallbackQuery, data: str) -> None:
        """Show the chosen answer under the question and remove its buttons."""
        message = query.message
        if not isinstance(message, Message):
            return
        label = next(
            (
                strip_number(button.text)
                for row in (message.reply_markup.inline_keyboard if message.reply_markup else ())
                for button in row
                if button.callback_data == data
            ),
            None,
        )
        text = message.text
        try:
            if text and label and len(text) + len(label) < 4000:
                await self.channel.call_if_spare(
                    partial(
                        self.bot.edit_message_text,
                        f"{text}\n\n{self.catalog.text(self._language(), 'tg.chosen', label=label)}",
                        chat_id=message.chat.id,
                        message_id=message.message_id,
                        reply_markup=None,
                        entities=message.entities or None,
                    ),
                    kind="chosen",
                )
            else:
                await self._clear_buttons(message.chat.id, message.message_id, kind="chosen")
        except (BadRequest, Forbidden) as error:  # already edited, or too old to edit
            log.debug("pressed keyboard not marked: %s", error.message)
        except TelegramError as error:
            log.info("pressed keyboard not marked: %s", type(error).__name__)

    async def _clear_buttons(self, chat_id: int, message_id: int, kind: str = "stale") -> None:
        try:
            await self.channel.call_if_spare(
                partial(
                    self.bot.edit_message_reply_markup,
                    chat_id=chat_id,
                    message_id=message_id,
                    reply_markup=None,
                ),
                kind=kind,
            )
        except TelegramError as error:
            log.debug("old keyboard not removed: %s", type(error).__name__)

    async def _on_block_change(self, user_id: int, status: str) -> None:
        """The user blocked the bot (kicked) or unblocked it (member): stop or resume sending."""
        if status not in ("kicked", "member"):
            return
        write = partial(
            contacts.set_unreachable, contact_id=f"telegram:{user_id}", unreachable=status == "kicked"
        )
        await self.service.db.write(write)

    def _aside(self, work: Any) -> None:
        """Run a Bot API call beside the conversation step (kept, so stop() can wait for it)."""
        task = asyncio.ensure_future(work)
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    # ------------------------------------------------------------ for tests and benchmarks

    async def _mark_handled(self, update_id: int) -> None:
        self._handled[update_id] = None
        if len(self._handled) > 100_000:
            self._handled.popitem(last=False)
        async with self._handled_changed:
            self._handled_changed.notify_all()

    async def wait_handled(self, update_id: int) -> None:
        """Wait until the update with this id has been handled (its replies sent)."""
        async with self._handled_changed:
            await self._handled_changed.wait_for(lambda: update_id in self._handled)
