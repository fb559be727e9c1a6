"""Privacy (UU PDP): NIK and KK never in clear at rest or in logs; the key is protected; masks everywhere."""

import base64
import io
import logging
import sqlite3
import stat
import sys
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from bot.app import Service, open_sealer
from bot.logs import RedactingFilter, redact, setup_logging
from bot.settings import ServiceSettings, Settings, StoreSettings
from handlers.i18n import Catalog
from storage import repo
from storage.crypto import KEY_FILE_NAME, Sealed, Sealer, load_or_create_key, mask
from tests.support import TEST_KEY, Chat, Clock, RecordingChannel, start_service

CATALOG = Catalog.load()

SELF_NIK = "3674015708850001"
OTHER_NIK = "3674012505790002"
LOST_NIK = "3674034212900003"
LOST_KK = "3674030101100004"
PHONE_TYPED = "+62 812-3456-7890"
PHONE = "6281234567890"
WA_CONTACT = "whatsapp:6285712345678"

SECRETS = (SELF_NIK, OTHER_NIK, LOST_NIK, LOST_KK)
SPACED = tuple(" ".join(n[i : i + 4] for i in range(0, 16, 4)) for n in SECRETS)


def t(key: str, lang: str = "id", **params: object) -> str:
    return CATALOG.text(lang, key, **params)


async def agree(chat: Chat) -> None:
    await chat.say("halo")
    await chat.choose("consent:yes")
    assert t("menu.prompt") in chat.last.text


async def register(chat: Chat, *, myself: bool, name: str, nik: str, phone: str) -> str:
    """A registration typed with spaces in the numbers, as people do; returns the summary text."""
    await chat.choose("menu:registration")
    await chat.choose("for_whom:self" if myself else "for_whom:other")
    await chat.say(name)
    await chat.say(" ".join(nik[i : i + 4] for i in range(0, 16, 4)))
    # The NIK answers the birth date and sex questions.
    await chat.say(phone)
    await chat.choose("kecamatan:36.74.03")
    await chat.choose("kelurahan:36.74.03.1011")
    await chat.say("Gang Mawar RT 03/RW 05")
    await chat.say("4")
    await chat.say("1 3")
    await chat.say("tidak")
    await chat.say("1 2")
    await chat.choose("aid_received:none")
    summary = chat.last.text
    await chat.choose("summary:send")
    assert "REG-2026-" in chat.replies[0].text
    return summary


async def report_lost_ktp(chat: Chat) -> str:
    """A lost-KTP report for a family member, with NIK and KK; returns the summary text."""
    await chat.choose("menu:lost_ktp")
    await chat.choose("whose:family")
    await chat.say("Rina Wulandari")
    await chat.choose("what_happened:terbakar")
    await chat.choose("when:week")
    await chat.say(LOST_NIK)
    await chat.say(f"{LOST_KK[:4]}-{LOST_KK[4:8]}-{LOST_KK[8:12]}-{LOST_KK[12:]}")
    await chat.choose("documents_left:none")
    await chat.choose("kecamatan:36.74.03")
    await chat.choose("kelurahan:36.74.03.1011")
    await chat.choose("photo:skip")
    summary = chat.last.text
    await chat.choose("summary:send")
    assert "KTP-2026-" in chat.replies[0].text
    return summary


async def fill_the_store(service: Service, clock: Clock) -> Chat:
    """Two registrations (self and for someone else) and a lost-KTP report, from a WhatsApp number."""
    channel = RecordingChannel(scheme="whatsapp")
    service.dispatcher.channels["whatsapp"] = channel
    chat = Chat(service, channel, clock, name=WA_CONTACT.split(":")[1], scheme="whatsapp")
    await agree(chat)
    summary = await register(chat, myself=True, name="budi santoso", nik=SELF_NIK, phone=PHONE_TYPED)
    assert "3674********0001" in summary and SELF_NIK not in summary
    summary = await register(chat, myself=False, name="andi saputra", nik=OTHER_NIK, phone="0")
    assert "3674********0002" in summary and OTHER_NIK not in summary
    summary = await report_lost_ktp(chat)
    assert "3674********0003" in summary and "3674********0004" in summary
    assert LOST_NIK not in summary and LOST_KK not in summary
    return chat


