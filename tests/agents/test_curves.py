"""metrics.png: a training run's held-out evaluations as a chart (agents/curves.py), redrawn by the
run folder after every evaluation (agents/training.py RunFolder.record)."""

import io
import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import agents
from agents.curves import curves_png
from agents.runs import train_agent
from agents.training import RunFolder
from sim import make_env

# matplotlib's tab: colours of the three curves, as Agg draws them (markers are filled with them)
BLUE, GREEN, RED = (31, 119, 180), (44, 160, 44), (214, 39, 40)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def colour_count(image: np.ndarray, rgb) -> int:
    return int(np.all(image == rgb, axis=-1).sum())


def evaluation(steps: int, score: float, success: float, collision: float) -> dict:
    return {"steps": steps, "mean_driving_score": score, "success_rate": success, "collision_rate": collision,
            "mean_return": 1.0, "mean_speed": 20.0, "episodes": 20, "train_seconds": 1.0}


def test_the_chart_draws_each_curve_and_changes_with_a_new_evaluation():
    history = [evaluation(5000, 0.2, 0.3, 0.5), evaluation(10_000, 0.5, 0.6, 0.2), evaluation(15_000, 0.7, 0.9, 0.1)]
    image = pixels(curves_png(history, "merge / dqn / r"))
    assert image.shape == (360, 640, 3)
    for colour in (BLUE, GREEN, RED):
        assert colour_count(image, colour) > 20, f"no curve drawn in {colour}"
    longer = pixels(curves_png(history + [evaluation(20_000, 0.9, 1.0, 0.0)], "merge / dqn / r"))
    assert not np.array_equal(image, longer)


def test_evaluations_from_before_the_driving_score_leave_a_gap_not_an_error():
    old = [{"steps": 5000, "success_rate": 0.5, "mean_return": 3.0},
           {"steps": 10_000, "success_rate": 1.0, "mean_return": 9.0}]
    image = pixels(curves_png(old))
    assert colour_count(image, GREEN) > 20 and colour_count(image, BLUE) == colour_count(image, RED) == 0


def test_a_short_training_run_writes_the_chart_and_a_resume_redraws_it(tmp_path):
    settings = {"obs": "kinematics", "n_envs": 1, "learning_starts": 16, "batch_size": 16, "buffer_size": 500}
    options = dict(runs_dir=tmp_path, eval_every=20, eval_episodes=1, progress=False)
    run_dir = train_agent(agents.get_class("dqn"), "u-turn", 40, torch.device("cpu"), "c", False, settings, seed=1,
                          **options)
    chart = run_dir / "metrics.png"
    first = chart.read_bytes()
    assert len(json.loads((run_dir / "metrics.json").read_text())) == 2
    image = pixels(first)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50, "a blank or near-blank image"
    assert colour_count(image, RED) > 0, "the collision rate (drawn last, on top) is missing"
    train_agent(agents.get_class("dqn"), "u-turn", 60, torch.device("cpu"), "c", True, {}, seed=1, **options)
    assert len(json.loads((run_dir / "metrics.json").read_text())) == 3
    assert not np.array_equal(pixels(chart.read_bytes()), image), "the chart was not redrawn"


def test_a_chart_that_cannot_be_written_warns_once_and_the_run_goes_on(tmp_path):
    (tmp_path / "metrics.png").mkdir()  # a folder where the chart goes: every write fails
    run, agent = RunFolder(tmp_path), agents.make("idle", make_env("u-turn", obs="kinematics"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.record(agent, evaluation(1, 0.1, 0.0, 0.0))
        run.record(agent, evaluation(2, 0.2, 0.0, 0.0))
    assert [str(w.message).split(":")[0] for w in caught] == [f"cannot write {tmp_path / 'metrics.png'}"]
    assert len(json.loads((tmp_path / "metrics.json").read_text())) == 2
    assert (tmp_path / "last" / "config.json").is_file()
