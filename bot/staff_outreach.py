"""Staff commands for segments, broadcasts, reminders, appointments and training programmes."""

import argparse
import csv
import json
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import IO
from zoneinfo import ZoneInfo

from bot.engine import utcnow
from bot.scheduler import outreach_times
from bot.settings import Settings
from handlers import outreach
from handlers.i18n import Catalog
from handlers.outreach import OutreachError
from handlers.places import Places
from handlers.segments import Segment
from handlers.staff.casework import set_appointment
from handlers.staff.compose import describe_cron, describe_segment, number, read_moment, safe_cell
from handlers.staff.segments import SegmentInput, build_segment
from storage import outreach as outreach_store
from storage.contract import Store
from storage.records import CaseKind, CaseStatus

COMMANDS = ("segment", "broadcast", "reminder", "appointment", "programme")


@dataclass(frozen=True, slots=True)
class StaffContext:
    """What every outreach command works with."""

    db: Store
    actor: str
    out: IO[str]
    tz: ZoneInfo
    places: Places
    times: outreach.OutreachTimes
    catalog: Catalog
    now: datetime
    # The operator's language (--lang, else DINSOS_STAFF_LANGUAGE): who a segment reaches is said in it.
    language: str = "id"


def _segment_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("segment (all filters must hold; no filter needs --everyone)")
    group.add_argument("--kecamatan", action="append", default=[], help="name (typos forgiven) or code")
    group.add_argument("--kelurahan", action="append", default=[], help="name (typos forgiven) or code")
    group.add_argument(
        "--skill", action="append", default=[], help="masak, rias, menjahit, montir, service_hp, lainnya"
    )
    group.add_argument("--case-kind", action="append", default=[], choices=[k.value for k in CaseKind])
    group.add_argument("--case-status", action="append", default=[], choices=[s.value for s in CaseStatus])
    group.add_argument("--disaster-victim", action="store_true", default=None)
    group.add_argument("--not-disaster-victim", dest="disaster_victim", action="store_false")
    group.add_argument("--registered-from", help="DD-MM-YYYY (or YYYY-MM-DD)")
    group.add_argument("--registered-to", help="DD-MM-YYYY (or YYYY-MM-DD)")
    group.add_argument("--language", choices=["id", "en"])
    group.add_argument(
        "--everyone", action="store_true", help="every registered citizen (required when no filter is given)"
    )


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Declare the outreach sub-commands beside the case commands."""
    segment = commands.add_parser("segment", help="preview who a segment reaches (count and sample)")
    _segment_arguments(segment)

    broadcast = commands.add_parser("broadcast", help="broadcast messages")
    actions = broadcast.add_subparsers(dest="action", required=True)
    send = actions.add_parser("send", help="send now or at a time (preview without --yes)")
    send.add_argument("--text", required=True, help="message in Bahasa Indonesia")
    send.add_argument("--text-en", help="English version (optional)")
    send.add_argument("--template", help="approved WhatsApp template for contacts outside the 24-hour window")
    send.add_argument("--at", help="send time, WIB: 'YYYY-MM-DD HH:MM' (default: now)")
    send.add_argument("--yes", action="store_true", help="really send (otherwise only the preview)")
    _segment_arguments(send)
    actions.add_parser("list", help="broadcasts, newest first")
    status = actions.add_parser("status", help="progress and report of one broadcast")
    status.add_argument("id", type=int)
    cancel = actions.add_parser("cancel", help="stop a scheduled or running broadcast")
    cancel.add_argument("id", type=int)

    reminder = commands.add_parser("reminder", help="reminders to a segment")
    actions = reminder.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="a one-off (--at) or recurring (--cron, WIB) reminder")
    add.add_argument("--text", required=True)
    add.add_argument("--text-en")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--at", help="'YYYY-MM-DD HH:MM' WIB")
    when.add_argument("--cron", help="crontab in WIB, e.g. '0 8 * * mon' (every Monday 08:00)")
    _segment_arguments(add)
    actions.add_parser("list", help="active reminders")
    remove = actions.add_parser("cancel", help="stop a reminder")
    remove.add_argument("id", type=int)

    appointment = commands.add_parser("appointment", help="set an appointment on a case (citizen is told)")
    appointment.add_argument("reference")
    appointment.add_argument("--at", required=True, help="'YYYY-MM-DD HH:MM' WIB")
    appointment.add_argument("--place", required=True)
    appointment.add_argument("--note", help="what to bring, whom to ask for")

    programme = commands.add_parser("programme", help="training programmes")
    actions = programme.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create")
    create.add_argument("--name", required=True)
    create.add_argument("--skill", required=True)
    create.add_argument("--place", required=True)
    create.add_argument("--start", required=True, help="'YYYY-MM-DD HH:MM' WIB")
    create.add_argument("--end", required=True, help="'YYYY-MM-DD HH:MM' WIB")
    create.add_argument("--quota", type=int, required=True)
    invite = actions.add_parser("invite", help="invite a segment (preview without --yes)")
    invite.add_argument("id", type=int)
    invite.add_argument("--yes", action="store_true")
    _segment_arguments(invite)
    actions.add_parser("list")
    show = actions.add_parser("show", help="RSVPs: confirmed, waiting list, declined")
    show.add_argument("id", type=int)
    export = actions.add_parser("export", help="attendee list as CSV")
    export.add_argument("id", type=int)
    export.add_argument("--out", required=True)


def parse_local(text: str, tz: ZoneInfo) -> datetime:
    """'DD-MM-YYYY HH:MM' (or 'YYYY-MM-DD HH:MM') in local time -> aware UTC datetime."""
    found = read_moment(text, tz)
    if found is None:
        raise OutreachError(
            f"write the time as 'DD-MM-YYYY HH:MM' (WIB), not {text!r}", "bad_time", text=text
        )
    return found


def segment_from_args(args: argparse.Namespace, places: Places, catalog: Catalog) -> Segment:
    """The segment the command-line filters ask for (the staff service's builder: place names matched
    forgivingly, every value checked, no filter only with --everyone)."""
    given = SegmentInput(
        kecamatan=args.kecamatan,
        kelurahan=args.kelurahan,
        skills=args.skill,
        kinds=args.case_kind,
        statuses=args.case_status,
        disaster_victim=args.disaster_victim,
        registered_from=args.registered_from,
        registered_to=args.registered_to,
        language=args.language,
        everyone=args.everyone,
    )
    return build_segment(given, places=places, catalog=catalog)


def _local(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%d-%m-%Y %H:%M") if value else "-"


async def _preview(ctx: "StaffContext", segment: Segment) -> int:
    outreach.require_chosen(segment)
    count, sample = await outreach.preview(ctx.db, segment, ctx.tz)
    print(f"Segmen: {describe_segment(segment, ctx.catalog, ctx.language, ctx.places)}", file=ctx.out)
    shown = number(count, ctx.language)
    print(f"Penerima: {shown}" + (f" (contoh: {', '.join(sample)})" if sample else ""), file=ctx.out)
    return count


async def run(args: argparse.Namespace, settings: Settings, db: Store, actor: str, out: IO[str]) -> int:
    """Run one outreach command; return the exit code."""
    tz = ZoneInfo(settings.service.timezone)
    ctx = StaffContext(
        db=db,
        actor=actor,
        out=out,
        tz=tz,
        places=Places.load(),
        times=outreach_times(settings.outreach, tz),
        catalog=Catalog.load(),
        now=utcnow(),
        language=getattr(args, "cli_language", None) or settings.service.staff_language,
    )
    command = args.staff_command
    if command == "segment":
        await _preview(ctx, segment_from_args(args, ctx.places, ctx.catalog))
        return 0
    if command == "broadcast":
        return await _broadcast(args, ctx)
    if command == "reminder":
        return await _reminder(args, ctx)
    if command == "appointment":
        appointment_id = await db.write(
            partial(
                set_appointment,
                reference=args.reference,
                starts_at=parse_local(args.at, tz),
                place=args.place,
                note=args.note,
                actor=actor,
                at=ctx.now,
                times=ctx.times,
                catalog=ctx.catalog,
            )
        )
        print(
            f"Jadwal {appointment_id} untuk {args.reference.upper()} dibuat; warga diberi tahu dan "
            "akan diingatkan.",
            file=out,
        )
        return 0
    return await _programme(args, ctx)


async def _broadcast(args: argparse.Namespace, ctx: StaffContext) -> int:
    if args.action == "send":
        segment = segment_from_args(args, ctx.places, ctx.catalog)
        count = await _preview(ctx, segment)
        send_at = parse_local(args.at, ctx.tz) if args.at else ctx.now
        if not args.yes:
            print("Belum dikirim. Ulangi dengan --yes untuk mengirim.", file=ctx.out)
            return 0
        if count == 0:
            raise OutreachError("the segment reaches nobody; nothing was sent")
        broadcast_id = await ctx.db.write(
            partial(
                outreach.create_broadcast,
                segment=segment,
                text_id=args.text,
                text_en=args.text_en,
                template=args.template,
                send_at=send_at,
                actor=ctx.actor,
                at=ctx.now,
                tz=ctx.tz,
                quiet=ctx.times.quiet,
            )
        )
        when = "sekarang" if send_at <= ctx.now else _local(send_at, ctx.tz) + " WIB"
        if ctx.times.quiet.active(max(send_at, ctx.now)):
            when += (
                " (jam tenang: dikirim mulai "
                + _local(ctx.times.quiet.next_allowed(max(send_at, ctx.now)), ctx.tz)
                + " WIB)"
            )
        print(f"Siaran {broadcast_id} dijadwalkan: {when}.", file=ctx.out)
        return 0
    if args.action == "list":
        for progress in await outreach.recent_broadcasts(ctx.db, 50):
            counts = " ".join(f"{k}={v}" for k, v in sorted(progress.counts.items()))
            print(
                f"{progress.id:>4} {progress.status:<10} {_local(progress.send_at, ctx.tz)} "
                f"penerima={progress.recipients} {counts} | {progress.text[:40]}",
                file=ctx.out,
            )
        return 0
    if args.action == "status":
        progress = await outreach.broadcast_progress(ctx.db, args.id)
        print(json.dumps(progress.as_json(), ensure_ascii=False, indent=2), file=ctx.out)
        return 0
    cancelled = await ctx.db.write(
        partial(outreach.cancel_broadcast, broadcast_id=args.id, actor=ctx.actor, at=ctx.now)
    )
    print(f"Siaran {args.id} dihentikan; {cancelled} pesan tidak jadi dikirim.", file=ctx.out)
    return 0


async def _reminder(args: argparse.Namespace, ctx: StaffContext) -> int:
    if args.action == "add":
        segment = segment_from_args(args, ctx.places, ctx.catalog)
        await _preview(ctx, segment)
        reminder_id = await ctx.db.write(
            partial(
                outreach.create_reminder,
                segment=segment,
                text_id=args.text,
                text_en=args.text_en,
                due_at=parse_local(args.at, ctx.tz) if args.at else None,
                cron=args.cron,
                actor=ctx.actor,
                at=ctx.now,
                tz=ctx.tz,
            )
        )
        reminder = await outreach_store.get_reminder(ctx.db, reminder_id)
        due = reminder.due_at if reminder else None
        print(f"Pengingat {reminder_id} dibuat; berikutnya {_local(due, ctx.tz)} WIB.", file=ctx.out)
        return 0
    if args.action == "list":
        for row in await outreach_store.active_reminders(ctx.db, staff_only=False):
            what = row.text_id or (f"kasus {row.case_id}" if row.case_id else f"program {row.programme_id}")
            repeat = describe_cron(row.cron, ctx.catalog, "id") if row.cron else ""
            print(
                f"{row.id:>5} {row.kind:<24} {_local(row.due_at, ctx.tz)} {repeat} | {what[:50]}",
                file=ctx.out,
            )
        return 0

    if not await ctx.db.write(
        partial(outreach.cancel_reminder, reminder_id=args.id, actor=ctx.actor, at=ctx.now)
    ):
        raise OutreachError(f"no active reminder {args.id}")
    print(f"Pengingat {args.id} dihentikan.", file=ctx.out)
    return 0


async def _programme(args: argparse.Namespace, ctx: StaffContext) -> int:
    if args.action == "create":
        programme_id = await ctx.db.write(
            partial(
                outreach.create_programme,
                name=args.name,
                skill=args.skill,
                place=args.place,
                starts_at=parse_local(args.start, ctx.tz),
                ends_at=parse_local(args.end, ctx.tz),
                quota=args.quota,
                actor=ctx.actor,
                at=ctx.now,
                times=ctx.times,
            )
        )
        print(f"Program {programme_id} dibuat.", file=ctx.out)
        return 0
    if args.action == "invite":
        segment = segment_from_args(args, ctx.places, ctx.catalog)
        await _preview(ctx, segment)
        if not args.yes:
            print("Belum diundang. Ulangi dengan --yes untuk mengundang.", file=ctx.out)
            return 0
        count = await ctx.db.write(
            partial(
                outreach.invite,
                programme_id=args.id,
                segment=segment,
                actor=ctx.actor,
                at=ctx.now,
                times=ctx.times,
                catalog=ctx.catalog,
            )
        )
        print(f"{count} undangan dikirim.", file=ctx.out)
        return 0
    if args.action == "list":
        for programme in await outreach.programmes(ctx.db, limit=None):
            print(
                f"{programme.id:>4} {programme.name} ({programme.skill}) "
                f"{_local(programme.starts_at, ctx.tz)} {programme.place} "
                f"| ikut {programme.confirmed}/{programme.quota}, tunggu {programme.waiting}",
                file=ctx.out,
            )
        return 0
    rows = await outreach.attendees(ctx.db, args.id)
    if args.action == "show":
        for number, row in enumerate(rows, start=1):
            print(f"{number:>3}. {row.status:<10} {row.name}", file=ctx.out)
        return 0
    with open(args.out, "w", newline="", encoding="utf-8") as handle:  # noqa: ASYNC230 - a local CLI file
        writer = csv.writer(handle)
        writer.writerow(["no", "status", "name", "phone", "answered_at_wib"])
        for number, row in enumerate(rows, start=1):
            writer.writerow(
                [
                    safe_cell(v)
                    for v in (
                        number,
                        row.status,
                        row.name,
                        row.phone or "",
                        _local(row.answered_at, ctx.tz),
                    )
                ]
            )
    print(f"{len(rows)} baris diekspor ke {args.out}", file=ctx.out)
    return 0
