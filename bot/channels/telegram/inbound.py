"""Telegram updates from citizens and field workers -> the engine's `Inbound` events.

Files (photos, voice notes, documents) are downloaded at once into the data directory: a Telegram file
can be fetched later too, but the case must not depend on Telegram keeping it, and staff open it from
the store. A file that cannot be fetched is kept as `telegram-file:<file_id>` so nothing is lost.
"""

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime

from telegram import Bot, Message
from telegram.error import TelegramError

from bot.media import MAX_MEDIA_BYTES, MediaStore
from handlers.router import COMMANDS
from handlers.types import Inbound, Media, MediaKind

log = logging.getLogger(__name__)

TELEGRAM_FILE_PREFIX = "telegram-file:"
# The Bot API serves files up to 20 MB; bigger ones are kept by id only.
BOT_API_DOWNLOAD_LIMIT = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file attached to a message."""

    kind: MediaKind
    file_id: str
    size: int | None
    mime: str | None


def parse_command(text: str, bot_username: str | None) -> str | None:
    """The command name of `/menu` or `/menu@dinsos_bot extra` (None for plain text or another bot)."""
    if not text.startswith("/"):
        return None
    head = text[1:].split(maxsplit=1)[0] if len(text) > 1 else ""
    name, _, addressee = head.partition("@")
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        return None
    return name.lower() or None


def file_of(message: Message) -> FileRef | None:
    """The file a message carries, if any (the largest photo size)."""
    if message.photo:
        photo = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        return FileRef("photo", photo.file_id, photo.file_size, "image/jpeg")
    if message.voice:
        return FileRef(
            "voice", message.voice.file_id, message.voice.file_size, message.voice.mime_type or "audio/ogg"
        )
    if message.audio:
        return FileRef("audio", message.audio.file_id, message.audio.file_size, message.audio.mime_type)
    if message.video_note:
        return FileRef("video", message.video_note.file_id, message.video_note.file_size, "video/mp4")
    if message.video:
        return FileRef("video", message.video.file_id, message.video.file_size, message.video.mime_type)
    if message.document:
        document = message.document
        return FileRef("document", document.file_id, document.file_size, document.mime_type)
    if message.sticker:
        return FileRef("sticker", message.sticker.file_id, message.sticker.file_size, "image/webp")
    return None


class InboundReader:
    """Turns a citizen's private-chat message into an `Inbound`, fetching any file first."""

    def __init__(self, bot: Bot, media: MediaStore) -> None:
        self.bot = bot
        self.media = media

    async def event(self, message: Message, *, event_id: str, at: datetime) -> Inbound | None:
        """The inbound event of a private message (None for what the bot ignores)."""
        user = message.from_user
        if user is None or user.is_bot:
            return None
        contact = f"telegram:{user.id}"
        replied = message.reply_to_message
        base = Inbound(
            contact=contact,
            at=at,
            event_id=event_id,
            profile_name=user.full_name,
            reply_to=str(replied.message_id) if replied is not None else None,
        )
        if message.text is not None:
            command = parse_command(message.text, self.bot.username if self._has_me() else None)
            if command is not None and command in COMMANDS:
                return replace(base, command=command)
            return replace(base, text=message.text)
        if message.contact is not None:
            shared = message.contact
            own = shared.user_id is not None and shared.user_id == user.id
            return replace(
                base,
                phone=shared.phone_number,
                # Only a person's own contact card proves the number belongs to this chat.
                channel_phone=shared.phone_number if own else None,
            )
        location = message.location or (message.venue.location if message.venue else None)
        if location is not None:
            return replace(base, location=(location.latitude, location.longitude))
        found = file_of(message)
        if found is not None:
            ref = await self.fetch(found, at)
            return replace(
                base, media=Media(kind=found.kind, ref=ref, mime=found.mime, caption=message.caption)
            )
        # Polls, dice, games...: an empty turn lets the conversation ask its question again.
        return replace(base, text="")

    def _has_me(self) -> bool:
        try:
            return bool(self.bot.username)
        except RuntimeError:  # not initialised (no getMe yet)
            return False

    async def fetch(self, found: FileRef, at: datetime) -> str:
        """Download a file into the media store; return its reference."""
        if found.size is not None and found.size > min(BOT_API_DOWNLOAD_LIMIT, MAX_MEDIA_BYTES):
            return TELEGRAM_FILE_PREFIX + found.file_id
        try:
            file = await self.bot.get_file(found.file_id)
            data = bytes(await file.download_as_bytearray())
            return await asyncio.to_thread(self.media.save, data, mime=found.mime, at=at)
        except (TelegramError, OSError, ValueError, RuntimeError) as error:
            log.warning(
                "could not fetch a %s from Telegram (%s); kept by file id", found.kind, type(error).__name__
            )
            return TELEGRAM_FILE_PREFIX + found.file_id
