"""Matching an answer to offered options: by button id, by number, by word, with small typos forgiven."""

import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

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

# The everyday ways of saying yes or no to a question ("Pernah?" "Belum."), typed with their usual
# spellings and stretched letters ("iyaa", "gakk" are reduced before matching).
EVERYDAY_YES = (
    *YES_WORDS, "iye", "yoi", "yup", "yap", "yaa", "ya betul", "ya benar", "bener", "betul sekali", "pernah",
    "sudah", "udah", "sdh", "dah", "ya pernah", "pernah dong", "punya", "ada", "mau", "siap", "yes please",
    "sure", "yeah", "yep", "correct", "right", "true",
)  # fmt: skip
EVERYDAY_NO = (
    *NO_WORDS, "belum", "blm", "belom", "blum", "belum pernah", "tidak pernah", "tdk pernah", "gak pernah",
    "ga pernah", "nggak pernah", "ngga", "engga", "ndak", "nda", "tak", "tidak ada", "gak ada", "ga ada",
    "enggak pernah", "kagak", "gk", "g", "n", "nope", "never", "not", "no never", "false", "wrong",
)  # fmt: skip

FUZZY_CUTOFF = 85
# A typed word this long that starts one option's word picks it ("montir" for "Montir motor").
PARTIAL_MIN = 3


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
            candidates.setdefault(_key(label), option)
        for word in option.words:
            candidates.setdefault(_key(word), option)
    text = squeeze(text)
    if text in candidates:
        return candidates[text]
    best = process.extractOne(text, list(candidates), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
    if best is not None:
        return candidates[best[0]]
    return partial_match(text, candidates)


@lru_cache(maxsize=4096)
def _key(label: str) -> str:
    """An option's label or word as a matching key. Labels and words come from the catalogs and the
    code (a few hundred), so each is normalised once, not on every typed answer."""
    return normalize(label)


def squeeze(text: str) -> str:
    """Letters stretched for emphasis reduced to one ("iyaaa" -> "iya", "gakkk" -> "gak")."""
    return re.sub(r"([a-z])\1{2,}", r"\1", text)


def partial_match(text: str, candidates: dict[str, Option]) -> Option | None:
    """The one option whose label or word contains every typed word (or its start), else None.

    "montir" picks "Montir motor", "jahit" picks "Menjahit" via its word "jahit"; a word shared by two
    options picks neither, so a guess never lands on the wrong option.
    """
    words = text.split()
    if not words or any(len(word) < PARTIAL_MIN for word in words):
        return None
    found = {
        id(option): option
        for key, option in candidates.items()
        if all(any(part.startswith(word) for part in key.split()) for word in words)
    }
    return next(iter(found.values())) if len(found) == 1 else None


def yes_no_options() -> tuple[Option, Option]:
    """The usual Ya / Tidak pair."""
    return (
        Option("yes", "common.yes", EVERYDAY_YES),
        Option("no", "common.no", EVERYDAY_NO),
    )
