"""The ego's route (scenarios.Route) on highway-env's lane graph: where along it the ego is, and
the lanes it drives into next.

Progress is the arc length along the route's lane centres that the ego has gained: its position
is projected on the route lane by lane (a corridor as wide as the lanes of each road, so that
overtaking or changing lanes still counts), and only the furthest point reached counts. Driving
backwards, off the route or in circles therefore earns nothing; on a loop (racetrack) the
position goes on growing lap after lap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEARCH_AHEAD = 2  # route lanes past the current one a position may jump to in one update
END_MARGIN = 1.0  # [m] a position this far beyond a lane's ends still projects onto it
START_BESIDE = 50.0  # [m] how far beside its route's first lane an ego may start (lanes away from an exact route)


@dataclass(frozen=True)
class Segment:
    lane: object  # the highway-env lane the route follows here
    start: float  # [m] arc length of the route at this lane's start
    lateral: tuple[float, float]  # [m] the corridor: lateral offsets counted as on the route


class RouteTracker:
    """The ego's arc-length position s [m] along a route, from one update to the next.

    network: highway-env's RoadNetwork; route: scenarios.Route; position: the ego's start (x, y)."""

    def __init__(self, network, route, position) -> None:
        self.route = route
        self.segments: list[Segment] = []
        start = 0.0
        for i, index in enumerate(route.lanes):
            try:
                lane = network.get_lane(tuple(index))
            except (KeyError, IndexError):
                raise ValueError(f"route lane {tuple(index)} is not in the road network") from None
            only = route.exact_from is not None and i >= route.exact_from
            self.segments.append(Segment(lane, start, _corridor(network, index, lane, only)))
            start += lane.length
        self.length = start  # [m] one pass (one lap on a loop)
        self._index = 0  # absolute segment index: lap * len(segments) + i
        located = self._locate(position, range(len(self.segments)))
        if located is None:  # beside an exact route (the exit: the ego starts lanes away from it)
            located = self._beside_first_lane(position)
        self.start = located
        self.furthest = located  # [m] the furthest position reached on the route

    @property
    def goal(self) -> float | None:
        """[m] arc length of the goal, or None on an open road."""
        return None if self.route.goal is None else self.segments[-1].start + self.route.goal

    @property
    def gained(self) -> float:
        """[m] distance gained along the route since the start."""
        return self.furthest - self.start

    @property
    def reached_goal(self) -> bool:
        return self.goal is not None and self.furthest >= self.goal

    def _beside_first_lane(self, position) -> float:
        """The start of an ego that begins beside the route: its projection on the first lane. It
        gains progress only once it is on the route (the furthest point then reached counts)."""
        lane = self.segments[0].lane
        longitudinal, lateral = lane.local_coordinates(np.asarray(position, dtype=float))
        if not (-END_MARGIN <= longitudinal <= lane.length + END_MARGIN and abs(lateral) <= START_BESIDE):
            raise ValueError(f"the ego starts off its route {self.route.lanes[0]}...: the catalog's route is wrong")
        return float(np.clip(longitudinal, 0.0, lane.length))

    def update(self, position) -> float | None:
        """The ego's position s [m] on the route, or None when it is off it."""
        near = range(self._index - 1, self._index + SEARCH_AHEAD + 1)
        s = self._locate(position, near)
        if s is not None:
            self.furthest = max(self.furthest, s)
        return s

    def _locate(self, position, candidates) -> float | None:
        n = len(self.segments)
        best = None  # (distance from the last position, s, index)
        last = getattr(self, "furthest", None)
        for index in candidates:
            if index < 0 or (not self.route.loop and index >= n):
                continue
            segment = self.segments[index % n]
            longitudinal, lateral = segment.lane.local_coordinates(np.asarray(position, dtype=float))
            low, high = segment.lateral
            if not (-END_MARGIN <= longitudinal <= segment.lane.length + END_MARGIN and low <= lateral <= high):
                continue
            s = (index // n) * self.length + segment.start + float(np.clip(longitudinal, 0.0, segment.lane.length))
            # Where lanes overlap (a roundabout's entry and ring, crossing turns) the position nearest
            # the last one is the ego's: routes do not jump.
            key = abs(s - last) if last is not None else index
            if best is None or key < best[0]:
                best = (key, s, index)
        if best is None:
            return None
        self._index = best[2]
        return best[1]

    def lanes_ahead(self, network, lane_index, horizon: float) -> list:
        """The ego's path: its own lane, then the lanes it drives into, following the route where
        it continues from that lane, up to `horizon` metres of lane [highway-env lanes]."""
        path = [network.get_lane(lane_index)]
        index, length = tuple(lane_index), path[0].length
        roads = [tuple(lane[:2]) for lane in self.route.lanes]
        for _ in range(8):  # a bound: lanes are longer than the horizon
            if length >= horizon:
                break
            following = [(index[1], road[1], None) for road in roads if road[0] == index[1]]
            lane = path[-1]
            nxt = network.next_lane(index, route=following[:1] or None, position=lane.position(lane.length, 0))
            if nxt is None or tuple(nxt) == index:
                break
            index = tuple(nxt)
            path.append(network.get_lane(index))
            length += path[-1].length
        return path


def _corridor(network, index, lane, only: bool) -> tuple[float, float]:
    """[m] lateral offsets (low, high) of the road's lanes around `lane`, each with its half width."""
    half = lane.width_at(0) / 2
    if only:
        return (-half, half)
    offsets = []
    for other in network.graph[index[0]][index[1]]:
        _, lateral = lane.local_coordinates(other.position(other.length / 2, 0))
        offsets.append(lateral)
    return (min(offsets) - half, max(offsets) + half)
