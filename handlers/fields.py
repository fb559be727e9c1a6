"""Kinds of form questions: text, names, choices, identity numbers, dates, phones, places, media."""

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from handlers.choices import STALE, Option, pick, render
from handlers.forms import Accept, Confirm, Field, Outcome, Retry, Stay
from handlers.turn import Turn
from handlers.types import Choice, Reply, RequestKind
from handlers.validators import (
    Invalid,
    clean_text,
    format_phone_local,
    nik_birth_date,
    parse_choice_numbers,
    parse_count,
    parse_date,
    parse_kk,
    parse_name,
    parse_nik,
    parse_phone,
)
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
        label_key: str,
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
        if self.subject is None:
            return turn.t(self.prompt_key)
        name = self.subject(answers)
        if name is None:
            return turn.t(f"{self.prompt_key}.self")
        return turn.t(f"{self.prompt_key}.other", name=name)

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        return Reply(text=self.prompt(turn, answers))

    def show(self, turn: Turn, value: Any) -> str:
        return turn.t("common.empty") if value in (None, "", []) else str(value)


class TextField(_Base):
    """Free text, cleaned and bounded."""

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


class NameField(_Base):
    """A person's full name."""

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

    def show(self, turn: Turn, value: Any) -> str:
        for option in self.options:
            if self.value_of(option) == value:
                return turn.t(option.label_key)
        return super().show(turn, value)


class YesNoField(ChoiceField):
    """Ya / Tidak, stored as a boolean."""

    def __init__(self, name: str, **kw: Any) -> None:
        from handlers.choices import yes_no_options

        super().__init__(name, options=yes_no_options(), **kw)

    def value_of(self, option: Option) -> Any:
        return option.key == "yes"


