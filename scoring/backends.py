"""Where episodes run: inline, local worker processes, or Ray tasks. Same Task in, same record out.

Each backend is a generator of records in completion order; closing it early (Ctrl-C) stops
submitting, cancels what has not started and leaves the finished records to the caller.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Iterator

from scoring.episodes import Task, run_task

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_inline(tasks: list[Task]) -> Iterator[dict]:
    for task in tasks:
        yield run_task(task)


def _worker_init() -> None:
    # Ctrl-C goes to the whole process group: the parent handles it (stops, keeps what is
    # done); workers finish nothing new but must not die with a traceback each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # If the parent is killed outright (SIGKILL), its workers must not live on as orphans.
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run_processes(tasks: list[Task], workers: int) -> Iterator[dict]:
    """A pool of `workers` processes (fork: they start in milliseconds with everything imported)."""
    if workers <= 1:
        yield from run_inline(tasks)
        return
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init)
    pending, queue = set(), list(reversed(tasks))
    try:
        # At most 2 tasks per worker in flight, so an interrupt cancels little and leaks nothing.
        while queue or pending:
            while queue and len(pending) < 2 * workers:
                pending.add(pool.submit(run_task, queue.pop()))
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def run_ray(tasks: list[Task], address: str, workers: int | None = None) -> Iterator[dict]:
    """Ray tasks on a cluster: address "auto" (an existing cluster), "local" (start one here)
    or host:port. Workers import this repository: locally through PYTHONPATH, on a remote
    cluster from the working directory Ray uploads (the repo without .venv, .git, reports)."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("--ray needs the ray package: pip install -r requirements.txt") from None

    env_vars = {"PYTHONPATH": str(REPO_ROOT), "SDL_VIDEODRIVER": os.environ.get("SDL_VIDEODRIVER", "offscreen")}
    if address == "local":
        ray.init(
            num_cpus=workers or os.cpu_count(),
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": env_vars},
        )
    else:
        runtime_env = {
            "working_dir": str(REPO_ROOT),
            "excludes": [".venv", ".git", "reports", "**/__pycache__"],
            "env_vars": {"SDL_VIDEODRIVER": env_vars["SDL_VIDEODRIVER"]},
        }
        ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)
    remote = ray.remote(num_cpus=1, max_retries=0)(run_task)
    pending = {}
    try:
        pending = {remote.remote(task): task for task in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                del pending[ref]
                yield ray.get(ref)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        ray.shutdown()
