"""Data saya: see what is stored, get a copy, correct a field, delete a person, withdraw consent (UU PDP)."""

from datetime import datetime
from functools import partial
from typing import Any

from handlers import menu
from handlers.choices import STALE, Option, pick, render, yes_no_options
from handlers.forms import Form
from handlers.registration import FIELDS, birth_answer, person_from_answers
from handlers.turn import Turn
from handlers.types import Choice
from storage import contacts, repo
from storage.contract import Tx
from storage.records import CaseEventRecord, CaseRecord, Consent, PersonRecord

FLOW = "my_data"
EDIT_FLOW = "person_edit"

ACTIONS = (
    Option("edit", "mydata.edit", ("ubah", "ganti", "edit", "change", "perbaiki")),
    Option("delete", "mydata.delete", ("hapus", "delete", "hapus data")),
    Option("withdraw", "mydata.withdraw", ("tarik", "tarik persetujuan", "withdraw")),
    Option("menu", "mydata.back_to_menu", ("menu", "kembali")),
    Option("copy", "mydata.copy", ("salinan", "minta salinan", "copy", "kirim data", "unduh", "download")),
)
COPY_CHARS = 3500  # each message of the copy stays under the 4096 characters of WhatsApp and Telegram

EDITABLE = [f for f in FIELDS if f.name != "for_whom"]


def answers_from_person(person: PersonRecord) -> dict[str, Any]:
    """A stored person as form answers (the inverse of `person_from_answers`)."""
    location = (
        {"lat": person.latitude, "lon": person.longitude}
        if person.latitude is not None and person.longitude is not None
        else None
    )
    return {
        "for_whom": "self" if person.is_self else ("child" if person.agreed_by == "guardian" else "other"),
        "full_name": person.full_name,
        "nik": person.nik.model_dump() if person.nik else None,
        "birth_date": birth_answer(person),
        "sex": person.sex,
        "phone": person.phone,
        "kecamatan": person.kecamatan_code,
        "kelurahan": person.kelurahan_code,
        "address": person.address,
        "location": location,
        "household_size": person.household_size,
        "skills": person.skills,
        "disaster_victim": person.disaster_victim,
        "documents": person.documents,
        "aid_received": person.aid_received,
    }


async def start(turn: Turn) -> None:
    """Show the contact's persons, or the only one directly."""
    persons = await repo.persons_of_contact(turn.db, turn.contact.id)
    if not persons:
        menu.show(turn, intro=turn.t("mydata.none"))
        return
    if len(persons) == 1:
        assert persons[0].id is not None
        await _view(turn, persons[0])
        return
    turn.goto(FLOW, "pick", {"persons": [p.id for p in persons[:20]]})
    turn.say(
        turn.t("mydata.pick"),
        [Choice(f"person:{p.id}", p.full_name) for p in persons[:20]],
    )


async def resume(turn: Turn) -> None:
    """Show the current step again."""
    person_id = turn.data.get("person_id")
    person = await repo.get_person(turn.db, person_id) if person_id else None
    if turn.step in ("view", "delete", "withdraw") and person is not None:
        await _view(turn, person)
    else:
        await start(turn)


async def _view(turn: Turn, person: PersonRecord) -> None:
    turn.goto(FLOW, "view", {"person_id": person.id})
    lines = field_lines(turn, answers_from_person(person))
    turn.say(turn.t("mydata.view", lines="\n".join(lines)), render(turn, FLOW, ACTIONS))


def field_lines(turn: Turn, answers: dict[str, Any]) -> list[str]:
    """A person's stored answers as "label: value" lines (numbers masked)."""
    shown = [f for f in EDITABLE if f.applies(answers)]
    return [f"{turn.t(f.label_key)}: {f.show(turn, answers.get(f.name))}" for f in shown]


