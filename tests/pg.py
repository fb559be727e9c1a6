"""A throwaway PostgreSQL cluster for tests and benchmarks (no Docker): Debian's binaries, a temporary
directory, a free port on 127.0.0.1, started once and stopped at the end.

`Cluster.start()` runs `initdb` (as the `postgres` user when this process is root) and `postgres`
with synchronous commit on (fsync may be turned off for speed: a test cluster needs no crash safety of
its own). `cluster.template()` builds one database with the current schema; `cluster.fresh()` copies it
(`CREATE DATABASE ... TEMPLATE`), which takes a few milliseconds, so every test gets an empty store.

When the binaries are missing, `require()` raises with a clear message, unless `DINSOS_TEST_POSTGRES=skip`
is set: then callers skip (CI never sets it, so PostgreSQL tests can never be skipped silently there).
"""

import atexit
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

SKIP_ENV = "DINSOS_TEST_POSTGRES"
TEMPLATE = "dinsos_template"


class PostgresMissing(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def bin_dir() -> Path | None:
    """Where `initdb` and `postgres` are (Debian keeps them out of PATH), if installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def skip_allowed() -> bool:
    """Whether missing binaries may skip PostgreSQL tests: on a developer's machine without PostgreSQL
    (as the browser tests without Chromium), or when asked for by name; never in CI (`CI` set, as
    `.ci/run` does), where `.ci/run` installs it."""
    if os.environ.get(SKIP_ENV, "").lower() == "skip":
        return True
    return not os.environ.get("CI")


def require() -> Path:
    """The binaries' directory, or a clear error saying how to install them."""
    found = bin_dir()
    if found is None:
        raise PostgresMissing(
            "PostgreSQL server binaries (initdb, postgres) were not found: install Debian's `postgresql` "
            f"package (apt-get install postgresql), or set {SKIP_ENV}=skip to skip the PostgreSQL tests."
        )
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Cluster:
    """One running throwaway cluster."""

    def __init__(self, root: Path, port: int, process: subprocess.Popen[bytes]) -> None:
        self.root = root
        self.port = port
        self._process = process
        self._names = itertools.count(1)
        self._template_ready = False

    @classmethod
    def start(cls, *, fsync: bool = False) -> "Cluster":
        """initdb into a temporary directory and start the server; wait until it accepts connections."""
        binaries = require()
        root = Path(tempfile.mkdtemp(prefix="dinsos-pg-"))
        as_postgres: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(root, owner.pw_uid, owner.pw_gid)
            as_postgres = ["runuser", "-u", "postgres", "--"]
        data = root / "data"
        subprocess.run(
            [*as_postgres, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            check=True,
            capture_output=True,
        )  # fmt: skip
        port = _free_port()
        log = open(root / "server.log", "wb")  # noqa: SIM115 - the server writes to it until stopped
        process = subprocess.Popen(
            [*as_postgres, str(binaries / "postgres"), "-D", str(data), "-k", str(root), "-p", str(port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"fsync={'on' if fsync else 'off'}",
             "-c", "synchronous_commit=on", "-c", "full_page_writes=off", "-c", "max_connections=200"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        cluster = cls(root, port, process)
        atexit.register(cluster.stop)
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(cluster.url("postgres"), connect_timeout=2).close()
                return cluster
            except psycopg.OperationalError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = (root / "server.log").read_text(errors="replace")
                    cluster.stop()
                    raise RuntimeError(f"the throwaway PostgreSQL did not start:\n{output}") from None
                time.sleep(0.1)

    def url(self, database: str) -> str:
        """A connection URL for one database of this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def create(self, name: str | None = None, *, template: str = "template0") -> str:
        """Create an empty database; return its URL."""
        name = name or f"t{next(self._names)}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def template(self) -> str:
        """The name of a database holding the current schema (made once, on first use)."""
        if not self._template_ready:
            from storage.postgres import migrate_database

            url = self.create(TEMPLATE)
            migrate_database(url)
            self._template_ready = True
        return TEMPLATE

    def fresh(self) -> str:
        """A new database with the current schema and no data: its URL."""
        return self.create(template=self.template())

    def drop(self, url: str) -> None:
        """Drop a database made by `create` or `fresh` (its connections are ended first)."""
        name = url.rsplit("/", 1)[1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server and delete its directory."""
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, 2)  # SIGINT: PostgreSQL's fast shutdown
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, 9)
                self._process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
