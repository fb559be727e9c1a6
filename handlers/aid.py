"""Request aid: the ATENSI groups (basic needs, social care, family support, therapy, assistive devices,
emergency, training and tools), schooling, other. An emergency shows Tangsel Siaga 112 at once."""

from typing import Any

from handlers import menu
from handlers.cases import self_context, submit_case
from handlers.choices import Option
from handlers.fields import (
    ChoiceField,
    CountField,
    DescriptionField,
    NameField,
    PhotoField,
    place_fields,
)
from handlers.forms import Accept, Form, Outcome
from handlers.person_pick import PersonPickField, registered_context
from handlers.registration import SKILLS
from handlers.turn import Turn
from storage.records import CaseKind

FLOW = "aid"


def beneficiary(answers: dict[str, Any]) -> str | None:
    """None when the aid is for the contact, else the beneficiary's name."""
    return None if answers.get("for_whom") == "self" else answers.get("beneficiary_name")


def needs_name(answers: dict[str, Any]) -> bool:
    """Ask a name unless the contact asks for themselves and is registered."""
    return answers.get("for_whom") != "self" or not answers.get("_self_name")


EMERGENCY_KIND = "emergency"
URGENT_TODAY = "today"


def is_emergency(answers: dict[str, Any]) -> bool:
    """Whether the request is marked as an emergency (by its kind or its urgency)."""
    return answers.get("aid_kind") == EMERGENCY_KIND or answers.get("urgency") == URGENT_TODAY


class EmergencyAwareField(ChoiceField):
    """A choice that, when it marks an emergency, shows Tangsel Siaga 112 before the next question."""

    def parse(self, turn: Turn, answers: dict[str, Any], sub: dict[str, Any]) -> Outcome:
        outcome = super().parse(turn, answers, sub)
        chosen = isinstance(outcome, Accept) and {**answers, self.name: outcome.value}
        if chosen and is_emergency(chosen) and not is_emergency(answers):
            turn.say(turn.t("aid.emergency_112"))
        return outcome


FIELDS = (
    ChoiceField(
        "for_whom",
        prompt_key="aid.q.for_whom",
        label_key="aid.label.for_whom",
        options=(
            Option("self", "aid.for_self", ("saya", "keluarga saya", "myself", "me")),
            Option("other", "aid.for_other", ("orang lain", "warga", "dampingan", "someone else")),
        ),
    ),
    PersonPickField(
        "person",
        prompt_key="aid.q.person",
        label_key="aid.label.person",
        name_field="beneficiary_name",
        other_values=("for_whom", "other"),
        fills=("kecamatan", "kelurahan"),
    ),
    NameField(
        "beneficiary_name",
        prompt_key="aid.q.name",
        label_key="aid.label.name",
        when=needs_name,
        help_key="help.full_name",
    ),
    EmergencyAwareField(
        "aid_kind",
        prompt_key="aid.q.kind",
        label_key="aid.label.kind",
        options=(
            Option("basic", "aid.kind.basic", ("sembako", "makanan", "pakaian", "food")),
            Option(
                "health",
                "aid.kind.health",
                ("sakit", "berobat", "kesehatan", "terapi", "rehabilitasi", "health", "therapy"),
            ),
            Option(EMERGENCY_KIND, "aid.kind.emergency", ("darurat", "kebakaran", "bencana", "emergency")),
            Option("training", "aid.kind.training", ("pelatihan", "kursus", "training")),
            Option("tools", "aid.kind.tools", ("alat", "modal", "usaha", "tools")),
            Option("school", "aid.kind.school", ("sekolah", "anak sekolah", "school")),
            # ATENSI (Permensos 7/2021): social care, family support and accessibility support.
            Option("care", "aid.kind.care", ("perawatan", "dirawat", "lansia", "disabilitas", "care")),
            Option("family", "aid.kind.family", ("dukungan keluarga", "keluarga", "konseling", "family")),
            Option(
                "assistive",
                "aid.kind.assistive",
                ("kursi roda", "tongkat", "alat bantu", "alat bantu dengar", "kaki palsu", "wheelchair"),
            ),
            Option("other", "aid.kind.other", ("lain", "lainnya", "other")),
        ),
    ),
    ChoiceField(
        "training_skill",
        prompt_key="aid.q.training_skill",
        label_key="aid.label.training_skill",
        options=SKILLS,
        when=lambda answers: answers.get("aid_kind") == "training",
    ),
    DescriptionField(
        "description",
        prompt_key="aid.q.description",
        label_key="aid.label.description",
        help_key="help.description",
    ),
    EmergencyAwareField(
        "urgency",
        prompt_key="aid.q.urgency",
        label_key="aid.label.urgency",
        options=(
            Option(URGENT_TODAY, "aid.urgency.today", ("hari ini", "sekarang", "mendesak", "today")),
            Option("week", "aid.urgency.week", ("minggu ini", "this week")),
            Option("later", "aid.urgency.later", ("bisa menunggu", "nanti", "later")),
        ),
    ),
    CountField(
        "people",
        prompt_key="aid.q.people",
        label_key="aid.label.people",
        low=1,
        high=500,
    ),
    *place_fields(prompt_key="aid.q.kecamatan", subject=beneficiary),
    PhotoField("photo", prompt_key="aid.q.photo", label_key="aid.label.photo", help_key="help.photo"),
)


class AidForm(Form):
    """Open an aid-request case."""

    name = FLOW
    title_key = "aid.title"
    fields = FIELDS

    async def start(self, turn: Turn, answers: dict[str, Any] | None = None) -> None:
        """Begin; a request that already says "darurat" shows Tangsel Siaga 112 before anything else."""
        if answers is not None and is_emergency(answers):
            turn.say(turn.t("aid.emergency_112"))
        await super().start(turn, answers)

    async def prefill(self, turn: Turn) -> dict[str, Any]:
        return {**await self_context(turn), **await registered_context(turn)}

    async def submit(self, turn: Turn, answers: dict[str, Any]) -> None:
        own = answers["for_whom"] == "self"
        reference = await submit_case(
            turn,
            kind=CaseKind.AID,
            subject_name=answers.get("beneficiary_name") or answers.get("_self_name") or "",
            answers=answers,
            person_id=answers.get("_self_id") if own else (answers.get("person") or {}).get("id"),
        )
        turn.drafts.pop(FLOW, None)
        done = turn.t("aid.done", reference=reference)
        if is_emergency(answers):
            done += "\n\n" + turn.t("aid.emergency_112")
        menu.show(turn, intro=done)
