"""EnvPool's debug state seen through highway-env's own road geometry.

EnvPool (a C++ port of highway-env) reports, per env, every vehicle (x, y, heading, speed,
crashed, on_road, lane, route) and the road's lanes (straight, sine or circular, with their
parameters and line types). Here the lanes become highway-env's lane classes, which are pure
geometry, so that everything sim computes on a lane graph (WorldState.road, progress along the
route, lane labels, TTC along the ego's path) is the same code on both engines.
"""

from __future__ import annotations

import numpy as np
from highway_env.road.lane import CircularLane, LineType, SineLane, StraightLane
from highway_env.road.road import RoadNetwork

STRAIGHT, SINE, CIRCULAR = 0, 1, 2  # EnvPool's lane kinds
LINE_TYPES = (LineType.NONE, LineType.STRIPED, LineType.CONTINUOUS, LineType.CONTINUOUS_LINE)  # by EnvPool's number
HIGHWAY_SPEED_LIMIT = 30.0  # [m/s] highway-env's HighwayEnv._create_road
# highway-env's vehicle body [m] (Vehicle.LENGTH, WIDTH): EnvPool's vehicles have no size of their own
VEHICLE_LENGTH, VEHICLE_WIDTH = 5.0, 2.0
ROW_FIELDS = 7  # RoadView.rows: x, y, heading, speed, crashed, on_road, lane number


def read_network(debug) -> RoadNetwork:
    """highway-env's RoadNetwork of one EnvPool debug state. The highway tasks report no lanes:
    their road is highway-env's straight road of `lanes_count` lanes, built the same way."""
    if not debug.road_lanes:
        return RoadNetwork.straight_road_network(debug.lanes_count, speed_limit=HIGHWAY_SPEED_LIMIT)
    network = RoadNetwork()
    for lane in debug.road_lanes:
        network.add_lane(lane.__getattribute__("from"), lane.to, _lane(lane))
    return network


def _lane(lane):
    common = dict(width=lane.width, line_types=(LINE_TYPES[lane.line_type0], LINE_TYPES[lane.line_type1]),
                  forbidden=lane.forbidden, speed_limit=lane.speed_limit, priority=lane.priority)
    if lane.kind == STRAIGHT:
        return StraightLane([lane.start_x, lane.start_y], [lane.end_x, lane.end_y], **common)
    if lane.kind == SINE:
        return SineLane([lane.start_x, lane.start_y], [lane.end_x, lane.end_y], lane.amplitude, lane.pulsation,
                        lane.phase, **common)
    if lane.kind == CIRCULAR:
        return CircularLane([lane.center_x, lane.center_y], lane.radius, lane.start_phase, lane.end_phase,
                            lane.clockwise, **common)
    raise ValueError(f"EnvPool reported a lane of unknown kind {lane.kind} ({lane.__getattribute__('from')}, {lane.to})")


class VehicleView:
    """One EnvPool vehicle, with the attributes of a highway-env vehicle that sim reads. A view
    keeps its identity for as long as the vehicle keeps its place in EnvPool's list, so metrics
    that compare one step with the next (who struck whom) find it again.

    Its numbers come from the state's rows that RoadView reads once for the WorldState (each
    attribute of EnvPool's state is a C++ call: reading them twice was a tenth of an env step);
    the lane index and route are read from the state only when asked for."""

    LENGTH, WIDTH = VEHICLE_LENGTH, VEHICLE_WIDTH

    def __init__(self) -> None:
        self._row: np.ndarray = np.zeros(ROW_FIELDS)
        self._state = None

    def update(self, row: np.ndarray, state) -> None:
        self._row, self._state = row, state  # row: (ROW_FIELDS,) float64

    @property
    def position(self) -> np.ndarray:
        return self._row[:2].copy()

    heading = property(lambda self: float(self._row[2]))  # [rad]
    speed = property(lambda self: float(self._row[3]))  # [m/s]
    crashed = property(lambda self: bool(self._row[4]))
    on_road = property(lambda self: bool(self._row[5]))

    @property
    def lane_index(self) -> tuple | None:
        state = self._state
        return None if state is None else (state.lane_from, state.lane_to, int(state.lane_index))

    @property
    def route(self) -> list:
        state = self._state
        if state is None:
            return []
        return [(a, b, None if i < 0 else int(i)) for a, b, i in zip(state.route_from, state.route_to,
                                                                     state.route_id, strict=True)]

    @property
    def velocity(self) -> np.ndarray:
        return self.speed * np.array([np.cos(self.heading), np.sin(self.heading)])


