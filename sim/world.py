"""The WorldState: one snapshot of the simulation held as arrays, read from highway-env.

Everything drawn or measured downstream of the engine can read it instead of highway-env
objects (the camera and the truth array do; a second engine only has to produce it):

    WorldState.vehicles  (N, len(VEHICLE_FIELDS)) float32, row 0 the ego
    WorldState.objects   (M, len(OBJECT_FIELDS)) float32: static obstacles
    WorldState.road      RoadGeometry: lane markings as segments, lane centres as polylines
    WorldState.route     (P, 2) float32 [m]: the ego's route to its goal; (0, 2) on open roads

Coordinates are highway-env's world frame: x, y [m] (y is "down" on highway-env's screen, so a
heading [rad] turns from +x towards +y) and speeds [m/s].

`WorldRecorder` (a wrapper) reads one at every simulation substep, not only at policy steps,
so the instants between decisions (a camera's frames dt apart) are there too.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from highway_env.road.lane import LineType, StraightLane

VEHICLE_FIELDS = ("x", "y", "heading", "speed", "vx", "vy", "length", "width", "crashed", "on_road", "lane")
OBJECT_FIELDS = ("x", "y", "heading", "length", "width")
V = {name: i for i, name in enumerate(VEHICLE_FIELDS)}  # column of each vehicle field
STRIPE_SPACING, STRIPE_LENGTH = 4.33, 3.0  # [m] highway-env's dashes (road/graphics.py LaneGraphics)
CURVE_STEP = STRIPE_SPACING  # [m] chord length of curved lines and centres: highway-env draws curves with these chords
ROUTE_STEP = 2.0  # [m] spacing of the route polyline's points
HISTORY = 64  # substeps kept: enough for any frame stack (e.g. 4 frames 1 s apart at 15 Hz)


def _equal_arrays(a, b) -> bool:
    """Field-by-field equality of two array dataclasses (gymnasium's check_env compares infos)."""
    if type(a) is not type(b):
        return NotImplemented
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, tuple) and x and isinstance(x[0], np.ndarray):
            same = len(x) == len(y) and all(np.array_equal(i, j) for i, j in zip(x, y, strict=False))
        elif isinstance(x, np.ndarray):
            same = np.array_equal(x, y)
        else:
            same = x == y
        if not same:
            return False
    return True


@dataclass(frozen=True, eq=False)
class RoadGeometry:
    """The static road of an episode [m]: what a camera draws and what lane labels refer to."""

    segments: np.ndarray  # (S, 2, 2) float32: every lane marking as straight pieces (start, end) (x, y)
    centres: tuple[np.ndarray, ...]  # per lane, its centre line (P, 2) float32
    lane_ids: tuple[tuple, ...]  # highway-env lane index (from, to, id) of each lane, as in `centres`
    widths: np.ndarray  # (L,) float32 [m] lane widths (at the lane's start)

    __eq__ = _equal_arrays


@dataclass(frozen=True, eq=False)
class WorldState:
    time: float  # [s] since the episode's reset
    vehicles: np.ndarray  # (N, len(VEHICLE_FIELDS)) float32; row 0 the ego; lane = index into road.lane_ids, -1 if none
    objects: np.ndarray  # (M, len(OBJECT_FIELDS)) float32
    road: RoadGeometry
    route: np.ndarray  # (P, 2) float32 [m] the ego's route polyline, (0, 2) on open roads

    __eq__ = _equal_arrays

    @property
    def ego(self) -> np.ndarray:
        return self.vehicles[0]


def _lane_points(lane, longitudinal: np.ndarray, lateral: np.ndarray) -> np.ndarray:
    """(P, 2) world points of a highway-env lane at arc lengths and lateral offsets [m]."""
    if isinstance(lane, StraightLane):  # vectorised: most lanes, and the 10 km highway ones
        return (lane.start + longitudinal[:, None] * lane.direction + lateral[:, None] * lane.direction_lateral)
    return np.array([lane.position(s, d) for s, d in zip(longitudinal, lateral, strict=True)])


def _stations(lane, step: float) -> np.ndarray:
    """Arc lengths [m] along a lane: its two ends if straight, else chords of `step`."""
    if isinstance(lane, StraightLane):
        return np.array([0.0, lane.length])
    return np.append(np.arange(0.0, lane.length, step), lane.length)


def _marking_segments(lane) -> list[np.ndarray]:
    """(K, 2, 2) pieces of both side lines of a lane, as highway-env draws them."""
    pieces = []
    for side in (0, 1):
        kind = lane.line_types[side]
        if kind == LineType.STRIPED:
            starts = np.arange(0.0, lane.length, STRIPE_SPACING)
            ends = np.minimum(starts + STRIPE_LENGTH, lane.length)
            keep = ends - starts > 0.5 * STRIPE_LENGTH  # highway-env skips stubs at the lane's end
            starts, ends = starts[keep], ends[keep]
        elif kind in (LineType.CONTINUOUS, LineType.CONTINUOUS_LINE):
            stations = _stations(lane, CURVE_STEP)
            starts, ends = stations[:-1], stations[1:]
        else:
            continue
        if len(starts) == 0:
            continue
        lat = (side - 0.5) * np.array([lane.width_at(s) for s in starts])
        a, b = _lane_points(lane, starts, lat), _lane_points(lane, ends, lat)
        pieces.append(np.stack([a, b], axis=1))
    return pieces


