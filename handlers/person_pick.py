"""Pick a person one registered before, so a field worker never types their data again.

A contact who registered others (a field worker, or a parent for their children) reporting a lost KTP or
asking for aid for someone else gets a list of those people: choosing one fills the name, identity numbers
and place the registration already holds, and links the case to that person.
"""

from typing import Any

from rapidfuzz import fuzz

from handlers.fields import _Base
from handlers.forms import Accept, Outcome, Retry
from handlers.turn import Turn
from handlers.types import Choice, Reply
from handlers.validators import Invalid, normalize, parse_name
from handlers.wording import Wording
from storage import repo

PERSONS = "_persons"  # hidden answer: who can be picked
MAX_LISTED = 9  # with "someone else", ten rows: the most a WhatsApp list holds
NEW = "new"
NAME_CUTOFF = 90
NEW_WORDS = frozenset(("baru", "lain", "orang lain", "belum terdaftar", "new", "other", "someone else"))


async def registered_context(turn: Turn) -> dict[str, Any]:
    """Hidden answers listing the people this contact registered for someone else, newest first."""
    persons = [p for p in await repo.persons_of_contact(turn.db, turn.contact.id) if not p.is_self]
    persons.sort(key=lambda p: p.id or 0, reverse=True)
    listed = [
        {
            "id": p.id,
            "name": p.full_name,
            # What the registration holds, to fill in when this person is chosen (numbers stay sealed).
            "nik": p.nik.model_dump() if p.nik else None,
            "kk": p.kk.model_dump() if p.kk else None,
            "kecamatan": p.kecamatan_code if p.kelurahan_code else None,
            "kelurahan": p.kelurahan_code if p.kecamatan_code else None,
        }
        for p in persons
    ]
    return {PERSONS: listed} if listed else {}


class PersonPickField(_Base):
    """Which registered person this is about; the value is {"id", "name"}, or None for someone new."""

    def __init__(
        self,
        name: str,
        *,
        prompt_key: str,
        label_key: str,
        name_field: str,
        other_values: tuple[str, ...],
        fills: tuple[str, ...],
    ) -> None:
        super().__init__(name, prompt_key=prompt_key, label_key=label_key, help_key="help.pick")
        self.name_field = name_field
        self.other_key, self.other_values = other_values[0], other_values[1:]
        self.fills = fills
        self.clears = (name_field, *fills)

    def applies(self, answers: dict[str, Any]) -> bool:
        return bool(answers.get(PERSONS)) and answers.get(self.other_key) in self.other_values

    def _choices(self, turn: Turn, answers: dict[str, Any]) -> list[Choice]:
        listed = answers[PERSONS][:MAX_LISTED]
        choices = [Choice(f"{self.name}:{p['id']}", p["name"]) for p in listed]
        return [*choices, Choice(f"{self.name}:{NEW}", turn.t("pick.someone_new"))]

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        choices = self._choices(turn, answers)
        lines = "\n".join(f"{number}. {c.label}" for number, c in enumerate(choices, start=1))
        text = turn.t(self.prompt_key, lines=lines, count=len(choices))
        return Reply(text=text, choices=tuple(choices))

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        choices = self._choices(turn, answers)
        if turn.event.choice is not None:
            chosen: str | None = turn.event.choice.rpartition(":")[2]
        elif turn.text.isdigit():
            number = int(turn.text)
            chosen = choices[number - 1].id.rpartition(":")[2] if 0 < number <= len(choices) else None
        elif turn.text in NEW_WORDS or turn.text == normalize(turn.t("pick.someone_new")):
            chosen = NEW
        else:
            chosen = self._by_name(turn, answers)
            if chosen is None:
                # A name not on the list: someone new, and the name is the answer to the name question.
                try:
                    return Accept(None, extra={self.name_field: parse_name(turn.event.text or "")})
                except Invalid:
                    pass
        if chosen == NEW:
            return Accept(None)
        person = next((p for p in answers[PERSONS] if str(p["id"]) == chosen), None)
        if person is None:
            return Retry(turn.t("pick.retry", count=len(choices)))
        extra = {self.name_field: person["name"]}
        for key in self.fills:
            # An unknown NIK stays unknown (it was asked at registration); an unknown place is asked.
            if key == "nik" or person.get(key) is not None:
                extra[key] = person.get(key)
        return Accept({"id": person["id"], "name": person["name"]}, extra=extra)

    def _by_name(self, turn: Turn, answers: dict[str, Any]) -> str | None:
        """The one listed person the typed name means: the whole name (small typos forgiven) or part of it."""
        typed = turn.text
        names = {str(p["id"]): normalize(p["name"]) for p in answers[PERSONS]}
        close = [pid for pid, name in names.items() if fuzz.ratio(typed, name) >= NAME_CUTOFF]
        if len(close) == 1:
            return close[0]
        words = set(typed.split())
        partial = [pid for pid, name in names.items() if words <= set(name.split())]
        return partial[0] if len(partial) == 1 else None

    def show(self, words: Wording, value: Any) -> str:
        return words.t("pick.someone_new") if not value else str(value["name"])
