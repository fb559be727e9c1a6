"""Recorded WhatsApp webhook bodies (tests/data/whatsapp, from pywa's fixtures and Meta's docs) parsed.

Table-driven: each recorded body, the inbound event the engine receives (media still as the WhatsApp id
that the channel downloads), or the status update the outbox gets.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.channels.whatsapp.payloads import (
    GraphError,
    MediaRef,
    StatusName,
    StatusUpdate,
    parse_webhook,
)
from handlers.types import Inbound

DATA = Path(__file__).parent / "data" / "whatsapp"
WA_ID = "972987654321"
BSUID = "US.13491208655302741918"


def body(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text())
    return loaded


def at(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


def inbound(wamid: str, stamp: int, **content: Any) -> Inbound:
    """The event for a message from the fixtures' usual sender (wa_id and BSUID both known)."""
    return Inbound(
        contact=f"whatsapp:{WA_ID}",
        at=at(stamp),
        event_id=f"whatsapp:{wamid}",
        profile_name="Test Name",
        channel_phone=f"+{WA_ID}",
        **content,
    )


MESSAGES: list[tuple[str, Inbound, MediaRef | None]] = [
    ("text.json", inbound("wamid.xyzxyz", 1697043223, text="Body Text"), None),
    # A tap quotes the message whose buttons it was (context.id): carried as `reply_to`.
    (
        "interactive_button_reply.json",
        inbound("wamid.xyzxyz", 1698266730, choice="callback_data", reply_to="wamid.xyzxyz"),
        None,
    ),
    (
        "interactive_list_reply.json",
        inbound("wamid.zyzxyz", 1698266905, choice="callback_data", reply_to="wamid.xyzxyz"),
        None,
    ),
    (
        "image.json",
        inbound("wamid.xyzxyz", 1697043379),
        MediaRef(kind="photo", media_id="65463453", mime="image/jpeg"),
    ),
    (
        "image_with_url.json",
        inbound("wamid.xyzxyz", 1697043379),
        MediaRef(kind="photo", media_id="65463453", mime="image/jpeg"),
    ),
    (
        "audio_voice.json",
        inbound("wamid.xyzxyz", 1697043473),
        MediaRef(kind="voice", media_id="1234567890987654321", mime="audio/ogg; codecs=opus"),
    ),
    (
        "document.json",
        inbound("wamid.xyzxyz", 1697043666),
        MediaRef(kind="document", media_id="1234567890987654321", mime="application/pdf", caption="caption"),
    ),
    ("location.json", inbound("wamid.xyzxyz", 1697044557, location=(37.4611978, -122.2164385)), None),
    ("location_current.json", inbound("wamid.xyzxyz", 1697044557, location=(12.25089, 43.90539)), None),
    # A template quick-reply tap whose payload is not one of our choice ids: what the button said.
    ("contact_wa_id_and_user_id.json", inbound("wamid.xsidjx", 1698269027, text="title"), None),
]


@pytest.mark.parametrize(("name", "expected", "media"), MESSAGES, ids=[m[0] for m in MESSAGES])
def test_recorded_message_becomes_the_right_inbound_event(
    name: str, expected: Inbound, media: MediaRef | None
) -> None:
    parsed = parse_webhook(body(name))
    assert parsed.statuses == ()
    [message] = parsed.messages
    assert message.to_inbound() == expected
    assert message.media == media
    assert message.wa_id == WA_ID and message.user_id == BSUID
    assert message.address == f"whatsapp:{WA_ID}"
    assert message.other_address == f"whatsapp:{BSUID}"
    assert message.phone_number_id == "1122334455667"


def test_bsuid_only_sender_is_addressed_by_bsuid_without_a_phone() -> None:
    [message] = parse_webhook(body("bsuid_only_text.json")).messages
    event = message.to_inbound()
    # The message's own from_user_id wins over the contacts[] entry (Meta's example has a typo there).
    assert event == Inbound(
        contact="whatsapp:US.13491208655302741918",
        at=at(1749416383),
        event_id="whatsapp:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        text="Does it come in another color?",
        profile_name="Sheena Nelson",
        channel_phone=None,
    )
    assert message.other_address is None


