"""Reminders from the group: saving a confirmed draft (`handlers.outreach.create_reminder`, exactly as the
staff command line and the dashboard), the list of active reminders to segments with a stop button each,
and stopping one (after a confirmation)."""

from functools import partial

from pydantic import ValidationError
from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, User

from bot.channels.telegram.desk.broadcasts import short
from bot.channels.telegram.desk.context import DeskContext, message_id, rows
from bot.channels.telegram.desk.drafts import CALLBACK_PREFIX, Draft, drop_draft
from bot.channels.telegram.desk.panels import Panels
from handlers import outreach
from handlers.outreach import OutreachError
from handlers.segments import Segment
from handlers.staff.schedules import staff_reminders
from storage import outreach as outreach_store
from storage.contract import Tx
from storage.outreach import ReminderRecord

LISTED_REMINDERS = 10
BUTTONS = frozenset({"rx", "rxx", "rl"})  # stop, stop confirmed, the list again


class Reminders:
    """/pengingat's saving, list and stopping."""

    def __init__(self, ctx: DeskContext, panels: Panels) -> None:
        self.ctx = ctx
        self.panels = panels

    async def save(self, query: CallbackQuery, user: User, draft: Draft, event_id: str) -> None:
        """Simpan: make the reminder of a confirmed draft and forget the draft."""
        ctx = self.ctx
        now = ctx.now()
        actor = ctx.actor(user)

        def save(tx: Tx) -> int:
            reminder_id = outreach.create_reminder(
                tx,
                segment=draft.segment,
                text_id=draft.text or "",
                text_en=draft.text_en,
                due_at=None if draft.cron else draft.send_at,
                cron=draft.cron,
                actor=actor,
                at=now,
                tz=ctx.tz,
            )
            drop_draft(tx, draft.key)
            return reminder_id

        try:
            first, reminder_id = await ctx.once(event_id, save)
        except OutreachError:  # e.g. a schedule that stopped firing: go back to choosing when
            await ctx.answer(query, ctx.t("staff.outreach.cron_bad"), alert=True)
            return
        await ctx.answer(query, ctx.t("staff.outreach.done_short") if first else None)
        if first:
            text = ctx.t("staff.outreach.saved", id=reminder_id, when=self.panels.when(draft))
            text = f"{text}\n\n{self.panels.describe(draft.segment)}"
            await ctx.edit(message_id(query), text, None, what="outreach panel")

    async def list_view(self, note: str | None = None) -> tuple[str, InlineKeyboardMarkup | None]:
        """Active reminders to segments, soonest first, with a stop button each."""
        ctx = self.ctx
        listed = await staff_reminders(ctx.db, LISTED_REMINDERS)
        head = f"{note}\n" if note else ""
        if not listed.rows:
            return head + ctx.t("staff.outreach.reminders_empty"), None
        lines = [self.line(row) for row in listed.rows]
        text = head + ctx.t("staff.outreach.reminders", lines="\n".join(lines))
        if listed.more:
            text += "\n" + ctx.t("staff.outreach.reminders_more")
        stops = [
            InlineKeyboardButton(
                ctx.t("staff.outreach.btn.stop_reminder", id=row.id),
                callback_data=f"{CALLBACK_PREFIX}rx:{row.id}",
            )
            for row in listed.rows
        ]
        return text, InlineKeyboardMarkup(rows(stops, 3))

    def line(self, row: ReminderRecord) -> str:
        """A reminder in one line: when, to whom, what."""
        try:
            segment = self.panels.describe(Segment.model_validate_json(row.segment or "{}"))
        except ValidationError:
            segment = "-"
        return self.ctx.t(
            "staff.outreach.reminder_line",
            id=row.id,
            when=self.panels.schedule(row.cron, row.due_at),
            segment=segment,
            text=short(row.text_id or "", 60),
        )

    async def on_button(
        self, query: CallbackQuery, user: User, action: str, reminder_id: int, event_id: str
    ) -> None:
        """Hentikan and its confirmation (admin, petugas), the list again (any staff): the caller checks."""
        ctx = self.ctx
        panel_id = message_id(query)
        if action == "rx":
            await ctx.answer(query)
            row = await outreach_store.active_staff_reminder(ctx.db, reminder_id)
            if row is None:
                note = ctx.t("staff.outreach.reminder_not_found", id=reminder_id)
                await ctx.edit(panel_id, *(await self.list_view(note)), what="outreach panel")
                return
            confirm = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            ctx.t("staff.outreach.btn.stop_yes"),
                            callback_data=f"{CALLBACK_PREFIX}rxx:{reminder_id}",
                        ),
                        InlineKeyboardButton(
                            ctx.t("staff.outreach.btn.stop_no"), callback_data=f"{CALLBACK_PREFIX}rl"
                        ),
                    ]
                ]
            )
            text = ctx.t("staff.outreach.reminder_stop_confirm", line=self.line(row))
            await ctx.edit(panel_id, text, confirm, what="outreach panel")
        elif action == "rxx":
            first, stopped = await ctx.once(
                event_id,
                partial(
                    outreach.cancel_reminder, reminder_id=reminder_id, actor=ctx.actor(user), at=ctx.now()
                ),
            )
            if not first:
                await ctx.answer(query)
                return
            key = "staff.outreach.reminder_stopped" if stopped else "staff.outreach.reminder_not_found"
            note = ctx.t(key, id=reminder_id)
            await ctx.answer(query, note)
            await ctx.edit(panel_id, *(await self.list_view(note)), what="outreach panel")
        else:
            await ctx.answer(query)
            await ctx.edit(panel_id, *(await self.list_view()), what="outreach panel")

    async def stop_now(self, user: User, reminder_id: int, reply_to: int) -> None:
        """/pengingat hentikan N."""
        ctx = self.ctx
        stopped = await ctx.db.write(
            partial(outreach.cancel_reminder, reminder_id=reminder_id, actor=ctx.actor(user), at=ctx.now())
        )
        key = "staff.outreach.reminder_stopped" if stopped else "staff.outreach.reminder_not_found"
        await ctx.say(ctx.t(key, id=reminder_id), reply_to=reply_to)
