"""The main menu: what a contact can do once they have agreed to the privacy notice."""

from handlers import intents
from handlers.choices import Option, render
from handlers.turn import Turn

MENU_FLOW = "menu"

OPTIONS = (
    Option("registration", "menu.registration", ("daftar", "register", "pendaftaran", "registrasi")),
    Option("lost_ktp", "menu.lost_ktp", ("ktp", "ktp hilang", "lapor ktp", "ktp terbakar", "kk")),
    Option("aid", "menu.aid", ("minta bantuan", "bansos", "aid", "request aid")),
    Option("status", "menu.status", ("status", "cek status", "cek", "check status")),
    Option("my_data", "menu.my_data", ("data saya", "data", "my data", "hapus data")),
    Option("talk", "menu.talk", ("petugas", "bicara", "staff", "talk", "tanya")),
    Option("voice", "menu.voice", ("suara", "pesan suara", "voice")),
    Option("language", "menu.language", ("bahasa", "language", "english", "inggris")),
)


def show(turn: Turn, *, intro: str | None = None) -> None:
    """Put the contact at the menu and show it (after `intro`, if given)."""
    turn.goto(MENU_FLOW, "main", {})
    text = turn.t("menu.prompt")
    if intro:
        text = f"{intro}\n\n{text}"
    turn.say(text, render(turn, MENU_FLOW, OPTIONS))


def greeting(turn: Turn) -> str:
    """A warm answer to "halo", "pagi" or "assalamualaikum" (the salam is answered in kind)."""
    return turn.t("menu.salam" if intents.is_salam(turn.text) else "menu.greeting")


def show_quietly(turn: Turn) -> None:
    """Put the contact at the menu without a message (the next words are read as a menu answer)."""
    turn.goto(MENU_FLOW, "main", {})
