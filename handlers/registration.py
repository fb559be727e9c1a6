"""Registration of a household member, by themselves or by a field worker (pendamping)."""

from datetime import date
from typing import Any

from handlers import menu
from handlers.cases import self_context, submit_case
from handlers.choices import Option
from handlers.fields import (
    FROM_LOCATION,
    AddressField,
    BirthDateField,
    ChoiceField,
    CountField,
    IdNumberField,
    LocationField,
    MultiChoiceField,
    NameField,
    PhoneField,
    SexField,
    YesNoField,
    place_fields,
)
from handlers.forms import Accept, Form, Outcome, Retry, Stop
from handlers.turn import Turn
from handlers.types import Reply
from storage import repo
from storage.crypto import Sealed
from storage.records import CaseKind, PersonRecord

FLOW = "registration"


def is_self(answers: dict[str, Any]) -> bool:
    """Whether the contact registers themselves."""
    return answers.get("for_whom") == "self"


def subject(answers: dict[str, Any]) -> str | None:
    """None when asking about "you", else the name of the person being registered."""
    return None if is_self(answers) else answers.get("full_name")


ADULT_AGE = 17
"""Under this age a parent or guardian agrees for the person (UU PDP Pasal 25; KTP age in Indonesia)."""


def agreed_by(answers: dict[str, Any]) -> str:
    """Who agreed to this registration: "self", "person" (asked by a field worker) or "guardian"."""
    if is_self(answers):
        return "self"
    if answers.get("for_whom") == "child" or answers.get("guardian_agreed"):
        return "guardian"
    return "person"


class ForWhomField(ChoiceField):
    """Myself, someone who agreed, or a child whose parent or guardian agreed; nothing is kept otherwise.

    A contact registered already is sent to "Data saya" for changes.
    """

    unknown_ok = False
    kept_media = frozenset[str]()  # who agreed must be chosen, not left for staff to hear

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        outcome = super().parse(turn, answers, sub)
        if isinstance(outcome, Accept) and outcome.value == "self" and answers.get("_self_name"):
            return Retry(turn.t("reg.already_registered", name=answers["_self_name"]))
        if isinstance(outcome, Accept) and outcome.value == "not_asked":
            return Stop(turn.t("reg.ask_first"))
        return outcome

    def give_up(self, turn: Turn, answers: dict[str, Any], said: str) -> Accept | Stop:
        # Unclear after three tries: the contact agreed to the service, so it is their own registration
        # (staff confirm it); someone registered already is shown how to go on instead.
        if answers.get("_self_name"):
            return Stop(turn.t("reg.already_registered", name=answers["_self_name"]))
        return Accept("self")


class GuardianField(YesNoField):
    """For a person under 17 registered as agreeing themselves: did a parent or guardian agree?"""

    unknown_ok = False
    kept_media = frozenset[str]()

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        outcome = super().parse(turn, answers, sub)
        if isinstance(outcome, Accept) and outcome.value is False:
            return Stop(turn.t("reg.ask_guardian_first", name=answers.get("full_name") or ""))
        return outcome

    def give_up(self, turn: Turn, answers: dict[str, Any], said: str) -> Accept | Stop:
        return Stop(turn.t("reg.ask_guardian_first", name=answers.get("full_name") or ""))


def is_minor(answers: dict[str, Any], today: date) -> bool:
    """Whether the birth date given (or read from the NIK) makes the person younger than 17."""
    value = answers.get("birth_date")
    if not value:
        return False
    born = birth_to_date(str(value))
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return years < ADULT_AGE


