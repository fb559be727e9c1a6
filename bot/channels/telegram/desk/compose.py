"""Composing a broadcast (/siaran) or reminder (/pengingat) in the group, on a phone: a short dialogue on
one bot message whose buttons change in place: who receives it (everyone, a kecamatan, a skill, disaster
victims, a case kind, or several of these together, with the count after every choice), then the text
and any time typed as a reply to the bot's prompt (bots in groups keep Telegram's privacy mode, so the
bot only sees replies to it), then a preview with the count and a few names before Kirim / Batal. The
one-line form (`lines`) goes straight to the preview.

```mermaid
flowchart LR
    start["/siaran or /pengingat"] --> who["who: filter buttons + count"]
    who -- Kecamatan / Keterampilan / Jenis kasus --> pick["pick a value"] --> who
    who -- Lanjut --> text["text (typed reply)"] --> when["when: buttons"]
    when -- Pilih waktu / Jadwal lain --> typed["time or crontab (typed reply)"] --> confirm
    when -- Sekarang / Tiap hari / Tiap Senin --> confirm["preview: count, sample, text"]
    line["one-line form"] --> confirm
    confirm -- "+ English" --> english["English text (typed reply)"] --> confirm
    confirm -- Ubah penerima --> who
    confirm -- Kirim / Simpan --> done["handlers.outreach"]
```

Each change of a draft is committed in the same transaction that records the Telegram update causing
it: a redelivered update changes nothing (see `drafts`).
"""

from functools import partial

from pydantic import ValidationError
from telegram import CallbackQuery, Message, User

from bot.channels.telegram.desk.broadcasts import Broadcasts
from bot.channels.telegram.desk.context import DeskContext, message_id
from bot.channels.telegram.desk.drafts import (
    COMMANDS,
    TYPED_STEPS,
    Draft,
    Kind,
    draft_asking,
    drop_draft,
    fresh,
    load_draft,
    new_draft,
    save_draft,
    state_key,
)
from bot.channels.telegram.desk.lines import (
    TEXT_LIMIT,
    LineError,
    parse_line,
    read_cron,
    read_time,
    time_example,
)
from bot.channels.telegram.desk.panels import Panels
from bot.channels.telegram.desk.reminders import Reminders
from handlers.segments import Segment
from handlers.staff.segments import toggled

DAILY = "0 8 * * *"
WEEKLY = "0 8 * * mon"


