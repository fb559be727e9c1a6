"""The staff group on Telegram: new-case cards with buttons, and the commands /antrian, /kasus, /cari.

A reply to a case card (or to a citizen's message the bot posted in the group) is a free-text message
to the citizen (`bot.replies.reply_to_citizen`, as from the dashboard and the CLI). New citizen messages
in a case's thread are posted in the group, and sent directly to the case's officer when their staff
account is linked to their Telegram user (`python -m bot staff link-telegram`).

Cards are posted by a background task that looks for cases newer than the last one it posted (kept in
`channel_state`, so a restart does not post them again). Buttons move a case through
`handlers.casework.change_status`, which queues the citizen's message in the outbox. "Tolak" and "Perlu
info" first ask the staff member, in the group, for the reason or the question: the answer is a reply to
the bot's prompt. Only staff listed in the settings may act (admin, petugas) or read (viewer too); anyone
else is refused, and the attempt is written to the audit log. Broadcasts and reminders (/siaran,
/pengingat) are composed in `outreach.py`; this desk routes their commands, replies and buttons there.

Cards go to Telegram's servers, so they carry what staff need to decide and no more: NIK masked, phone
number masked, no map coordinates. The full record stays in the audited staff tools.
"""

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from telegram import (
    Bot,
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    MessageEntity,
    ReplyParameters,
    User,
)
from telegram.error import BadRequest, TelegramError, TimedOut

from bot.app import Service
from bot.channels.telegram.inbound import TELEGRAM_FILE_PREFIX, parse_command
from bot.channels.telegram.outreach import CALLBACK_PREFIX as OUTREACH_PREFIX
from bot.channels.telegram.outreach import COMMANDS as OUTREACH_COMMANDS
from bot.channels.telegram.outreach import OutreachDesk
from bot.channels.telegram.render import split_text
from bot.channels.telegram.sender import TelegramChannel, dumps
from bot.media import MediaStore
from bot.replicas import STAFF_POSTER
from bot.replies import reply_to_citizen
from handlers.aid import AidForm
from handlers.casework import CaseworkError, change_status
from handlers.forms import Form
from handlers.lost_ktp import LostKtpForm
from handlers.registration import RegistrationForm
from handlers.staff.errors import CODES, StaffError
from handlers.staff.present import Presenter, case_answers
from handlers.staff.queue import QueueQuery, case_queue
from handlers.talk import TalkForm
from storage import cases as case_store
from storage import desk, repo
from storage.cases import CaseSearch
from storage.contract import Tx
from storage.records import ALLOWED_TRANSITIONS, CaseKind, CaseRecord, CaseStatus

log = logging.getLogger(__name__)

ACTING_ROLES = frozenset({"admin", "petugas"})
ROLES = ACTING_ROLES | {"viewer"}
CARD_STATE = "telegram.staff.card."  # + message id -> the case it is about (a reply goes to its citizen)
PROMPT_STATE = "telegram.staff.prompt."
PROMPT_TTL = timedelta(hours=24)
CALLBACK_PREFIX = "s:"
COMMANDS = ("antrian", "kasus", "cari", "bantuan", "help", *OUTREACH_COMMANDS)
QUEUE_LIMIT = 20
SEARCH_LIMIT = 10

# Button action -> the status it moves a case to.
ACTIONS: dict[str, CaseStatus] = {
    "proses": CaseStatus.DIPROSES,
    "info": CaseStatus.PERLU_INFO,
    "setuju": CaseStatus.DISETUJUI,
    "tolak": CaseStatus.DITOLAK,
    "selesai": CaseStatus.SELESAI,
}
NEEDS_NOTE = {"info", "tolak"}

FORMS: dict[CaseKind, Form] = {
    CaseKind.REGISTRATION: RegistrationForm(),
    CaseKind.LOST_KTP: LostKtpForm(),
    CaseKind.AID: AidForm(),
    CaseKind.MESSAGE: TalkForm(),
}
# Shown on the card's own lines (place) or never sent to Telegram (coordinates).
NOT_ON_CARD = {"kecamatan", "kelurahan", "location"}