def assert_no_identity_numbers(blob: str | bytes, where: str) -> None:
    for number in (*SECRETS, *SPACED):
        needle: str | bytes = number.encode() if isinstance(blob, bytes) else number
        assert needle not in blob, f"{number} found in clear in {where}"  # type: ignore[operator]


# ---------------------------------------------------------------------------------- at rest


async def test_no_clear_nik_or_kk_in_any_database_file(tmp_path: Path, clock: Clock) -> None:
    data = tmp_path / "data"
    service, _ = await start_service(data, clock)
    try:
        await fill_the_store(service, clock)
        files = sorted(data.glob("intake.sqlite3*"))
        assert {f.name for f in files} >= {"intake.sqlite3", "intake.sqlite3-wal"}
        for file in files:  # while running: most recent pages live in the WAL
            assert_no_identity_numbers(file.read_bytes(), file.name)
        # The numbers are there, sealed: staff can open them with the key.
        persons = await repo.persons_of_contact(service.db, WA_CONTACT)
        assert sorted(service.services.sealer.open(p.nik) for p in persons if p.nik) == sorted(
            [SELF_NIK, OTHER_NIK]
        )
        case = (await repo.cases_of_contact(service.db, WA_CONTACT))[0]
        assert case.kind == "lost_ktp"
        assert service.services.sealer.open(Sealed.model_validate(case.answers["kk"])) == LOST_KK
        assert case.nik_hash == service.services.sealer.lookup_hash(LOST_NIK)
    finally:
        await service.close()

    for file in data.glob("intake.sqlite3*"):  # after the checkpoint at close
        assert_no_identity_numbers(file.read_bytes(), file.name)
    copy = sqlite3.connect(data / "intake.sqlite3")
    try:
        dump = "\n".join(copy.iterdump())
    finally:
        copy.close()
    assert_no_identity_numbers(dump, "the SQL dump")
    assert "3674********0001" in dump  # the masked form is what listings use


# --------------------------------------------------------------------------------------- logs


async def test_logs_at_debug_hold_no_identity_numbers_phones_or_key(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    # The production set-up too, writing to a buffer instead of stderr.
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("DEBUG")
    root.addHandler(caplog.handler)
    try:
        service, _ = await start_service(tmp_path / "data", clock)
        try:
            chat = await fill_the_store(service, clock)
            # A step that fails while a NIK is being handled logs a traceback.
            monkeypatch.setattr("handlers.fields.nik_sex", _explode)
            await chat.choose("menu:registration")
            await chat.choose("for_whom:other")
            await chat.say("citra lestari")
            await chat.say("3674 0157 0885 0009")
            assert chat.replies[0].text == t("err.internal")
        finally:
            await service.close()
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)

    assert any(r.exc_info for r in caplog.records), "the failed step should have been logged"
    production = stream.getvalue()
    assert "conversation step failed" in production
    # What the service itself chose to log, before any masking: no identity data at all.
    own_messages = "\n".join(
        r.getMessage() for r in caplog.records if r.name.split(".")[0] in ("bot", "handlers", "storage")
    )
    for text, where in ((own_messages, "the service's own messages"), (production, "the log output")):
        assert_no_identity_numbers(text, where)
        assert "3674015708850009" not in text and "0885 0009" not in text
        for phone in (PHONE, "812-3456-7890", "81234567890", "6285712345678", "85712345678"):
            assert phone not in text, f"phone number in {where}"
        assert TEST_KEY not in text and TEST_KEY[:20] not in text


def _explode(nik: str) -> str:
    raise RuntimeError(f"could not read {nik!r} for NIK 3674015708850009, call 0857-1234-5678")


@pytest.mark.parametrize(
    ("sensitive", "masked"),
    [
        ("3674015708850001", "[disamarkan]"),
        ("3674 0157 0885 0001", "[disamarkan]"),
        ("3674.0157.0885.0001", "[disamarkan]"),
        ("3674-0157-0885-0001", "[disamarkan]"),
        ("+6281234567890", "[disamarkan]"),
        ("6281234567890", "[disamarkan]"),
        ("081234567890", "[disamarkan]"),
        ("0812-3456-7890", "[disamarkan]"),
        ("0812 3456 7890", "[disamarkan]"),
        ("+62 812-3456-7890", "[disamarkan]"),
        ("+62 812 3456 7890", "[disamarkan]"),
        ("(0812) 3456-7890", "[disamarkan]"),
        ("whatsapp:6281234567890", "whatsapp:[disamarkan]"),
        ("wa6281234567890", "wa[disamarkan]"),
        ("nik=3674015708850001;", "nik=[disamarkan];"),
    ],
)
def test_redact_masks_identity_and_phone_numbers(sensitive: str, masked: str) -> None:
    assert redact(f"contact {sensitive} wrote") == f"contact {masked} wrote"


