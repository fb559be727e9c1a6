"""Command line: run the service, chat in the terminal, simulate, or use the staff tools.

python -m bot                 run the service: staff dashboard and simulator on http://127.0.0.1:8080,
                              plus Telegram / WhatsApp when their settings are present
python -m bot chat            chat with the bot in this terminal
python -m bot simulate        JSON lines in (one event each), JSON lines out
python -m bot staff ...       list / show / set-status / export cases, outreach, create-user
"""

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from bot import staff_cli
from bot.app import ServiceLock, build_service
from bot.channels.console import (
    CONSOLE,
    JsonLinesChannel,
    TerminalChannel,
    run_simulation,
    run_terminal_chat,
)
from bot.engine import utcnow
from bot.logs import setup_logging
from bot.runner import enabled_channels, run_service
from bot.scheduler import OutreachScheduler
from bot.settings import ServiceSettings, Settings, StoreSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the database and key live (default: DINSOS_DATA_DIR or ./data)",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the service (the default)")
    chat = commands.add_parser("chat", help="chat with the bot in this terminal")
    chat.add_argument("--name", default=None, help="contact name (default: your login name)")
    commands.add_parser("simulate", help="JSON lines in, JSON lines out")
    staff = commands.add_parser("staff", help="staff tools")
    staff_cli.add_arguments(staff)
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
        await run_simulation(service, stdin=sys.stdin, stdout=sys.stdout, clock=utcnow)
    finally:
        await service.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bot` and the `dinsos-intake` script."""
    args = _parser().parse_args(argv)
    settings = _settings(args)
    setup_logging(settings.service.log_level if args.command != "simulate" else "WARNING")
    command = args.command or "run"
    if command == "staff":
        return asyncio.run(staff_cli.run(args, settings))
    lock = ServiceLock(settings.store.data_dir)
    lock.acquire()
    try:
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
        lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
