"""Tests for the forgiving answer parsers in handlers.validators."""

import contextlib
import datetime
from collections.abc import Callable

import pytest

from handlers.validators import (
    Invalid,
    clean_text,
    format_phone_local,
    nik_birth_date,
    nik_sex,
    normalize,
    parse_choice_numbers,
    parse_count,
    parse_date,
    parse_kk,
    parse_name,
    parse_nik,
    parse_phone,
)

TODAY = datetime.date(2026, 5, 1)

JUNK = [
    "",
    "   ",
    "a" * 5000,
    "1" * 5000,
    "🙏🙏",
    "\x00\x07",
    "'; DROP TABLE persons; --",
    "9" * 40,
    "\u202e\u200b",
]


def _parse_date(text: str) -> object:
    return parse_date(text, today=TODAY)


def _parse_count(text: str) -> object:
    return parse_count(text, low=1, high=20)


@pytest.mark.parametrize(
    "parser",
    [
        clean_text,
        parse_name,
        parse_nik,
        parse_kk,
        parse_phone,
        _parse_date,
        _parse_count,
    ],
)
@pytest.mark.parametrize("text", JUNK)
def test_junk_raises_only_invalid(parser: Callable[[str], object], text: str) -> None:
    # Any outcome but a crash is fine: some junk is acceptable text, the rest must be Invalid.
    with contextlib.suppress(Invalid):
        parser(text)


@pytest.mark.parametrize("text", JUNK)
def test_never_raising_helpers_accept_junk(text: str) -> None:
    assert isinstance(normalize(text), str)
    assert all(isinstance(n, int) for n in parse_choice_numbers(text))
    assert nik_birth_date(text) is None
    assert isinstance(format_phone_local(text), str)


def test_invalid_carries_reason_and_params() -> None:
    exc = Invalid("too_long", max=10)
    assert isinstance(exc, ValueError)
    assert exc.reason == "too_long"
    assert exc.params == {"max": 10}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  halo   bapak  ", "halo bapak"),
        ("baris\nsatu\tdua", "baris satu dua"),
        ("a\x00b\x07c", "abc"),
        ("zero\u200bwidth", "zerowidth"),
        ("Cafe\u0301", "Café"),  # NFC composes the accent
        ("x" * 500, "x" * 500),
    ],
)
def test_clean_text(text: str, expected: str) -> None:
    assert clean_text(text) == expected


@pytest.mark.parametrize(
    ("text", "max_len", "reason", "params"),
    [
        ("", 500, "empty", {}),
        (" \n\t ", 500, "empty", {}),
        ("\x00\x07", 500, "empty", {}),
        ("x" * 501, 500, "too_long", {"max": 500}),
        ("x" * 5000, 500, "too_long", {"max": 500}),
        ("abcdef", 5, "too_long", {"max": 5}),
    ],
)
def test_clean_text_rejects(text: str, max_len: int, reason: str, params: dict[str, object]) -> None:
    with pytest.raises(Invalid) as caught:
        clean_text(text, max_len=max_len)
    assert caught.value.reason == reason
    assert caught.value.params == params


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pd. Aren!", "pd aren"),
        ("  PONDOK   AREN ", "pondok aren"),
        ("Cirëundeu", "cireundeu"),
        ("Jurang-Mangu,Timur", "jurang mangu timur"),
        ("🙏🙏", ""),
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("siti aminah", "Siti Aminah"),
        ("BUDI", "Budi"),
        ("  budi   santoso ", "Budi Santoso"),
        ("Siti aminah", "Siti aminah"),  # mixed case is kept as typed
        ("McDonald Siregar", "McDonald Siregar"),
        ("ma'ruf amin", "Ma'ruf Amin"),
        ("nur-aini", "Nur-Aini"),
        ("m. ali", "M. Ali"),
        ("BUDI, S.PD", "Budi, S.Pd"),
        ("Siti 🙏", "Siti"),
        ("Ni Putu Ayu", "Ni Putu Ayu"),
        ("Zoë", "Zoë"),
        ("Al", "Al"),
    ],
)
def test_parse_name(text: str, expected: str) -> None:
    assert parse_name(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("12345", "name_letters"),
        ("🙏🙏", "name_letters"),
        ("...", "name_letters"),
        ("'; DROP TABLE persons; --", "name_letters"),
        ("Budi 2", "name_letters"),
        ("A", "name_short"),
        ("A.", "name_short"),
        ("", "empty"),
        ("x" * 101, "too_long"),
    ],
)
def test_parse_name_rejects(text: str, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_name(text)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3674011708850001", "3674011708850001"),
        ("3674 0117 0885 0001", "3674011708850001"),
        ("3674.0117.0885.0001", "3674011708850001"),
        ("3674-011708-850001", "3674011708850001"),
        ("3603015708850001", "3603015708850001"),  # older Tangsel NIK, issued as Kab. Tangerang
        ("3171011708450001", "3171011708450001"),  # issued in Jakarta
        # Provinces python-stdnum 2.2 does not know; the Kemendagri list shipped with the service does.
        ("6571011708850001", "6571011708850001"),  # Kota Tarakan, Kalimantan Utara
        ("9301014708850001", "9301014708850001"),  # Merauke, Papua Selatan
        ("9404011708850001", "9404011708850001"),  # Mimika, Papua Tengah
        ("9202011708850001", "9202011708850001"),  # Manokwari, Papua Barat
        ("9501011708850001", "9501011708850001"),  # Jayawijaya, Papua Pegunungan
        ("9671011708850001", "9671011708850001"),  # Kota Sorong, Papua Barat Daya
        ("3603011708850001", "3603011708850001"),  # older Tangsel NIK, Kabupaten Tangerang
    ],
)
def test_parse_nik(text: str, expected: str) -> None:
    assert parse_nik(text) == expected


