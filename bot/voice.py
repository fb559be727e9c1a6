"""Voice notes: the office's recorded prompts, espeak-ng as the spoken fallback, OGG/Opus files on disk.

Every voice note is an OGG/Opus file (mono, 48 kHz: WhatsApp's voice-note format, also what Telegram's
sendVoice plays as a voice message). A part of a reply that came from a catalog sentence is spoken with
the office's recording of that sentence when there is one; a sentence with placeholders ("Nomor
pendaftaran: {reference}") is recorded in pieces (its fixed words), and the filled-in values are
synthesised between them. Everything else is synthesised offline with espeak-ng, converted by ffmpeg and
cached by voice and text, so each distinct sentence is synthesised once. The tools run as subprocesses
(never on the event loop); if anything fails the reply goes out as text only and the failure is logged
(without the words, which may be personal).
"""

import asyncio
import contextlib
import hashlib
import io
import logging
import os
import re
import string
import tempfile
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from mutagen.ogg import OggPage

from bot.settings import VoiceSettings
from handlers.i18n import Catalog
from handlers.speech import speakable
from handlers.types import Voice
from storage import contacts
from storage.contract import Store

log = logging.getLogger(__name__)

OPUS_ARGS = ["-vn", "-ac", "1", "-ar", "48000", "-c:a", "libopus", "-b:a", "32k", "-application", "voip"]
MIN_RECORDING_SECONDS = 0.3
# Catalog keys never spoken (staff-facing texts, channel chrome).
UNSPOKEN_PREFIXES = ("staff.", "whatsapp.", "telegram.")
_SLASH = re.compile(r"(?<=\w)/(?=\w)")
_LINES = re.compile(r"\s*\n+\s*")
_SPACES = re.compile(r"\s+")
# A code spelled out a character at a time: capitals, digits and dashes with at least one digit
# (reference numbers such as REG-2026-000001).
_CODE = re.compile(r"^(?=.*\d)[A-Z0-9][A-Z0-9-]{3,}$")

MakeFn = Callable[[Path], Awaitable[None]]


class VoiceError(RuntimeError):
    """A voice file could not be made (a tool missing or failing, or an unreadable recording)."""


@dataclass(frozen=True, slots=True)
class Piece:
    """One piece of a catalog sentence: fixed words (a recordable slot) or a placeholder."""

    slot: str | None  # None for a placeholder
    text: str  # the fixed words, or the placeholder's name


@dataclass(frozen=True, slots=True)
class Slot:
    """A recordable prompt: a catalog sentence, or the fixed words of one around its placeholders."""

    slot: str
    key: str
    text: str  # what to read aloud
    context: str  # the whole catalog sentence, placeholders shown


def pieces(template: str, key: str) -> list[Piece]:
    """A catalog sentence cut at its placeholders; a sentence without any is one slot named `key`."""
    parsed = list(string.Formatter().parse(template))
    if all(field is None for _, field, _, _ in parsed):
        return [Piece(key, template)]
    out: list[Piece] = []
    number = 0
    for literal, field, _, _ in parsed:
        if speakable(literal):
            number += 1
            out.append(Piece(f"{key}~{number}", literal))
        if field is not None:
            out.append(Piece(None, field))
    return out


def spoken_text(text: str, language: str) -> str:
    """Text as espeak-ng should read it: no emoji or markup, "Bapak/Ibu" as "Bapak atau Ibu"."""
    text = _SLASH.sub(" atau " if language == "id" else " or ", text)
    kept = "".join(ch if unicodedata.category(ch)[0] in "LNPZ" and ch not in "*_~`#" else " " for ch in text)
    kept = _LINES.sub(". ", kept.strip())
    return _SPACES.sub(" ", kept).replace("..", ".").replace(":.", ":").strip()


def _digest(*values: str) -> str:
    return hashlib.sha256("\x00".join(values).encode()).hexdigest()[:32]


