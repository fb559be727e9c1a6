"""What every part of the staff group works with: the bot and the group, who is staff, the catalog and
the clock, and the few ways the bot speaks in the group (a post, an answer to a button, an edit, a
question to reply to), each paced as a group and failing softly (logged, never raised).

Only staff listed in the settings may act (admin, petugas) or read (viewer too); anyone else is refused,
and the attempt is written to the audit log.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from telegram import (
    Bot,
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    User,
)
from telegram.error import BadRequest, TelegramError

from bot.app import Service
from bot.channels.telegram.render import split_text
from bot.channels.telegram.sender import TelegramChannel
from bot.media import MediaStore
from handlers.staff.errors import CODES, StaffError
from storage import repo
from storage.contract import Tx

log = logging.getLogger(__name__)

ACTING_ROLES = frozenset({"admin", "petugas"})
ROLES = ACTING_ROLES | {"viewer"}
STAFF_CONTACT = "telegram:staff"  # how the group's updates are recorded as inbound events
T = TypeVar("T")


def parse_roles(spec: str) -> dict[int, str]:
    """Staff roles from "user_id:role,user_id:role" (roles: admin, petugas, viewer)."""
    roles: dict[int, str] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        raw_id, _, role = item.partition(":")
        role = role.strip().lower()
        if not raw_id.strip().lstrip("-").isdigit() or role not in ROLES:
            raise ValueError(f"staff entry {item!r} is not 'telegram_user_id:admin|petugas|viewer'")
        roles[int(raw_id)] = role
    return roles


def message_id(query: CallbackQuery) -> int | None:
    """The message whose button was pressed (None when Telegram no longer says)."""
    message = query.message
    return message.message_id if message is not None else None


def replying(to: int | None) -> ReplyParameters | None:
    """Reply to a message of the group (still sent if that message was deleted meanwhile)."""
    return ReplyParameters(to, allow_sending_without_reply=True) if to else None


def utf16_len(text: str) -> int:
    """Telegram counts entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def rows(buttons: list[InlineKeyboardButton], width: int = 2) -> list[list[InlineKeyboardButton]]:
    """Buttons laid out `width` to a row."""
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


