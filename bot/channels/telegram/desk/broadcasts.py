"""Broadcasts from the group: sending a confirmed draft (`handlers.outreach.create_broadcast`, exactly as
the staff command line and the dashboard), the latest broadcasts, one broadcast's progress by delivery
state, and stopping one (after a confirmation)."""

from functools import partial

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, User

from bot.channels.telegram.desk.context import DeskContext, message_id
from bot.channels.telegram.desk.drafts import CALLBACK_PREFIX, Draft, drop_draft
from bot.channels.telegram.desk.panels import Panels
from handlers import outreach
from handlers.outreach import OutreachError
from handlers.segments import Segment
from storage import outreach as outreach_store
from storage.contract import Tx
from storage.records import OutboxStatus

RECENT_BROADCASTS = 5
OUTBOX_ORDER = tuple(status.value for status in OutboxStatus)
ALWAYS_SHOWN = frozenset({"queued", "sent", "delivered", "read", "failed", "held"})
BUTTONS = frozenset({"st", "x", "xx"})  # progress, stop, stop confirmed


def short(text: str, limit: int) -> str:
    """Text on one line, cut to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Broadcasts:
    """/siaran's sending, lists, progress and stopping."""

    def __init__(self, ctx: DeskContext, panels: Panels) -> None:
        self.ctx = ctx
        self.panels = panels

    async def send(self, query: CallbackQuery, user: User, draft: Draft, event_id: str) -> None:
        """Kirim: make the broadcast of a confirmed draft, forget the draft, show how to follow it."""
        ctx, panels = self.ctx, self.panels
        now = ctx.now()
        actor = ctx.actor(user)
        send_at = draft.send_at or now
        count, _ = await outreach.preview(ctx.db, draft.segment, ctx.tz, sample=0)

        def send(tx: Tx) -> tuple[int, int] | None:
            if count == 0:
                return None
            broadcast_id = outreach.create_broadcast(
                tx,
                segment=draft.segment,
                text_id=draft.text or "",
                text_en=draft.text_en,
                template=draft.template,
                send_at=send_at,
                actor=actor,
                at=now,
                tz=ctx.tz,
                quiet=panels.quiet,
            )
            drop_draft(tx, draft.key)
            return broadcast_id, count

        first, made = await ctx.once(event_id, send)
        if not first:
            await ctx.answer(query)
            return
        if made is None:
            await ctx.answer(query, ctx.t("staff.outreach.nobody"), alert=True)
            return
        broadcast_id, count = made
        ctx.wake()
        if draft.send_at is None:
            text = ctx.t("staff.outreach.sending", id=broadcast_id, count=count)
        else:
            text = ctx.t("staff.outreach.scheduled", id=broadcast_id, count=count, when=panels.when(draft))
        await ctx.answer(query, ctx.t("staff.outreach.done_short"))
        progress = InlineKeyboardButton(
            ctx.t("staff.outreach.btn.progress"), callback_data=f"{CALLBACK_PREFIX}st:{broadcast_id}"
        )
        text = f"{text}\n\n{panels.describe(draft.segment)}"
        await ctx.edit(message_id(query), text, InlineKeyboardMarkup([[progress]]), what="outreach panel")

    async def status_view(self, broadcast_id: int) -> tuple[str, InlineKeyboardMarkup | None]:
        """A broadcast's progress: counts by delivery state, with Perbarui / Hentikan buttons."""
        ctx, panels = self.ctx, self.panels
        try:
            progress = await outreach.broadcast_progress(ctx.db, broadcast_id)
        except OutreachError:
            return ctx.t("staff.outreach.not_found", id=broadcast_id), None
        counts = progress.counts
        shown = [
            ctx.t(f"staff.outreach.count.{status}", n=counts.get(status, 0))
            for status in OUTBOX_ORDER
            if status in ALWAYS_SHOWN or counts.get(status)
        ]
        status = progress.status
        finished = progress.finished_at
        text = ctx.t(
            "staff.outreach.status",
            id=broadcast_id,
            status=ctx.t(f"staff.outreach.bstatus.{status}"),
            recipients=progress.recipients,
            counts=" · ".join(shown),
            time=panels.local(progress.send_at),
            text=short(progress.text, 200),
            segment=panels.describe(Segment.model_validate(progress.segment)),
        )
        if finished:
            text += "\n" + ctx.t("staff.outreach.finished", time=panels.local(finished))
        buttons = [
            InlineKeyboardButton(
                ctx.t("staff.outreach.btn.refresh"), callback_data=f"{CALLBACK_PREFIX}st:{broadcast_id}"
            )
        ]
        if status in ("scheduled", "sending"):
            buttons.append(
                InlineKeyboardButton(
                    ctx.t("staff.outreach.btn.stop"), callback_data=f"{CALLBACK_PREFIX}x:{broadcast_id}"
                )
            )
        return text, InlineKeyboardMarkup([buttons])

    async def recent_view(self) -> str:
        """The latest broadcasts, one line each."""
        ctx = self.ctx
        recent = await outreach.recent_broadcasts(ctx.db, RECENT_BROADCASTS)
        if not recent:
            return ctx.t("staff.outreach.recent_empty")
        lines = []
        for progress in recent:
            lines.append(
                ctx.t(
                    "staff.outreach.recent_line",
                    id=progress.id,
                    status=ctx.t(f"staff.outreach.bstatus.{progress.status}"),
                    time=self.panels.local(progress.send_at),
                    recipients=progress.recipients,
                    text=short(progress.text, 40),
                )
            )
        return ctx.t("staff.outreach.recent", lines="\n".join(lines))

    async def on_button(
        self, query: CallbackQuery, user: User, action: str, broadcast_id: int, event_id: str
    ) -> None:
        """Perbarui (any staff), Hentikan and its confirmation (admin, petugas: checked by the caller)."""
        ctx = self.ctx
        panel_id = message_id(query)
        if action == "st":
            await ctx.answer(query)
            await ctx.edit(panel_id, *(await self.status_view(broadcast_id)), what="outreach panel")
        elif action == "x":
            await ctx.answer(query)
            confirm = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            ctx.t("staff.outreach.btn.stop_yes"),
                            callback_data=f"{CALLBACK_PREFIX}xx:{broadcast_id}",
                        ),
                        InlineKeyboardButton(
                            ctx.t("staff.outreach.btn.stop_no"),
                            callback_data=f"{CALLBACK_PREFIX}st:{broadcast_id}",
                        ),
                    ]
                ]
            )
            text = ctx.t("staff.outreach.stop_confirm", id=broadcast_id)
            await ctx.edit(panel_id, text, confirm, what="outreach panel")
        else:
            note = await self._stop(user, broadcast_id, event_id)
            await ctx.answer(query, note)
            if note is not None:
                text, markup = await self.status_view(broadcast_id)
                await ctx.edit(panel_id, f"{note}\n\n{text}", markup, what="outreach panel")

    async def _stop(self, user: User, broadcast_id: int, event_id: str | None) -> str | None:
        """Cancel a broadcast; what to tell the staff member (None: a redelivered update)."""
        ctx = self.ctx
        work = partial(
            outreach.cancel_broadcast, broadcast_id=broadcast_id, actor=ctx.actor(user), at=ctx.now()
        )
        try:
            if event_id is None:
                cancelled: int | None = await ctx.db.write(work)
            else:
                first, cancelled = await ctx.once(event_id, work)
                if not first:
                    return None
        except OutreachError:
            broadcast = await outreach_store.get_broadcast(ctx.db, broadcast_id)
            if broadcast is None:
                return ctx.t("staff.outreach.not_found", id=broadcast_id)
            status = ctx.t(f"staff.outreach.bstatus.{broadcast.status}")
            return ctx.t("staff.outreach.already", id=broadcast_id, status=status)
        return ctx.t("staff.outreach.stopped", id=broadcast_id, count=cancelled or 0)

    async def stop_now(self, user: User, broadcast_id: int, reply_to: int) -> None:
        """/siaran hentikan N: stop a broadcast and show its progress."""
        ctx = self.ctx
        if await outreach_store.get_broadcast(ctx.db, broadcast_id) is None:
            await ctx.say(ctx.t("staff.outreach.not_found", id=broadcast_id), reply_to=reply_to)
            return
        note = await self._stop(user, broadcast_id, None)
        text, markup = await self.status_view(broadcast_id)
        await ctx.say(f"{note}\n\n{text}" if note else text, reply_to=reply_to, markup=markup)
