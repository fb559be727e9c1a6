"""A form: fields asked one at a time, a numbered summary with "ubah N", then submission.

Registration, the lost-KTP report and the aid request are forms; "data saya" reuses the same fields to
correct one answer. The draft lives in the conversation data, so every answer is stored before the
next question is sent, and a restart continues at the same field.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from handlers import menu
from handlers.choices import STALE, Option, pick, render, yes_no_options
from handlers.turn import Turn
from handlers.types import Choice, Reply

SUMMARY = "summary"
EDIT_PICK = "edit"
CANCEL_CONFIRM = "cancel"
_EDIT_WORDS = re.compile(r"^(?:ubah|ganti|edit|change)\s*(\d{1,2})$")


@dataclass(frozen=True, slots=True)
class Accept:
    """The answer is good; `extra` sets other answers too (e.g. a kecamatan implied by a kelurahan)."""

    value: Any
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Retry:
    """The answer cannot be used: say why kindly, then ask the same question again."""

    text: str


@dataclass(frozen=True, slots=True)
class Confirm:
    """Probably right, but ask "betul?" first."""

    value: Any
    text: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Stay:
    """Stay on this field with a follow-up message and sub-state (a partial multi-choice, candidates)."""

    reply: Reply
    sub: dict[str, Any]


Outcome = Accept | Retry | Confirm | Stay


class Field:
    """One question of a form."""

    name: str = ""
    label_key: str = ""
    clears: tuple[str, ...] = ()

    def applies(self, answers: dict[str, Any]) -> bool:
        """Whether this question is asked, given earlier answers."""
        return True

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        """The message that asks this question."""
        raise NotImplementedError

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        """Read the user's answer."""
        raise NotImplementedError

    def show(self, turn: Turn, value: Any) -> str:
        """The answer as shown in the summary."""
        return str(value)

    def help(self, turn: Turn) -> str:
        """Extra guidance when the user types BANTUAN at this question."""
        return turn.t("help.generic")


