"""`expert`: a rule-based driver that follows its scenario's route, the bar learning agents must beat.

It is idm (agents/baselines.py: highway-env's IDM car-following and MOBIL lane changes, reading
the simulator) with three changes, each aimed at a way idm fails a scenario:
- **Speed by predicted conflicts.** For each discrete target speed it could reach, it predicts
  its own path along its route over HORIZON seconds and every nearby vehicle's along that
  vehicle's planned route at constant speed, and takes the fastest whose boxes never overlap
  (with margins); when every choice meets someone, the one that meets them latest. This is how
  it yields at the intersection and the roundabout entry by time to collision, and why it does
  not rear-end a slower car it cannot follow with three target speeds (idm's two-way collisions).
- **Cruise.** It aims for the scenario's fastest target speed, capped where the lanes ahead bend
  (LATERAL_ACCELERATION), where idm holds the speed it starts with (u-turn: 8 m/s, too slow to
  arrive in time).
- **Route lanes.** On a route that must be followed lane by lane (`route.exact_from`: the exit)
  it changes lanes towards the route's lane whenever the gap is acceptable (_change_blocker),
  instead of when MOBIL finds it worthwhile; elsewhere MOBIL decides, under the same gap check.
  It leaves a lane whose leader is slower than it can drive, and as for idm it never takes or
  stays in a lane with a car coming head-on, entering one only if it stays clear for the whole
  overtake (two-way).
Continuous-action scenarios (racetrack) keep idm's lane-following steering; its speed is the
scenario's to hold.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from highway_env.envs.common.action import DiscreteMetaAction
from highway_env.vehicle.behavior import IDMVehicle
from highway_env.vehicle.controller import ControlledVehicle
from highway_env.road.lane import CircularLane

from agents.baselines import IDMAgent, _oncoming_in

HORIZON = 5.0  # [s] how far ahead conflicts are predicted
TIME_STEP = 0.25  # [s] between predicted instants
NEAR = 80.0  # [m] vehicles further than this (plus their closing distance) are not predicted
# [m] added to the two boxes' half extents along and across the ego (along: 1 m, not 2, on
# validation seeds: intersection 0.44 -> 0.49, roundabout 0.67 -> 0.68, the other scenarios level)
MARGIN_LONG, MARGIN_LAT = 1.0, 0.6
TAU_ACC = ControlledVehicle.TAU_ACC  # [s] highway-env's speed controller: v -> target at rate 1/tau
LATERAL_ACCELERATION = 13.0  # [m/s2] the cruise is capped at sqrt(this x radius) on bends ahead (u-turn: 16 m/s on its 20 m bend)
BEND_LOOKAHEAD = 3.0  # [s] bends further ahead than this do not cap the cruise yet
OVERTAKE_SLACK = 2.0  # [s] the oncoming lane must stay clear this much longer than an overtake takes
RETURN_GAP = 25.0  # [m] between two cars ahead: room to return into after passing the first
MEET_NOW = 2.0  # [s] a car coming head-on this soon: back into the own lane whatever is there
SAFE_GAP = 4.0  # [m] a lane change needs this much room (bumper to bumper) to the new leader and follower
CHANGE_TTC = 3.0  # [s] ... and a faster new follower this long from closing the gap
STOP_DECELERATION, STOP_MARGIN = 2.0, 10.0  # [m/s2], [m]: how it stops before a road's end


class ExpertAgent(IDMAgent):
    name = "expert"
    description = ("route-following rule-based driver: idm plus speeds chosen by predicted conflicts, "
                   "the fastest safe cruise and lane changes towards the route (reads the simulator)")

    def __init__(self, env: gym.Env, seed: int | None = None) -> None:
        super().__init__(env, seed)
        try:
            scenario = env.get_wrapper_attr("scenario")
        except AttributeError:
            scenario = None  # a bare highway-env env: no route to follow lane by lane
        self._route = getattr(scenario, "route", None)
        self._times = np.arange(TIME_STEP, HORIZON + 1e-9, TIME_STEP)  # (T,) [s]

    def act(self, obs: np.ndarray, deterministic: bool = True) -> Any:
        env = self._env
        if not isinstance(env.action_type, DiscreteMetaAction):
            return super().act(obs, deterministic)
        ego = env.vehicle
        self._fall_back = False
        self._slowest = float(np.min(ego.target_speeds))  # [m/s] the ego cannot drive slower
        driver = self._shadow_driver(ego)
        driver.target_speed = self._cruise(ego)
        vehicles = env.road.vehicles
        slot = vehicles.index(ego)
        vehicles[slot] = driver  # as in idm: neighbour searches see the traffic around the ego
        try:
            if getattr(driver, "route", None):
                driver.follow_road()
            if env.action_type.lateral:
                if not self._towards_route(driver, ego):
                    driver.change_lane_policy()
                self._avoid_oncoming(driver, ego)
                if driver.target_lane_index != ego.lane_index:
                    blocker = self._change_blocker(driver, driver.target_lane_index)
                    if blocker is not None and not _oncoming_in(driver.road, ego, ego.lane_index, MEET_NOW):
                        # MOBIL checks the new follower only, not the gap ahead; in the oncoming lane,
                        # drop back behind the car in the way unless a head-on meeting is imminent
                        self._fall_back = driver.lane_distance_to(blocker) > -driver.LENGTH
                        driver.target_lane_index = ego.lane_index
                if driver.target_lane_index == ego.lane_index and self._stuck_behind(driver, ego.lane_index):
                    self._escape(driver, ego)
            braking = min(self._following_acceleration(driver, lane) for lane in {driver.lane_index, driver.target_lane_index})
        finally:
            vehicles[slot] = ego
        return self._action(env, ego, driver, braking)

    # --- lanes ------------------------------------------------------------------------------
    def _avoid_oncoming(self, driver: IDMVehicle, ego) -> None:
        """As idm, but a lane with cars coming head-on is only taken if it stays clear for the
        whole overtake: until the ego is past the last car before a gap it can return into."""
        if driver.target_lane_index != ego.lane_index:
            horizon = self._overtake_time(driver, ego) + OVERTAKE_SLACK
            if _oncoming_in(driver.road, ego, driver.target_lane_index, horizon):
                driver.target_lane_index = ego.lane_index
        super()._avoid_oncoming(driver, ego)

    def _overtake_time(self, driver: IDMVehicle, ego) -> float:
        """[s] to pass, at the cruise, the cars ahead on the ego's lane up to the first gap long
        enough to return into."""
        lane = ego.lane
        s_ego = lane.local_coordinates(ego.position)[0]
        ahead = sorted((lane.local_coordinates(v.position)[0], v.speed) for v in driver.road.vehicles
                       if v is not ego and v is not driver and np.cos(v.heading - ego.heading) > 0
                       and lane.on_lane(v.position) and lane.local_coordinates(v.position)[0] > s_ego)
        if not ahead:
            return 0.0
        last, speed = ahead[0]
        for s_next, v_next in ahead[1:]:
            if s_next - last > RETURN_GAP:
                break
            last, speed = s_next, min(speed, v_next)
        relative = max(driver.target_speed - speed, 1.0)  # [m/s]
        return min((last - s_ego + ego.LENGTH + SAFE_GAP) / relative, 60.0)

    def _route_lane(self, road: tuple) -> tuple | None:
        """The route's lane on road (from, to), or None if the route does not use that road."""
        lanes = self._route.lanes if self._route is not None else ()
        return next((lane for lane in lanes if tuple(lane[:2]) == road), None)

    def _towards_route(self, driver: IDMVehicle, ego) -> bool:
        """On an exact route, aim the driver at the route's lane of the ego's road; True if that decided."""
        route = self._route
        if route is None or route.exact_from is None:
            return False
        road = ego.lane_index[:2]
        wanted = self._route_lane(road)
        if wanted is None:
            return False
        lane_id = ego.lane_index[2]
        if wanted[2] == lane_id:
            driver.target_lane_index = ego.lane_index
            return True
        step = (road[0], road[1], lane_id + (1 if wanted[2] > lane_id else -1))
        blocker = self._change_blocker(driver, step)
        driver.target_lane_index = step if blocker is None else ego.lane_index
        # a car beside the gap ahead: fall back behind it rather than drive on beside it
        self._fall_back = blocker is not None and blocker.speed >= driver.speed - 1.0 and \
            driver.lane.local_coordinates(blocker.position)[0] > driver.lane.local_coordinates(driver.position)[0]
        return True

    def _stuck_behind(self, driver: IDMVehicle, lane_index) -> bool:
        """Is the leader on that lane slower than the ego's slowest target speed and less than
        CHANGE_TTC seconds away? The ego then cannot follow it (two-way, exit: 18-20 m/s at least)."""
        front, _ = driver.road.neighbour_vehicles(driver, lane_index)
        if front is None or np.cos(front.heading - driver.heading) < 0:
            return False
        closing = max(driver.speed, self._slowest) - front.speed
        gap = driver.lane_distance_to(front, driver.road.network.get_lane(lane_index)) - driver.LENGTH
        return closing > 0 and self._slowest > front.speed and gap / closing < CHANGE_TTC

    def _escape(self, driver: IDMVehicle, ego) -> None:
        """Out of a lane whose leader the ego cannot follow: a side lane that is safe, has no car
        coming head-on and no such leader, the route's side first."""
        sides = driver.road.network.side_lanes(ego.lane_index)
        wanted = self._route_lane(ego.lane_index[:2])
        if wanted is not None:
            sides.sort(key=lambda lane: abs(lane[2] - wanted[2]))
        for lane in sides:
            if self._change_blocker(driver, lane) is None and not _oncoming_in(driver.road, ego, lane) \
                    and not self._stuck_behind(driver, lane):
                driver.target_lane_index = lane
                return

    def _change_blocker(self, driver: IDMVehicle, lane_index):
        """None if changing to that lane is safe, else the vehicle in the way there. Safe: the new
        leader and follower at least SAFE_GAP away; the ego able to settle behind the leader braking
        gently, and to drive as slowly as it; the follower CHANGE_TTC seconds from closing the gap
        and not made to brake harder than MOBIL's safety criterion allows."""
        front, rear = driver.road.neighbour_vehicles(driver, lane_index)
        lane = driver.road.network.get_lane(lane_index)
        s = lane.local_coordinates(driver.position)[0]
        for other, sign in ((front, 1.0), (rear, -1.0)):
            if other is None or np.cos(other.heading - driver.heading) < 0:
                continue
            gap = sign * (lane.local_coordinates(other.position)[0] - s) - (driver.LENGTH + other.LENGTH) / 2  # [m]
            closing = max(sign * (driver.speed - other.speed), 0.0)  # [m/s] how fast the gap shrinks
            if gap < SAFE_GAP:
                return other
            if sign > 0 and closing**2 / (2 * (gap - SAFE_GAP) + 1e-6) > -driver.COMFORT_ACC_MIN / 2:
                return other  # the ego could not settle behind the new leader braking gently
            if sign > 0 and self._stuck_behind(driver, lane_index):
                return other  # ... or not at all: it cannot drive as slowly
            if sign < 0 and closing > 0 and gap / closing < CHANGE_TTC:
                return other  # the new follower would close the gap too soon
        if rear is not None and rear.acceleration(rear, driver) < -driver.LANE_CHANGE_MAX_BRAKING_IMPOSED:
            return rear
        return None

    # --- speed ------------------------------------------------------------------------------
    @staticmethod
    def _following_acceleration(driver: IDMVehicle, lane_index) -> float:
        """[m/s2] IDM's acceleration behind the leader on that lane, towards the driver's cruise. As
        highway-env's IDM, but not capped by the lane's speed limit, which exit-v1 sets as low as
        9 m/s on the lanes to the exit for its traffic's sake."""
        front, _ = driver.road.neighbour_vehicles(driver, lane_index)
        if front is not None and np.cos(front.heading - driver.heading) < 0:
            front = None  # a car coming head-on is not a leader (_avoid_oncoming handles it)
        v0 = max(driver.target_speed, 1e-3)
        acceleration = driver.COMFORT_ACC_MAX * (1 - (max(driver.speed, 0.0) / v0) ** driver.DELTA)
        if front is not None:
            gap = max(driver.lane_distance_to(front, driver.road.network.get_lane(lane_index)), 1e-3)
            acceleration -= driver.COMFORT_ACC_MAX * (driver.desired_gap(driver, front) / gap) ** 2
        return float(np.clip(acceleration, -driver.ACC_MAX, driver.ACC_MAX))

    def _cruise(self, ego) -> float:
        """[m/s] the fastest target speed, capped by the bends that start within BEND_LOOKAHEAD
        seconds ahead (at the current speed) along the ego's lane and route."""
        fastest = float(np.max(ego.target_speeds))
        network, lane = ego.road.network, ego.lane
        ahead = lane.length - lane.local_coordinates(ego.position)[0]  # [m] to the end of the current lane
        lanes = [lane]
        for index in (ego.route or [])[:4]:
            if ahead > max(ego.speed, 1.0) * BEND_LOOKAHEAD:
                break
            if index[2] is not None and index[:2] != ego.lane_index[:2]:
                lanes.append(network.get_lane(index))
                ahead += lanes[-1].length
        radii = [lane.radius for lane in lanes if isinstance(lane, CircularLane)]
        # past the goal, a road that ends (roundabout's exit road, 126 m past it): stop before its end
        stop = np.sqrt(2 * STOP_DECELERATION * max(self._road_end(ego) - STOP_MARGIN, 0.0))
        return min([fastest, float(stop)] + [float(np.sqrt(LATERAL_ACCELERATION * r)) for r in radii])

    def _road_end(self, ego) -> float:
        """[m] along the ego's route to the end of a road that leads nowhere, once the ego is past
        its route's goal (before it, the episode ends first: merge ends at its goal, 90 m short of
        its road's end); inf otherwise."""
        route = self._route
        along = ego.lane.local_coordinates(ego.position)[0]  # [m] on the ego's lane
        if route is None or route.goal is None or tuple(route.lanes[-1][:2]) != ego.lane_index[:2] \
                or along < route.goal:
            return np.inf
        network = ego.road.network
        path = resolved_route(network, ego.lane_index, ego.route)
        last = network.get_lane(path[-1])
        if network.next_lane(path[-1], position=last.position(last.length, 0)) != path[-1]:
            return np.inf  # the road goes on past the lanes resolved
        return float(sum(network.get_lane(index).length for index in path) - along)

    def _action(self, env, ego, driver: IDMVehicle, braking: float) -> int:
        action_type: DiscreteMetaAction = env.action_type
        available = set(env.get_available_actions())
        lane_move = self._lane_move(action_type, available, ego, driver)
        if lane_move is not None:
            return lane_move
        current = int(ego.speed_index)
        if not action_type.longitudinal:
            return action_type.actions_indexes["IDLE"]
        wanted, first, others = self._conflict_free_speed(env, ego, driver)
        if braking < 0:  # idm brakes harder than a target speed below: follow it down when it does ...
            speeds, frequency = np.asarray(ego.target_speeds, float), env.config["policy_frequency"]
            desired = ego.speed + braking / frequency  # [m/s]
            slower = min(wanted, int(np.argmin(np.abs(speeds - desired))))
            # ... unless, braking for a leader (not for a bend: faster than the cruise), that meets
            # someone sooner than the chosen speed: just inside a roundabout, braking to idm's
            # headway behind the ring car ahead got the ego hit by the one behind
            for_bend = ego.speed > driver.target_speed
            if slower == wanted or for_bend or \
                    self._first_conflict(ego, driver, speeds, slower, frequency, others) >= first:
                wanted = slower
        if self._fall_back:
            wanted = min(wanted, max(current - 1, 0))
        return self._speed_move(action_type, available, ego, wanted)

    def _conflict_free_speed(self, env, ego, driver: IDMVehicle) -> tuple[int, float, tuple | None]:
        """(the target speed index to move towards, [s] its first predicted conflict, inf if none,
        the others' prediction it was judged on): the fastest up to the cruise with no predicted
        conflict, else the one whose first conflict comes latest (ties: the slower)."""
        speeds = np.asarray(ego.target_speeds, float)
        cruise_index = int(np.searchsorted(speeds, driver.target_speed + 1e-6) - 1)
        cruise_index = max(cruise_index, 0)
        others = self._predict_others(env, ego)
        best, best_first = 0, -1.0
        for k in range(cruise_index + 1):
            first = self._first_conflict(ego, driver, speeds, k, env.config["policy_frequency"], others)
            if first == np.inf:
                best, best_first = k, np.inf  # conflict-free: a faster one may be too
            elif best_first != np.inf and first > best_first:
                best, best_first = k, first
        return best, best_first, others

    def _predict_others(self, env, ego) -> tuple | None:
        """(positions (N, T, 2) [m], headings (N, T) [rad], lengths (N,), widths (N,) [m]) of the
        vehicles near enough to meet, predicted at self._times; None when there are none."""
        reach = NEAR + HORIZON * 2 * float(np.max(ego.target_speeds))
        predicted = []
        for other in env.road.vehicles:
            if other is ego or np.linalg.norm(other.position - ego.position) > reach:
                continue
            try:  # along its planned route, on the lanes highway-env will pick (resolved_route)
                if not isinstance(other, ControlledVehicle):
                    raise TypeError
                network = other.road.network
                route = resolved_route(network, other.lane_index, other.route)
                start = other.lane.local_coordinates(other.position)[0]
                pairs = [network.position_heading_along_route(route, start + other.speed * t, 0, other.lane_index)
                         for t in self._times]
                positions = np.array([p for p, _ in pairs], float)
                headings = np.array([h for _, h in pairs], float)
            except (TypeError, IndexError, KeyError):  # no route, or one highway-env cannot follow: straight ahead
                positions = other.position + np.outer(self._times * other.speed, other.direction)
                headings = np.full(len(self._times), other.heading)
            predicted.append((positions, headings, other.LENGTH, other.WIDTH))
        if not predicted:
            return None
        positions, headings, lengths, widths = zip(*predicted)
        return np.stack(positions), np.stack(headings), np.array(lengths, float), np.array(widths, float)

    def _first_conflict(self, ego, driver, speeds, k: int, policy_frequency: float, others) -> float:
        """[s] the first predicted instant at which the ego, moving its target speed one index per
        decision towards index k, overlaps another vehicle's box (with margins); inf if never."""
        if others is None:
            return np.inf
        positions, headings, lengths, widths = others
        current = int(ego.speed_index)
        decision = np.floor(self._times * policy_frequency - 1e-9).astype(int) + 1  # decisions made by then
        target_index = current + np.sign(k - current) * np.minimum(decision, abs(k - current))
        targets = speeds[target_index]
        v, s, dt = ego.speed, 0.0, TIME_STEP  # the ego's speed [m/s] and distance [m] along its path
        distance = np.empty(len(self._times))
        for i, target in enumerate(targets):
            v_next = target + (v - target) * np.exp(-dt / TAU_ACC)
            s += (v + v_next) / 2 * dt
            v = v_next
            distance[i] = s
        lane_index = driver.target_lane_index
        lane = ego.road.network.get_lane(lane_index)
        route = resolved_route(ego.road.network, lane_index, driver.route)
        start = lane.local_coordinates(ego.position)[0]
        for i, d in enumerate(distance):
            try:
                position, heading = ego.road.network.position_heading_along_route(route, start + d, 0, lane_index)
            except (IndexError, KeyError):  # past the lanes highway-env can follow: straight on
                position, heading = ego.position + d * ego.direction, ego.heading
            forward = np.array([np.cos(heading), np.sin(heading)])
            offset = positions[:, i] - position  # (N, 2)
            along, across = offset @ forward, offset[:, 0] * forward[1] - offset[:, 1] * forward[0]
            turn = headings[:, i] - heading
            c, n = np.abs(np.cos(turn)), np.abs(np.sin(turn))
            half_along = ego.LENGTH / 2 + c * lengths / 2 + n * widths / 2 + MARGIN_LONG
            half_across = ego.WIDTH / 2 + n * lengths / 2 + c * widths / 2 + MARGIN_LAT
            if ((np.abs(along) < half_along) & (np.abs(across) < half_across)).any():
                return float(self._times[i])
        return np.inf


def resolved_route(network, lane_index: tuple, route: list | None, lanes: int = 6) -> list:
    """The lanes a highway-env vehicle on `lane_index` will drive, its route's roads with the lane
    of each that highway-env's next_lane picks when the vehicle reaches the end of the one before.

    highway-env's own prediction (predict_trajectory_constant_speed) keeps the current lane's id
    where a route leaves the lane open, so a car entering a two-lane ring from its one-lane entry
    was predicted on the inner lane while it drives the outer one: the expert entered the
    roundabout in front of cars it predicted elsewhere (most of its collisions there)."""
    path, plan, current = [lane_index], list(route or []), lane_index
    for _ in range(lanes):
        roads = [r[:2] for r in plan]
        if current[:2] in roads:  # the route from the current road on (highway-env drops what lies behind)
            plan = plan[roads.index(current[:2]):]
        elif not plan or plan[0][0] != current[1]:  # a route that does not go on from here: none
            plan = []
        lane = network.get_lane(current)
        following = network.next_lane(current, route=plan, position=lane.position(lane.length, 0))
        if following == current:  # the road ends here
            break
        path.append(following)
        current = following
    return path