@pytest.mark.parametrize(
    ("text", "reason", "params"),
    [
        ("3674O11708850001", "nik_digits", {}),
        ("NIK 3674011708850001", "nik_digits", {}),
        ("367401170885", "nik_length", {"count": 12}),
        ("36740117088500011", "nik_length", {"count": 17}),
        ("9" * 40, "nik_length", {"count": 40}),
        ("3674013202850001", "nik_invalid", {}),  # day 32
        ("3674011713850001", "nik_invalid", {}),  # month 13
        ("3674010000000000", "nik_invalid", {}),
        ("9971011708450001", "nik_invalid", {}),  # no province 99
        ("3699011708450001", "nik_invalid", {}),  # Banten has no regency 99
        ("3674011708850000", "nik_invalid", {}),  # serial 0000
        ("", "empty", {}),
    ],
)
def test_parse_nik_rejects(text: str, reason: str, params: dict[str, object]) -> None:
    with pytest.raises(Invalid) as caught:
        parse_nik(text)
    assert caught.value.reason == reason
    assert caught.value.params == params


@pytest.mark.parametrize(
    ("nik", "expected"),
    [
        ("3674011708850001", datetime.date(1985, 8, 17)),
        ("3674015708850001", datetime.date(1985, 8, 17)),  # female: day + 40
        ("3674010101100001", datetime.date(2010, 1, 1)),  # a child, not someone born in 1910
        ("3674011512260001", datetime.date(1926, 12, 15)),  # 2026-12-15 is after TODAY
        ("3674012902000001", datetime.date(2000, 2, 29)),
        ("3674013202850001", None),
        ("367401", None),
    ],
)
def test_nik_birth_date(nik: str, expected: datetime.date | None) -> None:
    assert nik_birth_date(nik, today=TODAY) == expected


@pytest.mark.parametrize(
    ("nik", "expected"),
    [
        ("3674011708850001", "L"),
        ("3674015708850001", "P"),
        ("3674014008850001", "L"),
        ("3674014108850001", "P"),
    ],
)
def test_nik_sex(nik: str, expected: str) -> None:
    assert nik_sex(nik) == expected


def test_nik_sex_rejects_garbage() -> None:
    with pytest.raises(Invalid):
        nik_sex("abc")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3674031508120003", "3674031508120003"),
        ("3674 0315 0812 0003", "3674031508120003"),
        ("3674-0315.0812 0003", "3674031508120003"),
        ("3603012902000001", "3603012902000001"),  # 29-02-2000 exists
        ("9501010101200001", "9501010101200001"),  # Papua Pegunungan (2022)
    ],
)
def test_parse_kk(text: str, expected: str) -> None:
    assert parse_kk(text) == expected


