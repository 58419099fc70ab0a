"""Replay memory for DQN: compact storage (uint8 frames, float16 features) and prioritised sampling.

Its size is computed and checked against the available memory before anything is allocated
(check_replay_memory): numpy's zeros are lazy on Linux, so a buffer too big for the machine
would otherwise fail (or wake the OOM killer) hours into training, when it fills.

Each entry is an n-step transition: obs, action, discounted reward sum R, next_obs and the
discount applied to the bootstrap (gamma^k, or 0 when the episode terminated for real).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np

from agents.base import AgentError

MEMORY_SHARE = 0.8  # refuse a replay buffer above this share of the available memory


class SumTree:
    """Binary tree whose leaves hold priorities and whose nodes hold sums: O(log N) sampling."""

    def __init__(self, capacity: int) -> None:
        self.leaves = 1 << max(1, (capacity - 1).bit_length())  # power of two >= capacity
        self.nodes = np.zeros(2 * self.leaves, dtype=np.float64)  # nodes[1] is the root

    @property
    def total(self) -> float:
        return float(self.nodes[1])

    def set(self, index: int, priority: float) -> None:
        """One leaf: the same sums as update(), walked up in Python floats (update's numpy calls
        per level cost ~0.3 ms for one leaf of a 50k buffer, a fifth of a dqn run's main process)."""
        nodes, position = self.nodes, int(index) + self.leaves
        nodes[position] = priority
        position >>= 1
        while position >= 1:
            nodes[position] = float(nodes[2 * position]) + float(nodes[2 * position + 1])
            position >>= 1

    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        positions = np.asarray(indices) + self.leaves
        self.nodes[positions] = priorities
        positions = np.unique(positions // 2)
        while positions[0] >= 1:
            self.nodes[positions] = self.nodes[2 * positions] + self.nodes[2 * positions + 1]
            if positions[0] == 1:
                break
            positions = np.unique(positions // 2)

    def find(self, values: np.ndarray) -> np.ndarray:
        """Leaf index for each value in [0, total): descend left when the value fits there."""
        positions = np.ones(len(values), dtype=np.int64)
        values = values.astype(np.float64).copy()
        while positions[0] < self.leaves:
            left = 2 * positions
            go_right = values >= self.nodes[left]
            values -= np.where(go_right, self.nodes[left], 0.0)
            positions = left + go_right
        return positions - self.leaves


class ReplayBuffer:
    """Circular buffer of n-step transitions; prioritised (alpha > 0) or uniform (alpha = 0)."""

    def __init__(self, capacity: int, obs_shape: tuple, obs_dtype: np.dtype, alpha: float, seed: int) -> None:
        self.capacity, self.alpha = capacity, alpha
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.returns = np.zeros(capacity, dtype=np.float32)
        self.discounts = np.zeros(capacity, dtype=np.float32)
        self.tree = SumTree(capacity) if alpha > 0 else None
        self.max_priority = 1.0
        self.size = self.position = 0
        self.rng = np.random.default_rng(seed)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.obs, self.next_obs, self.actions, self.returns, self.discounts))

    def add(self, obs, action: int, ret: float, next_obs, discount: float) -> None:
        i = self.position
        self.obs[i], self.actions[i], self.returns[i], self.next_obs[i], self.discounts[i] = (
            obs, action, ret, next_obs, discount)
        if self.tree is not None:
            self.tree.set(i, self.max_priority**self.alpha)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch: int, beta: float) -> tuple[dict, np.ndarray, np.ndarray]:
        """A batch, its indices, and importance weights (all ones when uniform)."""
        if self.tree is None:
            indices = self.rng.integers(0, self.size, size=batch)
            weights = np.ones(batch, dtype=np.float32)
        else:
            # Stratified: one draw in each of `batch` equal slices of the total priority.
            bounds = np.linspace(0, self.tree.total, batch + 1)
            indices = self.tree.find(self.rng.uniform(bounds[:-1], bounds[1:]))
            indices = np.minimum(indices, self.size - 1)
            probabilities = self.tree.nodes[indices + self.tree.leaves] / self.tree.total
            weights = (self.size * probabilities) ** (-beta)
            weights = (weights / weights.max()).astype(np.float32)
        data = {"obs": self.obs[indices], "actions": self.actions[indices], "returns": self.returns[indices],
                "next_obs": self.next_obs[indices], "discounts": self.discounts[indices]}
        return data, indices, weights

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        if self.tree is None:
            return
        priorities = np.abs(td_errors) + 1e-3
        self.max_priority = max(self.max_priority, float(priorities.max()))
        self.tree.update(indices, priorities**self.alpha)


