"""Long runs: thousands of episodes through the vector env and through the scorer leave no growth
in open file descriptors, child processes or resident memory (measured after a warm-up).

The 2,000-episode runs are slow-marked; the short default variants run the same code and
catch any per-episode leak of a descriptor or a process exactly (only memory needs the long run).
Figures are printed: pytest -m slow -s tests/reliability/test_soak.py
"""

from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.reliability.test_interruptions import SUITE, descendants, env_workers, mp_helpers

WARMUP = 10  # [episodes] before the first measurement: imports, caches, allocator arenas
# Resident memory may grow this much over a run [kB]: allocator noise and caches of a few MB,
# below what a leak of 8 kB or more per episode would add over 2,000. The scorer's bound adds
# the records it keeps in memory on purpose, RECORD_KB each: measured ~5 kB a record (2.6 kB
# parsed from results.json) plus freed memory glibc keeps (malloc_trim returns part of it);
# 2,000 episodes grew the main process 19 MB, against a bound of 28 MB.
RSS_SLACK_KB = 16_000
RECORD_KB = 6
EPISODES = [pytest.param(40, id="40"), pytest.param(2000, id="2000", marks=pytest.mark.slow)]


def rss_kb(pid: int) -> int | None:
    """Resident memory [kB]; None for a process gone or exiting (a zombie has no VmRSS line)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), None)


def usage(collect: bool = True) -> dict:
    """This process's open fds, descendant processes and their resident memory [kB].

    collect: first free garbage, so that objects of earlier tests (a pool, a vector env) closing
    their descriptors when collected do not pass for this run's doing."""
    if collect:
        gc.collect()
    kids = descendants(os.getpid())
    kid_rss = {pid: kb for pid in kids if (kb := rss_kb(pid)) is not None}  # some may end between the reads
    return {"fds": len(os.listdir("/proc/self/fd")), "children": kids, "rss": rss_kb(os.getpid()), "child_rss": kid_rss}


def report(name: str, episodes: int, seconds: float, before: dict, after: dict) -> None:
    print(f"\n{name}: {episodes} episodes in {seconds:.1f} s ({episodes / seconds:.1f} episodes/s); "
          f"fds {before['fds']} -> {after['fds']}; children {len(before['children'])} -> {len(after['children'])}; "
          f"RSS {before['rss'] / 1024:.1f} -> {after['rss'] / 1024:.1f} MB; workers' RSS "
          f"{[round(v / 1024, 1) for v in before['child_rss'].values()]} -> "
          f"{[round(v / 1024, 1) for v in after['child_rss'].values()]} MB")


@pytest.mark.parametrize("episodes", EPISODES)
def test_vector_env_episodes_leak_no_descriptors_processes_or_memory(episodes):
    from sim import make_vec_env

    previous = set(descendants(os.getpid()))
    venv = make_vec_env("merge", n_envs=2, obs="kinematics", seed=0)
    workers = env_workers(os.getpid())
    rng = np.random.default_rng(0)

    def run(n: int) -> None:
        finished = 0
        while finished < n:  # random actions: merge episodes end in a crash or after 40 steps
            _, _, dones, infos = venv.step(rng.integers(0, venv.action_space.n, venv.num_envs))
            finished += sum("episode" in info for info, done in zip(infos, dones) if done)

    try:
        venv.reset()
        run(WARMUP)
        before, start = usage(), time.perf_counter()
        run(episodes)
        seconds, after = time.perf_counter() - start, usage()
    finally:
        venv.close()
    report("vector env (merge, 2 workers, random actions)", episodes, seconds, before, after)
    assert after["fds"] <= before["fds"], "descriptors left open"
    assert after["children"] == before["children"], "workers were added or replaced"
    assert after["rss"] - before["rss"] < RSS_SLACK_KB
    assert len(workers) == 2 and set(workers) <= set(before["children"])
    for pid in workers:
        assert after["child_rss"][pid] - before["child_rss"][pid] < RSS_SLACK_KB, f"worker {pid} grew"
    left = set(descendants(os.getpid())) - previous - set(mp_helpers(os.getpid()))
    assert left == set() and env_workers(os.getpid()) == [], "workers outlived close()"


@pytest.mark.parametrize("episodes", EPISODES)
def test_scorer_episodes_leak_no_descriptors_processes_or_memory(tmp_path, episodes):
    from scenarios.suite import load_suite
    from agents.resolve import resolve_agent
    from scoring.run import open_results, run_suite

    def suite(name: str, seeds: int):
        file = tmp_path / f"{name}.yaml"
        file.write_text(SUITE % (seeds, "[merge]"))
        return load_suite(str(file))

    specs = [resolve_agent("random")]
    warm = suite("warm", WARMUP)
    run_suite(warm, specs, open_results(tmp_path, warm, specs, "r", resume=False), workers=2)
    big = suite("soak", episodes)
    results = open_results(tmp_path, big, specs, "r", resume=False)
    samples, stop = [], threading.Event()

    def sample() -> None:  # the pool lives for the whole run: watch its workers during it
        while not stop.wait(0.1):
            # Measure first, count after: a count below the total read after the measurement proves the
            # pool was still open during it. Counted first, the last episode could finish and the pool
            # start closing (its call queue and wakeup pipe, 4 fds, go before the workers) mid-measurement.
            measured = usage(collect=False)
            samples.append((len(results), measured))

    sampler = threading.Thread(target=sample)
    before, start = usage(), time.perf_counter()
    sampler.start()
    try:
        outcome = run_suite(big, specs, results, workers=2)
    finally:
        stop.set()
        sampler.join()
    seconds, after = time.perf_counter() - start, usage()
    assert outcome["ran"] == len(results) == episodes
    # While the pool runs: after a tenth of the episodes, before the last (then the pool closes).
    late = [u for done, u in samples if max(WARMUP, episodes // 10) <= done < episodes]
    assert len(late) >= 2, "too few samples during the run"
    report("scorer (merge, random agent, 2 workers)", episodes, seconds, *(
        {**u, "child_rss": {p: kb for p, kb in u["child_rss"].items() if p not in before["children"]}}
        for u in (late[0], late[-1])))
    print(f"main process RSS before/after the run {before['rss'] / 1024:.1f} -> {after['rss'] / 1024:.1f} MB; "
          f"results.json {results.path.stat().st_size / 1024:.0f} kB")
    assert after["fds"] <= before["fds"], "descriptors left open by the run"
    assert after["children"] == before["children"], "pool workers left behind"
    assert after["rss"] - before["rss"] < RSS_SLACK_KB + RECORD_KB * episodes
    pools = [set(u["children"]) - set(before["children"]) for u in late]  # the pool's workers at each sample
    assert all(len(pool) <= 2 for pool in pools), "more workers than asked for"
    assert max(u["fds"] for u in late) - min(u["fds"] for u in late) <= 2  # a results.json temp file at most
    workers = pools[0] & pools[-1]
    assert workers, "no worker lived through the run"
    for pid in workers:
        assert late[-1]["child_rss"][pid] - late[0]["child_rss"][pid] < RSS_SLACK_KB, f"worker {pid} grew"