def status(wamid: str, name: StatusName, stamp: int, *errors: GraphError) -> StatusUpdate:
    return StatusUpdate(wamid=wamid, status=name, at=at(stamp), phone_number_id=None, errors=errors)


STATUSES: list[tuple[str, str, StatusUpdate]] = [
    ("status_sent.json", "1122334455667", status("wamid.xyzxyz", "sent", 1698266945)),
    ("status_delivered.json", "1122334455667", status("wamid.xyzxyz", "delivered", 1698266945)),
    ("status_read.json", "1122334455667", status("wamid.xyzxyz", "read", 1689380458)),
    (
        "status_delivered_to_bsuid.json",
        "106540352242922",
        status("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", "delivered", 1750030073),
    ),
    (
        "status_failed_130472.json",
        "1122334455667",
        status(
            "wamid.xyzxyz",
            "failed",
            1689380458,
            GraphError(code=130472, title="User's number is part of an experiment"),
        ),
    ),
    (
        "status_failed_131026.json",
        "1122334455667",
        status("wamid.xyzxyz", "failed", 1689380458, GraphError(code=131026, title="Message undeliverable")),
    ),
    (
        "status_failed_131047.json",
        "1122334455667",
        status("wamid.xyzxyz", "failed", 1689380458, GraphError(code=131047, title="Re-engagement message")),
    ),
]


@pytest.mark.parametrize(("name", "phone_number_id", "expected"), STATUSES, ids=[s[0] for s in STATUSES])
def test_recorded_status_becomes_a_status_update(
    name: str, phone_number_id: str, expected: StatusUpdate
) -> None:
    parsed = parse_webhook(body(name))
    assert parsed.messages == ()
    [update] = parsed.statuses
    assert update == StatusUpdate(
        wamid=expected.wamid,
        status=expected.status,
        at=expected.at,
        phone_number_id=phone_number_id,
        errors=expected.errors,
    )


def test_failed_status_without_contacts_is_still_read() -> None:
    """Meta documents failed statuses without contacts[]; pywa 4.5 cannot read those."""
    raw = body("status_failed_131026.json")
    del raw["entry"][0]["changes"][0]["value"]["contacts"]
    [update] = parse_webhook(raw).statuses
    assert update.status == "failed"
    assert update.errors[0].describe() == "131026 Message undeliverable"


def test_every_message_of_a_batched_body_is_read_and_a_bad_one_is_skipped() -> None:
    raw = body("text.json")
    value = raw["entry"][0]["changes"][0]["value"]
    second = dict(value["messages"][0], id="wamid.second", text={"body": "kedua"})
    broken = {"type": "text", "from": WA_ID}  # no id: skipped, the rest still counts
    value["messages"] = [value["messages"][0], broken, second]
    raw["entry"].append(body("status_read.json")["entry"][0])
    parsed = parse_webhook(raw)
    assert [m.text for m in parsed.messages] == ["Body Text", "kedua"]
    assert [s.status for s in parsed.statuses] == ["read"]


def test_shared_contact_gives_a_phone_and_reactions_are_ignored() -> None:
    raw = body("text.json")
    value = raw["entry"][0]["changes"][0]["value"]
    card = {
        "name": {"formatted_name": "Budi"},
        "phones": [{"phone": "+62 812-3456-7890", "wa_id": "6281234567890"}],
    }
    reaction = {"message_id": "wamid.old", "emoji": "👍"}
    value["messages"] = [
        {"from": WA_ID, "id": "wamid.c1", "timestamp": "1", "type": "contacts", "contacts": [card]},
        {"from": WA_ID, "id": "wamid.r1", "timestamp": "2", "type": "reaction", "reaction": reaction},
    ]
    [message] = parse_webhook(raw).messages
    assert message.phone == "+6281234567890"


def test_a_message_whatsapp_cannot_pass_on_still_gets_an_answer() -> None:
    raw = body("text.json")
    value = raw["entry"][0]["changes"][0]["value"]
    errors = [{"code": 131051, "title": "Message type unknown"}]
    value["messages"] = [
        {"from": WA_ID, "id": "wamid.u1", "timestamp": "1", "type": "unsupported", "errors": errors}
    ]
    [message] = parse_webhook(raw).messages
    assert message.to_inbound().text == ""
