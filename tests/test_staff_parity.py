"""One staff service behind three surfaces: the same scenario through the command line, the Telegram staff
group and the dashboard ends the same way, and each surface words the service's refusals in its own
language (never the service's English message).

The scenario: an officer rejects a case without a reason (refused, nothing changes), then with one (the
case is rejected, the citizen gets the same message); then replies to a citizen who has withdrawn consent
(refused, with the reason in words).
"""

import io
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import staff_cli
from bot.__main__ import _parser
from handlers.i18n import Catalog
from handlers.types import Reply
from storage.db import Database
from tests.dashboard_support import Desk, SeedCase, open_desk
from tests.support import Clock, make_settings
from tests.test_telegram import CITIZEN, PETUGAS, STAFF_CHAT, World, card_of, register, t, within, world
from tests.test_telegram import button as card_button

UI = Catalog.load(Path(__file__).resolve().parent.parent / "bot" / "dashboard" / "locales")
REASON = "Data KTP tidak cocok dengan KK yang dilampirkan"
ENGLISH = ("needs a reason", "--note", "consent withdrawn", "cannot go from")


@dataclass
class Outcome:
    """What a surface left behind, comparable across surfaces."""

    refused_without_reason: str
    status: str
    events: list[tuple[str, str | None, str | None]]
    told: str
    refused_reply: str


async def store_outcome(
    db: Database, reference: str
) -> tuple[str, list[tuple[str, str | None, str | None]], str]:
    status = await db.fetchval("SELECT status FROM cases WHERE reference = ?", (reference,))
    rows = await db.fetchall(
        "SELECT e.action, e.to_status, e.note FROM case_events AS e JOIN cases AS c ON c.id = e.case_id "
        "WHERE c.reference = ? AND e.action = 'status_changed' ORDER BY e.id",
        (reference,),
    )
    payload = await db.fetchval(
        "SELECT o.payload FROM outbox AS o JOIN cases AS c ON c.id = o.case_id WHERE c.reference = ? "
        "AND o.origin = 'staff' ORDER BY o.id DESC LIMIT 1",
        (reference,),
    )
    told = Reply.from_json(payload).text.replace(reference, "REF") if payload else ""
    return str(status), [(row[0], row[1], row[2]) for row in rows], told


