"""Running suites for real: backends agree, failures are recorded, reports are written."""

import json

import pytest

import agents
import agents.resolve
import agents.runs
from agents.baselines import IDMAgent
from scenarios.suite import load_suite
from agents.resolve import checkpoint_hash, resolve_agent
from scoring.report import write_reports
from scoring.results import Results
from scoring.run import open_results, plan, run_suite


def _run(suite, names, folder, **kwargs):
    specs = [resolve_agent(n) for n in names]
    results = open_results(folder, suite, specs, "r", resume=False)
    run_suite(suite, specs, results, **kwargs)
    return results


def test_same_episodes_same_records_on_1_and_2_workers(tiny_suite, tmp_path):
    """Ray's records are compared with an inline run's in tests/reliability/test_scoring_workers.py
    (its dead-worker test), which pays Ray's start-up once for both."""
    suite = load_suite(str(tiny_suite))
    inline = _run(suite, ["idm", "random"], tmp_path / "one", workers=1).sorted_records()
    two = _run(suite, ["idm", "random"], tmp_path / "two", workers=2).sorted_records()
    assert len(inline) == 2 * 4 * 3
    assert inline == two
    assert {r["outcome"] for r in inline} <= {"success", "collision", "offroad", "timeout"}
    assert all(0.0 <= r["driving_score"] <= 1.0 and r["error"] is None for r in inline)


class BrokenOnRoundabout(IDMAgent):
    name = "broken"
    description = "idm that raises on the roundabout (tests)"

    def __init__(self, env, seed=None):
        super().__init__(env, seed)
        self._broken = env.unwrapped.spec.id.startswith("roundabout")

    def act(self, obs, deterministic=True):
        if self._broken:
            raise RuntimeError("steering wheel came off")
        return super().act(obs, deterministic)


@pytest.mark.parametrize("workers", [1, 2])
def test_an_agent_that_raises_is_a_failed_episode_and_the_suite_goes_on(tiny_suite, tmp_path, monkeypatch, workers):
    monkeypatch.setitem(agents.REGISTRY, "broken", BrokenOnRoundabout)  # workers fork after this
    suite = load_suite(str(tiny_suite))
    results = _run(suite, ["broken"], tmp_path, workers=workers)
    records = results.sorted_records()
    assert len(records) == 4 * 3
    failed = [r for r in records if r["outcome"] == "error"]
    assert {r["scenario"] for r in failed} == {"roundabout"} and len(failed) == 3
    assert all("RuntimeError: steering wheel came off" in r["error"] and r["driving_score"] == 0.0 for r in failed)
    assert all(r["error"] is None and r["metrics"] for r in records if r["scenario"] != "roundabout")
    summary = write_reports(results, ["broken"], [s.name for s in suite.scenarios])
    assert summary["suite"]["broken"]["errors"] == 3
    assert "| broken | 12 | 3 |" in (results.folder / "leaderboard.md").read_text()


def test_results_file_round_trips_and_resume_skips_done_episodes(tiny_suite, tmp_path):
    suite = load_suite(str(tiny_suite))
    specs = [resolve_agent("idm")]
    results = open_results(tmp_path, suite, specs, "r", resume=False)
    first_three = plan(suite, specs)[:3]
    from scoring.episodes import run_task

    for task in first_three:
        results.add(run_task(task))
    again = open_results(tmp_path, suite, specs, "r", resume=True)
    assert len(again) == 3 and again.sorted_records() == results.sorted_records()
    outcome = run_suite(suite, specs, again, workers=1)
    assert (outcome["skipped"], outcome["ran"]) == (3, 12 - 3)
    data = json.loads((tmp_path / "tiny" / "r" / "results.json").read_text())
    assert len(data["episodes"]) == 12 and data["header"]["agents"] == {"idm": specs[0].checkpoint_hash}


def test_a_checkpoint_folder_is_an_agent_with_a_hash_of_its_files(tmp_path):
    folder = agents.make("idm", _env()).save(tmp_path / "my-idm")
    spec = resolve_agent(str(folder))
    assert (spec.label, spec.name, spec.checkpoint) == ("my-idm", "idm", str(folder.resolve()))
    (folder / "model.pt").write_bytes(b"weights")
    assert resolve_agent(str(folder)).checkpoint_hash != spec.checkpoint_hash
    assert resolve_agent("idm").checkpoint_hash != resolve_agent("random").checkpoint_hash


def _env():
    from sim import make_env

    return make_env("merge", obs="kinematics", seed=0)


def test_reports_leaderboard_csv_and_chart(tiny_suite, tmp_path):
    suite = load_suite(str(tiny_suite))
    results = _run(suite, ["idm", "random"], tmp_path, workers=2)
    summary = write_reports(results, ["idm", "random"], [s.name for s in suite.scenarios])
    board = (results.folder / "leaderboard.md").read_text()
    assert board.index("| 1 | idm |") < board.index("| 2 | random |")
    assert summary["suite"]["idm"]["mean"].value > summary["suite"]["random"]["mean"].value
    assert summary["improvement"][("idm", "random")].value > 0.5
    rows = (results.folder / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 24 and rows[0].startswith("agent,agent_name,checkpoint_hash,scenario,seed")
    assert (results.folder / "scores.png").read_bytes()[:4] == b"\x89PNG"
    assert isinstance(Results.load(results.folder).header["seeds"], list)


def test_an_intersection_episode_does_not_leak_into_later_episodes():
    """highway-env's IntersectionEnv overwrites IDM class parameters at reset (sim/isolation.py)."""
    from highway_env.vehicle.behavior import IDMVehicle

    from scenarios.suite import SuiteScenario
    from scoring.episodes import Task, run_task
    from sim import make_env

    idm = resolve_agent("idm")
    task = Task(idm, SuiteScenario("highway-dense", None, ()), 1_000_000, 0)
    before = run_task(task)
    make_env("intersection", obs="kinematics", seed=0).reset()
    assert IDMVehicle.DISTANCE_WANTED == 7  # the leak is real ...
    assert run_task(task) == before  # ... and does not reach the next episode
    assert IDMVehicle.DISTANCE_WANTED == 10.0


class TrainedIDM(IDMAgent):
    name = "trained-idm"
    description = "idm posing as a learning agent with per-scenario checkpoints (tests)"
    trainable = True


def test_a_learning_agent_plays_each_scenario_with_its_own_checkpoint(tiny_suite, tmp_path, monkeypatch):
    """Checkpoints found through agents.runs.find_checkpoint; a scenario without one is a failed episode."""
    zoo = tmp_path / "zoo"
    saved = TrainedIDM(_env()).save(zoo / "merge")

    def find_checkpoint(scenario, agent, runs_dir=None):
        return zoo / scenario if (zoo / scenario / "config.json").exists() else None

    monkeypatch.setitem(agents.REGISTRY, TrainedIDM.name, TrainedIDM)
    monkeypatch.setattr(agents.runs, "find_checkpoint", find_checkpoint)
    suite = load_suite(str(tiny_suite))
    spec = resolve_agent(TrainedIDM.name, suite.scenarios)
    results = open_results(tmp_path / "reports", suite, [spec], "r", resume=False)
    run_suite(suite, [spec], results, workers=1)
    records = results.sorted_records()
    merge = [r for r in records if r["scenario"] == "merge"]
    assert all(r["outcome"] == "success" and r["checkpoint_hash"] == checkpoint_hash(saved) for r in merge)
    others = [r for r in records if r["scenario"] != "merge"]
    assert len(others) == 9 and all(
        r["outcome"] == "error" and "no trained trained-idm checkpoint for" in r["error"] for r in others
    )