KIND_WORDS: dict[str, CaseKind] = {
    "registration": CaseKind.REGISTRATION,
    "pendaftaran": CaseKind.REGISTRATION,
    "daftar": CaseKind.REGISTRATION,
    "reg": CaseKind.REGISTRATION,
    "lost_ktp": CaseKind.LOST_KTP,
    "ktp": CaseKind.LOST_KTP,
    "aid": CaseKind.AID,
    "bantuan": CaseKind.AID,
    "ban": CaseKind.AID,
    "message": CaseKind.MESSAGE,
    "pesan": CaseKind.MESSAGE,
    "psn": CaseKind.MESSAGE,
}
STATUS_WORDS: dict[str, tuple[CaseStatus, ...]] = {
    **{status.value: (status,) for status in CaseStatus},
    "perlu": (CaseStatus.PERLU_INFO,),
    "info": (CaseStatus.PERLU_INFO,),
    "semua": tuple(CaseStatus),
    "all": tuple(CaseStatus),
}
OPEN_STATUSES = (CaseStatus.BARU, CaseStatus.DIPROSES, CaseStatus.PERLU_INFO)
MEDIA_NOTE = re.compile(r"^(photo|voice|audio|document|video|sticker):(.+)$")


def parse_roles(spec: str) -> dict[int, str]:
    """Staff roles from "user_id:role,user_id:role" (roles: admin, petugas, viewer)."""
    roles: dict[int, str] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        raw_id, _, role = item.partition(":")
        role = role.strip().lower()
        if not raw_id.strip().lstrip("-").isdigit() or role not in ROLES:
            raise ValueError(f"staff entry {item!r} is not 'telegram_user_id:admin|petugas|viewer'")
        roles[int(raw_id)] = role
    return roles


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


def _remember_card(tx: Tx, *, message_id: int, case_id: int) -> None:
    desk.remember(tx, f"{CARD_STATE}{message_id}", str(case_id))


