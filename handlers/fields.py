"""Kinds of form questions: text, names, choices, identity numbers, dates, phones, places, media."""

import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from handlers.choices import STALE, Option, match_text, pick, render, yes_no_options
from handlers.forms import CARD_KINDS, VOICE_KINDS, Accept, Confirm, Field, Outcome, Retry, Stay
from handlers.turn import Turn
from handlers.types import Choice, Reply, RequestKind
from handlers.validators import (
    Invalid,
    birth_year,
    clean_text,
    format_phone_local,
    nik_birth_date,
    nik_sex,
    normalize,
    parse_birth_date,
    parse_choice_numbers,
    parse_count,
    parse_kk,
    parse_name,
    parse_nik,
    parse_phone,
)
from handlers.wording import Wording
from storage.crypto import Sealed

Predicate = Callable[[dict[str, Any]], bool]
Subject = Callable[[dict[str, Any]], str | None]

SKIP_WORDS = frozenset(
    {
        "0",
        "tidak tahu",
        "tdk tahu",
        "tidak tau",
        "gak tahu",
        "gak tau",
        "ga tau",
        "nggak tahu",
        "hilang",
        "tidak ada",
        "tdk ada",
        "gak ada",
        "ga ada",
        "lewati",
        "skip",
        "tidak punya",
        "gak punya",
        "lupa",
        "belum ada",
        "none",
        "don t know",
        "dont know",
        "lost",
        "no",
        "tidak",
        "kosong",
    }
)


def invalid_text(turn: Turn, error: Invalid) -> str:
    """The kind explanation for a validation failure."""
    return turn.t(f"err.{error.reason}", **error.params)


def wants_skip(turn: Turn) -> bool:
    """Whether the user said "0", "tidak tahu", "lewati" and the like."""
    return turn.text in SKIP_WORDS or (turn.event.choice is not None and turn.event.choice.endswith(":skip"))


def _not_text(turn: Turn) -> bool:
    return turn.event.text is None or not turn.event.text.strip()


class _Base(Field):
    def __init__(
        self,
        name: str,
        *,
        prompt_key: str,
        label_key: str = "",
        help_key: str | None = None,
        when: Predicate | None = None,
        clears: tuple[str, ...] = (),
        subject: Subject | None = None,
    ) -> None:
        self.name = name
        self.subject = subject
        self.prompt_key = prompt_key
        self.label_key = label_key
        self.help_key = help_key
        self.when = when
        self.clears = clears

    def applies(self, answers: dict[str, Any]) -> bool:
        return self.when is None or self.when(answers)

    def help(self, turn: Turn) -> str:
        return turn.t(self.help_key) if self.help_key else turn.t("help.generic")

    def prompt(self, turn: Turn, answers: dict[str, Any]) -> str:
        """The question text; about "you" or about someone else when the field has a subject."""
        return self.worded(turn, answers, self.prompt_key)

    def worded(self, turn: Turn, answers: dict[str, Any], key: str) -> str:
        """The sentence `key` (`.self` / `.other` when the field has a subject)."""
        if self.subject is None:
            return turn.t(key)
        name = self.subject(answers)
        if name is None:
            return turn.t(f"{key}.self")
        return turn.t(f"{key}.other", name=name)

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        return Reply(text=self.prompt(turn, answers))

    def show(self, words: Wording, value: Any) -> str:
        return words.t("common.empty") if value in (None, "", []) else str(value)


