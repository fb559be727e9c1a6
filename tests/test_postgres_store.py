"""The PostgreSQL store's own parts: SQL spelled for psycopg, the setting that chooses it, the key check
against a PostgreSQL store, and a clear message when the server binaries for the tests are missing."""

import contextlib
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr, ValidationError

from bot.app import open_sealer
from bot.settings import StoreSettings
from storage.crypto import KeyProblem, generate_key_text
from storage.location import redacted
from storage.postgres import PostgresStore
from storage.postgres.sql import to_psycopg
from tests import pg
from tests.support import Clock, make_settings, start_service


def test_placeholders_become_psycopg_ones_and_literals_stay() -> None:
    assert to_psycopg("SELECT * FROM t WHERE a = ? AND b = ?") == "SELECT * FROM t WHERE a = %s AND b = %s"
    assert (
        to_psycopg("UPDATE t SET a = :value WHERE id = :id") == "UPDATE t SET a = %(value)s WHERE id = %(id)s"
    )
    # A literal keeps its `?` and `:word`; every `%` is doubled so psycopg reads it as one.
    assert to_psycopg("SELECT 'a?b:c' || x FROM t WHERE y LIKE '50%' AND z = ?") == (
        "SELECT 'a?b:c' || x FROM t WHERE y LIKE '50%%' AND z = %s"
    )
    assert to_psycopg("SELECT 'it''s ?', \"odd?name\" FROM t") == "SELECT 'it''s ?', \"odd?name\" FROM t"
    assert to_psycopg("SELECT (a::jsonb #>> '{x}') FROM t -- why?\nWHERE b = ?") == (
        "SELECT (a::jsonb #>> '{x}') FROM t -- why?\nWHERE b = %s"
    )
    assert to_psycopg("SELECT a % 2, '12:30' FROM t") == "SELECT a %% 2, '12:30' FROM t"


def test_the_database_url_must_name_postgresql(tmp_path: Path) -> None:
    assert StoreSettings(data_dir=tmp_path).postgresql_url is None  # unset: the SQLite file
    chosen = StoreSettings(data_dir=tmp_path, database_url=SecretStr("postgresql://u:pw@db:5432/dinsos"))
    assert chosen.postgresql_url == "postgresql://u:pw@db:5432/dinsos"
    assert "pw" not in repr(chosen)
    with pytest.raises(ValidationError, match="must start with postgresql://"):
        StoreSettings(data_dir=tmp_path, database_url=SecretStr("mysql://u@db/dinsos"))
    assert (
        redacted("postgresql://dinsos:secret@127.0.0.1:5432/dinsos")
        == "postgresql://dinsos:***@127.0.0.1:5432/dinsos"
    )


async def test_a_postgresql_store_refuses_another_key(
    tmp_path: Path, clock: Clock, postgres_url: str
) -> None:
    service, _ = await start_service(tmp_path / "data", clock, database_url=postgres_url)
    await service.close()
    settings = make_settings(tmp_path / "data", database_url=postgres_url)
    other = settings.store.model_copy(update={"secret_key": SecretStr(generate_key_text())})
    settings.store = other
    with pytest.raises(KeyProblem, match="not the key that sealed the store postgresql://") as refused:
        open_sealer(settings)
    assert "Nothing was changed" in str(refused.value)


def test_missing_server_binaries_are_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg, "bin_dir", lambda: None)
    with pytest.raises(pg.PostgresMissing, match=r"apt-get install postgresql.*DINSOS_TEST_POSTGRES=skip"):
        pg.require()


def test_without_postgresql_its_tests_skip_on_a_developer_machine_and_fail_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(pg.SKIP_ENV, raising=False)
    monkeypatch.delenv("CI", raising=False)
    assert pg.skip_allowed()  # the README's test command on a machine without PostgreSQL
    monkeypatch.setenv("CI", "1")
    assert not pg.skip_allowed()  # .ci/run: a missing server is a failure, not a silent skip
    monkeypatch.setenv(pg.SKIP_ENV, "skip")
    assert pg.skip_allowed()


async def test_the_store_connects_again_after_the_server_drops_its_connections(postgres_url: str) -> None:
    store = await PostgresStore.open(postgres_url, readers=2)
    try:
        await store.write(lambda tx: tx.execute("INSERT INTO counters (name, value) VALUES ('a', 1)"))
        assert await store.fetchval("SELECT value FROM counters WHERE name = 'a'") == 1
        with psycopg.connect(postgres_url, autocommit=True) as admin:  # as a server restart would
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        # Reads go on at once; the write that finds its connection gone fails, the next one connects again.
        assert await store.fetchval("SELECT value FROM counters WHERE name = 'a'") == 1
        with contextlib.suppress(psycopg.OperationalError):
            await store.write(lambda tx: tx.execute("UPDATE counters SET value = 2"))
        await store.write(lambda tx: tx.execute("UPDATE counters SET value = value + 10"))
        assert await store.fetchval("SELECT value FROM counters WHERE name = 'a'") in (11, 12)
    finally:
        await store.close()