@pytest.mark.parametrize(
    "harmless",
    [
        "case REG-2026-000123 moved to diproses",
        "outbox row 4521 sent in 35 ms",
        "at 2026-11-20 09:00:00 WIB",
        "telegram:123456789 pressed a button",
        "7 kecamatan, 54 kelurahan",
    ],
)
def test_redact_leaves_ordinary_numbers(harmless: str) -> None:
    assert redact(harmless) == harmless


def test_redacting_filter_masks_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.privacy.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("duplicate NIK %s for %s", "3674015708850001", "whatsapp:6281234567890")
        try:
            raise ValueError("bad KK 3674-0301-0110-0004 from +62 812-3456-7890")
        except ValueError:
            logger.exception("step failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    output = stream.getvalue()
    assert "duplicate NIK [disamarkan] for whatsapp:[disamarkan]" in output
    assert "ValueError: bad KK [disamarkan] from [disamarkan]" in output
    for leaked in ("3674015708850001", "6281234567890", "3674-0301-0110-0004", "812-3456-7890"):
        assert leaked not in output


# ---------------------------------------------------------------------------------- the key


def test_generated_key_file_is_private_and_the_operator_is_told_to_back_it_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(store=StoreSettings(data_dir=data, secret_key=None), service=ServiceSettings())
    notice = io.StringIO()
    sealer = open_sealer(settings, announce=notice)
    key_file = data / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    message = notice.getvalue()
    assert str(key_file) in message and "Back it up" in message
    key_text = key_file.read_text().strip()
    assert key_text not in message  # the key itself is never printed

    sealed = sealer.seal(SELF_NIK)
    again = io.StringIO()
    reopened = open_sealer(settings, announce=again)
    assert again.getvalue() == ""  # only the first run announces
    assert reopened.open(sealed) == SELF_NIK

    key, created = load_or_create_key(None, data)
    assert not created and len(key) == 32
    assert base64.urlsafe_b64encode(key).decode().rstrip("=") == key_text.rstrip("=")


def test_a_configured_key_writes_no_file(tmp_path: Path) -> None:
    key, created = load_or_create_key(TEST_KEY, tmp_path)
    assert not created and len(key) >= 32
    assert not (tmp_path / KEY_FILE_NAME).exists()
    with pytest.raises(ValueError, match="32 bytes"):
        load_or_create_key("dG9vLXNob3J0", tmp_path)  # "too-short"


# ------------------------------------------------------------------------------- the sealer


def test_mask_shows_only_the_first_and_last_four_digits() -> None:
    assert mask(SELF_NIK) == "3674********0001"
    assert Sealer(b"k" * 32).seal(LOST_KK).m == "3674********0004"


def test_sealer_round_trip_and_keyed_hash() -> None:
    sealer = Sealer(b"a" * 32)
    first, second = sealer.seal(SELF_NIK), sealer.seal(SELF_NIK)
    assert sealer.open(first) == sealer.open(second) == SELF_NIK
    assert first.c != second.c  # a fresh nonce each time: equal numbers do not look equal at rest
    assert first.h == second.h == sealer.lookup_hash(SELF_NIK)  # ...but can still be matched
    assert sealer.lookup_hash(OTHER_NIK) != first.h
    assert SELF_NIK not in first.model_dump_json()

    other_key = Sealer(b"b" * 32)
    assert other_key.lookup_hash(SELF_NIK) != first.h
    with pytest.raises(InvalidTag):
        other_key.open(first)
    tampered = first.model_copy(update={"c": first.c[:-4] + ("AAAA" if first.c[-4:] != "AAAA" else "BBBB")})
    with pytest.raises(InvalidTag):
        sealer.open(tampered)
    with pytest.raises(ValueError, match="32 bytes"):
        Sealer(b"short")
