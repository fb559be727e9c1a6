"""The key and the store: which key sealed it is recorded, a missing or wrong key stops every command with
one clear message (nothing written), files are private, and `rotate-key` re-seals all in one go."""

import base64
import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.app import DB_FILE_NAME
from storage.crypto import KEY_FILE_NAME, Sealed, Sealer, generate_key_text, parse_key
from tests.dashboard_support import SeedCase, seed_cases

NIKS = ["3674011507900001", "3674014408850002", "3674010101010003"]


def bot(
    data_dir: Path, *argv: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ...` as the operator runs it (the key from the file unless `env` sets one)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DINSOS_")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *argv, "--data-dir", str(data_dir)],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


def key_of(data_dir: Path) -> bytes:
    return parse_key((data_dir / KEY_FILE_NAME).read_bytes(), "test")


def make_store(data_dir: Path, count: int = len(NIKS)) -> None:
    """A store created by the service itself (key file written on first run), holding sealed NIKs."""
    created = bot(data_dir, "staff", "list")
    assert created.returncode == 0, created.stderr
    sealer = Sealer(key_of(data_dir))
    with contextlib.closing(sqlite3.connect(data_dir / DB_FILE_NAME)) as conn, conn:
        seed_cases(
            conn,
            [SeedCase(name=f"Warga {i}", nik=NIKS[i % len(NIKS)][:-4] + f"{i:04d}") for i in range(count)],
            sealer,
        )


def fingerprint(data_dir: Path) -> dict[str, str]:
    """Every file of the data directory and a digest of its bytes (to prove nothing was written)."""
    return {
        str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file() and p.name != "service.lock"
    }


def sealed_values(data_dir: Path) -> list[Sealed]:
    with contextlib.closing(sqlite3.connect(data_dir / DB_FILE_NAME)) as conn:
        persons = [
            Sealed.model_validate_json(r[0])
            for r in conn.execute("SELECT nik FROM persons WHERE nik IS NOT NULL")
        ]
        cases = [
            Sealed.model_validate(json.loads(r[0])["nik"])
            for r in conn.execute("SELECT answers FROM cases WHERE nik_hash IS NOT NULL")
        ]
    return persons + cases


def opens_all(key: bytes, values: list[Sealed]) -> bool:
    sealer = Sealer(key)
    try:
        for value in values:
            sealer.open(value)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("command", [["simulate"], ["staff", "list"], ["rotate-key"], []])
def test_a_missing_key_stops_every_command_and_writes_nothing(tmp_path: Path, command: list[str]) -> None:
    data = tmp_path / "data"
    make_store(data)
    (data / KEY_FILE_NAME).unlink()
    before = fingerprint(data)
    result = bot(data, *command, stdin='{"from": "u1", "text": "halo"}\n')
    assert result.returncode != 0
    assert "missing" in result.stderr and "Restore" in result.stderr and "DINSOS_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (data / KEY_FILE_NAME).exists()  # no second key quietly written
    assert fingerprint(data) == before


def test_a_replaced_key_file_or_another_configured_key_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_store(data)
    real = (data / KEY_FILE_NAME).read_text()
    (data / KEY_FILE_NAME).write_text(generate_key_text() + "\n")
    before = fingerprint(data)
    replaced = bot(data, "staff", "list")
    assert replaced.returncode != 0
    assert "not the key that sealed" in replaced.stderr and "Traceback" not in replaced.stderr
    assert fingerprint(data) == before

    (data / KEY_FILE_NAME).write_text(real)
    before = fingerprint(data)
    configured = bot(data, "staff", "list", env={"DINSOS_SECRET_KEY": generate_key_text()})
    assert configured.returncode != 0
    assert "DINSOS_SECRET_KEY" in configured.stderr and "not the key that sealed" in configured.stderr
    assert fingerprint(data) == before
    # With the right key everything works again, and the old NIKs open.
    assert bot(data, "staff", "list").returncode == 0
    assert opens_all(key_of(data), sealed_values(data))


@pytest.mark.parametrize("content", [b"dG9vLXNob3J0\n", b"not base64 at all!\n", b"", b"\xff\xfe\x00garbage"])
def test_a_malformed_key_gets_the_same_clear_message(tmp_path: Path, content: bytes) -> None:
    data = tmp_path / "data"
    make_store(data)
    (data / KEY_FILE_NAME).write_bytes(content)
    before = fingerprint(data)
    result = bot(data, "staff", "list")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "key" in result.stderr and "Restore the key from your backup" in result.stderr
    assert fingerprint(data) == before


def test_the_store_records_a_check_value_not_the_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_store(data)
    key = key_of(data)
    with contextlib.closing(sqlite3.connect(data / DB_FILE_NAME)) as conn:
        (check,) = conn.execute("SELECT check_value FROM store_key").fetchone()
        dump = "\n".join(conn.iterdump())
    assert check == Sealer(key).check_value
    assert base64.urlsafe_b64encode(key).decode().rstrip("=") not in dump


def test_files_are_private_and_loose_modes_are_fixed_with_a_warning(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_store(data)
    for name in (DB_FILE_NAME, KEY_FILE_NAME):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    os.chmod(data / KEY_FILE_NAME, 0o644)
    os.chmod(data / DB_FILE_NAME, 0o644)
    os.chmod(data, 0o755)  # noqa: S103 - the loose mode an operator might leave
    result = bot(data, "staff", "list")
    assert result.returncode == 0, result.stderr
    assert "readable by others" in result.stderr and "0644" in result.stderr
    assert stat.S_IMODE((data / KEY_FILE_NAME).stat().st_mode) == 0o600
    assert stat.S_IMODE((data / DB_FILE_NAME).stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for extra in ("-wal", "-shm"):
        path = data / (DB_FILE_NAME + extra)
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_rotate_key_reseals_everything_and_keeps_the_old_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_store(data)
    old = key_of(data)
    result = bot(data, "rotate-key")
    assert result.returncode == 0, result.stderr
    new = key_of(data)
    assert new != old
    backups = list(data.glob(f"{KEY_FILE_NAME}.*.bak"))
    assert len(backups) == 1 and parse_key(backups[0].read_bytes(), "backup") == old
    assert stat.S_IMODE((data / KEY_FILE_NAME).stat().st_mode) == 0o600
    values = sealed_values(data)
    assert len(values) == 2 * len(NIKS)
    assert opens_all(new, values) and not any(opens_all(old, [v]) for v in values)
    # Duplicate and NIK search hashes follow the new key.
    sealer = Sealer(new)
    with contextlib.closing(sqlite3.connect(data / DB_FILE_NAME)) as conn:
        for nik_hash, answers in conn.execute("SELECT nik_hash, answers FROM cases"):
            assert nik_hash == sealer.lookup_hash(
                sealer.open(Sealed.model_validate(json.loads(answers)["nik"]))
            )
    shown = bot(data, "staff", "show", "REG-2026-000001")
    assert shown.returncode == 0, shown.stderr
    assert any(nik[:-4] in shown.stdout for nik in NIKS)


def test_rotate_key_refuses_while_the_service_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_store(data)
    import fcntl

    fd = os.open(data / "service.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        result = bot(data, "rotate-key")
    finally:
        os.close(fd)
    assert result.returncode != 0 and "already running" in result.stderr
    assert not list(data.glob("*.bak"))


def test_kill_9_during_rotate_key_leaves_the_store_under_one_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_store(data, count=3000)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DINSOS_")}
    outcomes = set()
    for delay in (0.05, 0.4, 0.7, 1.0, 1.5, 3.0):
        keys = {key_of(data)} | {parse_key(p.read_bytes(), "b") for p in data.glob(f"{KEY_FILE_NAME}*")}
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--data-dir", str(data), "rotate-key"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environ,
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        values = sealed_values(data)
        candidates = keys | {
            parse_key(p.read_bytes(), "b") for p in data.glob(f"{KEY_FILE_NAME}*") if p.stat().st_size
        }
        under = [key for key in candidates if opens_all(key, values)]
        assert len(under) == 1, f"after {delay}s the store is not under one single key"
        outcomes.add(under[0] in keys)
        # The next start settles the key files: the service's key is the one the store is under.
        after = bot(data, "staff", "list")
        assert after.returncode == 0, after.stderr
        assert key_of(data) == under[0]
        assert not (data / (KEY_FILE_NAME + ".new")).exists()
    assert outcomes  # at least one kill landed; both outcomes are allowed
