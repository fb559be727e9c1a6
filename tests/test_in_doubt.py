"""Messages left in doubt by a crash: staff see them as people and choose, audited, to send them again."""

import io
from functools import partial
from pathlib import Path
from typing import Any

from bot import staff_cli
from bot.__main__ import _parser
from storage import repo
from tests.dashboard_support import Desk, open_desk
from tests.outreach_support import Person, seed
from tests.support import Clock, make_settings


async def crash_leftovers(desk: Desk) -> list[int]:
    """Two people whose broadcast was on the wire when the service died (recovered as `unknown`)."""
    now = desk.service.engine.clock()
    db = desk.service.db
    people = [Person("web:ani", "Ani Lestari"), Person("web:budi", "Budi Santoso")]
    await db.write(partial(seed, people=people))

    def interrupted(conn: Any) -> list[int]:
        ids = []
        for contact, text in (("web:ani", "Posyandu besok jam 8."), ("web:budi", "Pelatihan montir Senin.")):
            row = repo.insert_outbox(
                conn, contact_id=contact, payload=f'{{"text": "{text}"}}', origin="broadcast", at=now
            )
            conn.execute("UPDATE outbox SET status = 'sending' WHERE id = ?", (row.id,))
            ids.append(row.id)
        return ids

    ids: list[int] = await db.write(interrupted)
    await desk.service.dispatcher.recover()  # what a restart does: in doubt, never re-sent by itself
    return ids


async def statuses(desk: Desk) -> dict[int, str]:
    return {r["id"]: r["status"] for r in await desk.rows("SELECT id, status FROM outbox")}


async def test_staff_see_people_in_doubt_and_resend_one_then_all_from_the_dashboard(
    tmp_path: Path, clock: Clock
) -> None:
    async with open_desk(tmp_path / "data", clock) as desk:
        ani, budi = await crash_leftovers(desk)
        assert await statuses(desk) == {ani: "unknown", budi: "unknown"}
        await desk.service.dispatcher.recover()
        assert await statuses(desk) == {ani: "unknown", budi: "unknown"}  # nothing re-sent by itself

        await desk.signed_in("viewer", "vera")
        page = (await desk.client.get("/outbox/in-doubt")).text
        assert "Ani Lestari" in page and "Budi Santoso" in page and "Posyandu besok jam 8." in page
        assert "WhatsApp" not in page and "Simulator" in page  # the channel, in words
        assert "Kirim ulang" not in page  # a viewer reads only
        refused = await desk.client.post("/outbox/in-doubt/resend", data={"id": str(ani)})
        assert refused.status_code == 403
        assert await statuses(desk) == {ani: "unknown", budi: "unknown"}

        desk.client.cookies.clear()  # another staff member at the same desk
        csrf = await desk.signed_in("petugas", "rina")
        page = (await desk.client.get("/outbox/in-doubt")).text
        assert "Kirim ulang semua (2)" in page
        answer = await desk.client.post("/outbox/in-doubt/resend", data={"csrf_token": csrf, "id": str(ani)})
        assert answer.status_code == 303
        assert await statuses(desk) == {ani: "queued", budi: "unknown"}
        page = (await desk.client.get(answer.headers["location"])).text
        assert "Ani Lestari" not in page and "Budi Santoso" in page
        assert "masuk antrean kirim lagi" in page

        await desk.client.post("/outbox/in-doubt/resend", data={"csrf_token": csrf, "all": "1"})
        assert await statuses(desk) == {ani: "queued", budi: "queued"}
        audited = await desk.rows("SELECT actor, target FROM audit_log WHERE action = 'outbox.resend'")
        assert [(a["actor"], a["target"]) for a in audited] == [
            ("staff:rina", f"outbox:{ani}"),
            ("staff:rina", f"outbox:{budi}"),
        ]


async def test_staff_cli_lists_in_doubt_people_and_resends_only_what_is_chosen(
    tmp_path: Path, clock: Clock
) -> None:
    data = tmp_path / "data"
    async with open_desk(data, clock) as desk:
        ani, budi = await crash_leftovers(desk)

        async def staff(*argv: str) -> tuple[int, str]:
            out = io.StringIO()
            args = _parser().parse_args(["--data-dir", str(data), "staff", "--as", "rina", *argv])
            return await staff_cli.run(args, make_settings(data), out=out), out.getvalue()

        code, text = await staff("in-doubt")
        assert code == 0
        assert "Ani Lestari" in text and "Budi Santoso" in text and "Pelatihan montir Senin." in text
        assert "(2 pesan belum pasti sampai" in text
        assert await statuses(desk) == {ani: "unknown", budi: "unknown"}

        code, text = await staff("in-doubt", "--resend", str(budi))
        assert code == 0 and text.startswith("1 pesan")
        assert await statuses(desk) == {ani: "unknown", budi: "queued"}
        code, _ = await staff("in-doubt", "--resend", str(budi))  # no longer in doubt: nothing to do
        assert code == 2
        code, text = await staff("in-doubt", "--resend-all")
        assert code == 0 and text.startswith("1 pesan")
        assert await statuses(desk) == {ani: "queued", budi: "queued"}
        audited = await desk.rows("SELECT actor, target FROM audit_log WHERE action = 'outbox.resend'")
        assert [a["target"] for a in audited] == [f"outbox:{budi}", f"outbox:{ani}"]
        assert {a["actor"] for a in audited} == {"staff:rina"}


async def test_a_flooding_contact_is_marked_for_staff(tmp_path: Path, clock: Clock) -> None:
    from bot.engine import mark_flooding

    async with open_desk(tmp_path / "data", clock) as desk:
        db = desk.service.db
        await db.write(partial(seed, people=[Person("telegram:4242", "Citra Dewi")]))
        await desk.signed_in("viewer", "vera")
        page = (await desk.client.get("/outbox/in-doubt")).text
        assert "Citra Dewi" not in page and "Warga yang mengirim sangat banyak pesan" not in page
        await mark_flooding(db, clock, "telegram", 4242, 1234)
        page = (await desk.client.get("/outbox/in-doubt")).text
        flood_part = page.split("Warga yang mengirim sangat banyak pesan", 1)[1]
        assert "Citra Dewi" in flood_part and "1234" in flood_part and "Telegram" in flood_part
