"""Report a lost, burned, damaged or stolen KTP so Dinsos can coordinate its replacement with Dukcapil."""

from typing import Any

from handlers import menu
from handlers.cases import self_context, submit_case
from handlers.choices import Option
from handlers.fields import (
    ChoiceField,
    IdNumberField,
    MultiChoiceField,
    NameField,
    PhotoField,
    place_fields,
)
from handlers.forms import Form
from handlers.person_pick import PersonPickField, registered_context
from handlers.turn import Turn
from storage.records import CaseKind

FLOW = "lost_ktp"


def owner(answers: dict[str, Any]) -> str | None:
    """None when the card is the contact's own, else the owner's name."""
    if answers.get("whose") == "self":
        return None
    return answers.get("owner_name")


def owner_to_ask(answers: dict[str, Any]) -> str | None:
    """Ask "your name" for one's own card, "the owner's name" otherwise (not known yet: empty)."""
    return None if answers.get("whose") == "self" else ""


def needs_owner_name(answers: dict[str, Any]) -> bool:
    """Ask the owner's name unless it is the contact's own card and they are registered."""
    return answers.get("whose") != "self" or not answers.get("_self_name")


FIELDS = (
    ChoiceField(
        "whose",
        prompt_key="ktp.q.whose",
        label_key="ktp.label.whose",
        options=(
            Option("self", "ktp.whose.self", ("saya", "punya saya", "milik saya", "mine", "my")),
            Option("family", "ktp.whose.family", ("keluarga", "anak", "istri", "suami", "family")),
            Option("other", "ktp.whose.other", ("dampingan", "orang lain", "warga", "other")),
        ),
    ),
    PersonPickField(
        "person",
        prompt_key="ktp.q.person",
        label_key="ktp.label.person",
        name_field="owner_name",
        other_values=("whose", "family", "other"),
        fills=("nik", "kk", "kecamatan", "kelurahan"),
    ),
    NameField(
        "owner_name",
        prompt_key="ktp.q.owner_name",
        label_key="ktp.label.owner_name",
        subject=owner_to_ask,
        when=needs_owner_name,
        help_key="help.full_name",
    ),
    ChoiceField(
        "what_happened",
        prompt_key="ktp.q.what_happened",
        label_key="ktp.label.what_happened",
        subject=owner,
        options=(
            Option("hilang", "ktp.what.hilang", ("hilang", "lost", "ilang")),
            Option("terbakar", "ktp.what.terbakar", ("terbakar", "kebakar", "kebakaran", "burned")),
            Option("rusak", "ktp.what.rusak", ("rusak", "patah", "damaged")),
            Option("dicuri", "ktp.what.dicuri", ("dicuri", "dicopet", "kecopetan", "stolen")),
        ),
    ),
    ChoiceField(
        "when",
        prompt_key="ktp.q.when",
        label_key="ktp.label.when",
        options=(
            Option("week", "ktp.when.week", ("minggu ini", "baru", "kemarin", "this week")),
            Option("month", "ktp.when.month", ("bulan ini", "this month")),
            Option("half_year", "ktp.when.half_year", ("beberapa bulan", "months ago")),
            Option("older", "ktp.when.older", ("lama", "tahun lalu", "long ago")),
            Option("unknown", "ktp.when.unknown", ("lupa", "tidak ingat", "don t remember")),
        ),
    ),
    IdNumberField(
        "nik",
        kind="nik",
        prompt_key="ktp.q.nik",
        label_key="reg.label.nik",
        subject=owner,
        help_key="help.nik",
    ),
    IdNumberField(
        "kk",
        kind="kk",
        prompt_key="ktp.q.kk",
        label_key="ktp.label.kk",
        subject=owner,
        help_key="help.kk",
    ),
    MultiChoiceField(
        "documents_left",
        prompt_key="ktp.q.documents_left",
        label_key="ktp.label.documents_left",
        options=(
            Option("kk_copy", "ktp.doc.kk_copy", ("kk", "fotokopi kk", "kartu keluarga")),
            Option("police", "ktp.doc.police", ("surat polisi", "surat kehilangan", "polisi")),
            Option("akta", "doc.akta", ("akta", "akte")),
            Option("other_id", "ktp.doc.other_id", ("sim", "kis", "bpjs", "ijazah")),
        ),
        none_option=Option("none", "doc.none", ("tidak ada", "hilang semua", "none")),
        subject=owner,
    ),
    *place_fields(prompt_key="ktp.q.kecamatan", subject=owner),
    PhotoField("photo", prompt_key="ktp.q.photo", label_key="ktp.label.photo", help_key="help.photo"),
)


class LostKtpForm(Form):
    """Collect what Dinsos needs to request a replacement KTP from Dukcapil."""

    name = FLOW
    title_key = "ktp.title"
    fields = FIELDS

    async def prefill(self, turn: Turn) -> dict[str, Any]:
        return {**await self_context(turn), **await registered_context(turn)}

    async def submit(self, turn: Turn, answers: dict[str, Any]) -> None:
        own = answers["whose"] == "self"
        subject_name = answers.get("owner_name") or answers.get("_self_name") or ""
        reference = await submit_case(
            turn,
            kind=CaseKind.LOST_KTP,
            subject_name=subject_name,
            answers=answers,
            person_id=answers.get("_self_id") if own else (answers.get("person") or {}).get("id"),
        )
        turn.drafts.pop(FLOW, None)
        keys = enumerate(next_steps(answers), start=1)
        steps = "\n".join(f"{number}. {turn.t(f'ktp.steps.{key}')}" for number, key in keys)
        menu.show(turn, intro=turn.t("ktp.done", reference=reference, steps=steps))


def next_steps(answers: dict[str, Any]) -> list[str]:
    """What the person does next, by what happened and what they still have (see docs/domain.md).

    Lost or stolen: a police loss letter. Damaged: bring the damaged card, no police letter. Burned: a
    kelurahan letter about the fire, and Dukcapil's special service for disaster victims. No KK at all:
    start from the RT/RW and kelurahan letters.
    """
    happened = answers.get("what_happened") or "hilang"
    documents = answers.get("documents_left") or []
    steps = ["check"]
    if happened in ("hilang", "dicuri"):
        steps.append("police_kept" if "police" in documents else happened)
    else:
        steps.append(happened)
    if happened == "terbakar":
        steps.append("disaster")
    has_kk = "kk_copy" in documents or bool(answers.get("kk"))
    steps.append("kk_copy" if has_kk else "no_kk")
    steps.append("dukcapil")
    return steps
