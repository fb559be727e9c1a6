"""The local channels: an interactive terminal chat, and `simulate` (JSON lines in, JSON lines out)."""

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any, get_args

from bot.app import Service
from bot.outbox import SendResult, current_voice_note
from handlers.types import Inbound, Media, MediaKind, Reply
from storage.records import OutboxStatus

CONSOLE = "console"

CONSOLE_HELP = """\
Ketik jawaban lalu Enter. Angka memilih pilihan bernomor.
Perintah uji: #lokasi -6.28 106.71 | #foto | #suara | #kontak 081234567890 | #keluar
"""

log = logging.getLogger(__name__)


def render_text(reply: Reply) -> str:
    """A reply as plain text with numbered choices (how the terminal and simple phones see it)."""
    lines = [reply.text]
    for number, choice in enumerate(reply.choices, start=1):
        lines.append(f"  {number}. {choice.label}")
    if reply.request == "phone":
        lines.append("  (#kontak 08xxxxxxxxxx untuk membagikan nomor)")
    elif reply.request == "location":
        lines.append("  (#lokasi <lintang> <bujur> untuk membagikan lokasi)")
    elif reply.request == "photo":
        lines.append("  (#foto untuk mengirim foto)")
    return "\n".join(lines)


class TerminalChannel:
    """Prints replies to the terminal."""

    scheme = CONSOLE

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        """Print the reply (and where its voice note is, to play it)."""
        text = render_text(reply)
        audio = current_voice_note.get()
        if audio is not None:
            text += f"\n  🔊 {audio}"
        print("\n" + text, file=self.out, flush=True)
        return SendResult(OutboxStatus.SENT)


class JsonLinesChannel:
    """Writes each reply as one JSON line: {"to", "text", "choices", "request", "voice"}."""

    scheme = CONSOLE

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        """Write the reply as a JSON line."""
        body: dict[str, Any] = {"to": contact_id.split(":", 1)[1], "text": reply.text}
        if reply.choices:
            body["choices"] = [{"id": c.id, "label": c.label} for c in reply.choices]
        if reply.request:
            body["request"] = reply.request
        audio = current_voice_note.get()
        if audio is not None:
            body["voice"] = str(audio)
        self.out.write(json.dumps(body, ensure_ascii=False) + "\n")
        return SendResult(OutboxStatus.SENT)


def parse_console_line(line: str, contact: str, at: datetime, choices: list[str]) -> Inbound | None:
    """Turn a typed terminal line into an inbound event (None for an empty line)."""
    text = line.strip()
    if not text:
        return None
    if text.startswith("#lokasi"):
        parts = text.split()[1:]
        try:
            return Inbound(contact=contact, at=at, location=(float(parts[0]), float(parts[1])))
        except (IndexError, ValueError):
            return Inbound(contact=contact, at=at, text=text)
    if text == "#foto":
        return Inbound(
            contact=contact,
            at=at,
            media=Media(kind="photo", ref="console-photo", mime="image/jpeg"),
        )
    if text == "#suara":
        return Inbound(
            contact=contact, at=at, media=Media(kind="voice", ref="console-voice", mime="audio/ogg")
        )
    if text.startswith("#kontak"):
        return Inbound(contact=contact, at=at, phone=text.removeprefix("#kontak").strip())
    if text.isdigit() and 0 < int(text) <= len(choices):
        return Inbound(contact=contact, at=at, choice=choices[int(text) - 1])
    return Inbound(contact=contact, at=at, text=text)


