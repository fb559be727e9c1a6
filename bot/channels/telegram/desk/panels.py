"""What a draft shows at each step: who receives it (with the count and a few names after every choice),
its text, when it goes, and the buttons of that step. Also the words for a segment and a schedule that
the lists of broadcasts and reminders share."""

from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.channels.telegram.desk.context import DeskContext, rows
from bot.channels.telegram.desk.drafts import CALLBACK_PREFIX, KIND_CODES, Draft
from bot.scheduler import outreach_times
from handlers import outreach
from handlers.outreach import QuietHours
from handlers.registration import SKILLS
from handlers.segments import Segment
from handlers.staff.compose import describe_segment, number
from handlers.staff.schedules import moment, schedule_words
from handlers.staff.segments import picked
from storage.records import CaseKind

SAMPLE_SIZE = 3


class Panels:
    """The panels of drafts, and the words of segments and schedules, in the group's language."""

    def __init__(self, ctx: DeskContext) -> None:
        self.ctx = ctx
        self.times = outreach_times(ctx.service.settings.outreach, ctx.tz)

    @property
    def quiet(self) -> QuietHours:
        """When bulk messages wait."""
        return self.times.quiet

    def local(self, at: datetime) -> str:
        """A time as staff read it: "17-08-2026 09:00"."""
        return moment(at, self.ctx.tz)

    def describe(self, segment: Segment) -> str:
        """Who a segment reaches, in words."""
        ctx = self.ctx
        return describe_segment(segment, ctx.catalog, ctx.language, ctx.places)

    def schedule(self, cron: str | None, next_at: datetime) -> str:
        """When a reminder fires (or a broadcast goes), in words."""
        ctx = self.ctx
        return schedule_words(cron, next_at, ctx.catalog, ctx.language, ctx.tz)

    async def audience(self, segment: Segment) -> tuple[int, str]:
        """The count of a segment and its description with a few names."""
        ctx = self.ctx
        if not segment.chosen():
            return 0, ctx.t("staff.outreach.audience_none")
        count, sample = await outreach.preview(ctx.db, segment, ctx.tz, SAMPLE_SIZE)
        names = ctx.t("staff.outreach.sample", names=", ".join(sample)) if sample else ""
        return count, ctx.t(
            "staff.outreach.audience",
            segment=self.describe(segment),
            count=number(count, ctx.language),
            sample=names,
        )

    def first_time(self, draft: Draft) -> datetime | None:
        """When the broadcast goes out or the reminder first fires (None: a broadcast sent now)."""
        if draft.cron:
            return outreach.next_cron(draft.cron, self.ctx.tz, self.ctx.now())
        return draft.send_at

    def when(self, draft: Draft) -> str:
        """When the draft goes out, in words (and when quiet hours hold it back)."""
        t = self.ctx.t
        now = self.ctx.now()
        first = self.first_time(draft)
        if draft.kind == "siaran" and first is None:
            when = t("staff.outreach.when_now")
        else:
            assert first is not None
            when = self.schedule(draft.cron, first)
        start = max(first or now, now)
        if self.quiet.active(start):
            when += " " + t("staff.outreach.quiet", time=self.local(self.quiet.next_allowed(start)))
        return when

    # ------------------------------------------------------------ the panel of a step

    def button(self, draft: Draft, label: str, action: str, arg: str | None = None) -> InlineKeyboardButton:
        """A button of the draft's current version."""
        data = f"{CALLBACK_PREFIX}{KIND_CODES[draft.kind]}:{draft.owner}:{draft.version}:{action}"
        return InlineKeyboardButton(label, callback_data=data if arg is None else f"{data}:{arg}")

    def title(self, draft: Draft) -> str:
        """The panel's first line."""
        siaran = draft.kind == "siaran"
        if draft.step == "confirm":
            return self.ctx.t(
                "staff.outreach.title_check_siaran" if siaran else "staff.outreach.title_check_pengingat"
            )
        return self.ctx.t("staff.outreach.title_siaran" if siaran else "staff.outreach.title_pengingat")

    def _message_lines(self, draft: Draft) -> list[str]:
        lines = []
        if draft.text:
            lines += ["", self.ctx.t("staff.outreach.message", text=draft.text)]
        if draft.text_en:
            lines += ["", self.ctx.t("staff.outreach.message_en", text=draft.text_en)]
        return lines

    def pick_values(self, pick: str | None) -> list[tuple[str, str]]:
        """(value, label) of the buttons for a filter."""
        ctx = self.ctx
        if pick == "kecamatan":
            return [(district.code, district.name) for district in ctx.places.kecamatan]
        if pick == "skill":
            return [(option.key, ctx.t(option.label_key)) for option in SKILLS]
        if pick == "kind":
            return [(str(kind), ctx.t(f"kind.{kind}")) for kind in CaseKind]
        return []

    async def panel(self, draft: Draft) -> tuple[str, InlineKeyboardMarkup | None]:
        """The text and buttons of a draft at its current step."""
        t, button = self.ctx.t, self.button
        _, audience = await self.audience(draft.segment)
        lines = [self.title(draft), audience]
        buttons: list[list[InlineKeyboardButton]] = []
        cancel = button(draft, t("staff.outreach.btn.cancel"), "c")
        if draft.step == "who":
            lines.append(t("staff.outreach.who_hint"))
            buttons = rows(
                [
                    button(draft, t("staff.outreach.btn.kecamatan"), "k"),
                    button(draft, t("staff.outreach.btn.skill"), "s"),
                    button(draft, t("staff.outreach.btn.victim"), "v"),
                    button(draft, t("staff.outreach.btn.kind"), "j"),
                ]
            )
            if not draft.segment.everyone or draft.segment.has_filters():
                buttons.append([button(draft, t("staff.outreach.btn.all"), "a")])
            buttons.append([button(draft, t("staff.outreach.btn.next"), "n"), cancel])
        elif draft.step == "pick":
            if draft.pick == "kecamatan":
                lines.append(t("staff.outreach.pick_kecamatan"))
            elif draft.pick == "skill":
                lines.append(t("staff.outreach.pick_skill"))
            else:
                lines.append(t("staff.outreach.pick_kind"))
            chosen = picked(draft.segment, draft.pick)
            values = [
                button(draft, f"✓ {label}" if value in chosen else label, "p", value)
                for value, label in self.pick_values(draft.pick)
            ]
            buttons = [*rows(values), [button(draft, t("staff.outreach.btn.back"), "w")]]
        elif draft.step == "when":
            lines += self._message_lines(draft)
            siaran = draft.kind == "siaran"
            lines += ["", t("staff.outreach.when_siaran" if siaran else "staff.outreach.when_pengingat")]
            if siaran:
                buttons = [
                    [
                        button(draft, t("staff.outreach.btn.now"), "now"),
                        button(draft, t("staff.outreach.btn.later"), "t"),
                    ],
                    [cancel],
                ]
            else:
                buttons = [
                    *rows(
                        [
                            button(draft, t("staff.outreach.btn.once"), "t"),
                            button(draft, t("staff.outreach.btn.daily"), "pd"),
                            button(draft, t("staff.outreach.btn.weekly"), "pw"),
                            button(draft, t("staff.outreach.btn.cron"), "cr"),
                        ]
                    ),
                    [cancel],
                ]
        elif draft.step == "confirm":
            if draft.kind == "siaran":
                lines.append(t("staff.outreach.line_time", when=self.when(draft)))
            else:
                lines.append(t("staff.outreach.line_schedule", when=self.when(draft)))
            if draft.template:
                lines.append(t("staff.outreach.line_template", name=draft.template))
            lines += self._message_lines(draft)
            go = t("staff.outreach.btn.send" if draft.kind == "siaran" else "staff.outreach.btn.save")
            buttons = [
                [button(draft, go, "ok"), cancel],
                [
                    button(draft, t("staff.outreach.btn.english"), "en"),
                    button(draft, t("staff.outreach.btn.change_who"), "w"),
                ],
            ]
        else:  # waiting for a typed answer: the panel shows where things stand, without buttons
            lines += self._message_lines(draft)
        return "\n".join(lines), InlineKeyboardMarkup(buttons) if buttons else None
