"""Which key sealed the store, the data directory's permissions, and key rotation.

The store records a check value of the key that sealed it (`store_key`), never the key. Before anything
is written, the key at hand (DINSOS_SECRET_KEY or `secret.key`) is compared with it: a missing, different
or malformed key stops every command with a message saying how to fix it, so a second key never seals
new numbers next to the old ones.

`rotate` re-seals every sealed value under a new key in one transaction. The new key is written to
`secret.key.new` first; after the commit the old file is kept as `secret.key.<UTC time>.bak` and the new
one takes its name. A crash between the commit and the rename is finished on the next start: whichever
key file matches the store's check value wins.
"""

import json
import logging
import os
import secrets
import sqlite3
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag

from storage.contract import Tx
from storage.crypto import (
    KEY_FILE_NAME,
    KeyProblem,
    Sealed,
    Sealer,
    key_check_value,
    parse_key,
    write_key_file,
)
from storage.location import redacted

log = logging.getLogger(__name__)

NEW_KEY_SUFFIX = ".new"
INBOX_PURPOSE = "webhook-inbox"
ENV_NAME = "DINSOS_SECRET_KEY"


@dataclass(frozen=True, slots=True)
class StoreKeyState:
    """What a store says about its key, read without writing: the recorded check value, if any, and one
    sealed value to try a key on when no check value was recorded yet (stores older than the record)."""

    exists: bool
    check_value: str | None
    sample: Sealed | None

    @property
    def holds_data(self) -> bool:
        """Whether a key has sealed something here already."""
        return self.check_value is not None or self.sample is not None


StoreAt = Path | str  # the SQLite file, or a PostgreSQL database's URL


def describe(store: StoreAt) -> str:
    """The store's name for messages (a PostgreSQL URL without its password)."""
    return str(store) if isinstance(store, Path) else redacted(store)


def read_store_state(store: StoreAt) -> StoreKeyState:
    """Read the store's key record without writing to it."""
    if not isinstance(store, Path):
        return _read_postgres_state(store)
    db_path = store
    if not db_path.exists() or db_path.stat().st_size == 0:
        return StoreKeyState(False, None, None)
    # A store closed cleanly has no -wal file: read it as immutable, so no -wal/-shm is created.
    wal = db_path.with_name(db_path.name + "-wal")
    mode = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    conn = sqlite3.connect(f"{db_path.as_uri()}?{mode}", uri=True)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return _state_of(conn, tables)
    finally:
        conn.close()


def _state_of(conn: Tx, tables: set[str]) -> StoreKeyState:
    check = None
    if "store_key" in tables:
        row = conn.execute("SELECT check_value FROM store_key WHERE id = 1").fetchone()
        check = row[0] if row else None
    sample = None
    if "persons" in tables:
        row = conn.execute("SELECT nik FROM persons WHERE nik IS NOT NULL LIMIT 1").fetchone()
        if row is None:
            row = conn.execute("SELECT kk FROM persons WHERE kk IS NOT NULL LIMIT 1").fetchone()
        sample = Sealed.model_validate_json(row[0]) if row else None
    return StoreKeyState(True, check, sample)


def _read_postgres_state(url: str) -> StoreKeyState:
    import psycopg

    from storage.postgres import PgTx
    from storage.postgres.rows import sqlite_rows

    with psycopg.connect(url, autocommit=True, row_factory=sqlite_rows) as conn:
        tx = PgTx(conn)
        rows = tx.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_name IN ('store_key', 'persons')"
        ).fetchall()
        tables = {str(row[0]) for row in rows}
        if not tables:
            return StoreKeyState(False, None, None)
        return _state_of(tx, tables)


def matches(key: bytes, state: StoreKeyState) -> bool:
    """Whether `key` is the key that sealed the store (true for a store that holds nothing sealed)."""
    if state.check_value is not None:
        return key_check_value(key) == state.check_value
    if state.sample is not None:
        try:
            Sealer(key).open(state.sample)
        except (InvalidTag, ValueError):
            return False
    return True


def _missing(path: Path) -> KeyProblem:
    return KeyProblem(
        f"The encryption key file {path} is missing, but this store holds numbers sealed with a key. "
        f"Nothing was changed. Restore {path} from your backup (mode 0600), or set {ENV_NAME} to that key, "
        "then start again."
    )