class Composer:
    """The dialogue of a draft: its commands, typed answers and buttons."""

    def __init__(
        self, ctx: DeskContext, panels: Panels, broadcasts: Broadcasts, reminders: Reminders
    ) -> None:
        self.ctx = ctx
        self.panels = panels
        self.broadcasts = broadcasts
        self.reminders = reminders

    def usage(self, kind: Kind) -> str:
        """How /siaran or /pengingat is written."""
        return self.ctx.t(
            "staff.outreach.usage_siaran" if kind == "siaran" else "staff.outreach.usage_pengingat"
        )

    async def _load(self, owner: int, kind: str) -> Draft | None:
        return await load_draft(self.ctx.db, owner, kind, self.ctx.now())

    async def ask(self, draft: Draft, user: User, *, reply_to: int | None, note: str | None = None) -> Draft:
        """Ask for the typed answer of the draft's step, as a reply to this message; return the draft."""
        ctx = self.ctx
        name = user.full_name
        if draft.step == "text":
            body = ctx.t("staff.outreach.ask_text", name=name, command=draft.kind)
        elif draft.step == "text_en":
            body = ctx.t("staff.outreach.ask_text_en", name=name, command=draft.kind)
        elif draft.step == "time":
            example = time_example(ctx.now(), ctx.tz)
            body = ctx.t("staff.outreach.ask_time", name=name, command=draft.kind, example=example)
        else:
            body = ctx.t("staff.outreach.ask_cron", name=name, command=draft.kind)
        prompt = await ctx.prompt(user, body, reply_to=reply_to, head=f"{note}\n" if note else "")
        if prompt is None:
            return draft
        # Without this id a reply from the owner to any bot message is taken (see on_reply).
        asked = draft.model_copy(update={"prompt": prompt.message_id})
        await ctx.db.write(partial(save_draft, draft=asked))
        return asked

    async def show(self, draft: Draft, user: User, *, reply_to: int | None, note: str | None = None) -> None:
        """Post the draft's current step anew: its panel, or its question."""
        if draft.step in TYPED_STEPS:
            await self.ask(draft, user, reply_to=reply_to, note=note)
            return
        text, markup = await self.panels.panel(draft)
        await self.ctx.say(f"{note}\n{text}" if note else text, reply_to=reply_to, markup=markup)

    # ------------------------------------------------------------ commands

    async def start(self, message: Message, user: User, kind: Kind) -> None:
        """A bare /siaran or /pengingat: a new draft, or the one left half-composed."""
        now = self.ctx.now()
        existing = await self._load(user.id, kind)
        # A new version either way: the buttons of older panels stop working.
        draft = existing.moved(now) if existing else new_draft(kind, user.id, now)
        await self.ctx.db.write(partial(save_draft, draft=draft))
        note = self.ctx.t("staff.outreach.resume") if existing else None
        await self.show(draft, user, reply_to=message.message_id, note=note)

    async def drop(self, user: User, kind: Kind, reply_to: int) -> None:
        """/siaran batal: forget the staff member's draft."""
        existing = await self._load(user.id, kind)
        await self.ctx.db.write(partial(drop_draft, key=state_key(user.id, kind)))
        key = "staff.outreach.dropped" if existing else "staff.outreach.nothing_to_drop"
        await self.ctx.say(self.ctx.t(key), reply_to=reply_to)

    async def one_line(self, message: Message, user: User, kind: Kind, args: str) -> None:
        """The one-line form: straight to the preview (or what is wrong with it, and how it is written)."""
        ctx = self.ctx
        now = ctx.now()
        try:
            line = parse_line(
                args, kind=kind, places=ctx.places, catalog=ctx.catalog, t=ctx.t, tz=ctx.tz, now=now
            )
        except LineError as error:
            await ctx.say(f"{error}\n\n{self.usage(kind)}", reply_to=message.message_id)
            return
        existing = await self._load(user.id, kind)
        values = {
            "step": "confirm",
            "segment": line.segment,
            "text": line.text,
            "text_en": line.text_en,
            "send_at": line.send_at,
            "cron": line.cron,
            "template": line.template,
            "when_done": True,
            "pick": None,
            "prompt": None,
        }
        draft = existing.moved(now, **values) if existing else new_draft(kind, user.id, now, **values)
        await ctx.db.write(partial(save_draft, draft=draft))
        await self.show(draft, user, reply_to=message.message_id)

    # ------------------------------------------------------------ typed answers

    async def on_reply(self, message: Message, replied_id: int, event_id: str) -> bool:
        """A reply to a bot message: the typed answer of a draft's question (False: not ours)."""
        ctx = self.ctx
        user = message.from_user
        if user is None:
            return False
        raw = await draft_asking(ctx.db, replied_id)
        if raw is None:
            # The question's message id is saved just after it is sent; if that was lost, the owner's
            # reply to any bot message answers their draft's open question.
            for kind in COMMANDS:
                found = await self._load(user.id, kind)
                if found is not None and found.step in TYPED_STEPS and found.prompt is None:
                    raw = found.model_dump_json()
                    break
            else:
                return False
        try:
            stored = Draft.model_validate_json(raw)
        except ValidationError:
            return False
        draft = fresh(raw, ctx.now())
        may_act = ctx.may_act(user)
        if may_act and user.id == stored.owner and draft is not None and draft.step in TYPED_STEPS:
            await self._answer_typed(message, user, draft, event_id)
            return True
        if not await ctx.first_time(event_id):
            return True
        reply_to = message.message_id
        if not may_act:
            await ctx.refuse(user, f"/{stored.kind}", "reply", reply_to=reply_to)
        elif user.id != stored.owner:
            await ctx.say(ctx.t("staff.outreach.not_yours"), reply_to=reply_to)
        elif draft is None:
            await ctx.say(ctx.t("staff.outreach.expired"), reply_to=reply_to)
        else:
            await ctx.say(ctx.t("staff.outreach.answered"), reply_to=reply_to)
        return True

    async def _answer_typed(self, message: Message, user: User, draft: Draft, event_id: str) -> None:
        ctx = self.ctx
        now = ctx.now()
        typed = (message.text or "").strip()
        try:
            if draft.step in ("text", "text_en"):
                if len(typed) < 3:
                    raise LineError(ctx.t("staff.note_empty"))
                if len(typed) > TEXT_LIMIT:
                    raise LineError(ctx.t("staff.outreach.text_long", length=len(typed), limit=TEXT_LIMIT))
                if draft.step == "text_en":
                    new = draft.moved(now, text_en=typed, step="confirm", prompt=None)
                else:
                    new = draft.moved(
                        now, text=typed, step="confirm" if draft.when_done else "when", prompt=None
                    )
            elif draft.step == "time":
                at = read_time(typed, tz=ctx.tz, now=now, t=ctx.t)
                new = draft.moved(now, send_at=at, cron=None, when_done=True, step="confirm", prompt=None)
            else:
                cron = read_cron(typed, tz=ctx.tz, now=now, t=ctx.t)
                new = draft.moved(now, cron=cron, send_at=None, when_done=True, step="confirm", prompt=None)
        except LineError as error:
            first, _ = await ctx.once(event_id, lambda conn: None)
            if first:  # ask again, saying what was wrong
                await self.ask(draft, user, reply_to=message.message_id, note=str(error))
            return
        first, _ = await ctx.once(event_id, partial(save_draft, draft=new))
        if first:
            await self.show(new, user, reply_to=message.message_id)

    # ------------------------------------------------------------ buttons

    async def on_button(
        self,
        query: CallbackQuery,
        user: User,
        kind: Kind,
        owner: int,
        version: int,
        action: str,
        arg: str | None,
        event_id: str,
    ) -> None:
        """A button of a draft's panel (of version `version` of `owner`'s draft of `kind`)."""
        ctx, panels = self.ctx, self.panels
        if not ctx.may_act(user):
            await ctx.answer(query, ctx.refusal(user), alert=True)
            await ctx.audit_refusal(user, f"/{kind}", f"button {action}")
            return
        if owner != user.id:
            await ctx.answer(query, ctx.t("staff.outreach.not_yours"), alert=True)
            return
        draft = await self._load(owner, kind)
        if draft is None or draft.version != version:
            await ctx.answer(query, ctx.t("tg.button_old"))
            return
        panel_id = message_id(query)
        if action == "c":
            first, _ = await ctx.once(event_id, partial(drop_draft, key=draft.key))
            await ctx.answer(query)
            if first:
                text = f"{panels.title(draft)}\n{ctx.t('staff.outreach.dropped')}"
                await ctx.edit(panel_id, text, None, what="outreach panel")
            return
        if action == "ok":
            await self._finish(query, user, draft, event_id)
            return
        if draft.step == "who" and action == "n" and not draft.segment.chosen():
            await ctx.answer(query, ctx.t("staff.outreach.choose_all"), alert=True)
            return
        new = self._next(draft, action, arg)
        if new is None:
            await ctx.answer(query, ctx.t("tg.button_old"))
            return
        first, _ = await ctx.once(event_id, partial(save_draft, draft=new))
        if not first:
            await ctx.answer(query)
            return
        text, markup = await panels.panel(new)
        if new.step in TYPED_STEPS:
            await ctx.answer(query, ctx.t("staff.reply_below"))
            await ctx.edit(panel_id, text, None, what="outreach panel")
            await self.ask(new, user, reply_to=panel_id)
        else:
            await ctx.answer(query)
            await ctx.edit(panel_id, text, markup, what="outreach panel")

    def _next(self, draft: Draft, action: str, arg: str | None) -> Draft | None:
        """The draft after a button of its current step (None: not a button of this step)."""
        now = self.ctx.now()
        segment = draft.segment
        if draft.step == "who":
            picks = {"k": "kecamatan", "s": "skill", "j": "kind"}
            if action in picks:
                return draft.moved(now, step="pick", pick=picks[action])
            if action == "v":
                update = {"disaster_victim": True, "everyone": False}
                return draft.moved(now, segment=segment.model_copy(update=update))
            if action == "a":
                return draft.moved(now, segment=Segment(everyone=True))
            if action == "n":
                step = "text" if not draft.text else "confirm" if draft.when_done else "when"
                return draft.moved(now, step=step)
            return None
        if draft.step == "pick":
            if action == "w":
                return draft.moved(now, step="who", pick=None)
            values = dict(self.panels.pick_values(draft.pick))
            if action != "p" or arg is None or arg not in values:
                return None
            if draft.pick is None:
                return None
            ctx = self.ctx
            chosen = toggled(segment, draft.pick, arg, places=ctx.places, catalog=ctx.catalog)
            return draft.moved(now, step="who", pick=None, segment=chosen)
        if draft.step == "when":
            if action == "t":
                return draft.moved(now, step="time")
            if draft.kind == "siaran" and action == "now":
                return draft.moved(now, step="confirm", send_at=None, cron=None, when_done=True)
            if draft.kind == "pengingat" and action in ("pd", "pw"):
                cron = DAILY if action == "pd" else WEEKLY
                return draft.moved(now, step="confirm", send_at=None, cron=cron, when_done=True)
            if draft.kind == "pengingat" and action == "cr":
                return draft.moved(now, step="cron")
            return None
        if draft.step == "confirm":
            if action == "en":
                return draft.moved(now, step="text_en")
            if action == "w":
                return draft.moved(now, step="who")
        return None

    async def _finish(self, query: CallbackQuery, user: User, draft: Draft, event_id: str) -> None:
        """Kirim / Simpan: make the broadcast or the reminder, and forget the draft."""
        ctx = self.ctx
        if draft.step != "confirm":
            await ctx.answer(query, ctx.t("tg.button_old"))
            return
        now = ctx.now()
        if draft.send_at is not None and draft.send_at <= now:  # the chosen time passed meanwhile
            new = draft.moved(now, step="when", send_at=None, when_done=False)
            first, _ = await ctx.once(event_id, partial(save_draft, draft=new))
            await ctx.answer(
                query, ctx.t("staff.outreach.time_past", example=time_example(now, ctx.tz)), alert=True
            )
            if first:
                await ctx.edit(message_id(query), *(await self.panels.panel(new)), what="outreach panel")
            return
        if draft.kind == "siaran":
            await self.broadcasts.send(query, user, draft, event_id)
        else:
            await self.reminders.save(query, user, draft, event_id)
