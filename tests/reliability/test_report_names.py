"""Names in reports (issue 18): an agent or suite name is a folder or file name, so it may hold
bytes that are not UTF-8, matplotlib mathtext ($...$), rich markup ([/]) or a table's '|'. Each is
escaped where it is drawn or written, so the reports of a finished run are always written; and
every report path stays inside its reports folder, whatever the names."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import run_sim
import scoring
from agents.baselines import IdleAgent
from scenarios.suite import load_suite
from sim import make_env
from tests.reliability.conftest import files_under, one_episode_suite

NAMES = {  # what each name broke: the leaderboard's UTF-8, the chart's mathtext, the progress bar's markup
    "not UTF-8": os.fsdecode(b"idle-\xff\xfe"),
    "mathtext": "idle-$\\frac$",
    "unbalanced mathtext": "idle-$x^$-$$",
    "rich markup": "idle-[nosuch]",  # drawn as "idle-" by the progress bar
    "a table's bar": "idle|x",
}


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_an_agent_name_is_escaped_in_every_report(tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # the progress bar draws as on a terminal, markup and all
    IdleAgent(make_env("merge", obs="kinematics")).save(tmp_path / name)  # a checkpoint folder of a baseline
    suite = one_episode_suite(tmp_path)
    assert run_sim.main(["--suite", suite, "--agent", str(tmp_path / name), "--agent", "brake", "--run", "r",
                         "--workers", "1"]) == 0
    folder = tmp_path / "reports" / "one" / "r"
    board = (folder / "leaderboard.md").read_bytes().decode("utf-8")  # valid UTF-8
    rows = [line for line in board.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert len(rows) == 2 and all(len(re.findall(r"(?<!\\)\|", row)) == 10 for row in rows), rows  # 9 cells, none split
    assert (folder / "scores.png").stat().st_size > 0 and (folder / "results.csv").read_bytes().decode("utf-8")
    shown = os.fsencode(name).decode("utf-8", "backslashreplace")  # bytes that are not UTF-8 as \xff
    assert f"one: {shown} merge" in capsys.readouterr().err  # the progress bar, as drawn


@pytest.mark.parametrize("stem", [os.fsdecode(b"suite-\xff"), "suite-$x^$"])
def test_a_suite_name_is_escaped_in_every_report(tmp_path, monkeypatch, stem):
    monkeypatch.chdir(tmp_path)
    suite = one_episode_suite(tmp_path, f"{stem}.yaml")
    assert run_sim.main(["--suite", suite, "--agent", "idle", "--run", "r", "--workers", "1"]) == 0
    folder = tmp_path / "reports" / stem / "r"
    assert (folder / "leaderboard.md").read_bytes().decode("utf-8").startswith("# Leaderboard: suite")
    assert (folder / "scores.png").stat().st_size > 0


@pytest.mark.parametrize("run", ["..", "../../outside", "a/../..", "ABSOLUTE"])
def test_a_run_name_cannot_put_reports_outside_their_folder(tmp_path, run):
    """The CLI's --run is checked, but score_suite is an API (the zoo calls it with its own --run)."""
    reports = tmp_path / "deep" / "reports"
    run = str(tmp_path / "abs") if run == "ABSOLUTE" else run
    suite = one_episode_suite(tmp_path / "in")
    with pytest.raises(scoring.SuiteSetupError, match="must be one folder name"):
        scoring.score_suite(suite, ["idle"], reports_dir=reports, run=run)
    assert set(files_under(tmp_path)) == {"in", "in/one.yaml"}


def test_a_suite_whose_name_escapes_writes_nothing_outside_reports(tmp_path):
    from dataclasses import replace

    suite = replace(load_suite(one_episode_suite(tmp_path / "in")), name="..")  # a Suite built in code
    with pytest.raises(scoring.SuiteSetupError, match="suite name '..' must be one folder name"):
        scoring.score_suite(suite, ["idle"], reports_dir=tmp_path / "reports", run="r")
    assert set(files_under(tmp_path)) == {"in", "in/one.yaml"}


def test_the_zoo_command_refuses_a_run_that_escapes(tmp_path, tmp_zoo, capsys, monkeypatch):
    from agents import zoo, zoo_report

    monkeypatch.setattr(zoo_report, "VALIDATION_EPISODES", 1)  # were it to run, briefly
    monkeypatch.setattr(zoo_report, "DOC_FILE", tmp_path / "zoo.md")  # and write docs/zoo.md, its own
    with pytest.raises(SystemExit) as stop:
        zoo.main(["score", "--suite", one_episode_suite(tmp_path / "in"), "--reports", str(tmp_path / "reports"),
                  "--run", "../../outside", "--workers", "1"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "must be one folder name" in err, err
    assert not (tmp_path / "outside").exists() and not Path(tmp_path.parent / "outside").exists()
