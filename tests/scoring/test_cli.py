"""run_sim.py --suite as a user runs it: a real subprocess, interrupted (SIGINT, SIGKILL) and resumed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import run_sim
from scenarios.suite import load_suite
from agents.resolve import resolve_agent
from scoring.run import open_results, run_suite
from tests.conftest import ctrl_c_as_at_a_terminal

ROOT = Path(run_sim.__file__).resolve().parent


def cli(*args, **kwargs):
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run_sim.py"), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        preexec_fn=ctrl_c_as_at_a_terminal,
        **kwargs,
    )


def episodes(folder):
    return json.loads((folder / "results.json").read_text())["episodes"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run of the tiny suite (in-process, one worker)."""
    from tests.scoring.conftest import TINY_SUITE

    folder = tmp_path_factory.mktemp("ref")
    (folder / "tiny.yaml").write_text(TINY_SUITE)
    suite = load_suite(str(folder / "tiny.yaml"))
    specs = [resolve_agent("idm"), resolve_agent("random")]
    results = open_results(folder / "reports", suite, specs, "ref", resume=False)
    run_suite(suite, specs, results, workers=1)
    return results.sorted_records()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupt_then_resume_equals_an_uninterrupted_run(tiny_suite, tmp_path, reference, sig):
    args = [
        "--suite",
        str(tiny_suite),
        "--agent",
        "idm",
        "--agent",
        "random",
        "--workers",
        "2",
        "--reports",
        str(tmp_path),
        "--run",
        "r",
    ]
    run = tmp_path / "tiny" / "r"
    proc = cli(*args)
    deadline = time.time() + 60
    while time.time() < deadline:
        if (run / "results.json").exists() and len(episodes(run)) >= 4:
            break
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    done = episodes(run)  # never corrupt: written to a temp file and renamed
    assert 4 <= len(done) < len(reference), "the run should have been stopped mid-way"
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "--resume" in err
    resumed = cli(*args, "--resume")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    final = episodes(run)
    assert final == reference  # nothing lost, nothing twice, same episodes
    assert f"({len(done)} already done)" in out
    assert (run / "leaderboard.md").exists() and (run / "results.csv").exists() and (run / "scores.png").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--suite", "nope"], "unknown suite 'nope'"),
        (["--suite", "smoke", "--agent", "dqm"], "unknown agent 'dqm'"),
        (["--suite", "smoke", "--agent", "idm", "--agent", "idm"], "--agent names repeat"),
        (["--workers", "2"], "only apply with --suite"),
        (["--agent", "idm", "--agent", "random"], "one --agent per run without --suite"),
        (["--suite", "smoke", "--workers", "0"], "expected a positive integer"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        run_sim.main(args)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_resume_errors_are_one_line(tiny_suite, tmp_path, capsys):
    base = ["--suite", str(tiny_suite), "--reports", str(tmp_path)]
    with pytest.raises(SystemExit) as stop:
        run_sim.main([*base, "--resume"])
    assert stop.value.code == 2 and "nothing to resume" in capsys.readouterr().err
    (tmp_path / "tiny" / "r").mkdir(parents=True)
    (tmp_path / "tiny" / "r" / "results.json").write_text(
        '{"header": {"suite": "tiny", "run": "r", "agents": {"idm": "x"}}, "episodes": []}')
    with pytest.raises(SystemExit) as stop:
        run_sim.main([*base, "--run", "r", "--resume", "--agent", "random"])
    assert stop.value.code == 2 and "resume with the same --agent list" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        run_sim.main([*base, "--run", "r"])
    assert stop.value.code == 2 and "already holds results" in capsys.readouterr().err


@pytest.mark.slow
def test_smoke_suite_ranks_idm_above_random(tmp_path, capsys):
    """The issue's acceptance run (about 10 s on 2 cores); test_reports_leaderboard_csv_and_chart covers it fast."""
    assert (
        run_sim.main(
            ["--suite", "smoke", "--agent", "idm", "--agent", "random", "--reports", str(tmp_path), "--run", "s"]
        )
        == 0
    )
    board = (tmp_path / "smoke" / "s" / "leaderboard.md").read_text()
    assert board.index("| 1 | idm |") < board.index("| 2 | random |")


def test_scored_episodes_save_replays_that_re_render_the_same_episode(tmp_path, capsys):
    """--replays: each scored episode, a suite variant included, re-renders from its file with the
    metrics it was scored with (same outcome, steps and return)."""
    suite = tmp_path / "variant.yaml"
    suite.write_text("description: a variant\nseeds: {first: 1000000, count: 2}\nepisodes: 1\n"
                     "scenarios: [{name: merge-busy, base: merge, config: {vehicles_count: 6}}]\n")
    assert run_sim.main(["--suite", str(suite), "--agent", "random", "--reports", str(tmp_path), "--run", "r",
                         "--replays", "--workers", "2"]) == 0
    folder = tmp_path / "variant" / "r"
    files = sorted((folder / "replays" / "random" / "merge-busy").glob("*.json"))
    assert [f.name for f in files] == ["1000000-0.json", "1000001-0.json"]
    scored = {r["seed"]: r["metrics"] for r in episodes(folder)}
    for file in files:
        replay = json.loads(file.read_text())
        assert replay["variant"] == {"base": "merge", "overrides": {"config": {"vehicles_count": 6}}}
        capsys.readouterr()
        assert run_sim.main(["--replay", str(file), "--no-window"]) == 0
        out = capsys.readouterr().out
        seed = int(file.stem.split("-")[0])
        assert "1 episodes: " in out and f"mean return {scored[seed]['episode_return']:.2f}" in out
        assert len(replay["episodes"][0]["actions"]) == scored[seed]["length"]


def test_a_suite_with_the_floors_ranks_them_beside_idm(tiny_suite, tmp_path):
    """`run_sim.py --suite ... --agent idm --agent brake --agent idle --agent random`: the
    leaderboard lists the floors, and brake, parked at the roundabout entry, scores 0 there."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "run_sim.py"), "--suite", str(tiny_suite), "--agent", "idm", "--agent", "brake",
         "--agent", "idle", "--agent", "random", "--workers", "2", "--reports", str(tmp_path), "--run", "floors"],
        cwd=ROOT, capture_output=True, text=True, env=os.environ | {"PYTHONPATH": str(ROOT)}, timeout=300)
    assert out.returncode == 0, out.stderr
    board = (tmp_path / "tiny" / "floors" / "leaderboard.md").read_text()
    for agent in ("idm", "brake", "idle", "random"):
        assert f"| {agent} |" in board
    records = episodes(tmp_path / "tiny" / "floors")
    brake = [r for r in records if r["agent"] == "brake" and r["scenario"] == "roundabout"]
    assert brake and all(r["driving_score"] == 0.0 and r["score"]["progress"] < 0.2 for r in brake)
    assert all(r["score"]["version"] == 2 for r in records)
