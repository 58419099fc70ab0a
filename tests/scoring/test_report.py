"""The leaderboard from records built by hand: progress and at-fault columns, the too-easy mark."""

import pytest

from scoring.report import leaderboard_markdown, summarise, too_easy_floors
from scoring.stats import Interval


def record(agent, scenario, seed, score, progress=None, fault=None, error=False):
    """One episode as the scorer writes it; progress/fault None: an older record without the key."""
    if error:
        return {"agent": agent, "scenario": scenario, "seed": seed, "episode": 0, "outcome": "error",
                "driving_score": 0.0, "score": None, "metrics": None}
    metrics = {"collisions": int(fault is not None), "distance": 200.0}
    if fault is not None:
        metrics["collision_at_fault"] = fault
    return {"agent": agent, "scenario": scenario, "seed": seed, "episode": 0,
            "outcome": "collision" if fault is not None else "success", "driving_score": score,
            "score": {"driving_score": score, **({"progress": progress} if progress is not None else {})},
            "metrics": metrics}


def cell(value, low, high):
    return {"score": Interval(value, low, high)}


def test_a_floor_within_idms_ci_marks_the_scenario_and_one_below_does_not():
    per = {("idm", "merge"): cell(0.80, 0.70, 0.90), ("brake", "merge"): cell(0.72, 0.60, 0.80),
           ("idle", "merge"): cell(0.20, 0.10, 0.30),
           ("idm", "exit"): cell(0.80, 0.70, 0.90), ("brake", "exit"): cell(0.69, 0.60, 0.75),
           ("idle", "exit"): cell(0.10, 0.05, 0.15),
           ("brake", "u-turn"): cell(0.90, 0.80, 1.0)}  # no idm on u-turn: nothing to compare with
    assert too_easy_floors(per, "merge") == ["brake"]
    assert too_easy_floors(per, "exit") == []
    assert too_easy_floors(per, "u-turn") == []
    per[("idle", "exit")] = cell(0.95, 0.9, 1.0)  # above idm's CI counts too
    assert too_easy_floors(per, "exit") == ["idle"]


def test_the_leaderboard_shows_progress_at_fault_collisions_and_the_too_easy_footnote():
    records = [record("idm", "merge", s, 0.9 - 0.1 * (s % 2), progress=1.0, fault=None) for s in range(4)]
    records += [record("brake", "merge", s, 0.85, progress=0.5) for s in range(4)]  # constant: within idm's CI
    records += [record("idm", "exit", s, 0.9, progress=0.25 * s, fault=s == 1) for s in range(4)]
    records += [record("brake", "exit", s, 0.1, progress=0.1, fault=False) for s in range(3)]
    records += [record("brake", "exit", 3, 0.0, error=True)]  # no score: skipped for progress
    records += [record("random", "exit", s, 0.3) for s in range(4)]  # an old run: neither key
    summary = summarise(records, ["idm", "brake", "random"], ["merge", "exit"])
    assert summary["too_easy"] == {"merge": ["brake"]}
    per = summary["per_scenario"]
    assert per[("idm", "exit")]["progress"].value == 0.375
    assert per[("brake", "exit")]["progress"].value == pytest.approx(0.1)  # the error record is not a 0
    assert per[("idm", "exit")]["at_fault_collisions"] == 1 and per[("brake", "exit")]["at_fault_collisions"] == 0
    board = leaderboard_markdown(summary, "s", "r", ["idm", "brake", "random"], ["merge", "exit"])
    assert "| score | progress | success | collision | at-fault collisions |" in board
    assert "| merge † | idm | 4 |" in board and "| exit | idm | 4 |" in board
    assert "| exit | random | 4 | 0.30 [0.30, 0.30] | - |" in board  # no progress recorded: '-'
    random_row = next(line for line in board.splitlines() if line.startswith("| exit | random |"))
    assert random_row.split(" | ")[7] == "-"  # at-fault collisions unknown for old records
    brake_row = next(line for line in board.splitlines() if line.startswith("| exit | brake |"))
    assert brake_row.split(" | ")[4] == "0.10 [0.10, 0.10]" and brake_row.split(" | ")[7] == "0"
    assert "† merge: too easy to rank agents: a constant policy (brake) scores within idm's CI or above it" in board
    assert "† exit" not in board


def test_the_chart_leaves_matplotlibs_backend_and_figures_as_they_were():
    """Scoring from a notebook (inline backend) or beside a pygame window must not switch the
    user's matplotlib backend to Agg nor leave figures in pyplot's registry."""
    import matplotlib
    import matplotlib.pyplot as plt

    from scoring.report import chart_png

    before = matplotlib.get_backend()
    matplotlib.use("svg")  # stands in for a user's own backend
    try:
        summary = {"per_scenario": {("a", "s"): {"score": Interval(0.5, 0.4, 0.6)}}}
        png = chart_png(summary, ["a"], ["s"], "title")
        assert png[:4] == b"\x89PNG"
        assert matplotlib.get_backend() == "svg" and plt.get_fignums() == []
    finally:
        matplotlib.use(before)
