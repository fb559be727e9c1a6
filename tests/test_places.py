"""Tests for the Tangsel place list and forgiving place-name matching in handlers.places."""

import pathlib
import time

import pytest

from handlers.places import Kecamatan, Kelurahan, PlaceMatch, Places

SERPONG = "36.74.01"
PONDOK_AREN = "36.74.03"
CIPUTAT = "36.74.04"
PAMULANG = "36.74.06"


@pytest.fixture(scope="module")
def places() -> Places:
    return Places.load()


def _names(match: PlaceMatch[Kecamatan] | PlaceMatch[Kelurahan]) -> list[str]:
    return [place.name for place in match.candidates]


def test_load_counts_and_order(places: Places) -> None:
    assert [k.name for k in places.kecamatan] == [
        "Serpong",
        "Serpong Utara",
        "Pondok Aren",
        "Ciputat",
        "Ciputat Timur",
        "Pamulang",
        "Setu",
    ]
    assert sum(len(places.kelurahan_of(k.code)) for k in places.kecamatan) == 54


def test_codes_and_lookup(places: Places) -> None:
    pondok_aren = places.kecamatan_by_code(PONDOK_AREN)
    assert pondok_aren == Kecamatan(PONDOK_AREN, "Pondok Aren")
    village = places.kelurahan_by_code("36.74.03.1001")
    assert village == Kelurahan("36.74.03.1001", "Pondok Betung", pondok_aren)
    assert [v.name for v in places.kelurahan_of(PONDOK_AREN)][-2:] == [
        "Jurangmangu Barat",
        "Jurangmangu Timur",
    ]
    for district in places.kecamatan:
        assert all(v.code[:8] == district.code for v in places.kelurahan_of(district.code))


@pytest.mark.parametrize("code", ["36.74.99", "3674010", ""])
def test_unknown_kecamatan_code(places: Places, code: str) -> None:
    with pytest.raises(KeyError):
        places.kecamatan_by_code(code)
    assert places.kelurahan_of(code) == ()


@pytest.mark.parametrize("code", ["36.74.03.9999", "3674031001", ""])
def test_unknown_kelurahan_code(places: Places, code: str) -> None:
    with pytest.raises(KeyError):
        places.kelurahan_by_code(code)


def test_load_from_path(tmp_path: pathlib.Path) -> None:
    csv_path = tmp_path / "wilayah.csv"
    csv_path.write_text(
        "kode,kecamatan,kelurahan\n36.74.07.1001,Setu,Muncul\n36.74.07.1002,Setu,Setu\n",
        encoding="utf-8",
    )
    loaded = Places.load(csv_path)
    assert loaded.kecamatan == (Kecamatan("36.74.07", "Setu"),)
    assert [v.name for v in loaded.kelurahan_of("36.74.07")] == ["Muncul", "Setu"]


@pytest.mark.parametrize(
    ("text", "best", "exact"),
    [
        ("pd aren", "Pondok Aren", True),
        ("Pd. Aren", "Pondok Aren", True),
        ("pdk aren", "Pondok Aren", True),
        ("pondokaren", "Pondok Aren", True),
        ("Kec. Pondok Aren", "Pondok Aren", True),
        ("PAMULANG", "Pamulang", True),
        ("pamulng", "Pamulang", False),
        ("serpong utr", "Serpong Utara", True),
        ("serpongutara", "Serpong Utara", True),
        ("serpong", "Serpong", True),
        ("ciputat", "Ciputat", True),
        ("ciputat tim", "Ciputat Timur", True),
        ("ciputat timr", "Ciputat Timur", False),
        ("ciptat", "Ciputat", False),
        ("setu", "Setu", True),
        ("pondok", "Pondok Aren", False),  # a unique prefix, still to be confirmed
    ],
)
def test_match_kecamatan_best(places: Places, text: str, best: str, exact: bool) -> None:
    match = places.match_kecamatan(text)
    assert match.best is not None
    assert match.best.name == best
    assert match.candidates[0] == match.best
    assert match.exact is exact


def test_match_kecamatan_exact_ignores_longer_name(places: Places) -> None:
    match = places.match_kecamatan("ciputat")
    assert match.best == places.kecamatan_by_code(CIPUTAT)
    assert match.exact
    assert _names(match) == ["Ciputat"]


@pytest.mark.parametrize(
    ("text", "candidates"),
    [
        ("serpong u", ["Serpong", "Serpong Utara"]),  # too short to tell
        ("situ", ["Setu"]),  # plausible but not confident
    ],
)
def test_match_kecamatan_unsure(places: Places, text: str, candidates: list[str]) -> None:
    match = places.match_kecamatan(text)
    assert match.best is None
    assert not match.exact
    assert _names(match) == candidates


@pytest.mark.parametrize(
    ("text", "best", "exact"),
    [
        ("jurang mangu timur", "Jurangmangu Timur", True),
        ("Jurang Manggu Barat", "Jurangmangu Barat", True),
        ("jurangmangu timr", "Jurangmangu Timur", False),
        ("perigi", "Parigi", True),
        ("Perigi Baru", "Parigi Baru", True),
        ("pamulang brt", "Pamulang Barat", True),
        ("pamulangbarat", "Pamulang Barat", True),
        ("pamulng barat", "Pamulang Barat", False),
        ("rawa mekarjaya", "Rawa Mekar Jaya", True),
        ("rawamekarjaya", "Rawa Mekar Jaya", True),
        ("bambuapus", "Bambu Apus", True),
        ("rawa buntu", "Rawabuntu", True),
        ("pakulonan", "Pakulonan", True),
        ("paku jaya", "Pakujaya", True),
        ("lengkong gudang timur", "Lengkong Gudang Timur", True),
        ("lengkong gd tmr", "Lengkong Gudang Timur", True),
        ("lengkong gudang", "Lengkong Gudang", True),
        ("sawah", "Sawah", True),
        ("sawah lama", "Sawah", True),
        ("Sawah Baru", "Sawah Baru", True),
        ("cirendeu", "Cireundeu", True),
        ("kel. pondok aren", "Pondok Aren", True),
        ("pondok cabe udk", "Pondok Cabe Udik", False),
        ("serua indh", "Serua Indah", False),
        ("benda", "Benda Baru", False),
    ],
)
def test_match_kelurahan_best(places: Places, text: str, best: str, exact: bool) -> None:
    match = places.match_kelurahan(text)
    assert match.best is not None
    assert match.best.name == best
    assert match.candidates[0] == match.best
    assert match.exact is exact


