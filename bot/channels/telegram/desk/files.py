"""A case's files (photos, voice notes, documents), sent in the group when staff press their button on
the card; each look is written to the audit log."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from telegram import CallbackQuery, InputFile, Message
from telegram.error import TelegramError

from bot.channels.telegram.desk.cards import Cards
from bot.channels.telegram.desk.context import DeskContext, message_id, replying
from bot.channels.telegram.inbound import TELEGRAM_FILE_PREFIX
from storage import repo

log = logging.getLogger(__name__)


class CaseFiles:
    """The file buttons of case cards."""

    def __init__(self, ctx: DeskContext, cards: Cards) -> None:
        self.ctx = ctx
        self.cards = cards

    async def open(self, query: CallbackQuery, case_id: int, index: int) -> None:
        """Send file number `index` of a case in the group, as a reply to its card."""
        ctx = self.ctx
        user = query.from_user
        case = await repo.get_case_by_id(ctx.db, case_id)
        files = await self.cards.files(case) if case else []
        if case is None or index >= len(files):
            await ctx.answer(query, ctx.t("staff.file_missing"))
            return
        item = files[index]
        source: str | InputFile
        if item.ref.startswith(TELEGRAM_FILE_PREFIX):
            source = item.ref.removeprefix(TELEGRAM_FILE_PREFIX)
        else:
            try:
                path = ctx.media.path(item.ref)
                data = await asyncio.to_thread(Path.read_bytes, path)
            except (ValueError, OSError):
                await ctx.answer(query, ctx.t("staff.file_missing"))
                return
            source = InputFile(data, filename=path.name)
        await ctx.answer(query)
        caption = ctx.t("staff.file_caption", reference=case.reference, number=index + 1)
        reply = replying(message_id(query))
        bot, chat = ctx.bot, ctx.chat_id
        call: Callable[[], Awaitable[Message]]
        if item.kind == "photo":
            call = partial(bot.send_photo, chat, source, caption=caption, reply_parameters=reply)
        elif item.kind == "voice":
            call = partial(bot.send_voice, chat, source, caption=caption, reply_parameters=reply)
        elif item.kind == "audio":
            call = partial(bot.send_audio, chat, source, caption=caption, reply_parameters=reply)
        else:
            call = partial(bot.send_document, chat, source, caption=caption, reply_parameters=reply)
        try:
            await ctx.channel.call(call, chat_id=chat, group=True)
        except TelegramError as error:
            log.warning("could not send a case file to the staff group: %s", type(error).__name__)
            await ctx.say(ctx.t("staff.file_missing"), reply_to=message_id(query))
            return
        await ctx.audit(user, "case.file_viewed", target=case.reference, detail=f"{item.kind} {index + 1}")
