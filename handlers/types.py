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
class Spoken:
    """One part of a voice note: a catalog sentence (which the office may have recorded) or free words.

    `text` is what is said; `key` and `params` name the catalog sentence it was made from, so a recording
    of that sentence's fixed words can stand in for the synthesised voice.
    """

    text: str
    key: str | None = None
    params: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Serialise for the outbox."""
        body: dict[str, Any] = {"text": self.text}
        if self.key:
            body["key"] = self.key
        if self.params:
            body["params"] = dict(self.params)
        return body

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> "Spoken":
        """Read back an outbox part."""
        params = body.get("params") or {}
        return cls(
            text=str(body["text"]),
            key=body.get("key"),
            params=tuple((str(k), str(v)) for k, v in params.items()),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Voice:
    """The voice note that goes with a reply: its parts, spoken in `language`."""

    language: str
    parts: tuple[Spoken, ...]

    def to_dict(self) -> dict[str, Any]:
        """Serialise for the outbox."""
        return {"language": self.language, "parts": [part.to_dict() for part in self.parts]}

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> "Voice":
        """Read back an outbox voice field."""
        return cls(language=str(body["language"]), parts=tuple(Spoken.from_dict(p) for p in body["parts"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """One message to a user: text, optional choices, optional request for a phone/location/file."""

    text: str
    choices: tuple[Choice, ...] = field(default=())
    request: RequestKind | None = None
    # An approved message template that may carry this text where free-form messages are not allowed
    # (WhatsApp outside the 24-hour window); other channels ignore it.
    template: str | None = None
    # Also spoken as a voice note (contacts in voice mode); each channel sends it after the text.
    voice: Voice | None = None

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
        if self.voice:
            body["voice"] = self.voice.to_dict()
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
            voice=Voice.from_dict(body["voice"]) if body.get("voice") else None,
        )
