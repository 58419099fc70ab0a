"""The zoo's training queue: one job per (agent, scenario, seed) of zoo/recipes.yaml, run here one
after another, on local worker processes (--workers N) or as Ray tasks (--ray local|auto|host:port,
the same backends as suites); then, per scenario, the seed whose best checkpoint scored highest on
the validation seeds ships.

Each job trains into a folder of its own, runs/zoo/<scenario>/<agent>/seed-<seed>/, so the queue's
state is on disk: a finished job is one whose last/ reached its budget, and `--resume` skips those,
continues the interrupted ones from their last/ (written at every evaluation and on Ctrl-C or
SIGTERM) and starts the rest. A queue killed midway (Ctrl-C, a dead machine) loses at most the
steps since each running job's last evaluation.
"""

from __future__ import annotations

import shutil
import signal
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from agents.base import read_config

INTERRUPTED = 130  # exit code of a queue stopped by Ctrl-C, as a shell reports one


@dataclass(frozen=True)
class Job:
    agent: str
    scenario: str
    seed: int
    steps: int  # [env steps] the budget
    settings: dict = field(default_factory=dict, hash=False)  # the recipe's `set`
    runs_dir: str = "runs/zoo"  # made absolute by jobs_of: a worker's cwd need not be ours
    learn_options: dict = field(default_factory=dict, hash=False)  # e.g. eval_every (tests: short runs)

    @property
    def folder(self) -> Path:
        return Path(self.runs_dir) / self.scenario / self.agent / f"seed-{self.seed}"


def jobs_of(agent: str, names: list[str], recipes: dict, runs_dir: Path, **learn_options) -> list[Job]:
    """The queue: a recipe's `seeds` (or its one `seed`) for each scenario, in recipe order."""
    jobs = []
    for scenario in names:
        recipe = recipes[agent][scenario]
        for seed in recipe.get("seeds", [recipe.get("seed", 0)]):
            jobs.append(Job(agent, scenario, int(seed), int(recipe["steps"]), dict(recipe.get("set", {})),
                            str(Path(runs_dir).resolve()), dict(learn_options)))
    return jobs


def job_state(job: Job) -> str:
    """"done" (its budget reached), "started" (an interrupted last/ to resume) or "new"."""
    last = job.folder / "last" / "config.json"
    if not last.exists():
        return "new"
    config = read_config(job.folder / "last")
    return "done" if config.get("steps", 0) >= config.get("total_steps", job.steps) else "started"


def run_job(job: Job, device: str = "cpu") -> dict:
    """Train one job (resuming it if it started before); in a worker process or a Ray task too.
    Returns {"job", "state": done|interrupted|failed, "error"}."""
    import torch

    from agents import get_class
    from agents.base import AgentError
    from agents.runs import train_agent
    from sim.vector import EnvWorkerError

    torch.set_num_threads(1)  # one core per job: the queue runs as many jobs as cores
    state = job_state(job)
    if state == "new" and job.folder.exists():  # it died before its first checkpoint: nothing to resume
        shutil.rmtree(job.folder)
    if state != "done":
        try:
            train_agent(get_class(job.agent), job.scenario, job.steps, torch.device(device), job.folder.name,
                        state == "started", {} if state == "started" else job.settings, job.seed,
                        runs_dir=Path(job.runs_dir), progress=False, **job.learn_options)
        except (EnvWorkerError, AgentError) as err:
            return {"job": job, "state": "failed", "error": getattr(err, "what", None) or str(err)}
    return {"job": job, "state": "done" if job_state(job) == "done" else "interrupted", "error": None}


def _quiet_worker() -> None:
    """Pool workers leave Ctrl-C to the training loop inside them (agents.training.stop_requests
    saves last/), so that a queue stopped by Ctrl-C resumes from it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_queue(jobs: list[Job], device: str = "cpu", workers: int = 1, ray: str | None = None) -> list[dict]:
    """Every job's result, in the order they finish; each one printed as it does."""
    results = []

    def report(result: dict) -> None:
        job = result["job"]
        detail = f": {result['error']}" if result["error"] else ""
        print(f"[zoo] {job.agent} on {job.scenario} seed {job.seed}: {result['state']}{detail}", flush=True)
        results.append(result)

    pending = [job for job in jobs if job_state(job) != "done"]
    for job in jobs:
        if job not in pending:
            report({"job": job, "state": "done", "error": None})
    if ray is not None:
        for result in _run_on_ray(pending, device, ray, workers):
            report(result)
    elif workers <= 1:
        for job in pending:
            report(run_job(job, device))
            if results[-1]["state"] == "interrupted":  # Ctrl-C: the job saved its last/; the queue stops
                break
    else:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the workers save on Ctrl-C; we wait for them
        try:
            with ProcessPoolExecutor(workers, mp_context=get_context("forkserver"), initializer=_quiet_worker) as pool:
                futures = [pool.submit(run_job, job, device) for job in pending]
                for future in as_completed(futures):
                    report(future.result())
                    if results[-1]["state"] == "interrupted":  # the jobs not started yet stay for --resume
                        for other in futures:
                            other.cancel()
        finally:
            signal.signal(signal.SIGINT, previous)
    return results


def _run_on_ray(jobs: list[Job], device: str, address: str, workers: int):
    from scoring.ray_backend import ray_session

    with ray_session(address, workers if address == "local" else None) as ray:
        remote = ray.remote(num_cpus=1, max_retries=0)(run_job)
        refs = {remote.remote(job, device): job for job in jobs}
        while refs:
            try:
                done, _ = ray.wait(list(refs), num_returns=1)
            except KeyboardInterrupt:  # Ray's workers do not see the terminal's Ctrl-C: ask them to stop
                for ref in refs:
                    ray.cancel(ref)
                raise
            for ref in done:
                job = refs.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as err:  # a task that died with its worker or node: its job resumes later
                    yield {"job": job, "state": "failed", "error": f"{type(err).__name__}: {str(err).splitlines()[0]}"}


def best_seed(results: list[dict], scenario: str) -> tuple[Path | None, dict]:
    """(the run folder of the scenario's best finished seed, {seed: its validation driving score}):
    each run's best evaluation, ranked as a run ranks its checkpoints (agents.training.evaluation_rank)."""
    from agents.training import evaluation_rank, read_history

    scores, best, key = {}, None, None
    for result in results:
        job = result["job"]
        if job.scenario != scenario or result["state"] != "done":
            continue
        history = read_history(job.folder / "metrics.json")
        top = max(history, key=evaluation_rank, default=None)
        if top is None:
            continue
        scores[job.seed] = top.get("mean_driving_score")
        if key is None or evaluation_rank(top) > key:
            best, key = job.folder, evaluation_rank(top)
    return best, scores


def summary_line(scenario: str, agent: str, scores: dict) -> str:
    import numpy as np

    values = [v for v in scores.values() if v is not None]
    spread = f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "n/a"
    shown = ", ".join(f"seed {s}: {v:.3f}" if v is not None else f"seed {s}: n/a" for s, v in sorted(scores.items()))
    return f"[zoo] {agent} on {scenario}: validation driving score over {len(scores)} seeds {spread} ({shown})"


def exit_code(results: list[dict]) -> int:
    if any(r["state"] == "interrupted" for r in results):
        print("[zoo] interrupted: continue the queue with the same command and --resume", file=sys.stderr)
        return INTERRUPTED
    return 1 if any(r["state"] == "failed" for r in results) else 0

