"""Platform-free value objects: what a channel hands the engine and what the flows answer."""

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

MediaKind = Literal["photo", "voice", "audio", "document", "video", "sticker"]
RequestKind = Literal["phone", "location", "photo", "media"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Media:
    """A file the user sent; `ref` is the channel's handle (or a stored path once downloaded)."""

    kind: MediaKind
    ref: str
    mime: str | None = None
    caption: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Inbound:
    """One thing a user did: typed text, pressed a choice, shared a phone/location/file, or a command."""

    contact: str
    at: datetime
    event_id: str | None = None
    text: str | None = None
    choice: str | None = None
    phone: str | None = None
    location: tuple[float, float] | None = None
    media: Media | None = None
    command: str | None = None
    profile_name: str | None = None
    channel_phone: str | None = None
    # The platform id of the message this one replies to (WhatsApp `context.id`, Telegram
    # `reply_to_message.message_id`): matched to the outbox row that sent it.
    reply_to: str | None = None

    @property
    def channel(self) -> str:
        """The channel scheme of the contact address (`telegram`, `whatsapp`, `console`)."""
        return self.contact.split(":", 1)[0]


@dataclass(frozen=True, slots=True)
class Choice:
    """One option offered to the user; `id` is what a button sends back."""

    id: str
    label: str
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """One message to a user: text, optional choices, optional request for a phone/location/file."""

    text: str
    choices: tuple[Choice, ...] = field(default=())
    request: RequestKind | None = None
    # An approved message template that may carry this text where free-form messages are not allowed
    # (WhatsApp outside the 24-hour window); other channels ignore it.
    template: str | None = None

    def to_json(self) -> str:
        """Serialise for the outbox."""
        body: dict[str, Any] = {"text": self.text}
        if self.choices:
            body["choices"] = [
                {"id": c.id, "label": c.label} | ({"description": c.description} if c.description else {})
                for c in self.choices
            ]
        if self.request:
            body["request"] = self.request
        if self.template:
            body["template"] = self.template
        return json.dumps(body, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> "Reply":
        """Read back an outbox payload."""
        body = json.loads(raw)
        return cls(
            text=body["text"],
            choices=tuple(Choice(c["id"], c["label"], c.get("description")) for c in body.get("choices", [])),
            request=body.get("request"),
            template=body.get("template"),
        )
