"""Where a shared location falls: the kelurahan boundaries of Tangsel, and their outline for maps.

The boundaries (GeoJSON, lon/lat, one feature per kelurahan with its Kemendagri code) are read once,
repaired where the simplified source has self-intersections, and put in an STRtree, so a lookup is a
tree query plus one or two exact point-in-polygon tests. The source was simplified per kelurahan, so
neighbours overlap in thin slivers and leave thin gaps along shared borders: a point in an overlap
goes to the area it lies deepest inside, and a point in a gap goes to the nearest area within
`GAP_TOLERANCE_DEG` (about 60 m); anything farther is outside the city.

The same geometry gives the maps on the dashboard: each area as an SVG path in a fixed view box (an
equirectangular projection, fine at the scale of one city) with a label point inside it.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from math import cos, radians
from pathlib import Path

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import polylabel

from handlers.places import Kelurahan, Places

__all__ = ["Area", "Boundaries", "MapShape"]

GAP_TOLERANCE_DEG = 0.0006
# The map's width in SVG units; the height follows from the city's shape.
MAP_WIDTH = 1000.0
MAP_MARGIN = 8.0
# Outline simplification for drawing, in SVG units (half a pixel at full width).
DRAW_TOLERANCE = 0.5


@dataclass(frozen=True, slots=True)
class MapShape:
    """One kelurahan as drawn: its SVG path and where its label goes (SVG units)."""

    path: str
    label_x: float
    label_y: float


@dataclass(frozen=True, slots=True)
class Area:
    """A kelurahan with its boundary."""

    kelurahan: Kelurahan
    geometry: BaseGeometry
    shape: MapShape


def _default_geojson() -> str:
    return resources.files("handlers").joinpath("data", "tangsel-kelurahan.geojson").read_text("utf-8")


def _polygons(geometry: BaseGeometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry]
    if isinstance(geometry, MultiPolygon):
        return list(geometry.geoms)
    # make_valid may return a collection with stray lines or points: keep the areas only.
    return [part for g in getattr(geometry, "geoms", []) for part in _polygons(g)]


class _Projection:
    """lon/lat to SVG units: x east, y south, one scale for both after shrinking longitude."""

    def __init__(self, bounds: tuple[float, float, float, float]) -> None:
        west, south, east, north = bounds
        self.west, self.north = west, north
        self.x_factor = cos(radians((south + north) / 2))
        self.scale = (MAP_WIDTH - 2 * MAP_MARGIN) / ((east - west) * self.x_factor)
        self.height = (north - south) * self.scale + 2 * MAP_MARGIN

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (
            MAP_MARGIN + (lon - self.west) * self.x_factor * self.scale,
            MAP_MARGIN + (self.north - lat) * self.scale,
        )

    def geometry(self, geometry: BaseGeometry) -> BaseGeometry:
        return shapely.transform(
            geometry,
            lambda coords: (
                (coords - [self.west, self.north]) * [self.x_factor * self.scale, -self.scale] + MAP_MARGIN
            ),
        )


def _ring(coords: Iterable[tuple[float, ...]]) -> str:
    points = list(coords)
    head = "M{:.1f} {:.1f}".format(*points[0])
    return head + "".join("L{:.1f} {:.1f}".format(*p) for p in points[1:-1]) + "Z"


def _svg_path(geometry: BaseGeometry) -> str:
    parts: list[str] = []
    for polygon in _polygons(geometry):
        parts.append(_ring(polygon.exterior.coords))
        parts.extend(_ring(hole.coords) for hole in polygon.interiors)
    return "".join(parts)


class Boundaries:
    """The 54 kelurahan boundaries, loaded once: lookups of points, and shapes for maps."""

    __slots__ = ("_by_code", "_geometries", "_tree", "areas", "height", "projection", "width")

    def __init__(self, areas: list[tuple[Kelurahan, BaseGeometry]]) -> None:
        geometries = [geometry for _, geometry in areas]
        for geometry in geometries:
            shapely.prepare(geometry)
        self._geometries = geometries
        self._tree = shapely.STRtree(geometries)
        bounds = shapely.total_bounds(geometries)
        self.projection = _Projection((bounds[0], bounds[1], bounds[2], bounds[3]))
        self.width = MAP_WIDTH
        self.height = round(self.projection.height, 1)
        built: list[Area] = []
        for kelurahan, geometry in areas:
            drawn = self.projection.geometry(geometry).simplify(DRAW_TOLERANCE, preserve_topology=True)
            largest = max(_polygons(drawn), key=lambda p: p.area)
            label = polylabel(largest, tolerance=1.0)
            built.append(
                Area(kelurahan, geometry, MapShape(_svg_path(drawn), round(label.x, 1), round(label.y, 1)))
            )
        self.areas: tuple[Area, ...] = tuple(built)
        self._by_code = {area.kelurahan.code: area for area in built}

    @classmethod
    def load(cls, places: Places, path: Path | None = None) -> "Boundaries":
        """Read a GeoJSON FeatureCollection whose features carry `properties.kode` (default: packaged)."""
        text = path.read_text("utf-8") if path is not None else _default_geojson()
        areas: list[tuple[Kelurahan, BaseGeometry]] = []
        for feature in json.loads(text)["features"]:
            kelurahan = places.kelurahan_by_code(feature["properties"]["kode"])
            geometry = shape(feature["geometry"])
            if not geometry.is_valid:
                geometry = MultiPolygon(_polygons(shapely.make_valid(geometry)))
            areas.append((kelurahan, geometry))
        areas.sort(key=lambda pair: pair[0].code)
        return cls(areas)

    @staticmethod
    @cache
    def shared() -> "Boundaries":
        """The packaged boundaries, loaded on first use and kept for the life of the process."""
        return Boundaries.load(Places.load())

    def area(self, code: str) -> Area:
        """The area of a kelurahan code; KeyError if unknown."""
        return self._by_code[code]

    def locate(self, latitude: float, longitude: float) -> Kelurahan | None:
        """The kelurahan a point falls in, or None outside the city (or for a point that is no place)."""
        if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
            return None
        point = Point(longitude, latitude)
        hits = self._tree.query(point, predicate="intersects")
        if len(hits) == 1:
            return self.areas[int(hits[0])].kelurahan
        if len(hits) > 1:  # an overlap sliver or a vertex two areas share: the one it is deepest in
            deepest = max(
                (int(i) for i in hits),
                key=lambda i: (self._geometries[i].boundary.distance(point), -i),
            )
            return self.areas[deepest].kelurahan
        nearest = self._tree.query_nearest(point, max_distance=GAP_TOLERANCE_DEG, all_matches=False)
        return self.areas[int(nearest[0])].kelurahan if len(nearest) else None

    def project(self, latitude: float, longitude: float) -> tuple[float, float]:
        """A point's position on the map, in SVG units."""
        x, y = self.projection.xy(longitude, latitude)
        return round(x, 1), round(y, 1)
