"""The command line, run as a user runs it: a real subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

import scenarios

ROOT = Path(__file__).resolve().parents[1]


def run_sim(*args, timeout=120, cwd=ROOT):
    env = dict(os.environ, SDL_VIDEODRIVER="dummy")  # what a user would set; sim makes it draw
    env.pop("PYTHONPATH", None)  # as a user starts it: the packages are found beside run_sim.py
    return subprocess.run(
        [sys.executable, str(ROOT / "run_sim.py"), *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd
    )


def main_in_process(capsys, *args) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of run_sim.main(args) in this process."""
    import run_sim as cli

    try:
        code = cli.main(list(args))
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_records_merge_headless_one_frame_per_rendered_step(tmp_path):
    video = tmp_path / "m.mp4"
    result = run_sim("--scenario", "merge", "--agent", "idm", "--episodes", "2", "--record", str(video))
    assert result.returncode == 0, result.stderr
    assert "2 episodes: success" in result.stdout
    steps = [int(line.split("│")[4]) for line in result.stdout.splitlines() if line.count("│") > 5]
    assert len(steps) == 2
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == sum(steps) + 2, "reset frame + one per step, per episode"
    assert all(frame.std() > 10 for frame in frames), "no blank frames"


def test_runs_from_any_folder_reading_data_beside_it_and_writing_outputs_in_the_current_one(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = set(ROOT.iterdir())
    result = run_sim("--scenario", "merge", "--agent", "idm", "--episodes", "1", "--record", "ep.mp4",
                     "--save-replay", "ep.json", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert "1 episodes: success" in result.stdout
    assert (elsewhere / "ep.mp4").stat().st_size > 0 and (elsewhere / "ep.json").stat().st_size > 0
    assert set(ROOT.iterdir()) == before, "nothing written into the repository"


def test_help_lists_scenarios_and_agents(capsys):
    code, out, _ = main_in_process(capsys, "--help")
    assert code == 0
    for name in scenarios.names() + ["idm", "random"]:
        assert f"\n  {name} " in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scenario", "mrge"], "unknown scenario 'mrge'"),
        (["--agent", "dqm"], "unknown agent 'dqm'"),
        (["--episodes", "0"], "expected a positive integer"),
        (["--episodes", "many"], "expected a positive integer"),
        (["--seed", "-2"], "expected an integer >= 0"),
        (["--record", "/no/such/folder/x.mp4"], "does not exist"),
        (["--record", "out.avi"], "must end in .mp4 or .gif"),
        (["--obs", "pixels"], "invalid choice"),
        (["--agent", "zoo:nosuch"], "the zoo has no 'nosuch' agents; it ships"),
        (["--agent", "zoo", "--train"], "--train trains an agent by its name"),
        (["--agent", "zoo", "--checkpoint", "zoo/merge/dqn"], "--agent zoo plays the zoo's checkpoint"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(args, message, capsys):
    # in this process (argparse exits before anything runs): a subprocess each cost 4 s of imports;
    # the real-process path is the other tests' (and tests/reliability/test_inputs.py's)
    code, _, err = main_in_process(capsys, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_errors_name_the_command_the_user_typed(capsys, monkeypatch):
    """Installed, the command is `run-sim`: its errors must not say `run_sim.py:`."""
    monkeypatch.setattr(sys, "argv", ["/venv/bin/run-sim"])
    code, _, err = main_in_process(capsys, "--episodes", "0")
    assert code == 2 and err.startswith("run-sim: error: ")
    monkeypatch.setattr(sys, "argv", ["run_sim.py"])
    assert main_in_process(capsys, "--episodes", "0")[2].startswith("run_sim.py: error: ")


def test_unwritable_output_folder(capsys):
    code, _, err = main_in_process(capsys, "--record", "/proc/x.mp4")  # no one, root included, may create files in /proc
    assert code == 2 and "cannot write in /proc" in err


def test_plays_a_registered_task_on_envpool_and_refuses_a_customised_one_in_one_line(capsys):
    code, out, err = main_in_process(capsys, "--scenario", "highway-fast-v0", "--agent", "random", "--engine", "envpool",
                                     "--episodes", "2", "--no-window")
    assert code == 0, err
    assert "2 episodes: success" in out
    code, _, err = main_in_process(capsys, "--scenario", "highway", "--agent", "idle", "--engine", "envpool")
    assert code == 2 and "cannot run on --engine envpool" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_agent_zoo_plays_the_zoo_s_agent_for_the_scenario_as_suites_do(capsys):
    from agents import zoo

    default = zoo.read_manifest()["defaults"]["merge"]
    code, out, err = main_in_process(capsys, "--scenario", "merge", "--agent", "zoo", "--episodes", "1", "--no-window")
    assert code == 0, err
    assert f"loaded {default} checkpoint {ROOT / 'zoo' / 'merge' / default}\n" in out
    assert f"merge / {default}" in out and "1 episodes:" in out


def test_agent_zoo_on_a_scenario_without_a_zoo_agent_is_one_line(capsys):
    from agents import zoo

    shipped = set(zoo.read_manifest()["defaults"])
    bare = next(name for name in scenarios.names() if not set(scenarios.lineage(name)) & shipped)
    code, _, err = main_in_process(capsys, "--scenario", bare, "--agent", "zoo")
    assert code == 2 and f"the zoo has no agent for {bare}; it has agents for " in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
