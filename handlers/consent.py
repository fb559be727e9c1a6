"""First contact: greeting, the privacy notice (UU PDP), and a recorded yes or no.

Information messages (training, aid distributions, invitations) are a separate purpose: "Setuju" agrees to
the service only, "Setuju + terima info" to the service and information messages. Both answers are
recorded, each with its purpose.
"""

from functools import partial

from handlers import menu
from handlers.choices import NO_WORDS, STALE, YES_WORDS, Option, pick, render
from handlers.turn import Turn
from storage import repo
from storage.records import Consent

FLOW = "consent"

OPTIONS = (
    Option("yes", "consent.agree", (*YES_WORDS, "agree")),
    Option("yes_info", "consent.agree_info", ("setuju info", "setuju terima info", "agree info", "info")),
    Option("no", "consent.refuse", (*NO_WORDS, "tolak", "refuse")),
    Option("read", "consent.read_full", ("baca", "lengkap", "baca lengkap", "read", "read more")),
    Option("language", "menu.language", ("bahasa", "language", "english", "inggris")),
)


async def start(turn: Turn) -> None:
    """Greet and show the short notice."""
    turn.goto(FLOW, "ask", {})
    turn.say(turn.t("consent.notice"), render(turn, FLOW, OPTIONS))


async def resume(turn: Turn) -> None:
    """Show the notice again."""
    await start(turn)


async def handle(turn: Turn) -> None:
    """Record the answer to the notice."""
    chosen = pick(turn, FLOW, OPTIONS)
    if chosen is STALE or chosen is None:
        if turn.step == "refused":
            turn.say(turn.t("consent.still_refused"), render(turn, FLOW, OPTIONS))
        else:
            turn.say(turn.t("consent.hint"), render(turn, FLOW, OPTIONS))
        return
    contact = turn.contact
    version = turn.services.notice_version
    if chosen.key in ("yes", "yes_info"):
        contact.consent = Consent.GRANTED
        contact.consent_version = version
        turn.write(
            partial(
                repo.record_consent,
                contact_id=contact.id,
                granted=True,
                version=version,
                at=turn.now,
            )
        )
        info = chosen.key == "yes_info"
        contact.opted_out = not info
        if info:
            record_info(turn, receive=True)
        if turn.event.profile_name and not contact.display_name:
            contact.display_name = turn.event.profile_name[:100]
        menu.show(turn, intro=turn.t("consent.thanks_info" if info else "consent.thanks"))
    elif chosen.key == "no":
        contact.consent = Consent.REFUSED
        contact.consent_version = version
        turn.write(
            partial(
                repo.record_consent,
                contact_id=contact.id,
                granted=False,
                version=version,
                at=turn.now,
            )
        )
        turn.goto(FLOW, "refused", {})
        turn.say(turn.t("consent.refused"), render(turn, FLOW, OPTIONS))
    elif chosen.key == "read":
        turn.say(turn.t("consent.full", version=version), render(turn, FLOW, OPTIONS))
    else:
        from handlers import language

        await language.start(turn)


def record_info(turn: Turn, *, receive: bool) -> None:
    """Keep proof of the answer about information messages, a purpose of its own."""
    turn.write(
        partial(
            repo.record_consent,
            contact_id=turn.contact.id,
            granted=receive,
            version=turn.services.notice_version,
            at=turn.now,
            purpose="broadcast",
        )
    )
