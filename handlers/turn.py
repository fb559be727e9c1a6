"""The context of one conversation step: what came in, where the contact stands, what goes out."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from handlers.geo import Boundaries
from handlers.i18n import Catalog
from handlers.places import Places
from handlers.speech import Said, compose
from handlers.types import Choice, Inbound, Reply, RequestKind
from handlers.validators import normalize
from storage import repo
from storage.contract import Store, Tx
from storage.crypto import Sealer
from storage.records import CaseKind, ContactRecord

WriteFn = Callable[[Tx], Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """What flows may use besides the turn itself."""

    db: Store
    catalog: Catalog
    places: Places
    sealer: Sealer
    notice_version: str
    resume_after: timedelta
    timezone: ZoneInfo
    # Kelurahan boundaries (which kelurahan a shared location falls in), loaded once per process.
    boundaries: Boundaries = field(default_factory=Boundaries.shared)
    # Per case kind, the working days within which staff act (the bot promises the registration one).
    target_days: Mapping[str, int] = field(
        default_factory=lambda: {"registration": 3, "lost_ktp": 5, "aid": 3, "message": 2}
    )


class Turn:
    """One inbound event being handled: read the state, change it, queue writes and replies."""

    def __init__(
        self,
        *,
        event: Inbound,
        contact: ContactRecord,
        flow: str,
        step: str,
        data: dict[str, Any],
        started_at: datetime,
        updated_at: datetime | None,
        services: Services,
        now: datetime,
    ) -> None:
        self.event = event
        self.contact = contact
        self.services = services
        self.now = now
        self.flow = flow
        self.step = step
        self.drafts: dict[str, Any] = data.pop("_drafts", {})
        self.data = data
        self.started_at = started_at
        self.last_activity = updated_at
        self.replies: list[Reply] = []
        # Replies that depend on what a write finds (e.g. a place left in a programme): write functions
        # append here while the transaction runs; the engine clears it before each attempt.
        self.late_replies: list[Reply] = []
        self.writes: list[WriteFn] = []
        self.text = normalize(event.text) if event.text else ""
        # Catalog sentences looked up in this step, for voice notes (kept only in voice mode).
        self.said: list[Said] = []

    # ------------------------------------------------------------ language
    @property
    def lang(self) -> str:
        """The contact's language."""
        return self.contact.language

    def t(self, key: str, **params: object) -> str:
        """A catalog sentence in the contact's language."""
        text = self.services.catalog.text(self.lang, key, **params)
        if self.contact.voice:
            self.said.append((text, key, tuple((name, str(value)) for name, value in params.items())))
        return text

    # ------------------------------------------------------------ output
    def say(
        self,
        text: str,
        choices: tuple[Choice, ...] | list[Choice] = (),
        request: RequestKind | None = None,
    ) -> None:
        """Queue a reply (sent only after the step's writes commit)."""
        self.replies.append(Reply(text=text, choices=tuple(choices), request=request))

    def outgoing(self) -> list[Reply]:
        """Every reply of the step, in order; in voice mode each one carries its voice note."""
        replies = [*self.late_replies, *self.replies]
        if not self.contact.voice:
            return replies
        catalog = self.services.catalog
        return [
            reply
            if reply.voice is not None
            else replace(reply, voice=compose(catalog, self.lang, reply.text, reply.choices, self.said))
            for reply in replies
        ]

    def write(self, fn: WriteFn) -> None:
        """Queue a write to commit atomically with the conversation state."""
        self.writes.append(fn)

    # ------------------------------------------------------------ state
    def goto(self, flow: str, step: str, data: dict[str, Any] | None = None) -> None:
        """Move the conversation; `data` replaces the flow data when given."""
        if flow != self.flow:
            self.started_at = self.now
        self.flow = flow
        self.step = step
        if data is not None:
            self.data = data

    def stored_data(self) -> dict[str, Any]:
        """The conversation data as stored, drafts included."""
        if not self.drafts:
            return self.data
        return {**self.data, "_drafts": self.drafts}

    # ------------------------------------------------------------ helpers
    @property
    def db(self) -> Store:
        """The store, for reads (writes go through `write`)."""
        return self.services.db

    @property
    def places(self) -> Places:
        """Kecamatan and kelurahan of Tangerang Selatan."""
        return self.services.places

    def today(self) -> date:
        """Today's date in WIB."""
        return self.now.astimezone(self.services.timezone).date()

    async def allocate_reference(self, kind: CaseKind) -> str:
        """Reserve the next reference number of a kind (a gap is harmless if the step fails)."""
        return await self.db.write(partial(repo.next_reference, kind=kind, year=self.today().year))
