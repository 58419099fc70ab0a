"""Resources a shared machine runs out of: memory for a replay buffer is computed before it is
allocated and a buffer that would not fit is refused with the numbers and a size that fits;
a full disk while saving a checkpoint or writing reports keeps the previous files whole."""

import contextlib
import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.buffers import ReplayBuffer as SB3ReplayBuffer

import agents
import agents.replay
from agents.base import AgentError
from agents.dqn import DQNAgent, DQNConfig
from agents.replay import (MEMORY_SHARE, ReplayBuffer, available_memory, check_replay_memory, replay_memory_bytes,
                           sb3_replay_memory_bytes)
from agents.runs import train_agent
from scoring.report import write_reports
from scoring.results import Results
from sim import make_env

ROOT = Path(__file__).resolve().parents[2]
HUGE = 10**9  # transitions (the most the settings allow): a terabyte or more of features


# --- memory -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, dtype, prioritized", [
    ((256,), np.float16, True), ((11, 6), np.float16, False), ((4, 128, 64), np.uint8, True)])
@pytest.mark.parametrize("capacity", [1000, 1025])  # 1025: the SumTree rounds up to 2048 leaves
def test_the_computed_replay_size_is_what_the_buffer_allocates(shape, dtype, prioritized, capacity):
    buffer = ReplayBuffer(capacity, shape, dtype, alpha=0.6 if prioritized else 0.0, seed=0)
    allocated = buffer.nbytes + (buffer.tree.nodes.nbytes if buffer.tree is not None else 0)
    assert replay_memory_bytes(capacity, shape, dtype, prioritized) == allocated


@pytest.mark.parametrize("observation_space, action_space", [
    (gym.spaces.Box(-np.inf, np.inf, (256,), np.float32), gym.spaces.Discrete(5)),
    (gym.spaces.Box(-np.inf, np.inf, (11, 6), np.float32), gym.spaces.Box(-1, 1, (1,), np.float32)),
    (gym.spaces.Box(0, 255, (4, 128, 64), np.uint8), gym.spaces.Discrete(3))])
@pytest.mark.parametrize("optimize", [False, True])
def test_the_computed_sb3_replay_size_is_what_sb3_allocates(observation_space, action_space, optimize):
    buffer = SB3ReplayBuffer(1000, observation_space, action_space, device="cpu", optimize_memory_usage=optimize,
                             handle_timeout_termination=not optimize)
    arrays = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
    allocated = sum(getattr(buffer, a).nbytes for a in arrays if getattr(buffer, a, None) is not None)
    assert sb3_replay_memory_bytes(1000, observation_space, action_space, optimize) == allocated


def test_available_memory_comes_from_meminfo_else_sysconf(monkeypatch):
    total = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal:")).split()[1]) * 1024
    assert 0 < available_memory() <= total

    class Unreadable(type(Path())):  # no /proc/meminfo and no cgroup files, as on some systems
        def read_text(self, *args, **kwargs):
            raise OSError(errno.ENOENT, "No such file or directory")

    monkeypatch.setattr(agents.replay, "Path", Unreadable)
    free_pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert available_memory() == pytest.approx(free_pages, rel=0.1)