@pytest.mark.parametrize(
    ("text", "reason", "params"),
    [
        ("3674O31508120003", "kk_digits", {}),
        ("36740315081200", "kk_length", {"count": 14}),
        ("3674031508120003123", "kk_length", {"count": 19}),
        ("3674033208120003", "kk_invalid", {}),  # day 32
        ("3674031513120003", "kk_invalid", {}),  # month 13
        ("3674030000000000", "kk_invalid", {}),
        ("0974031508120003", "kk_invalid", {}),  # province 09
        ("9974031508120003", "kk_invalid", {}),  # province 99
    ],
)
def test_parse_kk_rejects(text: str, reason: str, params: dict[str, object]) -> None:
    with pytest.raises(Invalid) as caught:
        parse_kk(text)
    assert caught.value.reason == reason
    assert caught.value.params == params


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0812-3456-7890", "+6281234567890"),
        ("081234567890", "+6281234567890"),
        ("+62 812 3456 7890", "+6281234567890"),
        ("+62 0812 3456 7890", "+6281234567890"),
        ("6281234567890", "+6281234567890"),
        ("62 812.3456.7890", "+6281234567890"),
        ("(0812) 3456-7890", "+6281234567890"),
        ("0812 3456 789", "+628123456789"),
        ("021-7654321", "+62217654321"),
    ],
)
def test_parse_phone(text: str, expected: str) -> None:
    assert parse_phone(text) == expected


