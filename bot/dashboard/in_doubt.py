"""Messages in doubt: sent when the service died, so nobody knows whether they arrived.

Staff see them as people (name, channel, message) and choose to send them again, one by one or all;
each choice is audited. Nothing is sent again without that choice. The same page lists the people who
recently sent far more messages than could be answered at once (kept, and answered in turn).
"""

from functools import partial

from starlette.responses import Response

from bot import outbox
from bot.dashboard.app import Ctx, Dashboard

PATH = "/outbox/in-doubt"


def register(d: Dashboard) -> None:
    """Add the page and its form."""
    d.route(PATH, in_doubt_page, role="viewer")
    d.route(f"{PATH}/resend", resend, role="petugas", methods=("POST",))


async def in_doubt_page(ctx: Ctx) -> Response:
    """The messages in doubt, oldest first."""
    db = ctx.d.db
    return ctx.render("in_doubt.html", rows=await outbox.in_doubt(db), flooders=await outbox.flooders(db))


async def resend(ctx: Ctx) -> Response:
    """Queue one message (`id`) or all of them (`all`) again."""
    ids: list[int] | None = None
    if ctx.field("all") != "1":
        raw = ctx.field("id", limit=20)
        if not raw.isdigit():
            return ctx.redirect(PATH)
        ids = [int(raw)]
    await ctx.d.db.write(partial(outbox.resend_in_doubt, ids=ids, actor=ctx.user.actor, at=ctx.now))
    return ctx.redirect(PATH, done="resent")
