"""The driving score (sim/score.py) on hand-made episodes, and what the ego hit (sim/metrics.py)
on real constructed crashes."""

import math

import pytest

import scenarios
from sim import make_env
from sim.score import (
    GOAL_MISSED_CREDIT,
    PENALTY_OBSTACLE,
    PENALTY_VEHICLE,
    TTC_THRESHOLD,
    W_SPEED,
    W_TTC,
    score_episode,
    score_for,
)


def episode(
    outcome="success", length=10, collisions=0, collision_with=None, offroad_steps=0, min_ttc=math.inf, speeds=None
):
    return {
        "outcome": outcome,
        "length": length,
        "collisions": collisions,
        "collision_with": collision_with,
        "offroad_steps": offroad_steps,
        "min_ttc": min_ttc,
        "speeds": [20.0] * length if speeds is None else speeds,
    }


RANGE = (10.0, 30.0)


def test_a_clean_success_scores_one():
    parts = score_episode(episode(), "survive", 10, RANGE)
    assert parts.route_completion == parts.infraction_penalty == parts.comfort_safety == parts.driving_score == 1.0


def test_route_completion_is_time_survived_and_half_credit_when_a_goal_is_missed():
    crash = episode("collision", length=3, collisions=1, collision_with="vehicle", min_ttc=0.0)
    assert score_episode(crash, "survive", 12, RANGE).route_completion == pytest.approx(3 / 12)
    timeout = episode("timeout", length=40)
    assert score_episode(timeout, "reach_goal", 40, RANGE).route_completion == pytest.approx(GOAL_MISSED_CREDIT)
    assert score_episode(timeout, "take_exit", 80, RANGE).route_completion == pytest.approx(GOAL_MISSED_CREDIT / 2)
    assert score_episode(episode("success", length=12), "reach_goal", 40, RANGE).route_completion == 1.0


def test_infraction_penalties_vehicle_obstacle_offroad():
    vehicle = episode("collision", length=10, collisions=1, collision_with="vehicle")
    obstacle = episode("collision", length=10, collisions=1, collision_with="obstacle")
    assert (
        score_episode(vehicle, "survive", 10, RANGE).infraction_penalty
        == pytest.approx(PENALTY_VEHICLE)
        == pytest.approx(0.60)
    )
    assert (
        score_episode(obstacle, "survive", 10, RANGE).infraction_penalty
        == pytest.approx(PENALTY_OBSTACLE)
        == pytest.approx(0.65)
    )
    offroad = episode("offroad", length=8, offroad_steps=2)
    assert score_episode(offroad, "survive", 10, RANGE).infraction_penalty == pytest.approx(1 - 2 / 8)
    both = episode("collision", length=10, collisions=1, collision_with="obstacle", offroad_steps=5)
    assert score_episode(both, "survive", 10, RANGE).infraction_penalty == pytest.approx(0.65 * 0.5)


def test_ttc_threshold_is_inclusive_at_095_s_and_inf_means_never_closing():
    w = W_TTC + W_SPEED
    assert score_episode(episode(min_ttc=TTC_THRESHOLD), "survive", 10, RANGE).ttc_ok == 1.0
    below = score_episode(episode(min_ttc=0.94), "survive", 10, RANGE)
    assert below.ttc_ok == 0.0 and below.comfort_safety == pytest.approx(W_SPEED / w)
    assert score_episode(episode(min_ttc=math.inf), "survive", 10, RANGE).ttc_ok == 1.0


def test_speed_compliance_is_the_fraction_of_steps_in_range_bounds_included():
    speeds = [5.0, 10.0, 20.0, 30.0, 31.0]  # 3 of 5 inside [10, 30]
    parts = score_episode(episode(length=5, speeds=speeds), "survive", 5, RANGE)
    assert parts.speed_compliance == pytest.approx(3 / 5)
    assert parts.comfort_safety == pytest.approx((W_TTC + W_SPEED * 3 / 5) / (W_TTC + W_SPEED))
    assert parts.driving_score == pytest.approx(parts.comfort_safety)


def test_the_score_is_the_product_and_stays_in_unit_interval():
    crash = episode("collision", length=4, collisions=1, collision_with="vehicle", min_ttc=0.0, speeds=[20, 20, 5, 5])
    parts = score_episode(crash, "survive", 8, RANGE)
    expected = (4 / 8) * 0.60 * (W_TTC * 0 + W_SPEED * 0.5) / (W_TTC + W_SPEED)
    assert parts.driving_score == pytest.approx(expected)
    assert 0.0 <= parts.driving_score <= 1.0


def test_score_for_reads_rule_budget_and_speed_range_from_the_scenario():
    merge = scenarios.get("merge")
    timeout = episode(
        "timeout", length=merge.budgets.max_steps, speeds=[merge.speed_range[0] - 1] * merge.budgets.max_steps
    )
    parts = score_for(timeout, merge)
    assert parts.route_completion == pytest.approx(GOAL_MISSED_CREDIT)
    assert parts.speed_compliance == 0.0


def _empty_highway():
    env = make_env("highway", obs="kinematics", seed=0)
    env.reset()
    road, ego = env.unwrapped.road, env.unwrapped.vehicle
    road.vehicles[:] = [ego]
    return env, road, ego


def _drive_until_done(env):
    for _ in range(50):
        _, _, terminated, truncated, info = env.step(1)  # IDLE
        if terminated or truncated:
            return info["episode"]
    raise AssertionError("episode did not end")


def test_metrics_record_a_crash_into_an_obstacle_as_obstacle():
    from highway_env.vehicle.objects import Obstacle

    env, road, ego = _empty_highway()
    s, _ = ego.lane.local_coordinates(ego.position)
    road.objects.append(Obstacle(road, ego.lane.position(s + 10, 0)))
    ep = _drive_until_done(env)
    assert ep["outcome"] == "collision" and ep["collision_with"] == "obstacle"
    assert len(ep["speeds"]) == ep["length"]
    assert score_for(ep, scenarios.get("highway")).infraction_penalty == pytest.approx(PENALTY_OBSTACLE)


def test_metrics_record_a_crash_into_a_car_as_vehicle():
    from highway_env.vehicle.behavior import IDMVehicle

    env, road, ego = _empty_highway()
    s, _ = ego.lane.local_coordinates(ego.position)
    blocker = IDMVehicle(road, ego.lane.position(s + 10, 0), heading=ego.lane.heading_at(s + 10), speed=0.0)
    blocker.target_speed = 0.0
    road.vehicles.append(blocker)
    ep = _drive_until_done(env)
    assert ep["outcome"] == "collision" and ep["collision_with"] == "vehicle"
    assert score_for(ep, scenarios.get("highway")).infraction_penalty == pytest.approx(PENALTY_VEHICLE)


def test_a_clean_episode_hit_nothing():
    env, road, ego = _empty_highway()
    ep = _drive_until_done(env)
    assert ep["outcome"] == "success" and ep["collision_with"] is None and ep["collisions"] == 0
