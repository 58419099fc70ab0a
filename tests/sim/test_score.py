"""The driving score v2 (sim/score.py) on constructed episodes: each term, each gate, and the
degenerate drivers it exists to catch (parking, leaving the road at the last step)."""

import math

import pytest

from sim.score import (
    MIN_PROGRESS,
    PENALTY_OBSTACLE,
    PENALTY_VEHICLE,
    TTC_THRESHOLD,
    W_COMFORT,
    W_TTC,
    score_episode,
)
from tests.sim.roads import empty_road


def episode(progress=1.0, collisions=0, collision_with=None, at_fault=None, offroad_steps=0, min_ttc=math.inf,
            speed_ratio=1.0, comfort=1.0):
    return {"progress": progress, "collisions": collisions, "collision_with": collision_with,
            "collision_at_fault": at_fault, "offroad_steps": offroad_steps, "min_ttc": min_ttc,
            "speed_ratio": speed_ratio, "comfort": comfort}


def test_a_clean_complete_drive_scores_one():
    parts = score_episode(episode())
    assert parts.driving_score == parts.progress == parts.safety_comfort == 1.0


def test_parking_at_the_start_scores_zero():
    parked = episode(progress=0.05, speed_ratio=0.02)  # no collision, no TTC risk, perfectly comfortable
    assert score_episode(parked).driving_score == 0.0
    assert score_episode(episode(progress=MIN_PROGRESS - 1e-6)).making_progress == 0.0
    assert score_episode(episode(progress=MIN_PROGRESS)).driving_score == pytest.approx(MIN_PROGRESS)


def test_leaving_the_road_at_the_last_step_scores_zero():
    assert score_episode(episode(progress=1.0, offroad_steps=1)).driving_score == 0.0


def test_collisions_the_ego_caused_take_carlas_penalties_and_being_rear_ended_does_not():
    vehicle = score_episode(episode(collisions=1, collision_with="vehicle", at_fault=True))
    obstacle = score_episode(episode(collisions=1, collision_with="obstacle", at_fault=True))
    struck = score_episode(episode(collisions=1, collision_with="vehicle", at_fault=False))
    assert vehicle.infraction_penalty == pytest.approx(PENALTY_VEHICLE) == pytest.approx(0.60)
    assert obstacle.infraction_penalty == pytest.approx(PENALTY_OBSTACLE) == pytest.approx(0.65)
    assert struck.infraction_penalty == 1.0


def test_ttc_threshold_is_inclusive_and_inf_means_never_closing():
    assert score_episode(episode(min_ttc=TTC_THRESHOLD)).ttc_ok == 1.0
    below = score_episode(episode(min_ttc=0.94))
    assert below.ttc_ok == 0.0 and below.safety_comfort == pytest.approx(W_COMFORT / (W_TTC + W_COMFORT))
    assert score_episode(episode(min_ttc=math.inf)).ttc_ok == 1.0


def test_the_score_is_the_product_of_its_terms():
    parts = score_episode(episode(progress=0.7, collisions=1, collision_with="vehicle", at_fault=True, min_ttc=0.0,
                                  speed_ratio=0.8, comfort=0.5))
    expected = 0.7 * 0.60 * 0.8 * (W_TTC * 0 + W_COMFORT * 0.5) / (W_TTC + W_COMFORT)
    assert parts.driving_score == pytest.approx(expected)
    assert 0.0 <= parts.driving_score <= 1.0


def test_crawling_costs_twice_following_traffic_does_not():
    """Half the reference speed on an empty road: half the progress and half the speed ratio."""
    assert score_episode(episode(progress=0.5, speed_ratio=0.5)).driving_score == pytest.approx(0.25)




def _drive(env, action=1, limit=400):
    for _ in range(limit):
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return info["episode"]
    raise AssertionError("episode did not end")


def test_a_crash_into_an_obstacle_is_an_obstacle_collision_at_fault():
    from highway_env.vehicle.objects import Obstacle

    env, road, ego = empty_road("highway")
    s, _ = ego.lane.local_coordinates(ego.position)
    road.objects.append(Obstacle(road, ego.lane.position(s + 10, 0)))
    ep = _drive(env)
    assert ep["outcome"] == "collision" and ep["collision_with"] == "obstacle" and ep["collision_at_fault"] is True
    assert ep["min_ttc"] == 0.0
    assert score_episode(ep).infraction_penalty == pytest.approx(PENALTY_OBSTACLE)


def test_running_into_a_stopped_car_is_at_fault():
    from highway_env.vehicle.behavior import IDMVehicle

    env, road, ego = empty_road("highway")
    s, _ = ego.lane.local_coordinates(ego.position)
    blocker = IDMVehicle(road, ego.lane.position(s + 10, 0), heading=ego.lane.heading_at(s + 10), speed=0.0)
    blocker.target_speed = 0.0
    road.vehicles.append(blocker)
    ep = _drive(env)
    assert ep["outcome"] == "collision" and ep["collision_with"] == "vehicle" and ep["collision_at_fault"] is True
    assert score_episode(ep).infraction_penalty == pytest.approx(PENALTY_VEHICLE)


def test_a_stopped_ego_struck_from_behind_is_not_at_fault():
    from highway_env.vehicle.kinematics import Vehicle

    env, road, ego = empty_road("intersection")
    ego.speed, ego.target_speed = 0.0, 0.0
    env.step(0)  # SLOWER: stopped, and recorded so
    lane = ego.lane
    s, _ = lane.local_coordinates(ego.position)
    chaser = Vehicle(road, lane.position(s - 12, 0), heading=lane.heading_at(s - 12), speed=15.0)  # never brakes
    chaser.route = [ego.lane_index]  # highway-env's intersection removes cars without one
    road.vehicles.append(chaser)
    ep = _drive(env, action=0)  # SLOWER: the ego stays stopped
    assert ep["outcome"] == "collision" and ep["collision_at_fault"] is False
    assert math.isinf(ep["min_ttc"]), "being hit from behind is not the ego's headway"
    assert score_episode(ep).infraction_penalty == 1.0
