import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import scenarios
from sim import TRUTH_FEATURES, CameraConfig, make_env
from sim.truth import DEFAULT_TRUTH_VEHICLES, truth_from_world

ALL = scenarios.names()
TRUTH_SHAPE = (DEFAULT_TRUTH_VEHICLES + 1, len(TRUTH_FEATURES))


@pytest.mark.parametrize("obs", ["camera", "kinematics"])
@pytest.mark.parametrize("name", ALL)
def test_every_scenario_resets_and_steps(name, obs):
    env = make_env(name, obs=obs, seed=0)
    first, info = env.reset()
    assert first in env.observation_space
    assert info["truth"].shape == TRUTH_SHAPE
    for _ in range(3):
        o, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert o in env.observation_space and np.isfinite(reward)
        assert info["truth"].shape == TRUTH_SHAPE and info["truth"].dtype == np.float32
        if terminated or truncated:
            assert info["episode"]["outcome"] in ("success", "collision", "offroad", "timeout")
            break
    if obs == "camera":
        assert o.shape == CameraConfig().shape == (5, 128, 64) and o.dtype == np.uint8
        assert o[CameraConfig().stack - 1].std() > 0, "the newest scene frame shows a road, not a blank image"
    else:
        np.testing.assert_array_equal(o, info["truth"])
    env.close()


@pytest.mark.filterwarnings("ignore:.*different from the unwrapped version")
@pytest.mark.parametrize("obs", ["camera", "kinematics"])
@pytest.mark.parametrize("name", ALL)
def test_gymnasium_check_env_passes(name, obs):
    env = make_env(name, obs=obs)
    check_env(env, skip_render_check=True)
    if obs == "kinematics":  # and stable-baselines3's (its image checks add nothing on the camera's uint8 frames)
        sb3_check_env(env, warn=False)
    env.close()


def seeded_actions(space, seed, n):
    """A fixed action sequence (highway-env rebuilds action_space at each reset, dropping its seed)."""
    rng = np.random.default_rng(seed)
    if hasattr(space, "n"):
        return [int(a) for a in rng.integers(space.n, size=n)]
    return [rng.uniform(-1, 1, space.shape).astype(np.float32) for _ in range(n)]


def _rollout(name, obs, seed, steps=12):
    env = make_env(name, obs=obs, seed=seed)
    obs_list, truths, rewards = [], [], []
    o, info = env.reset()
    obs_list.append(o.copy()), truths.append(info["truth"])
    for action in seeded_actions(env.action_space, seed, steps):
        o, r, terminated, truncated, info = env.step(action)
        obs_list.append(o.copy()), truths.append(info["truth"]), rewards.append(r)
        if terminated or truncated:
            o, info = env.reset()
            obs_list.append(o.copy()), truths.append(info["truth"])
    env.close()
    return obs_list, truths, rewards


@pytest.mark.parametrize("name", ["highway", "merge", "intersection", "racetrack"])
def test_same_seed_same_episode_frame_for_frame(name):
    a, b = _rollout(name, "camera", seed=7), _rollout(name, "camera", seed=7)
    for x, y in zip(a[0], b[0], strict=True):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a[1], b[1], strict=True):
        np.testing.assert_array_equal(x, y)
    assert a[2] == b[2]
    other = _rollout(name, "camera", seed=8)
    assert any(not np.array_equal(x, y) for x, y in zip(a[1], other[1])), "another seed gives another episode"


def test_truth_matches_the_simulator_vehicles():
    env = make_env("highway", obs="camera", seed=3)
    env.reset()
    for _ in range(3):
        _, _, _, _, info = env.step(1)  # IDLE
    truth, road = info["truth"], env.unwrapped.road
    ego = env.unwrapped.vehicle
    np.testing.assert_allclose(truth[0], [1, 0, 0, *ego.velocity, ego.heading], atol=1e-4)
    others = [v for v in road.vehicles if v is not ego]
    distances = []
    for row in truth[1:]:
        if row[0] == 0:
            assert not row.any(), "empty slots are all zeros"
            continue
        position = ego.position + row[1:3]
        match = min(others, key=lambda v: np.linalg.norm(v.position - position))
        np.testing.assert_allclose(match.position, position, atol=1e-3)
        np.testing.assert_allclose(match.velocity - ego.velocity, row[3:5], atol=1e-3)
        assert abs(np.angle(np.exp(1j * (match.heading - row[5])))) < 1e-4
        distances.append(np.linalg.norm(row[1:3]))
    in_range = [v for v in others if np.linalg.norm(v.position - ego.position) < env.unwrapped.PERCEPTION_DISTANCE]
    assert len(distances) == min(len(in_range), DEFAULT_TRUTH_VEHICLES)
    assert distances == sorted(distances), "slots are ordered nearest first"


