"""Sign-in limits that hold back guessers, not staff: per (account, address) and per address, the forwarded
address believed only from a configured proxy, growing delays kept in the store, no argon2 while held back;
and every officer changes their own password."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.dashboard import accounts
from bot.dashboard.app import Dashboard
from bot.web import build_asgi
from handlers.i18n import Catalog
from tests.dashboard_support import PASSWORD, Desk, csrf_of, open_desk, sign_in
from tests.support import Clock

UI = Catalog.load(Path(__file__).resolve().parent.parent / "bot" / "dashboard" / "locales")
PROXY = "127.0.0.1"


def ui(key: str, **params: object) -> str:
    return UI.text("id", key, **params)


@pytest.fixture
async def desk(tmp_path: Path, clock: Clock) -> AsyncIterator[Desk]:
    async with open_desk(tmp_path / "data", clock) as opened:
        await opened.user("siti", "admin")
        yield opened


def client_for(dashboard: Dashboard, peer: str = PROXY) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=build_asgi(dashboard.routes()), client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def attempt(
    client: httpx.AsyncClient, username: str, password: str, forwarded: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    page = await client.get("/login", headers=headers)
    return await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        headers=headers,
    )


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = accounts.check_password

    def counted(stored: str | None, password: str) -> bool:
        calls.append(1)
        return real(stored, password)

    monkeypatch.setattr(accounts, "check_password", counted)
    return calls


def trust_proxy(desk: Desk) -> None:
    desk.dashboard.trusted_proxies = [__import__("ipaddress").ip_network(PROXY)]


async def test_a_strangers_guesses_do_not_lock_the_officer_out(desk: Desk, clock: Clock) -> None:
    trust_proxy(desk)
    async with client_for(desk.dashboard) as stranger, client_for(desk.dashboard) as office:
        for _ in range(8):
            response = await attempt(stranger, "siti", "tebak-tebakan", forwarded="198.51.100.7")
            assert response.status_code in (401, 429)
        assert (await attempt(stranger, "siti", PASSWORD, forwarded="198.51.100.7")).status_code == 429
        # Siti, from the office's address, signs in at once.
        assert (await attempt(office, "siti", PASSWORD, forwarded="203.0.113.20")).status_code == 303


async def test_delays_grow_instead_of_a_fifteen_minute_lock(desk: Desk, clock: Clock) -> None:
    waits = []
    async with client_for(desk.dashboard) as client:
        for _ in range(4):
            assert (await attempt(client, "siti", "salah-salah-1")).status_code == 401
        assert (await attempt(client, "siti", "salah-salah-1")).status_code == 401  # 5th: now 1 s to wait
        for expected in (1, 2, 4, 8):
            held = await attempt(client, "siti", PASSWORD)
            assert held.status_code == 429
            assert ui("login.too_many_seconds", seconds=expected) in held.text
            waits.append(expected)
            clock.advance(seconds=expected)
            assert (await attempt(client, "siti", "salah-salah-1")).status_code == 401
        clock.advance(seconds=16)
        assert (await attempt(client, "siti", PASSWORD)).status_code == 303
    assert waits == [1, 2, 4, 8]


async def test_held_back_attempts_run_no_argon2(desk: Desk, argon2_calls: list[int]) -> None:
    async with client_for(desk.dashboard) as client:
        codes = [(await attempt(client, "siti", f"tebakan-{i}")).status_code for i in range(300)]
    assert codes.count(401) == 5 and codes.count(429) == 295
    assert len(argon2_calls) == 5


async def test_a_made_up_forwarded_address_is_ignored_unless_from_a_trusted_proxy(desk: Desk) -> None:
    await desk.user("budi", "petugas")
    async with client_for(desk.dashboard, peer="127.0.0.1") as client:
        # No proxy configured: rotating X-Forwarded-For from loopback changes nothing; the address limit
        # (20 failures for all accounts together) holds every name back.
        codes = [
            (await attempt(client, f"nama{i}", "salah", forwarded=f"10.0.{i}.1")).status_code
            for i in range(25)
        ]
        assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}
    trust_proxy(desk)
    async with client_for(desk.dashboard, peer="192.0.2.50") as client:
        # Not the proxy: the header is ignored, the connecting address counts.
        for i in range(20):
            await attempt(client, f"lain{i}", "salah", forwarded=f"10.9.{i}.1")
        assert (await attempt(client, "budi", PASSWORD, forwarded="10.9.99.1")).status_code == 429
    async with client_for(desk.dashboard) as client:
        # Through the proxy: what a client prepends is ignored, the address the proxy saw counts.
        for i in range(20):
            await attempt(client, f"x{i}", "salah", forwarded=f"10.7.{i}.1, 198.51.100.99")
        assert (
            await attempt(client, "budi", PASSWORD, forwarded="10.7.200.1, 198.51.100.99")
        ).status_code == 429
        assert (await attempt(client, "budi", PASSWORD, forwarded="203.0.113.5")).status_code == 303


async def test_the_limits_survive_a_restart(tmp_path: Path, clock: Clock) -> None:
    async with open_desk(tmp_path / "data", clock) as desk:
        await desk.user("siti", "admin")
        async with client_for(desk.dashboard) as client:
            for _ in range(6):
                await attempt(client, "siti", "salah-salah")
    async with open_desk(tmp_path / "data", clock) as desk, client_for(desk.dashboard) as client:
        assert (await attempt(client, "siti", PASSWORD)).status_code == 429


async def test_every_officer_changes_their_own_password(desk: Desk) -> None:
    await desk.user("rina", "viewer")
    await sign_in(desk.client, "rina")
    form = await desk.client.get("/password")
    assert form.status_code == 200 and ui("password.title") in form.text

    async def change(current: str, new: str, repeat: str) -> httpx.Response:
        page = await desk.client.get("/password")
        return await desk.client.post(
            "/password",
            data={"current": current, "new": new, "repeat": repeat, "csrf_token": csrf_of(page.text)},
        )

    wrong = await change("bukan-sandinya", "sandi-baru-rina-1", "sandi-baru-rina-1")
    assert wrong.status_code == 401 and ui("password.wrong_current") in wrong.text
    short = await change(PASSWORD, "pendek", "pendek")
    assert short.status_code == 400 and ui("password.too_short", minimum=10) in short.text
    differ = await change(PASSWORD, "sandi-baru-rina-1", "sandi-baru-rina-2")
    assert differ.status_code == 400 and ui("password.mismatch") in differ.text
    done = await change(PASSWORD, "sandi-baru-rina-1", "sandi-baru-rina-1")
    assert done.status_code == 303
    assert (await desk.client.get("/")).status_code == 200  # still signed in, with a fresh session
    async with client_for(desk.dashboard, peer="192.0.2.1") as other:
        assert (await attempt(other, "rina", PASSWORD)).status_code == 401
        assert (await attempt(other, "rina", "sandi-baru-rina-1")).status_code == 303
    audit = await desk.rows("SELECT action, actor FROM audit_log WHERE action = 'account.password'")
    assert audit == [{"action": "account.password", "actor": "staff:rina"}]


async def test_anonymous_language_switches_write_no_audit_rows(desk: Desk) -> None:
    before = len(await desk.rows("SELECT id FROM audit_log"))
    for _ in range(5):
        response = await desk.client.post("/lang", data={"lang": "en", "next": "/login"})
        assert response.status_code == 403
    page = await desk.client.get("/login")
    switched = await desk.client.post(
        "/lang", data={"lang": "en", "next": "/login", "csrf_token": csrf_of(page.text)}
    )
    assert switched.status_code == 303
    assert len(await desk.rows("SELECT id FROM audit_log")) == before