def _different(source: str, store: StoreAt) -> KeyProblem:
    return KeyProblem(
        f"The encryption key in {source} is not the key that sealed the store {describe(store)}. Nothing was "
        f"changed. Restore the right key file from your backup, or set {ENV_NAME} to the right key "
        "(or unset it to use the key file), then start again."
    )


def resolve_key(configured: str | None, data_dir: Path, db_path: StoreAt) -> tuple[bytes, bool]:
    """The master key for the store at `db_path` (the SQLite file, or a PostgreSQL URL), checked against
    it; and whether it was just created (the key file lives in `data_dir` with either backend).

    Raises `KeyProblem` (with nothing written) when the key is missing, malformed or not the store's.
    """
    state = read_store_state(db_path)
    if configured:
        key = parse_key(configured, ENV_NAME)
        if not matches(key, state):
            raise _different(ENV_NAME, db_path)
        return key, False
    path = data_dir / KEY_FILE_NAME
    pending = path.with_name(KEY_FILE_NAME + NEW_KEY_SUFFIX)
    if pending.exists():
        _finish_rotation(path, pending, state)
    if not path.exists():
        if state.holds_data:
            raise _missing(path)
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        write_key_file(path, key)
        return key, True
    key = parse_key(path.read_bytes(), str(path))
    if not matches(key, state):
        raise _different(str(path), db_path)
    return key, False


def _finish_rotation(path: Path, pending: Path, state: StoreKeyState) -> None:
    """A rotation stopped between its commit and its renames: keep the file that matches the store."""
    try:
        new_check: str | None = key_check_value(parse_key(pending.read_bytes(), str(pending)))
    except KeyProblem:  # cut off while being written: the store was never sealed with it
        new_check = None
    if new_check is not None and state.check_value == new_check:
        if path.exists():
            os.replace(path, backup_name(path))
        os.replace(pending, path)
        log.warning("finished an interrupted key rotation: %s is the new key", path.name)
    else:
        pending.unlink()
        log.warning("an interrupted key rotation left the store under the old key; kept the old key")
    _sync_dir(path.parent)