def withdraw_consent(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE contacts SET consent = 'withdrawn'")


# ---------------------------------------------------------------- the three surfaces


async def through_the_command_line(desk: Desk, reference: str, capsys: pytest.CaptureFixture[str]) -> Outcome:
    async def run(*argv: str) -> int:
        args = _parser().parse_args(["--data-dir", str(desk.data_dir), "staff", "--as", "siti", *argv])
        return await staff_cli.run(args, make_settings(desk.data_dir), out=io.StringIO())

    capsys.readouterr()
    assert await run("set-status", reference, "ditolak") == 2
    refused = capsys.readouterr().err
    assert await run("set-status", reference, "ditolak", "--note", REASON) == 0
    status, events, told = await store_outcome(desk.service.db, reference)
    await desk.service.db.write(withdraw_consent)
    assert await run("reply", reference, "--text", "Mohon datang ke kantor.") == 2
    return Outcome(refused, status, events, told, capsys.readouterr().err)


async def through_the_dashboard(desk: Desk, reference: str) -> Outcome:
    csrf = await desk.signed_in("petugas", "siti")
    refused = await desk.client.post(
        f"/cases/{reference}/status", data={"csrf_token": csrf, "status": "ditolak"}
    )
    assert refused.status_code == 400
    done = await desk.client.post(
        f"/cases/{reference}/status", data={"csrf_token": csrf, "status": "ditolak", "note": REASON}
    )
    assert done.status_code == 303
    status, events, told = await store_outcome(desk.service.db, reference)
    await desk.service.db.write(withdraw_consent)
    reply = await desk.client.post(
        f"/cases/{reference}/reply", data={"csrf_token": csrf, "text": "Mohon datang ke kantor."}
    )
    assert reply.status_code == 409
    return Outcome(refused.text, status, events, told, reply.text)


async def through_the_staff_group(w: World, reference: str) -> Outcome:
    card = await card_of(w, reference)
    asked = await w.exchange(
        STAFF_CHAT, w.fake.press(PETUGAS, card, card_button(card, t("staff.btn.tolak")), "Budi")
    )
    prompt = asked[-1]
    # Without a reason: the group asks for one (a reason of a few letters is refused the same way).
    short = await w.exchange(
        STAFF_CHAT, w.fake.group_text(STAFF_CHAT, PETUGAS, "no", "Budi", reply_to=prompt)
    )
    refused = " ".join(s.text or "" for s in [prompt, *short])
    await w.deliver(w.fake.group_text(STAFF_CHAT, PETUGAS, REASON, "Budi", reply_to=prompt))
    status, events, told = await store_outcome(w.service.db, reference)
    await w.service.db.write(withdraw_consent)
    said = await w.exchange(
        STAFF_CHAT, w.fake.group_text(STAFF_CHAT, PETUGAS, "Mohon datang ke kantor.", "Budi", reply_to=card)
    )
    return Outcome(refused, status, events, told, " ".join(s.text or "" for s in said))


@pytest.fixture
async def desk(tmp_path: Path, clock: Clock) -> AsyncIterator[Desk]:
    async with open_desk(tmp_path / "data", clock) as opened:
        yield opened


async def test_the_same_staff_scenario_ends_the_same_on_every_surface(
    tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    async with open_desk(tmp_path / "cli", clock) as desk:
        (reference,) = await desk.seed(SeedCase("Siti Aminah"))
        cli = await through_the_command_line(desk, reference, capsys)
    async with open_desk(tmp_path / "web", clock) as desk:
        (reference,) = await desk.seed(SeedCase("Siti Aminah"))
        web = await through_the_dashboard(desk, reference)
    async with world(tmp_path / "telegram", clock) as w:
        reference = await register(w, CITIZEN)
        await within(w.fake.wait_for(lambda: any(reference in (s.text or "") for s in w.fake.to(STAFF_CHAT))))
        group = await through_the_staff_group(w, reference)

    # The same end state and the same words to the citizen, whichever surface the officer used.
    for outcome in (cli, web, group):
        assert outcome.status == "ditolak"
        assert outcome.events[-1] == ("status_changed", "ditolak", REASON)
        assert outcome.told == t("notify.ditolak", reference="REF", reason=REASON)
    # Each surface says why in its own words and language; none shows the service's English message.
    assert UI.text("id", "cli.reason_needed") in cli.refused_without_reason
    assert UI.text("id", "case.need_reason") in web.refused_without_reason
    assert t("staff.ask_reason", name="Budi", reference=reference) in group.refused_without_reason
    assert UI.text("id", "cli.no_consent", reference="X").split("X")[0] in cli.refused_reply
    assert UI.text("id", "staff_error.no_consent", reference="X").split("X")[0] in web.refused_reply
    assert t("staff.error.no_consent", reference="X").split("X")[0] in group.refused_reply
    for outcome in (cli, web, group):
        assert not any(english in outcome.refused_reply for english in ENGLISH), outcome.refused_reply


# ---------------------------------------------------------------- assign and note: command line and dashboard

NOTE = "Sudah ditelepon, datang Senin"


async def assign_note_outcome(db: Database, reference: str) -> list[tuple[str, str, str | None]]:
    rows = await db.fetchall(
        "SELECT e.actor, e.action, e.note FROM case_events AS e JOIN cases AS c ON c.id = e.case_id "
        "WHERE c.reference = ? AND e.action IN ('assigned', 'note') ORDER BY e.id",
        (reference,),
    )
    audited = await db.fetchall(
        "SELECT action, detail FROM audit_log WHERE target = ? AND action IN ('case.assign', 'case.note') "
        "ORDER BY id",
        (reference,),
    )
    return [(row[0], row[1], row[2]) for row in rows] + [("audit", row[0], row[1]) for row in audited]


async def test_assign_and_note_end_the_same_from_the_command_line_and_the_dashboard(
    tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    async with open_desk(tmp_path / "cli", clock) as desk:
        (reference,) = await desk.seed(SeedCase("Siti Aminah"))
        await desk.user("budi", "petugas", "Budi Santoso")
        await desk.user("vera", "viewer")

        async def run(*argv: str) -> tuple[int, str, str]:
            args = _parser().parse_args(["--data-dir", str(desk.data_dir), "staff", "--as", "siti", *argv])
            out = io.StringIO()
            code = await staff_cli.run(args, make_settings(desk.data_dir), out=out)
            return code, out.getvalue(), capsys.readouterr().err

        capsys.readouterr()
        refused = await run("assign", reference, "vera")  # a viewer is given no cases
        assert refused[0] == 2 and UI.text("id", "cli.no_staff", officer="vera") in refused[2]
        empty = await run("note", reference, "--text", "   ")
        assert empty[0] == 2 and UI.text("id", "cli.note_empty") in empty[2]
        given = await run("assign", reference.lower(), "budi")
        assert given[:2] == (
            0,
            UI.text("id", "cli.assigned", reference=reference, officer="Budi Santoso") + "\n",
        )
        noted = await run("note", reference, "--text", NOTE)
        assert noted[:2] == (0, UI.text("id", "cli.noted", reference=reference) + "\n")
        back = await run("assign", reference, "none")
        assert back[:2] == (0, UI.text("id", "cli.unassigned", reference=reference) + "\n")
        cli = await assign_note_outcome(desk.service.db, reference)
        for outcome in (refused, empty):
            assert not any(english in outcome[2] for english in ("no such", "needs text")), outcome

    async with open_desk(tmp_path / "web", clock) as desk:
        (reference,) = await desk.seed(SeedCase("Siti Aminah"))
        budi = await desk.user("budi", "petugas", "Budi Santoso")
        vera = await desk.user("vera", "viewer")
        csrf = await desk.signed_in("petugas", "siti")
        page = f"/cases/{reference}"
        refused_web = await desk.client.post(
            f"{page}/assign", data={"csrf_token": csrf, "assignee": str(vera)}
        )
        assert refused_web.status_code == 400 and UI.text("id", "case.no_staff") in refused_web.text
        empty_web = await desk.client.post(f"{page}/note", data={"csrf_token": csrf, "note": "  "})
        assert empty_web.status_code == 400 and UI.text("id", "case.note_empty") in empty_web.text
        for form in ({"assignee": str(budi)}, {"note": NOTE}, {"assignee": ""}):
            action = "assign" if "assignee" in form else "note"
            done = await desk.client.post(f"{page}/{action}", data={"csrf_token": csrf, **form})
            assert done.status_code == 303
        web = await assign_note_outcome(desk.service.db, reference)

    # The same trail and audit lines, whichever surface the officer used.
    assert (
        cli
        == web
        == [
            ("staff:siti", "assigned", "Budi Santoso"),
            ("staff:siti", "note", NOTE),
            ("staff:siti", "assigned", None),
            ("audit", "case.assign", "Budi Santoso"),
            ("audit", "case.note", None),
            ("audit", "case.assign", "-"),
        ]
    )
