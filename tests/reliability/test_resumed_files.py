"""Files a resume trusts (issue 18): the values in a suite's results.json and a training run's
metrics.json and last/config.json. A hand-edited or foreign value is refused where the file is
read, in one line naming the file and the field: a string seed no longer crashes the run after an
episode has played, and a NaN score never reaches the leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import run_sim
from agents.base import AgentError
from agents.dqn import DQNAgent, DQNConfig
from agents.training import read_history
from sim import make_env
from tests.reliability.conftest import one_episode_suite, write


@pytest.fixture
def scored(tmp_path, monkeypatch):
    """A finished run of idle on merge, 2 seeds: reports/one/r/results.json under tmp_path/work."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    suite = one_episode_suite(tmp_path / "in", seeds=2)
    assert run_sim.main(["--suite", suite, "--agent", "idle", "--run", "r", "--workers", "1"]) == 0
    return suite, work / "reports" / "one" / "r" / "results.json"


def edit_results(path: Path, drop_last: bool = False, **changes) -> None:
    """Change the first episode's fields (and drop the last one, so that a resume has one to play)."""
    data = json.loads(path.read_text())
    data["episodes"][0].update(changes)
    if drop_last:
        data["episodes"].pop()
    path.write_text(json.dumps(data))  # NaN is written as NaN, as json.dumps does by default


@pytest.mark.parametrize("changes, message", [
    ({"seed": "1000000"}, "episodes[0]: seed must be an integer >= 0, got '1000000'"),
    ({"driving_score": float("nan")}, "episodes[0]: driving_score must be a number from 0 to 1, got nan"),
    ({"driving_score": 7}, "episodes[0]: driving_score must be a number from 0 to 1, got 7"),
    ({"score": {"progress": float("nan")}}, "episodes[0]: score.progress must be a finite number"),
    ({"metrics": {"collisions": "0", "distance": 1.0}}, "episodes[0]: metrics.collisions must be an integer >= 0"),
    ({"agent": None}, "episodes[0]: agent must be text, got None"),
    ({"outcome": 5}, "episodes[0]: outcome must be text, got 5"),
])
def test_a_corrupt_value_in_results_json_is_refused_before_any_episode(scored, cli, changes, message):
    suite, results = scored
    edit_results(results, drop_last=True, **changes)
    line = cli("--suite", suite, "--agent", "idle", "--run", "r", "--resume", "--workers", "1")
    assert f"{Path('reports/one/r/results.json')} is corrupt ({message}" in line and "move it away" in line


def test_a_corrupt_header_in_results_json_is_refused(scored, cli):
    suite, results = scored
    data = json.loads(results.read_text())
    data["header"]["seeds"] = ["1000000"]
    results.write_text(json.dumps(data))
    line = cli("--suite", suite, "--agent", "idle", "--run", "r", "--resume", "--workers", "1")
    assert "results.json is corrupt (header: seeds must be a list of integers >= 0" in line


def test_an_intact_results_json_still_resumes_with_its_infinity(scored):
    """A min_ttc of "never closing in" is written as Infinity: still read and resumed."""
    suite, results = scored
    data = json.loads(results.read_text())
    assert data["episodes"][0]["metrics"]["min_ttc"] == float("inf")  # idle on merge never closes in
    edit_results(results, drop_last=True)
    assert run_sim.main(["--suite", suite, "--agent", "idle", "--run", "r", "--resume", "--workers", "1"]) == 0
    assert len(json.loads(results.read_text())["episodes"]) == 2


EVALUATION = {"steps": 100, "train_seconds": 1.0, "episodes": 2, "success_rate": 0.5, "collision_rate": 0.0,
              "mean_return": 3.0, "mean_speed": 20.0, "mean_driving_score": 0.4}


@pytest.mark.parametrize("changes, message", [
    ({"mean_driving_score": float("nan")}, "evaluation 1: mean_driving_score must be a finite number, got nan"),
    ({"mean_driving_score": "0.9"}, "evaluation 1: mean_driving_score must be a finite number, got '0.9'"),
    ({"success_rate": None}, "evaluation 1: success_rate must be a number from 0 to 1, got None"),
    ({"steps": -5}, "evaluation 1: steps must be an integer >= 0, got -5"),
    ({"mean_return": ...}, "evaluation 1: mean_return is missing"),
])
def test_a_corrupt_evaluation_in_metrics_json_is_refused(tmp_path, changes, message):
    evaluation = {k: v for k, v in (EVALUATION | changes).items() if v is not ...}
    file = write(tmp_path, "metrics.json", json.dumps([EVALUATION, evaluation]))
    with pytest.raises(AgentError) as err:
        read_history(Path(file))
    assert str(err.value) == f"{file} is corrupt: {message}"


def test_an_old_evaluation_without_a_driving_score_still_reads(tmp_path):
    old = {k: v for k, v in EVALUATION.items() if k != "mean_driving_score"}  # written before v2's score
    file = write(tmp_path, "metrics.json", json.dumps([old]))
    assert read_history(Path(file)) == [old]


@pytest.fixture
def interrupted_run(tmp_path):
    """runs/merge/dqn/r under tmp_path/work as an interrupted training leaves it: last/ and metrics.json."""
    run = tmp_path / "work" / "runs" / "merge" / "dqn" / "r"
    DQNAgent(make_env("merge", obs="kinematics"), seed=0, config=DQNConfig(obs="kinematics"),
             scenario="merge").save(run / "last")
    write(run, "metrics.json", json.dumps([EVALUATION]))
    return run


@pytest.mark.parametrize("file, changes, message", [
    ("metrics.json", {"mean_driving_score": "0.9"}, "metrics.json is corrupt: evaluation 0: mean_driving_score"),
    ("last/config.json", {"seed": "abc"}, "last/config.json is corrupt: seed must be an integer from 0"),
])
def test_training_resume_refuses_a_corrupt_value_before_training(cli, interrupted_run, file, changes, message):
    path = interrupted_run / file
    data = json.loads(path.read_text())
    (data[0] if isinstance(data, list) else data).update(changes)
    path.write_text(json.dumps(data))
    line = cli("--scenario", "merge", "--agent", "dqn", "--train", "--resume", "--run", "r")
    assert message in line
