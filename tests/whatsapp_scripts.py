"""Complete WhatsApp conversations as the messages a person sends (for tests and benchmarks)."""

from typing import Any


def letters(index: int) -> str:
    """A name part made of letters only."""
    syllables = ["ba", "di", "ku", "ma", "ni", "ra", "sa", "ti", "wa", "yu"]
    return "".join(syllables[int(d)] for d in str(index)).capitalize()


def registration_nik(index: int) -> str:
    """The (valid, female) NIK typed in `registration_script(index)`: it answers the birth date (the
    `1 + index % 28`th of August 1985) and sex questions too."""
    day = 1 + index % 28
    return f"367401{day + 40:02d}0885{index % 9999 + 1:04d}"


def registration_script(index: int) -> list[dict[str, Any]]:
    """The messages of one complete self-registration over WhatsApp (the phone comes from wa_id): 17
    messages, buttons and lists tapped by id, typed answers."""

    def text(body: str) -> dict[str, Any]:
        return {"type": "text", "text": {"body": body}}

    def tap(choice: str, kind: str = "button_reply") -> dict[str, Any]:
        return {"type": "interactive", "interactive": {"type": kind, kind: {"id": choice, "title": "-"}}}

    return [
        text("halo"),
        tap("consent:yes", "list_reply"),
        tap("menu:registration", "list_reply"),
        tap("for_whom:self"),
        text(f"Warga {letters(index)}"),
        text(registration_nik(index)),
        tap("phone:known"),
        tap("kecamatan:36.74.03", "list_reply"),
        text("6"),  # kelurahan by number (11 of them: numbered text)
        text("Jl. H. Sarmili RT 03/05"),
        text("0"),
        text("4"),
        text("1 3"),
        text("tidak"),
        text("1 2"),
        tap("aid_received:none", "list_reply"),
        tap("summary:send"),
    ]
