"""Backups of a data directory while the service runs, and restoring one into an empty directory.

A backup is one gzip'd tar file holding a consistent copy of the SQLite store (SQLite's online backup:
a snapshot taken in one step, while writers go on), the media files people sent, and `manifest.json`.
The encryption key is never in it: keep `secret.key` (or DINSOS_SECRET_KEY) somewhere else; the
manifest's key check value says which key the copy needs.
"""

import io
import json
import os
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DB_FILE_NAME = "intake.sqlite3"
MEDIA_DIR = "media"
MANIFEST = "manifest.json"
# What may already be in a data directory that a backup is restored into.
RESTORE_ALLOWED = {"secret.key", "service.lock"}


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class BackupSummary:
    """What a backup holds."""

    path: Path
    cases: int
    persons: int
    media_files: int
    check_value: str | None
    size_bytes: int


def _snapshot(db_path: Path, target: Path) -> None:
    source = sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True)
    try:
        source.execute("PRAGMA busy_timeout=10000")
        dest = sqlite3.connect(target)
        try:
            # One step (pages=-1): the copy is one read snapshot; writers in WAL mode are not blocked.
            source.backup(dest, pages=-1)
            dest.execute("PRAGMA journal_mode=DELETE")
        finally:
            dest.close()
    finally:
        source.close()


def _counts(db: Path) -> tuple[int, int, str | None]:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0] if "cases" in tables else 0
        persons = conn.execute("SELECT count(*) FROM persons").fetchone()[0] if "persons" in tables else 0
        check = None
        if "store_key" in tables:
            row = conn.execute("SELECT check_value FROM store_key WHERE id = 1").fetchone()
            check = row[0] if row else None
        return int(cases), int(persons), check
    finally:
        conn.close()


def create_backup(data_dir: Path, out: Path, *, now: datetime | None = None) -> BackupSummary:
    """Write a backup of `data_dir` to `out` (mode 0600; replaced atomically if it exists)."""
    db_path = data_dir / DB_FILE_NAME
    if not db_path.exists():
        raise BackupError(f"there is no store at {db_path}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".backup-") as work:
        snapshot = Path(work) / DB_FILE_NAME
        _snapshot(db_path, snapshot)
        cases, persons, check = _counts(snapshot)
        # Media files are written before the case that names them is committed: listed after the
        # snapshot, every file the copy refers to is here.
        media_root = data_dir / MEDIA_DIR
        media = sorted(p for p in media_root.rglob("*") if p.is_file()) if media_root.exists() else []
        manifest = {
            "created_at": (now or datetime.now(UTC)).isoformat(),
            "key_check_value": check,
            "cases": cases,
            "persons": persons,
            "media": [str(p.relative_to(data_dir)) for p in media],
        }
        partial = Path(work) / "backup.tar.gz"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(data), 0o600, int(datetime.now(UTC).timestamp())
            tar.addfile(info, io.BytesIO(data))
            tar.add(snapshot, arcname=DB_FILE_NAME)
            for path in media:
                tar.add(path, arcname=str(path.relative_to(data_dir)))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, out)
    return BackupSummary(out, cases, persons, len(media), check, out.stat().st_size)


def read_manifest(archive: Path) -> dict[str, object]:
    """The manifest of a backup file."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            loaded = json.loads(member.read())
    except (OSError, KeyError, tarfile.TarError, ValueError) as error:
        raise BackupError(f"{archive} is not a backup of this service ({error})") from None
    if not isinstance(loaded, dict):
        raise BackupError(f"{archive} is not a backup of this service")
    return loaded


def restore_backup(archive: Path, data_dir: Path) -> BackupSummary:
    """Unpack a backup into an empty data directory (only a key file may be there already)."""
    manifest = read_manifest(archive)
    if data_dir.exists():
        present = sorted(p.name for p in data_dir.iterdir() if p.name not in RESTORE_ALLOWED)
        if present:
            raise BackupError(
                f"{data_dir} is not empty ({', '.join(present[:5])}); restore into a new, empty directory"
            )
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    with tarfile.open(archive, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name != MANIFEST]
        for member in members:
            if member.name != DB_FILE_NAME and not member.name.startswith(MEDIA_DIR + "/"):
                raise BackupError(f"{archive} holds an unexpected file {member.name!r}")
        tar.extractall(data_dir, members=members, filter="data")
    db_path = data_dir / DB_FILE_NAME
    if not db_path.exists():
        raise BackupError(f"{archive} holds no store")
    os.chmod(db_path, 0o600)
    conn = sqlite3.connect(db_path)
    try:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError(f"the store in {archive} is damaged")
    finally:
        conn.close()
    cases, persons, check = _counts(db_path)
    media = manifest.get("media")
    return BackupSummary(
        archive, cases, persons, len(media) if isinstance(media, list) else 0, check, archive.stat().st_size
    )


def prune_backups(folder: Path, keep: int, prefix: str = "dinsos-") -> list[Path]:
    """Delete all but the newest `keep` nightly backups in `folder`; return what was deleted."""
    found = sorted(folder.glob(f"{prefix}*.tar.gz"))
    doomed = found[:-keep] if keep > 0 else []
    for path in doomed:
        path.unlink()
    return doomed
