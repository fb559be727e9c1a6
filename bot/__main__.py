"""Command line: run the service, chat in the terminal, simulate, or use the staff tools.

python -m bot                 run the service: staff dashboard and simulator on http://127.0.0.1:8080,
                              plus Telegram / WhatsApp when their settings are present
python -m bot chat            chat with the bot in this terminal
python -m bot simulate        JSON lines in (one event each), JSON lines out
python -m bot staff ...       list / show / set-status / export cases, outreach, create-user
python -m bot backup FILE     a consistent backup (store + media, not the key) while the service runs
python -m bot restore FILE    unpack a backup into an empty data directory
python -m bot rotate-key      re-seal every NIK/KK under a new key (service stopped); old key kept
python -m bot migrate-store --to postgresql://...
                              copy the SQLite store into an empty PostgreSQL database (service stopped)

--data-dir PATH may come before or after the command.
"""

import argparse
import asyncio
import getpass
import io
import os
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from pydantic import ValidationError

from bot import staff_cli
from bot.app import DB_FILE_NAME, ServiceLock, build_service, open_sealer, open_settings_store, store_at
from bot.channels.console import (
    CONSOLE,
    JsonLinesChannel,
    TerminalChannel,
    run_simulation,
    run_terminal_chat,
)
from bot.engine import utcnow
from bot.logs import setup_logging
from bot.runner import StartupFailure, enabled_channels, run_service
from bot.scheduler import OutreachScheduler
from bot.settings import ServiceSettings, Settings, StoreSettings
from storage.backup import BackupError, create_backup, restore_backup
from storage.crypto import KEY_FILE_NAME, KeyProblem, Sealer
from storage.keys import record_check_value, rotate
from storage.location import CopyRefused, StoreUnreachable, is_postgresql_url, redacted, unreachable


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """`--data-dir`: at the top it sets the default; after a command it overrides it (SUPPRESS keeps a
    sub-command from resetting what was given before the command)."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None if top else argparse.SUPPRESS,
        help="where the database and key live (default: DINSOS_DATA_DIR or ./data)",
    )


def _subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every sub-command parser below `parser`, at any depth."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += [sub, *_subcommands(sub)]
    return found


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_global_options(parser, top=True)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the service (the default)")
    chat = commands.add_parser("chat", help="chat with the bot in this terminal")
    chat.add_argument("--name", default=None, help="contact name (default: your login name)")
    commands.add_parser("simulate", help="JSON lines in, JSON lines out")
    staff = commands.add_parser("staff", help="staff tools")
    staff_cli.add_arguments(staff)
    backup = commands.add_parser("backup", help="write a backup file while the service runs")
    backup.add_argument("file", type=Path, help="the backup file to write (a .tar.gz)")
    restore = commands.add_parser("restore", help="restore a backup file into an empty data directory")
    restore.add_argument("file", type=Path, help="a file written by `backup`")
    commands.add_parser("rotate-key", help="re-seal every NIK/KK under a new key (service stopped)")
    move = commands.add_parser(
        "migrate-store", help="copy the SQLite store into an empty PostgreSQL database (service stopped)"
    )
    move.add_argument(
        "--to", required=True, metavar="URL", help="postgresql://user:password@host:port/dbname"
    )
    for sub in _subcommands(parser):
        _add_global_options(sub, top=False)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    store = StoreSettings()
    if args.data_dir is not None:
        store = store.model_copy(update={"data_dir": args.data_dir})
    return Settings(store=store, service=ServiceSettings())


async def _chat(settings: Settings, name: str) -> None:
    channel = TerminalChannel(sys.stdout)
    service = await build_service(settings, {CONSOLE: channel}, fallback=channel)
    # Staff messages, broadcasts and reminders reach the terminal too.
    sender = asyncio.create_task(service.dispatcher.run())
    scheduler = OutreachScheduler(
        service.db,
        service.services.catalog,
        settings.outreach,
        service.services.timezone,
        utcnow,
        on_queued=service.dispatcher.wake,
    )
    scheduler.start()
    try:
        await run_terminal_chat(service, name, stdin=sys.stdin, stdout=sys.stdout, clock=utcnow)
    finally:
        await scheduler.stop()
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await service.close()


async def _simulate(settings: Settings) -> None:
    channel = JsonLinesChannel(sys.stdout)
    service = await build_service(settings, {CONSOLE: channel}, fallback=channel)
    try:
        # Bytes that are not UTF-8 become lone surrogates, which the line parser refuses kindly.
        stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape")
        await run_simulation(service, stdin=stdin, stdout=sys.stdout, clock=utcnow)
    finally:
        await service.close()


def _rotate_key(settings: Settings) -> int:
    store = settings.store
    if store.secret_key is not None:
        raise KeyProblem(
            "The key is set by DINSOS_SECRET_KEY, which this command cannot change. Unset it to use the "
            "key file, or re-seal by hand: see docs/deploy.md (Keys)."
        )
    sealer_key = open_sealer(settings)  # checks the key against the store; creates nothing on a store
    asyncio.run(_migrate(settings, sealer_key))
    counts, kept = rotate(store_at(settings), store.data_dir, sealer_key.master_key)
    print(
        f"Every sealed number was re-sealed under a new key ({counts['persons']} persons, "
        f"{counts['cases']} cases, {counts['conversations']} open conversations, {counts['inbox']} "
        f"stored webhook bodies).\nThe new key is {store.data_dir / KEY_FILE_NAME}; the old one is kept as "
        f"{kept}. Back up the new key now, and delete the old one once no backup needs it."
    )
    return 0


async def _migrate(settings: Settings, sealer: Sealer) -> None:
    """Bring the store up to date and record its key check value (what rotate-key compares)."""
    db = await open_settings_store(settings)
    try:
        await db.write(partial(record_check_value, sealer=sealer))
    finally:
        await db.close()


def _sqlite_only(settings: Settings, what: str) -> None:
    if settings.store.postgresql_url is not None:
        raise BackupError(
            f"{what} works on the SQLite store only. With PostgreSQL (DINSOS_DATABASE_URL), back the "
            "database up with pg_dump and restore it with pg_restore (docs/deploy.md); keep the key file "
            "apart."
        )


def _migrate_store(settings: Settings, url: str) -> int:
    """Copy the SQLite store into an empty PostgreSQL database and check every table's row count."""
    if settings.store.postgresql_url is not None:
        raise CopyRefused(
            "DINSOS_DATABASE_URL is set: the store is PostgreSQL already. Unset it to copy the SQLite store "
            f"in {settings.store.data_dir}."
        )
    if not is_postgresql_url(url):
        raise CopyRefused("--to must be a postgresql:// URL.")
    db_path = settings.store.data_dir / DB_FILE_NAME
    if not db_path.exists():
        raise CopyRefused(f"There is no SQLite store at {db_path}: nothing to copy.")
    sealer = open_sealer(settings)
    asyncio.run(_migrate(settings, sealer))  # the SQLite store's schema up to date, its key recorded
    from storage.postgres.copy import copy_sqlite_store  # psycopg is loaded only for PostgreSQL

    print(f"Copying {db_path} to {redacted(url)} ...", flush=True)
    try:
        counts = copy_sqlite_store(db_path, url)
    except Exception as error:
        problem = unreachable(error, url)
        if problem is None:
            raise
        raise problem from None
    width = max(map(len, counts))
    for table, count in counts.items():
        print(f"  {table:<{width}}  {count:>9}")
    print(
        f"Done: {len(counts)} tables, {sum(counts.values())} rows, every table's row count checked on both "
        "sides.\nTo run on PostgreSQL, set DINSOS_DATABASE_URL to that database and keep the same key "
        "(DINSOS_SECRET_KEY or the key file); the SQLite file was left as it was."
    )
    return 0