@pytest.mark.parametrize(
    ("text", "candidates"),
    [
        ("jurang mangu", ["Jurangmangu Barat", "Jurangmangu Timur"]),
        ("jurangmanggu", ["Jurangmangu Barat", "Jurangmangu Timur"]),
        ("pondok cabe", ["Pondok Cabe Udik", "Pondok Cabe Ilir"]),
        ("pondok kacang", ["Pondok Kacang Barat", "Pondok Kacang Timur"]),
        (
            "lengkong",
            ["Lengkong Gudang", "Lengkong Wetan", "Lengkong Gudang Timur", "Lengkong Karya"],
        ),
    ],
)
def test_match_kelurahan_ambiguous(places: Places, text: str, candidates: list[str]) -> None:
    match = places.match_kelurahan(text)
    assert match.best is None
    assert not match.exact
    assert _names(match) == candidates


def test_match_kelurahan_candidates_are_capped(places: Places) -> None:
    match = places.match_kelurahan("pondok")
    assert match.best is None
    assert 2 <= len(match.candidates) <= 8
    assert all(v.name.startswith("Pondok") for v in match.candidates)


def test_perigi_prefers_parigi_over_parigi_baru(places: Places) -> None:
    match = places.match_kelurahan("perigi")
    assert match.best is not None
    assert match.best.code == "36.74.03.1008"
    assert "Parigi Baru" not in _names(match)[:1]


def test_pondok_aren_kelurahan_within_its_kecamatan(places: Places) -> None:
    match = places.match_kelurahan("pondok aren", kecamatan_code=PONDOK_AREN)
    assert match.best == places.kelurahan_by_code("36.74.03.1005")
    assert match.exact


def test_kecamatan_narrows_ambiguity(places: Places) -> None:
    match = places.match_kelurahan("pondok cabe", kecamatan_code=PAMULANG)
    assert match.best is None
    assert _names(match) == ["Pondok Cabe Udik", "Pondok Cabe Ilir"]


@pytest.mark.parametrize(
    ("text", "kecamatan_code", "best", "best_kecamatan"),
    [
        ("ciater", PAMULANG, "Ciater", SERPONG),
        ("parigi", PAMULANG, "Parigi", PONDOK_AREN),
        ("pondok jagung", PONDOK_AREN, "Pondok Jagung", "36.74.02"),
        ("sawah", "36.74.99", "Sawah", CIPUTAT),  # unknown kecamatan code searches all
    ],
)
def test_match_kelurahan_falls_back_to_all_kecamatan(
    places: Places, text: str, kecamatan_code: str, best: str, best_kecamatan: str
) -> None:
    match = places.match_kelurahan(text, kecamatan_code=kecamatan_code)
    assert match.best is not None
    assert match.best.name == best
    assert match.best.kecamatan.code == best_kecamatan
    # Found outside the chosen kecamatan: the flow must confirm, so never exact there.
    assert match.exact is (best_kecamatan == kecamatan_code or kecamatan_code == "36.74.99")


def test_match_kelurahan_same_kecamatan_hit_is_exact(places: Places) -> None:
    match = places.match_kelurahan("ciater", kecamatan_code=SERPONG)
    assert match.best is not None
    assert match.best.name == "Ciater"
    assert match.exact


JUNK = [
    "",
    "   ",
    "xyz",
    "qwerty asdf",
    "a",
    "🙏",
    "🙏🙏",
    "\x00\x07",
    "'; DROP TABLE persons; --",
    "12345",
    "kelurahan",
    "a" * 5000,
    "🙏" * 5000,
]


@pytest.mark.parametrize("text", JUNK)
def test_junk_matches_nothing(places: Places, text: str) -> None:
    for match in (
        places.match_kecamatan(text),
        places.match_kelurahan(text),
        places.match_kelurahan(text, kecamatan_code=PONDOK_AREN),
    ):
        assert match == PlaceMatch(None, (), False)


def test_long_input_is_fast(places: Places) -> None:
    texts = ["pondok aren " * 500, "x" * 5000, "jurang mangu timur " * 300]
    start = time.perf_counter()
    for text in texts:
        places.match_kecamatan(text)
        places.match_kelurahan(text)
        places.match_kelurahan(text, kecamatan_code=PAMULANG)
    assert time.perf_counter() - start < 0.5


def test_every_name_matches_itself_exactly(places: Places) -> None:
    for district in places.kecamatan:
        match = places.match_kecamatan(district.name.upper())
        assert (match.best, match.exact) == (district, True)
        for village in places.kelurahan_of(district.code):
            found = places.match_kelurahan(village.name.lower(), kecamatan_code=district.code)
            assert (found.best, found.exact) == (village, True)
            assert places.match_kelurahan(village.name).best == village
