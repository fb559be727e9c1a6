"""Kecamatan and kelurahan of Kota Tangerang Selatan, and forgiving matching of typed names.

People write "pd aren", "pondokaren", "perigi", "jurang manggu" or make typos, so matching works on
a compact form of the text (normalised, abbreviations expanded, spaces removed) and scores it with
rapidfuzz against every known name and variant. A match is only called confident when the best
place is clearly ahead; otherwise the ranked candidates let the flow ask the user to choose.
"""

import csv
import io
import pathlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Generic, TypeVar

from rapidfuzz import fuzz

from handlers.validators import normalize

__all__ = ["Kecamatan", "Kelurahan", "PlaceMatch", "Places"]


@dataclass(frozen=True, slots=True)
class Kecamatan:
    """A district; `code` is the Kemendagri code such as "36.74.03"."""

    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Kelurahan:
    """A village within a kecamatan; `code` is the Kemendagri code such as "36.74.03.1001"."""

    code: str
    name: str
    kecamatan: Kecamatan


T = TypeVar("T", bound=Kecamatan | Kelurahan)


@dataclass(frozen=True, slots=True)
class PlaceMatch(Generic[T]):
    """Outcome of matching typed text against place names.

    `best` is the single confident match or None; `candidates` are plausible places ranked best
    first (several when ambiguous, empty when nothing fits); `exact` is True when the text equals a
    known name or variant after normalisation, so no confirmation is needed.
    """

    best: T | None
    candidates: tuple[T, ...]
    exact: bool


# Abbreviations people use for words inside place names; applied to whole words only.
_ABBREVIATIONS: dict[str, str] = {
    "pd": "pondok",
    "pdk": "pondok",
    "brt": "barat",
    "bar": "barat",
    "tmr": "timur",
    "tim": "timur",
    "utr": "utara",
    "sel": "selatan",
    "jy": "jaya",
    "kp": "kampung",
    "gd": "gudang",
    "kcg": "kacang",
}
# Administrative words typed around a name ("Kec. Pondok Aren", "kelurahan sawah") that are not
# part of any name in Tangsel.
_FILLER_WORDS = frozenset({"kec", "kecamatan", "kel", "kelurahan", "desa", "ds", "lurah", "camat"})
# Spelling variants inside a compact name, applied to the typed text.
_SPELLING_VARIANTS: tuple[tuple[str, str], ...] = (
    ("perigi", "parigi"),
    ("manggu", "mangu"),
)
# Whole-name variants that compaction and spelling rules do not cover.
_KELURAHAN_ALIASES: dict[str, tuple[str, ...]] = {
    "Sawah": ("Sawah Lama",),
    "Cireundeu": ("Cirendeu",),
    "Keranggan": ("Kranggan",),
}
_KECAMATAN_ALIASES: dict[str, tuple[str, ...]] = {}

# Scores are rapidfuzz ratios (0-100) between compact forms.
_EXACT_SCORE = 100.0
# A typed prefix of a name ("jurang mangu" for "Jurangmangu Timur") is a strong hint even when
# the ratio is low; shorter prefixes ("pon") fit too many names to mean anything.
_PREFIX_SCORE = 90.0
_PREFIX_MIN_LEN = 4
# Confident: at least this score, and no other place within the margin. One typo in a long name
# scores about 95, one in a short name about 90; a wrong neighbour ("Ciputat" for "ciputat timr",
# "Pondok Aren" for "pondok cabe") scores 80 or less.
_BEST_MIN_SCORE = 85.0
# Places within this margin of the top score are real alternatives: they make the top one
# ambiguous and are offered as candidates. Using one margin for both means a confident match has
# exactly one candidate unless another place is an equally exact hit.
_AMBIGUITY_MARGIN = 8.0
# Below this nothing is plausible ("situ" still reaches "Setu" at 75; junk stays under 60).
_CANDIDATE_MIN_SCORE = 70.0
# Enough for a list message (WhatsApp lists hold 10 rows) with room for a way out.
_MAX_CANDIDATES = 8
# Raw text is cut before normalising and the compact query before fuzzy matching: no place name is
# longer than 25 characters, and junk must not cost time.
_MAX_RAW_LEN = 200
_MAX_QUERY_LEN = 60


def _compact(text: str) -> str:
    """Return the comparison form of typed text: normalised, expanded, spaces removed."""
    words = [
        _ABBREVIATIONS.get(word, word)
        for word in normalize(text[:_MAX_RAW_LEN]).split()
        if word not in _FILLER_WORDS
    ]
    compact = "".join(words)[:_MAX_QUERY_LEN]
    for variant, canonical in _SPELLING_VARIANTS:
        compact = compact.replace(variant, canonical)
    return compact


def _score(query: str, key: str) -> float:
    if query == key:
        return _EXACT_SCORE
    score = fuzz.ratio(query, key)
    if len(query) >= _PREFIX_MIN_LEN and key.startswith(query):
        score = max(score, _PREFIX_SCORE)
    return score


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    place: T
    keys: frozenset[str]


