"""The seed plan: which env seeds training, validation and evaluation may use, and every env
seed derived from them (per training worker, per validation episode, per suite episode).

    TRAINING    [0, 900_000)              training envs' seeds (one per worker, derived below)
    VALIDATION  [900_000, 1_000_000)      held-out episodes that pick a run's best checkpoint
    EVALUATION  [1_000_000, 2**31 - 1]    the suites' seeds (scoring); nothing else uses them

A seed here is what an env's reset(seed=...) gets; later episodes of the same env continue its
RNG. The run seed (--seed) is not an env seed: it only selects the training seeds, so any run
seed in [0, MAX_SEED] keeps its workers inside TRAINING. The numbers are the ones results were
published with (evaluation from 1,000,000, validation from 900,000): do not move them.
"""

from __future__ import annotations

import numpy as np

TRAINING = range(0, 900_000)  # env seeds of training workers
VALIDATION = range(900_000, 1_000_000)  # held out from training (training envs use training_env_seeds)
EVALUATION = range(1_000_000, 2**31)  # the suites' seeds, up to MAX_SEED inclusive
EVAL_SEED_BASE = EVALUATION.start  # seeds >= this are evaluation seeds; training and validation stay below
MAX_SEED = EVALUATION.stop - 1  # seeds stay 32-bit: numpy's legacy seeding (SB3) takes nothing larger
MAX_START_STEP = 10**9  # [env steps] a run's step count, far above any budget
MAX_WORKERS = 256  # vector env workers (agents' n_envs allows at most this)


def training_env_seeds(run_seed: int, start_step: int, n_envs: int) -> list[int]:
    """The env seed of each of n_envs training workers, for a run seed and the step the vector env
    starts at (a resumed run starts at its step count, so it does not replay its first episodes).

    Each is hashed from (run_seed, start_step, worker) by numpy's SeedSequence into TRAINING; a
    seed another worker already has moves to the next free one, so no two workers play alike.
    """
    _check("run_seed", run_seed, MAX_SEED)
    _check("start_step", start_step, MAX_START_STEP)
    _check("n_envs", n_envs, MAX_WORKERS, low=1)
    seeds: list[int] = []
    for worker in range(n_envs):
        hashed = int(np.random.SeedSequence([run_seed, start_step, worker]).generate_state(1)[0])
        seed = hashed % len(TRAINING)
        while seed in seeds:  # about 3% of 256-worker runs have one clash; n_envs << len(TRAINING)
            seed = (seed + 1) % len(TRAINING)
        seeds.append(TRAINING.start + seed)
    return seeds


def validation_seeds(count: int) -> list[int]:
    """The seeds of `count` held-out validation episodes (900_000, 900_001, ...): every
    evaluation during training plays the same ones, so its results compare across steps."""
    _check("validation episodes", count, len(VALIDATION), low=1)
    return list(VALIDATION[:count])


def episode_seed(seed: int, episode: int) -> int:
    """The env/agent seed of episode `episode` of a suite seed: the seed itself for episode 0,
    else a seed derived from both, still an evaluation seed (>= EVAL_SEED_BASE)."""
    if episode == 0:
        return seed
    derived = int(np.random.SeedSequence([seed, episode]).generate_state(1)[0])
    return EVALUATION.start + derived % len(EVALUATION)


def is_evaluation_seed(seed) -> bool:
    """Whether a suite may use `seed`: an integer (not a bool) in EVALUATION."""
    return isinstance(seed, int) and not isinstance(seed, bool) and seed in EVALUATION


def _check(what: str, value, high: int, low: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{what} must be an integer from {low} to {high:,}, got {value!r:.60}")
