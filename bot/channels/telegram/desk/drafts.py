"""A broadcast or reminder being composed in the group (a `Draft`), kept per staff member and kind in
`channel_state`: a restart loses no half-composed broadcast. Every change is a new version, and every
button carries the draft's version, so a button of an older panel (or a double tap) does nothing."""

import secrets
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from handlers.segments import Segment
from storage import outreach as outreach_store
from storage.contract import Store, Tx

CALLBACK_PREFIX = "o:"
COMMANDS = ("siaran", "pengingat")
STATE_PREFIX = "telegram.staff.outreach."
DRAFT_TTL = timedelta(hours=24)
# Kind of draft <-> the letter its buttons carry (callback data holds 64 bytes at most).
Kind = Literal["siaran", "pengingat"]
KIND_CODES: dict[Kind, str] = {"siaran": "b", "pengingat": "r"}
CODE_KINDS: dict[str, Kind] = {code: kind for kind, code in KIND_CODES.items()}
Step = Literal["who", "pick", "text", "when", "time", "cron", "text_en", "confirm"]
TYPED_STEPS: frozenset[str] = frozenset({"text", "time", "cron", "text_en"})


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


def fresh(raw: str | None, now: datetime) -> Draft | None:
    """A stored draft, unless unreadable or untouched for longer than DRAFT_TTL."""
    if raw is None:
        return None
    try:
        draft = Draft.model_validate_json(raw)
    except ValidationError:
        return None
    return draft if draft.updated_at + DRAFT_TTL >= now else None


async def load_draft(db: Store, owner: int, kind: str, now: datetime) -> Draft | None:
    """The staff member's draft of this kind, unless there is none or it expired."""
    return fresh(await outreach_store.load_draft(db, state_key(owner, kind)), now)


async def draft_asking(db: Store, prompt: int) -> str | None:
    """The stored draft whose open question is the message `prompt` (None: no draft asked it)."""
    return await outreach_store.draft_asking(db, STATE_PREFIX, prompt)
