"""Staff command line: list, show, change status, assign, note, reply, export. Every action is written to the
audit log."""

import argparse
import functools
import sys
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from bot import outbox, staff_outreach
from bot.app import open_sealer, open_settings_store
from bot.dashboard import cli as accounts_cli
from bot.engine import utcnow
from bot.replies import reply_to_citizen
from bot.settings import Settings
from handlers.casework import CaseworkError, change_status, reveal_numbers
from handlers.fields import show_birth_date
from handlers.forms import flag_text, flags_of
from handlers.i18n import LANGUAGES, Catalog
from handlers.places import Places
from handlers.staff.casework import assign_case, note_case
from handlers.staff.compose import clock, day
from handlers.staff.compose import number as grouped
from handlers.staff.errors import StaffError
from handlers.staff.exports import RowMaker, csv_chunks
from handlers.staff.present import FORMS, Presenter, case_answers
from handlers.staff.queue import QueueQuery, case_queue
from storage import desk, repo, threads
from storage.cases import CaseFilter
from storage.contract import Store, Tx
from storage.keys import record_check_value
from storage.records import CaseKind, CaseRecord, CaseStatus

# The staff catalog (shared with the dashboard): the command line's sentences are its `cli.` keys.
STAFF_LOCALES = Path(__file__).resolve().parent / "dashboard" / "locales"


