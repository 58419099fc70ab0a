"""Playing episodes: one loop shared by run_sim, recording and (later) scoring.

The policy is anything with act(obs, deterministic) and reset(): sim never imports agents.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Protocol

import numpy as np


class Policy(Protocol):
    def reset(self) -> None: ...
    def act(self, obs: np.ndarray, deterministic: bool = True) -> Any: ...


FrameSink = Callable[[np.ndarray], bool]  # gets each rendered frame; returns False to stop


def play_episodes(
    env,
    policy: Policy,
    seeds: Iterable[int],
    on_frame: FrameSink | None = None,
    on_episode: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Play one episode per seed; returns the info["episode"] metrics of each (plus its seed).

    With on_frame, the env (render_mode="rgb_array") is rendered after reset and after every
    step: an episode of L steps gives L + 1 frames. Stops early if on_frame returns False.
    """
    results = []
    for seed in seeds:
        policy.reset()
        obs, _ = env.reset(seed=seed)
        if on_frame is not None and on_frame(env.render()) is False:
            break
        done = stopped = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy.act(obs, deterministic=True))
            done = terminated or truncated
            if on_frame is not None and on_frame(env.render()) is False:
                stopped = True
                break
        if stopped:
            break
        record = dict(info["episode"], seed=seed)
        results.append(record)
        if on_episode is not None:
            on_episode(record)
    return results
