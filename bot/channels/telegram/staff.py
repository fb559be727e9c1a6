"""The staff group on Telegram: new-case cards with buttons, and the commands /antrian, /kasus, /cari,
/siaran and /pengingat. `StaffDesk` routes each message and button of the group to the part of the desk
(`bot.channels.telegram.desk`) that handles it; every part is a thin surface over the staff service
(`handlers.staff`, `handlers.casework`, `handlers.outreach`):

- `desk.context`: the group, its staff and roles, the catalog and clock, posting and asking in the group;
- `desk.cards`, `desk.queue`: case cards, /antrian, /cari and /kasus;
- `desk.poster`: cards of new cases and citizens' new messages, as they come;
- `desk.actions`, `desk.files`: moving a case from its card (with the note a move needs), its files;
- `desk.replies`: a reply to a card or a citizen's message goes to the citizen;
- `desk.outreach` (`compose`, `panels`, `lines`, `drafts`, `broadcasts`, `reminders`): /siaran, /pengingat;
- `desk.state`: what the group remembers in `channel_state`.

Only staff listed in the settings may act (admin, petugas) or read (viewer too); anyone else is refused,
and the attempt is written to the audit log.
"""

from telegram import CallbackQuery, Message

from bot.channels.telegram.desk import outreach
from bot.channels.telegram.desk.actions import CaseActions
from bot.channels.telegram.desk.cards import ACTIONS, CALLBACK_PREFIX, Cards
from bot.channels.telegram.desk.context import ACTING_ROLES, ROLES, DeskContext, parse_roles
from bot.channels.telegram.desk.files import CaseFiles
from bot.channels.telegram.desk.poster import Poster
from bot.channels.telegram.desk.queue import CaseQueue
from bot.channels.telegram.desk.replies import CitizenReplies
from bot.channels.telegram.inbound import parse_command

__all__ = ["ACTING_ROLES", "COMMANDS", "ROLES", "StaffDesk", "parse_roles"]

COMMANDS = ("antrian", "kasus", "cari", "bantuan", "help", *outreach.COMMANDS)


class StaffDesk:
    """Everything the bot does in the staff group."""

    def __init__(self, ctx: DeskContext, *, poll_seconds: float) -> None:
        self.ctx = ctx
        self.cards = Cards(self.ctx)
        self.queue = CaseQueue(self.ctx, self.cards)
        self.poster = Poster(self.ctx, self.cards, poll_seconds=poll_seconds)
        self.actions = CaseActions(self.ctx, self.cards)
        self.files = CaseFiles(self.ctx, self.cards)
        self.replies = CitizenReplies(self.ctx)
        self.outreach = outreach.OutreachDesk(self.ctx)  # /siaran and /pengingat

    async def run_poster(self) -> None:
        """Post a card for every new case and every new citizen message, until cancelled."""
        await self.poster.run()

    async def on_callback(self, query: CallbackQuery, event_id: str) -> None:
        """A button of a card (or of a broadcast or reminder message) was pressed."""
        ctx = self.ctx
        user = query.from_user
        if (query.data or "").startswith(outreach.CALLBACK_PREFIX):
            await self.outreach.on_callback(query, event_id)
            return
        parts = (query.data or "").removeprefix(CALLBACK_PREFIX).split(":")
        if parts[0] == "m" and len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            if not ctx.may_read(user):
                await ctx.answer(query, ctx.t("staff.refused"), alert=True)
                await ctx.audit_refusal(user, f"case:{parts[1]}", "open file")
                return
            await self.files.open(query, int(parts[1]), int(parts[2]))
            return
        if len(parts) != 2 or parts[0] not in ACTIONS or not parts[1].isdigit():
            await ctx.answer(query, ctx.t("tg.button_old"))
            return
        await self.actions.on_button(query, user, parts[0], int(parts[1]), event_id)

    async def on_message(self, message: Message, event_id: str, bot_username: str | None) -> None:
        """A message in the staff group: a reply to a prompt, a staff command, or chatter (ignored)."""
        ctx = self.ctx
        user = message.from_user
        if user is None or user.is_bot:
            return
        replied = message.reply_to_message
        from_bot = replied is not None and replied.from_user is not None and replied.from_user.is_bot
        if (
            replied is not None
            and from_bot
            and (
                await self.actions.on_prompt_reply(message, replied.message_id, event_id)
                or await self.outreach.on_reply(message, replied.message_id, event_id)
                or await self.replies.on_card_reply(message, replied.message_id, event_id)
            )
        ):
            return
        command = parse_command(message.text or "", bot_username)
        if command not in COMMANDS:
            return
        if not await ctx.first_time(event_id):
            return
        if not ctx.may_read(user):
            await ctx.refuse(user, f"/{command}", "command", reply_to=message.message_id)
            return
        args = (message.text or "").split(maxsplit=1)[1:]
        query = args[0].strip() if args else ""
        if command == "antrian":
            await ctx.say(await self.queue.queue(query), reply_to=message.message_id)
        elif command == "kasus":
            await self.queue.show_case(user, query, message.message_id)
        elif command == "cari":
            await ctx.say(await self.queue.search(user, query), reply_to=message.message_id)
        elif command in outreach.COMMANDS:
            await self.outreach.on_command(message, user, command, query)
        else:
            await ctx.say(ctx.t("staff.help"), reply_to=message.message_id)
