import cv2
import numpy as np
import pytest
from PIL import Image

from sim import make_env, make_vec_env
from sim.video import VideoRecorder, check_output_path


def test_vector_env_runs_workers_in_subprocesses_and_reports_episodes():
    venv = make_vec_env("u-turn", n_envs=2, obs="kinematics", seed=5)
    try:
        obs = venv.reset()
        assert obs.shape == (2, 11, 6)
        finished = []
        for _ in range(12):  # u-turn episodes last at most 10 steps
            obs, rewards, dones, infos = venv.step(np.array([1, 1]))
            finished += [info["episode"] for info, done in zip(infos, dones) if done]
            assert all(info["truth"].shape == (11, 6) for info in infos)
        assert len(finished) >= 2
        assert all(e["outcome"] in ("success", "collision", "offroad", "timeout") for e in finished)
    finally:
        venv.close()


def test_vector_env_workers_get_distinct_seeds():
    venv = make_vec_env("highway", n_envs=2, obs="kinematics", seed=0, subprocess=False)
    assert venv.worker_seeds == [0, 1]
    obs = venv.reset()
    assert not np.array_equal(obs[0], obs[1])
    venv.close()


@pytest.mark.parametrize("subprocess", [False, True])
def test_workers_play_the_seeds_they_list_even_after_sb3_seeds_the_vector_env(subprocess):
    seeds = [123_456, 7]
    venv = make_vec_env("merge", n_envs=2, obs="kinematics", seeds=seeds, subprocess=subprocess)
    try:
        assert venv.worker_seeds == seeds
        assert venv.seed(99) == seeds, "an SB3 model calls env.seed(its seed) when built: that must not reseed workers"
        obs = venv.reset()
    finally:
        venv.close()
    for i, seed in enumerate(seeds):
        np.testing.assert_array_equal(obs[i], make_env("merge", obs="kinematics", seed=seed).reset()[0])


@pytest.mark.parametrize("kwargs, message", [
    ({"seeds": [1]}, r"seeds must be 2 integers from 0 to 2147483647, one per worker, got \[1\]"),
    ({"seeds": [1, -1]}, "seeds must be 2 integers"),
    ({"seeds": [1, 2.0]}, "seeds must be 2 integers"),
    ({"seeds": [1, 2], "seed": 3}, "not both"),
])
def test_bad_worker_seeds_are_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_vec_env("merge", n_envs=2, obs="kinematics", **kwargs)


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_recorder_writes_every_frame(tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    recorder = VideoRecorder(path, fps=5)
    rng = np.random.default_rng(0)
    for _ in range(7):
        recorder.add(rng.integers(0, 255, (151, 301, 3), dtype=np.uint8))  # odd sizes get padded
    assert recorder.close() == path
    assert not list(tmp_path.glob(".*partial*")), "the temp file was renamed"
    if suffix == ".mp4":
        capture = cv2.VideoCapture(str(path))
        assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 7
        assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (302, 152)
    else:
        assert Image.open(path).n_frames == 7


def test_output_path_is_checked_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="must end in .mp4 or .gif"):
        check_output_path(tmp_path / "x.avi")
    with pytest.raises(ValueError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "x.mp4")


def test_window_shows_frames_and_closing_it_stops_cleanly():
    import pygame

    from sim.window import Window

    window = Window("test", fps=1000)
    frame = np.full((150, 300, 3), 90, dtype=np.uint8)
    assert window.show(frame) is True
    assert pygame.display.get_surface().get_size() == (300, 150)
    assert pygame.display.get_surface().get_at((10, 10))[:3] == (90, 90, 90)
    pygame.event.post(pygame.event.Event(pygame.QUIT))
    assert window.show(frame) is False
    assert window.closed


def test_a_suite_variant_trains_in_worker_processes_as_a_value():
    """make_vec_env sends the scenario itself to its workers (pickled as data), so a variant the
    catalog does not know by name runs there too."""
    import pickle

    from scenarios.catalog import variant

    two_lanes = variant("highway", "highway-2-lanes-test", {"config": {"lanes_count": 2}})
    assert pickle.loads(pickle.dumps(two_lanes)) == two_lanes
    venv = make_vec_env(two_lanes, 1, obs="kinematics", seed=0, subprocess=True)
    try:
        venv.reset()
        lanes = venv.env_method("get_wrapper_attr", "unwrapped")
        assert all(len(env.road.network.graph["0"]["1"]) == 2 for env in lanes)
    finally:
        venv.close()
