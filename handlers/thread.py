"""Talking with staff: answers to staff questions, and everything else a citizen sends that no flow takes.

The router asks this module twice. First (`intercept`), before the flow sees the message: a message
that quotes one of ours (WhatsApp context, Telegram reply) goes to the case it was about, as the
answer when it quotes a staff question; otherwise a pending staff question takes the message only
when no other question is on screen (the contact is at the menu and did not pick a menu option).
With several questions waiting, the contact is asked which one (the message is kept in the newest
case's thread meanwhile, and moved once they say). Second (`forward`), when a message would
otherwise get "not understood": it lands in the thread of the case it belongs to (the open case
that asked, the one they were last told about, or a new "Pesan ke petugas" case), unread for staff,
and the contact hears it was passed on. Nothing a citizen sends is dropped.
"""

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from handlers import casework, intents, menu
from handlers.cases import self_person
from handlers.choices import match_text
from handlers.turn import Turn
from handlers.types import Choice
from storage import contacts, repo, threads
from storage.contract import Tx
from storage.records import CaseKind, CaseRecord
from storage.threads import OpenQuestion

FLOW = "thread"
CHOICE_PREFIX = f"{FLOW}:"
GREETINGS = frozenset(
    {
        "halo",
        "hallo",
        "hai",
        "hi",
        "hello",
        "p",
        "ping",
        "tes",
        "test",
        "pagi",
        "siang",
        "sore",
        "malam",
        "selamat pagi",
        "selamat siang",
        "selamat sore",
        "selamat malam",
        "assalamualaikum",
        "asalamualaikum",
        "ok",
        "oke",
        "makasih",
        "terima kasih",
        "thanks",
        "thank you",
    }
)
QUESTION_LABEL = 60


@dataclass(frozen=True, slots=True)
class Content:
    """What the citizen sent, as a thread line holds it."""

    kind: str
    body: str | None
    media_ref: str | None

    @property
    def note(self) -> str:
        """How an answer is noted on the case's trail (a file as "photo:<ref>")."""
        if self.media_ref is not None:
            return f"{self.kind}:{self.media_ref}"
        return (self.body or "")[:2000]


def content_of(turn: Turn) -> Content | None:
    """The message as thread content; None for a button, a shared phone number or an empty message."""
    event = turn.event
    if event.choice is not None or event.command is not None:
        return None
    if event.media is not None:
        return Content(event.media.kind, (event.media.caption or "").strip()[:2000] or None, event.media.ref)
    if event.location is not None:
        lat, lon = event.location
        return Content("location", f"{lat:.6f}, {lon:.6f}", None)
    text = (event.text or "").strip()
    return Content("text", text[:4000], None) if text else None


def _trivial(turn: Turn, content: Content) -> bool:
    """A greeting, a stray number or a word too short to be a message for staff."""
    if content.kind != "text":
        return False
    text = turn.text
    return len(text) < 4 or text.isdigit() or text in GREETINGS


# ---------------------------------------------------------------- before the flow


async def intercept(turn: Turn, *, busy: bool) -> bool:
    """Take the message when it answers a staff question or quotes a message about a case.

    `busy`: the contact's flow is waiting for an answer of its own (a form's question is on screen);
    then only a staff question sent after that question was shown is in front of them.
    Returns whether the message was handled here.
    """
    if turn.flow == FLOW:
        return False
    content = content_of(turn)
    if content is None or (turn.contact.awaiting_case_id is None and not turn.event.reply_to):
        return False  # no staff question waits (the contact's mark says so without a query)
    questions = await threads.open_questions(turn.db, turn.contact.id)
    if turn.event.reply_to:
        quoted = await threads.quoted(turn.db, turn.contact.id, turn.event.reply_to)
        if quoted is not None and quoted.origin != "reply":  # not a quote of the bot's own prompt
            asked = next((q for q in questions if q.id == quoted.question_id), None)
            if asked is not None:
                _answer(turn, asked, content)
            else:
                await _land(turn, content, quoted.case_id)
            return True
    if busy:
        # The flow's own question is on screen unless a staff question came after it; a bare number
        # is taken as an answer to the flow's question, never to staff.
        last = turn.last_activity
        fresh = last is None or not turn.text.isdigit()
        questions = [q for q in questions if fresh and last is not None and q.asked_at > last]
    if not questions or (turn.flow == menu.MENU_FLOW and _menu_choice(turn)):
        return False
    if len(questions) == 1:
        _answer(turn, questions[0], content)
    else:
        _ask_which(turn, questions, content)
    return True


