"""Where a shared location falls: kelurahan boundaries (handlers.geo)."""

import json
from importlib import resources

import pytest
from shapely.geometry import Point, Polygon

from handlers.geo import Boundaries
from handlers.places import Places

JURANGMANGU_BARAT = "36.74.03.1010"
JURANGMANGU_TIMUR = "36.74.03.1011"
CIPUTAT = "36.74.04.1003"


@pytest.fixture(scope="module")
def boundaries() -> Boundaries:
    return Boundaries.shared()


def _centres() -> dict[str, tuple[float, float, str]]:
    text = resources.files("handlers").joinpath("data", "tangsel-kelurahan.geojson").read_text("utf-8")
    return {
        f["properties"]["kode"]: (f["properties"]["lat"], f["properties"]["lng"], f["properties"]["nama"])
        for f in json.loads(text)["features"]
    }


def test_loaded_once_with_every_kelurahan(boundaries: Boundaries) -> None:
    assert Boundaries.shared() is boundaries
    assert len(boundaries.areas) == 54
    assert {a.kelurahan.code for a in boundaries.areas} == {
        v.code for k in Places.load().kecamatan for v in Places.load().kelurahan_of(k.code)
    }


# Centre points from the data file (label positions): several kelurahan in every kecamatan.
CENTRE_CASES = [
    ("36.74.01.1001", "Ciater"),
    ("36.74.01.1009", "Serpong"),
    ("36.74.02.1001", "Pakulonan"),
    ("36.74.03.1001", "Pondok Betung"),
    (JURANGMANGU_TIMUR, "Jurangmangu Timur"),
    ("36.74.04.1007", "Cipayung"),
    ("36.74.05.1005", "Rempoa"),
    ("36.74.06.1001", "Pamulang Barat"),
    ("36.74.07.1002", "Setu"),
]


@pytest.mark.parametrize(("code", "name"), CENTRE_CASES)
def test_centre_points_fall_in_their_kelurahan(boundaries: Boundaries, code: str, name: str) -> None:
    lat, lon, data_name = _centres()[code]
    assert data_name.replace(" ", "") == name.replace(" ", "")
    found = boundaries.locate(lat, lon)
    assert found is not None
    assert (found.code, found.name) == (code, name)
    assert found.kecamatan.code == code.rsplit(".", 1)[0]


def test_every_centre_inside_its_own_area_except_ciputat(boundaries: Boundaries) -> None:
    """The data says Ciputat's label point lies outside its boundary: that point is elsewhere."""
    wrong = {
        code
        for code, (lat, lon, _) in _centres().items()
        if (found := boundaries.locate(lat, lon)) is None or found.code != code
    }
    assert wrong == {CIPUTAT}
    lat, lon, _ = _centres()[CIPUTAT]
    found = boundaries.locate(lat, lon)
    assert found is not None and found.code != CIPUTAT


def test_a_point_deep_inside_ciputat(boundaries: Boundaries) -> None:
    inside = boundaries.area(CIPUTAT).geometry.representative_point()
    found = boundaries.locate(inside.y, inside.x)
    assert found is not None and found.code == CIPUTAT


def _border_point(boundaries: Boundaries, a: str, b: str) -> Point:
    """A vertex of one area's outline that lies on the other's outline (within a metre)."""
    first, second = boundaries.area(a).geometry, boundaries.area(b).geometry
    assert isinstance(first, Polygon)
    for x, y in list(first.exterior.coords)[1:]:
        point = Point(x, y)
        if second.boundary.distance(point) < 0.00001:
            return point
    raise AssertionError("no shared vertex")


def test_a_point_on_a_shared_border_belongs_to_one_of_the_two(boundaries: Boundaries) -> None:
    point = _border_point(boundaries, JURANGMANGU_BARAT, JURANGMANGU_TIMUR)
    found = boundaries.locate(point.y, point.x)
    assert found is not None and found.code in {JURANGMANGU_BARAT, JURANGMANGU_TIMUR}
    # Always the same answer for the same point.
    assert all(boundaries.locate(point.y, point.x) == found for _ in range(5))


def test_a_point_in_a_sliver_gap_between_neighbours_is_not_outside(boundaries: Boundaries) -> None:
    """The simplified outlines leave thin gaps along borders; a point there is still in the city."""
    union = boundaries.area(JURANGMANGU_BARAT).geometry.union(boundaries.area(JURANGMANGU_TIMUR).geometry)
    gaps = [hole for poly in getattr(union, "geoms", [union]) for hole in poly.interiors]
    assert gaps, "the data has gaps between these two neighbours"
    inside_gap = Polygon(gaps[0]).representative_point()
    found = boundaries.locate(inside_gap.y, inside_gap.x)
    assert found is not None and found.code in {JURANGMANGU_BARAT, JURANGMANGU_TIMUR}


@pytest.mark.parametrize(
    ("lat", "lon", "where"),
    [
        (-6.2000, 106.8450, "central Jakarta"),
        (-6.1783, 106.6319, "Kota Tangerang (Bandara road)"),
        (-6.4025, 106.7942, "Depok"),
        (-6.5950, 106.8060, "Bogor"),
        (-5.9500, 106.7500, "the Java Sea, north of Jakarta"),
        (-6.9000, 106.3000, "the Indian Ocean side of Banten"),
        (0.0, 0.0, "null island, a phone with no fix"),
        (95.0, 106.7, "not a latitude"),
    ],
)
def test_outside_the_city(boundaries: Boundaries, lat: float, lon: float, where: str) -> None:
    assert boundaries.locate(lat, lon) is None, where


def test_map_shapes_fit_the_view_box(boundaries: Boundaries) -> None:
    for area in boundaries.areas:
        assert area.shape.path.startswith("M") and area.shape.path.endswith("Z")
        assert 0 < area.shape.label_x < boundaries.width
        assert 0 < area.shape.label_y < boundaries.height
        # The label point is inside the area it names (not at Ciputat's outside centre).
        lon = boundaries.projection.west + (area.shape.label_x - 8) / (
            boundaries.projection.x_factor * boundaries.projection.scale
        )
        lat = boundaries.projection.north - (area.shape.label_y - 8) / boundaries.projection.scale
        found = boundaries.locate(lat, lon)
        assert found is not None and found.code == area.kelurahan.code, area.kelurahan.name
