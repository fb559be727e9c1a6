"""Broadcasts (/siaran) and reminders (/pengingat) composed in the staff group, on a phone.

A short dialogue on one bot message whose buttons change in place: who receives it (everyone, a
kecamatan, a skill, disaster victims, a case kind, or several of these together, with the count after
every choice), then the text and any time typed as a reply to the bot's prompt (bots in groups keep
Telegram's privacy mode, so the bot only sees replies to it), then a preview with the count and a few
names before Kirim / Batal. Power users write it in one line, which goes straight to the preview:

    /siaran kecamatan=pondok aren; keterampilan=montir | Pelatihan montir minggu depan, yang berminat daftar.
    /pengingat jadwal=0 8 * * mon; kecamatan=setu | Posyandu hari ini jam 9.

```mermaid
flowchart LR
    start["/siaran or /pengingat"] --> who["who: filter buttons + count"]
    who -- Kecamatan / Keterampilan / Jenis kasus --> pick["pick a value"] --> who
    who -- Lanjut --> text["text (typed reply)"] --> when["when: buttons"]
    when -- Pilih waktu / Jadwal lain --> typed["time or crontab (typed reply)"] --> confirm
    when -- Sekarang / Tiap hari / Tiap Senin --> confirm["preview: count, sample, text"]
    line["one-line form"] --> confirm
    confirm -- "+ English" --> english["English text (typed reply)"] --> confirm
    confirm -- Ubah penerima --> who
    confirm -- Kirim / Simpan --> done["handlers.outreach"]
```

The dialogue's state (a `Draft`) is kept per staff member and kind in `channel_state`, each change
committed in the same transaction that records the Telegram update causing it: a restart loses no
half-composed broadcast, and a redelivered update changes nothing. Every button carries the draft's
version, so a button of an older panel (or a double tap) does nothing. The broadcast and the reminder
are made by `handlers.outreach`, exactly as the staff CLI makes them.

Admin and petugas may compose, send and stop; a viewer may only read progress (/siaran status) and the
list of reminders; anyone else is refused. Every refusal is written to the audit log.
"""

import logging
import re
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError
from rapidfuzz import fuzz, process
from telegram import (
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    User,
)
from telegram.error import BadRequest, TelegramError

from bot.channels.telegram.render import split_text
from bot.scheduler import outreach_times
from handlers import outreach
from handlers.i18n import Catalog
from handlers.outreach import OutreachError, QuietHours
from handlers.places import Places
from handlers.registration import SKILLS
from handlers.segments import Segment
from handlers.staff.compose import describe_cron, describe_segment, number, read_moment
from handlers.validators import normalize
from storage import outreach as outreach_store
from storage import repo
from storage.contract import Tx
from storage.outreach import ReminderRecord
from storage.records import CaseKind, CaseStatus, OutboxStatus

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from bot.channels.telegram.staff import StaffDesk

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "o:"
COMMANDS = ("siaran", "pengingat")
STATE_PREFIX = "telegram.staff.outreach."
DRAFT_TTL = timedelta(hours=24)
# Room for the Indonesian and the English text in one preview message (Telegram takes 4096 characters).
TEXT_LIMIT = 1500
SAMPLE_SIZE = 3
RECENT_BROADCASTS = 5
LISTED_REMINDERS = 10
DAILY = "0 8 * * *"
WEEKLY = "0 8 * * mon"
# A segment filter whose values are offered as buttons.
PICKS = ("kecamatan", "skill", "kind")
# Kind of draft <-> the letter its buttons carry (callback data holds 64 bytes at most).
Kind = Literal["siaran", "pengingat"]
KIND_CODES: dict[Kind, str] = {"siaran": "b", "pengingat": "r"}
CODE_KINDS: dict[str, Kind] = {code: kind for kind, code in KIND_CODES.items()}
Step = Literal["who", "pick", "text", "when", "time", "cron", "text_en", "confirm"]
TYPED_STEPS: frozenset[str] = frozenset({"text", "time", "cron", "text_en"})
OUTBOX_ORDER = tuple(status.value for status in OutboxStatus)
ALWAYS_SHOWN = frozenset({"queued", "sent", "delivered", "read", "failed", "held"})
T = TypeVar("T")


class Draft(BaseModel):
    """A broadcast or reminder being composed by one staff member."""

    kind: Kind
    owner: int
    version: int
    step: Step = "who"
    pick: Literal["kecamatan", "skill", "kind"] | None = None
    segment: Segment = Field(default_factory=Segment)
    text: str | None = None
    text_en: str | None = None
    send_at: datetime | None = None
    cron: str | None = None
    template: str | None = None
    when_done: bool = False
    prompt: int | None = None
    updated_at: datetime

    @property
    def key(self) -> str:
        """Its name in `channel_state`."""
        return state_key(self.owner, self.kind)

    def moved(self, at: datetime, **changes: Any) -> "Draft":
        """A new version of the draft (buttons of the previous version stop working)."""
        return self.model_copy(update={**changes, "version": self.version + 1, "updated_at": at})


def state_key(owner: int, kind: str) -> str:
    """Where the draft of a staff member is kept."""
    return f"{STATE_PREFIX}{owner}.{kind}"


def new_draft(kind: Kind, owner: int, at: datetime, **values: Any) -> Draft:
    """A fresh draft; its version starts at random so an expired draft's buttons never match it."""
    return Draft(kind=kind, owner=owner, version=secrets.randbelow(1_000_000), updated_at=at, **values)


def save_draft(tx: Tx, draft: Draft) -> None:
    """Keep the draft (a write function)."""
    outreach_store.save_draft(tx, draft.key, draft.model_dump_json(exclude_defaults=True))


def drop_draft(tx: Tx, key: str) -> None:
    """Forget a draft (a write function)."""
    outreach_store.drop_draft(tx, key)


# ---------------------------------------------------------------- the one-line form


class LineError(ValueError):
    """A one-line command that cannot be read; the message (from the catalog) says why."""


@dataclass(frozen=True, slots=True)
class Line:
    """What a one-line /siaran or /pengingat asks for."""

    segment: Segment
    text: str
    text_en: str | None
    send_at: datetime | None
    cron: str | None
    template: str | None