def join_ogg(blobs: list[bytes]) -> bytes:
    """Several OGG/Opus files of the same encoding as one: the first file's headers, then every file's
    audio pages renumbered into one stream (granule positions carried on). Pure Python, milliseconds,
    where an ffmpeg process costs hundreds of them on a busy machine."""
    pages: list[OggPage] = []
    serial = 0
    offset = 0
    for number, blob in enumerate(blobs):
        source = io.BytesIO(blob)
        found: list[OggPage] = []
        while source.tell() < len(blob):
            found.append(OggPage(source))  # type: ignore[no-untyped-call]
        # OpusHead and OpusTags come first, each ending a page.
        packets = headers = 0
        for page in found:
            headers += 1
            packets += len(page.packets) - (0 if page.complete else 1)
            if packets >= 2 and page.complete:
                break
        if number == 0:
            serial = found[0].serial
            pages += found[:headers]
        last = 0
        for page in found[headers:]:
            if page.position >= 0:
                last = page.position
                page.position += offset
            page.serial = serial
            page.first = page.last = False
            pages.append(page)
        offset += last
    if not pages:
        raise VoiceError("nothing to join")
    pages[-1].last = True
    for sequence, page in enumerate(pages):
        page.sequence = sequence
    return b"".join(page.write() for page in pages)  # type: ignore[no-untyped-call]


def _exists(path: Path) -> bool:
    """Whether a cached file is there: one stat of a local file, quick enough for the event loop."""
    return path.is_file()


def audio_id(path: Path) -> str:
    """A name for one version of an audio file (changes when the file is replaced)."""
    stat = path.stat()
    return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"


