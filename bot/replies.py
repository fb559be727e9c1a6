"""A staff member's free-text reply to a citizen, the same from the dashboard, the Telegram group and the CLI.

On WhatsApp a free-form message may only be sent within 24 hours of the person's last message. Outside
that window the reply travels in the approved reply template when one is configured
(`DINSOS_WHATSAPP_REPLY_TEMPLATE_NAME`, else the general template); with none it is held at once, so
the officer sees why it is not on its way (and it is sent when the person writes again).
"""

from datetime import datetime
from functools import partial

from bot.channels.whatsapp import store as whatsapp_store
from bot.settings import Settings
from handlers.casework import CaseworkError, SentReply, send_reply
from handlers.i18n import Catalog
from storage import repo
from storage.contract import Store

HOLD_NO_TEMPLATE = "outside the WhatsApp 24-hour window and no reply template is configured"


async def reply_to_citizen(
    db: Store,
    settings: Settings,
    catalog: Catalog,
    *,
    reference: str,
    text: str,
    actor: str,
    now: datetime,
) -> SentReply:
    """Queue `text` for the citizen of case `reference` (held at once when it cannot go yet)."""
    case = await repo.get_case(db, reference)
    if case is None:
        raise CaseworkError(f"no case with reference {reference!r}", "no_case", reference=reference)
    template = hold = None
    if case.contact_id.startswith("whatsapp:"):
        window = await whatsapp_store.window(db, case.contact_id, settings.service.default_language)
        if not window.is_open(now):
            template = settings.whatsapp.reply_template_name or settings.whatsapp.template_name
            hold = None if template else HOLD_NO_TEMPLATE
    return await db.write(
        partial(
            send_reply,
            catalog=catalog,
            reference=case.reference,
            text=text,
            actor=actor,
            at=now,
            template=template,
            hold_reason=hold,
        )
    )
