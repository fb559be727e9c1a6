"""A form: fields asked one at a time, a numbered summary with "ubah N", then submission.

Registration, the lost-KTP report and the aid request are forms; "data saya" reuses the same fields to
correct one answer. The draft lives in the conversation data, so every answer is stored before the
next question is sent, and a restart continues at the same field.
"""

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from handlers import menu
from handlers.choices import STALE, Option, pick, render, yes_no_options
from handlers.turn import Turn
from handlers.types import Choice, Media, Reply
from handlers.validators import is_unknown
from handlers.wording import Wording

SUMMARY = "summary"
EDIT_PICK = "edit"
CANCEL_CONFIRM = "cancel"
_EDIT_WORDS = re.compile(r"^(?:ubah|ganti|edit|change)\s*(\d{1,2})$")

FLAGS = "flags"
"""The answers key that notes, per question, an answer staff must look at: given by voice note or
photo, or skipped after three tries ("petugas akan menanyakan nanti"). Kept with the case."""
TRIES = 3
"""A question is skipped at the third answer it cannot use: the refusal is never said a third time."""
VOICE_KINDS = frozenset({"voice", "audio"})
CARD_KINDS = frozenset({"photo", "document"})


@dataclass(frozen=True, slots=True)
class MediaAnswer:
    """A question answered with a file (a voice note, a photo of a card) that staff must listen to or read.

    `ref` is the media store's reference (``media/2026/11/<id>.ogg``); `field` is the question's name.
    """

    field: str
    kind: str
    ref: str
    mime: str | None = None


