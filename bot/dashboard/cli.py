"""`python -m bot staff create-user`: add a dashboard account from the command line (e.g. the first admin)."""

import argparse
import asyncio
import getpass
import sys
from functools import partial
from typing import IO

from bot.dashboard import accounts
from bot.dashboard.accounts import AccountError
from bot.engine import utcnow
from storage.contract import Store

COMMANDS = ("create-user",)

PROBLEMS = {
    "username": "the username must be 2-32 characters: lower-case letters, digits, '.', '_' or '-'",
    "role": "the role must be admin, petugas or viewer",
    "password_short": f"the password must have at least {accounts.MIN_PASSWORD} characters",
    "username_taken": "an account with this username already exists",
}


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Declare `create-user` beside the other staff commands."""
    create = commands.add_parser("create-user", help="add a dashboard account (admin, petugas or viewer)")
    create.add_argument("--username", required=True, help="sign-in name: a-z, 0-9, '.', '_', '-'")
    create.add_argument("--role", required=True, choices=accounts.ROLES)
    create.add_argument("--name", default="", help="name shown on the dashboard (default: the username)")
    how = create.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    how.add_argument(
        "--generate",
        action="store_true",
        help="make up a password and print it once (the default without a terminal)",
    )


def _password(args: argparse.Namespace, out: IO[str]) -> tuple[str, bool]:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if args.generate or not sys.stdin.isatty():
        return accounts.new_password(), True
    first = getpass.getpass("Kata sandi / password: ")
    if first != getpass.getpass("Ulangi / repeat: "):
        raise AccountError("mismatch")
    return first, False


async def run(args: argparse.Namespace, db: Store, actor: str, out: IO[str]) -> int:
    """Create the account; print the password when it was made up."""
    try:
        password, generated = _password(args, out)
        username = accounts.validate(args.username, args.role, password)
        hashed = await asyncio.to_thread(accounts.hash_password, password)
        await db.write(
            partial(
                accounts.create_user,
                username=username,
                display_name=args.name or username,
                role=args.role,
                password_hash=hashed,
                actor=actor,
                at=utcnow(),
            )
        )
    except AccountError as error:
        print(f"error: {PROBLEMS.get(error.reason, 'the two passwords differ')}", file=sys.stderr)
        return 2
    print(f"Akun {username} ({args.role}) dibuat.", file=out)
    if generated:
        print(f"Kata sandi (ditampilkan sekali / shown once): {password}", file=out)
    return 0
