"""Benchmark: point-in-kelurahan lookups (handlers.geo.Boundaries.locate).

    python bench/geo.py [--points 20000]

Loads the packaged boundaries once (prints the time), then looks up random points over a box a little
larger than Tangsel (so about a third fall outside, some in the thin gaps along borders) and the
centre point of every kelurahan, one call at a time, and prints p50, p99 and max per lookup (target
p99 <= 1 ms).
"""

import argparse
import random
import statistics
import time

from handlers.geo import Boundaries


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=20_000)
    args = parser.parse_args()
    started = time.perf_counter()
    boundaries = Boundaries.shared()
    elapsed = (time.perf_counter() - started) * 1000
    print(f"boundaries loaded (54 kelurahan, tree and map shapes) in {elapsed:.0f} ms")
    rng = random.Random(16)
    west, south, east, north = -0.02 + 106.636, -0.02 - 6.363, 0.02 + 106.780, 0.02 - 6.229
    points = [(rng.uniform(south, north), rng.uniform(west, east)) for _ in range(args.points)]
    points += [
        (a.geometry.representative_point().y, a.geometry.representative_point().x) for a in boundaries.areas
    ]
    times: list[float] = []
    outside = 0
    for lat, lon in points:
        start = time.perf_counter()
        found = boundaries.locate(lat, lon)
        times.append((time.perf_counter() - start) * 1000)
        outside += found is None
    times.sort()
    p99 = times[int(len(times) * 0.99)]
    print(
        f"{len(points):,} lookups ({outside:,} outside the city): "
        f"p50 {statistics.median(times) * 1000:.0f} us, "
        f"p99 {p99 * 1000:.0f} us, max {times[-1] * 1000:.0f} us (target p99 <= 1 ms)"
    )


if __name__ == "__main__":
    main()