class VoiceBank:
    """Makes and keeps voice-note files under `<data dir>/voice/`."""

    def __init__(self, data_dir: Path, catalog: Catalog, settings: VoiceSettings | None = None) -> None:
        self.settings = settings or VoiceSettings()
        self.catalog = catalog
        self.root = data_dir / "voice"
        self.prompts = self.root / "prompts"
        self.cache = self.root / "cache"
        # Sentences that carry someone's answers (names, numbers) are kept for a day only.
        self.personal = self.cache / "personal"
        self.syntheses = 0  # espeak-ng runs (each distinct sentence once)
        self._locks: dict[str, asyncio.Lock] = {}
        self._jobs = asyncio.Semaphore(max(1, self.settings.max_jobs))
        self._pruned_at = 0.0

    @property
    def enabled(self) -> bool:
        """Whether voice notes are made at all."""
        return self.settings.enabled

    def voice_name(self, language: str) -> str:
        """The espeak-ng voice of a language."""
        return self.settings.espeak_voice_en if language == "en" else self.settings.espeak_voice_id

    # ------------------------------------------------------------ recorded prompts

    def slots(self, language: str) -> list[Slot]:
        """Every recordable prompt of the citizens' catalog in `language`, in catalog order."""
        out: list[Slot] = []
        for key, template in self.catalog.messages[language].items():
            if key.startswith(UNSPOKEN_PREFIXES) or not speakable(template):
                continue
            for piece in pieces(template, key):
                if piece.slot is not None:
                    out.append(Slot(piece.slot, key, piece.text.strip(), template))
        return out

    def slot(self, language: str, slot: str) -> Slot | None:
        """One recordable prompt by name (None when the catalog has no such slot)."""
        key = slot.split("~", 1)[0]
        template = self.catalog.messages.get(language, {}).get(key)
        if template is None or key.startswith(UNSPOKEN_PREFIXES):
            return None
        for piece in pieces(template, key):
            if piece.slot == slot:
                return Slot(slot, key, piece.text.strip(), template)
        return None

    def recording_path(self, language: str, slot: str) -> Path:
        """Where the recording of a slot lives (whether or not it exists)."""
        return self.prompts / language / f"{slot}.ogg"

    def recording(self, language: str, slot: str) -> Path | None:
        """The office's recording of a slot, if there is one."""
        path = self.recording_path(language, slot)
        return path if path.is_file() else None

    async def store_recording(self, language: str, slot: str, data: bytes) -> float:
        """Convert an uploaded or recorded file to OGG/Opus and keep it as the slot's voice; its seconds."""
        target = self.recording_path(language, slot)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root) as work:
            source = Path(work) / "upload"
            await asyncio.to_thread(source.write_bytes, data)
            converted = Path(work) / "prompt.ogg"
            await self._run(
                [
                    self.settings.ffmpeg,
                    "-nostdin",
                    "-y",
                    "-loglevel",
                    "error",
                    "-i",
                    str(source),
                    *OPUS_ARGS,
                    str(converted),
                ]
            )
            seconds = await self.duration(converted)
            if seconds < MIN_RECORDING_SECONDS:
                raise VoiceError("recording too short")
            if seconds > self.settings.max_recording_seconds:
                raise VoiceError("recording too long")
            os.replace(converted, target)
        return seconds

    def remove_recording(self, language: str, slot: str) -> bool:
        """Forget a slot's recording (the synthesised voice speaks it again); whether there was one."""
        path = self.recording_path(language, slot)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    # ------------------------------------------------------------ synthesis

    async def synthesise(self, text: str, language: str, *, personal: bool = False) -> Path:
        """The OGG/Opus file of `text` spoken by espeak-ng, made once per voice and text."""
        voice = self.voice_name(language)
        words = spoken_text(text, language)
        if not speakable(words):
            raise VoiceError("nothing to say")
        name = _digest("tts", voice, str(self.settings.espeak_speed), words)
        target = (self.personal if personal else self.cache) / f"tts-{name}.ogg"
        return await self._once(target, lambda out: self._espeak(words, voice, out))

    async def _espeak(self, words: str, voice: str, out: Path) -> None:
        with tempfile.TemporaryDirectory(dir=self.root) as work:
            wav = Path(work) / "speech.wav"
            espeak = [
                self.settings.espeak,
                "-v",
                voice,
                "-s",
                str(self.settings.espeak_speed),
                "-w",
                str(wav),
            ]
            await self._run([*espeak, "--stdin"], stdin=words.encode())
            self.syntheses += 1
            await self._encode([str(wav)], out)

    async def _encode(self, inputs: list[str], out: Path) -> None:
        args = [self.settings.ffmpeg, "-nostdin", "-y", "-loglevel", "error"]
        for source in inputs:
            args += ["-i", source]
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.ogg")
        try:
            await self._run([*args, *OPUS_ARGS, str(tmp)])
            os.replace(tmp, out)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    async def _once(self, target: Path, make: MakeFn) -> Path:
        """`target`, made by `make` unless it exists; concurrent callers wait for the one making it."""
        if _exists(target):
            return target
        key = str(target)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                if not _exists(target):
                    os.makedirs(target.parent, exist_ok=True)
                    async with self._jobs:
                        await make(target)
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]
        return target

    async def _run(self, args: list[str], *, stdin: bytes | None = None) -> bytes:
        """Run a tool in a subprocess (the event loop keeps serving); its stdout."""
        try:
            process = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as error:
            raise VoiceError(f"{Path(args[0]).name} cannot run ({type(error).__name__})") from None
        try:
            async with asyncio.timeout(self.settings.tool_timeout_seconds):
                out, err = await process.communicate(stdin)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise VoiceError(f"{Path(args[0]).name} took too long") from None
        if process.returncode != 0:
            detail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise VoiceError(f"{Path(args[0]).name} failed ({process.returncode}): {detail[0][:200]}")
        return out

    async def duration(self, path: Path) -> float:
        """Seconds of audio in a file (ffprobe)."""
        out = await self._run(
            [
                self.settings.ffprobe,
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
                str(path),
            ]
        )
        try:
            return float(out.decode().strip())
        except ValueError:
            raise VoiceError("no duration") from None

    # ------------------------------------------------------------ voice notes

    def plan(self, voice: Voice) -> list[tuple[str, str | Path, bool]]:
        """The segments of a voice note, in order: ("file", recording, False) or ("tts", words, personal).

        A catalog sentence with placeholders is spoken in pieces: its fixed words (recorded, or
        synthesised once for everyone) and its values between them. A code such as a reference number
        is spelled out a character at a time, which is how it must be repeated at the office, and each
        character is synthesised once. Other values (a name, an address) are personal.
        """
        language = voice.language
        table = self.catalog.messages.get(language, {})
        segments: list[tuple[str, str | Path, bool]] = []

        def say(words: str, personal: bool) -> None:
            if not speakable(words):
                return
            last = segments[-1] if segments else None
            if last is not None and last[0] == "tts" and not personal and not last[2]:
                segments[-1] = ("tts", f"{last[1]} {words.strip()}", False)
            else:
                segments.append(("tts", words.strip(), personal))

        def value(words: str, personal: bool) -> None:
            if _CODE.match(words):
                for char in words:
                    if char.isalnum():
                        segments.append(("tts", char, False))
            else:
                say(words, personal)

        for part in voice.parts:
            template = table.get(part.key) if part.key else None
            if template is None or part.key is None:
                say(part.text, True)
                continue
            cut = pieces(template, part.key)
            recordings = [self.recording(language, p.slot) if p.slot else None for p in cut]
            values = dict(part.params)
            # The numbers and labels of choices are the same for everyone: spoken as one sentence.
            personal = bool(values) and part.key != "voice.choice"
            if not personal and not any(recordings):
                say(part.text, False)
                continue
            for piece, recorded in zip(cut, recordings, strict=True):
                if recorded is not None:
                    segments.append(("file", recorded, False))
                elif piece.slot is not None:
                    say(piece.text, False)
                else:
                    value(values.get(piece.text, ""), personal)
        return segments

    async def render(self, voice: Voice) -> Path | None:
        """The voice note of a reply (None, logged, when it cannot be made: the text goes alone)."""
        if not self.enabled:
            return None
        try:
            await self._prune_now_and_then()
            files: list[Path] = []
            personal = False
            for kind, value, private in self.plan(voice):
                personal = personal or private
                if kind == "file":
                    assert isinstance(value, Path)
                    files.append(value)
                else:
                    files.append(await self.synthesise(str(value), voice.language, personal=private))
            if not files:
                return None
            if len(files) == 1:
                return files[0]
            name = _digest("mix", *(audio_id(f) for f in files))
            target = (self.personal if personal else self.cache) / f"mix-{name}.ogg"
            return await self._once(target, partial(self._join, files))
        except (VoiceError, OSError) as error:
            log.warning("voice note not made, the text goes alone: %s", error)
            return None

    async def _join(self, files: list[Path], out: Path) -> None:
        """One OGG/Opus file of several, in order (in a thread: a few milliseconds of page copying)."""

        def work() -> None:
            data = join_ogg([f.read_bytes() for f in files])
            tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.ogg")
            tmp.write_bytes(data)
            os.replace(tmp, out)

        await asyncio.to_thread(work)

    async def _prune_now_and_then(self) -> None:
        now = time.monotonic()
        if self._pruned_at and now - self._pruned_at < 3600:
            return
        self._pruned_at = now
        await asyncio.to_thread(self.prune)

    def prune(self) -> int:
        """Delete personal voice files older than the retention; how many were deleted."""
        horizon = time.time() - self.settings.personal_retention_hours * 3600
        removed = 0
        if self.personal.is_dir():
            for path in self.personal.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime < horizon:
                        path.unlink()
                        removed += 1
        return removed


# ------------------------------------------------------------ media ids a platform gave a voice note


async def known_upload(
    db: Store, channel: str, audio: str, *, newer_than: datetime | None = None
) -> str | None:
    """The platform's id of an uploaded voice note, if kept (and uploaded after `newer_than`)."""
    upload = await contacts.voice_upload(db, channel, audio)
    if upload is None:
        return None
    if newer_than is not None and upload.uploaded_at <= newer_than:
        return None
    return upload.media_id


async def remember_upload(db: Store, channel: str, audio: str, media_id: str, at: datetime) -> None:
    """Keep the platform's id of an uploaded voice note, to send it again without uploading."""
    await db.write(
        partial(contacts.save_voice_upload, channel=channel, audio=audio, media_id=media_id, at=at)
    )