class MultiChoiceField(_Base):
    """Several options: typed numbers at once ("1 3"), or taps one by one then Selesai."""

    def __init__(self, name: str, *, options: Sequence[Option], none_option: Option, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.options = tuple(options)
        self.none_option = none_option
        self.done_option = Option("done", "common.done", ("selesai", "sudah", "done", "cukup"))

    def _offered(self, selected: list[str]) -> tuple[Option, ...]:
        last = self.done_option if selected else self.none_option
        return (*[o for o in self.options if o.key not in selected], last)

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        selected: list[str] = sub.get("selected", [])
        text = self.prompt(turn, answers) + "\n" + turn.t("form.multi_hint")
        if selected:
            text = turn.t("form.multi_selected", items=self._labels(turn, selected))
        return Reply(text=text, choices=tuple(render(turn, self.name, self._offered(selected))))

    def _labels(self, turn: Turn, keys: list[str]) -> str:
        labels = {o.key: turn.t(o.label_key) for o in self.options}
        return ", ".join(labels[key] for key in keys if key in labels)

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        selected: list[str] = list(sub.get("selected", []))
        offered = self._offered(selected)
        numbers = parse_choice_numbers(turn.text) if turn.event.choice is None else []
        if len(numbers) > 1:
            if any(not 0 < n <= len(offered) for n in numbers):
                return Retry(turn.t("err.choose", count=len(offered)))
            keys = [offered[n - 1].key for n in numbers]
            if self.none_option.key in keys or self.done_option.key in keys:
                return Retry(turn.t("err.multi_mixed"))
            return Accept(_unique(selected + keys))
        chosen = pick(turn, self.name, offered)
        if chosen is STALE:
            return Retry(turn.t("err.old_button"))
        if chosen is None:
            return Retry(turn.t("err.choose", count=len(offered)))
        if chosen.key == self.none_option.key:
            return Accept([])
        if chosen.key == self.done_option.key:
            return Accept(selected)
        selected = _unique([*selected, chosen.key])
        if len(selected) == len(self.options):
            return Accept(selected)
        sub = {"selected": selected}
        return Stay(self.question(turn, answers, sub), sub)

    def show(self, turn: Turn, value: Any) -> str:
        if not value:
            return turn.t(self.none_option.label_key)
        return self._labels(turn, list(value))


def _unique(keys: list[str]) -> list[str]:
    return list(dict.fromkeys(keys))


class IdNumberField(_Base):
    """NIK or KK number, or "tidak tahu / hilang"; stored sealed (encrypted, hashed, masked)."""

    def __init__(self, name: str, *, kind: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.kind = kind

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
        return Accept(turn.services.sealer.seal(number).model_dump())

    def show(self, turn: Turn, value: Any) -> str:
        if not value:
            return turn.t("common.unknown")
        return str(Sealed.model_validate(value).m)


class BirthDateField(_Base):
    """A birth date as Indonesians write it; checked gently against the NIK."""

    def __init__(self, name: str, *, nik_field: str = "nik", **kw: Any) -> None:
        super().__init__(name, **kw)
        self.nik_field = nik_field

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        if _not_text(turn):
            return Retry(turn.t("err.expect_date"))
        try:
            born = parse_date(turn.event.text or "", today=turn.today())
        except Invalid as error:
            return Retry(invalid_text(turn, error))
        sealed = answers.get(self.nik_field)
        if sealed:
            from_nik = nik_birth_date(turn.services.sealer.open(Sealed.model_validate(sealed)))
            if from_nik is not None and (from_nik.day, from_nik.month, from_nik.year % 100) != (
                born.day,
                born.month,
                born.year % 100,
            ):
                return Confirm(
                    born.isoformat(),
                    turn.t("reg.birth_date_mismatch", date=_show_date(born)),
                )
        return Accept(born.isoformat())

    def show(self, turn: Turn, value: Any) -> str:
        return _show_date(date.fromisoformat(value)) if value else turn.t("common.unknown")


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
            if event.choice == f"{self.name}:known" or turn.text in ("1", "ya", "betul", "yes"):
                return Accept(known)
            if event.choice == f"{self.name}:other" or turn.text == "2":
                sub = {"other": True}
                return Stay(self.question(turn, answers, sub), sub)
            if turn.text == "3":
                return Accept(None)
        if wants_skip(turn):
            return Accept(None)
        raw = event.phone or event.text
        if not raw:
            return Retry(turn.t("err.phone_invalid"))
        try:
            return Accept(parse_phone(raw))
        except Invalid as error:
            return Retry(invalid_text(turn, error))

    def show(self, turn: Turn, value: Any) -> str:
        return format_phone_local(value) if value else turn.t("common.none")


# The answer a shared location also gives (registration keeps it on the person, every form on the case).
LOCATION = "location"


def offer_location(turn: Turn) -> None:
    """Offer to share a location before a place question (not again right after one was shared)."""
    if turn.event.location is None:
        turn.replies.append(Reply(text=turn.t("form.share_place"), request="location"))


def located_place(
    turn: Turn, *, answering: str, kecamatan_field: str, kelurahan_field: str
) -> Outcome | None:
    """A shared location proposes the kelurahan it falls in, and so its kecamatan ("..., betul?").

    A yes answers both place questions (and keeps the location); a location outside the city is said
    so kindly and the question is asked as usual. None when the event is not a location.
    """
    if turn.event.location is None:
        return None
    latitude, longitude = turn.event.location
    found = turn.services.boundaries.locate(latitude, longitude)
    if found is None:
        return Retry(turn.t("form.located_outside"))
    codes = {kecamatan_field: found.kecamatan.code, kelurahan_field: found.code}
    value = codes.pop(answering)
    extra = {**codes, LOCATION: {"lat": round(latitude, 6), "lon": round(longitude, 6)}}
    text = turn.t("form.located", kelurahan=found.name, kecamatan=found.kecamatan.name)
    return Confirm(value, text, extra=extra)


class KecamatanField(_Base):
    """One of the 7 kecamatan, by button, number or (misspelt) name, or from a shared location."""

    def __init__(self, name: str, *, kelurahan_field: str = "kelurahan", **kw: Any) -> None:
        super().__init__(name, **kw)
        self.kelurahan_field = kelurahan_field

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        candidates = sub.get("candidates")
        if not candidates:
            offer_location(turn)
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
        if match.best is not None:
            if match.exact:
                return Accept(match.best.code)
            return Confirm(match.best.code, turn.t("form.is_it", name=match.best.name))
        if match.candidates:
            sub = {"candidates": [k.code for k in match.candidates]}
            return Stay(self.question(turn, answers, sub), sub)
        return Retry(turn.t("err.place_unknown"))

    def show(self, turn: Turn, value: Any) -> str:
        return turn.places.kecamatan_by_code(value).name if value else turn.t("common.unknown")


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

    def show(self, turn: Turn, value: Any) -> str:
        return turn.places.kelurahan_by_code(value).name if value else turn.t("common.unknown")


class LocationField(_Base):
    """An optional map location (the lapak); "0" skips."""

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        return Reply(
            text=self.prompt(turn, answers),
            choices=(Choice(f"{self.name}:skip", turn.t("common.skip")),),
            request="location",
        )

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        if turn.event.location is not None:
            latitude, longitude = turn.event.location
            if -90 <= latitude <= 90 and -180 <= longitude <= 180:
                return Accept({"lat": round(latitude, 6), "lon": round(longitude, 6)})
        if wants_skip(turn):
            return Accept(None)
        return Retry(turn.t("err.location"))

    def show(self, turn: Turn, value: Any) -> str:
        if not value:
            return turn.t("common.none")
        return turn.t("common.location_shared")


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

    def show(self, turn: Turn, value: Any) -> str:
        return turn.t("common.photo_attached") if value else turn.t("common.none")


class DescriptionField(_Base):
    """What happened or what is needed: typed text or a voice note."""

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

    def show(self, turn: Turn, value: Any) -> str:
        if not value:
            return turn.t("common.empty")
        if "voice" in value:
            return turn.t("common.voice_attached")
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
            "kelurahan", prompt_key="reg.q.kelurahan", label_key="reg.label.kelurahan", help_key="help.place"
        ),
    )