@pytest.mark.parametrize(
    "text",
    ["0812", "081234567890123456", "halo", "'; DROP TABLE persons; --", "+62 000 0000"],
)
def test_parse_phone_rejects(text: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_phone(text)
    assert caught.value.reason == "phone_invalid"


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+6281234567890", "0812-3456-7890"),
        ("+628123456789", "0812-3456-789"),
        ("+16502530000", "+1 650-253-0000"),
        ("bukan nomor", "bukan nomor"),
    ],
)
def test_format_phone_local(e164: str, expected: str) -> None:
    assert format_phone_local(e164) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("17-08-1985", datetime.date(1985, 8, 17)),
        ("17/8/85", datetime.date(1985, 8, 17)),
        ("17.8.1985", datetime.date(1985, 8, 17)),
        ("17 8 1985", datetime.date(1985, 8, 17)),
        ("17 Agustus 1985", datetime.date(1985, 8, 17)),
        ("17 agt 85", datetime.date(1985, 8, 17)),
        ("17 Agu 1985", datetime.date(1985, 8, 17)),
        ("17 ags 1985", datetime.date(1985, 8, 17)),
        ("17 Aug 1985", datetime.date(1985, 8, 17)),
        ("17 August 1985", datetime.date(1985, 8, 17)),
        ("1985-08-17", datetime.date(1985, 8, 17)),
        ("17-Agustus-1985", datetime.date(1985, 8, 17)),
        ("17agustus1985", datetime.date(1985, 8, 17)),
        ("tgl 17 agustus 1985", datetime.date(1985, 8, 17)),
        ("17 agustus tahun 1985", datetime.date(1985, 8, 17)),
        ("17 agustis 1985", datetime.date(1985, 8, 17)),  # typo in a full month name
        ("17081985", datetime.date(1985, 8, 17)),
        ("170885", datetime.date(1985, 8, 17)),
        ("03/04/2001", datetime.date(2001, 4, 3)),  # day first, never month first
        ("1 jan 2000", datetime.date(2000, 1, 1)),
        ("5 peb 1990", datetime.date(1990, 2, 5)),
        ("5 Februari 1990", datetime.date(1990, 2, 5)),
        ("9 mar 1970", datetime.date(1970, 3, 9)),
        ("9 apr 1970", datetime.date(1970, 4, 9)),
        ("9 mei 1970", datetime.date(1970, 5, 9)),
        ("9 May 1970", datetime.date(1970, 5, 9)),
        ("9 jun 1970", datetime.date(1970, 6, 9)),
        ("9 jul 1970", datetime.date(1970, 7, 9)),
        ("9 sep 1970", datetime.date(1970, 9, 9)),
        ("9 sept 1970", datetime.date(1970, 9, 9)),
        ("9 okt 1970", datetime.date(1970, 10, 9)),
        ("9 Oct 1970", datetime.date(1970, 10, 9)),
        ("9 nov 1970", datetime.date(1970, 11, 9)),
        ("9 nop 1970", datetime.date(1970, 11, 9)),
        ("9 Nopember 1970", datetime.date(1970, 11, 9)),
        ("9 des 1970", datetime.date(1970, 12, 9)),
        ("9 Dec 1970", datetime.date(1970, 12, 9)),
        ("29-02-2000", datetime.date(2000, 2, 29)),
        ("1/1/26", datetime.date(2026, 1, 1)),  # yy up to this year's -> 2000s
        ("1/1/27", datetime.date(1927, 1, 1)),  # later yy -> 1900s
        ("1/5/2026", TODAY),
        ("01-01-1900", datetime.date(1900, 1, 1)),
    ],
)
def test_parse_date(text: str, expected: datetime.date) -> None:
    assert parse_date(text, today=TODAY) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("kemarin", "date_format"),
        ("17 1985", "date_format"),
        ("agustus 1985", "date_format"),
        ("17 xyz 1985", "date_format"),
        ("17-08-985", "date_format"),
        ("17-08-19855", "date_format"),
        ("1234567890", "date_format"),
        ("31-02-1985", "date_impossible"),
        ("29-02-1985", "date_impossible"),
        ("17-13-1985", "date_impossible"),
        ("00-08-1985", "date_impossible"),
        ("32 Agustus 1985", "date_impossible"),
        ("2/5/2026", "date_future"),
        ("17-08-2030", "date_future"),
        ("31-12-1899", "date_too_old"),
        ("", "empty"),
    ],
)
def test_parse_date_rejects(text: str, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_date(text, today=TODAY)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", 5),
        ("5 orang", 5),
        ("5org", 5),
        ("ada 5 orang", 5),
        ("lima", 5),
        ("Lima orang", 5),
        ("satu", 1),
        ("dua", 2),
        ("tiga", 3),
        ("empat", 4),
        ("enam", 6),
        ("tujuh", 7),
        ("delapan", 8),
        ("sembilan", 9),
        ("sepuluh", 10),
        ("sebelas", 11),
        ("dua belas", 12),
        ("limabelas", 15),
        ("sembilan belas", 19),
        ("dua puluh", 20),
        ("duapuluh", 20),
        ("dua puluh tiga", 23),
        ("seratus", 100),
        ("seratus dua puluh lima", 125),
        ("nol", 0),
        ("0", 0),
        ("lima 5", 5),  # the same number twice is still one number
    ],
)
def test_parse_count(text: str, expected: int) -> None:
    assert parse_count(text, low=0, high=200) == expected


@pytest.mark.parametrize(
    ("text", "reason", "params"),
    [
        ("banyak", "count_format", {}),
        ("2 atau 3", "count_format", {}),
        ("dua tiga", "count_format", {}),
        ("sebelas satu", "count_format", {}),
        ("puluh", "count_format", {}),
        ("nol puluh", "count_format", {}),
        ("🙏", "count_format", {}),
        ("0", "count_range", {"low": 1, "high": 20}),
        ("21", "count_range", {"low": 1, "high": 20}),
        ("dua puluh satu", "count_range", {"low": 1, "high": 20}),
        ("9" * 90, "count_range", {"low": 1, "high": 20}),
    ],
)
def test_parse_count_rejects(text: str, reason: str, params: dict[str, object]) -> None:
    with pytest.raises(Invalid) as caught:
        parse_count(text, low=1, high=20)
    assert caught.value.reason == reason
    assert caught.value.params == params


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 3", [1, 3]),
        ("1,3", [1, 3]),
        ("1, 3 dan 5", [1, 3, 5]),
        ("1&2", [1, 2]),
        ("3 1 3", [3, 1]),
        ("nomor 12", [12]),
        ("tidak ada", []),
        ("", []),
        ("1 dan 3674011708850001", [1]),
        ("1" * 5000, []),
    ],
)
def test_parse_choice_numbers(text: str, expected: list[int]) -> None:
    assert parse_choice_numbers(text) == expected
