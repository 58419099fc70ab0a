"""Bad input at every entry point (issue 8, item 1): run_sim.py's arguments, --set values, replay,
checkpoint, suite and scenario files, and the YAML tables behind them.

Every CLI case must end with exit code 2 and one line on stderr naming the problem, never a
traceback, and must leave no file behind: no runs/ or reports/ folder, no video, no replay.
The cases run run_sim.main in-process (fast); two run it as a real process, where the
argument bytes and the interpreter's own error printing are real.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

import run_sim
from tests.reliability.conftest import NOT_UTF8, files_under, write

ROOT = Path(__file__).resolve().parents[2]
HUGE = "1" + "0" * 30  # 10**30


# --- names and numbers on the command line --------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--scenario", "mrge"], "unknown scenario 'mrge'; valid scenarios: exit"),
    (["--scenario", ""], "unknown scenario ''"),
    (["--agent", "dqm"], "unknown agent 'dqm'; valid agents: dqn"),
    (["--suite", "nosuch"], "unknown suite 'nosuch'; valid suites:"),
    (["--suite", ""], "expected a name or path, got an empty string"),
    (["--suite", "smoke", "--agent", "nosuch"], "unknown agent 'nosuch'; give a registered agent"),
    (["--suite", "smoke", "--agent", "idm", "--agent", "idm"], "--agent names repeat"),
    (["--obs", "pixels"], "argument --obs: invalid choice: 'pixels'"),
    (["--train", "--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    (["--episodes", "0"], "argument --episodes: expected a positive integer, got '0'"),
    (["--episodes", "-3"], "expected a positive integer, got '-3'"),
    (["--episodes", HUGE], "argument --episodes: expected at most 100000"),
    (["--episodes", "many"], "expected a positive integer, got 'many'"),
    (["--episodes", ""], "expected a positive integer, got ''"),
    (["--episodes", "2.5"], "expected a positive integer, got '2.5'"),
    (["--episodes", "nan"], "expected a positive integer, got 'nan'"),
    (["--seed", "-1"], "argument --seed: expected an integer >= 0, got '-1'"),
    (["--seed", "2147483648"], "argument --seed: expected at most 2147483647"),
    (["--seed", HUGE], "argument --seed: expected at most 2147483647"),
    (["--seed", "inf"], "expected an integer >= 0, got 'inf'"),
    (["--steps", "0", "--train"], "argument --steps: expected a positive integer"),
    (["--steps", HUGE, "--train"], "argument --steps: expected at most 1000000000"),
    (["--eval-every", "-5"], "argument --eval-every: expected a positive integer"),
    (["--eval-episodes", HUGE], "argument --eval-episodes: expected at most 100000"),
    (["--suite", "smoke", "--workers", "0"], "argument --workers: expected a positive integer"),
    (["--suite", "smoke", "--workers", HUGE], "argument --workers: expected at most 256"),
    (["--suite", "smoke", "--workers", ""], "argument --workers: expected a positive integer, got ''"),
    (["--suite", "smoke", "--ray", "nowhere"], "argument --ray: expected auto, local or host:port"),
    (["--suite", "smoke", "--ray", "host:99999"], "expected auto, local or host:port"),
    (["--suite", "smoke", "--episode-timeout", "0"], "argument --episode-timeout: expected a number from 1 to 86400, got '0'"),
    (["--suite", "smoke", "--episode-timeout", "nan"], "argument --episode-timeout: expected a number from 1 to 86400"),
    (["--suite", "smoke", "--episode-timeout", "inf"], "argument --episode-timeout: expected a number from 1 to 86400"),
    (["--episode-timeout", "60"], "--workers, --ray and --episode-timeout only apply with --suite"),
    (["--train", "--agent", "dqn", "--run", "../escape"], "argument --run: expected a folder name"),
    (["--suite", "smoke", "--run", "a/b"], "argument --run: expected a folder name"),
    (["--suite", "smoke", "--reports", ""], "argument --reports: expected a name or path"),
    (["--train", "--seed", "1000000"], "training seeds stay below 1000000"),
    (["--set", "gamma=0.5"], "--set applies only with --train"),
    (["--steps", "100", "--finetune-encoder"], "--steps, --finetune-encoder apply only with --train"),
    (["--eval-every", "100"], "--eval-every applies only with --train"),
])
def test_bad_names_and_numbers(cli, args, message):
    assert message in cli(*args)


def test_bad_output_paths(cli, tmp_path):
    folder = tmp_path / "a-folder.mp4"
    folder.mkdir()
    assert "cannot record to nodir/x.mp4: folder nodir does not exist" in cli("--record", "nodir/x.mp4")
    assert "must end in .mp4 or .gif" in cli("--record", "x.avi")
    assert "it is a folder" in cli("--record", str(folder))
    assert "expected a name or path, got an empty string" in cli("--record", "")
    assert "cannot save the replay to nodir/r.json: folder nodir does not exist" in cli("--save-replay", "nodir/r.json")
    assert "it is a folder" in cli("--save-replay", str(tmp_path))
    assert "argument --save-replay: expected a name or path" in cli("--save-replay", "")
    assert "--replay and --save-replay apply to watched episodes" in cli("--suite", "smoke", "--save-replay", "r.json")


# --- --set values -------------------------------------------------------------------------

DQN = ["--train", "--scenario", "merge", "--agent", "dqn"]
PPO = ["--train", "--scenario", "merge", "--agent", "ppo"]


@pytest.mark.parametrize("args, message", [
    (DQN + ["--set", "learning_rte=1"], "unknown dqn setting(s) learning_rte; valid: obs, encoder, n_envs"),
    (DQN + ["--set", "learning_rate=nan"], "dqn setting learning_rate=nan: expected a finite number"),
    (DQN + ["--set", "learning_rate=-inf"], "learning_rate=-inf: expected a finite number"),
    (DQN + ["--set", "learning_rate=0"], "learning_rate=0: expected a positive number"),
    (DQN + ["--set", "learning_rate=fast"], "learning_rate='fast': expected a finite number"),
    (DQN + ["--set", "learning_rate="], "learning_rate=None: expected a finite number"),
    (DQN + ["--set", "gamma=2"], "dqn setting gamma=2: expected a number in [0, 1]"),
    (DQN + ["--set", "epsilon_end=-0.1"], "epsilon_end=-0.1: expected a non-negative number"),
    (DQN + ["--set", "tau=0"], "tau=0: expected a positive number"),
    (DQN + ["--set", "batch_size=-5"], "batch_size=-5: expected a positive number"),
    (DQN + ["--set", "batch_size=0"], "batch_size=0: expected a positive number"),
    (DQN + ["--set", "batch_size=12.5"], "batch_size=12.5: expected an integer"),
    (DQN + ["--set", f"buffer_size={HUGE}"], "expected at most 1000000000"),
    (DQN + ["--set", "buffer_size=1e30"], "buffer_size=1e+30: expected at most 1000000000"),
    (DQN + ["--set", "n_envs=1000"], "n_envs=1000: expected at most 256"),
    (DQN + ["--set", "hidden=100000"], "hidden=100000: expected at most 16384"),
    (DQN + ["--set", "double=maybe"], "double='maybe': expected true or false"),
    (DQN + ["--set", "prioritized=1"], "prioritized=1: expected true or false"),
    (DQN + ["--set", "obs=pixels"], "obs='pixels': expected one of features, camera, kinematics"),
    (DQN + ["--set", "n_step=[3]"], "n_step=[3]: expected a finite number"),
    (DQN + ["--set", "=5"], "--set expects KEY=VALUE, got '=5'"),
    (DQN + ["--set", "gamma"], "--set expects KEY=VALUE, got 'gamma'"),
    (DQN + ["--set", "gamma=[0.9"], "--set gamma: cannot read '[0.9' as a value"),
    # YAML's tags that build Python objects are refused, not run (yaml.safe_load).
    (DQN + ["--set", "gamma=!!python/object/apply:os.system [echo hi]"], "--set gamma: cannot read"),
    (PPO + ["--set", "n_steps=-5"], "ppo setting n_steps=-5: expected a positive number"),
    (PPO + ["--set", "n_steps=1e30"], "ppo setting n_steps=1e+30: expected at most 1000000000"),
    (PPO + ["--set", "learning_rate=nan"], "ppo setting learning_rate=nan: expected a finite number"),
    (PPO + ["--set", "gamma=2"], "ppo setting gamma=2: expected a number in [0, 1]"),
    (PPO + ["--set", "ent_coef=-0.1"], "ent_coef=-0.1: expected a non-negative number"),
    (PPO + ["--set", "net_arch=[64, -1]"], "expected a list of layer sizes from 1 to 16384"),
    (PPO + ["--set", "net_arch=[100000]"], "expected a list of layer sizes from 1 to 16384"),
    (PPO + ["--set", "n_stepz=5"], "unknown ppo setting(s) n_stepz"),
    (PPO + ["--set", "obs=kinematics", "--finetune-encoder"], "finetune_encoder needs camera frames"),
])
def test_bad_settings_never_start_training(cli, args, message):
    assert message in cli(*args)


def test_valid_settings_still_pass_and_integral_floats_become_ints():
    from agents.dqn import DQNConfig
    from agents.sb3 import SB3_AGENTS, PPOAgent

    assert DQNConfig.from_dict(asdict(DQNConfig())) == DQNConfig()
    assert DQNConfig.from_dict({"buffer_size": 1e5}).buffer_size == 100_000
    assert DQNConfig.from_dict({"tau": 1, "gamma": 0, "learning_starts": 1}).tau == 1
    assert PPOAgent.config_class.from_dict({"n_steps": 1e3, "gamma": 1}).values["n_steps"] == 1000
    for agent in SB3_AGENTS:  # the shipped table passes its own checks
        agent.config_class.from_dict(agent.default_settings("merge"))


# --- replay files -------------------------------------------------------------------------

GOOD_REPLAY = {"format": 1, "scenario": "merge", "obs": "kinematics", "agent": "idm", "checkpoint": None,
               "checkpoint_hash": None, "value_kind": "action values", "variant": None,
               "episodes": [{"seed": 0, "complete": True, "actions": [1], "values": [None]}]}


def replay_with(**changes) -> str:
    return json.dumps({**GOOD_REPLAY, **changes})


def episode_with(**changes) -> list:
    return [{**GOOD_REPLAY["episodes"][0], **changes}]


@pytest.mark.parametrize("content, message", [
    ("", "is not a replay file: Expecting value"),
    (NOT_UTF8, "is not a replay file: 'utf-8' codec can't decode"),
    ("[1, 2]", "is not a replay file of format 1"),
    ('{"format": 2}', "is not a replay file of format 1"),
    ('{"format": 1}', "is a corrupt replay file: scenario must be text"),
    (replay_with(obs="pixels"), "corrupt replay file: obs 'pixels' is not one of camera"),
    (replay_with(agent=None), "corrupt replay file: agent must be text"),
    (replay_with(variant="x"), 'variant must be null or {"base": name'),
    (replay_with(episodes=[]), "episodes must be a non-empty list"),
    (replay_with(episodes="abc"), "episodes must be a non-empty list"),
    (replay_with(episodes=[5]), "episode 0: not a mapping"),
    (replay_with(episodes=episode_with(seed=-1)), "episode 0: seed must be an integer from 0 to 2**32 - 1, got -1"),
    (replay_with(episodes=episode_with(seed="x")), "seed must be an integer"),
    (replay_with(episodes=episode_with(seed=2**40)), "seed must be an integer"),
    (replay_with(episodes=episode_with(actions="abc")), "actions must be a list of integers or of lists of numbers"),
    (replay_with(episodes=episode_with(values=[["x"]])), "values must be a list of lists of numbers or nulls"),
    (replay_with(episodes=episode_with(complete="yes")), "complete must be true or false"),
    (replay_with(scenario="nosuch"), "unknown scenario 'nosuch'"),
    (replay_with(agent="nosuch"), "unknown agent 'nosuch'"),
    (replay_with(variant={"base": "merge", "overrides": {"config": {"vehicle_count": 3}}}),
     "unknown config key 'vehicle_count'"),
    # Checked against merge's action space before the first frame, so no video is started.
    (replay_with(episodes=episode_with(actions=[1, 99])), "episode 0 step 1: action 99 is not in merge's action space"),
    (replay_with(episodes=episode_with(actions=[[0.5, 0.5]])), "action [0.5, 0.5] is not in merge's action space"),
])
def test_bad_replay_files(cli, tmp_path, content, message):
    replay = write(tmp_path / "in", "bad.json", content)
    assert message in cli("--replay", replay, "--record", "out.gif", "--no-window")


def test_replay_paths_that_are_no_file(cli, tmp_path):
    assert "no replay file at nothing.json" in cli("--replay", "nothing.json")
    assert "is not a replay file: [Errno 21] Is a directory" in cli("--replay", str(tmp_path))
    assert "--replay cannot be combined with --train" in cli("--replay", write(tmp_path, "r.json", replay_with()), "--train")
    assert "with --suite, --replays saves" in cli("--suite", "smoke", "--save-replay", "s.json")


# --- checkpoint folders -------------------------------------------------------------------

@pytest.fixture
def with_model(tmp_path):
    """A checkpoint folder holding the shipped merge DQN's weights and the config.json given."""
    def make(config: dict | str | bytes) -> str:
        folder = tmp_path / "ckpt"
        folder.mkdir(exist_ok=True)
        shutil.copy(ROOT / "zoo/merge/dqn/model.pt", folder / "model.pt")
        write(folder, "config.json", config if isinstance(config, (str, bytes)) else json.dumps(config))
        return str(folder)
    return make


