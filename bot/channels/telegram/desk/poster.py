"""Posting in the group as things happen: a card for every new case, and every new citizen's message in a
case's thread (sent directly to the case's officer too, when their staff account is linked to their
Telegram user: `python -m bot staff link-telegram`).

A background task looks for cases and messages newer than the last ones it posted (kept in
`channel_state`, so a restart does not post them again)."""

import asyncio
import logging
from functools import partial

from telegram import Message
from telegram.error import TelegramError, TimedOut

from bot.channels.telegram.desk import state
from bot.channels.telegram.desk.cards import Cards
from bot.channels.telegram.desk.context import DeskContext
from bot.channels.telegram.render import split_text
from bot.replicas import STAFF_POSTER
from storage import cases as case_store
from storage import desk

log = logging.getLogger(__name__)


class Poster:
    """New cases and citizens' messages, posted in the group."""

    def __init__(self, ctx: DeskContext, cards: Cards, *, poll_seconds: float) -> None:
        self.ctx = ctx
        self.cards = cards
        self.poll_seconds = poll_seconds

    async def run(self) -> None:
        """Post a card for every new case and every new citizen message, until cancelled."""
        ctx = self.ctx
        last = await ctx.db.write(desk.last_posted_case)
        last_line = await ctx.db.write(desk.last_posted_line)
        while True:
            # With several processes on one store, one of them posts (each card once), from where the
            # store says the last poster stopped.
            await ctx.service.wait_for_role(STAFF_POSTER)
            if ctx.db.dialect != "sqlite":
                last = await ctx.db.write(desk.last_posted_case)
                last_line = await ctx.db.write(desk.last_posted_line)
            try:
                last = await self.post_new_cases(last)
                last_line = await self.post_new_lines(last_line)
            except Exception:  # the poster must outlive a bad round (it retries at the next)
                log.exception("posting new-case cards failed")
            await asyncio.sleep(self.poll_seconds)

    async def post_new_cases(self, last: int) -> int:
        """Post cards for cases after `last`; return the last case id posted."""
        ctx = self.ctx
        for case in await case_store.cases_after(ctx.db, last):
            assert case.id is not None
            text, markup = await self.cards.card(case)
            posted: Message | None = None
            try:
                posted = await ctx.channel.call(
                    partial(ctx.bot.send_message, ctx.chat_id, text, reply_markup=markup),
                    chat_id=ctx.chat_id,
                    group=True,
                )
            except TimedOut:
                pass  # it may be in the group already: never post a card twice
            except TelegramError as error:
                log.warning("new-case card not posted (%s); will try again", type(error).__name__)
                return last
            last = case.id
            message_id = posted.message_id if posted is not None else None
            await ctx.db.write(partial(state.posted_case, case_id=last, message_id=message_id))
        return last

    async def post_new_lines(self, last: int) -> int:
        """Post citizens' new thread messages in the group (and to the case's officer); return the last id."""
        ctx = self.ctx
        for line in await case_store.citizen_lines_after(ctx.db, last):
            words = line.body or ctx.t("staff.citizen_sent_file", kind=line.kind)
            if line.body and line.kind not in ("text", "answer", "location"):
                words = f"{ctx.t('staff.citizen_sent_file', kind=line.kind)} {words}"
            text = ctx.t("staff.citizen_wrote", reference=line.reference, name=line.subject_name, text=words)
            posted = await ctx.say(text)
            if posted is None:
                return last  # tried again at the next round
            last = line.id
            await ctx.db.write(
                partial(state.posted_line, line_id=last, message_id=posted.message_id, case_id=line.case_id)
            )
            if line.officer_telegram_id is not None:
                await self._tell_officer(line.officer_telegram_id, line.reference, line.subject_name, words)
        return last

    async def _tell_officer(self, user_id: int, reference: str, name: str, words: str) -> None:
        """A direct message to the officer of the case (they must have started a chat with the bot)."""
        ctx = self.ctx
        text = split_text(ctx.t("staff.direct_notice", reference=reference, name=name, text=words))[0]
        try:
            await ctx.channel.call(partial(ctx.bot.send_message, user_id, text), chat_id=user_id)
        except TelegramError as error:
            log.warning("could not tell the case's officer directly: %s", type(error).__name__)
