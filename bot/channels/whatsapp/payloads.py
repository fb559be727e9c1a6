"""WhatsApp Cloud API webhook bodies -> incoming messages and delivery statuses (no I/O here).

Every entry, change, message and status of a body is read, not only the first (Meta batches). Each
element is validated on its own, so one odd element is skipped (and logged) without losing the others.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handlers.types import Inbound, Media, MediaKind

log = logging.getLogger(__name__)

SCHEME = "whatsapp"

StatusName = Literal["sent", "delivered", "read", "failed"]


# ---------------------------------------------------------------- payload shapes (Meta's names)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Profile(_Model):
    name: str | None = None


class _Contact(_Model):
    wa_id: str | None = None
    user_id: str | None = None
    profile: _Profile | None = None


class _Text(_Model):
    body: str


class _ReplyPick(_Model):
    id: str
    title: str | None = None


class _Interactive(_Model):
    type: str
    button_reply: _ReplyPick | None = None
    list_reply: _ReplyPick | None = None


class _TemplateButton(_Model):
    payload: str | None = None
    text: str | None = None


class _MediaObject(_Model):
    id: str
    mime_type: str | None = None
    caption: str | None = None
    voice: bool = False


class _Location(_Model):
    latitude: float
    longitude: float


class _SharedPhone(_Model):
    phone: str | None = None
    wa_id: str | None = None


class _SharedContact(_Model):
    phones: list[_SharedPhone] = Field(default_factory=list)


class _Context(_Model):
    id: str | None = None


class _Message(_Model):
    id: str
    sender: str | None = Field(default=None, alias="from")
    from_user_id: str | None = None
    timestamp: str | None = None
    type: str
    text: _Text | None = None
    interactive: _Interactive | None = None
    button: _TemplateButton | None = None
    image: _MediaObject | None = None
    audio: _MediaObject | None = None
    voice: _MediaObject | None = None
    document: _MediaObject | None = None
    video: _MediaObject | None = None
    sticker: _MediaObject | None = None
    location: _Location | None = None
    contacts: list[_SharedContact] | None = None
    context: _Context | None = None  # the message this one replies to (quoted)


class _Error(_Model):
    code: int
    title: str | None = None
    message: str | None = None


class _Status(_Model):
    id: str
    status: str
    timestamp: str | None = None
    errors: list[_Error] = Field(default_factory=list)


class _Metadata(_Model):
    phone_number_id: str | None = None


# ---------------------------------------------------------------- what the channel works with


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaRef:
    """A file announced by a webhook: only an id that must be fetched within minutes."""

    kind: MediaKind
    media_id: str
    mime: str | None = None
    caption: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingMessage:
    """One message a person sent, with both identities WhatsApp gave for them."""

    wamid: str
    wa_id: str | None
    user_id: str | None
    at: datetime
    phone_number_id: str | None = None
    profile_name: str | None = None
    text: str | None = None
    choice: str | None = None
    location: tuple[float, float] | None = None
    phone: str | None = None
    media: MediaRef | None = None
    reply_to: str | None = None  # the wamid of the message quoted

    @property
    def address(self) -> str:
        """The contact address: `whatsapp:<wa_id>` when the phone is known, else the BSUID."""
        return f"{SCHEME}:{self.wa_id or self.user_id}"

    @property
    def other_address(self) -> str | None:
        """The second address of the same person (the BSUID when both ids came)."""
        return f"{SCHEME}:{self.user_id}" if self.wa_id and self.user_id else None

    @property
    def event_id(self) -> str:
        """The engine's durable deduplication key."""
        return f"{SCHEME}:{self.wamid}"

    def to_inbound(self, contact: str | None = None, media: Media | None = None) -> Inbound:
        """The engine's event; `media` is the downloaded file (None when there is none or it failed)."""
        return Inbound(
            contact=contact or self.address,
            at=self.at,
            event_id=self.event_id,
            text=self.text,
            choice=self.choice,
            phone=self.phone,
            location=self.location,
            media=media,
            profile_name=self.profile_name,
            channel_phone=f"+{self.wa_id}" if self.wa_id else None,
            reply_to=self.reply_to,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphError:
    """An error Meta reported: its code and short title."""

    code: int
    title: str

    def describe(self) -> str:
        """How the error is recorded on an outbox row, e.g. `131026 Message undeliverable`."""
        return f"{self.code} {self.title}".strip()


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdate:
    """What became of a message the service sent."""

    wamid: str
    status: StatusName
    at: datetime
    phone_number_id: str | None = None
    errors: tuple[GraphError, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedWebhook:
    """Everything one webhook body carried that the service acts on."""

    messages: tuple[IncomingMessage, ...]
    statuses: tuple[StatusUpdate, ...]


# ---------------------------------------------------------------- parsing


def _time(stamp: str | None) -> datetime:
    if stamp and stamp.isdigit():
        return datetime.fromtimestamp(int(stamp), UTC)
    return datetime.now(UTC)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def parse_webhook(body: dict[str, Any]) -> ParsedWebhook:
    """All messages and statuses of a webhook body, in the order they appear."""
    messages: list[IncomingMessage] = []
    statuses: list[StatusUpdate] = []
    for entry in _dicts(body.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            metadata = _metadata(value.get("metadata"))
            contacts = _contacts(value.get("contacts"))
            for raw in _dicts(value.get("messages")):
                message = _message(raw, contacts, metadata)
                if message is not None:
                    messages.append(message)
            for raw in _dicts(value.get("statuses")):
                status = _status(raw, metadata)
                if status is not None:
                    statuses.append(status)
    return ParsedWebhook(tuple(messages), tuple(statuses))


def _metadata(raw: Any) -> str | None:
    try:
        return _Metadata.model_validate(raw).phone_number_id if isinstance(raw, dict) else None
    except ValidationError:
        return None


def _contacts(raw: Any) -> list[_Contact]:
    contacts = []
    for item in _dicts(raw):
        try:
            contacts.append(_Contact.model_validate(item))
        except ValidationError:
            log.warning("skipped a malformed WhatsApp contacts entry")
    return contacts


def _sender(message: _Message, contacts: list[_Contact]) -> tuple[str | None, str | None, str | None]:
    """wa_id, BSUID and profile name of the sender; the message's own ids win over contacts[]."""
    match = next(
        (
            c
            for c in contacts
            if (message.sender and c.wa_id == message.sender)
            or (message.from_user_id and c.user_id == message.from_user_id)
        ),
        contacts[0] if len(contacts) == 1 else None,
    )
    wa_id = message.sender or (match.wa_id if match else None)
    user_id = message.from_user_id or (match.user_id if match else None)
    name = match.profile.name if match and match.profile else None
    return wa_id or None, user_id or None, name


_MEDIA_KINDS: dict[str, MediaKind] = {
    "image": "photo",
    "document": "document",
    "video": "video",
    "sticker": "sticker",
    "voice": "voice",
}


def _message(
    raw: dict[str, Any], contacts: list[_Contact], phone_number_id: str | None
) -> IncomingMessage | None:
    try:
        message = _Message.model_validate(raw)
    except ValidationError:
        log.warning("skipped a malformed WhatsApp message (type %r)", raw.get("type"))
        return None
    wa_id, user_id, name = _sender(message, contacts)
    if not wa_id and not user_id:
        log.warning("skipped a WhatsApp message without a sender id")
        return None
    content = _content(message)
    if content is None:
        log.info("ignored a WhatsApp message of type %r", message.type)
        return None
    return IncomingMessage(
        wamid=message.id,
        wa_id=wa_id,
        user_id=user_id,
        at=_time(message.timestamp),
        phone_number_id=phone_number_id,
        profile_name=name,
        reply_to=message.context.id if message.context is not None else None,
        **content,
    )


def _content(message: _Message) -> dict[str, Any] | None:
    """The message's content as Inbound fields; None for kinds the service does not act on."""
    kind = message.type
    if kind == "text" and message.text is not None:
        return {"text": message.text.body}
    if kind == "interactive" and message.interactive is not None:
        pick = message.interactive.button_reply or message.interactive.list_reply
        return {"choice": pick.id} if pick is not None else None
    if kind == "button" and message.button is not None:
        # A template's quick-reply button: our own payloads are choice ids ("scope:key"); anything
        # else is treated as what the person read on the button.
        payload = message.button.payload or ""
        if ":" in payload:
            return {"choice": payload}
        return {"text": message.button.text or payload}
    if kind == "location" and message.location is not None:
        return {"location": (message.location.latitude, message.location.longitude)}
    if kind == "contacts" and message.contacts:
        phones = [p for c in message.contacts for p in c.phones]
        if not phones:
            return None
        first = phones[0]
        return {"phone": f"+{first.wa_id}" if first.wa_id else first.phone}
    if kind in ("image", "document", "video", "sticker", "audio", "voice"):
        obj: _MediaObject | None = getattr(message, kind)
        if obj is None:
            return None
        media_kind = _MEDIA_KINDS.get(kind) or ("voice" if obj.voice else "audio")
        return {"media": MediaRef(kind=media_kind, media_id=obj.id, mime=obj.mime_type, caption=obj.caption)}
    if kind in ("unsupported", "unknown"):
        # Something WhatsApp cannot pass on (a poll, a view-once photo): an empty answer lets the
        # conversation explain and ask its question again. Reactions and system notices are ignored.
        return {"text": ""}
    return None


_STATUS_NAMES: dict[str, StatusName] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
}


def _status(raw: dict[str, Any], phone_number_id: str | None) -> StatusUpdate | None:
    # Parsed here rather than with pywa: status webhooks for failed messages may come without
    # contacts[] (Meta's BSUID document), which pywa 4.5's MessageStatus does not accept.
    try:
        status = _Status.model_validate(raw)
    except ValidationError:
        log.warning("skipped a malformed WhatsApp status")
        return None
    name = _STATUS_NAMES.get(status.status)
    if name is None:
        log.info("ignored a WhatsApp status %r", status.status)
        return None
    return StatusUpdate(
        wamid=status.id,
        status=name,
        at=_time(status.timestamp),
        phone_number_id=phone_number_id,
        errors=tuple(GraphError(code=e.code, title=e.title or e.message or "") for e in status.errors),
    )