class ObjectView:
    """One EnvPool static object (an obstacle)."""

    def __init__(self, state) -> None:
        self.position = np.array([state.x, state.y], dtype=float)
        self.heading, self.speed = float(state.heading), 0.0
        self.LENGTH, self.WIDTH = float(state.length), float(state.width)
        self.crashed = bool(state.crashed)

    def update(self, state) -> None:
        self.crashed = bool(state.crashed)


class RoadView:
    """The road of one EnvPool env as highway-env's Road looks to sim: network, vehicles, objects,
    and a step(dt) that WorldRecorder hooks to read a state after each simulated instant.

    network, geometry: the task's (static) road, shared by every episode of a Pool.
    vehicle_array: the WorldState rows of the latest state, read without building views; the
    views (vehicles, objects) follow only at decisions (update), where metrics read them."""

    def __init__(self, debug, network: RoadNetwork, geometry) -> None:
        self.network, self.geometry = network, geometry
        self._lane_numbers = {index: n for n, index in enumerate(geometry.lane_ids)}  # as WorldRecorder numbers them
        self._read = (None, None)  # (debug state, its rows (N, ROW_FIELDS) float64)
        self.vehicles: list[VehicleView] = []
        self.objects = [ObjectView(o) for o in debug.road_objects]
        self.update(debug)

    def observe(self, debug) -> None:
        """A state between decisions: only the WorldState rows."""
        self._debug = debug

    def rows(self, debug) -> np.ndarray:
        """(N, ROW_FIELDS) float64 of a state's vehicles, read once per state: x, y, heading,
        speed, crashed, on_road, lane number (an index into geometry.lane_ids, -1 if none)."""
        if self._read[0] is not debug:
            lanes = self._lane_numbers
            rows = np.array([(v.x, v.y, v.heading, v.speed, v.crashed, v.on_road,
                              lanes.get((v.lane_from, v.lane_to, v.lane_index), -1)) for v in debug.vehicles],
                            np.float64).reshape(-1, ROW_FIELDS)
            self._read = (debug, rows)
        return self._read[1]

    def vehicle_array(self) -> np.ndarray:
        """(N, VEHICLE_FIELDS) float32 of the latest state, the ego first (EnvPool lists it first)."""
        rows = self.rows(self._debug)
        out = np.empty((len(rows), 11), np.float32)  # VEHICLE_FIELDS
        out[:, :4] = rows[:, :4]
        out[:, 4], out[:, 5] = rows[:, 3] * np.cos(rows[:, 2]), rows[:, 3] * np.sin(rows[:, 2])
        out[:, 6], out[:, 7] = VEHICLE_LENGTH, VEHICLE_WIDTH
        out[:, 8:] = rows[:, 4:]
        return out

    def update(self, debug) -> None:
        self._debug = debug
        while len(self.vehicles) < len(debug.vehicles):
            self.vehicles.append(VehicleView())
        del self.vehicles[len(debug.vehicles):]  # intersection removes the cars that left it
        for view, row, state in zip(self.vehicles, self.rows(debug), debug.vehicles, strict=True):
            view.update(row, state)
        for view, state in zip(self.objects, debug.road_objects, strict=False):
            view.update(state)

    def step(self, dt: float) -> None:
        """Nothing to simulate here (EnvPool has done it); WorldRecorder wraps this call."""
