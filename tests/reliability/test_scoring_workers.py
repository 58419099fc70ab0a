"""Scoring workers that die or hang, on the process pool and on Ray: the episode runs again, or
the run ends in one line naming it (scoring/backends.py). Split from test_interruptions.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, fields

import pytest

from agents.resolve import AgentSpec
from tests.reliability.test_interruptions import ROOT, _alarm, _suite, descendants, wait_until_gone


@dataclass(frozen=True)
class TroubledIDM(AgentSpec):
    """idm, except that its episodes of some scenarios kill (SIGKILL) or hang (sleep an hour) the
    worker process running them (tests): fetching the checkpoint is the first thing a worker does.

    A spec, not a registry entry like KillsItsWorker: Ray workers are fresh processes that unpickle
    the task (importing this module by name), so a registry patched here never reaches them."""
    # (scenario, "kill" or "hang", once): once, a file: only the attempt that creates it has the
    # trouble (one in the whole run); "": every attempt.
    troubles: tuple = ()
    spare: int = 0  # a pid left alone: the test's own, for inline runs

    def checkpoint_for(self, scenario: str):
        for where, trouble, once in self.troubles:
            if where == scenario and os.getpid() != self.spare and _first(once):
                if trouble == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                time.sleep(3600)
        return super().checkpoint_for(scenario)


def _first(once: str) -> bool:
    try:
        if once:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL))
        return True
    except FileExistsError:
        return False


def troubled_idm(*troubles: tuple) -> TroubledIDM:
    from agents.resolve import resolve_agent

    idm = resolve_agent("idm")  # same label, name and hash: its records are idm's
    return TroubledIDM(**{f.name: getattr(idm, f.name) for f in fields(idm)}, troubles=troubles, spare=os.getpid())


def ray_node_address() -> str:
    import ray

    return ray.util.get_node_ip_address()


HANG_TIMEOUT = 3  # [s] episode timeout of the hang tests: a merge episode takes 0.1-0.5 s


# The Ray variant costs 15 s (a local Ray start) and the suite is at its 10-minute CI budget; the
# pool variant runs by default, and Ray's dead-worker test below runs the same Ray backend.
@pytest.mark.parametrize("ray", [None, pytest.param("local", marks=pytest.mark.slow)])
def test_a_hung_scoring_worker_is_killed_and_ends_the_run_naming_its_episode(tmp_path, ray):
    from scoring.backends import ScoringWorkerError
    from scoring.results import Results
    from scoring.run import open_results, run_suite

    if ray:
        pytest.importorskip("ray")
    _, suite = _suite(tmp_path, "[merge, roundabout]", 2)  # plan: merge x2, then both roundabouts hang
    specs = [troubled_idm(("roundabout", "hang", ""))]
    results = open_results(tmp_path / "reports", suite, specs, "r", resume=False)
    before = set(descendants(os.getpid()))
    _alarm(90)
    start = time.monotonic()
    try:
        with pytest.raises(ScoringWorkerError) as caught:
            run_suite(suite, specs, results, workers=2, ray_address=ray, episode_timeout=HANG_TIMEOUT)
    finally:
        signal.alarm(0)
    seconds = time.monotonic() - start
    message = str(caught.value)
    pid = int(message.split("(pid ")[1].split(")")[0].split(" on ")[0])
    where = f"pid {pid}" if ray is None else f"pid {pid} on {ray_node_address()}"
    assert message == (f"a scoring worker is hung ({where}): agent idm on roundabout, seed 1000000, episode 0 "
                       f"did not finish within {HANG_TIMEOUT} s; the episodes finished so far are kept: "
                       "--resume continues the run")
    assert seconds < HANG_TIMEOUT + 30, "the hang was found late"
    assert wait_until_gone([pid], timeout=10) == [], "the hung worker was left running"
    assert wait_until_gone(set(descendants(os.getpid())) - before, timeout=10) == [], "workers left behind"
    saved = Results.load(results.folder).sorted_records()
    assert [(r["scenario"], r["seed"]) for r in saved] == [("merge", 1000000), ("merge", 1000001)]


def test_a_killed_ray_worker_s_episode_runs_again_and_one_that_kills_it_every_time_ends_the_run(
        tmp_path, capsys, monkeypatch):
    """One run for both (a local Ray run costs 15-20 s, most of it starting workers): merge kills
    its first worker only, roundabout every one. Reruns go in plan order, whichever died first."""
    from scoring.backends import ScoringWorkerError
    from scoring.episodes import record_key
    from scoring.results import Results
    from scoring.run import open_results, run_suite

    pytest.importorskip("ray")
    _, suite = _suite(tmp_path, "[merge, u-turn, roundabout]", 1)
    specs = [troubled_idm(("merge", "kill", str(tmp_path / "merge-killed")), ("roundabout", "kill", ""))]
    results = open_results(tmp_path / "ray", suite, specs, "r", resume=False)
    added = []  # every record the run hands over, so that one recorded twice shows
    monkeypatch.setattr(results, "add", lambda record: (added.append(record_key(record)), Results.add(results, record)))
    before = set(descendants(os.getpid()))
    _alarm(120)
    try:
        with pytest.raises(ScoringWorkerError) as caught:
            run_suite(suite, specs, results, workers=2, ray_address="local")
    finally:
        signal.alarm(0)
    assert (tmp_path / "merge-killed").exists(), "merge's first worker was killed"
    message = str(caught.value)
    assert message.startswith("a scoring worker died (WorkerCrashedError")
    assert ("while running agent idm on roundabout, seed 1000000, episode 0 on its own, after an earlier death "
            "running it; the episodes finished so far are kept: --resume continues the run") in message
    err = capsys.readouterr().err
    assert err.count("; running its episode again once the others in flight are done, on its own") == 2, err
    saved = Results.load(results.folder).sorted_records()
    (tmp_path / "inline").mkdir()
    _, undisturbed = _suite(tmp_path / "inline", "[merge, u-turn]", 1)
    inline = open_results(tmp_path / "inline", undisturbed, specs, "r", resume=False)
    run_suite(undisturbed, specs, inline, workers=1)
    assert sorted(added) == [record_key(r) for r in saved], "each episode recorded once"
    assert saved == inline.sorted_records(), "merge (run again) and u-turn, as an undisturbed run"
    assert wait_until_gone(set(descendants(os.getpid())) - before, timeout=10) == [], "Ray processes left behind"


def _can_unshare_network() -> bool:
    try:
        return subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_a_two_node_ray_cluster_scores_a_suite_with_the_records_of_the_local_pool(tmp_path):
    """A head and a second node joined to it (`ray start`, one CPU each) in a network namespace of
    their own (tests/reliability/ray_cluster.py: Ray's traffic stays on loopback), scored with
    `run_sim.py --ray 127.0.0.1:PORT` as a user would; then the same suite on the process pool."""
    from agents.resolve import resolve_agent
    from scoring.results import Results
    from scoring.run import open_results, run_suite

    pytest.importorskip("ray")
    if not _can_unshare_network():
        pytest.skip("needs `unshare -n` (root, util-linux, iproute2) to keep Ray's traffic on loopback")
    file, suite = _suite(tmp_path, "[merge, u-turn, roundabout]", 2)
    cluster = subprocess.run(["unshare", "-n", sys.executable, str(ROOT / "tests/reliability/ray_cluster.py"),
                              str(file), str(tmp_path / "ray")], capture_output=True, text=True, timeout=400)
    assert cluster.returncode == 0, cluster.stderr[-3000:]
    outcome = json.loads(cluster.stdout.strip().splitlines()[-1])
    assert outcome["returncode"] == 0, outcome["stderr"]
    assert outcome["nodes_that_ran_episodes"] == [True, True], "episodes ran on both nodes"
    assert outcome["mismatched_returncode"] == 1
    assert outcome["mismatched_error"].startswith(
        "run_sim.py: error: no episode started or finished on the Ray cluster at 127.0.0.1:6390 for 5 s"), outcome
    assert "RAY_AUTH_MODE" in outcome["mismatched_error"]
    pool = open_results(tmp_path / "pool", suite, [resolve_agent("idm")], "r", resume=False)
    run_suite(suite, [resolve_agent("idm")], pool, workers=2)
    on_ray = Results.load(tmp_path / "ray" / suite.name / "ray").sorted_records()
    assert len(on_ray) == 6 and on_ray == pool.sorted_records()


def _closed_port() -> int:
    with socket.socket() as probe:  # a port nothing listens on once this closes
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("how", ["host:port", "auto"])
def test_an_unreachable_ray_cluster_is_one_line_in_seconds_and_writes_nothing(tmp_path, monkeypatch, how):
    """Before: ray.init retried for over 5 minutes (host:port, or the stale cluster --ray auto finds)."""
    from scoring import SuiteSetupError, score_suite

    pytest.importorskip("ray")
    port = _closed_port()
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")  # where auto looks first
    file, _ = _suite(tmp_path, "[merge]", 1)
    start = time.monotonic()
    with pytest.raises(SuiteSetupError) as caught:
        score_suite(str(file), ["idm"], reports_dir=tmp_path / "reports", ray="auto" if how == "auto" else f"127.0.0.1:{port}")
    assert str(caught.value) == (f"cannot reach a Ray cluster at 127.0.0.1:{port} (connection refused within 5 s): start "
                                 f"one there with `ray start --head --port {port}`, or run on this machine with --ray local")
    assert time.monotonic() - start < 10
    assert not (tmp_path / "reports").exists()
