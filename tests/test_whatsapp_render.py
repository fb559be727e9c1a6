"""A platform-free reply fitted to WhatsApp: buttons (<= 3), a list (<= 10), numbered text (more).

Every limit is checked before sending and what had to be shortened is reported (without the text).
"""

import pytest

from bot.channels.whatsapp.render import (
    BUTTON_TITLE_MAX,
    INTERACTIVE_BODY_MAX,
    ROW_DESCRIPTION_MAX,
    ROW_TITLE_MAX,
    TEXT_BODY_MAX,
    Wording,
    chunks,
    render,
)
from handlers.i18n import Catalog
from handlers.places import Places
from handlers.types import Choice, Reply

CATALOG = Catalog.load()
PLACES = Places.load()


def wording(lang: str = "id") -> Wording:
    return Wording(
        list_button=CATALOG.text(lang, "whatsapp.list_button"),
        section_title=CATALOG.text(lang, "whatsapp.list_section"),
        numbered_hint=CATALOG.text(lang, "whatsapp.numbered_hint"),
    )


def kecamatan_reply() -> Reply:
    return Reply(
        text=CATALOG.text("id", "reg.q.kecamatan.self"),
        choices=tuple(Choice(f"kecamatan:{k.code}", k.name) for k in PLACES.kecamatan),
    )


def test_two_choices_are_reply_buttons() -> None:
    reply = Reply(
        text="Pondok Aren, betul?",
        choices=(Choice("confirm:yes", CATALOG.text("id", "common.yes")), Choice("confirm:no", "Tidak")),
    )
    rendered = render(reply, wording())
    [message] = rendered.messages
    assert message.kind == "buttons"
    assert message.body == "Pondok Aren, betul?"
    # Each button carries the number that typing also accepts.
    assert [(o.id, o.title) for o in message.options] == [
        ("confirm:yes", "1. Ya"),
        ("confirm:no", "2. Tidak"),
    ]
    assert rendered.notes == []


def test_seven_kecamatan_are_a_list() -> None:
    rendered = render(kecamatan_reply(), wording())
    [message] = rendered.messages
    assert message.kind == "list"
    assert len(message.options) == 7
    assert message.options[2].title == "3. Pondok Aren" and message.options[2].id == "kecamatan:36.74.03"
    assert message.list_button == "Lihat pilihan" and message.section_title == "Pilihan"
    assert rendered.notes == []


def test_fourteen_choices_are_numbered_text_with_a_typing_hint() -> None:
    choices = tuple(Choice(f"item:{n}", f"Pilihan {n}") for n in range(1, 15))
    rendered = render(Reply(text="Pilih satu:", choices=choices), wording())
    [message] = rendered.messages
    assert message.kind == "text"
    lines = message.body.splitlines()
    assert lines[0] == "Pilih satu:"
    assert lines[2] == "1. Pilihan 1" and lines[15] == "14. Pilihan 14"
    assert lines[-1] == CATALOG.text("id", "whatsapp.numbered_hint")
    assert rendered.notes == []  # numbered text is the designed form for long lists, not a fallback


def test_a_label_too_long_for_a_button_is_a_list_row_that_keeps_it_whole() -> None:
    reply = Reply(
        text="Mau apa?",
        choices=(Choice("a:1", "Lapor kartu tanda penduduk hilang"), Choice("a:2", "Minta bantuan")),
    )
    rendered = render(reply, wording())
    [message] = rendered.messages
    assert message.kind == "list"
    assert message.options[0].title == "1. Lapor kartu tanda pe…"
    assert len(message.options[0].title) == ROW_TITLE_MAX
    assert message.options[0].description == "Lapor kartu tanda penduduk hilang"
    assert (message.options[1].title, message.options[1].description) == ("2. Minta bantuan", None)
    assert all(len(o.title) > BUTTON_TITLE_MAX for o in message.options[:1])
    assert rendered.notes == ["1 list row title(s) shortened to 24 characters"]


def test_list_rows_and_descriptions_are_cut_to_their_limits() -> None:
    choices = tuple(Choice(f"r:{n}", f"Baris nomor {n} dengan judul panjang", "x" * 100) for n in range(5))
    rendered = render(Reply(text="Pilih", choices=choices), wording())
    [message] = rendered.messages
    assert message.kind == "list"
    assert all(len(o.title) <= ROW_TITLE_MAX for o in message.options)
    assert all(
        o.description is not None and len(o.description) == ROW_DESCRIPTION_MAX for o in message.options
    )
    assert len({o.title for o in message.options}) == 5
    assert rendered.notes == [
        "5 list row title(s) shortened to 24 characters",
        "5 list row description(s) shortened to 72 characters",
    ]


def test_titles_that_start_alike_stay_apart_by_their_numbers() -> None:
    same_start = "Bantuan untuk keluarga pemulung "
    choices = (Choice("k:1", same_start + "di Pondok Aren"), Choice("k:2", same_start + "di Serpong"))
    rendered = render(Reply(text="Yang mana?", choices=choices), wording("en"))
    [message] = rendered.messages
    assert message.kind == "list"
    assert [o.title for o in message.options] == ["1. Bantuan untuk keluar…", "2. Bantuan untuk keluar…"]
    assert [o.description for o in message.options] == [c.label for c in choices]
    assert rendered.notes == ["2 list row title(s) shortened to 24 characters"]


def test_long_text_goes_ahead_and_the_buttons_keep_the_last_paragraph() -> None:
    reply = Reply(
        text=CATALOG.text("id", "consent.full"),
        choices=(Choice("consent:yes", "Setuju"), Choice("consent:no", "Tidak setuju")),
    )
    assert len(reply.text) > INTERACTIVE_BODY_MAX
    rendered = render(reply, wording())
    first, second = rendered.messages
    assert first.kind == "text" and second.kind == "buttons"
    assert len(second.body) <= INTERACTIVE_BODY_MAX
    assert first.body + "\n\n" + second.body == reply.text.strip()
    assert rendered.notes == ["long text sent ahead of the choices"]


def test_location_request_without_choices_uses_the_location_button() -> None:
    [message] = render(Reply(text="Kirim lokasi", request="location"), wording()).messages
    assert message.kind == "location_request"


@pytest.mark.parametrize("size", [TEXT_BODY_MAX + 1, 3 * TEXT_BODY_MAX])
def test_very_long_text_is_split_at_boundaries(size: int) -> None:
    text = ("Kalimat pendek. " * size)[:size]
    parts = chunks(text, TEXT_BODY_MAX)
    assert all(len(p) <= TEXT_BODY_MAX for p in parts)
    assert " ".join(parts).split() == text.split()
