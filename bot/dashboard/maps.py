"""The dashboard's maps, drawn on the server as SVG from the kelurahan boundaries (no tiles, no other site).

- The summary map: each kelurahan coloured by its number of open cases (or of the status chosen), with
  the number written on it so that it reads printed in black and white; filters by kind, status, dates
  and by a broadcast segment (the people a segment reaches, or the segment of a past broadcast).
  Clicking an area opens the queue filtered to it. Staff who act (petugas, admin) may add the cases'
  shared locations as points; viewers only ever get the counts per kelurahan.
- The case page's small map: the case's kelurahan among its neighbours, and the shared location as a
  point for staff who act.
- The picker in segment forms (broadcasts, programme invitations): clicking areas chooses kelurahan.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from markupsafe import Markup, escape

from bot.dashboard.app import Ctx, Dashboard
from bot.dashboard.queries import OPEN, OPEN_STATUSES, day_start, parse_day
from handlers.geo import Boundaries
from handlers.segments import Segment, segment_where
from storage import dashboard as reads
from storage.records import CaseKind, CaseRecord, CaseStatus

if TYPE_CHECKING:
    from collections.abc import Mapping

ANY_STATUS = "all"
BUCKETS = 5
# Points drawn on the summary map at most (the newest located cases of the filter).
POINTS_LIMIT = 2000
# The case page's map shows the case's kelurahan with this much of its surroundings (in its own sizes).
CASE_MAP_PADDING = 0.9
RECENT_BROADCASTS = 20


@dataclass(frozen=True, slots=True)
class MapFilter:
    """What the summary map counts: unknown values are dropped, points only for staff who act."""

    kind: str = ""
    status: str = OPEN
    date_from: str = ""
    date_to: str = ""
    points: bool = False
    broadcast: int | None = None

    @classmethod
    def from_query(cls, params: "Mapping[str, str]", *, may_see_points: bool) -> "MapFilter":
        def get(name: str) -> str:
            return str(params.get(name, "")).strip()[:100]

        status = get("status") or OPEN
        broadcast = get("seg_broadcast")
        return cls(
            kind=get("kind") if get("kind") in set(CaseKind) else "",
            status=status if status in {OPEN, ANY_STATUS, *CaseStatus} else OPEN,
            date_from=get("date_from") if parse_day(get("date_from")) else "",
            date_to=get("date_to") if parse_day(get("date_to")) else "",
            points=may_see_points and get("points") == "1",
            broadcast=int(broadcast) if broadcast.isdigit() else None,
        )

    def query(self, dashboard: Dashboard, segment: Segment | None) -> reads.MapQuery:
        """What the store counts for this filter (the cases of the segment's contacts, when given)."""
        start, end = parse_day(self.date_from), parse_day(self.date_to)
        if self.status == OPEN:
            statuses: tuple[str, ...] = OPEN_STATUSES
        else:
            statuses = () if self.status == ANY_STATUS else (self.status,)
        return reads.MapQuery(
            statuses=statuses,
            kind=self.kind or None,
            created_from=day_start(start, dashboard.tz) if start else None,
            created_before=day_start(end + timedelta(days=1), dashboard.tz) if end else None,
            segment=segment_where(segment, dashboard.tz) if segment is not None else None,
        )

    def queue_link(self, code: str) -> str:
        """The queue filtered to a kelurahan and to what the map shows (as far as the queue filters)."""
        pairs = [("kelurahan", code), ("kind", self.kind), ("date_from", self.date_from)]
        pairs += [("date_to", self.date_to)]
        if self.status != ANY_STATUS:
            pairs.append(("status", self.status))
        return "/cases?" + urlencode([(k, v) for k, v in pairs if v])


def bucket_edges(highest: int) -> list[int]:
    """Upper bounds of the colour classes 1..BUCKETS for counts up to `highest` (0 is its own class).

    Equal steps of the highest count, so the busiest kelurahan is always the darkest; with fewer than
    BUCKETS distinct counts some lighter classes stay unused.
    """
    return [highest * step // BUCKETS for step in range(1, BUCKETS + 1)]


def bucket_of(count: int, edges: list[int]) -> int:
    """The colour class of a count: 0 for none, else the first class whose upper bound holds it."""
    if count <= 0:
        return 0
    return next((index + 1 for index, edge in enumerate(edges) if count <= edge), BUCKETS)


def legend(edges: list[int]) -> list[tuple[int, str]]:
    """The classes in use with their ranges ("0", "1", "2-4", ...)."""
    rows = [(0, "0")]
    low = 1
    for index, edge in enumerate(edges):
        if edge >= low:
            rows.append((index + 1, str(low) if edge == low else f"{low}–{edge}"))
            low = edge + 1
    return rows


@dataclass(frozen=True, slots=True)
class MapArea:
    """One kelurahan on the summary map."""

    code: str
    name: str
    kecamatan: str
    path: str
    label_x: float
    label_y: float
    count: int
    bucket: int
    href: str
    info: str


async def _segment(ctx: Ctx, flt: MapFilter) -> tuple[Segment | None, str | None]:
    """The segment chosen on the summary page (a past broadcast's, or the seg_* fields) and its words."""
    from bot.dashboard.outreach import segment_from, segment_words

    if flt.broadcast is not None:
        stored = await reads.broadcast_segment(ctx.d.db, flt.broadcast)
        if stored is not None:
            segment = Segment.model_validate(stored)
            return segment, segment_words(ctx, segment)
    segment = segment_from(ctx, from_form=False)
    if not segment.has_filters():
        return None, None
    return segment, segment_words(ctx, segment)


async def recent_broadcasts(ctx: Ctx) -> list[tuple[int, str]]:
    """The newest broadcasts with what their segments select, to filter the map by one of them."""
    from bot.dashboard.outreach import segment_words

    found = await reads.recent_broadcast_segments(ctx.d.db, limit=RECENT_BROADCASTS)
    return [(number, segment_words(ctx, Segment.model_validate(segment))) for number, segment in found]


def segment_form(ctx: Ctx) -> dict[str, Any]:
    """The values the summary page's segment fields are filled in with (from its query string)."""
    from bot.dashboard.cases import SKILLS

    params = ctx.request.query_params
    values = {key: [v for v in params.getlist(key) if v] for key in params if key.startswith("seg_")}
    return {"segment_values": values, "places": ctx.d.places, "skills": SKILLS}


def _status_words(ctx: Ctx, by_status: dict[str, int]) -> str:
    return " · ".join(
        f"{ctx.msg('status.' + status)} {count}" for status, count in by_status.items() if count
    )


async def summary_map(ctx: Ctx) -> dict[str, Any]:
    """Everything the summary page's map needs: areas with counts, legend, points, the filter."""
    d = ctx.d
    boundaries: Boundaries = d.service.services.boundaries
    can_see_points = ctx.session is not None and ctx.user.can_act
    flt = MapFilter.from_query(ctx.request.query_params, may_see_points=can_see_points)
    segment, segment_text = await _segment(ctx, flt)
    query = flt.query(d, segment)
    counts = await reads.map_counts(d.db, query)
    totals = {code: sum(by.values()) for code, by in counts.items()}
    edges = bucket_edges(max([n for code, n in totals.items() if code] + [0]))
    areas: list[MapArea] = []
    for area in boundaries.areas:
        village = area.kelurahan
        count = totals.get(village.code, 0)
        by_status = {str(s): counts.get(village.code, {}).get(str(s), 0) for s in CaseStatus}
        info = ctx.msg("map.info", name=village.name, kecamatan=village.kecamatan.name, count=count)
        if count:
            info += " — " + _status_words(ctx, by_status)
        areas.append(
            MapArea(
                code=village.code,
                name=village.name,
                kecamatan=village.kecamatan.name,
                path=area.shape.path,
                label_x=area.shape.label_x,
                label_y=area.shape.label_y,
                count=count,
                bucket=bucket_of(count, edges),
                href=flt.queue_link(village.code),
                info=info,
            )
        )
    points: list[str] = []
    if flt.points:
        project = boundaries.projection.xy
        for found in await reads.map_points(d.db, query, limit=POINTS_LIMIT):
            # Up to 2,000 points: their markup is written here at once (escaped), not element by element
            # in the template, which took most of the page's time.
            x, y = project(found.longitude, found.latitude)
            reference = escape(found.reference)
            points.append(
                f'<a href="/cases/{reference}"><circle cx="{x:.1f}" cy="{y:.1f}" r="4">'
                f"<title>{reference}</title></circle></a>"
            )
    return {
        "filter": flt,
        "areas": areas,
        "legend": legend(edges),
        "unplaced": totals.get(None, 0),
        "total": sum(totals.values()),
        "width": boundaries.width,
        "height": boundaries.height,
        "points": Markup("".join(points)),  # noqa: S704 - references escaped above, numbers formatted
        "points_count": len(points),
        "points_capped": len(points) >= POINTS_LIMIT,
        "can_see_points": can_see_points,
        "segment_words": segment_text,
        "broadcasts": await recent_broadcasts(ctx) if ctx.session is not None else [],
        "statuses": list(CaseStatus),
        "kinds": list(CaseKind),
    }


def case_map(dashboard: Dashboard, case: CaseRecord, *, show_point: bool) -> dict[str, Any] | None:
    """The case page's small map: its kelurahan and neighbours; the shared point only for staff who act."""
    boundaries: Boundaries = dashboard.service.services.boundaries
    point = None
    if show_point and case.latitude is not None and case.longitude is not None:
        x, y = boundaries.project(case.latitude, case.longitude)
        point = {"x": x, "y": y}
    code = case.kelurahan_code
    if code is None and point is None:
        return None
    try:
        focus = boundaries.area(code) if code else None
    except KeyError:
        focus = None
    if focus is not None:
        geometry = boundaries.projection.geometry(focus.geometry)
        left, top, right, bottom = geometry.bounds
    elif point is not None:
        left, top, right, bottom = point["x"] - 20, point["y"] - 20, point["x"] + 20, point["y"] + 20
    else:
        return None
    if point is not None:  # a point outside its kelurahan (or outside the city) stays in view
        left, top = min(left, point["x"]), min(top, point["y"])
        right, bottom = max(right, point["x"]), max(bottom, point["y"])
    pad = max(right - left, bottom - top) * CASE_MAP_PADDING
    size = max(right - left, bottom - top) + 2 * pad
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    return {
        "view_box": f"{centre_x - size / 2:.1f} {centre_y - size / 2:.1f} {size:.1f} {size:.1f}",
        "areas": [
            {"code": a.kelurahan.code, "name": a.kelurahan.name, "path": a.shape.path}
            for a in boundaries.areas
        ],
        "focus": focus.kelurahan.code if focus is not None else None,
        "point": point,
        "radius": round(size / 45, 1),
    }
