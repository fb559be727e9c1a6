"""The simulator: staff chat as a citizen in the browser, through the local `web` channel.

What a simulated citizen types goes through `Service.receive` like any WhatsApp or Telegram message, so
the conversation, the case it creates and the staff messages it receives are the real ones. The
`WebChatChannel` is the sender for `web:` contacts: it keeps each contact's recent messages in memory
for the page to show (a demo channel: a restart forgets the transcript, never the stored data).
"""

import re
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime

from starlette.responses import Response

from bot.dashboard.app import Ctx, Dashboard
from bot.dashboard.voice import note_url
from bot.engine import utcnow
from bot.media import MAX_MEDIA_BYTES
from bot.outbox import SendResult, current_voice_note
from handlers.types import Choice, Inbound, Media, Reply
from storage.records import OutboxStatus

WEB = "web"
CONTACT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
KEEP_MESSAGES = 200
KEEP_CONTACTS = 500
UPLOAD_KINDS = {
    "image/jpeg": "photo",
    "image/png": "photo",
    "image/webp": "photo",
    "audio/ogg": "voice",
    "audio/mpeg": "voice",
    "audio/mp4": "voice",
    "audio/webm": "voice",
    "audio/wav": "voice",
}


@dataclass(frozen=True, slots=True)
class ChatLine:
    """One message in a simulated conversation, from the citizen or to them."""

    number: int
    outgoing: bool  # True: the service wrote it to the citizen
    text: str
    choices: tuple[Choice, ...] = ()
    request: str | None = None
    at: datetime = field(default_factory=utcnow)
    voice: str | None = None  # where the page plays the reply's voice note


class WebChatChannel:
    """The sender for `web:` contacts: keeps the last messages of each contact for the simulator page."""

    scheme = WEB

    def __init__(self) -> None:
        self._lines: OrderedDict[str, deque[ChatLine]] = OrderedDict()
        self._counter = 0

    def _append(
        self,
        contact_id: str,
        *,
        outgoing: bool,
        text: str,
        choices: tuple[Choice, ...] = (),
        request: str | None = None,
        voice: str | None = None,
    ) -> ChatLine:
        self._counter += 1
        line = ChatLine(self._counter, outgoing, text, choices, request, voice=voice)
        lines = self._lines.get(contact_id)
        if lines is None:
            lines = self._lines[contact_id] = deque(maxlen=KEEP_MESSAGES)
            while len(self._lines) > KEEP_CONTACTS:
                self._lines.popitem(last=False)
        self._lines.move_to_end(contact_id)
        lines.append(line)
        return line

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        """Keep the reply for the page; it counts as delivered."""
        line = self._append(
            contact_id,
            outgoing=True,
            text=reply.text,
            choices=reply.choices,
            request=reply.request,
            voice=note_url(current_voice_note.get()),
        )
        return SendResult(OutboxStatus.SENT, external_id=f"web-{line.number}")

    def typed(self, contact_id: str, text: str) -> None:
        """Show what the simulated citizen sent."""
        self._append(contact_id, outgoing=False, text=text)

    def lines(self, contact_id: str) -> list[ChatLine]:
        """The contact's recent messages, oldest first."""
        return list(self._lines.get(contact_id, ()))


def register(d: Dashboard) -> None:
    """Add the simulator pages."""
    d.route("/simulator", page, role="petugas")
    d.route("/simulator/send", send, role="petugas", methods=("POST",), max_body=MAX_MEDIA_BYTES + 100_000)
    d.route("/simulator/messages", messages, role="petugas")


def _contact(ctx: Ctx, raw: str) -> str:
    name = raw.strip().lower()
    return name if CONTACT_NAME.match(name) else f"demo-{ctx.user.username}"[:32]


def _channel(ctx: Ctx) -> WebChatChannel:
    channel = ctx.d.web_channel
    assert isinstance(channel, WebChatChannel)
    return channel


async def page(ctx: Ctx) -> Response:
    """The chat window."""
    name = _contact(ctx, ctx.query("contact"))
    lines = _channel(ctx).lines(f"{WEB}:{name}")
    return ctx.render("simulator.html", name=name, lines=lines, last=_last_reply(lines))


def _last_reply(lines: list[ChatLine]) -> ChatLine | None:
    return next((line for line in reversed(lines) if line.outgoing), None)


async def messages(ctx: Ctx) -> Response:
    """The transcript alone (the page asks for it every second, so staff messages show up too)."""
    name = _contact(ctx, ctx.query("contact"))
    lines = _channel(ctx).lines(f"{WEB}:{name}")
    return ctx.render("_simulator_lines.html", lines=lines, last=_last_reply(lines))


async def send(ctx: Ctx) -> Response:
    """One thing the citizen does: type, press a button, share a phone number or a place, send a file."""
    name = _contact(ctx, ctx.field("contact"))
    contact = f"{WEB}:{name}"
    channel = _channel(ctx)
    now = ctx.now
    event_id = f"{WEB}:{uuid.uuid4().hex}"
    event: Inbound | None = None
    choice = ctx.field("choice", limit=300)
    upload = ctx.upload("file")
    if choice:
        label = ctx.field("label", limit=100) or choice
        channel.typed(contact, label)
        event = Inbound(contact=contact, at=now, event_id=event_id, choice=choice, profile_name=name)
    elif upload is not None:
        data = await upload.read(MAX_MEDIA_BYTES + 1)
        mime = (upload.content_type or "").split(";")[0].strip()
        kind = UPLOAD_KINDS.get(mime, "document")
        if len(data) <= MAX_MEDIA_BYTES:
            ref = ctx.d.media.save(data, mime=mime, at=now)
            channel.typed(contact, ctx.msg(f"simulator.sent_{kind}"))
            event = Inbound(
                contact=contact,
                at=now,
                event_id=event_id,
                media=Media(kind=kind, ref=ref, mime=mime),  # type: ignore[arg-type]
                profile_name=name,
            )
    elif ctx.field("action") == "location":
        try:
            latitude, longitude = float(ctx.field("lat")), float(ctx.field("lon"))
        except ValueError:
            latitude, longitude = -6.2785, 106.7115  # Pondok Aren, for a demo
        channel.typed(contact, f"📍 {latitude:.5f}, {longitude:.5f}")
        event = Inbound(
            contact=contact, at=now, event_id=event_id, location=(latitude, longitude), profile_name=name
        )
    elif ctx.field("action") == "phone":
        phone = ctx.field("phone", limit=30)
        channel.typed(contact, f"📞 {phone}")
        event = Inbound(contact=contact, at=now, event_id=event_id, phone=phone, profile_name=name)
    else:
        text = ctx.field("text", limit=4000)
        if text:
            channel.typed(contact, text)
            event = Inbound(contact=contact, at=now, event_id=event_id, text=text, profile_name=name)
    if event is not None:
        await ctx.audit("simulator.send", target=contact)
        await ctx.d.service.receive(event)
    if ctx.request.headers.get("x-requested-with") == "fetch":
        return await messages_for(ctx, contact)
    return ctx.redirect(f"/simulator?contact={name}")


async def messages_for(ctx: Ctx, contact: str) -> Response:
    """The transcript of `contact` (answer to a script's post)."""
    lines = _channel(ctx).lines(contact)
    return ctx.render("_simulator_lines.html", lines=lines, last=_last_reply(lines))