class NStepCollector:
    """Turns each worker's stream of 1-step transitions into n-step transitions.

    A transition started at t gets R = r_t + g r_t+1 + ... + g^(k-1) r_t+k-1 and bootstraps from
    the observation k steps later with discount g^k. At episode end every pending start is
    flushed: if the episode *terminated* (crash, goal) the bootstrap discount is 0; if it was
    *truncated* by the time limit the state is not terminal, so it bootstraps from the final
    observation.
    """

    def __init__(self, n_envs: int, n: int, gamma: float) -> None:
        self.n, self.gamma = n, gamma
        self.pending: list[list] = [[] for _ in range(n_envs)]

    def add(self, env: int, obs, action: int, reward: float, next_obs, done: bool, truncated: bool) -> list[tuple]:
        """Returns the finished (obs, action, R, next_obs, discount) transitions."""
        pending = self.pending[env]
        pending.append((obs, action, reward))
        finished = []
        if done:
            discount_end = 0.0 if not truncated else 1.0
            while pending:
                finished.append(self._emit(pending, next_obs, discount_end))
                pending.pop(0)
        elif len(pending) == self.n:
            finished.append(self._emit(pending, next_obs, 1.0))
            pending.pop(0)
        return finished

    def _emit(self, pending: list, next_obs, bootstrap: float) -> tuple:
        ret = sum(self.gamma**k * r for k, (_, _, r) in enumerate(pending))
        obs, action, _ = pending[0]
        return obs, action, ret, next_obs, bootstrap * self.gamma ** len(pending)


# --- memory, checked before allocation ----------------------------------------------------------

def replay_memory_bytes(capacity: int, obs_shape: tuple, obs_dtype, prioritized: bool) -> int:
    """Bytes a ReplayBuffer(capacity, obs_shape, obs_dtype, alpha > 0 if prioritized) will hold when full."""
    per_transition = 2 * math.prod(obs_shape) * np.dtype(obs_dtype).itemsize + 8 + 4 + 4  # obs, next_obs, int64 action, R, discount
    tree = 2 * (1 << max(1, (capacity - 1).bit_length())) * 8 if prioritized else 0  # SumTree's float64 nodes
    return capacity * per_transition + tree


def sb3_replay_memory_bytes(buffer_size: int, observation_space, action_space, optimize_memory_usage: bool) -> int:
    """Bytes stable-baselines3's ReplayBuffer will hold when full: observations (and next
    observations unless optimize_memory_usage) in the space's dtype, actions, reward, done, timeout."""
    obs = math.prod(observation_space.shape) * np.dtype(observation_space.dtype).itemsize
    action_dtype = np.float32 if np.dtype(action_space.dtype) == np.float64 else np.dtype(action_space.dtype)  # SB3 casts
    action = max(1, math.prod(action_space.shape or ())) * np.dtype(action_dtype).itemsize
    return buffer_size * (obs * (1 if optimize_memory_usage else 2) + action + 3 * 4)


def available_memory() -> int | None:
    """Bytes this process can still use: MemAvailable (/proc/meminfo), else free pages (sysconf),
    capped by the container's cgroup limit (containers see the host's memory in /proc/meminfo).
    None when the system says nothing."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024  # [kB]
    except (OSError, ValueError, IndexError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):  # cgroup v1
        try:
            limit, usage = int(Path(limit_file).read_text()), int(Path(usage_file).read_text())
        except (OSError, ValueError):  # absent, or "max" (no limit)
            continue
        available = min(available, max(0, limit - usage))
    return available


def check_replay_memory(bytes_for: Callable[[int], int], capacity: int, agent: str, setting: str = "buffer_size",
                        available: int | None = None) -> None:
    """Refuse (AgentError) a replay buffer of `capacity` transitions whose size bytes_for(capacity)
    is above MEMORY_SHARE of the available memory, naming both and a `--set buffer_size=N` that fits."""
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise AgentError(f"{agent} setting {setting}={capacity!r}: expected a positive integer (transitions)")
    available = available_memory() if available is None else available
    needed, limit = bytes_for(capacity), MEMORY_SHARE * (available or 0)
    if available is None or needed <= limit:
        return
    low, high = 0, capacity  # the largest capacity that fits: bytes_for(low) <= limit < bytes_for(high)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if bytes_for(middle) <= limit else (low, middle)
    suggestion = low - low % 10 ** max(0, len(str(low)) - 2)  # rounded down to 2 significant digits
    hint = f"use --set {setting}={suggestion} or less" if suggestion >= 1 else "free some memory first"
    raise AgentError(f"{agent} replay buffer of {capacity} transitions needs {_size(needed)} ({needed} bytes), "
                     f"but {_size(available)} ({available} bytes) of memory is available and at most "
                     f"{MEMORY_SHARE:.0%} of it may be used; {hint}")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n} B"
