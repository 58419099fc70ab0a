"""Replay memory for DQN: compact storage (uint8 frames, float16 features) and prioritised sampling.

Each entry is an n-step transition: obs, action, discounted reward sum R, next_obs and the
discount applied to the bootstrap (gamma^k, or 0 when the episode terminated for real).
"""

from __future__ import annotations

import numpy as np


class SumTree:
    """Binary tree whose leaves hold priorities and whose nodes hold sums: O(log N) sampling."""

    def __init__(self, capacity: int) -> None:
        self.leaves = 1 << max(1, (capacity - 1).bit_length())  # power of two >= capacity
        self.nodes = np.zeros(2 * self.leaves, dtype=np.float64)  # nodes[1] is the root

    @property
    def total(self) -> float:
        return float(self.nodes[1])

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
            self.tree.update(np.array([i]), np.array([self.max_priority**self.alpha]))
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
