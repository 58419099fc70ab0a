"""The zoo's training queue (agents/zoo_queue.py): (scenario, seed) jobs on local worker processes
and on Ray, the best seed on validation chosen, and a queue stopped by Ctrl-C resumed without
training a finished job again. Real training, kept short: dqn on EnvPool's merge-v0 from the
kinematics array, a few hundred steps, one evaluation episode."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents.zoo_queue import best_seed, job_state, jobs_of, run_queue, summary_line
from tests.conftest import ctrl_c_as_at_a_terminal

ROOT = Path(__file__).resolve().parents[2]
SHORT = {"obs": "kinematics", "learning_starts": 100, "n_envs": 1}  # one env: in-process, no shard workers to start
LEARN = {"engine": "envpool", "eval_every": 300, "eval_episodes": 1}


def recipes(steps: int, seeds: list[int]) -> dict:
    return {"dqn": {"merge-v0": {"steps": steps, "seeds": seeds, "set": SHORT}}}


def evaluations(job) -> list:
    return json.loads((job.folder / "metrics.json").read_text())


@pytest.mark.parametrize("backend", ["processes", "ray"])
def test_a_queue_trains_every_seed_and_picks_the_best_on_validation(tmp_path, backend):
    jobs = jobs_of("dqn", ["merge-v0"], recipes(300, [0, 1]), tmp_path / "runs", **LEARN)
    assert [(j.scenario, j.seed) for j in jobs] == [("merge-v0", 0), ("merge-v0", 1)]
    handlers = [signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)]
    results = run_queue(jobs, "cpu", workers=2, ray="local" if backend == "ray" else None)
    # ray.init leaves a SIGTERM handler that exits with code 15: processes forked later (scoring's
    # pool workers) would not end by the pool's SIGTERM. The session puts ours back.
    assert [signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)] == handlers
    assert sorted(r["job"].seed for r in results) == [0, 1] and all(r["state"] == "done" for r in results)
    assert all(job_state(job) == "done" and evaluations(job) for job in jobs)
    folder, scores = best_seed(results, "merge-v0")
    assert set(scores) == {0, 1}
    best = max(scores, key=lambda s: scores[s])
    assert folder == jobs[best].folder
    assert "over 2 seeds" in summary_line("merge-v0", "dqn", scores)
    # run again: nothing is trained twice
    before = [evaluations(job) for job in jobs]
    again = run_queue(jobs, "cpu", workers=2)
    assert all(r["state"] == "done" for r in again) and [evaluations(job) for job in jobs] == before


QUEUE = """
import sys
from pathlib import Path
from agents.zoo_queue import jobs_of, run_queue, exit_code
sys.exit(exit_code(run_queue(jobs_of("dqn", ["merge-v0"], {recipes!r}, Path({runs!r}), **{learn!r}), "cpu")))
"""


def test_a_queue_stopped_by_ctrl_c_resumes_where_it_stopped(tmp_path):
    """Job 0 finishes, job 1 is stopped midway by Ctrl-C (it saves last/), job 2 never starts; the
    resumed queue keeps job 0 as it was, continues job 1 and trains job 2."""
    book = recipes(900, [0, 1, 2])
    runs = str(tmp_path / "runs")
    learn = {**LEARN, "eval_every": 300}  # each evaluation is a highway-env episode: few of them
    script = QUEUE.format(recipes=book, runs=runs, learn=learn)
    jobs = jobs_of("dqn", ["merge-v0"], book, Path(runs), **learn)
    # job 0 short: a queue of its own first, so that the stopped queue finds it finished
    first = jobs_of("dqn", ["merge-v0"], recipes(300, [0]), Path(runs), **learn)
    assert run_queue(first, "cpu")[0]["state"] == "done"
    kept = evaluations(jobs[0])
    queue = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, preexec_fn=ctrl_c_as_at_a_terminal,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (jobs[1].folder / "last" / "config.json").exists():  # its first evaluation saved last/
        assert queue.poll() is None and time.monotonic() < deadline, queue.stdout.read() if queue.poll() is not None else "slow"
        time.sleep(0.2)
    queue.send_signal(signal.SIGINT)
    out, _ = queue.communicate(timeout=120)
    assert queue.returncode == 130, out
    assert "interrupted" in out and "--resume" in out
    states = [job_state(job) for job in jobs]  # job 1 stopped, or (on a slow machine) job 2 if 1 finished first
    assert states[0] == "done" and "started" in states, states
    stopped = jobs[states.index("started")]
    assert states[states.index("started") + 1:] == ["new"] * (2 - states.index("started"))
    assert 0 < json.loads((stopped.folder / "last" / "config.json").read_text())["steps"] < 900
    results = run_queue(jobs, "cpu")
    assert [r["state"] for r in results] == ["done"] * 3
    assert evaluations(jobs[0]) == kept  # not trained again
    assert json.loads((stopped.folder / "last" / "config.json").read_text())["steps"] >= 900
