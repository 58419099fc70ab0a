import json

import numpy as np
import pytest

from perception import collect
from perception.dataset import FrameDataset, perception_targets, read_shard
from sim import CameraConfig, make_env
from sim.truth import to_ego_frame

VIEW = (-20.0, 50.0, -18.0, 18.0)


def test_targets_keep_only_vehicles_in_view_nearest_first():
    truth = np.zeros((11, 6), np.float32)
    truth[0] = [1, 0, 0, 25, 0, 0.1]  # ego
    truth[1] = [1, -30, 0, -2, 0, 0]  # behind the view
    truth[2] = [1, 10, 4, 1, 0, 0]
    truth[3] = [1, 5, -4, 0, 0, 0]
    truth[4] = [1, 60, 0, 0, 0, 0]  # beyond the view ahead
    target = perception_targets(truth, VIEW)
    np.testing.assert_array_equal(target[0], truth[0])
    np.testing.assert_array_equal(target[1], truth[3])  # 6.4 m away
    np.testing.assert_array_equal(target[2], truth[2])  # 10.8 m away
    assert not target[3:].any()


def test_collect_job_labels_match_the_simulator():
    result = collect.collect_job("merge", "train", samples=25)
    arrays = result["arrays"]
    assert arrays["frames"].shape == (25, 5, 128, 64) and arrays["frames"].dtype == np.uint8
    assert arrays["truth"].shape == (25, 11, 6) and arrays["lane"].shape == (25, 6)
    # Replay the first episode with the same seed and policy: same frames, same truth.
    seed = int(arrays["seed"][0])
    env = make_env("merge", obs="camera")
    policy = collect.make_policy(collect.POLICIES[seed % 3], env, seed)
    obs, info = env.reset(seed=seed)
    for i in np.flatnonzero(arrays["seed"] == seed):
        assert arrays["step"][i] == i
        np.testing.assert_array_equal(arrays["frames"][i], obs)
        np.testing.assert_array_equal(arrays["truth"][i], to_ego_frame(info["truth"]))  # the camera's frame
        np.testing.assert_array_equal(arrays["lane"][i], info["lane"])
        obs, _, terminated, truncated, info = env.step(policy.act(obs))
        if terminated or truncated:
            break