def test_the_check_refuses_above_its_share_of_memory_and_suggests_a_size_that_fits():
    def bytes_for(n):
        return 100 * n + 10_000

    available = 1_000_000
    limit = int(MEMORY_SHARE * available)
    check_replay_memory(bytes_for, (limit - 10_000) // 100, "dqn", available=available)  # exactly at the limit
    with pytest.raises(AgentError) as err:
        check_replay_memory(bytes_for, 123_456, "dqn", available=available)
    assert str(err.value) == (f"dqn replay buffer of 123456 transitions needs 11.8 MiB (12355600 bytes), but 976.6 KiB "
                              f"(1000000 bytes) of memory is available and at most 80% of it may be used; "
                              f"use --set buffer_size=7900 or less")
    check_replay_memory(bytes_for, 7900, "dqn", available=available)  # the suggestion fits
    for bad in (0, -5, 2.5, True):
        with pytest.raises(AgentError, match=f"dqn setting buffer_size={bad!r}: expected a positive integer"):
            check_replay_memory(bytes_for, bad, "dqn", available=available)


@pytest.mark.parametrize("name, scenario", [("dqn", "merge"), ("sb3-dqn", "merge"), ("sac", "racetrack")])
def test_a_buffer_too_big_for_memory_is_refused_before_anything_is_created(tmp_path, name, scenario):
    settings = {"buffer_size": HUGE, "obs": "features", "n_envs": 1}
    began = time.perf_counter()
    with pytest.raises(AgentError) as err:
        train_agent(agents.get_class(name), scenario, 1000, torch.device("cpu"), "r", False, settings, seed=0,
                    runs_dir=tmp_path / "runs", progress=False)
    message = str(err.value)
    assert message.startswith(f"{name} replay buffer of {HUGE} transitions needs ")
    assert "of memory is available" in message and "use --set buffer_size=" in message and "\n" not in message
    assert not (tmp_path / "runs").exists()
    assert time.perf_counter() - began < 20  # refused by arithmetic, not after trying to fill terabytes


def test_the_command_line_refuses_a_huge_buffer_in_one_line_and_leaves_no_run_folder(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "run_sim.py"), "--scenario", "merge", "--agent", "dqn",
                             "--train", "--set", f"buffer_size={HUGE}"], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path, env={"SDL_VIDEODRIVER": "dummy", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"dqn replay buffer of {HUGE} transitions needs " in result.stderr
    assert "bytes) of memory is available" in result.stderr and "use --set buffer_size=" in result.stderr
    assert not (tmp_path / "runs").exists()


# --- a full disk --------------------------------------------------------------------------------

@contextlib.contextmanager
def disk_full_after(room: int):
    """Every file written through os.fdopen (each atomic write's temp file) shares `room` free
    bytes; the write that goes past them writes what fits and raises ENOSPC, as a full disk does.
    Yields the list of paths where the disk filled up."""
    real_fdopen, free, filled = os.fdopen, [room], []

    class OnFullDisk:
        def __init__(self, fd, *args, **kwargs):
            self.file, self.fd = real_fdopen(fd, *args, **kwargs), fd

        def write(self, data):
            data = memoryview(data).cast("B")
            if data.nbytes > free[0]:
                self.file.write(data[: free[0]])
                free[0] = 0
                filled.append(os.readlink(f"/proc/self/fd/{self.fd}"))
                raise OSError(errno.ENOSPC, "No space left on device")
            free[0] -= data.nbytes
            return self.file.write(data)

        def __getattr__(self, name):
            return getattr(self.file, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fdopen", OnFullDisk)
        yield filled


@pytest.mark.parametrize("fills_on", ["model.pt", "config.json"])
def test_a_full_disk_while_saving_keeps_the_previous_checkpoint(tmp_path, fills_on):
    env = make_env("merge", obs="kinematics")
    obs = env.reset(seed=0)[0]
    folder = tmp_path / "checkpoint"
    agent = DQNAgent(env, seed=0, config=DQNConfig(obs="kinematics"), scenario="merge")
    agent.steps = 100
    agent.save(folder)
    before = {f: (folder / f).read_bytes() for f in ("model.pt", "config.json")}
    values = agent.action_values(obs)

    agent.steps = 200
    with torch.no_grad():
        agent.learner.q.advantage.bias.add_(1.0)
    room = 1000 if fills_on == "model.pt" else len(before["model.pt"]) + 100  # model.pt's temp is complete
    with disk_full_after(room) as filled, pytest.raises(AgentError) as err:
        agent.save(folder)
    assert len(filled) == 1 and f".{fills_on}." in Path(filled[0]).name
    assert str(err.value) == (f"cannot save the checkpoint to {folder}: No space left on device; "
                              "the checkpoint that was there (if any) is unchanged")
    assert {f: (folder / f).read_bytes() for f in before} == before
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.pt"]  # no temp files
    loaded = DQNAgent.load(folder, env, scenario="merge")
    assert loaded.steps == 100
    np.testing.assert_array_equal(loaded.action_values(obs), values)


def _results(folder: Path, seeds: int) -> Results:
    """Episode records of two agents on two scenarios, as the scorer writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seeds)
    records = []
    for agent in ("idm", "random"):
        for scenario in ("merge", "u-turn"):
            for seed in range(1_000_000, 1_000_000 + seeds):
                score = float(rng.uniform(0.3, 1.0))
                records.append({"agent": agent, "agent_name": agent, "checkpoint_hash": "0" * 16,
                                "scenario": scenario, "seed": seed, "episode": 0, "env_seed": seed,
                                "outcome": "success" if score > 0.5 else "collision", "driving_score": score,
                                "error": None, "metrics": {"collisions": int(score <= 0.5), "distance": 300.0},
                                "score": {"driving_score": score, "route_completion": 1.0}})
    return Results(folder, {"suite": "tiny", "run": "r"}, records)


@pytest.mark.parametrize("fills_on", ["leaderboard.md", "results.csv", "scores.png"])
def test_a_full_disk_while_writing_reports_keeps_the_previous_reports(tmp_path, fills_on):
    names = ["leaderboard.md", "results.csv", "scores.png"]
    write_reports(_results(tmp_path / "run", 3), ["idm", "random"], ["merge", "u-turn"])
    before = {name: (tmp_path / "run" / name).read_bytes() for name in names}
    write_reports(_results(tmp_path / "new", 5), ["idm", "random"], ["merge", "u-turn"])  # to know the sizes
    sizes = [(tmp_path / "new" / name).stat().st_size for name in names]
    room = sum(sizes[: names.index(fills_on)]) + 100  # the files before `fills_on` fit, it does not

    with disk_full_after(room) as filled, pytest.raises(OSError) as err:
        write_reports(_results(tmp_path / "run", 5), ["idm", "random"], ["merge", "u-turn"])
    assert err.value.errno == errno.ENOSPC
    assert len(filled) == 1 and f".{fills_on}." in Path(filled[0]).name
    assert {name: (tmp_path / "run" / name).read_bytes() for name in names} == before  # all three, consistent
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(names)  # no temp files


def test_a_full_disk_while_suite_reports_are_written_is_one_line_and_keeps_the_results(tmp_path, capsys, monkeypatch):
    import run_sim
    import scoring.report

    suite = tmp_path / "one.yaml"
    suite.write_text("description: one\nseeds: {first: 1000000, count: 1}\nepisodes: 1\nscenarios: [merge]\n")

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(scoring.report, "write_reports", full_disk)
    code = run_sim.main(["--suite", str(suite), "--agent", "idm", "--workers", "1", "--reports", str(tmp_path), "--run", "r"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and "No space left on device" in err[-1] and "--resume --run r" in err[-1]
    assert "Traceback" not in "\n".join(err)
    assert len(json.loads((tmp_path / "one" / "r" / "results.json").read_text())["episodes"]) == 1
