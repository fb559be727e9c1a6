"""What a message typed at the menu asks for: a greeting or a plain request ("sy mau daftar").

People write the way they talk on WhatsApp: "assalamualaikum", "p", "ktp saya kebakar", "minta bantuan
sembako", "mau ngomong sama petugas". This is a small keyword matcher, not a model: each word of the
message is compared with the keywords of each intent (exactly for short words, with small typos forgiven
for longer ones), phrases are looked up whole, and the first intent in `PRECEDENCE` that matched wins.
"""

from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process

GREETING = "greeting"

# Words that carry no request of their own ("sy mau ...", "tolong ...").
FILLER_WORDS = (
    "sy", "saya", "aku", "ak", "gw", "gue", "sya", "mau", "ingin", "pengen", "pingin", "ingn", "minta",
    "mohon", "tolong", "bisa", "boleh", "dong", "ya", "pak", "bu", "bapak", "ibu", "kak", "mas", "mbak",
    "min", "admin", "nya", "ini", "itu", "yg", "yang", "untuk", "buat", "utk", "sama", "dengan", "dgn",
    "di", "ke", "dari", "i", "want", "to", "please", "can", "would", "like", "my", "me", "the", "a", "an",
)  # fmt: skip
FILLER = frozenset(FILLER_WORDS)

# Keywords per intent; a keyword with a space is a phrase matched as a whole.
KEYWORDS: dict[str, tuple[str, ...]] = {
    "status": (
        "status", "cek status", "cek", "check", "perkembangan", "progres", "progress",
        "sampai mana", "sudah sampai mana", "gimana permohonan", "kabar permohonan",
    ),
    "lost_ktp": (
        "ktp", "ektp", "e ktp", "kartu tanda penduduk", "kartu identitas", "kk hilang", "kk kebakar",
        "kk terbakar", "kartu keluarga hilang", "identity card", "id card",
    ),
    "talk": (
        "petugas", "ngomong", "bicara", "ngobrol", "tanya", "nanya", "bertanya", "operator", "staf",
        "staff", "manusia", "hubungi", "telepon", "talk", "speak", "chat dengan",
    ),
    "aid": (
        "bantuan", "bansos", "sembako", "beras", "makan", "makanan", "lapar", "sakit", "berobat",
        "obat", "darurat", "kebakaran", "kursi roda", "tongkat", "alat bantu", "modal", "pelatihan", "kursus",
        "pkh", "blt", "bpnt", "aid", "food", "help with", "wheelchair", "emergency", "training",
    ),
    "registration": (
        "daftar", "mendaftar", "daftarin", "didaftarkan", "pendaftaran", "registrasi", "register",
        "sign up", "signup", "gabung", "join",
    ),
    "my_data": ("data saya", "data", "hapus data", "ubah data", "lihat data", "my data", "delete my data"),
    GREETING: (
        "halo", "hallo", "helo", "hello", "hai", "hay", "hi", "hey", "pagi", "siang", "sore", "malam",
        "selamat pagi", "selamat siang", "selamat sore", "selamat malam", "assalamualaikum",
        "assalamu alaikum", "asalamualaikum", "assalamualaikum wr wb", "salam", "permisi", "misi",
        "punten", "p", "ping", "good morning", "good afternoon", "good evening",
    ),
}  # fmt: skip

# When a message names several things, the more specific request wins ("cek status ktp" is a status
# question; "daftar bansos" asks for aid).
PRECEDENCE = ("status", "lost_ktp", "talk", "aid", "registration", "my_data", GREETING)

SALAM = ("assalamualaikum", "asalamualaikum", "assalamu alaikum", "salam", "assalamu")

FUZZY_MIN_LENGTH = 5
FUZZY_CUTOFF = 85

# Words about what happened to a card, to start the lost-KTP report a step further on.
WHAT_HAPPENED = {
    "terbakar": ("kebakar", "terbakar", "kebakaran", "hangus", "burned", "burnt", "fire"),
    "dicuri": ("dicuri", "dicopet", "kecopetan", "kemalingan", "maling", "stolen", "copet"),
    "rusak": ("rusak", "patah", "retak", "sobek", "robek", "damaged", "broken"),
    "hilang": ("hilang", "ilang", "ketinggalan", "lost", "missing"),
}
# Words that already say which kind of aid is asked for ("minta bantuan sembako", "darurat").
AID_KINDS = {
    "emergency": ("darurat", "kebakaran", "bencana", "banjir", "emergency"),
    "assistive": ("kursi roda", "tongkat", "alat bantu", "wheelchair"),
    "basic": ("sembako", "beras", "makan", "makanan", "lapar", "food"),
}
OWN = frozenset(("saya", "sy", "aku", "ku", "gw", "gue", "my", "mine"))
FAMILY_WORDS = (
    "anak", "istri", "suami", "adik", "kakak", "abang", "ortu", "mertua", "keluarga", "cucu", "ayah",
    "emak", "nenek", "kakek", "son", "daughter", "wife", "husband", "child", "family",
)  # fmt: skip
FAMILY = frozenset(FAMILY_WORDS)


@dataclass(frozen=True, slots=True)
class Intent:
    """A recognised request: the flow to start (or GREETING), and answers the message already gives."""

    name: str
    answers: dict[str, Any] = field(default_factory=dict)


_SINGLE = {intent: frozenset(k for k in words if " " not in k) for intent, words in KEYWORDS.items()}
_PHRASES = {intent: tuple(k for k in words if " " in k) for intent, words in KEYWORDS.items()}
_FUZZY_VOCAB = {intent: [k for k in words if len(k) >= FUZZY_MIN_LENGTH] for intent, words in _SINGLE.items()}


def _token_hits(token: str, intent: str) -> bool:
    if token in _SINGLE[intent]:
        return True
    if len(token) < FUZZY_MIN_LENGTH or not _FUZZY_VOCAB[intent]:
        return False
    best = process.extractOne(token, _FUZZY_VOCAB[intent], scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
    return best is not None


def _matches(text: str, tokens: list[str], intent: str) -> bool:
    padded = f" {text} "
    if any(f" {phrase} " in padded for phrase in _PHRASES[intent]):
        return True
    return any(_token_hits(token, intent) for token in tokens)


def match(text: str) -> Intent | None:
    """The intent of a normalised message ("ktp saya kebakar"), or None when it names nothing known."""
    if not text:
        return None
    tokens = [token for token in text.split() if token not in FILLER]
    if not tokens:
        return None
    for intent in PRECEDENCE:
        if _matches(text, tokens, intent):
            return Intent(intent, _answers(intent, text.split()))
    return None


def _answers(intent: str, words: list[str]) -> dict[str, Any]:
    """Answers the message already gives: "ktp saya kebakar" is the contact's own card, burned."""
    if intent == "aid":
        text = f" {' '.join(words)} "
        kinds = [k for k, spellings in AID_KINDS.items() if any(f" {w} " in text for w in spellings)]
        return {"aid_kind": kinds[0]} if kinds else {}
    if intent != "lost_ktp":
        return {}
    answers: dict[str, Any] = {}
    for key, spellings in WHAT_HAPPENED.items():
        if any(word in spellings for word in words):
            answers["what_happened"] = key
            break
    if any(word in FAMILY for word in words):
        answers["whose"] = "family"
    elif any(word in OWN for word in words):
        answers["whose"] = "self"
    return answers


def is_salam(text: str) -> bool:
    """Whether a greeting is the Islamic salam, which is answered in kind."""
    return any(text.startswith(s) for s in SALAM)
