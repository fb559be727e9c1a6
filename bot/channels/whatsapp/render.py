"""Fitting a platform-free Reply to WhatsApp: reply buttons, a list, or numbered text, within Meta's limits.

Up to 3 choices become reply buttons, up to 10 a list, more numbered text. Every button and list row
carries its number in its title ("2. Tidak"), the same number the flows accept typed, so a number never
means one thing on screen and another when typed. Every limit is checked here,
before anything is sent; what had to be shortened or changed is returned as notes for the log (counts
and kinds only, never the text, which may hold personal data). Typed numbers and words work whatever
the form, because the flows match them.
"""

from dataclasses import dataclass, field
from typing import Literal

from handlers.types import Choice, Reply

# Limits from Meta's documentation (see /work/shared/whatsapp-payloads/README.md).
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_ROWS_MAX = 10
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
ROW_ID_MAX = 200
LIST_BUTTON_MAX = 20
SECTION_TITLE_MAX = 24
INTERACTIVE_BODY_MAX = 1024
TEXT_BODY_MAX = 4096

OutgoingKind = Literal["text", "buttons", "list", "location_request"]


@dataclass(frozen=True, slots=True)
class Option:
    """One button or list row as it will be sent."""

    id: str
    title: str
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    """One WhatsApp message to send."""

    kind: OutgoingKind
    body: str
    options: tuple[Option, ...] = ()
    list_button: str | None = None
    section_title: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Wording:
    """Channel words from the catalog, in the contact's language."""

    list_button: str
    section_title: str
    numbered_hint: str


@dataclass(slots=True)
class Rendered:
    """The messages for one reply (sent in order) and what had to be changed to fit."""

    messages: list[Outgoing] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, ending with an ellipsis when shortened."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def render(reply: Reply, wording: Wording) -> Rendered:
    """The WhatsApp messages that carry `reply`."""
    out = Rendered()
    choices = reply.choices
    if not choices:
        if reply.request == "location" and 0 < len(reply.text) <= INTERACTIVE_BODY_MAX:
            out.messages.append(Outgoing(kind="location_request", body=reply.text))
        else:
            out.messages.extend(
                Outgoing(kind="text", body=part) for part in chunks(reply.text, TEXT_BODY_MAX)
            )
        return out
    interactive = _buttons(choices, out) if len(choices) <= BUTTONS_MAX else None
    if interactive is None and len(choices) <= LIST_ROWS_MAX:
        interactive = _list(choices, wording, out)
    if interactive is not None:
        lead, body = _split_body(reply.text)
        if body is not None:
            if lead:
                out.notes.append("long text sent ahead of the choices")
            out.messages.extend(_texts(lead))
            out.messages.append(
                Outgoing(
                    kind=interactive.kind,
                    body=body,
                    options=interactive.options,
                    list_button=interactive.list_button,
                    section_title=interactive.section_title,
                )
            )
            return out
        out.notes.append("text too long for buttons or a list; sent as numbered text")
    elif len(choices) > LIST_ROWS_MAX:
        pass  # more than a list holds: numbered text is the designed form, not a fallback
    else:
        out.notes.append(f"{len(choices)} choices did not fit buttons or a list; sent as numbered text")
    out.messages.extend(
        Outgoing(kind="text", body=part) for part in chunks(numbered(reply, wording), TEXT_BODY_MAX)
    )
    return out


def _texts(text: str) -> list[Outgoing]:
    return [Outgoing(kind="text", body=part) for part in chunks(text, TEXT_BODY_MAX)]


def numbered_label(number: int, choice: Choice) -> str:
    """A button or row title: the choice's number, then its label ("2. Tidak")."""
    return f"{number}. {choice.label.strip() or '-'}"


def strip_number(title: str) -> str:
    """A title without its number ("2. Tidak" -> "Tidak")."""
    head, dot, rest = title.partition(". ")
    return rest if dot and head.isdigit() else title


