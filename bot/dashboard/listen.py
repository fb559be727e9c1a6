"""Answers given by voice note ("perlu didengar"): staff listen and type what was said into the field.

A question answered with a voice note is kept on the case with a flag ("dijawab dengan pesan suara",
see handlers.forms). Such answers are listed for staff; on the case page a small form under each one
takes what the person said, checks it as the question itself would (a NIK is a valid NIK, a date a
date), stores it as the answer, marks the voice note heard, and records who did it (timeline and audit).
"""

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from starlette.responses import Response

from bot.dashboard.app import Ctx, Dashboard, Refused
from bot.dashboard.cases import _case_or_404, case_view, media_url
from handlers.forms import FLAGS, Accept, flags_of
from handlers.staff.present import check_typed, field_of, unheard
from storage import contacts, repo
from storage.contract import Tx
from storage.records import CaseEventRecord, CaseRecord

LISTED = 500


@dataclass(frozen=True, slots=True)
class ToHear:
    """One voice answer nobody has typed out yet."""

    reference: str
    subject_name: str
    field: str
    label: str
    url: str | None
    created_at: str


def register(d: Dashboard) -> None:
    """Add the list and the form's target."""
    d.route("/listen", listen_page, role="viewer")
    d.route("/cases/{reference}/heard", heard, role="petugas", methods=("POST",))


def to_hear(d: Dashboard, case: CaseRecord, lang: str) -> list[ToHear]:
    """The voice answers of one case still waiting for staff to listen."""
    out = []
    for name in unheard(case.answers):
        field = field_of(case, name)
        label = d.catalog.text(lang, field.label_key) if field and field.label_key else name
        ref = str(flags_of(case.answers)[name].get("ref") or "")
        out.append(
            ToHear(case.reference, case.subject_name, name, label, media_url(d, ref), str(case.created_at))
        )
    return out


async def listen_page(ctx: Ctx) -> Response:
    """Cases with voice answers nobody has typed out yet, oldest first."""
    items: list[ToHear] = []
    for case in await contacts.cases_with_voice_answers(ctx.d.db, LISTED):
        items += to_hear(ctx.d, case, ctx.lang)
    return ctx.render("listen.html", items=items)


async def heard(ctx: Ctx) -> Response:
    """What the person said in a voice answer, typed by staff into the question it answered."""
    case = await _case_or_404(ctx)
    name = ctx.field("field", limit=64)
    text = ctx.field("text", limit=2000)
    field = field_of(case, name)
    if field is None or name not in unheard(case.answers):
        raise Refused(404, "refused.no_answer")
    if not text:
        return await case_view(ctx, case, 400, problem=ctx.msg("listen.empty"))
    outcome = check_typed(
        field, text, case.answers, services=ctx.d.service.services, language=ctx.lang, now=ctx.now
    )
    if not isinstance(outcome, Accept):
        said = getattr(outcome, "text", "") or ctx.msg("listen.unusable")
        return await case_view(ctx, case, 400, problem=ctx.msg("listen.invalid", reason=said))
    assert case.id is not None
    write = partial(
        _store_heard,
        case_id=case.id,
        reference=case.reference,
        field=name,
        value=outcome.value,
        extra=outcome.extra,
        actor=ctx.user.actor,
        at=ctx.now,
    )
    if not await ctx.d.db.write(write):
        return await case_view(ctx, case, 409, problem=ctx.msg("listen.changed"))
    return ctx.redirect(f"/cases/{case.reference}", done="heard")


def _store_heard(
    tx: Tx,
    *,
    case_id: int,
    reference: str,
    field: str,
    value: Any,
    extra: dict[str, Any],
    actor: str,
    at: datetime,
) -> bool:
    answers = contacts.case_answers(tx, case_id)
    if answers is None:
        return False
    flags = flags_of(answers)
    flag = flags.get(field)
    if not flag or flag.get("heard"):
        return False  # someone else typed it out meanwhile
    answers[field] = value
    for key, implied in extra.items():
        answers.setdefault(key, implied)
    flags[field] = {**flag, "heard": {"by": actor, "at": at.isoformat()}}
    answers[FLAGS] = flags
    contacts.set_case_answers(tx, case_id, answers, at)
    repo.add_case_event(tx, CaseEventRecord(case_id=case_id, at=at, actor=actor, action="heard", note=field))
    repo.audit(tx, actor=actor, action="case.heard", at=at, target=reference, detail=field)
    return True