class StaffDesk:
    """Everything the bot does in the staff group."""

    def __init__(
        self,
        *,
        bot: Bot,
        channel: TelegramChannel,
        service: Service,
        chat_id: int,
        roles: dict[int, str],
        poll_seconds: float,
        media: MediaStore,
    ) -> None:
        self.bot = bot
        self.channel = channel
        self.service = service
        self.db = service.db
        self.catalog = service.services.catalog
        self.places = service.services.places
        self.chat_id = chat_id
        self.roles = roles
        self.poll_seconds = poll_seconds
        self.media = media
        self.language = service.settings.service.default_language
        self.outreach = OutreachDesk(self, acting=ACTING_ROLES)  # /siaran and /pengingat

    # ------------------------------------------------------------ small helpers

    def t(self, key: str, **params: object) -> str:
        """A staff-facing catalog sentence."""
        return self.catalog.text(self.language, key, **params)

    def error_words(self, error: StaffError) -> str:
        """A staff-service error in the group's words (its code; never the English message)."""
        code = error.code if error.code in CODES else "refused"
        try:
            return self.t(f"staff.error.{code}", **error.params)
        except KeyError:
            return self.t("staff.error.refused")

    def now(self) -> datetime:
        """The service clock."""
        return self.service.engine.clock()

    def role(self, user: User | None) -> str | None:
        """The staff role of a Telegram user (None: not staff)."""
        return None if user is None else self.roles.get(user.id)

    @staticmethod
    def actor(user: User) -> str:
        """How a staff member is named in case events and the audit log."""
        return f"telegram:{user.id}"

    async def _say(self, text: str, *, reply_to: int | None = None, markup: Any = None) -> Message | None:
        """Post to the staff group (paced as a group); None when it did not go through."""
        parameters = _replying(reply_to)
        message: Message | None = None
        for part in split_text(text):
            try:
                message = await self.channel.call(
                    partial(
                        self.bot.send_message,
                        self.chat_id,
                        part,
                        reply_markup=markup,
                        reply_parameters=parameters,
                    ),
                    chat_id=self.chat_id,
                    group=True,
                )
            except TelegramError as error:
                log.warning("could not post to the staff group: %s", type(error).__name__)
                return None
        return message

    async def _answer(self, query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
        try:
            await self.bot.answer_callback_query(query.id, text=text, show_alert=alert)
        except TelegramError as error:  # an old or repeated query: nothing to do
            log.debug("callback answer failed: %s", type(error).__name__)

    async def _audit_refusal(self, user: User | None, target: str, detail: str) -> None:
        actor = f"telegram:{user.id}" if user else "telegram:unknown"
        await self.db.write(
            partial(
                repo.audit,
                actor=actor,
                action="telegram.refused",
                at=self.now(),
                target=target,
                detail=detail,
            )
        )

    async def _first_time(self, event_id: str) -> bool:
        """Record an update of the staff group; False when it was handled before (a redelivery)."""
        return bool(
            await self.db.write(
                partial(repo.record_inbound, event_id=event_id, contact_id="telegram:staff", at=self.now())
            )
        )

    # ------------------------------------------------------------ the card

    def _place(self, case: CaseRecord) -> str:
        try:
            kecamatan = (
                self.places.kecamatan_by_code(case.kecamatan_code).name if case.kecamatan_code else None
            )
            kelurahan = (
                self.places.kelurahan_by_code(case.kelurahan_code).name if case.kelurahan_code else None
            )
        except KeyError:
            kecamatan = kelurahan = None
        return " / ".join(name for name in (kecamatan, kelurahan) if name) or self.t("common.empty")

    def _answer_lines(self, case: CaseRecord) -> list[str]:
        words = Presenter(
            self.catalog, self.language, self.places, self.now(), self.service.services.timezone
        )
        shown = case_answers(case, words, mask_phones=True, leave_out=NOT_ON_CARD)
        return [f"{answer.label}: {answer.text}" for answer in shown]

    async def card(
        self, case: CaseRecord, note: str | None = None
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        """The card of a case: text and buttons (the moves its status allows, and its files)."""
        lines = self._answer_lines(case)
        if case.duplicate_of:
            lines.append(self.t("staff.duplicate", reference=case.duplicate_of))
        if case.info_question and case.status == CaseStatus.PERLU_INFO:
            lines.append(self.t("staff.asked", question=case.info_question))
        if note:
            lines.append(note)
        text = self.t(
            "staff.card",
            kind=self.t(f"kind.{case.kind}"),
            reference=case.reference,
            status=self.t(f"staff.status.{case.status}"),
            place=self._place(case),
            name=case.subject_name,
            lines="\n".join(lines),
        ).strip()
        return split_text(text)[0], await self._buttons(case)

    async def _buttons(self, case: CaseRecord) -> InlineKeyboardMarkup | None:
        assert case.id is not None
        allowed = ALLOWED_TRANSITIONS[case.status]
        moves = [
            InlineKeyboardButton(
                self.t(f"staff.btn.{action}"), callback_data=f"{CALLBACK_PREFIX}{action}:{case.id}"
            )
            for action, status in ACTIONS.items()
            if status in allowed
        ]
        rows = [moves[i : i + 2] for i in range(0, len(moves), 2)]
        files = await self._files(case)
        file_buttons = [
            InlineKeyboardButton(
                self.t(f"staff.btn.{_file_label(item.kind)}", number=index + 1),
                callback_data=f"{CALLBACK_PREFIX}m:{case.id}:{index}",
            )
            for index, item in enumerate(files[:6])
        ]
        rows += [file_buttons[i : i + 3] for i in range(0, len(file_buttons), 3)]
        return InlineKeyboardMarkup(rows) if rows else None

    async def _files(self, case: CaseRecord) -> list[CaseFile]:
        assert case.id is not None
        return case_files(case, await case_store.answered_notes(self.db, case.id))

    # ------------------------------------------------------------ posting new cases

    async def run_poster(self) -> None:
        """Post a card for every new case and every new citizen message, until cancelled."""
        last = await self.db.write(desk.last_posted_case)
        last_line = await self.db.write(desk.last_posted_line)
        while True:
            # With several processes on one store, one of them posts (each card once), from where the
            # store says the last poster stopped.
            await self.service.wait_for_role(STAFF_POSTER)
            if self.db.dialect != "sqlite":
                last = await self.db.write(desk.last_posted_case)
                last_line = await self.db.write(desk.last_posted_line)
            try:
                last = await self.post_new_cases(last)
                last_line = await self.post_new_lines(last_line)
            except Exception:  # the poster must outlive a bad round (it retries at the next)
                log.exception("posting new-case cards failed")
            await asyncio.sleep(self.poll_seconds)

    async def post_new_cases(self, last: int) -> int:
        """Post cards for cases after `last`; return the last case id posted."""
        for case in await case_store.cases_after(self.db, last):
            assert case.id is not None
            text, markup = await self.card(case)
            posted: Message | None = None
            try:
                posted = await self.channel.call(
                    partial(self.bot.send_message, self.chat_id, text, reply_markup=markup),
                    chat_id=self.chat_id,
                    group=True,
                )
            except TimedOut:
                pass  # it may be in the group already: never post a card twice
            except TelegramError as error:
                log.warning("new-case card not posted (%s); will try again", type(error).__name__)
                return last
            last = case.id
            await self.db.write(partial(desk.remember, name=desk.LAST_POSTED, value=str(last)))
            if posted is not None:
                await self.db.write(partial(_remember_card, message_id=posted.message_id, case_id=case.id))
        return last

    async def post_new_lines(self, last: int) -> int:
        """Post citizens' new thread messages in the group (and to the case's officer); return the last id."""
        for line in await case_store.citizen_lines_after(self.db, last):
            words = line.body or self.t("staff.citizen_sent_file", kind=line.kind)
            if line.body and line.kind not in ("text", "answer", "location"):
                words = f"{self.t('staff.citizen_sent_file', kind=line.kind)} {words}"
            text = self.t("staff.citizen_wrote", reference=line.reference, name=line.subject_name, text=words)
            posted = await self._say(text)
            if posted is None:
                return last  # tried again at the next round
            last = line.id
            await self.db.write(partial(_remember_card, message_id=posted.message_id, case_id=line.case_id))
            await self.db.write(partial(desk.remember, name=desk.LAST_LINE, value=str(last)))
            if line.officer_telegram_id is not None:
                await self._tell_officer(line.officer_telegram_id, line.reference, line.subject_name, words)
        return last

    async def _tell_officer(self, user_id: int, reference: str, name: str, words: str) -> None:
        """A direct message to the officer of the case (they must have started a chat with the bot)."""
        text = split_text(self.t("staff.direct_notice", reference=reference, name=name, text=words))[0]
        try:
            await self.channel.call(partial(self.bot.send_message, user_id, text), chat_id=user_id)
        except TelegramError as error:
            log.warning("could not tell the case's officer directly: %s", type(error).__name__)

    # ------------------------------------------------------------ buttons

    async def on_callback(self, query: CallbackQuery, event_id: str) -> None:
        """A button of a card was pressed."""
        user = query.from_user
        if (query.data or "").startswith(OUTREACH_PREFIX):
            await self.outreach.on_callback(query, event_id)
            return
        parts = (query.data or "").removeprefix(CALLBACK_PREFIX).split(":")
        role = self.role(user)
        if parts[0] == "m" and len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            if role is None:
                await self._answer(query, self.t("staff.refused"), alert=True)
                await self._audit_refusal(user, f"case:{parts[1]}", "open file")
                return
            await self._open_file(query, int(parts[1]), int(parts[2]))
            return
        if len(parts) != 2 or parts[0] not in ACTIONS or not parts[1].isdigit():
            await self._answer(query, self.t("tg.button_old"))
            return
        action, case_id = parts[0], int(parts[1])
        case = await repo.get_case_by_id(self.db, case_id)
        target = case.reference if case else f"case:{case_id}"
        if role not in ACTING_ROLES:
            key = "staff.refused_viewer" if role else "staff.refused"
            await self._answer(query, self.t(key), alert=True)
            await self._audit_refusal(user, target, f"button {action}")
            return
        if case is None:
            await self._answer(query, self.t("staff.not_found", reference=target))
            return
        if ACTIONS[action] not in ALLOWED_TRANSITIONS[case.status]:
            await self._answer(
                query,
                self.t(
                    "staff.cannot", reference=case.reference, status=self.t(f"staff.status.{case.status}")
                ),
            )
            await self._refresh(query, case)
            return
        if action in NEEDS_NOTE:
            await self._ask_note(query, user, case, action, event_id)
            return
        await self._move(
            query, user, case, action, note=None, event_id=event_id, card_message=self._message_id(query)
        )

    @staticmethod
    def _message_id(query: CallbackQuery) -> int | None:
        message = query.message
        return message.message_id if message is not None else None

    async def _move(
        self,
        query: CallbackQuery | None,
        user: User,
        case: CaseRecord,
        action: str,
        *,
        note: str | None,
        event_id: str,
        card_message: int | None,
        prompt: int | None = None,
    ) -> bool:
        """Change the case's status (recording the update in the same transaction); report in the group."""
        to_status = ACTIONS[action]
        now = self.now()

        def apply(conn: Tx) -> Any:
            if not repo.record_inbound(conn, event_id, "telegram:staff", now):
                return None
            result = change_status(
                conn,
                catalog=self.catalog,
                reference=case.reference,
                to_status=to_status,
                actor=self.actor(user),
                note=note,
                at=now,
            )
            if prompt is not None:
                desk.forget(conn, f"{PROMPT_STATE}{prompt}")
            return result

        try:
            result = await self.db.write(apply)
        except CaseworkError:
            fresh = await repo.get_case_by_id(self.db, case.id or 0)
            status = self.t(f"staff.status.{fresh.status if fresh else case.status}")
            text = self.t("staff.cannot", reference=case.reference, status=status)
            if query is not None:
                await self._answer(query, text, alert=True)
            else:
                await self._say(text, reply_to=prompt)
            return False
        if result is None:  # a redelivered update
            if query is not None:
                await self._answer(query)
            return False
        self.service.dispatcher.wake()  # the citizen's message is queued: send it now
        status = self.t(f"staff.status.{to_status}")
        key = "staff.done" if result.citizen_notified else "staff.done_silent"
        done = self.t(key, reference=case.reference, status=status)
        if query is not None:
            await self._answer(query, done)
        else:
            await self._say(done, reply_to=prompt)
        fresh = await repo.get_case_by_id(self.db, case.id or 0)
        if fresh is not None and card_message is not None:
            by = self.t("staff.changed_by", status=status, name=user.full_name, time=self._local(now))
            await self._edit_card(card_message, fresh, by)
        return True

    def _local(self, at: datetime) -> str:
        return at.astimezone(self.service.services.timezone).strftime("%d-%m %H:%M")

    async def _refresh(self, query: CallbackQuery, case: CaseRecord) -> None:
        message_id = self._message_id(query)
        if message_id is not None:
            await self._edit_card(message_id, case)

    async def _edit_card(self, message_id: int, case: CaseRecord, note: str | None = None) -> None:
        text, markup = await self.card(case, note)
        try:
            await self.channel.call(
                partial(
                    self.bot.edit_message_text,
                    text,
                    chat_id=self.chat_id,
                    message_id=message_id,
                    reply_markup=markup,
                ),
                chat_id=self.chat_id,
                group=True,
            )
        except BadRequest as error:  # "message is not modified", or too old to edit
            log.debug("card not edited: %s", error.message)
        except TelegramError as error:
            log.warning("card not edited: %s", type(error).__name__)

    async def _ask_note(
        self, query: CallbackQuery, user: User, case: CaseRecord, action: str, event_id: str
    ) -> None:
        """Ask the staff member for the rejection reason or the question, as a reply in the group."""
        if not await self._first_time(event_id):
            await self._answer(query)
            return
        name = user.full_name
        key = "staff.ask_reason" if action == "tolak" else "staff.ask_question"
        text = self.t(key, name=name, reference=case.reference)
        mention = MessageEntity(MessageEntity.TEXT_MENTION, 0, _utf16_len(name), user=user)
        try:
            prompt = await self.channel.call(
                partial(
                    self.bot.send_message,
                    self.chat_id,
                    text,
                    entities=[mention] if text.startswith(name) else None,
                    reply_markup=ForceReply(selective=True, input_field_placeholder=case.reference),
                    reply_parameters=_replying(self._message_id(query)),
                ),
                chat_id=self.chat_id,
                group=True,
            )
        except TelegramError as error:
            log.warning("could not ask for a note: %s", type(error).__name__)
            await self._answer(query, self.t("staff.try_again"), alert=True)
            return
        state = {
            "case": case.id,
            "action": action,
            "user": user.id,
            "card": self._message_id(query),
            "at": self.now().isoformat(),
        }
        await self.db.write(
            partial(desk.remember, name=f"{PROMPT_STATE}{prompt.message_id}", value=dumps(state))
        )
        await self._answer(query, self.t("staff.reply_below"))

    async def _on_prompt_reply(self, message: Message, prompt_id: int, event_id: str) -> bool:
        """A reply to one of the bot's prompts; False when the replied message is no prompt."""
        raw = await desk.recall(self.db, f"{PROMPT_STATE}{prompt_id}")
        if raw is None:
            return False
        state = json.loads(raw)
        user = message.from_user
        if user is None:
            return True
        role = self.role(user)
        case = await repo.get_case_by_id(self.db, int(state["case"]))
        target = case.reference if case else f"case:{state['case']}"
        if role not in ACTING_ROLES:
            await self._audit_refusal(user, target, f"reply {state['action']}")
            await self._say(self.t("staff.refused"), reply_to=message.message_id)
            return True
        if user.id != state["user"]:
            await self._say(self.t("staff.prompt_other"), reply_to=message.message_id)
            return True
        if case is None or datetime.fromisoformat(state["at"]) + PROMPT_TTL < self.now():
            await self._say(self.t("staff.prompt_expired"), reply_to=message.message_id)
            return True
        note = (message.text or "").strip()
        if len(note) < 3:
            await self._say(self.t("staff.note_empty"), reply_to=message.message_id)
            return True
        await self._move(
            None,
            user,
            case,
            state["action"],
            note=note[:1000],
            event_id=event_id,
            card_message=state.get("card"),
            prompt=prompt_id,
        )
        return True

    # ------------------------------------------------------------ files

    async def _open_file(self, query: CallbackQuery, case_id: int, index: int) -> None:
        user = query.from_user
        case = await repo.get_case_by_id(self.db, case_id)
        files = await self._files(case) if case else []
        if case is None or index >= len(files):
            await self._answer(query, self.t("staff.file_missing"))
            return
        item = files[index]
        source: str | InputFile
        if item.ref.startswith(TELEGRAM_FILE_PREFIX):
            source = item.ref.removeprefix(TELEGRAM_FILE_PREFIX)
        else:
            try:
                path = self.media.path(item.ref)
                data = await asyncio.to_thread(Path.read_bytes, path)
            except (ValueError, OSError):
                await self._answer(query, self.t("staff.file_missing"))
                return
            source = InputFile(data, filename=path.name)
        await self._answer(query)
        caption = self.t("staff.file_caption", reference=case.reference, number=index + 1)
        reply = _replying(self._message_id(query))
        call: Callable[[], Awaitable[Message]]
        if item.kind == "photo":
            call = partial(self.bot.send_photo, self.chat_id, source, caption=caption, reply_parameters=reply)
        elif item.kind == "voice":
            call = partial(self.bot.send_voice, self.chat_id, source, caption=caption, reply_parameters=reply)
        elif item.kind == "audio":
            call = partial(self.bot.send_audio, self.chat_id, source, caption=caption, reply_parameters=reply)
        else:
            call = partial(
                self.bot.send_document, self.chat_id, source, caption=caption, reply_parameters=reply
            )
        try:
            await self.channel.call(call, chat_id=self.chat_id, group=True)
        except TelegramError as error:
            log.warning("could not send a case file to the staff group: %s", type(error).__name__)
            await self._say(self.t("staff.file_missing"), reply_to=self._message_id(query))
            return
        await self.db.write(
            partial(
                repo.audit,
                actor=self.actor(user),
                action="case.file_viewed",
                at=self.now(),
                target=case.reference,
                detail=f"{item.kind} {index + 1}",
            )
        )

    # ------------------------------------------------------------ messages and commands

    async def on_message(self, message: Message, event_id: str, bot_username: str | None) -> None:
        """A message in the staff group: a reply to a prompt, a staff command, or chatter (ignored)."""
        user = message.from_user
        if user is None or user.is_bot:
            return
        replied = message.reply_to_message
        from_bot = replied is not None and replied.from_user is not None and replied.from_user.is_bot
        if (
            replied is not None
            and from_bot
            and (
                await self._on_prompt_reply(message, replied.message_id, event_id)
                or await self.outreach.on_reply(message, replied.message_id, event_id)
                or await self._on_card_reply(message, replied.message_id, event_id)
            )
        ):
            return
        command = parse_command(message.text or "", bot_username)
        if command not in COMMANDS:
            return
        if not await self._first_time(event_id):
            return
        if self.role(user) is None:
            await self._audit_refusal(user, f"/{command}", "command")
            await self._say(self.t("staff.refused"), reply_to=message.message_id)
            return
        args = (message.text or "").split(maxsplit=1)[1:]
        query = args[0].strip() if args else ""
        if command == "antrian":
            await self._say(await self.queue(query), reply_to=message.message_id)
        elif command == "kasus":
            await self._show_case(user, query, message.message_id)
        elif command == "cari":
            await self._say(await self.search(user, query), reply_to=message.message_id)
        elif command in OUTREACH_COMMANDS:
            await self.outreach.on_command(message, user, command, query)
        else:
            await self._say(self.t("staff.help"), reply_to=message.message_id)

    async def _on_card_reply(self, message: Message, card_id: int, event_id: str) -> bool:
        """A reply to a case card or a citizen's message: send its text to the citizen of the case."""
        raw = await desk.recall(self.db, f"{CARD_STATE}{card_id}")
        if raw is None:
            return False
        user = message.from_user
        if user is None or not await self._first_time(event_id):
            return True
        case = await repo.get_case_by_id(self.db, int(raw))
        if case is None:
            return True
        if self.role(user) not in ACTING_ROLES:
            await self._audit_refusal(user, case.reference, "reply to citizen")
            key = "staff.refused_viewer" if self.role(user) == "viewer" else "staff.refused"
            await self._say(self.t(key), reply_to=message.message_id)
            return True
        text = (message.text or "").strip()
        if len(text) < 2:
            await self._say(self.t("staff.note_empty"), reply_to=message.message_id)
            return True
        try:
            sent = await reply_to_citizen(
                self.db,
                self.service.settings,
                self.service.services.catalog,
                reference=case.reference,
                text=text[:3000],
                actor=self.actor(user),
                now=self.now(),
            )
        except CaseworkError as error:
            await self._say(
                self.t("staff.reply_not_sent", reason=self.error_words(error)), reply_to=message.message_id
            )
            return True
        self.service.dispatcher.wake()
        key = "staff.reply_held" if sent.held_reason else "staff.reply_sent"
        await self._say(self.t(key, reference=case.reference), reply_to=message.message_id)
        return True

    async def queue(self, query: str) -> str:
        """The /antrian answer: open cases (or the statuses asked for), oldest first, with filters."""
        statuses: list[CaseStatus] = []
        kinds: list[CaseKind] = []
        place_words: list[str] = []
        for word in query.lower().replace(",", " ").split():
            if word in STATUS_WORDS:
                statuses += STATUS_WORDS[word]
            elif word in KIND_WORDS:
                kinds.append(KIND_WORDS[word])
            else:
                place_words.append(word)
        kecamatan = None
        if place_words:
            match = self.places.match_kecamatan(" ".join(place_words))
            if match.best is None:
                return self.t("staff.filter_unknown", words=" ".join(place_words))
            kecamatan = match.best.code
        query_of = QueueQuery(
            statuses=[str(s) for s in (statuses or OPEN_STATUSES)],
            kinds=[str(k) for k in kinds],
            kecamatan=kecamatan,
            oldest_first=True,
            limit=QUEUE_LIMIT,
        )
        settings = self.service.settings.service
        found = await case_queue(
            self.db,
            query_of,
            now=self.now(),
            tz=self.service.services.timezone,
            targets=settings.target_days(),
        )
        if not found.total:
            return self.t("staff.queue_empty")
        lines = [
            self._line(entry.case) + (" " + self.t("staff.overdue") if entry.overdue else "")
            for entry in found.entries
        ]
        text = self.t("staff.queue", count=found.total, lines="\n".join(lines))
        if found.total > len(found.entries):
            text += "\n" + self.t("staff.queue_more", count=found.total - len(found.entries))
        return text

    def _line(self, case: CaseRecord) -> str:
        kecamatan = self.t("common.empty")
        if case.kecamatan_code:
            with contextlib.suppress(KeyError):
                kecamatan = self.places.kecamatan_by_code(case.kecamatan_code).name
        return self.t(
            "staff.line",
            reference=case.reference,
            status=self.t(f"staff.status.{case.status}"),
            kecamatan=kecamatan,
            name=case.subject_name,
            date=self._local(case.created_at),
        )

    async def search(self, user: User, query: str) -> str:
        """The /cari answer: cases by reference or by name."""
        if len(query) < 2:
            return self.t("staff.search_usage")
        # Names and references through the trigram index (a substring, any case), as the dashboard.
        found = await case_store.find_cases(self.db, CaseSearch("name", query), limit=SEARCH_LIMIT)
        await self.db.write(
            partial(
                repo.audit,
                actor=self.actor(user),
                action="case.search",
                at=self.now(),
                detail=f"{len(found)} found",
            )
        )
        if not found:
            return self.t("staff.search_none")
        lines = [self._line(case) for case in found]
        return self.t("staff.search", lines="\n".join(lines))

    async def _show_case(self, user: User, query: str, reply_to: int) -> None:
        reference = query.upper().split()[0] if query.split() else ""
        if not reference:
            await self._say(self.t("staff.case_usage"), reply_to=reply_to)
            return
        case = await repo.get_case(self.db, reference)
        if case is None:
            await self._say(self.t("staff.not_found", reference=reference), reply_to=reply_to)
            return
        await self.db.write(
            partial(
                repo.audit, actor=self.actor(user), action="case.view", at=self.now(), target=case.reference
            )
        )
        text, markup = await self.card(case)
        posted = await self._say(text, reply_to=reply_to, markup=markup)
        if posted is not None and case.id is not None:
            await self.db.write(partial(_remember_card, message_id=posted.message_id, case_id=case.id))


def _file_label(kind: str) -> str:
    return {"photo": "photo", "voice": "voice", "audio": "voice"}.get(kind, "file")


def _utf16_len(text: str) -> int:
    """Telegram counts entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _replying(message_id: int | None) -> ReplyParameters | None:
    """Reply to a message of the group (still sent if that message was deleted meanwhile)."""
    return ReplyParameters(message_id, allow_sending_without_reply=True) if message_id else None
