"""Shared fixtures; a guard makes any network connection beyond loopback fail the test."""

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import Service
from tests import pg
from tests.support import Chat, Clock, RecordingChannel, start_service

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_local(address):
        raise ConnectionRefusedError(f"tests may not reach the network: {address!r}")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_local(address):
        raise ConnectionRefusedError(f"tests may not reach the network: {address!r}")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every connection that is not to this machine."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[pg.Cluster]:
    """A throwaway PostgreSQL cluster for the whole session (stopped at the end, also after a failure).
    Missing binaries skip the test on a developer's machine, and fail it with a clear message in CI
    (`CI` set) unless DINSOS_TEST_POSTGRES=skip."""
    if pg.bin_dir() is None and pg.skip_allowed():
        pytest.skip("PostgreSQL is not installed: apt-get install postgresql")
    cluster = pg.Cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: pg.Cluster) -> Iterator[str]:
    """A fresh PostgreSQL database with the current schema and no data (dropped after the test)."""
    url = postgres_cluster.fresh()
    yield url
    postgres_cluster.drop(url)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str | None:
    """The store tests' services use: None for the SQLite file (the default), or with
    `@on_both_backends` (tests.support) also a fresh PostgreSQL database."""
    if getattr(request, "param", "sqlite") == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return None


@pytest.fixture
async def service_and_channel(
    tmp_path: Path, clock: Clock, database_url: str | None
) -> AsyncIterator[tuple[Service, RecordingChannel]]:
    service, channel = await start_service(tmp_path / "data", clock, database_url=database_url)
    yield service, channel
    await service.close()


@pytest.fixture
def service(service_and_channel: tuple[Service, RecordingChannel]) -> Service:
    return service_and_channel[0]


@pytest.fixture
def channel(service_and_channel: tuple[Service, RecordingChannel]) -> RecordingChannel:
    return service_and_channel[1]


@pytest.fixture
def chat(service: Service, channel: RecordingChannel, clock: Clock) -> Chat:
    return Chat(service, channel, clock)