def _menu_choice(turn: Turn) -> bool:
    """Whether the text picks a menu option (a menu number stays a menu number)."""
    return bool(turn.text) and match_text(turn, turn.text, menu.OPTIONS) is not None


def _answer(turn: Turn, question: OpenQuestion, content: Content) -> None:
    turn.write(
        partial(
            _write_answer,
            contact_id=turn.contact.id,
            question=question,
            content=content,
            at=turn.now,
        )
    )
    turn.contact.awaiting_case_id = None
    turn.say(turn.t("info.thanks", reference=question.reference))


def _write_answer(
    tx: sqlite3.Connection, *, contact_id: str, question: OpenQuestion, content: Content, at: datetime
) -> None:
    # `sqlite3.Connection` until `casework.attach_info_answer` takes a `Tx`.
    threads.add_inbound(
        tx,
        case_id=question.case_id,
        contact_id=contact_id,
        kind=content.kind,
        body=content.body,
        media_ref=content.media_ref,
        at=at,
        question_id=question.id,
    )
    casework.attach_info_answer(
        tx,
        contact_id=contact_id,
        case_id=question.case_id,
        note=content.note,
        at=at,
        question_id=question.id,
    )


# ---------------------------------------------------------------- several questions: which one?


def _keep_with_newest(turn: Turn, questions: list[OpenQuestion], content: Content) -> dict[str, Any]:
    """Keep the message in the newest case's thread until the contact says which question it answers;
    the line to move once they do."""
    keep = questions[-1]
    turn.write(
        partial(
            threads.add_inbound,
            case_id=keep.case_id,
            contact_id=turn.contact.id,
            kind=content.kind,
            body=content.body,
            media_ref=content.media_ref,
            at=turn.now,
        )
    )
    return {"at": turn.now.isoformat(), "case": keep.case_id, "note": content.note}


def _ask_which(turn: Turn, questions: list[OpenQuestion], content: Content) -> None:
    lines = [_keep_with_newest(turn, questions, content)]
    turn.goto(FLOW, "which", {"questions": [q.id for q in questions], "lines": lines})
    _show_which(turn, questions)


def _show_which(turn: Turn, questions: list[OpenQuestion], *, again: bool = False) -> None:
    choices = [Choice(f"{CHOICE_PREFIX}{q.id}", _label(f"{q.reference}: {q.question}")) for q in questions]
    turn.say(turn.t("info.which_again" if again else "info.which"), choices)