async def run_terminal_chat(
    service: Service,
    name: str,
    *,
    stdin: IO[str],
    stdout: IO[str],
    clock: Callable[[], datetime],
) -> None:
    """Chat with the bot in the terminal as contact `console:<name>`."""
    contact = f"{CONSOLE}:{name}"
    print(CONSOLE_HELP, file=stdout, flush=True)
    last_choices: list[str] = []

    async def remember(records: list[Any]) -> None:
        nonlocal last_choices
        await service.dispatcher.deliver(records)
        for record in records:
            reply = Reply.from_json(record.payload)
            if reply.choices:
                last_choices = [c.id for c in reply.choices]

    await service.engine.handle(Inbound(contact=contact, at=clock(), text="halo"), remember)
    loop = asyncio.get_running_loop()
    while True:
        print("\n> ", end="", file=stdout, flush=True)
        line = await loop.run_in_executor(None, stdin.readline)
        if not line or line.strip() == "#keluar":
            return
        event = parse_console_line(line, contact, clock(), last_choices)
        if event is not None:
            await service.engine.handle(event, remember)


def parse_simulated(raw: str, number: int, at: datetime) -> tuple[Inbound | None, Any, str | None]:
    """Read one `simulate` line: (event, ack value, error message)."""
    try:
        body = json.loads(raw)
    except RecursionError:
        return None, number, f"line {number} is nested too deeply"
    except ValueError:  # not JSON, or an integer longer than Python reads (4,300 digits)
        return None, number, f"line {number} is not valid JSON"
    if not _encodable(body):
        return None, number, f"line {number} has text that is not valid UTF-8"
    if not isinstance(body, dict) or not isinstance(body.get("from"), str) or not body["from"]:
        return None, number, f'line {number} needs a "from" string'
    ack = body.get("id", number)
    channel = body.get("channel", CONSOLE)
    if not isinstance(channel, str) or not channel.isidentifier():
        return None, ack, f"line {number} has a bad channel"
    location = body.get("location")
    media = body.get("media")
    try:
        event = Inbound(
            contact=f"{channel}:{body['from']}",
            at=at,
            # Ids are scoped per contact: two contacts' lines with the same id are two events.
            event_id=f"{channel}:sim:{body['from']}:{body['id']}" if "id" in body else None,
            text=_opt_str(body.get("text")),
            choice=_opt_str(body.get("choice")),
            phone=_opt_str(body.get("phone")),
            location=_opt_location(location),
            media=_opt_media(media),
            command=_opt_str(body.get("command")),
            profile_name=_opt_str(body.get("name")),
        )
    except (TypeError, ValueError, IndexError):
        return None, ack, f"line {number} has a field of the wrong type"
    return event, ack, None


def _encodable(value: Any) -> bool:
    """Whether every string in a parsed line is real UTF-8 (no lone surrogates from \\udc80 escapes or
    undecodable input bytes); walked without recursion, however deep the line is."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _opt_location(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    # bool is an int to Python, but `true` is no latitude.
    if not (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise TypeError("expected [latitude, longitude]")
    return float(value[0]), float(value[1])


def _opt_media(value: Any) -> Media | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("kind", "photo") not in get_args(MediaKind):
        raise TypeError("expected {kind, ref}")
    return Media(
        kind=value.get("kind", "photo"), ref=str(value.get("ref", "sim")), mime=_opt_str(value.get("mime"))
    )


async def run_simulation(
    service: Service, *, stdin: IO[str], stdout: IO[str], clock: Callable[[], datetime]
) -> int:
    """Handle JSON-line events from `stdin` one by one; return how many were handled."""
    loop = asyncio.get_running_loop()
    number = 0
    handled = 0
    while True:
        raw = await loop.run_in_executor(None, stdin.readline)
        if not raw:
            return handled
        if not raw.strip():
            continue
        number += 1
        event, ack, error = parse_simulated(raw, number, clock())
        if error is not None:
            stdout.write(json.dumps({"error": error}) + "\n")
        elif event is not None:
            try:
                await service.receive(event)
                handled += 1
            except Exception as problem:  # one bad event must not stop the lines after it
                log.warning("simulate line %d failed: %s", number, type(problem).__name__)
                stdout.write(json.dumps({"error": f"line {number} could not be handled"}) + "\n")
        stdout.write(json.dumps({"ack": ack}) + "\n")
        stdout.flush()
