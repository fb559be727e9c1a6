"""Matching an answer to offered options: by button id, by number, by word, with small typos forgiven."""

from dataclasses import dataclass
from enum import Enum

from rapidfuzz import fuzz, process

from handlers.turn import Turn
from handlers.types import Choice
from handlers.validators import normalize


@dataclass(frozen=True, slots=True)
class Option:
    """One option of a question: a stable key, a catalog label and extra words that pick it."""

    key: str
    label_key: str
    words: tuple[str, ...] = ()


class Stale(Enum):
    """A button from an earlier question was pressed."""

    STALE = "stale"


STALE = Stale.STALE

YES_WORDS = ("ya", "iya", "y", "yes", "ok", "oke", "betul", "benar", "setuju", "boleh", "lanjut")
NO_WORDS = ("tidak", "tdk", "gak", "nggak", "ga", "no", "bukan", "salah", "enggak")

FUZZY_CUTOFF = 85


def render(turn: Turn, prefix: str, options: list[Option] | tuple[Option, ...]) -> list[Choice]:
    """Choices for the options, with ids `<prefix>:<key>`."""
    return [Choice(f"{prefix}:{option.key}", turn.t(option.label_key)) for option in options]


def pick(turn: Turn, prefix: str, options: list[Option] | tuple[Option, ...]) -> Option | Stale | None:
    """The option the user chose, STALE for an old button, None when the answer matches nothing."""
    event = turn.event
    if event.choice is not None:
        scope, _, key = event.choice.rpartition(":")
        if scope != prefix:
            return STALE
        return next((option for option in options if option.key == key), STALE)
    return match_text(turn, turn.text, options)


def match_text(turn: Turn, text: str, options: list[Option] | tuple[Option, ...]) -> Option | None:
    """Match typed text (already normalised) to an option by number, label or word."""
    if not text:
        return None
    if text.isdigit():
        index = int(text) - 1
        return options[index] if 0 <= index < len(options) else None
    catalog = turn.services.catalog
    candidates: dict[str, Option] = {}
    for option in options:
        for label in catalog.all_languages(option.label_key):
            candidates.setdefault(normalize(label), option)
        for word in option.words:
            candidates.setdefault(normalize(word), option)
    if text in candidates:
        return candidates[text]
    best = process.extractOne(text, list(candidates), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
    if best is None:
        return None
    return candidates[best[0]]


def yes_no_options() -> tuple[Option, Option]:
    """The usual Ya / Tidak pair."""
    return (
        Option("yes", "common.yes", YES_WORDS),
        Option("no", "common.no", NO_WORDS),
    )