def test_collect_command_writes_the_shards_it_claims(tmp_path):
    assert collect.main(["--out", str(tmp_path), "--train", "6", "--val", "3", "--test", "3", "--workers", "2"]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["held_out_scenario"] == collect.HELD_OUT_SCENARIO
    for shard in manifest["shards"]:
        arrays = read_shard(tmp_path / shard["path"])
        assert len(arrays["frames"]) == shard["samples"] == {"train": 6, "val": 3, "test": 3}[shard["split"]]
    splits = {s["split"]: {s["scenario"] for s in manifest["shards"] if s["split"] == s["split"]} for s in manifest["shards"]}
    trained = {s["scenario"] for s in manifest["shards"] if s["split"] == "train"}
    assert set(manifest["held_out_scenarios"]) == {"u-turn", "u-turn-v0"}
    assert not trained & set(manifest["held_out_scenarios"]), "neither u-turn nor its registered twin is trained on"
    validated = {s["scenario"] for s in manifest["shards"] if s["split"] == "val"}
    assert set(manifest["held_out_scenarios"]) <= validated  # perception.train reports generalisation on them
    assert "highway-v0" in trained
    assert len(splits) == 3
    seeds = {split: set() for split in ("train", "val", "test")}
    for shard in manifest["shards"]:
        seeds[shard["split"]] |= set(read_shard(tmp_path / shard["path"])["seed"].tolist())
    assert not seeds["train"] & seeds["val"] and not seeds["train"] & seeds["test"], "splits are disjoint by seed"
    dataset = FrameDataset(sorted((tmp_path / "train").glob("*.npz")))
    frames, target, view, lane = dataset[0]
    assert frames.shape == (5, 128, 64) and target.shape == (11, 6) and view.shape == (4,) and lane.shape == (6,)
    assert manifest["camera"] == CameraConfig().contract()


def test_shards_of_an_older_format_say_to_collect_again(tmp_path):
    np.savez_compressed(tmp_path / "old.npz", **{k: np.zeros(1) for k in ("frames", "truth", "view", "seed", "step")})
    with pytest.raises(ValueError, match=r"lacks \['lane'\].*perception.collect"):
        read_shard(tmp_path / "old.npz")


def test_collect_rejects_bad_numbers(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        collect.main(["--out", str(tmp_path), "--train", "0"])
    assert exit_info.value.code == 2


def test_collect_subset_of_scenarios_splits_policies_and_longer_episodes(tmp_path):
    argv = ["--out", str(tmp_path), "--scenarios", "racetrack", "--splits", "train", "--train", "70",
            "--policies", "idm,weaving-idm", "--max-steps", "70", "--workers", "1"]
    assert collect.main(argv) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [(s["scenario"], s["split"]) for s in manifest["shards"]] == [("racetrack", "train")]
    assert manifest["policies"] == ["idm", "weaving-idm"] and manifest["max_episode_steps"] == 70
    arrays = read_shard(tmp_path / "train" / "racetrack.npz")
    assert arrays["step"].max() > collect.MAX_EPISODE_STEPS - 1, "episodes run past the default cut"


def test_weaving_policy_drifts_off_idm_on_continuous_steering_only():
    env = make_env("racetrack", obs="camera")
    obs, _ = env.reset(seed=0)
    weaving, idm = collect.make_policy("weaving-idm", env, 0), collect.make_policy("idm", env, 0)
    offsets = [float(weaving.act(obs)[-1] - idm.act(obs)[-1]) for _ in range(20)]
    assert np.std(offsets) > 0.05 and all(-2 <= o <= 2 for o in offsets)
    env = make_env("merge", obs="camera")
    obs, _ = env.reset(seed=0)
    assert collect.make_policy("weaving-idm", env, 0).act(obs) == collect.make_policy("idm", env, 0).act(obs)


def test_collect_rejects_unknown_scenarios_splits_and_policies(tmp_path):
    for bad in (["--scenarios", "nowhere"], ["--splits", "dev"], ["--policies", "drunk"], ["--max-steps", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            collect.main(["--out", str(tmp_path), *bad])
        assert exit_info.value.code == 2


def test_stanley_policy_steers_by_the_lane_keeping_law_on_the_true_lane_state():
    env = make_env("racetrack", obs="camera")
    obs, info = env.reset(seed=0)
    for _ in range(19):  # straight on into the first bend: off the lane centre, at an angle to it
        obs, _, _, _, info = env.step(np.array([0.0], np.float32))
    policy = collect.make_policy("stanley", env, 0)
    _, lateral, heading_error = info["lane"][:3]
    law = (heading_error + np.arctan2(-lateral, max(env.unwrapped.vehicle.speed, 1.0))) / (np.pi / 4)
    assert 0.05 < abs(law) < 1 and abs(float(policy.act(obs)[0]) - law) < 0.2, "the law plus a small wandering offset"
    env = make_env("merge", obs="camera")
    obs, _ = env.reset(seed=0)
    assert collect.make_policy("stanley", env, 0).act(obs) == collect.make_policy("idm", env, 0).act(obs)


def test_a_seed_offset_collects_other_episodes_inside_the_split(tmp_path, capsys):
    """--seed-offset: more data of a scenario without repeating an earlier collection's episodes;
    an offset that could reach the next split's seeds is refused in one line."""
    assert collect.main(["--out", str(tmp_path), "--scenarios", "merge", "--splits", "train", "--train", "3",
                         "--seed-offset", "50000", "--workers", "1"]) == 0
    seeds = read_shard(tmp_path / "train" / "merge.npz")["seed"]
    assert seeds.min() == 50_000 and seeds.max() < collect.SPLIT_FIRST_SEED["val"]
    assert json.loads((tmp_path / "manifest.json").read_text())["seed_offset"] == 50_000
    with pytest.raises(SystemExit):
        collect.main(["--out", str(tmp_path), "--train", "10", "--seed-offset", "99995"])
    assert "--seed-offset must be >= 0 and leave room" in capsys.readouterr().err
