"""Case cards: what staff need to decide and no more (cards go to Telegram's servers: NIK masked, phone
number masked, no map coordinates; the full record stays in the audited staff tools), with a button for
every move the case's status allows and for each of its files; and a case's line in a list."""

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.channels.telegram.desk.context import DeskContext, rows
from bot.channels.telegram.render import split_text
from handlers.staff.moves import may_move
from handlers.staff.present import Presenter, case_answers
from storage import cases as case_store
from storage.records import CaseRecord, CaseStatus

CALLBACK_PREFIX = "s:"

# Button action -> the status it moves a case to.
ACTIONS: dict[str, CaseStatus] = {
    "proses": CaseStatus.DIPROSES,
    "info": CaseStatus.PERLU_INFO,
    "setuju": CaseStatus.DISETUJUI,
    "tolak": CaseStatus.DITOLAK,
    "selesai": CaseStatus.SELESAI,
}

# Shown on the card's own lines (place) or never sent to Telegram (coordinates).
NOT_ON_CARD = {"kecamatan", "kelurahan", "location"}
MEDIA_NOTE = re.compile(r"^(photo|voice|audio|document|video|sticker):(.+)$")


@dataclass(frozen=True, slots=True)
class CaseFile:
    """A file attached to a case: from an answer, or from a reply to a staff question."""

    kind: str
    ref: str


def case_files(case: CaseRecord, events_notes: Sequence[str] = ()) -> list[CaseFile]:
    """The photos, voice notes and documents of a case, in the order they came."""
    files: list[CaseFile] = []
    for value in case.answers.values():
        if isinstance(value, dict):
            if isinstance(value.get("ref"), str):
                files.append(CaseFile(str(value.get("kind") or "photo"), value["ref"]))
            elif isinstance(value.get("voice"), str):
                files.append(CaseFile("voice", value["voice"]))
    for note in events_notes:
        match = MEDIA_NOTE.match(note or "")
        if match:
            files.append(CaseFile(match.group(1), match.group(2)))
    return files


def _file_label(kind: str) -> str:
    return {"photo": "photo", "voice": "voice", "audio": "voice"}.get(kind, "file")


class Cards:
    """Cards of cases and lines of lists, in the group's words."""

    def __init__(self, ctx: DeskContext) -> None:
        self.ctx = ctx

    def _place(self, case: CaseRecord) -> str:
        places = self.ctx.places
        try:
            kecamatan = places.kecamatan_by_code(case.kecamatan_code).name if case.kecamatan_code else None
            kelurahan = places.kelurahan_by_code(case.kelurahan_code).name if case.kelurahan_code else None
        except KeyError:
            kecamatan = kelurahan = None
        return " / ".join(name for name in (kecamatan, kelurahan) if name) or self.ctx.t("common.empty")

    def _answer_lines(self, case: CaseRecord) -> list[str]:
        ctx = self.ctx
        words = Presenter(ctx.catalog, ctx.language, ctx.places, ctx.now(), ctx.service.services.timezone)
        shown = case_answers(case, words, mask_phones=True, leave_out=NOT_ON_CARD)
        return [f"{answer.label}: {answer.text}" for answer in shown]

    async def card(
        self, case: CaseRecord, note: str | None = None
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        """The card of a case: text and buttons (the moves its status allows, and its files)."""
        t = self.ctx.t
        lines = self._answer_lines(case)
        if case.duplicate_of:
            lines.append(t("staff.duplicate", reference=case.duplicate_of))
        if case.info_question and case.status == CaseStatus.PERLU_INFO:
            lines.append(t("staff.asked", question=case.info_question))
        if note:
            lines.append(note)
        text = t(
            "staff.card",
            kind=t(f"kind.{case.kind}"),
            reference=case.reference,
            status=t(f"staff.status.{case.status}"),
            place=self._place(case),
            name=case.subject_name,
            lines="\n".join(lines),
        ).strip()
        return split_text(text)[0], await self._buttons(case)

    async def _buttons(self, case: CaseRecord) -> InlineKeyboardMarkup | None:
        assert case.id is not None
        t = self.ctx.t
        moves = [
            InlineKeyboardButton(
                t(f"staff.btn.{action}"), callback_data=f"{CALLBACK_PREFIX}{action}:{case.id}"
            )
            for action, status in ACTIONS.items()
            if may_move(case.status, status)
        ]
        layout = rows(moves)
        files = await self.files(case)
        file_buttons = [
            InlineKeyboardButton(
                t(f"staff.btn.{_file_label(item.kind)}", number=index + 1),
                callback_data=f"{CALLBACK_PREFIX}m:{case.id}:{index}",
            )
            for index, item in enumerate(files[:6])
        ]
        layout += rows(file_buttons, 3)
        return InlineKeyboardMarkup(layout) if layout else None

    async def files(self, case: CaseRecord) -> list[CaseFile]:
        """The files of a case, as its card numbers them."""
        assert case.id is not None
        return case_files(case, await case_store.answered_notes(self.ctx.db, case.id))

    async def edit_card(self, message_id: int | None, case: CaseRecord, note: str | None = None) -> None:
        """Show a posted card anew (its case moved on, or a button no longer applies)."""
        if message_id is None:
            return
        await self.ctx.edit(message_id, *(await self.card(case, note)), what="card")

    def line(self, case: CaseRecord) -> str:
        """A case in one line of the queue or of search results."""
        t = self.ctx.t
        kecamatan = t("common.empty")
        if case.kecamatan_code:
            with contextlib.suppress(KeyError):
                kecamatan = self.ctx.places.kecamatan_by_code(case.kecamatan_code).name
        return t(
            "staff.line",
            reference=case.reference,
            status=t(f"staff.status.{case.status}"),
            kecamatan=kecamatan,
            name=case.subject_name,
            date=self.ctx.short_time(case.created_at),
        )