def _backup(settings: Settings, file: Path) -> int:
    _sqlite_only(settings, "python -m bot backup")
    summary = create_backup(settings.store.data_dir, file)
    print(
        f"Backup written to {summary.path} ({summary.size_bytes // 1024} KB: {summary.cases} cases, "
        f"{summary.persons} persons, {summary.media_files} media files).\n"
        "The encryption key is not in it: keep the key file (or DINSOS_SECRET_KEY) in a separate safe place."
    )
    return 0


def _restore(settings: Settings, file: Path) -> int:
    _sqlite_only(settings, "python -m bot restore")
    data_dir = settings.store.data_dir
    summary = restore_backup(file, data_dir)
    print(
        f"Restored {summary.cases} cases, {summary.persons} persons and {summary.media_files} media files "
        f"into {data_dir}."
    )
    configured = settings.store.secret_key
    if configured is None and not (data_dir / KEY_FILE_NAME).exists():
        print(
            f"Now put the key this backup was made with at {data_dir / KEY_FILE_NAME} (mode 0600), or set "
            "DINSOS_SECRET_KEY, before starting the service."
        )
        return 0
    open_sealer(settings)  # says clearly when the key at hand is not the backup's
    print("The key at hand opens this backup.")
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command or "run"
    if command == "staff":
        return asyncio.run(staff_cli.run(args, settings))
    if command == "backup":
        return _backup(settings, args.file)
    if command == "restore":
        lock = ServiceLock(settings.store.data_dir) if settings.store.data_dir.exists() else None
        if lock is not None:
            lock.acquire()
        try:
            return _restore(settings, args.file)
        finally:
            if lock is not None:
                lock.release()
    # Check the key before taking the lock or writing anything. The lock keeps a second process off the
    # SQLite file; PostgreSQL is shared by design (several processes keep their invariants in the database).
    open_sealer(settings)
    lock = ServiceLock(settings.store.data_dir) if settings.store.postgresql_url is None else None
    if lock is not None:
        lock.acquire()
    try:
        if command == "migrate-store":
            return _migrate_store(settings, args.to)
        if command == "rotate-key":
            return _rotate_key(settings)
        if command == "simulate":
            asyncio.run(_simulate(settings))
        elif command == "run":
            if not enabled_channels(settings):
                print(
                    "No Telegram or WhatsApp settings: the dashboard and its citizen simulator run locally.\n"
                    "(To chat in this terminal instead: python -m bot chat)",
                    flush=True,
                )
            asyncio.run(run_service(settings))
        else:
            name = getattr(args, "name", None) or getpass.getuser() or "warga"
            asyncio.run(_chat(settings, name))
    except KeyboardInterrupt:
        pass
    finally:
        if lock is not None:
            lock.release()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bot` and the `dinsos-intake` script."""
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValidationError as invalid:
        first = invalid.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        print(f"dinsos-intake: setting {where.upper()} is not valid: {first['msg']}", file=sys.stderr)
        return 2
    setup_logging(settings.service.log_level if args.command != "simulate" else "WARNING")
    try:
        return _run(args, settings)
    except (KeyProblem, BackupError, StartupFailure, CopyRefused, StoreUnreachable) as problem:
        # One clear sentence for the operator, no traceback; nothing was written.
        print(f"dinsos-intake: {problem}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`staff list | head`): stop quietly; point stdout at /dev/null so the
        # interpreter's last flush does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as error:
        cannot_reach = unreachable(error, settings.store.postgresql_url)
        if cannot_reach is None:
            raise
        print(f"dinsos-intake: {cannot_reach}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