def backup_name(path: Path) -> Path:
    """Where the old key file is kept after a rotation: `secret.key.20261207T031500Z.bak`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = path.with_name(f"{path.name}.{stamp}.bak")
    suffix = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{stamp}-{suffix}.bak")
        suffix += 1
    return candidate


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- recording the check value


def record_check_value(conn: Tx, sealer: Sealer) -> None:
    """Record which key seals the store (a write function; does nothing once recorded)."""
    conn.execute(
        "INSERT INTO store_key (id, check_value, recorded_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING",
        (sealer.check_value, datetime.now(UTC).isoformat()),
    )


# --------------------------------------------------------------------------- permissions


def secure_data_dir(data_dir: Path, file_names: list[str]) -> list[str]:
    """Make the data directory 0700 and its key and store files 0600; return what was fixed or could
    not be (one sentence each, for the operator)."""
    notes: list[str] = []
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    targets = [(data_dir, 0o700)] + [
        (data_dir / name, 0o600) for name in file_names if (data_dir / name).exists()
    ]
    for path, wanted in targets:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077 == 0:
            continue
        try:
            os.chmod(path, wanted)
            notes.append(f"{path} was readable by others (mode {mode:04o}); it is now {wanted:04o}.")
        except OSError:
            notes.append(f"{path} is readable by others (mode {mode:04o}); run: chmod {wanted:o} {path}")
    return notes


# --------------------------------------------------------------------------- rotation


def _is_sealed(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"c", "h", "m"}
        and all(isinstance(v, str) for v in value.values())
    )


def _reseal_tree(value: Any, old: Sealer, new: Sealer) -> Any:
    if _is_sealed(value):
        return new.seal(old.open(Sealed.model_validate(value))).model_dump()
    if isinstance(value, dict):
        return {k: _reseal_tree(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_reseal_tree(v, old, new) for v in value]
    return value


def _reseal_json(text: str | None, old: Sealer, new: Sealer) -> str | None:
    if text is None:
        return None
    return json.dumps(_reseal_tree(json.loads(text), old, new), ensure_ascii=False)


def _reseal_column(raw: str | None, old: Sealer, new: Sealer) -> tuple[str | None, str | None]:
    """A persons.nik / persons.kk value re-sealed, with its new lookup hash."""
    if raw is None:
        return None, None
    sealed = new.seal(old.open(Sealed.model_validate_json(raw)))
    return sealed.model_dump_json(), sealed.h


def reseal_all(conn: Tx, old: Sealer, new: Sealer) -> dict[str, int]:
    """Re-seal every sealed value under `new` (a write function: one transaction); return counts."""
    counts = {"persons": 0, "cases": 0, "conversations": 0, "inbox": 0}
    rows = conn.execute("SELECT id, nik, kk FROM persons WHERE nik IS NOT NULL OR kk IS NOT NULL").fetchall()
    for pid, nik, kk in rows:
        new_nik, nik_hash = _reseal_column(nik, old, new)
        new_kk, kk_hash = _reseal_column(kk, old, new)
        conn.execute(
            "UPDATE persons SET nik = ?, nik_hash = ?, kk = ?, kk_hash = ? WHERE id = ?",
            (new_nik, nik_hash, new_kk, kk_hash, pid),
        )
        counts["persons"] += 1
    for cid, answers, nik_hash in conn.execute("SELECT id, answers, nik_hash FROM cases").fetchall():
        tree = _reseal_tree(json.loads(answers), old, new)
        if nik_hash is not None and isinstance(tree, dict) and _is_sealed(tree.get("nik")):
            nik_hash = tree["nik"]["h"]
        conn.execute(
            "UPDATE cases SET answers = ?, nik_hash = ? WHERE id = ?",
            (json.dumps(tree, ensure_ascii=False), nik_hash, cid),
        )
        counts["cases"] += 1
    for contact, data in conn.execute("SELECT contact_id, data FROM conversations").fetchall():
        conn.execute(
            "UPDATE conversations SET data = ? WHERE contact_id = ?", (_reseal_json(data, old, new), contact)
        )
        counts["conversations"] += 1
    old_blobs, new_blobs = old.cipher(INBOX_PURPOSE), new.cipher(INBOX_PURPOSE)
    for iid, body in conn.execute("SELECT id, body FROM webhook_inbox").fetchall():
        try:
            plain = old_blobs.open(bytes(body))
        except (InvalidTag, ValueError):
            continue  # already unreadable (set aside); nothing to carry over
        conn.execute("UPDATE webhook_inbox SET body = ? WHERE id = ?", (new_blobs.seal(plain), iid))
        counts["inbox"] += 1
    conn.execute(
        "INSERT INTO store_key (id, check_value, recorded_at) VALUES (1, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET check_value = excluded.check_value, "
        "recorded_at = excluded.recorded_at",
        (new.check_value, datetime.now(UTC).isoformat()),
    )
    return counts


def rotate(db_path: StoreAt, data_dir: Path, old_key: bytes) -> tuple[dict[str, int], Path]:
    """Re-seal the store under a new key (one transaction) and swap the key files; return the counts and
    where the old key file was kept. The service must not be running (its lock is held by the caller)."""
    path = data_dir / KEY_FILE_NAME
    pending = path.with_name(KEY_FILE_NAME + NEW_KEY_SUFFIX)
    if pending.exists():
        pending.unlink()
    new_key = secrets.token_bytes(32)
    write_key_file(pending, new_key)
    _sync_dir(data_dir)
    old, new = Sealer(old_key), Sealer(new_key)
    try:
        if isinstance(db_path, Path):
            counts = _reseal_sqlite(db_path, old, new)
        else:
            counts = _reseal_postgres(db_path, old, new)
    except BaseException:
        pending.unlink()
        raise
    kept = backup_name(path)
    os.replace(path, kept)
    os.replace(pending, path)
    _sync_dir(data_dir)
    return counts, kept


def _reseal_sqlite(db_path: Path, old: Sealer, new: Sealer) -> dict[str, int]:
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            counts = reseal_all(conn, old, new)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return counts
    finally:
        conn.close()


def _reseal_postgres(url: str, old: Sealer, new: Sealer) -> dict[str, int]:
    import psycopg

    from storage.postgres import PgTx
    from storage.postgres.adapt import configure
    from storage.postgres.rows import sqlite_rows

    with psycopg.connect(url, autocommit=True, row_factory=sqlite_rows) as conn:
        configure(conn)
        with conn.transaction():
            return reseal_all(PgTx(conn), old, new)