class DeskContext:
    """The staff group, its staff and its words, shared by every part of the desk."""

    def __init__(
        self,
        *,
        bot: Bot,
        channel: TelegramChannel,
        service: Service,
        chat_id: int,
        roles: dict[int, str],
        media: MediaStore,
    ) -> None:
        self.bot = bot
        self.channel = channel
        self.service = service
        self.db = service.db
        self.catalog = service.services.catalog
        self.places = service.services.places
        self.tz: ZoneInfo = service.services.timezone
        self.chat_id = chat_id
        self.roles = roles
        self.media = media
        self.language = service.settings.service.default_language

    # ------------------------------------------------------------ words, clock, staff

    def t(self, key: str, **params: object) -> str:
        """A staff-facing catalog sentence."""
        return self.catalog.text(self.language, key, **params)

    def error_words(self, error: StaffError) -> str:
        """A staff-service error in the group's words (its code; never the English message)."""
        code = error.code if error.code in CODES else "refused"
        try:
            return self.t(f"staff.error.{code}", **error.params)
        except KeyError:
            return self.t("staff.error.refused")

    def now(self) -> datetime:
        """The service clock."""
        return self.service.engine.clock()

    def short_time(self, at: datetime) -> str:
        """A time in the group's short form: "17-08 09:00" (local time)."""
        return at.astimezone(self.tz).strftime("%d-%m %H:%M")

    def wake(self) -> None:
        """Messages were queued for citizens: send them now."""
        self.service.dispatcher.wake()

    def role(self, user: User | None) -> str | None:
        """The staff role of a Telegram user (None: not staff)."""
        return None if user is None else self.roles.get(user.id)

    def may_read(self, user: User | None) -> bool:
        """Any staff member (a viewer too)."""
        return self.role(user) is not None

    def may_act(self, user: User | None) -> bool:
        """Admin and petugas."""
        return self.role(user) in ACTING_ROLES

    def refusal(self, user: User | None) -> str:
        """Why a staff member may not do this (a viewer only reads), or that they are no staff."""
        return self.t("staff.refused_viewer" if self.role(user) else "staff.refused")

    @staticmethod
    def actor(user: User) -> str:
        """How a staff member is named in case events and the audit log."""
        return f"telegram:{user.id}"

    # ------------------------------------------------------------ the store

    async def audit_refusal(self, user: User | None, target: str, detail: str) -> None:
        """Write a refused attempt to the audit log."""
        actor = f"telegram:{user.id}" if user else "telegram:unknown"
        await self.db.write(
            partial(
                repo.audit,
                actor=actor,
                action="telegram.refused",
                at=self.now(),
                target=target,
                detail=detail,
            )
        )

    async def audit(
        self, user: User, action: str, *, target: str | None = None, detail: str | None = None
    ) -> None:
        """Write what a staff member did or looked at to the audit log."""
        await self.db.write(
            partial(
                repo.audit,
                actor=self.actor(user),
                action=action,
                at=self.now(),
                target=target,
                detail=detail,
            )
        )

    async def first_time(self, event_id: str) -> bool:
        """Record an update of the staff group; False when it was handled before (a redelivery)."""
        return bool(
            await self.db.write(
                partial(repo.record_inbound, event_id=event_id, contact_id=STAFF_CONTACT, at=self.now())
            )
        )

    async def once(self, event_id: str, work: Callable[[Tx], T]) -> tuple[bool, T | None]:
        """Run `work` in the transaction that records the update; (False, None) for a redelivery."""
        now = self.now()

        def run(tx: Tx) -> tuple[bool, T | None]:
            if not repo.record_inbound(tx, event_id, STAFF_CONTACT, now):
                return False, None
            return True, work(tx)

        return await self.db.write(run)

    # ------------------------------------------------------------ speaking in the group

    async def say(self, text: str, *, reply_to: int | None = None, markup: Any = None) -> Message | None:
        """Post to the staff group (paced as a group); None when it did not go through."""
        parameters = replying(reply_to)
        message: Message | None = None
        for part in split_text(text):
            try:
                message = await self.channel.call(
                    partial(
                        self.bot.send_message,
                        self.chat_id,
                        part,
                        reply_markup=markup,
                        reply_parameters=parameters,
                    ),
                    chat_id=self.chat_id,
                    group=True,
                )
            except TelegramError as error:
                log.warning("could not post to the staff group: %s", type(error).__name__)
                return None
        return message

    async def answer(self, query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
        """Answer a pressed button (a short notice, or an alert to dismiss)."""
        try:
            await self.bot.answer_callback_query(query.id, text=text, show_alert=alert)
        except TelegramError as error:  # an old or repeated query: nothing to do
            log.debug("callback answer failed: %s", type(error).__name__)

    async def refuse(self, user: User, target: str, detail: str, *, reply_to: int) -> None:
        """Audit a refused attempt and say why in the group."""
        await self.audit_refusal(user, target, detail)
        await self.say(self.refusal(user), reply_to=reply_to)

    async def edit(
        self, message: int | None, text: str, markup: InlineKeyboardMarkup | None, *, what: str
    ) -> None:
        """Change a message of the bot in place (`what` names it in the log when that fails)."""
        if message is None:
            return
        try:
            await self.channel.call(
                partial(
                    self.bot.edit_message_text,
                    split_text(text)[0],
                    chat_id=self.chat_id,
                    message_id=message,
                    reply_markup=markup,
                ),
                chat_id=self.chat_id,
                group=True,
            )
        except BadRequest as error:  # "message is not modified", or too old to edit
            log.debug("%s not edited: %s", what, error.message)
        except TelegramError as error:
            log.warning("%s not edited: %s", what, type(error).__name__)

    async def prompt(
        self,
        user: User,
        body: str,
        *,
        reply_to: int | None,
        head: str = "",
        placeholder: str | None = None,
    ) -> Message | None:
        """Ask a staff member for a typed answer: `head` then `body` (which names them, with a mention),
        as a message they reply to. None when it did not go through."""
        name = user.full_name
        mention = MessageEntity(MessageEntity.TEXT_MENTION, utf16_len(head), utf16_len(name), user=user)
        try:
            sent: Message = await self.channel.call(
                partial(
                    self.bot.send_message,
                    self.chat_id,
                    head + body,
                    entities=[mention] if body.startswith(name) else None,
                    reply_markup=ForceReply(selective=True, input_field_placeholder=placeholder),
                    reply_parameters=replying(reply_to),
                ),
                chat_id=self.chat_id,
                group=True,
            )
        except TelegramError as error:
            log.warning("could not ask in the staff group: %s", type(error).__name__)
            return None
        return sent