class Form:
    """A flow made of fields, a summary and a submission."""

    name: str = ""
    title_key: str = ""
    fields: Sequence[Field] = ()
    with_summary: bool = True

    def field(self, name: str) -> Field | None:
        """The field called `name`."""
        return next((f for f in self.fields if f.name == name), None)

    async def prefill(self, turn: Turn) -> dict[str, Any]:
        """Answers known before the first question (e.g. the kecamatan of a registered person)."""
        return {}

    async def submit(self, turn: Turn, answers: dict[str, Any]) -> None:
        """Turn the answers into stored records and tell the user what happens next."""
        raise NotImplementedError

    # ------------------------------------------------------------ flow protocol
    async def start(self, turn: Turn, answers: dict[str, Any] | None = None) -> None:
        """Begin the form from its first unanswered question."""
        prefilled = await self.prefill(turn) if answers is None else answers
        turn.goto(self.name, "", {"answers": prefilled, "history": [], "sub": {}})
        await self._advance(turn)

    async def resume(self, turn: Turn) -> None:
        """Ask again whatever the form is waiting for."""
        self._ask_current(turn)

    async def handle(self, turn: Turn) -> None:
        """Take one answer."""
        if turn.step == SUMMARY:
            await self._on_summary(turn)
        elif turn.step == EDIT_PICK:
            self._on_edit_pick(turn)
        elif turn.step == CANCEL_CONFIRM:
            await self._on_cancel_confirm(turn)
        else:
            await self._on_field(turn)

    def back(self, turn: Turn) -> bool:
        """Go one question back; False when there is nothing before this one."""
        state = turn.data
        history: list[str] = state["history"]
        if turn.step == SUMMARY and history:
            target = history.pop()
        elif turn.step in (EDIT_PICK, CANCEL_CONFIRM):
            self._ask_current(turn, step=state.get("return_to", SUMMARY))
            return True
        elif history:
            target = history.pop()
        else:
            return False
        state["answers"].pop(target, None)
        state["sub"] = {}
        state["editing"] = False
        turn.step = target
        self._ask_current(turn)
        return True

    def ask_cancel(self, turn: Turn) -> bool:
        """Ask before throwing away a draft; False when there is nothing worth asking about."""
        if not has_answers(turn.data) or turn.step == CANCEL_CONFIRM:
            return False
        turn.data["return_to"] = turn.step
        turn.step = CANCEL_CONFIRM
        turn.say(
            turn.t("form.cancel_confirm", title=turn.t(self.title_key)),
            render(turn, "cancel", yes_no_options()),
        )
        return True

    def help(self, turn: Turn) -> None:
        """Say how to answer the current question, then ask it again."""
        current = self.field(turn.step)
        if current is not None:
            turn.say(current.help(turn))
        elif turn.step == SUMMARY:
            turn.say(turn.t("help.summary"))
        self._ask_current(turn)

    # ------------------------------------------------------------ internals
    def _applicable(self, answers: dict[str, Any]) -> list[Field]:
        return [f for f in self.fields if f.applies(answers)]

    async def _advance(self, turn: Turn) -> None:
        answers = turn.data["answers"]
        for name in [f.name for f in self.fields if f.name in answers and not f.applies(answers)]:
            answers.pop(name)
        missing = next((f for f in self._applicable(answers) if f.name not in answers), None)
        turn.data["sub"] = {}
        if missing is not None:
            turn.step = missing.name
            self._ask_current(turn)
            return
        turn.data["editing"] = False
        if self.with_summary:
            turn.step = SUMMARY
            self._ask_current(turn)
        else:
            await self.submit(turn, answers)

    def _ask_current(self, turn: Turn, step: str | None = None) -> None:
        if step is not None:
            turn.step = step
        state = turn.data
        if turn.step == SUMMARY:
            self._show_summary(turn)
            return
        if turn.step == EDIT_PICK:
            self._show_edit_pick(turn)
            return
        if turn.step == CANCEL_CONFIRM:
            turn.say(
                turn.t("form.cancel_confirm", title=turn.t(self.title_key)),
                render(turn, "cancel", yes_no_options()),
            )
            return
        current = self.field(turn.step)
        if current is None:  # a form changed under a stored draft: start over cleanly
            state["sub"] = {}
            turn.step = SUMMARY
            self._show_summary(turn)
            return
        sub = state.get("sub", {})
        if "confirm" in sub and sub["confirm"].get("lang", turn.lang) != turn.lang:
            # The "betul?" was worded in the language used before BAHASA: ask the question itself.
            sub = state["sub"] = {}
        if "confirm" in sub:
            turn.say(sub["confirm"]["text"], render(turn, f"{current.name}.ok", yes_no_options()))
            return
        reply = current.question(turn, state["answers"], sub)
        turn.replies.append(reply)

    async def _on_field(self, turn: Turn) -> None:
        state = turn.data
        current = self.field(turn.step)
        if current is None:
            self._ask_current(turn)
            return
        sub = state.setdefault("sub", {})
        pending: dict[str, Any] | None = None
        if "confirm" in sub:
            chosen = pick(turn, f"{current.name}.ok", yes_no_options())
            if chosen is STALE:
                turn.say(turn.t("err.old_button"))
                self._ask_current(turn)
                return
            if isinstance(chosen, Option):
                pending = sub.pop("confirm")
                if chosen.key == "yes":
                    await self._accept(turn, current, Accept(pending["value"], pending["extra"]))
                else:
                    state["sub"] = {}
                    turn.say(turn.t("form.try_again"))
                    self._ask_current(turn)
                return
            # Anything else is a fresh answer to the question itself.
            pending = sub.pop("confirm")
        if turn.event.choice is not None and _choice_field(turn.event.choice) != current.name:
            turn.say(turn.t("err.old_button"))
            self._ask_current(turn)
            return
        outcome = current.parse(turn, state["answers"], sub)
        if isinstance(outcome, Retry) and pending is not None:
            # Neither Ya/Tidak nor a usable new answer: keep the "betul?" and say how to answer it,
            # rather than drop it for an explanation about a question that was not asked.
            sub["confirm"] = pending
            turn.say(turn.t("err.choose", count=2))
            self._ask_current(turn)
            return
        if isinstance(outcome, Accept):
            await self._accept(turn, current, outcome)
        elif isinstance(outcome, Retry):
            turn.say(outcome.text)
            self._ask_current(turn)
        elif isinstance(outcome, Confirm):
            state["sub"] = {
                "confirm": {
                    "value": outcome.value,
                    "extra": outcome.extra,
                    "text": outcome.text,
                    "lang": turn.lang,
                }
            }
            self._ask_current(turn)
        else:
            state["sub"] = outcome.sub
            turn.replies.append(outcome.reply)

    async def _accept(self, turn: Turn, current: Field, outcome: Accept) -> None:
        state = turn.data
        answers = state["answers"]
        changed = answers.get(current.name, outcome.value) != outcome.value or bool(outcome.extra)
        answers[current.name] = outcome.value
        for name, value in outcome.extra.items():
            answers[name] = value
        if changed or current.name not in state["history"]:
            for cleared in current.clears:
                if cleared not in outcome.extra:
                    answers.pop(cleared, None)
        if current.name in state["history"]:
            state["history"].remove(current.name)
        state["history"].append(current.name)
        await self._advance(turn)

    def _summary_lines(self, turn: Turn) -> list[tuple[Field, str]]:
        answers = turn.data["answers"]
        return [
            (f, f"{turn.t(f.label_key)}: {f.show(turn, answers.get(f.name))}")
            for f in self._applicable(answers)
            if f.label_key
        ]

    def _show_summary(self, turn: Turn) -> None:
        lines = self._summary_lines(turn)
        body = "\n".join(f"{number}. {line}" for number, (_, line) in enumerate(lines, start=1))
        turn.say(
            turn.t("form.summary", title=turn.t(self.title_key), lines=body),
            render(turn, "summary", _SUMMARY_OPTIONS),
        )

    def _show_edit_pick(self, turn: Turn) -> None:
        lines = self._summary_lines(turn)
        turn.say(
            turn.t("form.edit_which"),
            [Choice(f"edit:{f.name}", turn.t(f.label_key)) for f, _ in lines],
        )

    def _start_edit(self, turn: Turn, target: Field) -> None:
        turn.data["editing"] = True
        turn.data["sub"] = {}
        turn.step = target.name
        self._ask_current(turn)

    async def _on_summary(self, turn: Turn) -> None:
        edit = _EDIT_WORDS.match(turn.text)
        if edit:
            lines = self._summary_lines(turn)
            index = int(edit.group(1)) - 1
            if 0 <= index < len(lines):
                self._start_edit(turn, lines[index][0])
                return
            turn.say(turn.t("form.edit_range", count=len(lines)))
            self._show_summary(turn)
            return
        chosen = pick(turn, "summary", _SUMMARY_OPTIONS)
        if chosen is STALE or chosen is None:
            turn.say(turn.t("err.old_button") if chosen is STALE else turn.t("form.summary_hint"))
            self._show_summary(turn)
        elif chosen.key == "send":
            await self.submit(turn, turn.data["answers"])
        else:
            turn.step = EDIT_PICK
            self._show_edit_pick(turn)

    def _on_edit_pick(self, turn: Turn) -> None:
        lines = self._summary_lines(turn)
        target: Field | None = None
        event = turn.event
        if event.choice is not None and event.choice.startswith("edit:"):
            target = self.field(event.choice.removeprefix("edit:"))
        elif turn.text.isdigit() and 0 < int(turn.text) <= len(lines):
            target = lines[int(turn.text) - 1][0]
        if target is None:
            turn.say(turn.t("form.edit_range", count=len(lines)))
            self._show_edit_pick(turn)
            return
        self._start_edit(turn, target)

    async def _on_cancel_confirm(self, turn: Turn) -> None:
        chosen = pick(turn, "cancel", yes_no_options())
        if isinstance(chosen, Option) and chosen.key == "yes":
            turn.drafts.pop(self.name, None)
            turn.say(turn.t("form.cancelled", title=turn.t(self.title_key)))
            menu.show(turn)
            return
        if isinstance(chosen, Option):
            self._ask_current(turn, step=turn.data.pop("return_to", SUMMARY))
            return
        turn.say(turn.t("form.cancel_hint"))
        self._ask_current(turn)


def has_answers(data: dict[str, Any]) -> bool:
    """Whether the person answered anything yet; facts filled in beforehand ("_self_name") do not count."""
    return any(not name.startswith("_") for name in data.get("answers") or {})


def resume_step(step: str, data: dict[str, Any]) -> str:
    """The question to continue a draft at: an open "are you sure?" or "which line?" is not one."""
    if step == CANCEL_CONFIRM:
        return str(data.get("return_to", SUMMARY))
    return SUMMARY if step == EDIT_PICK else step


def _choice_field(choice_id: str) -> str:
    """The field a button belongs to: ids look like `<field>:<key>` or `<field>.ok:<key>`."""
    return choice_id.rpartition(":")[0].split(".")[0]


_SUMMARY_OPTIONS = (
    Option("send", "form.send", ("kirim", "ya", "send", "selesai", "ok")),
    Option("edit", "form.edit", ("ubah", "ganti", "edit", "change")),
)