def test_lane_state_follows_the_ego_off_a_bend():
    """info["lane"] on racetrack with the wheel held straight: the ego starts centred and
    aligned, the track bends ahead of it, and it drifts off the lane and then off the road."""
    env = make_env("racetrack", obs="kinematics", seed=0)
    _, info = env.reset()
    lanes = [info["lane"]]
    terminated = truncated = False
    while not (terminated or truncated):
        _, _, terminated, truncated, info = env.step(np.zeros(env.action_space.shape, np.float32))
        lanes.append(info["lane"])
    lanes = np.array(lanes)
    on_road, lateral, heading_error, bend_25m = lanes[:, 0], lanes[:, 1], lanes[:, 2], lanes[:, 4]
    ego, lane = env.unwrapped.vehicle, env.unwrapped.vehicle.lane
    np.testing.assert_allclose(lateral[-1], np.clip(lane.local_coordinates(ego.position)[1], -10, 10), atol=1e-4)
    assert on_road[0] == 1 and on_road[-1] == 0 and info["episode"]["outcome"] == "offroad"
    assert abs(lateral[0]) < 0.5 and abs(heading_error[0]) < 0.05
    assert np.abs(bend_25m).max() > 0.3, "the bend ahead is seen before the ego reaches it"
    assert np.abs(lateral).max() > 2.0


def test_two_way_rewards_an_ego_on_the_oncoming_road_instead_of_dividing_by_zero():
    """highway-env 1.12 raises ZeroDivisionError when the ego's lane is the one-lane oncoming
    road (it killed training workers after a few thousand steps); sim/fixes.py makes the
    left-lane term 0 there and leaves the two-lane road's values as they were."""
    env = make_env("two-way", obs="kinematics", seed=0)
    env.reset()
    ego = env.unwrapped.vehicle
    assert env.unwrapped._rewards(0)["left_lane_reward"] == 1 - ego.target_lane_index[2]  # (1 - lane) / 1
    ego.lane_index = ("b", "a", 0)  # the oncoming road: a single lane
    assert env.unwrapped._rewards(0)["left_lane_reward"] == 0.0


def test_lane_state_follows_routes_without_warnings(caplog):
    """An ego that leaves its planned route (LANE_LEFT into the roundabout's inner lane) still
    gets the bend ahead, without highway-env's 'Route ... does not start after current road'
    warning at every step."""
    bends = []
    for seed in (10, 18):  # seeds where the ego ends up off its route (the old code warned here)
        env = make_env("roundabout", obs="kinematics", seed=seed)
        env.reset()
        for _ in range(11):
            _, _, terminated, truncated, info = env.step(0)  # LANE_LEFT
            bends.append(info["lane"][4])
            if terminated or truncated:
                break
    assert np.abs(bends).max() > 0.3
    assert not [r for r in caplog.records if "does not start after" in r.getMessage()]


@pytest.mark.parametrize("name", ["merge", "u-turn", "roundabout"])
def test_truth_has_the_values_of_highway_envs_kinematics_observation(name):
    """Same numbers as highway-env's own Kinematics(absolute=False, normalize=False), up to
    our conventions: ego at the origin, headings wrapped, rows ordered by straight-line distance."""
    env = make_env(name, obs="kinematics", seed=2)
    env.reset()
    for _ in range(2):
        _, _, _, _, info = env.step(env.action_space.sample() if name != "merge" else 1)
    unwrapped = env.unwrapped
    theirs = unwrapped.observation_type.observe().copy()
    ours = truth_from_world(info["world"], DEFAULT_TRUTH_VEHICLES)
    theirs[0, 1:3] = 0.0
    theirs[:, 5] = np.where(theirs[:, 0] > 0, (theirs[:, 5] + np.pi) % (2 * np.pi) - np.pi, 0)

    def by_position(a):
        return a[np.lexsort((a[:, 2], a[:, 1]))]

    np.testing.assert_allclose(by_position(ours), by_position(theirs), atol=1e-4)


def test_camera_size_is_configurable():
    env = make_env("merge", obs="camera", camera=CameraConfig(height=96, width=48, stack=2))
    o, _ = env.reset(seed=0)
    assert o.shape == (3, 96, 48)  # 2 scene frames + the route
    with pytest.raises(ValueError, match="stack must be a positive integer"):
        CameraConfig(stack=0)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="unknown obs mode 'pixels'.*camera, features, kinematics"):
        make_env("merge", obs="pixels")
    with pytest.raises(scenarios.ScenarioError, match="unknown scenario"):
        make_env("nowhere")
    with pytest.raises(ValueError, match="render_mode"):
        make_env("merge", render_mode="human")


def test_an_intersection_episode_does_not_change_later_episodes_in_the_process():
    """highway-env's intersection writes IDM parameters onto the vehicle class; make_env undoes it."""
    before = _rollout("highway", "kinematics", seed=11)[1]
    intersection = make_env("intersection", obs="kinematics", seed=0)
    intersection.reset()
    intersection.step(1)
    after = _rollout("highway", "kinematics", seed=11)[1]
    for x, y in zip(before, after, strict=True):
        np.testing.assert_array_equal(x, y)
