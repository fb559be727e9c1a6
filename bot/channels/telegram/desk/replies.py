"""Replies to citizens from the group: a reply to a case card (or to a citizen's message the bot posted)
is a free-text message to the citizen of the case (`bot.replies.reply_to_citizen`, as from the dashboard
and the command line)."""

from telegram import Message

from bot.channels.telegram.desk import state
from bot.channels.telegram.desk.context import DeskContext
from bot.replies import reply_to_citizen
from handlers.casework import CaseworkError
from storage import repo


class CitizenReplies:
    """Replies to cards and citizens' messages."""

    def __init__(self, ctx: DeskContext) -> None:
        self.ctx = ctx

    async def on_card_reply(self, message: Message, card_id: int, event_id: str) -> bool:
        """A reply to a case card or a citizen's message: send its text to the citizen of the case."""
        ctx = self.ctx
        case_id = await state.case_of_card(ctx.db, card_id)
        if case_id is None:
            return False
        user = message.from_user
        if user is None or not await ctx.first_time(event_id):
            return True
        case = await repo.get_case_by_id(ctx.db, case_id)
        if case is None:
            return True
        if not ctx.may_act(user):
            await ctx.refuse(user, case.reference, "reply to citizen", reply_to=message.message_id)
            return True
        text = (message.text or "").strip()
        if len(text) < 2:
            await ctx.say(ctx.t("staff.note_empty"), reply_to=message.message_id)
            return True
        try:
            sent = await reply_to_citizen(
                ctx.db,
                ctx.service.settings,
                ctx.catalog,
                reference=case.reference,
                text=text[:3000],
                actor=ctx.actor(user),
                now=ctx.now(),
            )
        except CaseworkError as error:
            words = ctx.t("staff.reply_not_sent", reason=ctx.error_words(error))
            await ctx.say(words, reply_to=message.message_id)
            return True
        ctx.wake()
        key = "staff.reply_held" if sent.held_reason else "staff.reply_sent"
        await ctx.say(ctx.t(key, reference=case.reference), reply_to=message.message_id)
        return True