def _label(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUESTION_LABEL else text[: QUESTION_LABEL - 1] + "…"


async def _waiting(turn: Turn) -> list[OpenQuestion]:
    wanted = set(turn.data.get("questions", []))
    return [q for q in await threads.open_questions(turn.db, turn.contact.id) if q.id in wanted]


async def start(turn: Turn) -> None:
    """Not started from the menu; resuming shows the question again."""
    await resume(turn)


async def resume(turn: Turn) -> None:
    """Ask again which question the kept message answers."""
    questions = await _waiting(turn)
    if not questions:
        menu.show(turn)
        return
    _show_which(turn, questions)


async def handle(turn: Turn) -> None:
    """The contact says which question their message answers (or sends more)."""
    questions = await _waiting(turn)
    if not questions:  # answered or withdrawn meanwhile: the message stays where it was kept
        menu.show(turn)
        return
    chosen = _chosen(turn, questions)
    if chosen is None:
        content = content_of(turn)
        if content is not None and not _trivial(turn, content):
            # More words for staff: keep them with the first, to be placed with it.
            line = _keep_with_newest(turn, questions, content)
            turn.data = {**turn.data, "lines": [*turn.data.get("lines", []), line]}
        _show_which(turn, questions, again=True)
        return
    turn.write(
        partial(
            _place_kept,
            contact_id=turn.contact.id,
            question=chosen,
            lines=list(turn.data.get("lines", [])),
            at=turn.now,
        )
    )
    turn.goto(menu.MENU_FLOW, "main", {})
    turn.say(turn.t("info.thanks", reference=chosen.reference))


def _chosen(turn: Turn, questions: list[OpenQuestion]) -> OpenQuestion | None:
    choice = turn.event.choice
    if choice is not None and choice.startswith(CHOICE_PREFIX):
        key = choice.removeprefix(CHOICE_PREFIX)
        return next((q for q in questions if str(q.id) == key), None)
    if turn.text.isdigit() and 1 <= int(turn.text) <= len(questions):
        return questions[int(turn.text) - 1]
    return None


def _place_kept(
    tx: sqlite3.Connection,  # until `casework.attach_info_answer` takes a `Tx`
    *,
    contact_id: str,
    question: OpenQuestion,
    lines: list[dict[str, Any]],
    at: datetime,
) -> None:
    author = f"contact:{contact_id}"
    for kept in lines:
        line = contacts.line_written_at(tx, int(kept["case"]), author, datetime.fromisoformat(kept["at"]))
        if line is not None:
            threads.move_line(tx, line, question.case_id, question.id)
    note = "\n".join(str(kept["note"]) for kept in lines)
    casework.attach_info_answer(
        tx, contact_id=contact_id, case_id=question.case_id, note=note, at=at, question_id=question.id
    )


# ---------------------------------------------------------------- what no flow takes


async def forward(turn: Turn) -> bool:
    """Pass a message no flow understood to staff; False when it is not one for staff (a greeting)."""
    content = content_of(turn)
    if content is None or _trivial(turn, content):
        return False
    return await _land(turn, content, None, open_new=_substantial(turn, content))


async def forward_beyond_greeting(turn: Turn) -> bool:
    """Pass on a message that greets and says more ("malam pak, rumah saya kebanjiran"); False for a
    plain greeting, which the menu answers."""
    greeting = {
        word for phrase in (*GREETINGS, *intents.KEYWORDS[intents.GREETING]) for word in phrase.split()
    }
    said = [word for word in turn.text.split() if word not in intents.FILLER and word not in greeting]
    if len(said) < 2:
        return False
    return await forward(turn)


def _substantial(turn: Turn, content: Content) -> bool:
    """Enough to open a new case for staff: a file, a place, or a sentence (not a word or two)."""
    return content.kind != "text" or len(turn.text.split()) >= 3 or len(turn.text) >= 20


async def _land(turn: Turn, content: Content, case_id: int | None, *, open_new: bool = True) -> bool:
    """Put the message in a case's thread (a new "Pesan ke petugas" case when none fits and `open_new`)."""
    reference = None
    if case_id is not None:
        reference = await threads.case_reference(turn.db, case_id)
    if reference is None:
        questions = await threads.open_questions(turn.db, turn.contact.id)
        if questions:
            case_id, reference = questions[-1].case_id, questions[-1].reference
        elif (latest := await threads.latest_case(turn.db, turn.contact.id)) is not None:
            case_id, reference = latest
    if case_id is not None and reference is not None:
        turn.write(
            partial(
                threads.add_inbound,
                case_id=case_id,
                contact_id=turn.contact.id,
                kind=content.kind,
                body=content.body,
                media_ref=content.media_ref,
                at=turn.now,
            )
        )
    elif open_new:
        reference = await _new_message_case(turn, content)
    else:
        return False
    turn.say(turn.t("info.forwarded", reference=reference))
    return True


async def _new_message_case(turn: Turn, content: Content) -> str:
    """A new "Pesan ke petugas" case holding the message as its first line."""
    reference = await turn.allocate_reference(CaseKind.MESSAGE)
    me = await self_person(turn)
    message: dict[str, Any] = {"text": content.body or ""}
    if content.media_ref is not None and content.kind in ("voice", "audio"):
        message = {"voice": content.media_ref}
    case = CaseRecord(
        reference=reference,
        kind=CaseKind.MESSAGE,
        person_id=me.id if me else None,
        contact_id=turn.contact.id,
        subject_name=(me.full_name if me else turn.contact.display_name) or "-",
        answers={"message": message},
        created_at=turn.now,
        updated_at=turn.now,
    )
    turn.write(partial(_create_with_line, case=case, content=content))
    return reference


def _create_with_line(tx: Tx, *, case: CaseRecord, content: Content) -> None:
    case_id = repo.insert_case(tx, case, f"contact:{case.contact_id}")
    threads.add_inbound(
        tx,
        case_id=case_id,
        contact_id=case.contact_id,
        kind=content.kind,
        body=content.body,
        media_ref=content.media_ref,
        at=case.created_at,
    )


def first_line(tx: Tx, *, reference: str, contact_id: str, message: Any, at: datetime) -> None:
    """The message of a "Pesan ke petugas" form, as the first line of its case's thread."""
    case_id = contacts.case_id_of(tx, reference)
    if case_id is None:
        return
    if isinstance(message, dict) and isinstance(message.get("voice"), str):
        kind, body, ref = "voice", None, message["voice"]
    else:
        text = message.get("text") if isinstance(message, dict) else message
        kind, body, ref = "text", str(text or ""), None
    threads.add_inbound(
        tx, case_id=case_id, contact_id=contact_id, kind=kind, body=body, media_ref=ref, at=at
    )
