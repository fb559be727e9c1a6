"""The store contract suite: every test here runs once per backend through the `store` fixture.

A repository's tests live here (one module per concern) and take `store`; they must pass unchanged on
every backend listed in `BACKENDS`.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.contract import Store
from storage.db import Database
from storage.postgres import PostgresStore

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An empty store with the current schema, on each backend in turn (PostgreSQL: a fresh database of
    the session's throwaway cluster)."""
    opened: Store
    if request.param == "postgresql":
        opened = await PostgresStore.open(request.getfixturevalue("postgres_url"))
    else:
        opened = await Database.open(tmp_path / "store.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture
async def other(store: Store) -> AsyncIterator[Store]:
    """A second store on the same database, as a second service process opens it (its own writer)."""
    second: Store
    if isinstance(store, PostgresStore):
        second = await PostgresStore.open(store.url)
    else:
        assert isinstance(store, Database)
        second = await Database.open(store.path)
    yield second
    await second.close()
