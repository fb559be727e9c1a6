"""Request aid: basic needs, health, emergency, training, tools or capital, schooling, other."""

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
from handlers.forms import Form
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
    ChoiceField(
        "aid_kind",
        prompt_key="aid.q.kind",
        label_key="aid.label.kind",
        options=(
            Option("basic", "aid.kind.basic", ("sembako", "makanan", "pakaian", "food")),
            Option("health", "aid.kind.health", ("sakit", "berobat", "kesehatan", "health")),
            Option("emergency", "aid.kind.emergency", ("darurat", "kebakaran", "emergency")),
            Option("training", "aid.kind.training", ("pelatihan", "kursus", "training")),
            Option("tools", "aid.kind.tools", ("alat", "modal", "usaha", "tools")),
            Option("school", "aid.kind.school", ("sekolah", "anak sekolah", "school")),
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
    ChoiceField(
        "urgency",
        prompt_key="aid.q.urgency",
        label_key="aid.label.urgency",
        options=(
            Option("today", "aid.urgency.today", ("hari ini", "sekarang", "mendesak", "today")),
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
        menu.show(turn, intro=turn.t("aid.done", reference=reference))
