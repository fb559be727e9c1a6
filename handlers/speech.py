"""What a voice note says: a reply's text cut into the catalog sentences it was made of, then its choices.

A reply's text is often built from several catalog sentences ("Maaf, ..." then the question again). The
step remembers every sentence it looked up (`Turn.t`); each one found in the text becomes a part that
names its catalog key, so the office's recording of that sentence can be played; the words in between
are spoken as they are. Choices are read out with their numbers: "Ketik satu untuk Daftar."
"""

from collections.abc import Sequence

from handlers.i18n import Catalog
from handlers.types import Choice, Spoken, Voice

Said = tuple[str, str, tuple[tuple[str, str], ...]]  # (text, catalog key, params) of one lookup


def speakable(text: str) -> bool:
    """Whether `text` has anything to say (a letter or a digit)."""
    return any(ch.isalnum() for ch in text)


def number_word(catalog: Catalog, language: str, number: int) -> str:
    """1 -> "satu" / "one" (digits past the catalog's list)."""
    words = [w.strip() for w in catalog.text(language, "voice.numbers").split(",")]
    return words[number - 1] if 0 < number <= len(words) else str(number)


def _cover(text: str, said: Sequence[Said]) -> list[Spoken]:
    parts: list[Spoken] = []
    rest = text
    candidates = sorted({s for s in said if speakable(s[0])}, key=lambda s: -len(s[0]))
    while rest:
        best: tuple[int, Said] | None = None
        for entry in candidates:
            at = rest.find(entry[0])
            if at >= 0 and (best is None or at < best[0]):
                best = (at, entry)
        if best is None:
            break
        at, (sentence, key, params) = best
        if speakable(rest[:at]):
            parts.append(Spoken(text=rest[:at].strip()))
        parts.append(Spoken(text=sentence, key=key, params=params))
        rest = rest[at + len(sentence) :]
    if speakable(rest):
        parts.append(Spoken(text=rest.strip()))
    return parts


def compose(
    catalog: Catalog, language: str, text: str, choices: Sequence[Choice], said: Sequence[Said]
) -> Voice:
    """The voice note of a reply with `text` and `choices`, given the sentences the step looked up."""
    parts = _cover(text, said)
    for number, choice in enumerate(choices, start=1):
        params = (("number", number_word(catalog, language, number)), ("label", choice.label))
        spoken = catalog.text(language, "voice.choice", **dict(params))
        parts.append(Spoken(text=spoken, key="voice.choice", params=params))
    return Voice(language=language, parts=tuple(parts))
