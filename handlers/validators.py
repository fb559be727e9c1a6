"""Forgiving parsers for the answers people type into the intake chat.

Users are waste pickers on cheap phones writing informal Bahasa Indonesia, so every parser accepts
the many ways a value is commonly written and reports problems as `Invalid` with a reason key that
the message catalog turns into a gentle retry prompt. Parsers never raise anything else on junk.
Besides the reasons listed per function, any parser may raise `Invalid("empty")` or
`Invalid("too_long", max=...)` from `clean_text`.
"""

import csv
import datetime
import functools
import importlib.resources
import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from rapidfuzz import fuzz, process
from stdnum.id import nik as stdnum_nik

__all__ = [
    "BirthDate",
    "Invalid",
    "clean_text",
    "format_phone_local",
    "is_unknown",
    "nik_birth_date",
    "nik_region_known",
    "nik_sex",
    "normalize",
    "parse_birth_date",
    "parse_choice_numbers",
    "parse_count",
    "parse_date",
    "parse_kk",
    "parse_name",
    "parse_nik",
    "parse_phone",
]


class Invalid(ValueError):
    """Raised when an answer cannot be accepted; `reason` is a message-catalog key suffix."""

    def __init__(self, reason: str, **params: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.params: dict[str, object] = params

    def __repr__(self) -> str:
        return f"Invalid({self.reason!r}, **{self.params!r})"


# --- text -----------------------------------------------------------------------------------------

_ZWJ = "\u200d"
# Terminal escape sequences ("\x1b[31m", from a console or a pasted log): dropping only the ESC
# control would leave "[31m" behind to be taken for an answer.
_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
# Raw input longer than this many times max_len is refused before any per-character work, so a
# pasted megabyte costs nothing; no genuine answer carries that much padding.
_RAW_LENGTH_FACTOR = 10


def _strip_controls(text: str) -> str:
    """NFC-normalise, turn whitespace controls into spaces, drop other invisible controls."""
    text = unicodedata.normalize("NFC", _ESCAPE_SEQUENCE.sub("", text))
    out: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cc":
            # Newlines and tabs separate words; other C0/C1 controls are garbage.
            out.append(" " if ch.isspace() else "")
        elif category in ("Cf", "Cs") and ch != _ZWJ:
            # Zero-width spaces, bidi overrides and lone surrogates only confuse matching and
            # storage; ZWJ is kept because it glues emoji sequences together.
            continue
        else:
            out.append(ch)
    return " ".join("".join(out).split())


def clean_text(text: str, *, max_len: int = 500) -> str:
    """Return text without control characters, trimmed, whitespace collapsed and NFC-normalised.

    Raises Invalid("empty") when nothing is left and Invalid("too_long", max=max_len) when the
    cleaned text is longer than max_len characters.
    """
    if len(text) > max_len * _RAW_LENGTH_FACTOR + 100:
        raise Invalid("too_long", max=max_len)
    cleaned = _strip_controls(text)
    if not cleaned:
        raise Invalid("empty")
    if len(cleaned) > max_len:
        raise Invalid("too_long", max=max_len)
    return cleaned


def normalize(text: str) -> str:
    """Return a matching key: lower case, no accents, punctuation as spaces, spaces collapsed.

    "Pd. Aren!" -> "pd aren". Never raises; junk gives "".
    """
    decomposed = unicodedata.normalize("NFKD", _strip_controls(text)).casefold()
    chars = [ch if ch.isalnum() else " " for ch in decomposed if not unicodedata.category(ch).startswith("M")]
    return " ".join("".join(chars).split())


# --- names ----------------------------------------------------------------------------------------

# Punctuation that legitimately appears in Indonesian names and titles: Ma'ruf, M. Ali, Nur-Aini,
# "Budi, S.Pd".
_NAME_PUNCTUATION = frozenset("'’‘ʼ`.,-‐")
_EMOJI_EXTRAS = frozenset("\u200d\ufe0e\ufe0f\u20e3")
_WORD_START_AFTER = frozenset(" -‐.")


def _capitalise_name(name: str) -> str:
    """Capitalise each word; after an apostrophe stay lower case (Ma'ruf, not Ma'Ruf)."""
    out: list[str] = []
    previous = " "
    for ch in name.lower():
        out.append(ch.upper() if previous in _WORD_START_AFTER else ch)
        previous = ch
    return "".join(out)


def parse_name(text: str) -> str:
    """Return a person's full name, capitalised only when typed all lower or all upper case.

    Emoji are dropped (people add them out of politeness). Raises Invalid("name_letters") when
    the text has no letters or contains digits or unusual symbols, Invalid("name_short") when
    fewer than two letters remain.
    """
    cleaned = clean_text(text, max_len=100)
    kept: list[str] = []
    for ch in cleaned:
        category = unicodedata.category(ch)
        if category.startswith("S") or ch in _EMOJI_EXTRAS:
            continue
        if category.startswith(("L", "M")) or ch == " " or ch in _NAME_PUNCTUATION:
            kept.append(ch)
        else:
            raise Invalid("name_letters")
    name = " ".join("".join(kept).split())
    letters = sum(ch.isalpha() for ch in name)
    if letters == 0:
        raise Invalid("name_letters")
    if letters < 2:
        raise Invalid("name_short")
    if name == name.lower() or name == name.upper():
        return _capitalise_name(name)
    return name


# --- identity numbers -----------------------------------------------------------------------------

_ID_SEPARATORS = re.compile(r"[\s.\-]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")
_ID_MAX_LEN = 100


def _compact_id(text: str, digits_reason: str, length_reason: str) -> str:
    """Strip separators and check for exactly 16 ASCII digits."""
    compact = _ID_SEPARATORS.sub("", clean_text(text, max_len=_ID_MAX_LEN))
    if not _ASCII_DIGITS.fullmatch(compact):
        raise Invalid(digits_reason)
    if len(compact) != 16:
        raise Invalid(length_reason, count=len(compact))
    return compact


def parse_nik(text: str) -> str:
    """Return the 16-digit NIK typed with any spaces, dots or dashes.

    Raises Invalid("nik_digits") for other characters, Invalid("nik_length", count=n) for the
    wrong number of digits, Invalid("nik_invalid") for an impossible birth date, a zero serial or a
    province and regency unknown to the Kemendagri region list (every province, 2018-2025, shipped
    with the package). Any issuing region is accepted, not just Tangsel's 3674.
    """
    compact = _compact_id(text, "nik_digits", "nik_length")
    if not nik_region_known(compact) or compact[12:] == "0000":
        raise Invalid("nik_invalid")
    day, month, yy = int(compact[6:8]), int(compact[8:10]), int(compact[10:12])
    if day > 40:
        day -= 40
    for century in (1900, 2000):
        try:
            datetime.date(century + yy, month, day)
        except ValueError:
            continue
        return compact
    raise Invalid("nik_invalid")


@functools.cache
def _region_codes() -> frozenset[str]:
    """Province and regency/city codes of the Kemendagri list, compact ("36", "3674", "9671")."""
    source = importlib.resources.files("handlers") / "data" / "kemendagri-kode-wilayah.csv"
    with source.open(encoding="utf-8") as handle:
        return frozenset(
            row["kode"].replace(".", "")
            for row in csv.DictReader(handle)
            if row["tingkat"] in ("provinsi", "kabupaten_kota")
        )


def nik_region_known(nik: str) -> bool:
    """Whether the NIK's province and regency/city (its first 4 digits) are in the Kemendagri list."""
    codes = _region_codes()
    return nik[:2] in codes and nik[:4] in codes


def _two_digit_year(yy: int, today: datetime.date) -> int:
    """Expand a two-digit year: up to this year's yy means the 2000s, otherwise the 1900s."""
    return 2000 + yy if yy <= today.year % 100 else 1900 + yy


def nik_birth_date(nik: str, *, today: datetime.date | None = None) -> datetime.date | None:
    """Return the birth date encoded in a NIK, or None if it cannot be derived.

    The NIK holds only two year digits; python-stdnum always guesses the 1900s, so a date in the
    2000s that is not after `today` (default: the current date) is preferred instead.
    """
    compact = _ID_SEPARATORS.sub("", nik)
    if len(compact) != 16 or not _ASCII_DIGITS.fullmatch(compact):
        return None
    try:
        stdnum_date = stdnum_nik.get_birth_date(compact)
    except ValueError:  # stdnum's InvalidComponent is a ValueError
        return None
    today = today or datetime.date.today()
    try:
        recent = stdnum_date.replace(year=2000 + stdnum_date.year % 100)
    except ValueError:
        # 29 February in a year that only the 1900s reading makes a leap year.
        return stdnum_date
    return recent if recent <= today else recent.replace(year=recent.year - 100)


def nik_sex(nik: str) -> str:
    """Return "P" (perempuan) when the NIK's day part is above 40, else "L" (laki-laki).

    Raises Invalid("nik_digits") if `nik` is not a compact NIK as returned by parse_nik.
    """
    day_part = nik[6:8]
    if len(nik) != 16 or not _ASCII_DIGITS.fullmatch(day_part):
        raise Invalid("nik_digits")
    return "P" if int(day_part) > 40 else "L"


# Kemendagri province codes run from 11 (Aceh) to 96 (Papua Barat Daya, created 2022).
_PROVINCE_CODES = range(11, 97)


def parse_kk(text: str) -> str:
    """Return the 16-digit Nomor KK typed with any spaces, dots or dashes.

    Raises Invalid("kk_digits"), Invalid("kk_length", count=n), or Invalid("kk_invalid") when
    the province code is implausible or digits 7-12 are not a real ddmmyy date.
    """
    compact = _compact_id(text, "kk_digits", "kk_length")
    if int(compact[:2]) not in _PROVINCE_CODES:
        raise Invalid("kk_invalid")
    day, month, yy = int(compact[6:8]), int(compact[8:10]), int(compact[10:12])
    # The century is unknown; 29 February only needs to exist in one of the two readings.
    for century in (1900, 2000):
        try:
            datetime.date(century + yy, month, day)
        except ValueError:
            continue
        return compact
    raise Invalid("kk_invalid")


# --- phone numbers --------------------------------------------------------------------------------


def parse_phone(text: str, region: str = "ID") -> str:
    """Return a valid phone number in E.164 ("+6281234567890").

    Accepts 0812-3456-7890, +62 812 3456 7890, 62812..., with spaces, dots, dashes or
    parentheses. Raises Invalid("phone_invalid") when phonenumbers does not consider it valid.
    """
    cleaned = clean_text(text, max_len=100)
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException as exc:
        raise Invalid("phone_invalid") from exc
    if not phonenumbers.is_valid_number(number):
        raise Invalid("phone_invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_key(text: str) -> str | None:
    """A phone number's digits in one spelling, for finding it however it was typed or stored:
    0812-3456-7890, 62812 3456 7890, +62 812-3456-7890 and 812 3456 7890 all give 6281234567890.

    None when `text` is not a phone number (letters, too few or too many digits). The stored side is
    computed the same way in SQL (`storage.migrations.phone_key_sql`).
    """
    compact = re.sub(r"[\s.\-()]", "", text)
    international = compact.startswith("+")
    compact = compact.removeprefix("+")
    if not compact.isdigit():
        return None
    if not international:
        if compact.startswith("0"):
            compact = "62" + compact[1:]
        elif compact.startswith("8"):
            compact = "62" + compact
        elif not compact.startswith("62"):
            return None
    return compact if 9 <= len(compact) <= 15 else None


def format_phone_local(e164: str) -> str:
    """Format a stored E.164 number for display: "+6281234567890" -> "0812-3456-7890".

    Indonesian numbers use the national format; foreign ones keep their country code so they stay
    dialable. Unparseable input is returned unchanged because display must never fail.
    """
    try:
        number = phonenumbers.parse(e164, "ID")
    except phonenumbers.NumberParseException:
        return e164
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if number.country_code == 62
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)


# --- dates ----------------------------------------------------------------------------------------

_MONTHS: dict[str, int] = {
    # Indonesian, with the abbreviations and old spellings (Pebruari, Nopember) still in use.
    "januari": 1, "jan": 1,
    "februari": 2, "pebruari": 2, "feb": 2, "peb": 2,
    "maret": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mei": 5,
    "juni": 6, "jun": 6,
    "juli": 7, "jul": 7,
    "agustus": 8, "agu": 8, "agt": 8, "ags": 8, "agst": 8, "agus": 8,
    "september": 9, "sep": 9, "sept": 9,
    "oktober": 10, "okt": 10,
    "november": 11, "nopember": 11, "nov": 11, "nop": 11,
    "desember": 12, "des": 12,
    # English.
    "january": 1, "february": 2, "march": 3, "may": 5, "june": 6, "july": 7,
    "august": 8, "aug": 8, "october": 10, "oct": 10, "december": 12, "dec": 12,
}  # fmt: skip
_FULL_MONTH_NAMES = tuple(name for name in _MONTHS if len(name) >= 5)
# Words people put around a date ("tgl 17 agustus tahun 1985") that carry no value.
_DATE_FILLER = frozenset({"tgl", "tanggal", "bulan", "bln", "tahun", "thn", "th", "lahir"})
_DATE_TOKEN = re.compile(r"[0-9]+|[a-z]+")
_MONTH_TYPO_CUTOFF = 80


def _month_number(word: str) -> int | None:
    """Return the month for a name or abbreviation, forgiving small typos in full names."""
    if word in _MONTHS:
        return _MONTHS[word]
    if len(word) < 5:
        return None
    # "febuari", "agustis": long enough that one slip cannot turn into another month.
    found = process.extractOne(word, _FULL_MONTH_NAMES, scorer=fuzz.ratio, score_cutoff=_MONTH_TYPO_CUTOFF)
    return _MONTHS[found[0]] if found else None


def _parse_year(token: str, today: datetime.date) -> int:
    if len(token) == 2:
        return _two_digit_year(int(token), today)
    if len(token) == 4:
        return int(token)
    raise Invalid("date_format")


def _date_parts(text: str, today: datetime.date) -> tuple[int, int, int]:
    """Split typed text into (year, month, day), day first unless it starts with a 4-digit year."""
    tokens = [t for t in _DATE_TOKEN.findall(normalize(text)) if t not in _DATE_FILLER]
    if len(tokens) == 1 and tokens[0].isdigit() and len(tokens[0]) in (6, 8):
        # Typed without separators: ddmmyy or ddmmyyyy (day first, as always).
        token = tokens[0]
        tokens = [token[:2], token[2:4], token[4:]]
    if len(tokens) != 3 or not (tokens[0].isdigit() and tokens[2].isdigit()):
        raise Invalid("date_format")
    first, middle, last = tokens
    if len(first) > 4 or len(last) > 4:
        raise Invalid("date_format")
    if middle.isdigit():
        if len(middle) > 2:
            raise Invalid("date_format")
        month = int(middle)
    else:
        found = _month_number(middle)
        if found is None:
            raise Invalid("date_format")
        month = found
    if len(first) == 4 and len(last) <= 2:
        return int(first), month, int(last)
    if len(first) > 2:
        raise Invalid("date_format")
    return _parse_year(last, today), month, int(first)


def parse_date(text: str, *, today: datetime.date) -> datetime.date:
    """Return the date in text written the Indonesian way, always day first.

    Accepts 17-08-1985, 17/8/85, 17.8.1985, 17 8 1985, 17 Agustus 1985, 17 agt 85, 17 Aug 1985,
    17-Agustus-1985 and ISO 1985-08-17. Raises Invalid("date_format"), Invalid("date_impossible"),
    Invalid("date_future") or Invalid("date_too_old") (before 1900).
    """
    year, month, day = _date_parts(clean_text(text, max_len=100), today)
    try:
        parsed = datetime.date(year, month, day)
    except ValueError as exc:
        raise Invalid("date_impossible") from exc
    if parsed > today:
        raise Invalid("date_future")
    if parsed < datetime.date(1900, 1, 1):
        raise Invalid("date_too_old")
    return parsed


@dataclass(frozen=True, slots=True)
class BirthDate:
    """A birth date as the person knows it: a day, a month, a year, or a year worked out from an age.

    `value` is how it is stored: "1985-08-17" (day), "1985-08" (month), "1985" (year) or "~1986" (from
    an age: approximate year). Staff see the precision, so an approximate date is never taken as exact.
    """

    value: str
    precision: str  # "day" | "month" | "year" | "age"


_AGE = re.compile(
    r"^(?:umur|usia|umurnya|usianya|age|aged)?\s*(\d{1,3})\s*(?:tahun|thn|th|years?|yrs?|old)?(?:\s*old)?$"
)
_AGE_WORD = re.compile(r"^(?:umur|usia|umurnya|usianya|age)\s+(.+?)(?:\s+(?:tahun|thn|th))?$")
_MONTH_YEAR = re.compile(r"^(?:bulan|bln)?\s*([a-z]+|\d{1,2})\s*(?:tahun|thn|th)?\s*(\d{4})$")
_YEAR = re.compile(
    r"^(?:tahun|thn|th|lahir|lahir tahun|lahir thn|tahun lahir|year|born|born in)?\s*(\d{4})(?:\s*an)?$"
)


def parse_birth_date(text: str, *, today: datetime.date) -> BirthDate:
    """Read a birth date the way people give it: a full date, a month and year, a year, or an age.

    "17-08-1985" -> day; "agustus 1985", "8/1985" -> month; "1985", "thn 85an" -> year; "umur 40",
    "40 tahun", "empat puluh tahun" -> an approximate year from the age. Raises the `parse_date` errors
    when nothing fits, Invalid("date_future") for a year or month not yet reached, and
    Invalid("age_range") for an age over 120.
    """
    cleaned = clean_text(text, max_len=100)
    key = normalize(cleaned)
    try:
        return BirthDate(parse_date(cleaned, today=today).isoformat(), "day")
    except Invalid as error:
        if error.reason != "date_format":
            raise
    year_only = _YEAR.match(key)
    if year_only:
        year = int(year_only.group(1))
        _check_year(year, today)
        return BirthDate(str(year), "year")
    month_year = _MONTH_YEAR.match(key)
    if month_year:
        raw_month, year = month_year.group(1), int(month_year.group(2))
        month = int(raw_month) if raw_month.isdigit() else _month_number(raw_month)
        if month is not None and 1 <= month <= 12:
            _check_year(year, today)
            if (year, month) > (today.year, today.month):
                raise Invalid("date_future")
            return BirthDate(f"{year:04d}-{month:02d}", "month")
    age = _age_in(key)
    if age is not None:
        if not 0 <= age <= 120:
            raise Invalid("age_range")
        return BirthDate(f"~{today.year - age}", "age")
    raise Invalid("date_format")


def _age_in(key: str) -> int | None:
    """An age typed as "umur 40", "40 tahun", "usia empat puluh"; None when the text is no age."""
    digits = _AGE.match(key)
    if digits and (digits.group(0) != digits.group(1)):  # a bare number is not an age
        return int(digits.group(1))
    words = _AGE_WORD.match(key)
    if words:
        try:
            return parse_count(words.group(1), low=0, high=200)
        except Invalid:
            return None
    return None


def _check_year(year: int, today: datetime.date) -> None:
    if year > today.year:
        raise Invalid("date_future")
    if year < 1900:
        raise Invalid("date_too_old")


def birth_year(value: str) -> int | None:
    """The year of a stored birth date of any precision ("1985-08-17", "1985-08", "1985", "~1986")."""
    digits = value.lstrip("~")[:4]
    return int(digits) if digits.isdigit() else None


# --- "I don't know" -------------------------------------------------------------------------------

_NOT = (
    r"(?:tidak|tdk|tak|gak|ga|gk|g|nggak|ngga|nggk|enggak|engga|ndak|nda|gag|kagak|kaga|ora|gaada"
    r"|belom|belum|blm|blum|masih belum)"
)
_UNKNOWN = re.compile(
    r"^(?:saya |sy |aku |gw |gue )?(?:"
    + _NOT
    + r"\s*(?:tahu|tau|tw|tao|ingat|inget|ingt|hafal|hapal|apal|punya|pny|ada|jelas|yakin|paham)"
    r"(?:\s+(?:saya|sy|aku|pak|bu|bang|mba|mbak|kak))?"
    r"|gatau|gatahu|gktau|gtau|ntah|entah|embuh|lupa|sudah lupa|udah lupa|lupa lagi|kelupaan"
    r"|(?:ktp|kk|kartu|nik|hp)(?: saya| sy| nya)?"
    r" (?:hilang|ilang|terbakar|kebakar|hangus|rusak|dicuri|ketinggalan)"
    r"|hilang|ilang|terbakar|kebakar|hangus"
    r"|(?:tidak|tdk|gak|ga|belum|blm) punya (?:ktp|kk|nik|hp|dokumen|apa apa)"
    r"|i don t know|i dont know|don t know|dont know|dunno|idk|not sure|i forgot|forgot|forget"
    r"|i don t have(?: one| it)?|don t have(?: one| it)?|dont have|no idea|unknown|lost(?: it)?"
    r")$"
)


def is_unknown(text: str) -> bool:
    """Whether typed text says "I don't know / I don't have it" ("tdk tau", "lupa", "ktp hilang"...)."""
    return bool(_UNKNOWN.match(normalize(text)))


# --- counts and choices ---------------------------------------------------------------------------

_UNITS: dict[str, int] = {
    "nol": 0, "satu": 1, "dua": 2, "tiga": 3, "empat": 4, "ampat": 4, "lima": 5, "enam": 6,
    "tujuh": 7, "delapan": 8, "lapan": 8, "sembilan": 9,
}  # fmt: skip
_SE_WORDS: dict[str, int] = {"sepuluh": 10, "sebelas": 11, "seratus": 100}
# How many live together, said as a word: "sendiri", "berdua", "bertiga", "berlima"...
_TOGETHER_WORDS: dict[str, int] = {
    "sendiri": 1, "sendirian": 1, "sorangan": 1, "alone": 1, "myself": 1, "berdua": 2, "bertiga": 3,
    "berempat": 4, "berlima": 5, "berenam": 6, "bertujuh": 7, "berdelapan": 8, "bersembilan": 9,
    "bersepuluh": 10,
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_SCALE_WORDS = ("puluh", "belas", "ratus")
_NUMBER_WORDS = frozenset([*_UNITS, *_SE_WORDS, *_SCALE_WORDS])
_COUNT_TOKEN = re.compile(r"[0-9]+|[a-z]+")
_JOINED_NUMBER_WORD = re.compile("^(" + "|".join(_UNITS) + ")(puluh|belas|ratus)$")


def _number_word_tokens(tokens: list[str]) -> list[str]:
    """Split words typed together ("duapuluh", "limabelas") into their parts."""
    out: list[str] = []
    for token in tokens:
        joined = _JOINED_NUMBER_WORD.match(token)
        out.extend(joined.groups() if joined else (token,))
    return out


def _words_value(words: list[str]) -> int | None:
    """Evaluate a run of Indonesian number words ("dua puluh tiga"), None if ill-formed."""
    total = 0
    # Each part fills decimal places from `top` down to `bottom`; the next part must start
    # below the previous bottom, which rejects "dua tiga" and "sebelas satu".
    floor = 1000
    i = 0
    while i < len(words):
        word = words[i]
        following = words[i + 1] if i + 1 < len(words) else ""
        if word in _UNITS and following in _SCALE_WORDS:
            unit = _UNITS[word]
            if unit == 0:
                return None
            if following == "ratus":
                value, top, bottom = unit * 100, 100, 100
            elif following == "puluh":
                value, top, bottom = unit * 10, 10, 10
            else:
                value, top, bottom = 10 + unit, 10, 1
            i += 2
        elif word in _UNITS:
            value, top, bottom = _UNITS[word], 1, 1
            i += 1
        elif word in _SE_WORDS:
            value = _SE_WORDS[word]
            top, bottom = (100, 100) if value == 100 else (10, 1)
            i += 1
        else:
            return None  # puluh/belas/ratus without a unit before it
        if top >= floor or (value == 0 and len(words) > 1):
            return None
        total += value
        floor = bottom
    return total


def parse_count(text: str, *, low: int, high: int) -> int:
    """Return a count typed as digits or Indonesian words ("5", "5 orang", "lima", "dua belas").

    Other words around the number are ignored. Raises Invalid("count_format") when there is no
    single number, Invalid("count_range", low=low, high=high) when it is outside [low, high].
    """
    tokens = _number_word_tokens(_COUNT_TOKEN.findall(normalize(clean_text(text, max_len=100))))
    values: set[int] = {_TOGETHER_WORDS[token] for token in tokens if token in _TOGETHER_WORDS}
    run: list[str] = []
    for token in [*tokens, ""]:
        if token in _NUMBER_WORDS:
            run.append(token)
            continue
        if run:
            value = _words_value(run)
            if value is None:
                raise Invalid("count_format")
            values.add(value)
            run = []
        if token.isdigit():
            values.add(int(token))
    if len(values) != 1:
        # Nothing, or several different numbers ("2 atau 3"): ask again rather than guess.
        raise Invalid("count_format")
    count = values.pop()
    if not low <= count <= high:
        raise Invalid("count_range", low=low, high=high)
    return count


# A menu never has this many options; longer digit runs are phone numbers or NIKs typed at the
# wrong prompt, and int() on thousands of digits would raise.
_MAX_CHOICE_DIGITS = 4


def parse_choice_numbers(text: str) -> list[int]:
    """Return the menu numbers in text ("1, 3 dan 5" -> [1, 3, 5]) in order, without duplicates.

    Text without digits (or only runs longer than 4 digits) gives [].
    """
    choices: list[int] = []
    for match in _ASCII_DIGITS.finditer(text):
        digits = match.group()
        if len(digits) > _MAX_CHOICE_DIGITS:
            continue
        number = int(digits)
        if number not in choices:
            choices.append(number)
    return choices
