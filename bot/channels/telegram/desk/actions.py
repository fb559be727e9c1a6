"""Moving a case from its card: a button per move its status allows (`handlers.staff.moves`), through
`handlers.casework.change_status`, which queues the citizen's message in the outbox. A move that needs a
note ("Tolak": the reason, "Perlu info": the question) first asks the staff member, in the group, for it:
the answer is a reply to the bot's prompt. Each move is recorded in the same transaction as the Telegram
update that caused it, so a redelivered update changes nothing."""

from datetime import timedelta
from functools import partial
from typing import Any

from telegram import CallbackQuery, Message, User

from bot.channels.telegram.desk import state
from bot.channels.telegram.desk.cards import ACTIONS, Cards
from bot.channels.telegram.desk.context import STAFF_CONTACT, DeskContext, message_id
from handlers.casework import CaseworkError, change_status
from handlers.staff.moves import may_move, note_needed
from storage import repo
from storage.contract import Tx
from storage.records import CaseRecord

PROMPT_TTL = timedelta(hours=24)


class CaseActions:
    """The move buttons of case cards and the notes they ask for."""

    def __init__(self, ctx: DeskContext, cards: Cards) -> None:
        self.ctx = ctx
        self.cards = cards

    async def on_button(
        self, query: CallbackQuery, user: User, action: str, case_id: int, event_id: str
    ) -> None:
        """A move button of a card was pressed (`action` is one of ACTIONS)."""
        ctx = self.ctx
        case = await repo.get_case_by_id(ctx.db, case_id)
        target = case.reference if case else f"case:{case_id}"
        if not ctx.may_act(user):
            await ctx.answer(query, ctx.refusal(user), alert=True)
            await ctx.audit_refusal(user, target, f"button {action}")
            return
        if case is None:
            await ctx.answer(query, ctx.t("staff.not_found", reference=target))
            return
        if not may_move(case.status, ACTIONS[action]):
            status = ctx.t(f"staff.status.{case.status}")
            await ctx.answer(query, ctx.t("staff.cannot", reference=case.reference, status=status))
            await self.cards.edit_card(message_id(query), case)
            return
        if note_needed(ACTIONS[action]) is not None:
            await self._ask_note(query, user, case, action, event_id)
            return
        await self._move(
            query, user, case, action, note=None, event_id=event_id, card_message=message_id(query)
        )

    async def _ask_note(
        self, query: CallbackQuery, user: User, case: CaseRecord, action: str, event_id: str
    ) -> None:
        """Ask the staff member for the rejection reason or the question, as a reply in the group."""
        ctx = self.ctx
        if not await ctx.first_time(event_id):
            await ctx.answer(query)
            return
        needed = note_needed(ACTIONS[action])
        key = "staff.ask_reason" if needed == "reason_needed" else "staff.ask_question"
        text = ctx.t(key, name=user.full_name, reference=case.reference)
        card = message_id(query)
        prompt = await ctx.prompt(user, text, reply_to=card, placeholder=case.reference)
        if prompt is None:
            await ctx.answer(query, ctx.t("staff.try_again"), alert=True)
            return
        assert case.id is not None
        asked = state.NotePrompt(case=case.id, action=action, user=user.id, card=card, at=ctx.now())
        await ctx.db.write(partial(state.remember_prompt, message_id=prompt.message_id, prompt=asked))
        await ctx.answer(query, ctx.t("staff.reply_below"))

    async def on_prompt_reply(self, message: Message, prompt_id: int, event_id: str) -> bool:
        """A reply to one of the bot's prompts; False when the replied message is no prompt."""
        ctx = self.ctx
        asked = await state.recall_prompt(ctx.db, prompt_id)
        if asked is None:
            return False
        user = message.from_user
        if user is None:
            return True
        case = await repo.get_case_by_id(ctx.db, asked.case)
        target = case.reference if case else f"case:{asked.case}"
        if not ctx.may_act(user):
            await ctx.audit_refusal(user, target, f"reply {asked.action}")
            await ctx.say(ctx.t("staff.refused"), reply_to=message.message_id)
            return True
        if user.id != asked.user:
            await ctx.say(ctx.t("staff.prompt_other"), reply_to=message.message_id)
            return True
        if case is None or asked.at + PROMPT_TTL < ctx.now():
            await ctx.say(ctx.t("staff.prompt_expired"), reply_to=message.message_id)
            return True
        note = (message.text or "").strip()
        if len(note) < 3:
            await ctx.say(ctx.t("staff.note_empty"), reply_to=message.message_id)
            return True
        await self._move(
            None,
            user,
            case,
            asked.action,
            note=note[:1000],
            event_id=event_id,
            card_message=asked.card,
            prompt=prompt_id,
        )
        return True

    async def _move(
        self,
        query: CallbackQuery | None,
        user: User,
        case: CaseRecord,
        action: str,
        *,
        note: str | None,
        event_id: str,
        card_message: int | None,
        prompt: int | None = None,
    ) -> bool:
        """Change the case's status (recording the update in the same transaction); report in the group."""
        ctx = self.ctx
        to_status = ACTIONS[action]
        now = ctx.now()

        def apply(conn: Tx) -> Any:
            if not repo.record_inbound(conn, event_id, STAFF_CONTACT, now):
                return None
            result = change_status(
                conn,
                catalog=ctx.catalog,
                reference=case.reference,
                to_status=to_status,
                actor=ctx.actor(user),
                note=note,
                at=now,
            )
            if prompt is not None:
                state.forget_prompt(conn, prompt)
            return result

        try:
            result = await ctx.db.write(apply)
        except CaseworkError:
            fresh = await repo.get_case_by_id(ctx.db, case.id or 0)
            status = ctx.t(f"staff.status.{fresh.status if fresh else case.status}")
            text = ctx.t("staff.cannot", reference=case.reference, status=status)
            if query is not None:
                await ctx.answer(query, text, alert=True)
            else:
                await ctx.say(text, reply_to=prompt)
            return False
        if result is None:  # a redelivered update
            if query is not None:
                await ctx.answer(query)
            return False
        ctx.wake()  # the citizen's message is queued: send it now
        status = ctx.t(f"staff.status.{to_status}")
        key = "staff.done" if result.citizen_notified else "staff.done_silent"
        done = ctx.t(key, reference=case.reference, status=status)
        if query is not None:
            await ctx.answer(query, done)
        else:
            await ctx.say(done, reply_to=prompt)
        fresh = await repo.get_case_by_id(ctx.db, case.id or 0)
        if fresh is not None and card_message is not None:
            by = ctx.t("staff.changed_by", status=status, name=user.full_name, time=ctx.short_time(now))
            await self.cards.edit_card(card_message, fresh, by)
        return True