def numbered(reply: Reply, wording: Wording) -> str:
    """The reply as text with numbered choices and a hint to type the number."""
    lines = [reply.text, ""]
    for number, choice in enumerate(reply.choices, start=1):
        line = f"{number}. {choice.label}"
        if choice.description:
            line += f" – {choice.description}"
        lines.append(line)
    lines += ["", wording.numbered_hint]
    return "\n".join(lines)


def _buttons(choices: tuple[Choice, ...], out: Rendered) -> Outgoing | None:
    if any(c.description for c in choices):
        return None  # buttons cannot show descriptions; a list keeps them
    if any(not c.id or len(c.id) > BUTTON_ID_MAX for c in choices):
        out.notes.append("a choice id is too long for a button")
        return None
    numbered_titles = [numbered_label(n, c) for n, c in enumerate(choices, start=1)]
    if any(len(title) > BUTTON_TITLE_MAX for title in numbered_titles):
        return None  # a list row has room for the whole label (or a description that carries it)
    options = tuple(Option(c.id, t) for c, t in zip(choices, numbered_titles, strict=True))
    return Outgoing(kind="buttons", body="", options=options)


def _list(choices: tuple[Choice, ...], wording: Wording, out: Rendered) -> Outgoing | None:
    if any(not c.id or len(c.id) > ROW_ID_MAX for c in choices):
        out.notes.append("a choice id is too long for a list row")
        return None
    full = [numbered_label(n, c) for n, c in enumerate(choices, start=1)]
    titles = [cut(title, ROW_TITLE_MAX) for title in full]
    # A title cut short keeps the whole label in the row's description.
    descriptions = [
        cut(c.description or (c.label if t != f else ""), ROW_DESCRIPTION_MAX) or None
        for c, t, f in zip(choices, titles, full, strict=True)
    ]
    shortened_titles = sum(1 for t, f in zip(titles, full, strict=True) if t != f)
    shortened_descriptions = sum(
        1 for c, d in zip(choices, descriptions, strict=True) if c.description and d != c.description
    )
    if shortened_titles:
        out.notes.append(f"{shortened_titles} list row title(s) shortened to {ROW_TITLE_MAX} characters")
    if shortened_descriptions:
        out.notes.append(
            f"{shortened_descriptions} list row description(s) shortened to {ROW_DESCRIPTION_MAX} characters"
        )
    button = cut(wording.list_button, LIST_BUTTON_MAX)
    section = cut(wording.section_title, SECTION_TITLE_MAX)
    if button != wording.list_button.strip() or section != wording.section_title.strip():
        out.notes.append("list button or section title shortened")
    options = tuple(Option(c.id, t, d) for c, t, d in zip(choices, titles, descriptions, strict=True))
    return Outgoing(kind="list", body="", options=options, list_button=button, section_title=section)


def _split_body(text: str) -> tuple[str, str | None]:
    """(text sent first, interactive body): the body is the last paragraphs that fit its limit.

    The body is None when even the last paragraph is too long for an interactive message.
    """
    text = text.strip() or "…"
    if len(text) <= INTERACTIVE_BODY_MAX:
        return "", text
    paragraphs = text.split("\n\n")
    tail: list[str] = []
    while paragraphs and len("\n\n".join([paragraphs[-1], *tail])) <= INTERACTIVE_BODY_MAX:
        tail.insert(0, paragraphs.pop())
    if not tail:
        return text, None
    return "\n\n".join(paragraphs), "\n\n".join(tail)


def chunks(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, split at paragraphs, then lines, then words."""
    text = text.strip()
    if not text:
        return []
    if len(text) <= limit:
        return [text]
    for separator in ("\n\n", "\n", " "):
        cut_at = text.rfind(separator, 0, limit + 1)
        if cut_at > 0:
            return [text[:cut_at].rstrip(), *chunks(text[cut_at + len(separator) :], limit)]
    return [text[:limit], *chunks(text[limit:], limit)]
