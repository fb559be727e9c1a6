"""Fitting a platform-free `Reply` to Telegram: inline keyboards, contact and location buttons, 4096 chars.

Choices become inline buttons whose callback data is the choice id itself; an id longer than Telegram's
64 bytes is sent as a short stable key (`~` + hash) that the channel stores and maps back. Buttons carry
the choice's number ("2. Tidak"), so typing the number works as well as tapping.
"""

import hashlib
from dataclasses import dataclass, field

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from handlers.i18n import Catalog
from handlers.types import Choice, Reply

TEXT_LIMIT = 4096
CALLBACK_LIMIT = 64
LONG_ID_PREFIX = "~"
# Two buttons side by side only when both labels fit a phone's half width.
SHORT_LABEL = 14

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One Telegram message to send."""

    text: str
    markup: Markup | None = None


@dataclass(slots=True)
class Rendered:
    """A reply as Telegram messages, with the long choice ids that need a stored short key."""

    messages: list[Outgoing]
    long_ids: dict[str, str] = field(default_factory=dict)
    keyboard_at: int | None = None  # index of the message that carries the question's buttons
    reply_keyboard: bool = False  # a contact/location button is shown after this reply


def callback_key(choice_id: str) -> str:
    """The callback data for a choice id: the id itself, or a short stable key for a long one."""
    if len(choice_id.encode()) <= CALLBACK_LIMIT and not choice_id.startswith(LONG_ID_PREFIX):
        return choice_id
    return LONG_ID_PREFIX + hashlib.sha256(choice_id.encode()).hexdigest()[:32]


def button_label(number: int, choice: Choice) -> str:
    """A button's text: its number, then the label."""
    return f"{number}. {choice.label}"


def strip_number(label: str) -> str:
    """The label of a button without its number."""
    head, dot, rest = label.partition(". ")
    return rest if dot and head.isdigit() else label


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split a long text at line breaks (or hard, for a line longer than the limit)."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts


def inline_keyboard(choices: tuple[Choice, ...]) -> tuple[InlineKeyboardMarkup, dict[str, str]]:
    """Choices as an inline keyboard, and the long ids that were given short keys."""
    long_ids: dict[str, str] = {}
    buttons: list[InlineKeyboardButton] = []
    for number, choice in enumerate(choices, start=1):
        key = callback_key(choice.id)
        if key != choice.id:
            long_ids[key] = choice.id
        buttons.append(InlineKeyboardButton(button_label(number, choice), callback_data=key))
    pairs = all(len(button.text) <= SHORT_LABEL for button in buttons) and len(buttons) > 3
    width = 2 if pairs else 1
    rows = [buttons[i : i + width] for i in range(0, len(buttons), width)]
    return InlineKeyboardMarkup(rows), long_ids


def render(reply: Reply, catalog: Catalog, language: str, *, remove_keyboard: bool = False) -> Rendered:
    """The messages that carry `reply`; `remove_keyboard` clears a contact/location button left shown.

    A message has one keyboard: choices together with a phone or location request (e.g. "share your
    location, or Lewati") become the question with its inline buttons, then a short hint that carries
    the share button.
    """
    parts = split_text(reply.text)
    share: ReplyKeyboardMarkup | None = None
    if reply.request == "phone":
        button = KeyboardButton(catalog.text(language, "tg.share_phone"), request_contact=True)
        share = ReplyKeyboardMarkup([[button]], resize_keyboard=True, one_time_keyboard=True)
    elif reply.request == "location":
        button = KeyboardButton(catalog.text(language, "tg.share_location"), request_location=True)
        share = ReplyKeyboardMarkup([[button]], resize_keyboard=True, one_time_keyboard=True)
    messages = [Outgoing(text) for text in parts[:-1]]
    if reply.choices:
        keyboard, long_ids = inline_keyboard(reply.choices)
        messages.append(Outgoing(parts[-1], keyboard))
        at = len(messages) - 1
        if share is None:
            return Rendered(messages, long_ids, keyboard_at=at)
        messages.append(Outgoing(catalog.text(language, "tg.share_hint"), share))
        return Rendered(messages, long_ids, keyboard_at=at, reply_keyboard=True)
    if share is not None:
        messages.append(Outgoing(parts[-1], share))
        return Rendered(messages, reply_keyboard=True)
    messages.append(Outgoing(parts[-1], ReplyKeyboardRemove() if remove_keyboard else None))
    return Rendered(messages)