class TextField(_Base):
    """Free text, cleaned and bounded; "tidak tahu" is not taken for the text."""

    unknown_first = True

    def __init__(self, name: str, *, max_len: int = 300, min_len: int = 2, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.max_len = max_len
        self.min_len = min_len

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        if _not_text(turn):
            return Retry(turn.t("err.expect_text"))
        try:
            text = clean_text(turn.event.text or "", max_len=self.max_len)
        except Invalid as error:
            return Retry(invalid_text(turn, error))
        if sum(ch.isalnum() for ch in text) < self.min_len:
            return Retry(turn.t("err.too_short"))
        return Accept(text)


class AddressField(TextField):
    """The address, typed; a shared map location is kept too (then the address is asked for again)."""

    def __init__(
        self, name: str, *, location_field: str = "location", located_key: str | None = None, **kw: Any
    ) -> None:
        super().__init__(name, **kw)
        self.location_field = location_field
        self.located_key = located_key

    def prompt(self, turn: Turn, answers: dict[str, Any]) -> str:
        # With the location already shared, the question no longer invites one (`located_key`).
        if self.located_key is not None and answers.get(self.location_field):
            return self.worded(turn, answers, self.located_key)
        return super().prompt(turn, answers)

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        if sub.get("location"):
            return Reply(text=turn.t("form.address_after_location"))
        # Not asked for again when the place questions already took it from a shared location.
        request: RequestKind | None = None if answers.get(self.location_field) else "location"
        return Reply(text=self.prompt(turn, answers), request=request)

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        shared = shared_location(turn)
        if shared is not None:
            sub = {"location": shared}
            return Stay(self.question(turn, answers, sub), sub)
        outcome = super().parse(turn, answers, sub)
        if isinstance(outcome, Accept) and sub.get("location"):
            return Accept(outcome.value, {self.location_field: sub["location"]})
        return outcome


def shared_location(turn: Turn) -> dict[str, float] | None:
    """The location the event shares, rounded to about 10 cm; None when it shares none (or nonsense)."""
    if turn.event.location is None:
        return None
    latitude, longitude = turn.event.location
    if -90 <= latitude <= 90 and -180 <= longitude <= 180:
        return {"lat": round(latitude, 6), "lon": round(longitude, 6)}
    return None


class NameField(_Base):
    """A person's full name; after three unusable tries, what was typed is kept as the name."""

    unknown_ok = False

    def fallback(self, turn: Turn, said: str) -> Any:
        try:
            return clean_text(said, max_len=100)
        except Invalid:
            return turn.t("common.no_name")

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        if _not_text(turn):
            return Retry(turn.t("err.expect_text"))
        try:
            return Accept(parse_name(turn.event.text or ""))
        except Invalid as error:
            return Retry(invalid_text(turn, error))


class ChoiceField(_Base):
    """One of a few options; the stored value is the option's key."""

    def __init__(self, name: str, *, options: Sequence[Option], **kw: Any) -> None:
        super().__init__(name, **kw)
        self.options = tuple(options)

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        return Reply(text=self.prompt(turn, answers), choices=tuple(render(turn, self.name, self.options)))

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        chosen = pick(turn, self.name, self.options)
        if chosen is STALE:
            return Retry(turn.t("err.old_button"))
        if chosen is None:
            return Retry(turn.t("err.choose", count=len(self.options)))
        return Accept(self.value_of(chosen))

    def value_of(self, option: Option) -> Any:
        """The stored value for an option."""
        return option.key

    def show(self, words: Wording, value: Any) -> str:
        for option in self.options:
            if self.value_of(option) == value:
                return words.t(option.label_key)
        return super().show(words, value)


class YesNoField(ChoiceField):
    """Ya / Tidak, stored as a boolean."""

    def __init__(self, name: str, **kw: Any) -> None:
        from handlers.choices import yes_no_options

        super().__init__(name, options=yes_no_options(), **kw)

    def value_of(self, option: Option) -> Any:
        return option.key == "yes"


class SexField(ChoiceField):
    """Laki-laki / perempuan in everyday words; one gentle question when the NIK says otherwise."""

    def __init__(self, name: str, *, nik_field: str = "nik", **kw: Any) -> None:
        super().__init__(
            name,
            options=(
                Option("L", "sex.male", _MALE_WORDS),
                Option("P", "sex.female", _FEMALE_WORDS),
            ),
            **kw,
        )
        self.nik_field = nik_field

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        outcome = super().parse(turn, answers, sub)
        sealed = answers.get(self.nik_field)
        if isinstance(outcome, Accept) and sealed:
            from_nik = nik_sex(turn.services.sealer.open(Sealed.model_validate(sealed)))
            if from_nik != outcome.value:
                said = self.show(turn, outcome.value)
                return Confirm(outcome.value, turn.t("reg.sex_mismatch", sex=said))
        return outcome


_MALE_WORDS = (
    "l", "lk", "laki", "laki laki", "lelaki", "lakilaki", "laki2", "pria", "cowok", "cowo", "cwo", "co",
    "bapak", "bapak bapak", "pak", "male", "man", "m", "boy", "lanang",
)  # fmt: skip
_FEMALE_WORDS = (
    "p", "pr", "prmpn", "perempuan", "wanita", "cewek", "cewe", "cwe", "ce", "ibu", "ibu ibu", "bu",
    "female", "woman", "f", "girl", "wadon",
)  # fmt: skip


class MultiChoiceField(_Base):
    """Several options in one answer: numbers ("1 3") or words ("masak, jahit"), or one tap.

    The options keep their numbers whatever was picked, and "none" is always the last number, so a
    typed number always means the option shown with it.
    """

    def __init__(self, name: str, *, options: Sequence[Option], none_option: Option, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.options = tuple(options)
        self.none_option = none_option

    @property
    def offered(self) -> tuple[Option, ...]:
        """Every option, then "none": numbered 1 to n+1, always in this order."""
        return (*self.options, self.none_option)

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        text = self.prompt(turn, answers) + "\n" + turn.t("form.multi_hint")
        return Reply(text=text, choices=tuple(render(turn, self.name, self.offered)))

    def _labels(self, words: Wording, keys: list[str]) -> str:
        labels = {o.key: words.t(o.label_key) for o in self.options}
        return ", ".join(labels[key] for key in keys if key in labels)

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        offered = self.offered
        if turn.event.choice is None:
            keys = self._typed(turn, offered)
            if keys is None:
                return Retry(turn.t("err.multi_choose", count=len(offered), example=_example(len(offered))))
            if self.none_option.key in keys and len(keys) > 1:
                return Retry(turn.t("err.multi_mixed", none=turn.t(self.none_option.label_key)))
            return Accept([] if keys == [self.none_option.key] else keys)
        chosen = pick(turn, self.name, offered)
        if not isinstance(chosen, Option):
            return Retry(turn.t("err.old_button"))
        return Accept([] if chosen.key == self.none_option.key else [chosen.key])

    def _typed(self, turn: Turn, offered: tuple[Option, ...]) -> list[str] | None:
        """The keys typed as numbers or words, in order; None when a part matches nothing."""
        text = turn.text
        if not text:
            return None
        if re.fullmatch(r"[0-9\s]+(?:(?:dan|and|&)\s*[0-9\s]+)*", text):
            numbers = parse_choice_numbers(text)
            if not numbers or any(not 0 < n <= len(offered) for n in numbers):
                return None
            return _unique([offered[n - 1].key for n in numbers])
        whole = match_text(turn, text, offered)
        if whole is not None:
            return [whole.key]
        raw = (turn.event.text or "").lower()
        for parts in (_PARTS.split(raw), text.split()):  # "masak, jahit" or "masak jahit"
            found = [match_text(turn, normalize(part), offered) for part in parts if normalize(part)]
            if found and all(option is not None for option in found):
                return _unique([option.key for option in found if option is not None])
        return None

    def show(self, words: Wording, value: Any) -> str:
        if not value:
            return words.t(self.none_option.label_key) if value == [] else words.t("common.unknown")
        return self._labels(words, list(value))


_PARTS = re.compile(r"\s*(?:,|;|/|\+|&|\bdan\b|\band\b|\bsama\b|\bjuga\b)\s*")


def _example(count: int) -> str:
    """An example of several numbers for the hint, within the offered range."""
    return "1 2" if count < 3 else "1 3"


def _unique(keys: list[str]) -> list[str]:
    return list(dict.fromkeys(keys))


class IdNumberField(_Base):
    """NIK or KK number, or "tidak tahu / hilang"; stored sealed (encrypted, hashed, masked).

    A photo of the card is kept as the answer for staff. With `fills`, a valid NIK also answers the
    birth date and sex questions it encodes (the person sees them in the summary and can change them).
    """

    kept_media = VOICE_KINDS | CARD_KINDS
    keep_said = False  # a mistyped number is still personal data: never kept in clear

    def __init__(self, name: str, *, kind: str, fills: tuple[str, str] | None = None, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.kind = kind
        self.fills = fills

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        if _not_text(turn) and turn.event.choice is None:
            return Retry(turn.t(f"err.{self.kind}_digits"))
        if wants_skip(turn):
            return Accept(None)
        try:
            parser = parse_nik if self.kind == "nik" else parse_kk
            number = parser(turn.event.text or "")
        except Invalid as error:
            return Retry(invalid_text(turn, error))
        sealed = turn.services.sealer.seal(number).model_dump()
        if self.fills is None:
            return Accept(sealed)
        born = nik_birth_date(number, today=turn.today())
        date_field, sex_field = self.fills
        extra: dict[str, Any] = {sex_field: nik_sex(number)}
        if born is not None:
            extra[date_field] = born.isoformat()
        return Accept(sealed, extra)

    def show(self, words: Wording, value: Any) -> str:
        if not value:
            return words.t("common.unknown")
        return str(Sealed.model_validate(value).m)


class BirthDateField(_Base):
    """A birth date as the person knows it: full date, month and year, year, age, or "tidak tahu".

    Stored as said, with its precision ("1985-08-17", "1985-08", "1985", "~1986" from an age), so staff
    see an approximate date as approximate. A full date is checked gently against the NIK.
    """

    def __init__(self, name: str, *, nik_field: str = "nik", **kw: Any) -> None:
        super().__init__(name, **kw)
        self.nik_field = nik_field

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        if _not_text(turn):
            return Retry(turn.t("err.expect_date"))
        try:
            born = parse_birth_date(turn.event.text or "", today=turn.today())
        except Invalid as error:
            return Retry(invalid_text(turn, error))
        sealed = answers.get(self.nik_field)
        if sealed and born.precision == "day":
            day = date.fromisoformat(born.value)
            from_nik = nik_birth_date(turn.services.sealer.open(Sealed.model_validate(sealed)))
            if from_nik is not None and (from_nik.day, from_nik.month, from_nik.year % 100) != (
                day.day,
                day.month,
                day.year % 100,
            ):
                return Confirm(born.value, turn.t("reg.birth_date_mismatch", date=_show_date(day)))
        return Accept(born.value)

    def show(self, words: Wording, value: Any) -> str:
        return show_birth_date(words.t, value, words.today())


def show_birth_date(t: Callable[..., str], value: Any, today: date) -> str:
    """A stored birth date in words, saying when it is only a month, a year or worked out from an age."""
    if not value:
        return t("common.unknown")
    text = str(value)
    if text.startswith("~"):
        year = birth_year(text) or 0
        return t("reg.birth.age", year=year, age=today.year - year)
    if len(text) == 4:
        return t("reg.birth.year", year=text)
    if len(text) == 7:
        return t("reg.birth.month", month=f"{text[5:7]}-{text[:4]}")
    return _show_date(date.fromisoformat(text))


def _show_date(value: date) -> str:
    return value.strftime("%d-%m-%Y")


class PhoneField(_Base):
    """A phone number in E.164; the channel's number is offered first; "0" when there is none."""

    def __init__(self, name: str, *, use_channel_phone: Predicate | None = None, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.use_channel_phone = use_channel_phone

    def _channel_phone(self, turn: Turn, answers: dict[str, Any]) -> str | None:
        if self.use_channel_phone is None or not self.use_channel_phone(answers):
            return None
        return turn.contact.phone or turn.event.channel_phone

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        known = self._channel_phone(turn, answers)
        if known and not sub.get("other"):
            return Reply(
                text=turn.t("reg.phone_known", phone=format_phone_local(known)),
                choices=(
                    Choice(f"{self.name}:known", turn.t("reg.phone_use_known")),
                    Choice(f"{self.name}:other", turn.t("reg.phone_other")),
                    Choice(f"{self.name}:skip", turn.t("reg.phone_none")),
                ),
            )
        request: RequestKind | None = (
            "phone" if self.use_channel_phone and self.use_channel_phone(answers) else None
        )
        return Reply(text=self.prompt(turn, answers), request=request)

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        event = turn.event
        known = self._channel_phone(turn, answers)
        if known and not sub.get("other"):
            said = match_text(turn, turn.text, yes_no_options()) if event.choice is None else None
            if event.choice == f"{self.name}:known" or (said is not None and said.key == "yes"):
                return Accept(known)
            if event.choice == f"{self.name}:other" or (said is not None and said.key == "no"):
                sub = {"other": True}
                return Stay(self.question(turn, answers, sub), sub)
        if wants_skip(turn):
            return Accept(None)
        raw = event.phone or event.text
        if not raw:
            return Retry(turn.t("err.phone_invalid"))
        try:
            return Accept(parse_phone(raw))
        except Invalid as error:
            return Retry(invalid_text(turn, error))

    def show(self, words: Wording, value: Any) -> str:
        return format_phone_local(value) if value else words.t("common.none")


# The answer a shared location also gives (registration keeps it on the person, every form on the case).
LOCATION = "location"
# Set in the answers of a form started from a location shared at the menu (handlers/located.py): the
# place came from where the person stands, so "same place as the last person?" is not asked.
FROM_LOCATION = "_located"


def offer_location(turn: Turn) -> list[Reply]:
    """The offer to share a location, before a place question (not again right after one was shared)."""
    if turn.event.location is not None:
        return []
    return [Reply(text=turn.t("form.share_place"), request="location")]


def located_place(
    turn: Turn, *, answering: str, kecamatan_field: str, kelurahan_field: str
) -> Outcome | None:
    """A shared location proposes the kelurahan it falls in, and so its kecamatan ("..., betul?").

    A yes answers both place questions (and keeps the location); a location outside the city is said
    so kindly and the question is asked as usual. None when the event is not a location.
    """
    if turn.event.location is None:
        return None
    shared = shared_location(turn)
    found = turn.services.boundaries.locate(*turn.event.location) if shared is not None else None
    if shared is None or found is None:
        return Retry(turn.t("form.located_outside"))
    codes = {kecamatan_field: found.kecamatan.code, kelurahan_field: found.code}
    value = codes.pop(answering)
    extra = {**codes, LOCATION: shared}
    text = turn.t("form.located", kelurahan=found.name, kecamatan=found.kecamatan.name)
    return Confirm(value, text, extra=extra)


class KecamatanField(_Base):
    """One of the 7 kecamatan, by button, number or (misspelt) name; a kelurahan name or a shared
    location answers it too."""

    def __init__(self, name: str, *, kelurahan_field: str = "kelurahan", **kw: Any) -> None:
        super().__init__(name, **kw)
        self.kelurahan_field = kelurahan_field

    def lead(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> list[Reply]:
        return [] if sub.get("candidates") else offer_location(turn)

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        candidates = sub.get("candidates")
        items = (
            [turn.places.kecamatan_by_code(code) for code in candidates]
            if candidates
            else list(turn.places.kecamatan)
        )
        text = turn.t("form.which_one") if candidates else self.prompt(turn, answers)
        return Reply(text=text, choices=tuple(Choice(f"{self.name}:{k.code}", k.name) for k in items))

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        located = located_place(
            turn, answering=self.name, kecamatan_field=self.name, kelurahan_field=self.kelurahan_field
        )
        if located is not None:
            return located
        places = turn.places
        offered = sub.get("candidates") or [k.code for k in places.kecamatan]
        event = turn.event
        if event.choice is not None:
            code = event.choice.rpartition(":")[2]
            return Accept(code) if code in offered else Retry(turn.t("err.old_button"))
        if turn.text.isdigit():
            index = int(turn.text) - 1
            if 0 <= index < len(offered):
                return Accept(offered[index])
            return Retry(turn.t("err.choose", count=len(offered)))
        if _not_text(turn):
            return Retry(turn.t("err.place_unknown"))
        match = places.match_kecamatan(turn.text)
        if match.best is not None and match.exact:
            return Accept(match.best.code)
        # A kelurahan answers this question too: it names its kecamatan.
        village = places.match_kelurahan(turn.text)
        if village.best is not None and (village.exact or match.best is None):
            found = village.best
            extra = {self.kelurahan_field: found.code}
            if village.exact:
                return Accept(found.kecamatan.code, extra)
            name = turn.t("form.place_in", kelurahan=found.name, kecamatan=found.kecamatan.name)
            return Confirm(found.kecamatan.code, turn.t("form.is_it", name=name), extra=extra)
        if match.best is not None:
            return Confirm(match.best.code, turn.t("form.is_it", name=match.best.name))
        if match.candidates:
            sub = {"candidates": [k.code for k in match.candidates]}
            return Stay(self.question(turn, answers, sub), sub)
        return Retry(turn.t("err.place_unknown"))

    def show(self, words: Wording, value: Any) -> str:
        return words.places.kecamatan_by_code(value).name if value else words.t("common.unknown")


class KelurahanField(_Base):
    """A kelurahan of the chosen kecamatan; typed names are matched across the whole city."""

    def __init__(self, name: str, *, kecamatan_field: str = "kecamatan", **kw: Any) -> None:
        super().__init__(name, **kw)
        self.kecamatan_field = kecamatan_field

    def _offered(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> list[str]:
        if sub.get("candidates"):
            return list(sub["candidates"])
        return [k.code for k in turn.places.kelurahan_of(answers[self.kecamatan_field])]

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        places = turn.places
        offered = [places.kelurahan_by_code(code) for code in self._offered(turn, answers, sub)]
        if sub.get("candidates"):
            text = turn.t("form.which_one")
        else:
            kecamatan = places.kecamatan_by_code(answers[self.kecamatan_field]).name
            text = turn.t(self.prompt_key, kecamatan=kecamatan)
        return Reply(text=text, choices=tuple(Choice(f"{self.name}:{k.code}", k.name) for k in offered))

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        located = located_place(
            turn, answering=self.name, kecamatan_field=self.kecamatan_field, kelurahan_field=self.name
        )
        if located is not None:
            return located
        places = turn.places
        offered = self._offered(turn, answers, sub)
        event = turn.event
        kecamatan_code = answers[self.kecamatan_field]
        if event.choice is not None:
            code = event.choice.rpartition(":")[2]
            if code not in offered:
                return Retry(turn.t("err.old_button"))
            return self._accept(code, kecamatan_code, turn)
        if turn.text.isdigit():
            index = int(turn.text) - 1
            if 0 <= index < len(offered):
                return self._accept(offered[index], kecamatan_code, turn)
            return Retry(turn.t("err.choose", count=len(offered)))
        if _not_text(turn):
            return Retry(turn.t("err.place_unknown"))
        match = places.match_kelurahan(turn.text, kecamatan_code)
        if match.best is not None:
            best = match.best
            if best.kecamatan.code != kecamatan_code:
                return Confirm(
                    best.code,
                    turn.t("form.other_kecamatan", name=best.name, kecamatan=best.kecamatan.name),
                    extra={self.kecamatan_field: best.kecamatan.code},
                )
            if match.exact:
                return Accept(best.code)
            return Confirm(best.code, turn.t("form.is_it", name=best.name))
        if match.candidates:
            sub = {"candidates": [k.code for k in match.candidates]}
            return Stay(self.question(turn, answers, sub), sub)
        return Retry(turn.t("err.place_unknown"))

    def _accept(self, code: str, kecamatan_code: str, turn: Turn) -> Outcome:
        chosen = turn.places.kelurahan_by_code(code)
        if chosen.kecamatan.code != kecamatan_code:
            return Accept(code, {self.kecamatan_field: chosen.kecamatan.code})
        return Accept(code)

    def show(self, words: Wording, value: Any) -> str:
        return words.places.kelurahan_by_code(value).name if value else words.t("common.unknown")


class LocationField(_Base):
    """An optional map location (the lapak); "0" skips."""

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        return Reply(
            text=self.prompt(turn, answers),
            choices=(Choice(f"{self.name}:skip", turn.t("common.skip")),),
            request="location",
        )

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        shared = shared_location(turn)
        if shared is not None:
            return Accept(shared)
        if wants_skip(turn):
            return Accept(None)
        return Retry(turn.t("err.location"))

    def show(self, words: Wording, value: Any) -> str:
        if not value:
            return words.t("common.none")
        return words.t("common.location_shared")


class CountField(_Base):
    """A small whole number (household members, people affected)."""

    def __init__(self, name: str, *, low: int = 1, high: int = 50, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.low = low
        self.high = high

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        if _not_text(turn):
            return Retry(turn.t("err.count_format"))
        try:
            return Accept(parse_count(turn.event.text or "", low=self.low, high=self.high))
        except Invalid as error:
            return Retry(invalid_text(turn, error))


class PhotoField(_Base):
    """An optional photo; "0" skips."""

    own_media = CARD_KINDS

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        return Reply(
            text=self.prompt(turn, answers),
            choices=(Choice(f"{self.name}:skip", turn.t("common.skip")),),
            request="photo",
        )

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        media = turn.event.media
        if media is not None and media.kind in ("photo", "document"):
            return Accept({"kind": media.kind, "ref": media.ref, "mime": media.mime})
        if wants_skip(turn):
            return Accept(None)
        return Retry(turn.t("err.photo"))

    def show(self, words: Wording, value: Any) -> str:
        return words.t("common.photo_attached") if value else words.t("common.none")


class DescriptionField(_Base):
    """What happened or what is needed: typed text or a voice note."""

    own_media = VOICE_KINDS

    def __init__(self, name: str, *, max_len: int = 1000, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.max_len = max_len

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        media = turn.event.media
        if media is not None and media.kind in ("voice", "audio"):
            return Accept({"voice": media.ref, "mime": media.mime})
        if _not_text(turn):
            return Retry(turn.t("err.description"))
        try:
            text = clean_text(turn.event.text or "", max_len=self.max_len)
        except Invalid as error:
            return Retry(invalid_text(turn, error))
        if sum(ch.isalnum() for ch in text) < 3:
            return Retry(turn.t("err.description"))
        return Accept({"text": text})

    def show(self, words: Wording, value: Any) -> str:
        if not value:
            return words.t("common.empty")
        if "voice" in value:
            return words.t("common.voice_attached")
        text = str(value["text"])
        return text if len(text) <= 80 else text[:77] + "..."


def place_fields(*, prompt_key: str, subject: Subject) -> tuple[KecamatanField, KelurahanField]:
    """The kecamatan question (about "you" or someone else) and the kelurahan question after it."""
    return (
        KecamatanField(
            "kecamatan",
            prompt_key=prompt_key,
            label_key="reg.label.kecamatan",
            subject=subject,
            clears=("kelurahan",),
            help_key="help.place",
        ),
        KelurahanField(
            "kelurahan",
            prompt_key="reg.q.kelurahan",
            label_key="reg.label.kelurahan",
            help_key="help.place",
            when=lambda answers: answers.get("kecamatan") is not None,
        ),
    )