def _entries(places: Iterable[T], aliases: dict[str, tuple[str, ...]]) -> tuple[_Entry[T], ...]:
    """Pre-compute the compact keys (name and variants) of each place once, at load time."""
    entries: list[_Entry[T]] = []
    for place in places:
        names = (place.name, *aliases.get(place.name, ()))
        entries.append(_Entry(place, frozenset(_compact(name) for name in names)))
    return tuple(entries)


def _match(query: str, entries: Iterable[_Entry[T]]) -> PlaceMatch[T]:
    """Rank entries against a compact query and decide whether the top one is confident."""
    if not query:
        return PlaceMatch(None, (), False)
    scored = sorted(
        ((max(_score(query, key) for key in entry.keys), entry.place) for entry in entries),
        key=lambda pair: pair[0],
        reverse=True,  # sorted() is stable, so equal scores keep CSV order
    )
    if not scored or scored[0][0] < _CANDIDATE_MIN_SCORE:
        return PlaceMatch(None, (), False)
    top = scored[0][0]
    candidates = tuple(
        place for score, place in scored if score >= _CANDIDATE_MIN_SCORE and score > top - _AMBIGUITY_MARGIN
    )[:_MAX_CANDIDATES]
    runner_up = scored[1][0] if len(scored) > 1 else 0.0
    exact = top == _EXACT_SCORE and runner_up < _EXACT_SCORE
    confident = exact or (top >= _BEST_MIN_SCORE and top - runner_up >= _AMBIGUITY_MARGIN)
    return PlaceMatch(candidates[0] if confident else None, candidates, exact)


def _default_csv() -> str:
    return resources.files("handlers").joinpath("data", "tangsel-wilayah.csv").read_text("utf-8")


class Places:
    """The kecamatan and kelurahan of Tangsel, loaded once, with lookups and fuzzy matching."""

    __slots__ = ("_kecamatan_entries", "_kelurahan", "_kelurahan_entries", "kecamatan")

    def __init__(self, kecamatan: Iterable[Kecamatan], kelurahan: Iterable[Kelurahan]) -> None:
        self.kecamatan: tuple[Kecamatan, ...] = tuple(kecamatan)
        self._kelurahan: tuple[Kelurahan, ...] = tuple(kelurahan)
        self._kecamatan_entries = _entries(self.kecamatan, _KECAMATAN_ALIASES)
        self._kelurahan_entries = _entries(self._kelurahan, _KELURAHAN_ALIASES)

    @classmethod
    def load(cls, path: pathlib.Path | None = None) -> "Places":
        """Load places from a CSV with columns kode,kecamatan,kelurahan (default: packaged data)."""
        text = path.read_text("utf-8") if path is not None else _default_csv()
        kecamatan: dict[str, Kecamatan] = {}
        kelurahan: list[Kelurahan] = []
        for row in csv.DictReader(io.StringIO(text)):
            code = row["kode"].strip()
            # The kecamatan code is the kelurahan code without its last segment ("36.74.03").
            kecamatan_code = code.rsplit(".", 1)[0]
            district = kecamatan.setdefault(
                kecamatan_code, Kecamatan(kecamatan_code, row["kecamatan"].strip())
            )
            kelurahan.append(Kelurahan(code, row["kelurahan"].strip(), district))
        return cls(kecamatan.values(), kelurahan)

    def kecamatan_by_code(self, code: str) -> Kecamatan:
        """Return the kecamatan with this code; KeyError if unknown."""
        for district in self.kecamatan:
            if district.code == code:
                return district
        raise KeyError(code)

    def kelurahan_by_code(self, code: str) -> Kelurahan:
        """Return the kelurahan with this code; KeyError if unknown."""
        for village in self._kelurahan:
            if village.code == code:
                return village
        raise KeyError(code)

    def kelurahan_of(self, kecamatan_code: str) -> tuple[Kelurahan, ...]:
        """Return the kelurahan of a kecamatan in CSV order (empty if the code is unknown)."""
        return tuple(v for v in self._kelurahan if v.kecamatan.code == kecamatan_code)

    def match_kecamatan(self, text: str) -> PlaceMatch[Kecamatan]:
        """Match typed text against the kecamatan names; never raises."""
        return _match(_compact(text), self._kecamatan_entries)

    def match_kelurahan(self, text: str, kecamatan_code: str | None = None) -> PlaceMatch[Kelurahan]:
        """Match typed text against kelurahan names; never raises.

        With `kecamatan_code`, that kecamatan is searched first. When it has no confident match,
        a confident match elsewhere wins (the user may have picked the wrong kecamatan) but is
        reported with exact=False so the flow confirms it; otherwise the kecamatan's own
        candidates are kept, and only when it has none are candidates from everywhere returned.
        """
        query = _compact(text)
        everywhere = _match(query, self._kelurahan_entries)
        if kecamatan_code is None:
            return everywhere
        scoped = [e for e in self._kelurahan_entries if e.place.kecamatan.code == kecamatan_code]
        if not scoped:  # an unknown code narrows nothing
            return everywhere
        inside = _match(query, scoped)
        if inside.best is not None:
            return inside
        if everywhere.best is not None:
            # Necessarily outside the kecamatan (inside it would have been confident too), so the
            # user must confirm it even when the text was exact.
            return PlaceMatch(everywhere.best, everywhere.candidates, False)
        return inside if inside.candidates else everywhere
