"""Talking with the citizen from a case's page: the thread, free-text replies, canned replies, live updates.

The page parts that change while an officer looks (the queue's rows, a case's thread, the officer's
badge of unread replies) are fetched again by the vendored `app.js` when the live-update request
(`/live`, a few indexed lookups) says they changed; without JavaScript every part is still there on
a reload. A reply goes through `bot.replies.reply_to_citizen`, the same as from the CLI and Telegram;
when WhatsApp's window has closed and no template can carry it, it is held and the page says so at once.
"""

from functools import partial
from typing import Any

from starlette.responses import JSONResponse, Response

from bot.dashboard import queries
from bot.dashboard.app import Ctx, Dashboard, Refused
from bot.replies import reply_to_citizen
from handlers.casework import CaseworkError
from storage import dashboard as reads
from storage import repo, threads
from storage.records import CaseRecord, ContactRecord

CANNED_LIMIT = 200
LANGUAGES = ("id", "en")


def register(d: Dashboard) -> None:
    """Add these pages to the dashboard."""
    d.route("/live", live, role="viewer")
    d.route("/cases/{reference}/thread", thread_part, role="viewer")
    d.route("/cases/{reference}/reply", reply, role="petugas", methods=("POST",))
    d.route("/cases/{reference}/read", mark_read, role="petugas", methods=("POST",))
    d.route("/canned", canned_page, role="admin")
    d.route("/canned", add_canned, role="admin", methods=("POST",))
    d.route("/canned/{canned_id:int}/delete", delete_canned, role="admin", methods=("POST",))


async def _case(ctx: Ctx) -> CaseRecord:
    case = await repo.get_case(ctx.d.db, ctx.request.path_params["reference"][:40])
    if case is None:
        raise Refused(404, "refused.no_case")
    return case


# ---------------------------------------------------------------- what the case page shows


async def canned_for(d: Dashboard, language: str) -> list[reads.CannedReply]:
    """Canned replies in a language, by title."""
    return await reads.canned_replies(d.db, language=language, limit=CANNED_LIMIT)


async def thread_values(d: Dashboard, case: CaseRecord, contact: ContactRecord | None) -> dict[str, Any]:
    """The thread and the reply form's values for a case's page."""
    assert case.id is not None
    language = contact.language if contact is not None else "id"
    return {
        "thread": await threads.thread(d.db, case.id),
        "canned": await canned_for(d, language),
        "reply_language": language,
        "can_reply": contact is not None and contact.consent == "granted",
    }


async def thread_part(ctx: Ctx) -> Response:
    """Just the case's thread (fetched again when the live-update request says it changed)."""
    case = await _case(ctx)
    assert case.id is not None
    return ctx.render("_case_thread.html", case=case, thread=await threads.thread(ctx.d.db, case.id))


async def live(ctx: Ctx) -> Response:
    """Stamps of the queue and of one case's thread, and the unread counts (the badge)."""
    case_id = None
    reference = ctx.query("case")[:40]
    if reference:
        found = await repo.get_case(ctx.d.db, reference)
        case_id = found.id if found is not None else None
    state = await queries.live_state(ctx.d.db, user_id=ctx.user.id, case_id=case_id)
    return ctx.finish(
        JSONResponse(
            {"queue": state.queue, "unread": state.unread_cases, "mine": state.mine, "case": state.case}
        )
    )


# ---------------------------------------------------------------- replying


async def reply(ctx: Ctx) -> Response:
    """Send the citizen a free-text message (or a canned one); held at once when it cannot go yet."""
    case = await _case(ctx)
    text = ctx.field("text", limit=3000).strip()
    canned = ctx.field("canned")
    if not text and canned.isdigit():
        text = await reads.canned_body(ctx.d.db, int(canned)) or ""
    if not text:
        return await _again(ctx, case, "case.reply_empty", 400)
    try:
        sent = await reply_to_citizen(
            ctx.d.db,
            ctx.d.settings,
            ctx.d.catalog,
            reference=case.reference,
            text=text,
            actor=ctx.user.actor,
            now=ctx.now,
        )
    except CaseworkError as error:
        from bot.dashboard.cases import case_view  # the page this form is on

        reason = ctx.msg("case.reply_refused", reason=ctx.problem(error))
        return await case_view(ctx, case, 409, problem=reason)
    ctx.d.service.dispatcher.wake()
    return ctx.redirect(f"/cases/{case.reference}", done="reply_held" if sent.held_reason else "reply")


async def _again(ctx: Ctx, case: CaseRecord, key: str, status: int) -> Response:
    from bot.dashboard.cases import case_view  # the page this form is on

    return await case_view(ctx, case, status, problem=ctx.msg(key))


async def mark_read(ctx: Ctx) -> Response:
    """The officer has read the case's new messages."""
    case = await _case(ctx)
    assert case.id is not None
    await ctx.d.db.write(partial(threads.mark_read, case_id=case.id))
    return ctx.redirect(f"/cases/{case.reference}", done="read")


# ---------------------------------------------------------------- canned replies (admin)


async def canned_page(ctx: Ctx) -> Response:
    """Canned replies per language, to add or remove."""
    return await _canned_view(ctx)


async def _canned_view(ctx: Ctx, status: int = 200, problem: str | None = None) -> Response:
    replies = await reads.canned_replies(ctx.d.db, limit=CANNED_LIMIT * 2)
    return ctx.render("canned.html", status=status, replies=replies, languages=LANGUAGES, problem=problem)


async def add_canned(ctx: Ctx) -> Response:
    """Add a canned reply."""
    language = ctx.field("language")
    title = " ".join(ctx.field("title", limit=80).split())
    body = ctx.field("body", limit=3000).strip()
    if language not in LANGUAGES or not title or not body:
        return await _canned_view(ctx, 400, ctx.msg("canned.incomplete"))
    await ctx.d.db.write(
        partial(reads.add_canned, language=language, title=title, body=body, actor=ctx.user.actor, at=ctx.now)
    )
    return ctx.redirect("/canned", done="canned")


async def delete_canned(ctx: Ctx) -> Response:
    """Remove a canned reply."""
    canned_id = int(ctx.request.path_params["canned_id"])
    if not await ctx.d.db.write(
        partial(reads.delete_canned, canned_id=canned_id, actor=ctx.user.actor, at=ctx.now)
    ):
        raise Refused(404, "refused.no_canned")
    return ctx.redirect("/canned", done="canned_deleted")