def subparsers_of(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every sub-command parser below `parser`, at any depth."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += [sub, *subparsers_of(sub)]
    return found


def _staff_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """`--as` and `--lang`: at the top they set the default; after a command they override it (SUPPRESS
    keeps a sub-command from resetting what was given before it)."""
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--as",
        dest="actor",
        default=default,
        help="staff member's name for the audit log (default: login name)",
    )
    parser.add_argument(
        "--lang",
        dest="cli_language",
        choices=LANGUAGES,
        default=default,
        help="language of messages: id (default, or DINSOS_STAFF_LANGUAGE) or en",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the `staff` sub-commands."""
    _staff_options(parser, top=True)
    commands = parser.add_subparsers(dest="staff_command", required=True)

    def filters(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--kind", choices=[k.value for k in CaseKind])
        sub.add_argument("--status", choices=[s.value for s in CaseStatus])
        sub.add_argument("--kecamatan", help="name (typos forgiven) or Kemendagri code")

    listing = commands.add_parser("list", help="list cases, newest first")
    filters(listing)
    listing.add_argument("--limit", type=int, default=50)

    show = commands.add_parser("show", help="show one case in full (NIK unmasked, audited)")
    show.add_argument("reference")

    status = commands.add_parser("set-status", help="change a case's status and tell the citizen")
    status.add_argument("reference")
    status.add_argument("status", choices=[s.value for s in CaseStatus])
    status.add_argument("--note", help="reason (ditolak), question (perlu_info) or next steps")

    assign = commands.add_parser("assign", help="give a case to a staff member (or 'none')")
    assign.add_argument("reference")
    assign.add_argument("username", help="the staff member's user name, or 'none' to give it to nobody")

    note = commands.add_parser("note", help="add an internal note to a case (never sent to the citizen)")
    note.add_argument("reference")
    note.add_argument("--text", required=True, help="the note (up to 2000 characters)")

    reply = commands.add_parser("reply", help="send the citizen of a case a free-text message")
    reply.add_argument("reference")
    reply.add_argument("--text", required=True, help="what the citizen will read (up to 3000 characters)")

    link = commands.add_parser(
        "link-telegram", help="link a staff account to a Telegram user id (direct notices of replies)"
    )
    link.add_argument("username")
    link.add_argument("telegram_user_id", help="the numeric Telegram user id, or 'none' to unlink")

    export = commands.add_parser("export", help="export cases to CSV (NIK masked)")
    filters(export)
    export.add_argument("--out", type=Path, required=True)

    doubt = commands.add_parser(
        "in-doubt", help="messages that may not have arrived (interrupted mid-send); send them again"
    )
    again = doubt.add_mutually_exclusive_group()
    again.add_argument("--resend", type=int, nargs="+", metavar="ID", help="send these messages again")
    again.add_argument("--resend-all", action="store_true", help="send every listed message again")

    staff_outreach.add_commands(commands)
    accounts_cli.add_commands(commands)
    for sub in subparsers_of(parser):
        _staff_options(sub, top=False)


def language(args: argparse.Namespace, settings: Settings) -> str:
    """The operator's language: --lang, else DINSOS_STAFF_LANGUAGE (Indonesian by default)."""
    return getattr(args, "cli_language", None) or settings.service.staff_language


def say(args: argparse.Namespace, settings: Settings, key: str, **params: object) -> str:
    """A sentence of the command line, from the staff catalog, in the operator's language."""
    return _catalog().text(language(args, settings), f"cli.{key}", **params)


@functools.cache
def _catalog() -> Catalog:
    return Catalog.load(STAFF_LOCALES)


def _actor(args: argparse.Namespace) -> str:
    import getpass

    if args.actor:
        return f"staff:{args.actor}"
    try:
        return f"staff:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name (some containers): still audit, but say so
        return "staff:unknown"


def _kecamatan_code(places: Places, text: str | None) -> str | None:
    if not text:
        return None
    if text.count(".") == 2:
        try:
            return places.kecamatan_by_code(text.strip()).code
        except KeyError:
            raise CaseworkError(f"unknown kecamatan code {text!r}", "kecamatan_code", code=text) from None
    match = places.match_kecamatan(text)
    if match.best is None:
        known = match.candidates or places.kecamatan
        names = ", ".join(k.name for k in known)
        raise CaseworkError(
            f"unknown kecamatan {text!r}; one of: {names}", "kecamatan", name=text, known=names
        )
    return match.best.code


def _filter(args: argparse.Namespace, places: Places) -> CaseFilter:
    code = _kecamatan_code(places, args.kecamatan)
    return CaseFilter(
        kinds=[args.kind] if args.kind else [],
        statuses=[args.status] if args.status else [],
        kecamatan=code,
    )


def _filters(args: argparse.Namespace, result: str) -> str:
    """What a listing or export asked for, for the audit log."""
    asked = [
        f"--{name} {value}" for name in ("kind", "status", "kecamatan") if (value := getattr(args, name))
    ]
    return " ".join([*asked, f"-> {result}"])


def _masked_nik(case: CaseRecord, missing: str = "-") -> str:
    nik = case.answers.get("nik")
    return str(nik["m"]) if isinstance(nik, dict) and "m" in nik else missing


def _place(places: Places, case: CaseRecord, missing: str = "-") -> tuple[str, str]:
    kecamatan = places.kecamatan_by_code(case.kecamatan_code).name if case.kecamatan_code else missing
    kelurahan = places.kelurahan_by_code(case.kelurahan_code).name if case.kelurahan_code else missing
    return kecamatan, kelurahan


def when(value: datetime, tz: ZoneInfo, lang: str) -> str:
    """A moment in WIB as staff read it, as the dashboard writes it: 20-11-2026 09.00 (09:00 in English)."""
    local = value.astimezone(tz)
    return f"{day(local.date(), lang)} {clock(local.hour, local.minute, lang)}"


def staff_notes(case: CaseRecord, tz: ZoneInfo) -> list[str]:
    """What staff must look at: an approximate birth date, answers given by voice note or photo (with
    the file to open), questions skipped for staff to ask."""
    catalog = Catalog.load()

    def t(key: str, **params: object) -> str:
        return catalog.text("id", key, **params)

    lines: list[str] = []
    agreed = {"other": "orang yang didaftarkan", "child": "orang tua atau wali"}.get(
        str(case.answers.get("for_whom")) if case.kind == CaseKind.REGISTRATION else ""
    )
    if agreed:
        lines.append(f"Didaftarkan oleh pendamping; yang setuju: {agreed}")
    born = case.answers.get("birth_date")
    if isinstance(born, str) and len(born) != 10:
        today = utcnow().astimezone(tz).date()
        lines.append(f"Tanggal lahir (perkiraan): {show_birth_date(t, born, today)}")
    flags = flags_of(case.answers)
    if flags:
        form = FORMS.get(case.kind)
        lines.append("Perlu perhatian petugas:")
        for name, flag in flags.items():
            field = form.field(name) if form is not None else None
            label = t(field.label_key) if field is not None and field.label_key else name
            ref = f"  [{flag['ref']}]" if flag.get("ref") else ""
            lines.append(f"  {label}: {flag_text(t, flag)}{ref}")
    return lines


async def run(args: argparse.Namespace, settings: Settings, out: IO[str] = sys.stdout) -> int:
    """Run one staff command; return the exit code."""
    sealer = open_sealer(settings)  # a missing or wrong key stops here, before the store is touched
    db = await open_settings_store(settings)
    try:
        await db.write(partial(record_check_value, sealer=sealer))
        return await _dispatch(args, settings, db, out)
    except StaffError as error:
        problem: object = error
        if error.code == "needs_everyone":
            problem = say(args, settings, "needs_everyone")
        elif error.code == "bad_time":
            problem = say(args, settings, "bad_time", **error.params)
        elif _catalog().has(f"cli.{error.code}"):
            problem = say(args, settings, error.code, **error.params)
        print(say(args, settings, "error", problem=problem), file=sys.stderr)
        return 2
    finally:
        await db.close()


async def _dispatch(args: argparse.Namespace, settings: Settings, db: Store, out: IO[str]) -> int:
    words = partial(say, args, settings)
    lang = language(args, settings)
    places = Places.load()
    tz = ZoneInfo(settings.service.timezone)
    command = args.staff_command
    if command in staff_outreach.COMMANDS:
        return await staff_outreach.run(args, settings, db, _actor(args), out)
    if command in accounts_cli.COMMANDS:
        return await accounts_cli.run(args, db, _actor(args), out)
    if command == "in-doubt":
        return await _in_doubt(args, db, out)
    if command == "list":
        listed = await case_queue(
            db,
            QueueQuery(
                statuses=[args.status] if args.status else [],
                kinds=[args.kind] if args.kind else [],
                kecamatan=_kecamatan_code(places, args.kecamatan),
                limit=args.limit,
            ),
            now=utcnow(),
            tz=tz,
            targets=settings.service.target_days(),
        )
        rows = listed.entries
        # Audited before printing: a reader who stops early (`| head`) was still shown the rows.
        await db.write(
            partial(
                repo.audit,
                actor=_actor(args),
                action="cases.list",
                at=utcnow(),
                detail=_filters(args, f"{len(rows)} rows"),
            )
        )
        header = (
            f"{words('col_reference'):<16} {words('col_kind'):<13} {words('col_status'):<11} "
            f"{words('col_kecamatan'):<14} {'NIK':<17} {words('col_created'):<16} {words('col_name')}"
        )
        print(header, file=out)
        for entry in rows:
            case = entry.case
            kecamatan, _ = _place(places, case)
            flag = " " + words("duplicate_flag") if case.duplicate_of else ""
            flag += " " + words("overdue_flag") if entry.overdue else ""
            print(
                f"{case.reference:<16} {case.kind:<13} {case.status:<11} {kecamatan:<14} "
                f"{_masked_nik(case):<17} {when(case.created_at, tz, lang):<16} "
                f"{case.subject_name}{flag}",
                file=out,
            )
        print(words("count", count=grouped(len(rows), lang)), file=out)
        return 0
    if command == "show":
        found = await repo.get_case(db, args.reference)
        if found is None:
            raise CaseworkError(
                f"no case with reference {args.reference!r}", "no_case", reference=args.reference
            )
        case = found
        sealer = open_sealer(settings)
        revealed = await db.write(
            partial(
                reveal_numbers,
                sealer=sealer,
                reference=case.reference,
                actor=_actor(args),
                at=utcnow(),
            )
        )
        kecamatan, kelurahan = _place(places, case)
        shown = Presenter(Catalog.load(), lang, places, utcnow(), tz)
        kind, status = shown.t(f"kind.{case.kind}"), shown.t(f"staff.status.{case.status}")
        print(words("show_heading", reference=case.reference, kind=kind, status=status), file=out)
        print(words("show_name", name=case.subject_name), file=out)
        print(words("show_place", kecamatan=kecamatan, kelurahan=kelurahan), file=out)
        for key, number in revealed.items():
            print(words("show_number", label=key.upper(), number=number, actor=_actor(args)), file=out)
        if case.duplicate_of:
            print(words("show_duplicate", reference=case.duplicate_of), file=out)
        if case.info_question:
            print(words("show_question", question=case.info_question), file=out)
        print(words("show_answers"), file=out)
        for answer in case_answers(case, shown, mask_phones=False):
            file = f"  [{answer.media_ref}]" if answer.media_ref else ""
            listen = " " + words("show_to_hear") if answer.to_hear else ""
            print(f"  {answer.label}: {answer.text}{file}{listen}", file=out)
        for line in staff_notes(case, tz):
            print(line, file=out)
        print(words("show_history"), file=out)
        assert case.id is not None
        for event in await repo.case_events(db, case.id):
            change = f" {event.from_status or ''}->{event.to_status}" if event.to_status else ""
            note = f" | {event.note}" if event.note else ""
            told = " " + words("show_told") if event.citizen_notified else ""
            print(
                f"  {when(event.at, tz, lang)} {event.actor} {event.action}{change}{note}{told}",
                file=out,
            )
        print("Percakapan:", file=out)
        for thread_line in await threads.thread(db, case.id):
            print_line(thread_line, tz, out, lang)
        return 0
    if command == "reply":
        sent = await reply_to_citizen(
            db,
            settings,
            Catalog.load(),
            reference=args.reference,
            text=args.text,
            actor=_actor(args),
            now=utcnow(),
        )
        if sent.held_reason:
            print(f"{sent.reference}: pesan DITAHAN, belum terkirim: {sent.held_reason}", file=out)
            print("Pesan akan dikirim saat warga menulis lagi.", file=out)
        else:
            print(f"{sent.reference}: balasan antre untuk dikirim ke warga.", file=out)
        return 0
    if command == "link-telegram":
        return await _link_telegram(db, args, out)
    if command == "assign":
        officer = None if args.username.strip().lower() == "none" else args.username.strip()
        assigned = await db.write(
            partial(assign_case, reference=args.reference, username=officer, actor=_actor(args), at=utcnow())
        )
        if assigned.officer is None:
            print(words("unassigned", reference=assigned.reference), file=out)
        else:
            print(words("assigned", reference=assigned.reference, officer=assigned.officer), file=out)
        return 0
    if command == "note":
        noted = await db.write(
            partial(note_case, reference=args.reference, text=args.text, actor=_actor(args), at=utcnow())
        )
        print(words("noted", reference=noted), file=out)
        return 0
    if command == "set-status":
        result = await db.write(
            partial(
                change_status,
                catalog=Catalog.load(),
                reference=args.reference,
                to_status=CaseStatus(args.status),
                actor=_actor(args),
                note=args.note,
                at=utcnow(),
            )
        )
        print(f"{result.reference}: {result.from_status} -> {result.to_status}", file=out)
        if result.message:
            print(words("status_message", message=result.message), file=out)
        else:
            print(words("status_not_told"), file=out)
        return 0
    if command == "export":
        # The same readable export as the dashboard's CSV: one column per answer, in words.
        selected = _filter(args, places)
        maker = RowMaker(
            catalog=Catalog.load(), words=_catalog(), lang=lang, places=places, tz=tz, now=utcnow()
        )
        count = 0

        def counted(rows: int) -> None:
            nonlocal count
            count += rows

        with args.out.open("wb") as handle:
            async for chunk in csv_chunks(maker, db, selected, counted=counted):
                handle.write(chunk)
        await db.write(
            partial(
                repo.audit,
                actor=_actor(args),
                action="cases.export",
                at=utcnow(),
                detail=_filters(args, f"{count} rows"),
            )
        )
        print(words("exported", count=count, path=args.out), file=out)
        return 0
    raise CaseworkError(f"unknown command {command}", "unknown_command", command=command)


async def _in_doubt(args: argparse.Namespace, db: Store, out: IO[str]) -> int:
    """List the messages in doubt as people, or queue the chosen ones again (audited)."""
    if args.resend or args.resend_all:
        ids = None if args.resend_all else list(args.resend)
        count = await db.write(partial(outbox.resend_in_doubt, ids=ids, actor=_actor(args), at=utcnow()))
        print(f"{count} pesan masuk antrean kirim lagi / {count} messages queued to be sent again", file=out)
        return 0 if count or args.resend_all else 2
    rows = await outbox.in_doubt(db)
    print(f"{'ID':<8} {'SALURAN':<9} {'NAMA':<24} PESAN", file=out)
    for row in rows:
        text = " ".join(row.text.split())
        print(f"{row.id:<8} {row.channel:<9} {(row.name or '-')[:24]:<24} {text[:80]}", file=out)
    print(f"({len(rows)} pesan belum pasti sampai / not certain to have arrived)", file=out)
    return 0


def print_line(line: threads.ThreadLine, tz: ZoneInfo, out: IO[str], lang: str = "id") -> None:
    """One thread line: when, who, what, and (outbound) what became of it."""
    arrow = "<-" if line.direction == "in" else "->"
    who = "warga" if line.direction == "in" else line.author
    what = line.body or ""
    if line.media_ref:
        what = f"[{line.kind}: {line.media_ref}] {what}".strip()
    elif line.kind == "location":
        what = f"[lokasi] {what}"
    extra = ""
    if line.question:
        extra = f" (jawaban untuk: {line.question})"
    if line.direction == "out":
        extra = f" [{line.status or '-'}{': ' + line.error if line.error else ''}]"
    elif line.unread:
        extra += " [belum dibaca]"
    print(f"  {when(line.at, tz, lang)} {arrow} {who} ({line.kind}): {what}{extra}", file=out)


async def _link_telegram(db: Store, args: argparse.Namespace, out: IO[str]) -> int:
    value = str(args.telegram_user_id).strip().lower()
    if value != "none" and not value.lstrip("-").isdigit():
        raise CaseworkError("the Telegram user id is a number (or 'none' to unlink)")
    user_id = None if value == "none" else int(value)
    actor = _actor(args)

    def link(conn: Tx) -> bool:
        changed = desk.link_telegram(conn, username=args.username, telegram_user_id=user_id)
        if changed:
            repo.audit(
                conn,
                actor=actor,
                action="account.telegram_link",
                at=utcnow(),
                target=args.username,
                detail="unlinked" if user_id is None else "linked",
            )
        return changed

    if not await db.write(link):
        raise CaseworkError(f"no staff account {args.username!r}")
    print(f"{args.username}: {'tidak terhubung' if user_id is None else 'terhubung'} ke Telegram", file=out)
    return 0
