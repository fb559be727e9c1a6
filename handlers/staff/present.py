"""A case's answers in words, for staff: the one presenter the command line (`staff show`), the Telegram
staff group (the case card) and the dashboard (the case page and its print view) all use, so the three
say the same thing about the same case.

Form questions word their stored answers through `Field.show(words, value)`, which needs only a
`handlers.wording.Wording` (a language, catalog sentences, the places, today's date): a citizen's
conversation step has that, and so does the `Presenter` here. No staff surface pretends to be a citizen.
"""

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.aid import AidForm
from handlers.fields import PhoneField
from handlers.forms import VOICE_KINDS, Accept, Field, Form, Outcome, flag_text, flags_of
from handlers.i18n import Catalog
from handlers.lost_ktp import LostKtpForm
from handlers.places import Places
from handlers.registration import RegistrationForm
from handlers.talk import TalkForm
from handlers.turn import Services, Turn
from handlers.types import Inbound
from storage.records import CaseKind, CaseRecord, ContactRecord

__all__ = [
    "FORMS",
    "Accept",
    "Presenter",
    "ShownAnswer",
    "case_answers",
    "check_typed",
    "field_of",
    "mask_phone",
    "unheard",
]

# The form each kind of case was filled in with: the order and the wording of its answers.
FORMS: Mapping[CaseKind, Form] = {
    CaseKind.REGISTRATION: RegistrationForm(),
    CaseKind.LOST_KTP: LostKtpForm(),
    CaseKind.AID: AidForm(),
    CaseKind.MESSAGE: TalkForm(),
}


@dataclass(frozen=True, slots=True)
class Presenter:
    """Words for a staff reader: the citizens' catalog (its answers' labels and values) in the staff
    member's language, the city's places, and the local date (an age is counted from it)."""

    catalog: Catalog
    lang: str
    places: Places
    now: datetime
    timezone: ZoneInfo

    def t(self, key: str, **params: object) -> str:
        """A catalog sentence in the staff member's language."""
        return self.catalog.text(self.lang, key, **params)

    def today(self) -> date:
        """Today's date where the office is."""
        return self.now.astimezone(self.timezone).date()


@dataclass(frozen=True, slots=True)
class ShownAnswer:
    """One answer as staff read it: its question's label, the answer in words, and a file to open."""

    field: str
    label: str
    text: str
    # A photo, document or voice note the answer is (or was given as): its kind and stored reference.
    media_kind: str | None = None
    media_ref: str | None = None
    # Answered by voice note and not yet typed out by staff ("perlu didengar").
    to_hear: bool = False
    # The answer staff must look at (given as a file, or skipped for staff to ask).
    flagged: bool = False


def mask_phone(phone: str) -> str:
    """A phone number as viewers see it: enough to recognise, not to dial."""
    return phone[:5] + "*" * max(0, len(phone) - 8) + phone[-3:]


def field_of(case: CaseRecord, name: str) -> Field | None:
    """The question of the case's form named `name`."""
    form = FORMS.get(case.kind)
    return next((f for f in form.fields if f.name == name), None) if form else None


def unheard(answers: dict[str, Any]) -> list[str]:
    """Fields of a case answered by voice note and not yet typed out by staff, in answer order."""
    return [
        name
        for name, flag in flags_of(answers).items()
        if flag.get("why") == "media" and flag.get("kind") in VOICE_KINDS and not flag.get("heard")
    ]


def _flagged(field: Field, label: str, flag: dict[str, Any], words: Presenter) -> ShownAnswer:
    """An answer given as a file or skipped: what staff must do about it."""
    ref = flag.get("ref")
    kind = flag.get("kind")
    return ShownAnswer(
        field.name,
        label,
        flag_text(words.t, flag),
        str(kind) if kind and isinstance(ref, str) else None,
        ref if isinstance(ref, str) else None,
        to_hear=flag.get("why") == "media" and kind in VOICE_KINDS,
        flagged=True,
    )


def _worded(field: Field, value: Any, words: Presenter, *, mask_phones: bool) -> str:
    """The answer in words; an answer of an older or erased shape as it is stored."""
    try:
        text = field.show(words, value)
    except (KeyError, TypeError, ValueError):
        return json.dumps(value, ensure_ascii=False) if value is not None else "-"
    if mask_phones and isinstance(field, PhoneField) and isinstance(value, str) and value != "0":
        return mask_phone(value)
    if isinstance(value, dict):
        if isinstance(value.get("text"), str):
            text = value["text"]  # the citizen's summary shortens long descriptions; staff read them whole
        if "lat" in value and "lon" in value:
            text = f"{text} ({value['lat']}, {value['lon']})"
    return text


def case_answers(
    case: CaseRecord, words: Presenter, *, mask_phones: bool, leave_out: Collection[str] = ()
) -> list[ShownAnswer]:
    """A case's answers in the order of its form, in words: answers given as a photo or voice note with
    the file, those still to be listened to marked, answers typed out from a voice note with who typed
    them, phone numbers masked for readers who may not dial them (`mask_phones`). Questions that do not
    apply to the case, and those named in `leave_out`, are not shown."""
    form = FORMS.get(case.kind)
    if form is None:
        return []
    flags = flags_of(case.answers)
    shown: list[ShownAnswer] = []
    for field in form.fields:
        if not field.label_key or field.name not in case.answers or field.name in leave_out:
            continue
        label = words.t(field.label_key)
        flag = flags.get(field.name)
        if flag is not None and not flag.get("heard"):
            shown.append(_flagged(field, label, flag, words))
            continue
        value = case.answers[field.name]
        try:
            if not field.applies(case.answers):
                continue
        except (KeyError, TypeError, ValueError):  # an erased or older answer shape
            pass
        text = _worded(field, value, words, mask_phones=mask_phones)
        kind = ref = None
        if isinstance(value, dict):
            if isinstance(value.get("ref"), str):
                kind, ref = str(value.get("kind") or "photo"), value["ref"]
            elif isinstance(value.get("voice"), str):
                kind, ref = "voice", value["voice"]
        if flag is not None and isinstance(flag.get("ref"), str):  # spoken, then typed out by staff
            kind, ref = str(flag.get("kind")), flag["ref"]
            text = words.t("staff.answer.heard", text=text, by=str(flag["heard"].get("by", "")))
        shown.append(ShownAnswer(field.name, label, text, kind, ref))
    return shown


def check_typed(
    field: Field, text: str, answers: dict[str, Any], *, services: Services, language: str, now: datetime
) -> Outcome:
    """What staff typed for an answer given by voice note, checked as the question checks a citizen's
    typed answer (a NIK is a valid NIK, a date a date): the question reads it as the message it is."""
    contact = ContactRecord(
        id="staff:typed", channel="staff", language=language, created_at=now, updated_at=now
    )
    step = Turn(
        event=Inbound(contact=contact.id, at=now, text=text),
        contact=contact,
        flow="",
        step="",
        data={},
        started_at=now,
        updated_at=None,
        services=services,
        now=now,
    )
    return field.parse(step, dict(answers), {})