def read_road(network) -> RoadGeometry:
    """The markings and lane centres of a highway-env RoadNetwork."""
    segments, centres, ids, widths = [], [], [], []
    for start, ends in network.graph.items():
        for end, lanes in ends.items():
            for i, lane in enumerate(lanes):
                segments += _marking_segments(lane)
                stations = _stations(lane, CURVE_STEP)
                centres.append(_lane_points(lane, stations, np.zeros_like(stations)).astype(np.float32))
                ids.append((start, end, i))
                widths.append(lane.width_at(0))
    stacked = np.concatenate(segments).astype(np.float32) if segments else np.zeros((0, 2, 2), np.float32)
    return RoadGeometry(stacked, tuple(centres), tuple(ids), np.array(widths, np.float32))


def read_route(network, route) -> np.ndarray:
    """The route of a scenario (scenarios.Route) as a polyline (P, 2) [m] of its lane centres,
    ending at the goal; empty (0, 2) on open roads, where every lane of the road is the route."""
    if route is None or route.goal is None:
        return np.zeros((0, 2), np.float32)
    points = []
    for i, index in enumerate(route.lanes):
        lane = network.get_lane(tuple(index))
        length = route.goal if i == len(route.lanes) - 1 else lane.length
        stations = np.append(np.arange(0.0, length, ROUTE_STEP), length)
        points.append(_lane_points(lane, stations, np.zeros_like(stations)))
    return np.concatenate(points).astype(np.float32)


def read_vehicles(road, ego, lane_numbers: dict) -> np.ndarray:
    """(N, VEHICLE_FIELDS) of highway-env's road.vehicles, the ego first."""
    ordered = [ego] + [v for v in road.vehicles if v is not ego]
    out = np.empty((len(ordered), len(VEHICLE_FIELDS)), np.float32)
    for row, v in zip(out, ordered, strict=True):
        vx, vy = v.velocity
        row[:] = (v.position[0], v.position[1], v.heading, v.speed, vx, vy, v.LENGTH, v.WIDTH,
                  v.crashed, v.on_road, lane_numbers.get(v.lane_index, -1))
    return out


def read_objects(road) -> np.ndarray:
    objects = [(o.position[0], o.position[1], o.heading, o.LENGTH, o.WIDTH) for o in road.objects]
    return np.array(objects, np.float32).reshape(-1, len(OBJECT_FIELDS))


class WorldRecorder(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Reads a WorldState after the reset and after every simulation substep.

    info["world"] is the newest; `history` holds the last HISTORY substeps, oldest first. At a
    reset it is filled with the first state moved back in time at constant velocity (negative
    times): highway-env starts its vehicles already moving, and a camera's first frames then show
    that motion instead of a still image that contradicts the speeds in the truth.
    route: the scenario's scenarios.Route (its polyline is WorldState.route).
    substeps: read at every simulation substep (a camera needs them), or only at policy steps.
    """

    def __init__(self, env: gym.Env, route=None, substeps: bool = True) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, route=route, substeps=substeps)
        super().__init__(env)
        self._route, self._substeps = route, substeps
        self.history: deque[WorldState] = deque(maxlen=HISTORY)
        self._road = self._route_points = self._lane_numbers = self._objects = None
        self._substep = 0.0

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        base = self.env.unwrapped
        # an engine whose road outlives episodes (EnvPool's: one network per task) keeps its geometry
        self._road = getattr(base.road, "geometry", None) or read_road(base.road.network)
        self._lane_numbers = {index: n for n, index in enumerate(self._road.lane_ids)}
        self._route_points = read_route(base.road.network, self._route)
        self._objects = read_objects(base.road)  # obstacles do not move: read once per episode
        self._substep = 1.0 / base.config["simulation_frequency"]  # [s]
        self.history.clear()
        self._record(0.0)
        if self._substeps:
            self._extrapolate_back()
            self._hook(base.road)
        info["world"] = self.history[-1]
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if not self._substeps:
            self._record(self.env.unwrapped.time)
        info["world"] = self.history[-1]
        return obs, reward, terminated, truncated, info

    def _hook(self, road) -> None:
        """Wrap this road's step (an instance attribute: a new road each reset, the class untouched)."""
        step = type(road).step.__get__(road)

        def step_and_record(dt: float, *args, **kwargs):
            step(dt, *args, **kwargs)
            self._record(self.history[-1].time + self._substep)

        road.step = step_and_record

    def _record(self, time: float) -> None:
        base = self.env.unwrapped
        # EnvPool's: straight from its state, no objects, lanes numbered as here (its geometry's order)
        reader = getattr(base.road, "vehicle_array", None)
        vehicles = reader() if reader else read_vehicles(base.road, base.vehicle, self._lane_numbers)
        self.history.append(WorldState(round(time, 6), vehicles,
                                       self._objects, self._road, self._route_points))

    def _extrapolate_back(self) -> None:
        first = self.history[0]
        velocity = first.vehicles[:, [V["vx"], V["vy"]]]  # (N, 2) [m/s]
        # (HISTORY - 1, 1, 1) [s], k x substep in float64 then float32: the products a state at a time gave
        back = (np.arange(1, HISTORY) * self._substep).astype(np.float32)[:, None, None]
        earlier = np.repeat(first.vehicles[None], HISTORY - 1, axis=0)  # (HISTORY - 1, N, F): one array, each state a view
        earlier[:, :, [V["x"], V["y"]]] -= velocity * back
        for k in range(1, HISTORY):
            self.history.appendleft(WorldState(round(-k * self._substep, 6), earlier[k - 1], first.objects, first.road,
                                               first.route))

    def at(self, seconds_ago: float) -> WorldState:
        """The state `seconds_ago` [s] before the newest (the oldest one kept if the episode is younger)."""
        back = int(round(seconds_ago / self._substep))
        return self.history[max(len(self.history) - 1 - back, 0)]
