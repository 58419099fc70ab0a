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
    that compare one step with the next (who struck whom) find it again."""

    LENGTH, WIDTH = VEHICLE_LENGTH, VEHICLE_WIDTH

    def __init__(self) -> None:
        self.position = np.zeros(2)
        self.heading = self.speed = 0.0
        self.crashed = False
        self.on_road = True
        self.lane_index = None
        self.route: list = []

    def update(self, state) -> None:
        self.position = np.array([state.x, state.y], dtype=float)
        self.heading, self.speed = float(state.heading), float(state.speed)
        self.crashed, self.on_road = bool(state.crashed), bool(state.on_road)
        self.lane_index = (state.lane_from, state.lane_to, int(state.lane_index))
        self.route = [(a, b, None if i < 0 else int(i)) for a, b, i in zip(state.route_from, state.route_to,
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
        self.vehicles: list[VehicleView] = []
        self.objects = [ObjectView(o) for o in debug.road_objects]
        self.update(debug)

    def observe(self, debug) -> None:
        """A state between decisions: only the WorldState rows."""
        self._debug = debug

    def vehicle_array(self, lane_numbers: dict) -> np.ndarray:
        """(N, VEHICLE_FIELDS) float32 of the latest state, the ego first (EnvPool lists it first)."""
        rows = np.array([(v.x, v.y, v.heading, v.speed, v.crashed, v.on_road,
                          lane_numbers.get((v.lane_from, v.lane_to, v.lane_index), -1)) for v in self._debug.vehicles],
                        np.float64).reshape(-1, 7)
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
        for view, state in zip(self.vehicles, debug.vehicles, strict=True):
            view.update(state)
        for view, state in zip(self.objects, debug.road_objects, strict=False):
            view.update(state)

    def step(self, dt: float) -> None:
        """Nothing to simulate here (EnvPool has done it); WorldRecorder wraps this call."""
