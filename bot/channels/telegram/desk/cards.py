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
from handlers.aid import AidForm
from handlers.forms import Form
from handlers.lost_ktp import LostKtpForm
from handlers.registration import RegistrationForm
from handlers.staff.moves import may_move
from handlers.talk import TalkForm
from handlers.turn import Turn
from storage import cases as case_store
from storage.records import CaseKind, CaseRecord, CaseStatus

CALLBACK_PREFIX = "s:"

# Button action -> the status it moves a case to.
ACTIONS: dict[str, CaseStatus] = {
    "proses": CaseStatus.DIPROSES,
    "info": CaseStatus.PERLU_INFO,
    "setuju": CaseStatus.DISETUJUI,
    "tolak": CaseStatus.DITOLAK,
    "selesai": CaseStatus.SELESAI,
}

FORMS: dict[CaseKind, Form] = {
    CaseKind.REGISTRATION: RegistrationForm(),
    CaseKind.LOST_KTP: LostKtpForm(),
    CaseKind.AID: AidForm(),
    CaseKind.MESSAGE: TalkForm(),
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


def mask_phone(shown: str) -> str:
    """0812-3456-7890 -> 0812-****-7890: enough to recognise, not to dial."""
    digits = [i for i, ch in enumerate(shown) if ch.isdigit()]
    if len(digits) < 8:
        return shown
    hidden = set(digits[4:-4])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(shown))


def _file_label(kind: str) -> str:
    return {"photo": "photo", "voice": "voice", "audio": "voice"}.get(kind, "file")


class Cards:
    """Cards of cases and lines of lists, in the group's words."""

    def __init__(self, ctx: DeskContext) -> None:
        self.ctx = ctx

    def _turn(self) -> Turn:
        ctx = self.ctx
        return Turn.for_display(
            ctx.service.services, contact_id="telegram:staff", language=ctx.language, now=ctx.now()
        )

    def _place(self, case: CaseRecord) -> str:
        places = self.ctx.places
        try:
            kecamatan = places.kecamatan_by_code(case.kecamatan_code).name if case.kecamatan_code else None
            kelurahan = places.kelurahan_by_code(case.kelurahan_code).name if case.kelurahan_code else None
        except KeyError:
            kecamatan = kelurahan = None
        return " / ".join(name for name in (kecamatan, kelurahan) if name) or self.ctx.t("common.empty")

    def _answer_lines(self, case: CaseRecord) -> list[str]:
        form = FORMS.get(case.kind)
        if form is None:
            return []
        turn = self._turn()
        lines = []
        for field in form.fields:
            if not field.label_key or field.name in NOT_ON_CARD or field.name not in case.answers:
                continue
            try:
                if not field.applies(case.answers):
                    continue
                shown = field.show(turn, case.answers[field.name])
            except (KeyError, TypeError, ValueError):  # an erased or older answer shape
                continue
            if field.name == "phone":
                shown = mask_phone(shown)
            lines.append(f"{self.ctx.t(field.label_key)}: {shown}")
        return lines

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