def flags_of(answers: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per question, what staff must look at (see FLAGS); empty when nothing."""
    flags = answers.get(FLAGS)
    return flags if isinstance(flags, dict) else {}


def media_answers(answers: dict[str, Any]) -> list[MediaAnswer]:
    """Questions answered with a file instead of typing, in the order they were answered."""
    return [
        MediaAnswer(name, str(flag["kind"]), str(flag["ref"]), flag.get("mime"))
        for name, flag in flags_of(answers).items()
        if flag.get("why") == "media" and flag.get("ref")
    ]


def voice_answers(answers: dict[str, Any]) -> list[MediaAnswer]:
    """Questions answered with a voice note ("dijawab dengan pesan suara"): staff listen to them."""
    return [answer for answer in media_answers(answers) if answer.kind in VOICE_KINDS]


def skipped_questions(answers: dict[str, Any]) -> list[str]:
    """Questions skipped after three unusable answers: staff ask them later."""
    return [name for name, flag in flags_of(answers).items() if flag.get("why") == "later"]


def flag_text(t: Callable[..., str], flag: dict[str, Any]) -> str:
    """A flag in words (`t` gives catalog text in the reader's language): "dijawab dengan pesan suara"..."""
    if flag.get("why") == "media":
        kind = "voice" if flag.get("kind") in VOICE_KINDS else "photo"
        return t(f"form.flag.{kind}")
    said = flag.get("said")
    return t("form.flag.later_said", said=said) if said else t("form.flag.later")


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


@dataclass(frozen=True, slots=True)
class Stop:
    """The form cannot go on (e.g. the person did not agree): say why, drop the draft, show the menu."""

    text: str


Outcome = Accept | Retry | Confirm | Stay | Stop


class Field:
    """One question of a form."""

    name: str = ""
    label_key: str = ""
    clears: tuple[str, ...] = ()
    # Files the field reads itself (a photo question, a description told by voice).
    own_media: frozenset[str] = frozenset()
    # Files kept as the answer for staff when sent here: a voice note anywhere, a card photo at NIK/KK.
    kept_media: frozenset[str] = VOICE_KINDS
    # Whether "tidak tahu / lupa / belum punya" is an answer here (stored as unknown).
    unknown_ok: bool = True
    # Whether it is read as "unknown" before the field's own reading (free text would take it as text).
    unknown_first: bool = False
    # Whether what was typed is kept for staff when the question is skipped after three tries.
    keep_said: bool = True

    def fallback(self, turn: Turn, said: str) -> Any:
        """The value stored when the question is skipped or answered by a file (None: not known)."""
        return None

    def give_up(self, turn: Turn, answers: dict[str, Any], said: str) -> "Accept | Stop":
        """What the third unusable answer leads to: by default the question is skipped for staff."""
        return Accept(self.fallback(turn, said))

    def applies(self, answers: dict[str, Any]) -> bool:
        """Whether this question is asked, given earlier answers."""
        return True

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        """The message that asks this question."""
        raise NotImplementedError

    def lead(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> list[Reply]:
        """Messages sent just before the question each time it is asked (e.g. an offer to share)."""
        return []

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        """Read the user's answer."""
        raise NotImplementedError

    def show(self, words: Wording, value: Any) -> str:
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
        flags_of(state["answers"]).pop(target, None)
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
        turn.replies.extend(current.lead(turn, state["answers"], sub))
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
        media = turn.event.media
        if media is not None and media.kind not in current.own_media and media.kind in current.kept_media:
            await self._accept_media(turn, current, media)
            return
        self._number_to_choice(turn, current, sub)
        unknown = current.unknown_ok and bool(turn.text) and is_unknown(turn.text)
        outcome = (
            Accept(None) if unknown and current.unknown_first else current.parse(turn, state["answers"], sub)
        )
        if isinstance(outcome, Retry) and unknown:
            outcome = Accept(None)
        if isinstance(outcome, Retry) and pending is not None:
            # Neither Ya/Tidak nor a usable new answer: keep the "betul?" and say how to answer it,
            # rather than drop it for an explanation about a question that was not asked.
            sub["confirm"] = pending
            outcome = Retry(turn.t("err.choose", count=2))
        if isinstance(outcome, Accept):
            await self._accept(turn, current, outcome)
        elif isinstance(outcome, Retry):
            await self._refuse(turn, current, outcome)
        elif isinstance(outcome, Stop):
            turn.drafts.pop(self.name, None)
            menu.show(turn, intro=outcome.text)
        elif isinstance(outcome, Confirm):
            state["sub"] = {
                "confirm": {
                    "value": outcome.value,
                    "extra": outcome.extra,
                    "text": outcome.text,
                    "lang": turn.lang,
                },
                **_tries(sub),
            }
            self._ask_current(turn)
        else:
            state["sub"] = {**outcome.sub, **_tries(sub)}
            turn.replies.append(outcome.reply)

    def _number_to_choice(self, turn: Turn, current: Field, sub: dict[str, Any]) -> None:
        """A typed number picks the choice shown with that number, whatever kind of question it is."""
        if turn.event.choice is not None or not turn.text.isdigit() or len(turn.text) > 2:
            return
        choices = current.question(turn, turn.data["answers"], sub).choices
        index = int(turn.text) - 1
        if 0 <= index < len(choices):
            turn.event = dataclasses.replace(turn.event, choice=choices[index].id)

    async def _refuse(self, turn: Turn, current: Field, outcome: Retry) -> None:
        """Say why and ask again; at the third unusable answer, skip the question for staff to ask."""
        state = turn.data
        sub = state.setdefault("sub", {})
        tries = int(sub.get("tries", 0)) + 1
        if tries < TRIES:
            sub["tries"] = tries
            turn.say(outcome.text)
            self._ask_current(turn)
            return
        said = (turn.event.text or "").strip()[:200] if current.keep_said else ""
        flag: dict[str, Any] = {"why": "later"}
        if said:
            flag["said"] = said
        given_up = current.give_up(turn, state["answers"], said)
        if isinstance(given_up, Stop):
            turn.drafts.pop(self.name, None)
            menu.show(turn, intro=given_up.text)
            return
        turn.say(turn.t("form.skipped"))
        await self._accept(turn, current, given_up, flag=flag)

    async def _accept_media(self, turn: Turn, current: Field, media: Media) -> None:
        """A voice note (or a card photo) answers the question: kept for staff, and the form moves on."""
        flag: dict[str, Any] = {"why": "media", "kind": media.kind, "ref": media.ref}
        if media.mime:
            flag["mime"] = media.mime
        kind = "voice" if media.kind in VOICE_KINDS else "photo"
        turn.say(turn.t(f"form.kept_{kind}"))
        await self._accept(turn, current, Accept(current.fallback(turn, "")), flag=flag)

    async def _accept(
        self, turn: Turn, current: Field, outcome: Accept, *, flag: dict[str, Any] | None = None
    ) -> None:
        state = turn.data
        answers = state["answers"]
        changed = answers.get(current.name, outcome.value) != outcome.value or bool(outcome.extra)
        answers[current.name] = outcome.value
        flags = flags_of(answers)
        flags.pop(current.name, None)
        if flag is not None:
            answers[FLAGS] = {**flags, current.name: flag}
        elif not flags:
            answers.pop(FLAGS, None)
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
        flags = flags_of(answers)

        def shown(f: Field) -> str:
            return flag_text(turn.t, flags[f.name]) if f.name in flags else f.show(turn, answers.get(f.name))

        return [(f, f"{turn.t(f.label_key)}: {shown(f)}") for f in self._applicable(answers) if f.label_key]

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


def _tries(sub: dict[str, Any]) -> dict[str, Any]:
    """The count of unusable answers, carried over when a question's sub-state changes."""
    return {"tries": sub["tries"]} if "tries" in sub else {}


def _choice_field(choice_id: str) -> str:
    """The field a button belongs to: ids look like `<field>:<key>` or `<field>.ok:<key>`."""
    return choice_id.rpartition(":")[0].split(".")[0]


_SUMMARY_OPTIONS = (
    Option("send", "form.send", ("kirim", "ya", "send", "selesai", "ok")),
    Option("edit", "form.edit", ("ubah", "ganti", "edit", "change")),
)