async def handle(turn: Turn) -> None:
    """One step of "data saya"."""
    if turn.step == "pick":
        await _on_pick(turn)
        return
    person = await repo.get_person(turn.db, int(turn.data.get("person_id", 0)))
    if person is None or person.deleted_at is not None:
        await start(turn)
        return
    if turn.step == "view":
        await _on_action(turn, person)
    elif turn.step == "edit_pick":
        await _on_edit_pick(turn, person)
    elif turn.step in ("delete", "withdraw"):
        await _on_confirm(turn, person)
    else:
        await _view(turn, person)


async def _on_pick(turn: Turn) -> None:
    ids: list[int] = turn.data.get("persons", [])
    chosen: int | None = None
    if turn.event.choice and turn.event.choice.startswith("person:"):
        chosen = int(turn.event.choice.removeprefix("person:"))
    elif turn.text.isdigit() and 0 < int(turn.text) <= len(ids):
        chosen = ids[int(turn.text) - 1]
    person = await repo.get_person(turn.db, chosen) if chosen in ids and chosen else None
    if person is None:
        turn.say(turn.t("err.choose", count=len(ids)))
        await start(turn)
        return
    await _view(turn, person)


async def _on_action(turn: Turn, person: PersonRecord) -> None:
    chosen = pick(turn, FLOW, ACTIONS)
    if chosen is STALE or chosen is None:
        turn.say(turn.t("err.choose", count=len(ACTIONS)))
        await _view(turn, person)
    elif chosen.key == "edit":
        turn.step = "edit_pick"
        answers = answers_from_person(person)
        turn.say(
            turn.t("form.edit_which"),
            [Choice(f"edit:{f.name}", turn.t(f.label_key)) for f in EDITABLE if f.applies(answers)],
        )
    elif chosen.key == "copy":
        for text in await data_copy(turn):
            turn.say(text)
        menu.show(turn, intro=turn.t("mydata.copy_done"))
    elif chosen.key in ("delete", "withdraw"):
        turn.step = chosen.key
        key = "mydata.delete_confirm" if chosen.key == "delete" else "mydata.withdraw_confirm"
        turn.say(turn.t(key, name=person.full_name), render(turn, "confirm", yes_no_options()))
    else:
        menu.show(turn)


async def _on_edit_pick(turn: Turn, person: PersonRecord) -> None:
    answers = answers_from_person(person)
    offered = [f for f in EDITABLE if f.applies(answers)]
    target = None
    if turn.event.choice and turn.event.choice.startswith("edit:"):
        name = turn.event.choice.removeprefix("edit:")
        target = next((f for f in offered if f.name == name), None)
    elif turn.text.isdigit() and 0 < int(turn.text) <= len(offered):
        target = offered[int(turn.text) - 1]
    if target is None:
        turn.say(turn.t("form.edit_range", count=len(offered)))
        turn.say(
            turn.t("form.edit_which"),
            [Choice(f"edit:{f.name}", turn.t(f.label_key)) for f in offered],
        )
        return
    await PERSON_EDIT.begin(turn, person, target.name)


async def _on_confirm(turn: Turn, person: PersonRecord) -> None:
    chosen = pick(turn, "confirm", yes_no_options())
    if chosen is STALE or chosen is None:
        turn.say(turn.t("err.choose", count=2))
        key = "mydata.delete_confirm" if turn.step == "delete" else "mydata.withdraw_confirm"
        turn.say(turn.t(key, name=person.full_name), render(turn, "confirm", yes_no_options()))
        return
    if chosen.key == "no":
        await _view(turn, person)
        return
    actor = f"contact:{turn.contact.id}"
    assert person.id is not None
    if turn.step == "delete":
        turn.write(partial(repo.erase_person, person_id=person.id, at=turn.now, actor=actor))
        menu.show(turn, intro=turn.t("mydata.deleted", name=person.full_name))
        return
    contact = turn.contact
    turn.write(partial(repo.erase_contact, contact_id=contact.id, at=turn.now, actor=actor))
    contact.consent = Consent.WITHDRAWN
    contact.display_name = None
    contact.phone = None
    turn.drafts.clear()
    turn.goto("consent", "withdrawn", {})
    turn.say(turn.t("mydata.withdrawn"))