FILTER_NAMES = {
    "semua": "all",
    "all": "all",
    "kecamatan": "kecamatan",
    "kec": "kecamatan",
    "kelurahan": "kelurahan",
    "kel": "kelurahan",
    "keterampilan": "skills",
    "keahlian": "skills",
    "skill": "skills",
    "jenis": "kinds",
    "jenis kasus": "kinds",
    "kasus": "kinds",
    "status": "statuses",
    "korban": "victim",
    "korban bencana": "victim",
    "bencana": "victim",
    "bahasa": "language",
    "language": "language",
    "dari": "from",
    "sampai": "to",
    "waktu": "at",
    "jam": "at",
    "jadwal": "cron",
    "cron": "cron",
    "template": "template",
}
ONLY_FOR: dict[str, Kind] = {"cron": "pengingat", "template": "siaran"}
KIND_EXTRA_WORDS = {
    "reg": CaseKind.REGISTRATION,
    "daftar": CaseKind.REGISTRATION,
    "ktp": CaseKind.LOST_KTP,
    "ktp hilang": CaseKind.LOST_KTP,
    "bantuan": CaseKind.AID,
    "ban": CaseKind.AID,
    "pesan": CaseKind.MESSAGE,
    "psn": CaseKind.MESSAGE,
}
STATUS_EXTRA_WORDS = {"perlu": CaseStatus.PERLU_INFO, "info": CaseStatus.PERLU_INFO}
YES = frozenset({"", "ya", "iya", "yes", "y", "1", "true"})
NO = frozenset({"tidak", "tdk", "bukan", "no", "n", "0", "false"})
LANGUAGE_WORDS = {"id": "id", "indonesia": "id", "en": "en", "inggris": "en", "english": "en"}


