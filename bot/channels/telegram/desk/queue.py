"""/antrian, /cari and /kasus: the case queue with filters typed as words, a search by name or reference,
and one case's card (every look is written to the audit log)."""

from functools import partial

from telegram import User

from bot.channels.telegram.desk import state
from bot.channels.telegram.desk.cards import Cards
from bot.channels.telegram.desk.context import DeskContext
from handlers.staff.queue import QueueQuery, case_queue
from storage import cases as case_store
from storage import repo
from storage.cases import CaseSearch
from storage.records import CaseKind, CaseStatus

QUEUE_LIMIT = 20
SEARCH_LIMIT = 10

KIND_WORDS: dict[str, CaseKind] = {
    "registration": CaseKind.REGISTRATION,
    "pendaftaran": CaseKind.REGISTRATION,
    "daftar": CaseKind.REGISTRATION,
    "reg": CaseKind.REGISTRATION,
    "lost_ktp": CaseKind.LOST_KTP,
    "ktp": CaseKind.LOST_KTP,
    "aid": CaseKind.AID,
    "bantuan": CaseKind.AID,
    "ban": CaseKind.AID,
    "message": CaseKind.MESSAGE,
    "pesan": CaseKind.MESSAGE,
    "psn": CaseKind.MESSAGE,
}
STATUS_WORDS: dict[str, tuple[CaseStatus, ...]] = {
    **{status.value: (status,) for status in CaseStatus},
    "perlu": (CaseStatus.PERLU_INFO,),
    "info": (CaseStatus.PERLU_INFO,),
    "semua": tuple(CaseStatus),
    "all": tuple(CaseStatus),
}
OPEN_STATUSES = (CaseStatus.BARU, CaseStatus.DIPROSES, CaseStatus.PERLU_INFO)


class CaseQueue:
    """The queue, search and case commands of the group."""

    def __init__(self, ctx: DeskContext, cards: Cards) -> None:
        self.ctx = ctx
        self.cards = cards

    async def queue(self, query: str) -> str:
        """The /antrian answer: open cases (or the statuses asked for), oldest first, with filters."""
        ctx = self.ctx
        statuses: list[CaseStatus] = []
        kinds: list[CaseKind] = []
        place_words: list[str] = []
        for word in query.lower().replace(",", " ").split():
            if word in STATUS_WORDS:
                statuses += STATUS_WORDS[word]
            elif word in KIND_WORDS:
                kinds.append(KIND_WORDS[word])
            else:
                place_words.append(word)
        kecamatan = None
        if place_words:
            match = ctx.places.match_kecamatan(" ".join(place_words))
            if match.best is None:
                return ctx.t("staff.filter_unknown", words=" ".join(place_words))
            kecamatan = match.best.code
        query_of = QueueQuery(
            statuses=[str(s) for s in (statuses or OPEN_STATUSES)],
            kinds=[str(k) for k in kinds],
            kecamatan=kecamatan,
            oldest_first=True,
            limit=QUEUE_LIMIT,
        )
        settings = ctx.service.settings.service
        found = await case_queue(ctx.db, query_of, now=ctx.now(), tz=ctx.tz, targets=settings.target_days())
        if not found.total:
            return ctx.t("staff.queue_empty")
        lines = [
            self.cards.line(entry.case) + (" " + ctx.t("staff.overdue") if entry.overdue else "")
            for entry in found.entries
        ]
        text = ctx.t("staff.queue", count=found.total, lines="\n".join(lines))
        if found.total > len(found.entries):
            text += "\n" + ctx.t("staff.queue_more", count=found.total - len(found.entries))
        return text

    async def search(self, user: User, query: str) -> str:
        """The /cari answer: cases by reference or by name."""
        ctx = self.ctx
        if len(query) < 2:
            return ctx.t("staff.search_usage")
        # Names and references through the trigram index (a substring, any case), as the dashboard.
        found = await case_store.find_cases(ctx.db, CaseSearch("name", query), limit=SEARCH_LIMIT)
        await ctx.audit(user, "case.search", detail=f"{len(found)} found")
        if not found:
            return ctx.t("staff.search_none")
        lines = [self.cards.line(case) for case in found]
        return ctx.t("staff.search", lines="\n".join(lines))

    async def show_case(self, user: User, query: str, reply_to: int) -> None:
        """The /kasus answer: the card of one case, posted so a reply to it reaches the citizen."""
        ctx = self.ctx
        reference = query.upper().split()[0] if query.split() else ""
        if not reference:
            await ctx.say(ctx.t("staff.case_usage"), reply_to=reply_to)
            return
        case = await repo.get_case(ctx.db, reference)
        if case is None:
            await ctx.say(ctx.t("staff.not_found", reference=reference), reply_to=reply_to)
            return
        await ctx.audit(user, "case.view", target=case.reference)
        text, markup = await self.cards.card(case)
        posted = await ctx.say(text, reply_to=reply_to, markup=markup)
        if posted is not None and case.id is not None:
            await ctx.db.write(partial(state.remember_card, message_id=posted.message_id, case_id=case.id))
