"""The model zoo: every shipped agent loads safely, matches its hash and drives its scenario;
shipping strips training state; suites play the zoo per scenario."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import agents
from agents import zoo
from agents.runs import train_agent
from scenarios.suite import load_suite
from agents.resolve import resolve_agent
from scoring.episodes import Task, run_task
from sim import make_env

ROOT = Path(__file__).resolve().parents[2]
MANIFEST_FILE = ROOT / "zoo/manifest.json"
MANIFEST = json.loads(MANIFEST_FILE.read_text()) if MANIFEST_FILE.exists() else {"agents": {}, "defaults": {}}
ENTRIES = sorted(MANIFEST["agents"])
MAX_SHIPPED_BYTES = 20_000_000


def test_the_zoo_covers_the_standard_suite_and_stays_small():
    import scenarios
    from scenarios.suite import load_suite

    assert MANIFEST_FILE.exists(), "zoo/manifest.json is missing: python -m agents.zoo train ..."
    covered = set(MANIFEST["defaults"])
    for name in (s.name for s in load_suite("standard").scenarios):  # the registered tasks have none yet
        lineage = {name, scenarios.get(name).base}
        assert lineage & covered, f"no zoo agent for {name}"
    files = [ROOT / MANIFEST["encoder"]["path"]] + [ROOT / e["path"] / f for e in MANIFEST["agents"].values() for f in e["files"]]
    assert sum(f.stat().st_size for f in files) == MANIFEST["shipped_bytes"] < MAX_SHIPPED_BYTES
    assert zoo.sha256(ROOT / MANIFEST["encoder"]["path"]) == MANIFEST["encoder"]["sha256"]


@pytest.mark.parametrize("key", ENTRIES)
def test_every_shipped_agent_matches_its_hash_loads_safely_and_plays_an_episode(key):
    entry = MANIFEST["agents"][key]
    folder = ROOT / entry["path"]
    for name, digest in entry["files"].items():
        assert zoo.sha256(folder / name) == digest, f"{folder / name} differs from the manifest"
    state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)  # plain tensors only
    assert "optimizer" not in json.dumps(list(_keys(state))), "shipped checkpoints hold no optimiser state"
    config = json.loads((folder / "config.json").read_text())
    assert config["zoo"]["command"].startswith("python ") and config["perception_weights"]
    cls = agents.get_class(entry["agent"])
    env = make_env(entry["scenario"], obs=config["obs"], seed=1_000_000)
    agent = cls.load(folder, env, scenario=entry["scenario"])
    obs, _ = env.reset()
    done, steps = False, 0
    while not done:
        obs, _, terminated, truncated, info = env.step(agent.act(obs))
        done, steps = terminated or truncated, steps + 1
    assert info["episode"]["outcome"] in ("success", "collision", "offroad", "timeout") and steps > 0


def _keys(state, prefix=""):
    for key, value in state.items():
        yield prefix + key
        if isinstance(value, dict):
            yield from _keys(value, prefix + key + ".")


@pytest.fixture()
def tmp_zoo(tmp_path, monkeypatch):
    folder = tmp_path / "zoo"
    monkeypatch.setattr(zoo, "ZOO_DIR", folder)
    monkeypatch.setattr(zoo, "MANIFEST_FILE", folder / "manifest.json")
    return folder


def test_shipping_keeps_the_policy_drops_training_state_and_records_the_run(tmp_path, tmp_zoo, monkeypatch):
    run = train_agent(agents.get_class("dqn"), "merge", 300, "cpu", "r", False,
                      {"obs": "kinematics", "n_envs": 1, "learning_starts": 50}, 0, runs_dir=tmp_path / "runs",
                      eval_every=300, eval_episodes=1)
    shipped = zoo.ship(run, "python -m agents.zoo train --agent dqn --scenario merge", {"steps": 300})
    assert shipped == tmp_zoo / "merge" / "dqn"
    assert (shipped / "model.pt").stat().st_size < 0.5 * (run / "model.pt").stat().st_size  # no target, no Adam moments
    env = make_env("merge", obs="kinematics", seed=5)
    trained, played = agents.get_class("dqn").load(run, env), agents.get_class("dqn").load(shipped, env)
    obs, _ = env.reset()
    for _ in range(5):
        assert played.act(obs) == trained.act(obs)
        obs, *_ = env.step(trained.act(obs))
    manifest = json.loads((tmp_zoo / "manifest.json").read_text())
    entry = manifest["agents"]["merge/dqn"]
    assert manifest["defaults"] == {"merge": "dqn"} and entry["steps"] == entry["run_steps"] == 300
    assert entry["train_seconds"] > 0 and entry["held_out_during_training"]["episodes"] == 1
    assert entry["files"]["model.pt"] == zoo.sha256(shipped / "model.pt")
    assert json.loads((shipped / "config.json").read_text())["zoo"]["recipe"] == {"steps": 300}

    # Suites: `zoo` plays each scenario's default, variants their base's; others fail by name.
    suite = load_suite("standard")
    spec = resolve_agent("zoo", suite.scenarios)
    merge_dense = next(s for s in suite.scenarios if s.name == "merge-dense")
    assert spec.checkpoint_for("merge-dense")[0] == str(shipped.resolve())
    record = run_task(Task(spec, merge_dense, 1_000_000, 0))
    assert record["outcome"] != "error" and record["agent_name"] == "zoo", record.get("error")
    with pytest.raises(RuntimeError, match="the zoo has no agent for highway"):
        spec.checkpoint_for("highway-dense")
    with pytest.raises(agents.AgentError, match="no 'ppo' agents"):
        resolve_agent("zoo:ppo", suite.scenarios)

    # The leaderboard: a two-scenario suite through scoring.score_suite, then docs/zoo.md.
    from agents import zoo_report

    (tmp_path / "two.yaml").write_text("description: test\nseeds: {first: 1000000, count: 2}\nepisodes: 1\n"
                                       "scenarios: [merge, merge-dense]\n")
    monkeypatch.chdir(tmp_path)  # nothing may land in the cwd: the reports go where they are told
    monkeypatch.setattr(zoo_report, "DOC_FILE", tmp_path / "zoo.md")
    assert zoo_report.score_zoo(str(tmp_path / "two.yaml"), 1, "r", False, reports_dir=tmp_path / "out") == 0
    assert (tmp_path / "out" / "two" / "r" / "leaderboard.md").exists() and not (tmp_path / "reports").exists()
    doc = (tmp_path / "zoo.md").read_text()
    assert re.search(r"\| merge( †)? \| dqn \|", doc) and re.search(r"\| merge-dense( †)? \| dqn \|", doc), doc
    assert "| idm |" in doc
    assert "| idle |" in doc and "| brake |" in doc and f"report `{(tmp_path / 'out' / 'two' / 'r').as_posix()}/`" in doc
    # mean speeds of zoo and idm: where a survive rule would hide a car that waits out the clock
    assert re.search(r"\| merge( †)? \| dqn \|.*\| \d+\.\d / \d+\.\d \| (yes|no)", doc), doc
    entry = json.loads((tmp_zoo / "manifest.json").read_text())["agents"]["merge/dqn"]
    assert set(entry["suite"]) == {"merge", "merge-dense"} and entry["suite"]["merge"]["episodes"] == 2


def test_train_and_ship_refuse_an_installed_copys_zoo_in_one_line(monkeypatch, capsys):
    """Installed with pip, zoo/ lies in site-packages: shipping there would be lost to the next
    pip upgrade, so train and ship say to run them in a clone."""
    import sysconfig

    monkeypatch.setattr(zoo, "ZOO_DIR", Path(sysconfig.get_paths()["purelib"]) / "zoo")
    for argv in (["ship", "runs/merge/dqn/x"], ["train", "--agent", "dqn"]):
        with pytest.raises(SystemExit) as exit_:
            zoo.main(argv)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and "installed copy's (site-packages)" in err and len(err.splitlines()) == 1
    assert not zoo.in_installed_copy(Path(__file__).resolve().parents[2] / "zoo")  # this checkout's


def test_zoo_command_errors_are_one_line(tmp_path):
    for argv, message in ((["train", "--agent", "idm"], "no recipes for 'idm'"),
                          (["train", "--agent", "dqn", "--scenario", "racetrack"], "no dqn recipe for racetrack")):
        result = subprocess.run([sys.executable, "-m", "agents.zoo", *argv], capture_output=True, text=True,
                                cwd=ROOT, timeout=120)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_variant_without_an_agent_of_its_own_plays_its_base_scenarios(tmp_path, monkeypatch):
    import agents.runs
    from agents.runs import find_checkpoint

    def checkpoint(folder: Path) -> Path:
        folder.mkdir(parents=True)
        (folder / "model.pt").write_bytes(b"")
        return folder

    runs, shipped = tmp_path / "runs", tmp_path / "zoo"  # a zoo with merge's dqn only
    monkeypatch.setattr(agents.runs, "ZOO_DIR", shipped)
    assert find_checkpoint("merge-dense", "dqn", runs_dir=runs) is None
    base_zoo = checkpoint(shipped / "merge" / "dqn")
    assert find_checkpoint("merge-dense", "dqn", runs_dir=runs) == base_zoo
    base_run = checkpoint(runs / "merge" / "dqn" / "mine")  # a run of the user's own on the base comes first
    assert find_checkpoint("merge-dense", "dqn", runs_dir=runs) == base_run
    variant_zoo = checkpoint(shipped / "merge-dense" / "dqn")  # then the variant's own, shipped or run
    assert find_checkpoint("merge-dense", "dqn", runs_dir=runs) == variant_zoo
    variant_run = checkpoint(runs / "merge-dense" / "dqn" / "mine")
    assert find_checkpoint("merge-dense", "dqn", runs_dir=runs) == variant_run
    assert find_checkpoint("merge", "dqn", runs_dir=runs) == base_run  # a base never plays a variant's


def test_a_suite_variant_outside_the_catalog_plays_its_base_scenarios_agent(tmp_path, monkeypatch):
    from agents.runs import ZOO_DIR

    # `run_sim.py --suite dense --agent dqn`: highway-density-2.0 exists only in the suite
    scenario = load_suite("dense").scenario("highway-density-2.0")
    monkeypatch.chdir(tmp_path)  # no runs/ of the user's own: the zoo's
    name, folder, _ = resolve_agent("dqn", [scenario]).per_scenario[0]
    assert (name, Path(folder)) == ("highway-density-2.0", ZOO_DIR / "highway" / "dqn")


def test_every_catalog_variant_ships_agents_of_its_own():
    import scenarios
    from agents.runs import ZOO_DIR

    variants = [name for name in scenarios.names() if scenarios.get(name).base]
    assert variants, "the catalog has variants (highway-dense, merge-dense)"
    for name in variants:
        assert (ZOO_DIR / name / "dqn" / "model.pt").exists() and (ZOO_DIR / name / "ppo" / "model.pt").exists(), name


def test_defaults_are_chosen_by_driving_score_on_validation_seeds(tmp_path, monkeypatch):
    """Each scenario's default is the shipped agent with the higher mean v2 score on validation
    seeds (never evaluation seeds); the real zoo's merge agents, on a copy of the manifest."""
    from agents import zoo_report

    copy = tmp_path / "manifest.json"
    copy.write_text(zoo.MANIFEST_FILE.read_text(encoding="utf-8"))
    monkeypatch.setattr(zoo, "MANIFEST_FILE", copy)
    monkeypatch.setattr(zoo_report, "VALIDATION_EPISODES", 2)
    (tmp_path / "m.yaml").write_text("description: t\nseeds: {first: 1000000, count: 1}\nepisodes: 1\nscenarios: [merge, racetrack]\n")
    suite = load_suite(str(tmp_path / "m.yaml"))
    assert zoo_report.choose_defaults(zoo.read_manifest(), suite, 1, "v", False, tmp_path / "out") == 0
    written = json.loads(copy.read_text())
    records = json.loads((tmp_path / "out" / "validation" / "v" / "results.json").read_text())["episodes"]
    assert {r["seed"] for r in records} == {900_000, 900_001} and {r["scenario"] for r in records} == {"merge"}
    means = {a: np.mean([r["driving_score"] for r in records if r["agent"] == f"zoo:{a}"]) for a in ("dqn", "ppo")}
    assert written["defaults"]["merge"] == max(sorted(means), key=means.get)
    assert written["defaults"]["racetrack"] == "sac"  # one shipped agent: nothing to choose
    assert "validation seeds 900000-900001" in written["defaults_chosen_by"]


def test_the_manifest_records_the_evaluation_the_shipped_checkpoint_won_with(tmp_path):
    """A run keeps the checkpoint of its highest driving score; the zoo's record of it, and its
    rank for the scenario's default, are that evaluation's, not the one with the most successes."""
    import json

    from agents.training import RunFolder
    from agents.zoo import _rank, best_evaluation

    safe_and_slow = {"steps": 1000, "success_rate": 1.0, "mean_return": 20.0, "mean_driving_score": 0.5}
    driving = {"steps": 2000, "success_rate": 0.8, "mean_return": 10.0, "mean_driving_score": 0.7}
    (tmp_path / "metrics.json").write_text(json.dumps([safe_and_slow, driving]))
    assert RunFolder(tmp_path).best == RunFolder._rank(driving)
    assert best_evaluation(tmp_path) == driving
    assert _rank({"held_out_during_training": driving}) > _rank({"held_out_during_training": safe_and_slow})