def _word_index(entries: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Normalised words (the key, its labels in every language, extra words) -> key."""
    index: dict[str, str] = {}
    for key, words in entries.items():
        for word in (key, *words):
            index.setdefault(normalize(word), key)
    return index


def match_word(text: str, index: dict[str, str]) -> str | None:
    """The key a typed word names: exactly, or with a small typo."""
    typed = normalize(text)
    if typed in index:
        return index[typed]
    best = process.extractOne(typed, list(index), scorer=fuzz.ratio, score_cutoff=85)
    return index[best[0]] if best else None


def skill_index(catalog: Catalog) -> dict[str, str]:
    """Words that name each skill."""
    return _word_index(
        {o.key: (*catalog.all_languages(o.label_key), *o.words) for o in SKILLS},
    )


def kind_index(catalog: Catalog) -> dict[str, str]:
    """Words that name each case kind."""
    extra: dict[str, tuple[str, ...]] = {
        str(k): tuple(w for w, kind in KIND_EXTRA_WORDS.items() if kind == k) for k in CaseKind
    }
    return _word_index({str(k): (*catalog.all_languages(f"kind.{k}"), *extra[str(k)]) for k in CaseKind})


def parse_line(
    args: str,
    *,
    kind: Kind,
    places: Places,
    catalog: Catalog,
    t: Callable[..., str],
    tz: "ZoneInfo",
    now: datetime,
) -> Line:
    """Read `filter=value; filter=value | text [| English text]`; raise LineError saying what is wrong."""
    head, _, body = args.partition("|")
    text, _, english = body.partition("|")
    text, english = text.strip(), english.strip()
    if len(text) < 3:
        raise LineError(t("staff.outreach.line_no_text"))
    for written in (text, english):
        if len(written) > TEXT_LIMIT:
            raise LineError(t("staff.outreach.text_long", length=len(written), limit=TEXT_LIMIT))
    values: dict[str, Any] = {}
    send_at: datetime | None = None
    cron: str | None = None
    template: str | None = None
    for item in re.split(r"[;\n]", head):
        if not item.strip():
            continue
        raw_name, _, raw_value = item.partition("=")
        name = FILTER_NAMES.get(normalize(raw_name))
        if name is None or ONLY_FOR.get(name, kind) != kind:
            raise LineError(t("staff.outreach.line_unknown_filter", name=raw_name.strip()))
        value = raw_value.strip()
        words = [word.strip() for word in value.split(",") if word.strip()]

        def unknown(word: str, label: str = raw_name) -> LineError:
            return LineError(t("staff.outreach.line_unknown_value", name=label.strip(), value=word))

        if name == "all":
            values["everyone"] = True
            continue
        if name in ("kecamatan", "kelurahan", "skills", "kinds", "statuses") and not words:
            raise unknown(value)
        if name == "kecamatan":
            for word in words:
                district = places.match_kecamatan(word).best
                if district is None:
                    raise unknown(word)
                values.setdefault("kecamatan", []).append(district.code)
        elif name == "kelurahan":
            for word in words:
                village = places.match_kelurahan(word).best
                if village is None:
                    raise unknown(word)
                values.setdefault("kelurahan", []).append(village.code)
        elif name == "skills":
            index = skill_index(catalog)
            for word in words:
                skill = match_word(word, index)
                if skill is None:
                    raise unknown(word)
                values.setdefault("skills", []).append(skill)
        elif name == "kinds":
            index = kind_index(catalog)
            for word in words:
                case_kind = match_word(word, index)
                if case_kind is None:
                    raise unknown(word)
                values.setdefault("case_kinds", []).append(case_kind)
        elif name == "statuses":
            for word in words:
                typed = normalize(word).replace(" ", "_")
                status = STATUS_EXTRA_WORDS.get(typed) or next(
                    (s for s in CaseStatus if s.value == typed), None
                )
                if status is None:
                    raise unknown(word)
                values.setdefault("case_statuses", []).append(status)
        elif name == "victim":
            typed = normalize(value)
            if typed not in YES | NO:
                raise unknown(value)
            values["disaster_victim"] = typed in YES
        elif name == "language":
            language = LANGUAGE_WORDS.get(normalize(value))
            if language is None:
                raise unknown(value)
            values["language"] = language
        elif name in ("from", "to"):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise LineError(t("staff.outreach.line_date", value=value)) from None
            values["registered_from" if name == "from" else "registered_to"] = day
        elif name == "at":
            send_at = read_time(value, tz=tz, now=now, t=t)
        elif name == "cron":
            cron = read_cron(value, tz=tz, now=now, t=t)
        elif name == "template":
            template = value or None
    if kind == "pengingat" and (send_at is None) == (cron is None):
        raise LineError(t("staff.outreach.line_when"))
    segment = Segment(**{k: list(dict.fromkeys(v)) if isinstance(v, list) else v for k, v in values.items()})
    if not segment.chosen():
        raise LineError(t("staff.outreach.line_choose_all"))
    return Line(segment, text, english or None, send_at, cron, template)


def time_example(now: datetime, tz: "ZoneInfo") -> str:
    """Tomorrow 09:00 local, written the way times are typed."""
    tomorrow = now.astimezone(tz).date() + timedelta(days=1)
    return f"{tomorrow.isoformat()} 09:00"


def read_time(text: str, *, tz: "ZoneInfo", now: datetime, t: Callable[..., str]) -> datetime:
    """A typed 'YYYY-MM-DD HH:MM' (WIB) in the future."""
    at = read_moment(text, tz)
    if at is None:
        raise LineError(t("staff.outreach.time_format", example=time_example(now, tz)))
    if at <= now:
        raise LineError(t("staff.outreach.time_past", example=time_example(now, tz)))
    return at


def read_cron(text: str, *, tz: "ZoneInfo", now: datetime, t: Callable[..., str]) -> str:
    """A typed crontab (local time) that fires."""
    cron = " ".join(text.split())
    try:
        outreach.next_cron(cron, tz, now)
    except ValueError:  # OutreachError too
        raise LineError(t("staff.outreach.cron_bad")) from None
    return cron


# ---------------------------------------------------------------- the staff group side


def _utf16_len(text: str) -> int:
    """Telegram counts entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _rows(buttons: list[InlineKeyboardButton], width: int = 2) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


class OutreachDesk:
    """/siaran and /pengingat for the staff desk (which routes their messages and buttons here)."""

    def __init__(self, desk: "StaffDesk", *, acting: Collection[str]) -> None:
        self.desk = desk
        self.acting = frozenset(acting)
        self.db = desk.db
        self.catalog = desk.catalog
        self.places = desk.places
        self.tz = desk.service.services.timezone
        self.times = outreach_times(desk.service.settings.outreach, self.tz)

    # ------------------------------------------------------------ small helpers

    def t(self, key: str, **params: object) -> str:
        """A staff-facing catalog sentence."""
        return self.desk.t(key, **params)

    @property
    def quiet(self) -> QuietHours:
        """When bulk messages wait."""
        return self.times.quiet

    def _local(self, at: datetime) -> str:
        return at.astimezone(self.tz).strftime("%d-%m-%Y %H:%M")

    def _may_read(self, user: User) -> bool:
        return self.desk.role(user) is not None

    def _may_act(self, user: User) -> bool:
        return self.desk.role(user) in self.acting

    def _refusal(self, user: User) -> str:
        return self.t("staff.refused_viewer" if self.desk.role(user) else "staff.refused")

    async def _refuse(self, user: User, target: str, detail: str, *, reply_to: int) -> None:
        await self.desk._audit_refusal(user, target, detail)
        await self.desk._say(self._refusal(user), reply_to=reply_to)

    async def _once(self, event_id: str, work: Callable[[Tx], T]) -> tuple[bool, T | None]:
        """Run `work` in the transaction that records the update; (False, None) for a redelivery."""
        now = self.desk.now()

        def run(tx: Tx) -> tuple[bool, T | None]:
            if not repo.record_inbound(tx, event_id, "telegram:staff", now):
                return False, None
            return True, work(tx)

        return await self.db.write(run)

    async def _load(self, owner: int, kind: str) -> Draft | None:
        return self._fresh(await outreach_store.load_draft(self.db, state_key(owner, kind)))

    def _fresh(self, raw: str | None) -> Draft | None:
        """A stored draft, unless unreadable or untouched for longer than DRAFT_TTL."""
        if raw is None:
            return None
        try:
            draft = Draft.model_validate_json(raw)
        except ValidationError:
            return None
        return draft if draft.updated_at + DRAFT_TTL >= self.desk.now() else None

    async def _edit(self, message_id: int | None, text: str, markup: InlineKeyboardMarkup | None) -> None:
        if message_id is None:
            return
        try:
            await self.desk.channel.call(
                partial(
                    self.desk.bot.edit_message_text,
                    split_text(text)[0],
                    chat_id=self.desk.chat_id,
                    message_id=message_id,
                    reply_markup=markup,
                ),
                chat_id=self.desk.chat_id,
                group=True,
            )
        except BadRequest as error:  # "message is not modified", or too old to edit
            log.debug("outreach panel not edited: %s", error.message)
        except TelegramError as error:
            log.warning("outreach panel not edited: %s", type(error).__name__)

    # ------------------------------------------------------------ describing things

    def _cron_words(self, cron: str) -> str:
        return describe_cron(cron, self.catalog, self.desk.language)

    def describe(self, segment: Segment) -> str:
        """Who a segment reaches, in words."""
        return describe_segment(segment, self.catalog, self.desk.language, self.places)

    async def _audience(self, segment: Segment) -> tuple[int, str]:
        """The count of a segment and its description with a few names."""
        if not segment.chosen():
            return 0, self.t("staff.outreach.audience_none")
        count, sample = await outreach.preview(self.db, segment, self.tz, SAMPLE_SIZE)
        names = self.t("staff.outreach.sample", names=", ".join(sample)) if sample else ""
        return count, self.t(
            "staff.outreach.audience",
            segment=self.describe(segment),
            count=number(count, self.desk.language),
            sample=names,
        )

    def _first_time(self, draft: Draft) -> datetime | None:
        """When the broadcast goes out or the reminder first fires (None: a broadcast sent now)."""
        if draft.cron:
            return outreach.next_cron(draft.cron, self.tz, self.desk.now())
        return draft.send_at

    def _when(self, draft: Draft) -> str:
        now = self.desk.now()
        first = self._first_time(draft)
        if draft.kind == "siaran" and first is None:
            when = self.t("staff.outreach.when_now")
        elif draft.cron:
            assert first is not None
            when = self.t(
                "staff.outreach.when_cron", cron=self._cron_words(draft.cron), time=self._local(first)
            )
        else:
            assert first is not None
            when = self.t("staff.outreach.when_at", time=self._local(first))
        start = max(first or now, now)
        if self.quiet.active(start):
            when += " " + self.t("staff.outreach.quiet", time=self._local(self.quiet.next_allowed(start)))
        return when

    # ------------------------------------------------------------ panels

    def _button(self, draft: Draft, label: str, action: str, arg: str | None = None) -> InlineKeyboardButton:
        data = f"{CALLBACK_PREFIX}{KIND_CODES[draft.kind]}:{draft.owner}:{draft.version}:{action}"
        return InlineKeyboardButton(label, callback_data=data if arg is None else f"{data}:{arg}")

    def _title(self, draft: Draft) -> str:
        siaran = draft.kind == "siaran"
        if draft.step == "confirm":
            return self.t(
                "staff.outreach.title_check_siaran" if siaran else "staff.outreach.title_check_pengingat"
            )
        return self.t("staff.outreach.title_siaran" if siaran else "staff.outreach.title_pengingat")

    def _message_lines(self, draft: Draft) -> list[str]:
        lines = []
        if draft.text:
            lines += ["", self.t("staff.outreach.message", text=draft.text)]
        if draft.text_en:
            lines += ["", self.t("staff.outreach.message_en", text=draft.text_en)]
        return lines

    def _pick_values(self, pick: str | None) -> list[tuple[str, str]]:
        """(value, label) of the buttons for a filter."""
        if pick == "kecamatan":
            return [(district.code, district.name) for district in self.places.kecamatan]
        if pick == "skill":
            return [(option.key, self.t(option.label_key)) for option in SKILLS]
        if pick == "kind":
            return [(str(kind), self.t(f"kind.{kind}")) for kind in CaseKind]
        return []

    def _chosen(self, segment: Segment, pick: str | None) -> list[str]:
        if pick == "kecamatan":
            return segment.kecamatan
        if pick == "skill":
            return segment.skills
        if pick == "kind":
            return [str(kind) for kind in segment.case_kinds]
        return []

    async def panel(self, draft: Draft) -> tuple[str, InlineKeyboardMarkup | None]:
        """The text and buttons of a draft at its current step."""
        _, audience = await self._audience(draft.segment)
        lines = [self._title(draft), audience]
        buttons: list[list[InlineKeyboardButton]] = []
        cancel = self._button(draft, self.t("staff.outreach.btn.cancel"), "c")
        if draft.step == "who":
            lines.append(self.t("staff.outreach.who_hint"))
            buttons = _rows(
                [
                    self._button(draft, self.t("staff.outreach.btn.kecamatan"), "k"),
                    self._button(draft, self.t("staff.outreach.btn.skill"), "s"),
                    self._button(draft, self.t("staff.outreach.btn.victim"), "v"),
                    self._button(draft, self.t("staff.outreach.btn.kind"), "j"),
                ]
            )
            if not draft.segment.everyone or draft.segment.has_filters():
                buttons.append([self._button(draft, self.t("staff.outreach.btn.all"), "a")])
            buttons.append([self._button(draft, self.t("staff.outreach.btn.next"), "n"), cancel])
        elif draft.step == "pick":
            if draft.pick == "kecamatan":
                lines.append(self.t("staff.outreach.pick_kecamatan"))
            elif draft.pick == "skill":
                lines.append(self.t("staff.outreach.pick_skill"))
            else:
                lines.append(self.t("staff.outreach.pick_kind"))
            chosen = self._chosen(draft.segment, draft.pick)
            values = [
                self._button(draft, f"✓ {label}" if value in chosen else label, "p", value)
                for value, label in self._pick_values(draft.pick)
            ]
            buttons = [*_rows(values), [self._button(draft, self.t("staff.outreach.btn.back"), "w")]]
        elif draft.step == "when":
            lines += self._message_lines(draft)
            lines += [
                "",
                self.t(
                    "staff.outreach.when_siaran"
                    if draft.kind == "siaran"
                    else "staff.outreach.when_pengingat"
                ),
            ]
            if draft.kind == "siaran":
                buttons = [
                    [
                        self._button(draft, self.t("staff.outreach.btn.now"), "now"),
                        self._button(draft, self.t("staff.outreach.btn.later"), "t"),
                    ],
                    [cancel],
                ]
            else:
                buttons = [
                    *_rows(
                        [
                            self._button(draft, self.t("staff.outreach.btn.once"), "t"),
                            self._button(draft, self.t("staff.outreach.btn.daily"), "pd"),
                            self._button(draft, self.t("staff.outreach.btn.weekly"), "pw"),
                            self._button(draft, self.t("staff.outreach.btn.cron"), "cr"),
                        ]
                    ),
                    [cancel],
                ]
        elif draft.step == "confirm":
            if draft.kind == "siaran":
                lines.append(self.t("staff.outreach.line_time", when=self._when(draft)))
            else:
                lines.append(self.t("staff.outreach.line_schedule", when=self._when(draft)))
            if draft.template:
                lines.append(self.t("staff.outreach.line_template", name=draft.template))
            lines += self._message_lines(draft)
            go = self.t("staff.outreach.btn.send" if draft.kind == "siaran" else "staff.outreach.btn.save")
            buttons = [
                [self._button(draft, go, "ok"), cancel],
                [
                    self._button(draft, self.t("staff.outreach.btn.english"), "en"),
                    self._button(draft, self.t("staff.outreach.btn.change_who"), "w"),
                ],
            ]
        else:  # waiting for a typed answer: the panel shows where things stand, without buttons
            lines += self._message_lines(draft)
        return "\n".join(lines), InlineKeyboardMarkup(buttons) if buttons else None

    async def ask(self, draft: Draft, user: User, *, reply_to: int | None, note: str | None = None) -> Draft:
        """Ask for the typed answer of the draft's step, as a reply to this message; return the draft."""
        name = user.full_name
        if draft.step == "text":
            body = self.t("staff.outreach.ask_text", name=name, command=draft.kind)
        elif draft.step == "text_en":
            body = self.t("staff.outreach.ask_text_en", name=name, command=draft.kind)
        elif draft.step == "time":
            example = time_example(self.desk.now(), self.tz)
            body = self.t("staff.outreach.ask_time", name=name, command=draft.kind, example=example)
        else:
            body = self.t("staff.outreach.ask_cron", name=name, command=draft.kind)
        head = f"{note}\n" if note else ""
        mention = MessageEntity(MessageEntity.TEXT_MENTION, _utf16_len(head), _utf16_len(name), user=user)
        try:
            prompt = await self.desk.channel.call(
                partial(
                    self.desk.bot.send_message,
                    self.desk.chat_id,
                    head + body,
                    entities=[mention] if body.startswith(name) else None,
                    reply_markup=ForceReply(selective=True),
                    reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True)
                    if reply_to
                    else None,
                ),
                chat_id=self.desk.chat_id,
                group=True,
            )
        except TelegramError as error:
            log.warning("could not ask in the staff group: %s", type(error).__name__)
            return draft
        # Without this id a reply from the owner to any bot message is taken (see on_reply).
        asked = draft.model_copy(update={"prompt": prompt.message_id})
        await self.db.write(partial(save_draft, draft=asked))
        return asked

    async def show(self, draft: Draft, user: User, *, reply_to: int | None, note: str | None = None) -> None:
        """Post the draft's current step anew: its panel, or its question."""
        if draft.step in TYPED_STEPS:
            await self.ask(draft, user, reply_to=reply_to, note=note)
            return
        text, markup = await self.panel(draft)
        await self.desk._say(f"{note}\n{text}" if note else text, reply_to=reply_to, markup=markup)

    # ------------------------------------------------------------ commands

    async def on_command(self, message: Message, user: User, command: str, args: str) -> None:
        """/siaran or /pengingat with whatever follows (the caller has checked that `user` is staff)."""
        kind: Kind = "siaran" if command == "siaran" else "pengingat"
        reply_to = message.message_id
        words = args.split()
        sub = words[0].lower() if words else ""
        number = int(words[1]) if len(words) > 1 and words[1].isdigit() else None
        if "|" not in args and sub in ("status", "daftar", "list"):
            if kind == "siaran" and number is not None:
                text, markup = await self.status_view(number)
            elif kind == "siaran":
                text, markup = await self.recent_view(), None
            else:
                text, markup = await self.reminders_view()
            await self.desk._say(text, reply_to=reply_to, markup=markup)
            return
        if "|" not in args and sub in ("bantuan", "help"):
            await self.desk._say(self._usage(kind), reply_to=reply_to)
            return
        if not self._may_act(user):
            detail = "one-line" if "|" in args else sub or "command"
            await self._refuse(user, f"/{command}", detail, reply_to=reply_to)
            return
        if "|" in args:
            await self._one_line(message, user, kind, args)
        elif sub in ("batal", "cancel", "hentikan", "stop"):
            if number is None:
                await self._drop(user, kind, reply_to)
            elif kind == "siaran":
                await self._stop_broadcast_now(user, number, reply_to)
            else:
                await self._stop_reminder_now(user, number, reply_to)
        elif not sub:
            await self._start(message, user, kind)
        else:
            await self.desk._say(self._usage(kind), reply_to=reply_to)

    def _usage(self, kind: Kind) -> str:
        return self.t("staff.outreach.usage_siaran" if kind == "siaran" else "staff.outreach.usage_pengingat")

    async def _start(self, message: Message, user: User, kind: Kind) -> None:
        now = self.desk.now()
        existing = await self._load(user.id, kind)
        # A new version either way: the buttons of older panels stop working.
        draft = existing.moved(now) if existing else new_draft(kind, user.id, now)
        await self.db.write(partial(save_draft, draft=draft))
        note = self.t("staff.outreach.resume") if existing else None
        await self.show(draft, user, reply_to=message.message_id, note=note)

    async def _drop(self, user: User, kind: Kind, reply_to: int) -> None:
        existing = await self._load(user.id, kind)
        await self.db.write(partial(drop_draft, key=state_key(user.id, kind)))
        key = "staff.outreach.dropped" if existing else "staff.outreach.nothing_to_drop"
        await self.desk._say(self.t(key), reply_to=reply_to)

    async def _one_line(self, message: Message, user: User, kind: Kind, args: str) -> None:
        now = self.desk.now()
        try:
            line = parse_line(
                args, kind=kind, places=self.places, catalog=self.catalog, t=self.t, tz=self.tz, now=now
            )
        except LineError as error:
            await self.desk._say(f"{error}\n\n{self._usage(kind)}", reply_to=message.message_id)
            return
        existing = await self._load(user.id, kind)
        values = {
            "step": "confirm",
            "segment": line.segment,
            "text": line.text,
            "text_en": line.text_en,
            "send_at": line.send_at,
            "cron": line.cron,
            "template": line.template,
            "when_done": True,
            "pick": None,
            "prompt": None,
        }
        draft = existing.moved(now, **values) if existing else new_draft(kind, user.id, now, **values)
        await self.db.write(partial(save_draft, draft=draft))
        await self.show(draft, user, reply_to=message.message_id)

    # ------------------------------------------------------------ typed answers

    async def on_reply(self, message: Message, replied_id: int, event_id: str) -> bool:
        """A reply to a bot message: the typed answer of a draft's question (False: not ours)."""
        user = message.from_user
        if user is None:
            return False
        raw = await outreach_store.draft_asking(self.db, STATE_PREFIX, replied_id)
        if raw is None:
            # The question's message id is saved just after it is sent; if that was lost, the owner's
            # reply to any bot message answers their draft's open question.
            for kind in COMMANDS:
                found = await self._load(user.id, kind)
                if found is not None and found.step in TYPED_STEPS and found.prompt is None:
                    raw = found.model_dump_json()
                    break
            else:
                return False
        try:
            stored = Draft.model_validate_json(raw)
        except ValidationError:
            return False
        draft = self._fresh(raw)
        may_act = self._may_act(user)
        if may_act and user.id == stored.owner and draft is not None and draft.step in TYPED_STEPS:
            await self._answer_typed(message, user, draft, event_id)
            return True
        if not await self.desk._first_time(event_id):
            return True
        reply_to = message.message_id
        if not may_act:
            await self._refuse(user, f"/{stored.kind}", "reply", reply_to=reply_to)
        elif user.id != stored.owner:
            await self.desk._say(self.t("staff.outreach.not_yours"), reply_to=reply_to)
        elif draft is None:
            await self.desk._say(self.t("staff.outreach.expired"), reply_to=reply_to)
        else:
            await self.desk._say(self.t("staff.outreach.answered"), reply_to=reply_to)
        return True

    async def _answer_typed(self, message: Message, user: User, draft: Draft, event_id: str) -> None:
        now = self.desk.now()
        typed = (message.text or "").strip()
        try:
            if draft.step in ("text", "text_en"):
                if len(typed) < 3:
                    raise LineError(self.t("staff.note_empty"))
                if len(typed) > TEXT_LIMIT:
                    raise LineError(self.t("staff.outreach.text_long", length=len(typed), limit=TEXT_LIMIT))
                if draft.step == "text_en":
                    new = draft.moved(now, text_en=typed, step="confirm", prompt=None)
                else:
                    new = draft.moved(
                        now, text=typed, step="confirm" if draft.when_done else "when", prompt=None
                    )
            elif draft.step == "time":
                at = read_time(typed, tz=self.tz, now=now, t=self.t)
                new = draft.moved(now, send_at=at, cron=None, when_done=True, step="confirm", prompt=None)
            else:
                cron = read_cron(typed, tz=self.tz, now=now, t=self.t)
                new = draft.moved(now, cron=cron, send_at=None, when_done=True, step="confirm", prompt=None)
        except LineError as error:
            first, _ = await self._once(event_id, lambda conn: None)
            if first:  # ask again, saying what was wrong
                await self.ask(draft, user, reply_to=message.message_id, note=str(error))
            return
        first, _ = await self._once(event_id, partial(save_draft, draft=new))
        if first:
            await self.show(new, user, reply_to=message.message_id)

    # ------------------------------------------------------------ buttons

    async def on_callback(self, query: CallbackQuery, event_id: str) -> None:
        """A button of an outreach message was pressed."""
        user = query.from_user
        parts = (query.data or "").removeprefix(CALLBACK_PREFIX).split(":")
        if parts[0] in CODE_KINDS and len(parts) >= 4 and parts[1].isdigit() and parts[2].isdigit():
            kind = CODE_KINDS[parts[0]]
            arg = parts[4] if len(parts) > 4 else None
            await self._on_draft_button(
                query, user, kind, int(parts[1]), int(parts[2]), parts[3], arg, event_id
            )
        elif len(parts) == 2 and parts[1].isdigit():
            await self._on_record_button(query, user, parts[0], int(parts[1]), event_id)
        elif parts == ["rl"]:
            await self._on_record_button(query, user, "rl", 0, event_id)
        else:
            await self.desk._answer(query, self.t("tg.button_old"))

    async def _on_draft_button(
        self,
        query: CallbackQuery,
        user: User,
        kind: Kind,
        owner: int,
        version: int,
        action: str,
        arg: str | None,
        event_id: str,
    ) -> None:
        if not self._may_act(user):
            await self.desk._answer(query, self._refusal(user), alert=True)
            await self.desk._audit_refusal(user, f"/{kind}", f"button {action}")
            return
        if owner != user.id:
            await self.desk._answer(query, self.t("staff.outreach.not_yours"), alert=True)
            return
        draft = await self._load(owner, kind)
        if draft is None or draft.version != version:
            await self.desk._answer(query, self.t("tg.button_old"))
            return
        panel_id = self.desk._message_id(query)
        if action == "c":
            first, _ = await self._once(event_id, partial(drop_draft, key=draft.key))
            await self.desk._answer(query)
            if first:
                await self._edit(panel_id, f"{self._title(draft)}\n{self.t('staff.outreach.dropped')}", None)
            return
        if action == "ok":
            await self._finish(query, user, draft, event_id)
            return
        if draft.step == "who" and action == "n" and not draft.segment.chosen():
            await self.desk._answer(query, self.t("staff.outreach.choose_all"), alert=True)
            return
        new = self._next(draft, action, arg)
        if new is None:
            await self.desk._answer(query, self.t("tg.button_old"))
            return
        first, _ = await self._once(event_id, partial(save_draft, draft=new))
        if not first:
            await self.desk._answer(query)
            return
        text, markup = await self.panel(new)
        if new.step in TYPED_STEPS:
            await self.desk._answer(query, self.t("staff.reply_below"))
            await self._edit(panel_id, text, None)
            await self.ask(new, user, reply_to=panel_id)
        else:
            await self.desk._answer(query)
            await self._edit(panel_id, text, markup)

    def _next(self, draft: Draft, action: str, arg: str | None) -> Draft | None:
        """The draft after a button of its current step (None: not a button of this step)."""
        now = self.desk.now()
        segment = draft.segment
        if draft.step == "who":
            picks = {"k": "kecamatan", "s": "skill", "j": "kind"}
            if action in picks:
                return draft.moved(now, step="pick", pick=picks[action])
            if action == "v":
                update = {"disaster_victim": True, "everyone": False}
                return draft.moved(now, segment=segment.model_copy(update=update))
            if action == "a":
                return draft.moved(now, segment=Segment(everyone=True))
            if action == "n":
                step = "text" if not draft.text else "confirm" if draft.when_done else "when"
                return draft.moved(now, step=step)
            return None
        if draft.step == "pick":
            if action == "w":
                return draft.moved(now, step="who", pick=None)
            values = dict(self._pick_values(draft.pick))
            if action != "p" or arg is None or arg not in values:
                return None
            chosen = self._chosen(segment, draft.pick)
            updated = [value for value in chosen if value != arg] if arg in chosen else [*chosen, arg]
            field = {"kecamatan": "kecamatan", "skill": "skills", "kind": "case_kinds"}[draft.pick or ""]
            return draft.moved(
                now,
                step="who",
                pick=None,
                segment=Segment.model_validate({**segment.model_dump(), field: updated, "everyone": False}),
            )
        if draft.step == "when":
            if action == "t":
                return draft.moved(now, step="time")
            if draft.kind == "siaran" and action == "now":
                return draft.moved(now, step="confirm", send_at=None, cron=None, when_done=True)
            if draft.kind == "pengingat" and action in ("pd", "pw"):
                cron = DAILY if action == "pd" else WEEKLY
                return draft.moved(now, step="confirm", send_at=None, cron=cron, when_done=True)
            if draft.kind == "pengingat" and action == "cr":
                return draft.moved(now, step="cron")
            return None
        if draft.step == "confirm":
            if action == "en":
                return draft.moved(now, step="text_en")
            if action == "w":
                return draft.moved(now, step="who")
        return None

    async def _finish(self, query: CallbackQuery, user: User, draft: Draft, event_id: str) -> None:
        """Kirim / Simpan: make the broadcast or the reminder, and forget the draft."""
        panel_id = self.desk._message_id(query)
        if draft.step != "confirm":
            await self.desk._answer(query, self.t("tg.button_old"))
            return
        now = self.desk.now()
        actor = self.desk.actor(user)
        if draft.send_at is not None and draft.send_at <= now:  # the chosen time passed meanwhile
            new = draft.moved(now, step="when", send_at=None, when_done=False)
            first, _ = await self._once(event_id, partial(save_draft, draft=new))
            await self.desk._answer(
                query, self.t("staff.outreach.time_past", example=time_example(now, self.tz)), alert=True
            )
            if first:
                await self._edit(panel_id, *(await self.panel(new)))
            return
        if draft.kind == "siaran":
            send_at = draft.send_at or now

            count, _ = await outreach.preview(self.db, draft.segment, self.tz, sample=0)

            def send(tx: Tx) -> tuple[int, int] | None:
                if count == 0:
                    return None
                broadcast_id = outreach.create_broadcast(
                    tx,
                    segment=draft.segment,
                    text_id=draft.text or "",
                    text_en=draft.text_en,
                    template=draft.template,
                    send_at=send_at,
                    actor=actor,
                    at=now,
                    tz=self.tz,
                    quiet=self.quiet,
                )
                drop_draft(tx, draft.key)
                return broadcast_id, count

            first, made = await self._once(event_id, send)
            if not first:
                await self.desk._answer(query)
                return
            if made is None:
                await self.desk._answer(query, self.t("staff.outreach.nobody"), alert=True)
                return
            broadcast_id, count = made
            self.desk.service.dispatcher.wake()
            if draft.send_at is None:
                text = self.t("staff.outreach.sending", id=broadcast_id, count=count)
            else:
                text = self.t(
                    "staff.outreach.scheduled", id=broadcast_id, count=count, when=self._when(draft)
                )
            await self.desk._answer(query, self.t("staff.outreach.done_short"))
            markup = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            self.t("staff.outreach.btn.progress"),
                            callback_data=f"{CALLBACK_PREFIX}st:{broadcast_id}",
                        )
                    ]
                ]
            )
            await self._edit(panel_id, f"{text}\n\n{self.describe(draft.segment)}", markup)
            return

        def save(tx: Tx) -> int:
            reminder_id = outreach.create_reminder(
                tx,
                segment=draft.segment,
                text_id=draft.text or "",
                text_en=draft.text_en,
                due_at=None if draft.cron else draft.send_at,
                cron=draft.cron,
                actor=actor,
                at=now,
                tz=self.tz,
            )
            drop_draft(tx, draft.key)
            return reminder_id

        try:
            first, reminder_id = await self._once(event_id, save)
        except OutreachError:  # e.g. a schedule that stopped firing: go back to choosing when
            await self.desk._answer(query, self.t("staff.outreach.cron_bad"), alert=True)
            return
        await self.desk._answer(query, self.t("staff.outreach.done_short") if first else None)
        if first:
            text = self.t("staff.outreach.saved", id=reminder_id, when=self._when(draft))
            await self._edit(panel_id, f"{text}\n\n{self.describe(draft.segment)}", None)

    # ------------------------------------------------------------ progress, lists, stopping

    async def status_view(self, broadcast_id: int) -> tuple[str, InlineKeyboardMarkup | None]:
        """A broadcast's progress: counts by delivery state, with Perbarui / Hentikan buttons."""
        try:
            progress = await outreach.broadcast_progress(self.db, broadcast_id)
        except OutreachError:
            return self.t("staff.outreach.not_found", id=broadcast_id), None
        counts = progress.counts
        shown = [
            self.t(f"staff.outreach.count.{status}", n=counts.get(status, 0))
            for status in OUTBOX_ORDER
            if status in ALWAYS_SHOWN or counts.get(status)
        ]
        status = progress.status
        finished = progress.finished_at
        text = self.t(
            "staff.outreach.status",
            id=broadcast_id,
            status=self.t(f"staff.outreach.bstatus.{status}"),
            recipients=progress.recipients,
            counts=" · ".join(shown),
            time=self._local(progress.send_at),
            text=_short(progress.text, 200),
            segment=self.describe(Segment.model_validate(progress.segment)),
        )
        if finished:
            text += "\n" + self.t("staff.outreach.finished", time=self._local(finished))
        buttons = [
            InlineKeyboardButton(
                self.t("staff.outreach.btn.refresh"), callback_data=f"{CALLBACK_PREFIX}st:{broadcast_id}"
            )
        ]
        if status in ("scheduled", "sending"):
            buttons.append(
                InlineKeyboardButton(
                    self.t("staff.outreach.btn.stop"), callback_data=f"{CALLBACK_PREFIX}x:{broadcast_id}"
                )
            )
        return text, InlineKeyboardMarkup([buttons])

    async def recent_view(self) -> str:
        """The latest broadcasts, one line each."""
        recent = await outreach.recent_broadcasts(self.db, RECENT_BROADCASTS)
        if not recent:
            return self.t("staff.outreach.recent_empty")
        lines = []
        for progress in recent:
            lines.append(
                self.t(
                    "staff.outreach.recent_line",
                    id=progress.id,
                    status=self.t(f"staff.outreach.bstatus.{progress.status}"),
                    time=self._local(progress.send_at),
                    recipients=progress.recipients,
                    text=_short(progress.text, 40),
                )
            )
        return self.t("staff.outreach.recent", lines="\n".join(lines))

    async def reminders_view(self, note: str | None = None) -> tuple[str, InlineKeyboardMarkup | None]:
        """Active reminders to segments, soonest first, with a stop button each."""
        rows = await outreach_store.active_reminders(self.db, staff_only=True, limit=LISTED_REMINDERS + 1)
        head = f"{note}\n" if note else ""
        if not rows:
            return head + self.t("staff.outreach.reminders_empty"), None
        lines = [self._reminder_line(row) for row in rows[:LISTED_REMINDERS]]
        text = head + self.t("staff.outreach.reminders", lines="\n".join(lines))
        if len(rows) > LISTED_REMINDERS:
            text += "\n" + self.t("staff.outreach.reminders_more")
        stops = [
            InlineKeyboardButton(
                self.t("staff.outreach.btn.stop_reminder", id=row.id),
                callback_data=f"{CALLBACK_PREFIX}rx:{row.id}",
            )
            for row in rows[:LISTED_REMINDERS]
        ]
        return text, InlineKeyboardMarkup(_rows(stops, 3))

    def _reminder_line(self, row: ReminderRecord) -> str:
        due = self._local(row.due_at)
        if row.cron:
            when = self.t("staff.outreach.when_cron", cron=self._cron_words(row.cron), time=due)
        else:
            when = self.t("staff.outreach.when_at", time=due)
        try:
            segment = self.describe(Segment.model_validate_json(row.segment or "{}"))
        except ValidationError:
            segment = "-"
        return self.t(
            "staff.outreach.reminder_line",
            id=row.id,
            when=when,
            segment=segment,
            text=_short(row.text_id or "", 60),
        )

    async def _on_record_button(
        self, query: CallbackQuery, user: User, action: str, record_id: int, event_id: str
    ) -> None:
        """Buttons of progress and list messages: refresh (any staff), stop (admin, petugas)."""
        panel_id = self.desk._message_id(query)
        target = f"reminder:{record_id}" if action.startswith("r") else f"broadcast:{record_id}"
        reading = action in ("st", "rl")
        if not (self._may_read(user) if reading else self._may_act(user)):
            await self.desk._answer(query, self._refusal(user), alert=True)
            await self.desk._audit_refusal(user, target, f"button {action}")
            return
        if action == "st":
            await self.desk._answer(query)
            await self._edit(panel_id, *(await self.status_view(record_id)))
        elif action == "x":
            await self.desk._answer(query)
            confirm = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            self.t("staff.outreach.btn.stop_yes"),
                            callback_data=f"{CALLBACK_PREFIX}xx:{record_id}",
                        ),
                        InlineKeyboardButton(
                            self.t("staff.outreach.btn.stop_no"),
                            callback_data=f"{CALLBACK_PREFIX}st:{record_id}",
                        ),
                    ]
                ]
            )
            await self._edit(panel_id, self.t("staff.outreach.stop_confirm", id=record_id), confirm)
        elif action == "xx":
            note = await self._stop_broadcast(user, record_id, event_id)
            await self.desk._answer(query, note)
            if note is not None:
                text, markup = await self.status_view(record_id)
                await self._edit(panel_id, f"{note}\n\n{text}", markup)
        elif action == "rx":
            await self.desk._answer(query)
            row = await outreach_store.active_staff_reminder(self.db, record_id)
            if row is None:
                await self._edit(
                    panel_id,
                    *(await self.reminders_view(self.t("staff.outreach.reminder_not_found", id=record_id))),
                )
                return
            confirm = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            self.t("staff.outreach.btn.stop_yes"),
                            callback_data=f"{CALLBACK_PREFIX}rxx:{record_id}",
                        ),
                        InlineKeyboardButton(
                            self.t("staff.outreach.btn.stop_no"), callback_data=f"{CALLBACK_PREFIX}rl"
                        ),
                    ]
                ]
            )
            text = self.t("staff.outreach.reminder_stop_confirm", line=self._reminder_line(row))
            await self._edit(panel_id, text, confirm)
        elif action == "rxx":
            actor = self.desk.actor(user)
            first, stopped = await self._once(
                event_id,
                partial(outreach.cancel_reminder, reminder_id=record_id, actor=actor, at=self.desk.now()),
            )
            if not first:
                await self.desk._answer(query)
                return
            key = "staff.outreach.reminder_stopped" if stopped else "staff.outreach.reminder_not_found"
            note = self.t(key, id=record_id)
            await self.desk._answer(query, note)
            await self._edit(panel_id, *(await self.reminders_view(note)))
        elif action == "rl":
            await self.desk._answer(query)
            await self._edit(panel_id, *(await self.reminders_view()))
        else:
            await self.desk._answer(query, self.t("tg.button_old"))

    async def _stop_broadcast(self, user: User, broadcast_id: int, event_id: str | None) -> str | None:
        """Cancel a broadcast; what to tell the staff member (None: a redelivered update)."""
        actor = self.desk.actor(user)
        work = partial(outreach.cancel_broadcast, broadcast_id=broadcast_id, actor=actor, at=self.desk.now())
        try:
            if event_id is None:
                cancelled: int | None = await self.db.write(work)
            else:
                first, cancelled = await self._once(event_id, work)
                if not first:
                    return None
        except OutreachError:
            broadcast = await outreach_store.get_broadcast(self.db, broadcast_id)
            if broadcast is None:
                return self.t("staff.outreach.not_found", id=broadcast_id)
            status = self.t(f"staff.outreach.bstatus.{broadcast.status}")
            return self.t("staff.outreach.already", id=broadcast_id, status=status)
        return self.t("staff.outreach.stopped", id=broadcast_id, count=cancelled or 0)

    async def _stop_broadcast_now(self, user: User, broadcast_id: int, reply_to: int) -> None:
        if await outreach_store.get_broadcast(self.db, broadcast_id) is None:
            await self.desk._say(self.t("staff.outreach.not_found", id=broadcast_id), reply_to=reply_to)
            return
        note = await self._stop_broadcast(user, broadcast_id, None)
        text, markup = await self.status_view(broadcast_id)
        await self.desk._say(f"{note}\n\n{text}" if note else text, reply_to=reply_to, markup=markup)

    async def _stop_reminder_now(self, user: User, reminder_id: int, reply_to: int) -> None:
        stopped = await self.db.write(
            partial(
                outreach.cancel_reminder,
                reminder_id=reminder_id,
                actor=self.desk.actor(user),
                at=self.desk.now(),
            )
        )
        key = "staff.outreach.reminder_stopped" if stopped else "staff.outreach.reminder_not_found"
        await self.desk._say(self.t(key, id=reminder_id), reply_to=reply_to)


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
