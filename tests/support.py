"""Test helpers: a recording channel, a settable clock, and a chat driver that reads like a transcript."""

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.app import Service, build_service
from bot.outbox import SendResult
from bot.settings import ServiceSettings, Settings, StoreSettings
from handlers.types import Inbound, Media, Reply
from storage import outbox as outbox_store
from storage.contract import Tx
from storage.records import OutboxStatus

TEST_KEY = "aW50YWtlLXRlc3Qta2V5LW5vdC1mb3ItcHJvZHVjdGlvbg"  # 32+ bytes, tests only


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 09:00 WIB

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class RecordingChannel:
    """A channel that keeps every reply it is asked to send."""

    scheme: str = "console"
    sent: dict[str, list[Reply]] = field(default_factory=lambda: defaultdict(list))

    async def send(self, contact_id: str, reply: Reply) -> SendResult:
        self.sent[contact_id].append(reply)
        return SendResult(OutboxStatus.SENT, external_id=f"m{sum(map(len, self.sent.values()))}")


# A test running on both backends: `@on_both_backends` parametrizes the `database_url` fixture (None: the
# SQLite file; a fresh database of the session's throwaway PostgreSQL cluster).
BACKENDS = ["sqlite", "postgresql"]
on_both_backends = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


def make_settings(data_dir: Path, *, database_url: str | None = None, **service: object) -> Settings:
    return Settings(
        store=StoreSettings(
            data_dir=data_dir,
            secret_key=TEST_KEY,
            sqlite_synchronous="NORMAL",
            database_url=SecretStr(database_url) if database_url else None,
        ),
        service=ServiceSettings(**service),  # type: ignore[arg-type]
    )


async def start_service(
    data_dir: Path,
    clock: Clock,
    channel: RecordingChannel | None = None,
    *,
    database_url: str | None = None,
    **service: object,
) -> tuple[Service, RecordingChannel]:
    channel = channel or RecordingChannel()
    settings = make_settings(data_dir, database_url=database_url, **service)
    built = await build_service(settings, {channel.scheme: channel}, clock=clock)
    return built, channel


_ids = count(1)


class Chat:
    """One contact talking to the service; each call returns the replies it caused."""

    def __init__(
        self,
        service: Service,
        channel: RecordingChannel,
        clock: Clock,
        name: str = "warga",
        scheme: str = "console",
    ) -> None:
        self.service = service
        self.channel = channel
        self.clock = clock
        self.contact = f"{scheme}:{name}"
        self.replies: list[Reply] = []

    @property
    def last(self) -> Reply:
        return self.replies[-1]

    @property
    def text(self) -> str:
        """All reply texts of the last exchange, joined."""
        return "\n".join(r.text for r in self.replies)

    async def send(self, event: Inbound) -> list[Reply]:
        before = len(self.channel.sent[self.contact])
        await self.service.receive(event)
        self.replies = self.channel.sent[self.contact][before:]
        return self.replies

    def _event(self, **kw: object) -> Inbound:
        kw.setdefault("event_id", f"ev{next(_ids)}")
        return Inbound(contact=self.contact, at=self.clock(), **kw)  # type: ignore[arg-type]

    async def say(self, text: str) -> list[Reply]:
        return await self.send(self._event(text=text))

    async def tap(self, label: str) -> list[Reply]:
        """Press the button of the last reply whose label starts with `label` (case-insensitive)."""
        for reply in reversed(self.replies):
            for choice in reply.choices:
                if choice.label.lower().startswith(label.lower()):
                    return await self.send(self._event(choice=choice.id))
        raise AssertionError(f"no choice {label!r} in {[c.label for r in self.replies for c in r.choices]}")

    async def choose(self, choice_id: str) -> list[Reply]:
        return await self.send(self._event(choice=choice_id))

    async def share_location(self, lat: float, lon: float) -> list[Reply]:
        return await self.send(self._event(location=(lat, lon)))

    async def send_media(self, kind: str = "photo", ref: str = "file-1") -> list[Reply]:
        return await self.send(self._event(media=Media(kind=kind, ref=ref)))  # type: ignore[arg-type]

    async def share_phone(self, phone: str) -> list[Reply]:
        return await self.send(self._event(phone=phone))

    async def command(self, name: str) -> list[Reply]:
        return await self.send(self._event(command=name))


def slow_outbox_take(monkeypatch: pytest.MonkeyPatch, seconds: float = 0.3) -> threading.Event:
    """A slow disk: writing an outbox row `sending` as its request is about to leave
    (`storage.outbox.take`) holds the writer `seconds`. The event is set once such a write begins."""
    writing = threading.Event()
    take = outbox_store.take

    def slow_take(tx: Tx, **kwargs: Any) -> None:
        writing.set()
        time.sleep(seconds)
        take(tx, **kwargs)

    monkeypatch.setattr(outbox_store, "take", slow_take)
    return writing