def test_bad_checkpoint_folders(cli, tmp_path, with_model):
    play = ["--scenario", "merge", "--agent", "dqn", "--checkpoint"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no checkpoint at nowhere (config.json missing)" in cli(*play, "nowhere")
    assert "config.json missing" in cli(*play, str(empty))
    assert "a checkpoint is a folder" in cli(*play, write(tmp_path, "file.txt", "x"))
    assert "config.json is corrupt: Expecting value" in cli(*play, with_model(""))
    assert "config.json is corrupt: 'utf-8' codec can't decode" in cli(*play, with_model(NOT_UTF8))
    assert "config.json is corrupt: expected a JSON object" in cli(*play, with_model("[1, 2]"))
    assert "names an unknown obs mode 5; valid: camera" in cli(*play, with_model({"obs": 5}))
    assert "names an unknown obs mode [1]" in cli(*play, with_model({"obs": [1]}))
    assert "holds a 'ppo' checkpoint, not 'dqn'" in cli(*play, with_model({"agent": "ppo", "format_version": 1,
                                                                          "obs": "kinematics"}))
    header = {"agent": "dqn", "format_version": 1, "obs": "features", "scenario": "merge"}
    assert "no valid 'dqn' settings (dqn settings must be a mapping" in cli(*play, with_model({**header, "dqn": "x"}))
    assert "dqn setting learning_rate='fast': expected a finite number" in cli(
        *play, with_model({**header, "dqn": {"learning_rate": "fast"}}))
    assert "dqn setting hidden=1000000000: expected at most 16384" in cli(
        *play, with_model({**header, "dqn": {"hidden": 10**9}}))
    assert "checkpoint format 7" in cli(*play, with_model({**header, "format_version": 7}))


# --- suite files --------------------------------------------------------------------------

SUITE = "description: x\nseeds: [1000000]\nepisodes: 1\nscenarios: [merge]\n"


def suite_with(**changes: str) -> str:
    lines = dict(line.split(": ", 1) for line in SUITE.splitlines())
    lines.update(changes)
    return "".join(f"{k}: {v}\n" for k, v in lines.items() if v is not None)


def variant(entry: str) -> str:
    return suite_with(scenarios=f"[{entry}]")


@pytest.mark.parametrize("content, message", [
    ("", "must hold a mapping of keys, got NoneType"),
    (NOT_UTF8, "is not valid YAML ('utf-8' codec can't decode"),
    ("- merge\n- highway\n", "must hold a mapping of keys, got list"),
    ("{unclosed: [\n\n", "is not valid YAML (while parsing"),
    (SUITE + "colour: red\n", "unknown key(s) ['colour'] / missing key(s) []"),
    (suite_with(episodes=None), "missing key(s) ['episodes']"),
    (SUITE + "7: seven\n", "unknown key(s) ['7']"),
    (suite_with(seeds="{first: -1, count: 3}"), "seeds must be integers >= 1000000"),
    (suite_with(seeds="{first: 1000000, count: 0}"), "seeds.count must be an integer from 1 to 100000, got 0"),
    (suite_with(seeds="{first: 1000000, count: 1000000000}"), "seeds.count must be an integer from 1 to 100000"),
    (suite_with(seeds="{first: x, count: 2}"), "got first 'x', count 2"),
    (suite_with(seeds="{first: 2147483647, count: 2}"), "and <= 2147483647"),
    (suite_with(seeds="[1000000, 1000000]"), "seeds repeat"),
    (suite_with(seeds="[]"), "seeds must be a list of 1 to 100000 seeds"),
    (suite_with(seeds="x"), "seeds must be a list of 1 to 100000 seeds or {first: N, count: K}, got 'x'"),
    (suite_with(seeds="[1000000.5]"), "seeds must be integers >= 1000000"),
    (suite_with(episodes='"x"'), "episodes must be a positive integer up to 1000, got 'x'"),
    (suite_with(episodes="0"), "episodes must be a positive integer"),
    (suite_with(episodes="true"), "episodes must be a positive integer"),
    (suite_with(episodes=str(10**9)), "episodes must be a positive integer up to 1000"),
    (suite_with(seeds="{first: 1000000, count: 100000}", episodes="1000"), "more than 1,000,000 episodes per agent"),
    (suite_with(description="5"), "description must be text, got 5"),
    (suite_with(scenarios="merge"), "scenarios must be a non-empty list, got 'merge'"),
    (suite_with(scenarios="[]"), "scenarios must be a non-empty list"),
    (suite_with(scenarios="[nosuch]"), "unknown scenario 'nosuch'; valid scenarios:"),
    (suite_with(scenarios="[5]"), "a scenario entry is a catalog name or a mapping"),
    (suite_with(scenarios="[merge, merge]"), "scenario names repeat"),
    (variant("{name: m2, base: merge, config: {vehicle_count: 3}}"), "unknown config key 'vehicle_count' for merge"),
    (variant("{name: m2, base: merge, config: {vehicles_count: many}}"), "config.vehicles_count must be like"),
    (variant("{name: m2, base: merge, config: {1: 2, a: 3}}"), "unknown config key"),
    # Numbers highway-env takes and fails on later, in a worker (0 Hz, 0 lanes) or never finishes (10**9 cars).
    (variant("{name: m2, base: merge, config: {vehicles_count: -5}}"), "config.vehicles_count must be from 0 to 500, got -5"),
    (variant("{name: m2, base: merge, config: {vehicles_count: 1000000000}}"), "must be from 0 to 500"),
    (variant("{name: m2, base: merge, config: {lanes_count: 0}}"), "config.lanes_count must be from 1 to 20"),
    (variant("{name: m2, base: merge, config: {simulation_frequency: 0}}"), "simulation_frequency must be from 1"),
    (variant("{name: m2, base: highway, config: {vehicles_density: .nan}}"), "vehicles_density must be from 0 to 100, got nan"),
    (variant("{name: m2, base: merge, config: {collision_reward: -.inf}}"), "collision_reward must be a finite number"),
    (variant("{name: m2, base: merge, config: {policy_frequency: 20}}"),
     "config.policy_frequency must be at most simulation_frequency"),
    (variant("{name: m2, base: merge, config: 5}"), "scenario 'm2': config must be a dict, got 5"),
    (variant("{name: m2, base: merge, budgets: x}"), "scenario 'm2': budgets must be a dict, got 'x'"),
    (variant("{name: m2, base: merge, budgets: {max_steps: -1}}"), "budgets.max_steps must be a positive integer"),
    (variant("{name: m2, base: merge, budgets: {train_steps: 1000000000000}}"), "up to 1,000,000,000"),
    (variant("{name: m2, base: merge, action: [1]}"), "scenario 'm2': action must be a dict"),
    (variant("{name: m2, base: merge, description: 5}"), "scenario 'm2': description must be a str, got 5"),
    (variant("{name: m2, base: merge, env_id: [1]}"), "scenario 'm2': env_id must be a str"),
    (variant("{name: m2, base: merge, route: {reference_speed: 0}}"), "route.reference_speed must be a number from 0.1"),
    (variant("{name: m2, base: merge, route: {lanes: [[a, b]]}}"), "route.lanes must be a list of"),
    (variant("{name: m2, base: merge, route: {goal: null}}"), "success reach_goal needs route.goal"),
    (variant("{name: m2, base: merge, route: {exact_from: 9}}"), "route.exact_from must be an index"),
    (variant("{name: m2, base: merge, route: {turns: 3}}"), "route needs lanes and reference_speed, may have"),
    (variant("{name: m2, base: merge, colour: red}"), "unknown key(s) colour"),
    (variant("{name: ../../evil, base: merge}"), "variant name '../../evil' must be letters, digits"),
    (variant("{name: 5, base: merge}"), "variant name 5 must be letters"),
    (variant("{name: merge, base: merge}"), "variant name 'merge' is already a catalog scenario"),
    (variant("{name: m2, base: nosuch}"), "variant 'm2': unknown base 'nosuch'"),
    (variant("{name: m2, base: [merge]}"), "unknown base ['merge']"),
    (variant("{name: m2, base: merge, 1: x}"), "a scenario entry is a catalog name or a mapping"),
    # highway-env imports this class path at every reset: only its own vehicle classes are allowed.
    (variant("{name: m2, base: merge, config: {other_vehicles_type: os.system}}"),
     "config.other_vehicles_type must name a highway-env vehicle class"),
    (variant("{name: m2, base: merge, config: {other_vehicles_type: highway_env.vehicle.behavior.Nope}}"),
     "must name a highway-env vehicle class"),
])
def test_bad_suite_files(cli, tmp_path, content, message):
    suite = write(tmp_path / "in", "bad.yaml", content)
    assert message in cli("--suite", suite, "--agent", "random", "--workers", "1")


def test_suite_paths_and_results_files(cli, tmp_path):
    assert "no suite file at missing.yaml" in cli("--suite", "missing.yaml")
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    assert "no suite file at" in cli("--suite", str(folder))
    suite = write(tmp_path / "in", "s.yaml", SUITE)
    base = ["--suite", suite, "--agent", "random", "--run", "r"]
    assert "nothing to resume: no run under reports/s" in cli(*base[:4], "--resume")
    file = write(tmp_path, "a-file", "x")
    assert "cannot write" in cli(*base, "--reports", file)
    for content, message in [("", "is corrupt"), (NOT_UTF8, "is corrupt"), ('{"header": "abc", "episodes": []}', "is corrupt"),
                             ("[]", "is corrupt")]:
        write(tmp_path / "work/reports/s/r", "results.json", content)
        assert message in cli(*base, "--resume")


def test_a_bad_settings_table_stops_train_before_any_run_folder(cli, tmp_path, monkeypatch):
    import agents.sb3

    monkeypatch.setattr(agents.sb3, "SETTINGS_FILE", Path(write(tmp_path, "sb3.yaml", "ppo: {defaults: {gamma: 2}}\n")))
    assert "ppo setting gamma=2: expected a number in [0, 1]" in cli(*PPO)


# --- a real process: bytes that are not UTF-8 in the arguments ----------------------------

def run_process(args: list, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, SDL_VIDEODRIVER="dummy")
    return subprocess.run([sys.executable, str(ROOT / "run_sim.py"), *args], capture_output=True, cwd=cwd, env=env,
                          timeout=120)


@pytest.mark.parametrize("args, message", [
    ([b"--scenario", b"m\xffrge"], b"unknown scenario 'm\\udcffrge'"),
    ([b"--suite", b"bad-\xff.yaml", b"--agent", b"random"], b"must hold a mapping of keys"),
])
def test_non_utf8_arguments_in_a_real_process(tmp_path, args, message):
    (tmp_path / os.fsdecode(b"bad-\xff.yaml")).write_bytes(b"- merge\n")  # a list, not a mapping
    before = files_under(tmp_path)
    result = run_process(args, tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and b"Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert files_under(tmp_path) == before