class PersonEditForm(Form):
    """Ask one field again (and whatever depends on it), then save the corrected person."""

    name = EDIT_FLOW
    title_key = "mydata.edit_title"
    fields = EDITABLE
    with_summary = False

    async def start(self, turn: Turn, answers: dict[str, Any] | None = None) -> None:
        """Begin with `answers`; without them ("start over" after a pause) show the data again."""
        if answers is None:
            # A correction only makes sense for a chosen person and field: start over from the view.
            await start(turn)
            return
        await super().start(turn, answers)

    async def begin(self, turn: Turn, person: PersonRecord, field_name: str) -> None:
        """Start correcting `field_name` of `person`."""
        answers = answers_from_person(person)
        answers["_person_id"] = person.id
        answers["_created_at"] = person.created_at.isoformat()
        answers.pop(field_name, None)
        target = self.field(field_name)
        for cleared in target.clears if target else ():
            answers.pop(cleared, None)
        await self.start(turn, answers)

    async def submit(self, turn: Turn, answers: dict[str, Any]) -> None:
        person_id = int(answers["_person_id"])
        corrected = person_from_answers(turn, answers).model_copy(
            update={
                "id": person_id,
                "created_at": datetime.fromisoformat(answers["_created_at"]),
                "updated_at": turn.now,
            }
        )
        actor = f"contact:{turn.contact.id}"

        def save(tx: Tx) -> None:
            repo.update_person(tx, corrected)
            for case_id in contacts.case_ids_of_person(tx, person_id):
                repo.add_case_event(
                    tx,
                    CaseEventRecord(case_id=case_id, at=turn.now, actor=actor, action="data_corrected"),
                )

        turn.write(save)
        turn.say(turn.t("mydata.saved"))
        await _view(turn, corrected)


PERSON_EDIT = PersonEditForm()


async def data_copy(turn: Turn) -> list[str]:
    """A readable copy of everything stored about the contact and the people they registered (UU PDP
    Pasal 7), in messages that each fit one chat message. NIK and KK numbers are shown masked."""
    contact = turn.contact
    consent = await contacts.service_consent(turn.db, contact.id)
    header = [turn.t("mydata.copy_header", date=turn.today().strftime("%d-%m-%Y"))]
    if consent is not None:
        agreed = consent.at.astimezone(turn.services.timezone)
        version = consent.notice_version
        header.append(turn.t("mydata.copy_consent", date=agreed.strftime("%d-%m-%Y"), version=version))
    header.append(turn.t("mydata.copy_info_no" if contact.opted_out else "mydata.copy_info_yes"))
    if contact.phone:
        header.append(turn.t("mydata.copy_phone", phone=contact.phone))
    blocks = ["\n".join(header)]
    cases = await repo.cases_for_contact(turn.db, contact.id)
    for person in await repo.persons_of_contact(turn.db, contact.id):
        answers = answers_from_person(person)
        title = "mydata.copy_person_self" if person.is_self else "mydata.copy_person_other"
        lines = [turn.t(title, name=person.full_name)]
        lines += field_lines(turn, answers)
        lines += [_case_line(turn, case) for case in cases if case.person_id == person.id]
        blocks.append("\n".join(lines))
    others = [_case_line(turn, case) for case in cases if case.person_id is None]
    if others:
        blocks.append("\n".join([turn.t("mydata.copy_other_cases"), *others]))
    blocks.append(turn.t("mydata.copy_masked"))
    return _messages(blocks)


def _case_line(turn: Turn, case: CaseRecord) -> str:
    return turn.t(
        "mydata.copy_case",
        kind=turn.t(f"kind.{case.kind}"),
        reference=case.reference,
        status=turn.t(f"status.{case.status}"),
    )


def _messages(blocks: list[str]) -> list[str]:
    """Blocks joined into messages of at most COPY_CHARS characters (a block is never split)."""
    messages: list[str] = []
    for block in blocks:
        if messages and len(messages[-1]) + 2 + len(block) <= COPY_CHARS:
            messages[-1] += "\n\n" + block
        else:
            messages.append(block[:COPY_CHARS])
    return messages
