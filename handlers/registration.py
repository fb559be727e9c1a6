"""Registration of a household member, by themselves or by a field worker (pendamping)."""

from datetime import date
from typing import Any

from handlers import menu
from handlers.cases import self_context, submit_case
from handlers.choices import Option
from handlers.fields import (
    BirthDateField,
    ChoiceField,
    CountField,
    IdNumberField,
    LocationField,
    MultiChoiceField,
    NameField,
    PhoneField,
    TextField,
    YesNoField,
    place_fields,
)
from handlers.forms import Accept, Form, Outcome, Retry
from handlers.turn import Turn
from storage.crypto import Sealed
from storage.records import CaseKind, PersonRecord

FLOW = "registration"


def is_self(answers: dict[str, Any]) -> bool:
    """Whether the contact registers themselves."""
    return answers.get("for_whom") == "self"


def subject(answers: dict[str, Any]) -> str | None:
    """None when asking about "you", else the name of the person being registered."""
    return None if is_self(answers) else answers.get("full_name")


class ForWhomField(ChoiceField):
    """Myself or someone else; a contact registered already is sent to "Data saya" for changes."""

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        outcome = super().parse(turn, answers, sub)
        if isinstance(outcome, Accept) and outcome.value == "self" and answers.get("_self_name"):
            return Retry(turn.t("reg.already_registered", name=answers["_self_name"]))
        return outcome


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
            Option("self", "reg.for_self", ("saya", "diri sendiri", "sendiri", "myself", "me")),
            Option("other", "reg.for_other", ("orang lain", "keluarga", "someone else", "other")),
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
    ),
    BirthDateField(
        "birth_date",
        prompt_key="reg.q.birth_date",
        label_key="reg.label.birth_date",
        subject=subject,
        help_key="help.date",
    ),
    ChoiceField(
        "sex",
        prompt_key="reg.q.sex",
        label_key="reg.label.sex",
        subject=subject,
        options=(
            Option("L", "sex.male", ("l", "laki", "laki laki", "pria", "male", "man")),
            Option("P", "sex.female", ("p", "perempuan", "wanita", "female", "woman")),
        ),
    ),
    PhoneField(
        "phone",
        prompt_key="reg.q.phone",
        label_key="reg.label.phone",
        subject=subject,
        use_channel_phone=is_self,
        help_key="help.phone",
    ),
    *place_fields(prompt_key="reg.q.kecamatan", subject=subject),
    TextField(
        "address",
        prompt_key="reg.q.address",
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
        none_option=Option("none", "skill.none", ("tidak ada", "tidak punya", "none", "belum")),
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
        none_option=Option("none", "doc.none", ("tidak ada", "tidak punya", "none", "hilang")),
        subject=subject,
    ),
    MultiChoiceField(
        "aid_received",
        prompt_key="reg.q.aid_received",
        label_key="reg.label.aid_received",
        options=AID_RECEIVED,
        none_option=Option("none", "received.none", ("belum", "belum pernah", "tidak", "none")),
        subject=subject,
    ),
)


def person_from_answers(turn: Turn, answers: dict[str, Any]) -> PersonRecord:
    """The person record a registration describes."""
    location = answers.get("location") or {}
    return PersonRecord(
        registered_by=turn.contact.id,
        is_self=is_self(answers),
        full_name=answers["full_name"],
        nik=Sealed.model_validate(answers["nik"]) if answers.get("nik") else None,
        birth_date=date.fromisoformat(answers["birth_date"]),
        sex=answers["sex"],
        phone=answers.get("phone"),
        kecamatan_code=answers["kecamatan"],
        kelurahan_code=answers["kelurahan"],
        address=answers["address"],
        latitude=location.get("lat"),
        longitude=location.get("lon"),
        household_size=answers["household_size"],
        skills=answers.get("skills") or [],
        disaster_victim=answers.get("disaster_victim"),
        documents=answers.get("documents") or [],
        aid_received=answers.get("aid_received") or [],
        created_at=turn.now,
        updated_at=turn.now,
    )


class RegistrationForm(Form):
    """Register a person and open a registration case."""

    name = FLOW
    title_key = "reg.title"
    fields = FIELDS

    async def prefill(self, turn: Turn) -> dict[str, Any]:
        return await self_context(turn)

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
        menu.show(turn, intro=turn.t(key, name=person.full_name, reference=reference))
