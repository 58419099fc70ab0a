"""EnvPool envs split over worker processes (sim/envpool_shards.py): the same episodes as in one
process, the WorldState whole, and a dead worker named in one line."""

import os
import signal

import numpy as np
import pytest

from sim import make_vec_env
from sim.envpool_shards import ShardedVecEnv, split
from sim.vector import EnvWorkerError

SEEDS = [5, 7, 9]


def test_split_keeps_the_envs_in_order_and_balanced():
    assert split(5, 2) == [range(0, 2), range(2, 5)] or split(5, 2) == [range(0, 3), range(3, 5)]
    assert [len(r) for r in split(8, 3)] in ([3, 2, 3], [2, 3, 3], [3, 3, 2])
    assert sum((list(r) for r in split(7, 4)), []) == list(range(7))


@pytest.mark.parametrize("obs", ["features", "camera"])
def test_sharded_envs_play_the_episodes_of_one_process(obs):
    """Env i keeps seed i however the envs are split: same frames (or features), rewards, ends,
    terminal observations, labels and WorldStates, the road put back whole."""
    encoder = "v4" if obs == "features" else None  # the world-state camera's (EnvPool cannot draw v1's)
    venvs = [make_vec_env("highway-fast-v0", 3, obs=obs, seeds=SEEDS, engine="envpool", subprocess=sub, encoder=encoder)
             for sub in (False, True)]
    try:
        assert isinstance(venvs[1], ShardedVecEnv) and not isinstance(venvs[0], ShardedVecEnv)
        assert venvs[1].worker_seeds == SEEDS and venvs[1].observation_space == venvs[0].observation_space
        assert venvs[1].get_attr("render_mode") == [None] * 3
        first = [v.reset() for v in venvs]
        np.testing.assert_allclose(first[0], first[1], atol=1e-4)  # features: batches of 3 against 2 and 1
        ends = 0
        actions = np.random.default_rng(0).integers(0, 5, (30, 3))
        for step in actions:
            (o0, r0, d0, i0), (o1, r1, d1, i1) = (v.step(step) for v in venvs)
            np.testing.assert_allclose(o0, o1, atol=1e-4)
            np.testing.assert_array_equal(r0, r1)
            np.testing.assert_array_equal(d0, d1)
            for a, b in zip(i0, i1, strict=True):
                assert a["world"] == b["world"] and a["world"].road is not None
                np.testing.assert_array_equal(a["truth"], b["truth"])
                if "terminal_observation" in a:
                    ends += 1
                    np.testing.assert_allclose(a["terminal_observation"], b["terminal_observation"], atol=1e-4)
                    assert a["episode"] == b["episode"]
        assert ends > 0, "no episode ended: the auto-reset was not compared"
    finally:
        for v in venvs:
            v.close()


def test_a_killed_shard_worker_ends_the_run_with_one_line_naming_it():
    venv = make_vec_env("highway-fast-v0", 2, obs="kinematics", seeds=[1, 2], engine="envpool", subprocess=True)
    venv.reset()
    pid = venv.processes[1].pid
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(EnvWorkerError) as error:
        venv.step(np.array([1, 1]))
    assert f"environment worker 1 of 2 (pid {pid}, highway-fast-v0) died: killed by SIGKILL" in str(error.value)
    assert "\n" not in str(error.value)
    venv.close()
    assert not any(p.is_alive() for p in venv.processes)


@pytest.mark.parametrize("build", [
    lambda: make_vec_env("highway-fast-v0", 2, obs="features", seeds=[1, 2], engine="envpool"),  # v1: highway-env's camera
    lambda: make_vec_env("highway-fast-v0", 2, obs="features", seeds=[1, 2], engine="envpool", subprocess=False),
], ids=["sharded", "one-process"])
def test_features_of_an_encoder_reading_highway_envs_camera_are_refused_in_one_line_naming_the_one_to_use(build):
    from perception.weights import CAMERA_WEIGHTS
    from sim.envpool_env import EngineError

    with pytest.raises(EngineError) as error:
        build()
    assert f"use the features of an encoder that reads the world-state camera ({CAMERA_WEIGHTS!r})" in str(error.value)
    assert "\n" not in str(error.value)
