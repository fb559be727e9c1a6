"""Pick a person one registered before, so a field worker never types their data again.

A contact who registered others (a field worker, or a parent for their children) reporting a lost KTP or
asking for aid for someone else gets a list of those people: choosing one fills the name, identity numbers
and place the registration already holds, and links the case to that person.
"""

from typing import Any

from rapidfuzz import fuzz, process

from handlers.forms import Accept, Field, Outcome, Retry
from handlers.turn import Turn
from handlers.types import Choice, Reply
from handlers.validators import normalize
from storage import repo

PERSONS = "_persons"  # hidden answer: who can be picked
MAX_LISTED = 9  # with "someone else", ten rows: the most a WhatsApp list holds
NEW = "new"
NAME_CUTOFF = 85
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


class PersonPickField(Field):
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
        self.name = name
        self.prompt_key = prompt_key
        self.label_key = label_key
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
        chosen: str | None = None
        if turn.event.choice is not None:
            chosen = turn.event.choice.rpartition(":")[2]
        elif turn.text.isdigit() and 0 < int(turn.text) <= len(choices):
            chosen = choices[int(turn.text) - 1].id.rpartition(":")[2]
        elif turn.text:
            chosen = self._by_name(turn, answers)
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
        if turn.text in NEW_WORDS or turn.text == normalize(turn.t("pick.someone_new")):
            return NEW
        names = {normalize(p["name"]): str(p["id"]) for p in answers[PERSONS]}
        best = process.extractOne(turn.text, list(names), scorer=fuzz.WRatio, score_cutoff=NAME_CUTOFF)
        return names[best[0]] if best else None

    def show(self, turn: Turn, value: Any) -> str:
        return turn.t("pick.someone_new") if not value else str(value["name"])

    def help(self, turn: Turn) -> str:
        return turn.t("help.pick")
