"""Episode metrics on constructed situations: we place the vehicles, then check the numbers."""

import math

import numpy as np
import pytest

from sim import make_env
from sim.safety import ahead_on_path
from tests.sim.roads import empty_road

IDLE = 1  # DiscreteMetaAction index
LANE_LEFT = 0




def run_until_done(env, action=IDLE, limit=200):
    for _ in range(limit):
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return info["episode"]
    raise AssertionError("episode did not end")


def place_ahead(env, ego, gap, speed):
    """Put an IDM car `gap` metres ahead of the ego in its lane, driving at `speed` [m/s]."""
    from highway_env.vehicle.behavior import IDMVehicle

    lane = ego.lane
    s, _ = lane.local_coordinates(ego.position)
    other = IDMVehicle(env.unwrapped.road, lane.position(s + gap, 0), heading=lane.heading_at(s + gap), speed=speed)
    other.target_speed = speed
    env.unwrapped.road.vehicles.append(other)
    return other


def test_forced_collision_is_a_collision():
    env, road, ego = empty_road("highway")
    blocker = place_ahead(env, ego, gap=8.0, speed=0.0)
    blocker.target_speed = 0.0
    episode = run_until_done(env)
    assert episode["outcome"] == "collision"
    assert episode["collisions"] == 1
    assert episode["length"] == 1
    assert episode["min_ttc"] == 0.0


def test_clean_merge_is_a_success():
    env, road, ego = empty_road("merge")
    episode = run_until_done(env)
    assert episode["outcome"] == "success"
    assert episode["collisions"] == 0
    # From x=30 m to past x=370 m at about 30 m/s.
    assert 340 <= episode["distance"] <= 400
    assert episode["mean_speed"] == pytest.approx(30, abs=1.5)
    assert math.isinf(episode["min_ttc"]), "nothing ahead: time-to-collision never finite"


def test_surviving_the_highway_is_a_success_and_distance_is_speed_times_time():
    env, road, ego = empty_road("highway")
    episode = run_until_done(env)
    assert episode["outcome"] == "success"
    assert episode["length"] == 30 and episode["duration"] == 30
    assert episode["distance"] == pytest.approx(episode["mean_speed"] * episode["duration"], rel=0.02)
    assert episode["r"] == episode["episode_return"] and episode["l"] == 30  # SB3's keys


def test_missing_the_exit_is_a_timeout():
    env, road, ego = empty_road("exit")
    episode = run_until_done(env)
    assert episode["outcome"] == "timeout"


def test_one_lane_change_is_counted_once():
    env, road, ego = empty_road("highway")
    lane_before = ego.lane_index[2]
    env.step(LANE_LEFT if lane_before > 0 else 2)
    episode = run_until_done(env)
    assert ego.lane_index[2] != lane_before
    assert episode["lane_changes"] == 1


def test_ttc_to_a_slower_car_ahead():
    env, road, ego = empty_road("highway")
    ego.speed = 30.0
    place_ahead(env, ego, gap=50.0, speed=20.0)
    # Bumper to bumper: 50 m centre to centre minus one car length (5 m); closing at 10 m/s.
    assert ahead_on_path(road, ego, [ego.lane]).ttc == pytest.approx(4.5, rel=1e-6)
    road.vehicles[-1].speed = 35.0
    assert math.isinf(ahead_on_path(road, ego, [ego.lane]).ttc), "a faster car ahead is no threat"


def test_reward_terms_are_summed_per_term():
    env, road, ego = empty_road("highway")
    episode = run_until_done(env)
    terms = episode["reward_terms"]
    assert set(terms) >= {"collision_reward", "high_speed_reward", "right_lane_reward"}
    assert terms["collision_reward"] == 0
    assert 0 < terms["high_speed_reward"] <= episode["length"]


def test_racetrack_leaving_the_track_is_offroad():
    env = make_env("racetrack", obs="kinematics", seed=0)
    env.reset()
    for _ in range(200):
        _, _, terminated, truncated, info = env.step(np.array([1.0], dtype=np.float32))  # full lock right
        if terminated or truncated:
            break
    assert info["episode"]["outcome"] == "offroad"
    assert info["episode"]["offroad_steps"] >= 1


def test_on_lane_at_once_matches_highway_env_one_position_at_a_time():
    """ahead_on_path's vectorised lane test (sim/safety.py) against highway-env's own, per position."""
    from highway_env.road.lane import CircularLane, StraightLane

    from sim.safety import _on_lane

    rng = np.random.default_rng(0)
    lanes = [StraightLane([0.0, 4.0], [200.0, 10.0], width=4.0), CircularLane([0.0, 0.0], 20.0, 0.0, 3.0, width=4.0)]
    for lane in lanes:
        positions = rng.uniform(-30, 210, (400, 2))
        positions[:100] = [lane.position(s, d) for s, d in zip(rng.uniform(-8, lane.length + 8, 100), rng.uniform(-3, 3, 100))]
        along, on = _on_lane(lane, positions)
        expected = [lane.local_coordinates(p) for p in positions]
        np.testing.assert_allclose(along, [s for s, _ in expected], atol=1e-9)
        assert on.tolist() == [bool(lane.on_lane(p)) for p in positions]
        assert 10 < on.sum() < 400  # both kinds of position are there