class SamePlaceField(YesNoField):
    """A field worker's next registration: same kecamatan, kelurahan and address as the last person?"""

    def question(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Reply:
        last = answers["_last_place"]
        kelurahan = turn.places.kelurahan_by_code(last["kelurahan"]).name
        reply = super().question(turn, answers, sub)
        text = turn.t(
            "reg.q.same_place",
            name=answers.get("full_name") or "",
            last=last["name"],
            kelurahan=kelurahan,
            address=last["address"],
        )
        return Reply(text=text, choices=reply.choices)

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        outcome = super().parse(turn, answers, sub)
        if isinstance(outcome, Accept) and outcome.value is True:
            last = answers["_last_place"]
            return Accept(
                True,
                {"kecamatan": last["kecamatan"], "kelurahan": last["kelurahan"], "address": last["address"]},
            )
        return outcome


def _offers_same_place(answers: dict[str, Any]) -> bool:
    # Not when the place came from a location shared at the menu: that is where this person is.
    return "_last_place" in answers and not is_self(answers) and FROM_LOCATION not in answers


class NamedSubjectName(NameField):
    """The full name; asked about "you" or about "the person you register"."""

    def prompt(self, turn: Turn, answers: dict[str, Any]) -> str:
        key = "reg.q.full_name.self" if is_self(answers) else "reg.q.full_name.other"
        return turn.t(key)


SKILLS = (
    Option("masak", "skill.masak", ("memasak", "cooking", "masakan")),
    Option("rias", "skill.rias", ("merias", "make up", "makeup", "salon")),
    Option("menjahit", "skill.menjahit", ("jahit", "sewing")),
    Option("montir", "skill.montir", ("bengkel", "mekanik", "mechanic")),
    Option("service_hp", "skill.service_hp", ("servis hp", "service hp", "hp", "phone repair")),
    Option("lainnya", "skill.lainnya", ("lain", "other")),
)

DOCUMENTS = (
    Option("ktp", "doc.ktp", ("ktp", "e ktp")),
    Option("kk", "doc.kk", ("kk", "kartu keluarga")),
    Option("akta", "doc.akta", ("akta", "akte", "akta lahir")),
    Option("kis", "doc.kis", ("kis", "bpjs", "kis bpjs")),
)

AID_RECEIVED = (
    Option("pkh", "received.pkh", ("pkh",)),
    Option("bpnt", "received.bpnt", ("bpnt", "sembako")),
    Option("pbi", "received.pbi", ("pbi", "kis", "pbi jkn")),
    Option("blt", "received.blt", ("blt",)),
)

FIELDS = (
    ForWhomField(
        "for_whom",
        prompt_key="reg.q.for_whom",
        label_key="reg.label.for_whom",
        options=(
            Option(
                "self", "reg.for_self", ("saya", "diri sendiri", "sendiri", "saya sendiri", "myself", "me")
            ),
            Option("other", "reg.for_other", ("orang lain", "keluarga", "someone else", "other", "warga")),
            Option("child", "reg.for_child", ("anak", "anak saya", "child", "my child", "wali", "orang tua")),
            Option("not_asked", "reg.for_not_asked", ("belum ditanya", "belum setuju", "not asked")),
        ),
        help_key="help.for_whom",
    ),
    NamedSubjectName(
        "full_name",
        prompt_key="reg.q.full_name",
        label_key="reg.label.full_name",
        help_key="help.full_name",
    ),
    IdNumberField(
        "nik",
        kind="nik",
        prompt_key="reg.q.nik",
        label_key="reg.label.nik",
        subject=subject,
        help_key="help.nik",
        fills=("birth_date", "sex"),
    ),
    BirthDateField(
        "birth_date",
        prompt_key="reg.q.birth_date",
        label_key="reg.label.birth_date",
        subject=subject,
        help_key="help.date",
    ),
    SexField(
        "sex",
        prompt_key="reg.q.sex",
        label_key="reg.label.sex",
        subject=subject,
    ),
    GuardianField(
        "guardian_agreed",
        prompt_key="reg.q.guardian_agreed",
        when=lambda answers: answers.get("for_whom") == "other" and bool(answers.get("_minor")),
    ),
    PhoneField(
        "phone",
        prompt_key="reg.q.phone",
        label_key="reg.label.phone",
        subject=subject,
        use_channel_phone=is_self,
        help_key="help.phone",
    ),
    SamePlaceField(
        "same_place",
        prompt_key="reg.q.same_place",
        when=_offers_same_place,
        clears=("kecamatan", "kelurahan", "address"),
    ),
    *place_fields(prompt_key="reg.q.kecamatan", subject=subject),
    AddressField(
        "address",
        prompt_key="reg.q.address",
        located_key="reg.q.address_located",
        label_key="reg.label.address",
        max_len=300,
        subject=subject,
        help_key="help.address",
    ),
    LocationField(
        "location",
        prompt_key="reg.q.location",
        label_key="reg.label.location",
        help_key="help.location",
        # Offered with the address question (shared there, it is kept); shown when given.
        when=lambda answers: "location" in answers,
    ),
    CountField(
        "household_size",
        prompt_key="reg.q.household_size",
        label_key="reg.label.household_size",
        low=1,
        high=30,
        subject=subject,
    ),
    MultiChoiceField(
        "skills",
        prompt_key="reg.q.skills",
        label_key="reg.label.skills",
        options=SKILLS,
        none_option=Option("none", "skill.none", ("tidak ada", "tidak punya", "none", "belum", "gak ada")),
        subject=subject,
    ),
    YesNoField(
        "disaster_victim",
        prompt_key="reg.q.disaster_victim",
        label_key="reg.label.disaster_victim",
        subject=subject,
    ),
    MultiChoiceField(
        "documents",
        prompt_key="reg.q.documents",
        label_key="reg.label.documents",
        options=DOCUMENTS,
        none_option=Option("none", "doc.none", ("tidak ada", "tidak punya", "none", "hilang", "gak ada")),
        subject=subject,
    ),
    MultiChoiceField(
        "aid_received",
        prompt_key="reg.q.aid_received",
        label_key="reg.label.aid_received",
        options=AID_RECEIVED,
        none_option=Option("none", "received.none", ("belum", "belum pernah", "tidak", "none", "gak pernah")),
        subject=subject,
    ),
)

_PRECISION_BY_LENGTH = {10: "day", 7: "month", 4: "year"}


def birth_to_date(value: str) -> date:
    """A stored birth date of any precision as a date (the first day of its month or year)."""
    text = value.lstrip("~")
    return date.fromisoformat((text + "-01-01")[:10] if len(text) == 4 else (text + "-01")[:10])


def birth_precision(value: str) -> str:
    """How precise a stored birth date is: "day", "month", "year" or "age"."""
    return "age" if value.startswith("~") else _PRECISION_BY_LENGTH.get(len(value), "day")


def birth_answer(person: PersonRecord) -> str | None:
    """A person's birth date as a form answer, with its precision (the inverse of person_from_answers)."""
    born = person.birth_date
    if born is None:
        return None
    precision = person.birth_precision or "day"
    if precision == "month":
        return f"{born.year:04d}-{born.month:02d}"
    if precision == "year":
        return f"{born.year:04d}"
    if precision == "age":
        return f"~{born.year:04d}"
    return born.isoformat()


def person_from_answers(turn: Turn, answers: dict[str, Any]) -> PersonRecord:
    """The person record a registration describes."""
    location = answers.get("location") or {}
    born = answers.get("birth_date")
    return PersonRecord(
        registered_by=turn.contact.id,
        is_self=is_self(answers),
        full_name=answers["full_name"] or turn.t("common.no_name"),
        nik=Sealed.model_validate(answers["nik"]) if answers.get("nik") else None,
        birth_date=birth_to_date(born) if born else None,
        birth_precision=birth_precision(born) if born else None,
        sex=answers.get("sex"),
        phone=answers.get("phone"),
        kecamatan_code=answers.get("kecamatan"),
        kelurahan_code=answers.get("kelurahan"),
        address=answers.get("address"),
        latitude=location.get("lat"),
        longitude=location.get("lon"),
        household_size=answers.get("household_size"),
        skills=answers.get("skills") or [],
        disaster_victim=answers.get("disaster_victim"),
        documents=answers.get("documents") or [],
        aid_received=answers.get("aid_received") or [],
        agreed_by=agreed_by(answers),
        created_at=turn.now,
        updated_at=turn.now,
    )


class RegistrationForm(Form):
    """Register a person and open a registration case."""

    name = FLOW
    title_key = "reg.title"
    fields = FIELDS

    async def prefill(self, turn: Turn) -> dict[str, Any]:
        answers = await self_context(turn)
        last = next(iter(await registered_persons(turn)), None)
        if last is not None and last.kelurahan_code and last.kecamatan_code and last.address:
            answers["_last_place"] = {
                "name": last.full_name,
                "kecamatan": last.kecamatan_code,
                "kelurahan": last.kelurahan_code,
                "address": last.address,
            }
        return answers

    async def _advance(self, turn: Turn) -> None:
        # Whether a parent or guardian must be asked depends on the birth date given or read from the NIK.
        answers = turn.data["answers"]
        if is_minor(answers, turn.today()):
            answers["_minor"] = True
        else:
            answers.pop("_minor", None)
        await super()._advance(turn)

    async def submit(self, turn: Turn, answers: dict[str, Any]) -> None:
        person = person_from_answers(turn, answers)
        reference = await submit_case(
            turn,
            kind=CaseKind.REGISTRATION,
            subject_name=person.full_name,
            answers=answers,
            person=person,
        )
        turn.drafts.pop(FLOW, None)
        key = "reg.done.self" if person.is_self else "reg.done.other"
        days = turn.services.target_days.get(CaseKind.REGISTRATION, 3)
        menu.show(turn, intro=turn.t(key, name=person.full_name, reference=reference, days=days))


async def registered_persons(turn: Turn) -> list[PersonRecord]:
    """The persons this contact registered for others (a field worker's people), newest first.

    Lost-KTP and aid flows offer them, so a field worker never types a registered person's data again.
    """
    return await persons_registered_by(turn.db, turn.contact.id)


async def persons_registered_by(db: Any, contact_id: str) -> list[PersonRecord]:
    """Persons a contact registered for others (not themselves), newest first, erased ones left out."""
    persons = await repo.persons_of_contact(db, contact_id)
    return sorted((p for p in persons if not p.is_self), key=lambda p: p.id or 0, reverse=True)


def is_field_worker(persons: list[PersonRecord]) -> bool:
    """A contact who registered someone else is a field worker (pendamping) for the service."""
    return any(not person.is_self for person in persons)
