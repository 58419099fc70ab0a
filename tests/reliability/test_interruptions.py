"""Interruptions that give no warning: SIGKILL of training, of one env worker, of a scoring worker.

Real subprocesses and signals throughout. (Ctrl-C and SIGTERM, which training catches, are
tested in tests/agents/test_dqn.py and test_sb3.py.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest


ROOT = Path(__file__).resolve().parents[2]
ENV = {"SDL_VIDEODRIVER": "dummy", "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}
EVAL_EVERY = 200  # [env steps]: last/ is saved at every evaluation


# -- processes, from /proc (this kernel has no /proc/<pid>/task/*/children, psutil is not installed)

def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    state, ppid = text[text.rindex(")") + 2:].split()[:2]  # the name may hold spaces and brackets
    return state, int(ppid)


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")  # a zombie has exited; only its parent's reaping is left


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == pid and stat[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return sorted(found)


def descendants(pid: int) -> list[int]:
    found, frontier = [], children(pid)
    while frontier:
        found += frontier
        frontier = [c for p in frontier for c in children(p)]
    return sorted(found)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def mp_helpers(pid: int) -> list[int]:
    """multiprocessing's forkserver and resource tracker among pid's children. (Their own
    children, the env workers, inherit the forkserver's command line: only direct children tell.)"""
    return [c for c in children(pid) if b"multiprocessing.forkserver" in _cmdline(c)
            or b"multiprocessing.resource_tracker" in _cmdline(c)]


def env_workers(pid: int) -> list[int]:
    """The vector-env workers of process pid: the children of its forkserver."""
    return sorted(w for h in mp_helpers(pid) if b"forkserver" in _cmdline(h) for w in children(h))


def wait_until_gone(pids, timeout: float) -> list[int]:
    """The pids still alive after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def _train(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "run_sim.py"), "--scenario", "merge", "--train", "--run", "r", *args]


def _wait_for_last(process: subprocess.Popen, run_dir: Path, steps: int, timeout: float = 180) -> int:
    """Poll run_dir/last/config.json (written atomically) until its steps reach `steps`."""
    deadline, last = time.monotonic() + timeout, run_dir / "last" / "config.json"
    while time.monotonic() < deadline:
        assert process.poll() is None, f"training ended early: {process.communicate()[1][-2000:]}"
        if last.exists() and json.loads(last.read_text())["steps"] >= steps:
            return json.loads(last.read_text())["steps"]
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint with {steps} steps after {timeout} s")


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.communicate()


BUDGET = 600  # [env steps] of the run killed at >= 400 and resumed


def test_sigkill_of_training_loses_less_than_one_evaluation_period_and_resume_keeps_the_schedule(tmp_path):
    import agents
    from sim import make_env
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # epsilon decays over the whole budget (exploration_fraction=1), so a resume that changed
    # the budget or the step count would log different values. Epsilon is logged every 100
    # updates, one per vector step (2 env steps) once the replay holds learning_starts
    # transitions: near steps 250 and 450, then (the replay refills after a resume) near 510.
    command = _train("--agent", "dqn", "--steps", str(BUDGET), "--eval-every", str(EVAL_EVERY), "--eval-episodes", "1",
                     "--set", "obs=kinematics", "--set", "n_envs=2", "--set", "learning_starts=50",
                     "--set", "exploration_fraction=1.0")
    run_dir = tmp_path / "runs/merge/dqn/r"
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=ENV, start_new_session=True)
    try:
        saved = _wait_for_last(process, run_dir, 2 * EVAL_EVERY)
        helpers = descendants(process.pid)  # forkserver, resource tracker, 2 env workers
        assert len(env_workers(process.pid)) == 2, helpers
        # The main process alone, as the OOM killer does; the workers must notice and go.
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert wait_until_gone(helpers, timeout=20) == [], "env workers outlived their training process"
    finally:
        _kill_group(process)

    last = json.loads((run_dir / "last/config.json").read_text())
    history = json.loads((run_dir / "metrics.json").read_text())
    # last/ is the newest periodic save: what was lost is the steps since, fewer than EVAL_EVERY.
    assert last["steps"] >= saved and last["steps"] % EVAL_EVERY == 0
    assert history[-1]["steps"] == last["steps"]
    agent = agents.get_class("dqn").load(run_dir / "last", make_env("merge", obs="kinematics"))
    assert agent.steps == last["steps"] and agent.total_steps == BUDGET

    resumed = subprocess.run(_train("--agent", "dqn", "--resume", "--eval-every", str(EVAL_EVERY),
                                    "--eval-episodes", "1"),
                             cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = json.loads((run_dir / "last/config.json").read_text())
    assert (final["steps"], final["total_steps"]) == (BUDGET, BUDGET), "the run's own budget, not a new one"
    history = [h["steps"] for h in json.loads((run_dir / "metrics.json").read_text())]
    assert history == list(range(EVAL_EVERY, BUDGET + 1, EVAL_EVERY)), "each evaluation once, none skipped"

    c = final["dqn"]
    events = EventAccumulator(str(run_dir))
    events.Reload()
    logged = [(e.step, e.value) for e in events.Scalars("train/epsilon")]
    assert any(step > last["steps"] for step, _ in logged), "the resumed run logged epsilon"
    for step, value in logged:
        acted_at = step - c["n_envs"]  # epsilon is drawn before a vector step and logged after it
        expected = c["epsilon_start"] + min(1.0, acted_at / (c["exploration_fraction"] * BUDGET)) * (
            c["epsilon_end"] - c["epsilon_start"])
        assert value == pytest.approx(expected, abs=1e-6), f"epsilon at step {step}"


def _alarm(seconds: int):
    """Fail (instead of hanging the suite) if a block takes longer than `seconds`."""
    def expired(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s: a hang")

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)


def test_a_killed_env_worker_raises_a_clear_error_and_the_others_are_ended():
    from sim import make_vec_env
    from sim.vector import EnvWorkerError

    venv = make_vec_env("merge", n_envs=2, obs="kinematics", seed=0)
    try:
        _alarm(60)
        venv.reset()
        for _ in range(3):
            venv.step(np.array([1, 1]))
        pid = venv.processes[1].pid
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(EnvWorkerError, match=rf"environment worker 1 of 2 \(pid {pid}, merge\) died: "
                                                 r"killed by SIGKILL; .*--resume") as caught:
            venv.step(np.array([1, 1]))
        assert isinstance(caught.value, RuntimeError) and caught.value.worker == 1
        with pytest.raises(EnvWorkerError):  # and again, not some other error, if asked again
            venv.step(np.array([1, 1]))
        venv.close()
        assert not any(p.is_alive() for p in venv.processes)

        # A worker that dies while nothing is asked of it: close() still returns.
        venv = make_vec_env("merge", n_envs=2, obs="kinematics", seed=0)
        venv.reset()
        os.kill(venv.processes[0].pid, signal.SIGKILL)
        venv.close()
        assert not any(p.is_alive() for p in venv.processes)
    finally:
        signal.alarm(0)
        venv.close()


def test_a_hung_env_worker_ends_the_step_with_one_line_naming_it():
    """A worker that stops answering (SIGSTOP: alive, silent) is named after step_timeout instead of
    blocking the run forever; close() then ends it and the others."""
    from sim import make_vec_env
    from sim.vector import EnvWorkerError

    venv = make_vec_env("merge", n_envs=2, obs="kinematics", seed=0, step_timeout=3.0)
    try:
        _alarm(60)
        venv.reset()
        venv.step(np.array([1, 1]))
        pid = venv.processes[0].pid
        os.kill(pid, signal.SIGSTOP)
        with pytest.raises(EnvWorkerError, match=rf"environment worker 0 of 2 \(pid {pid}, merge\) is hung: "
                                                 r"no answer within 3 s; .*--resume"):
            venv.step(np.array([1, 1]))
        venv.close()
        assert not any(p.is_alive() for p in venv.processes)
    finally:
        signal.alarm(0)
        venv.close()


@pytest.mark.parametrize("agent", ["dqn", pytest.param("a2c", marks=pytest.mark.slow)])
def test_a_killed_env_worker_ends_training_with_one_line_and_keeps_the_last_checkpoint(tmp_path, agent):
    # a2c (SB3's learn() loop) is slow-marked: the error takes the same path through run_sim as dqn's.
    command = _train("--agent", agent, "--steps", "100000", "--eval-every", str(EVAL_EVERY), "--eval-episodes", "1",
                     "--set", "obs=kinematics", "--set", "n_envs=2")
    run_dir = tmp_path / f"runs/merge/{agent}/r"
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=ENV, start_new_session=True)
    try:
        saved = _wait_for_last(process, run_dir, EVAL_EVERY)
        helpers, workers = descendants(process.pid), env_workers(process.pid)
        assert len(workers) == 2, helpers
        os.kill(workers[0], signal.SIGKILL)
        out, err = process.communicate(timeout=60)  # a hang fails here
        leftovers = wait_until_gone(helpers, timeout=20)
    finally:
        _kill_group(process)
    assert process.returncode == 1, err[-2000:]
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("run_sim.py: error: training stopped: environment worker"), err
    assert f"(pid {workers[0]}, merge) died: killed by SIGKILL" in errors[0]
    assert errors[0].endswith(f"--agent {agent} --train --resume --run r")
    assert leftovers == [], "the other env worker or the forkserver outlived the run"
    assert json.loads((run_dir / "last/config.json").read_text())["steps"] >= saved


# -- the scorer's process pool

SUITE = """
description: reliability tests
seeds: {first: 1000000, count: %d}
episodes: 1
scenarios: %s
"""


def _suite(tmp_path, scenarios: str, seeds: int):
    from scenarios.suite import load_suite

    file = tmp_path / "suite.yaml"
    file.write_text(SUITE % (seeds, scenarios))
    return file, load_suite(str(file))


def test_a_killed_scoring_worker_is_replaced_and_every_episode_is_scored_once(tmp_path, capsys):
    from agents.resolve import resolve_agent
    from scoring.run import open_results, run_suite

    _, suite = _suite(tmp_path, "[merge, u-turn]", 8)
    specs = [resolve_agent("idm")]
    results = open_results(tmp_path / "pool", suite, specs, "r", resume=False)
    before = set(children(os.getpid()))
    killed = []

    def kill_one_worker():
        deadline = time.monotonic() + 60
        while len(results) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        workers = sorted(set(children(os.getpid())) - before)
        if workers:
            os.kill(workers[0], signal.SIGKILL)
            killed.append(workers[0])

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    _alarm(120)
    try:
        outcome = run_suite(suite, specs, results, workers=2)
    finally:
        signal.alarm(0)
        killer.join()
    assert killed, "the suite finished before a worker could be killed"
    assert outcome["ran"] == len(results) == 16 and not outcome["interrupted"]
    assert f"a scoring worker died (pid {killed[0]} killed by SIGKILL); restarting the pool" in capsys.readouterr().err
    inline = open_results(tmp_path / "inline", suite, specs, "r", resume=False)
    run_suite(suite, specs, inline, workers=1)
    assert results.sorted_records() == inline.sorted_records(), "the same records as an undisturbed run"
    assert set(children(os.getpid())) <= before, "pool workers left behind"


TEST_PID = os.getpid()


def _make_self_killing_agent():
    from agents.baselines import IDMAgent

    class KillsItsWorker(IDMAgent):
        name = "kills-its-worker"
        description = "idm whose roundabout episodes SIGKILL the process running them (tests)"

        def __init__(self, env, seed=None):
            super().__init__(env, seed)
            self._deadly = env.unwrapped.spec.id.startswith("roundabout")

        def act(self, obs, deterministic=True):
            if self._deadly and os.getpid() != TEST_PID:  # never the test process itself
                os.kill(os.getpid(), signal.SIGKILL)
            return super().act(obs, deterministic)

    return KillsItsWorker


def test_an_episode_that_kills_its_worker_every_time_ends_the_run_naming_it(tmp_path, capsys, monkeypatch):
    import agents
    import run_sim

    agent = _make_self_killing_agent()
    monkeypatch.setitem(agents.REGISTRY, agent.name, agent)  # the fork workers inherit it
    file, _ = _suite(tmp_path, "[merge, u-turn, roundabout, two-way]", 3)
    _alarm(120)
    try:
        code = run_sim.main(["--suite", str(file), "--agent", agent.name, "--workers", "2",
                             "--reports", str(tmp_path / "reports"), "--run", "r"])
    finally:
        signal.alarm(0)
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("run_sim.py: error: a scoring worker died (pid ") and "killed by SIGKILL" in line
    assert "while running agent kills-its-worker on roundabout, seed 1000000, episode 0 on its own" in line
    assert line.endswith(f"--suite {file} --resume --run r")
    records = json.loads((tmp_path / "reports/suite/r/results.json").read_text())["episodes"]
    # Everything before the roundabout in the plan (merge, u-turn) is kept; nothing of it is lost.
    assert sorted((r["scenario"], r["seed"]) for r in records) == sorted(
        (s, 1000000 + i) for s in ("merge", "u-turn") for i in range(3))
    assert f"the 6 finished episodes are kept in {tmp_path}/reports/suite/r/results.json" in line
