"""/siaran and /pengingat in the group: their commands, typed replies and buttons, routed to the
dialogue (`compose`), the broadcasts and the reminders.

Admin and petugas may compose, send and stop; a viewer may only read progress (/siaran status) and the
list of reminders; anyone else is refused. Every refusal is written to the audit log.
"""

from telegram import CallbackQuery, Message, User

from bot.channels.telegram.desk import broadcasts, reminders
from bot.channels.telegram.desk.broadcasts import Broadcasts
from bot.channels.telegram.desk.compose import Composer
from bot.channels.telegram.desk.context import DeskContext
from bot.channels.telegram.desk.drafts import CALLBACK_PREFIX, CODE_KINDS, COMMANDS, Kind
from bot.channels.telegram.desk.panels import Panels
from bot.channels.telegram.desk.reminders import Reminders

__all__ = ["CALLBACK_PREFIX", "COMMANDS", "OutreachDesk"]

READING = frozenset({"st", "rl"})  # buttons any staff member may press


class OutreachDesk:
    """/siaran and /pengingat for the staff desk (which routes their messages and buttons here)."""

    def __init__(self, ctx: DeskContext) -> None:
        self.ctx = ctx
        self.panels = Panels(ctx)
        self.broadcasts = Broadcasts(ctx, self.panels)
        self.reminders = Reminders(ctx, self.panels)
        self.composer = Composer(ctx, self.panels, self.broadcasts, self.reminders)

    async def on_command(self, message: Message, user: User, command: str, args: str) -> None:
        """/siaran or /pengingat with whatever follows (the caller has checked that `user` is staff)."""
        ctx, composer = self.ctx, self.composer
        kind: Kind = "siaran" if command == "siaran" else "pengingat"
        reply_to = message.message_id
        words = args.split()
        sub = words[0].lower() if words else ""
        number = int(words[1]) if len(words) > 1 and words[1].isdigit() else None
        if "|" not in args and sub in ("status", "daftar", "list"):
            if kind == "siaran" and number is not None:
                text, markup = await self.broadcasts.status_view(number)
            elif kind == "siaran":
                text, markup = await self.broadcasts.recent_view(), None
            else:
                text, markup = await self.reminders.list_view()
            await ctx.say(text, reply_to=reply_to, markup=markup)
            return
        if "|" not in args and sub in ("bantuan", "help"):
            await ctx.say(composer.usage(kind), reply_to=reply_to)
            return
        if not ctx.may_act(user):
            detail = "one-line" if "|" in args else sub or "command"
            await ctx.refuse(user, f"/{command}", detail, reply_to=reply_to)
            return
        if "|" in args:
            await composer.one_line(message, user, kind, args)
        elif sub in ("batal", "cancel", "hentikan", "stop"):
            if number is None:
                await composer.drop(user, kind, reply_to)
            elif kind == "siaran":
                await self.broadcasts.stop_now(user, number, reply_to)
            else:
                await self.reminders.stop_now(user, number, reply_to)
        elif not sub:
            await composer.start(message, user, kind)
        else:
            await ctx.say(composer.usage(kind), reply_to=reply_to)

    async def on_reply(self, message: Message, replied_id: int, event_id: str) -> bool:
        """A reply to a bot message: the typed answer of a draft's question (False: not ours)."""
        return await self.composer.on_reply(message, replied_id, event_id)

    async def on_callback(self, query: CallbackQuery, event_id: str) -> None:
        """A button of an outreach message was pressed."""
        user = query.from_user
        parts = (query.data or "").removeprefix(CALLBACK_PREFIX).split(":")
        if parts[0] in CODE_KINDS and len(parts) >= 4 and parts[1].isdigit() and parts[2].isdigit():
            kind = CODE_KINDS[parts[0]]
            arg = parts[4] if len(parts) > 4 else None
            await self.composer.on_button(
                query, user, kind, int(parts[1]), int(parts[2]), parts[3], arg, event_id
            )
        elif len(parts) == 2 and parts[1].isdigit():
            await self._on_record_button(query, user, parts[0], int(parts[1]), event_id)
        elif parts == ["rl"]:
            await self._on_record_button(query, user, "rl", 0, event_id)
        else:
            await self.ctx.answer(query, self.ctx.t("tg.button_old"))

    async def _on_record_button(
        self, query: CallbackQuery, user: User, action: str, record_id: int, event_id: str
    ) -> None:
        """Buttons of progress and list messages: refresh (any staff), stop (admin, petugas)."""
        ctx = self.ctx
        target = f"reminder:{record_id}" if action.startswith("r") else f"broadcast:{record_id}"
        if not (ctx.may_read(user) if action in READING else ctx.may_act(user)):
            await ctx.answer(query, ctx.refusal(user), alert=True)
            await ctx.audit_refusal(user, target, f"button {action}")
            return
        if action in broadcasts.BUTTONS:
            await self.broadcasts.on_button(query, user, action, record_id, event_id)
        elif action in reminders.BUTTONS:
            await self.reminders.on_button(query, user, action, record_id, event_id)
        else:
            await ctx.answer(query, ctx.t("tg.button_old"))
