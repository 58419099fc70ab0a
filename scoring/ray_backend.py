"""Episodes as Ray tasks on a cluster: the third backend beside inline and the process pool
(scoring/backends.py), with the same Task in, the same record out and the same failure rules:
a dead worker's episode runs again on its own, a second death or a hung episode ends the run
in one ScoringWorkerError line.

Ray is imported only here, and only when --ray is given (it costs seconds to import).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

from scoring.backends import EPISODE_TIMEOUT, MAX_POOL_RESTARTS, POLL, ScoringWorkerError, describe_task
from scoring.episodes import Task, run_task

# The folder holding the packages: the repository in a checkout (or an editable install),
# site-packages in an installed copy. Not the working directory: run_sim.py runs from any.
PACKAGES_ROOT = Path(__file__).resolve().parents[1]
# What an episode imports and reads (the catalog and the perception weights are inside them). A
# checkpoint travels as its absolute path, as it did: nodes see the driver's runs/ and zoo/ only
# through a shared file system.
PACKAGES = ("sim", "agents", "perception", "scenarios", "scoring")

CONNECT_TIMEOUT = 5.0  # [s] to open a TCP connection to host:port before Ray is asked to (ray.init waits minutes)
AUTH_HINT = ("Ray switches a process to token authentication after a local ray.init or when ~/.ray/auth_token "
             "exists: give the scorer and every node the same RAY_AUTH_MODE (disabled or token)")


class RayUnavailableError(RuntimeError):
    """--ray cannot be used: Ray is not installed, or nothing answers at host:port. Found before
    any episode runs or any file is written."""


def check_ray(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise RayUnavailableError if Ray is missing, or if nothing listens at the cluster's address
    within timeout [s]: host:port, or for "auto" the one Ray would pick (RAY_ADDRESS, else the
    cluster `ray start` last started on this machine, which may since have stopped: ray.init
    then retries for minutes). "local" starts its own cluster."""
    try:
        import ray  # noqa: F401
        from ray._private.services import get_ray_address_from_environment  # pinned ray: its own lookup
    except ImportError:
        raise RayUnavailableError("--ray needs the ray package: pip install -r requirements.txt") from None
    if address == "local":
        return
    if address == "auto":
        try:
            address = get_ray_address_from_environment("auto", None)
        except (ConnectionError, OSError, ValueError):
            address = "auto"
        if not re.fullmatch(r"\[?[\w.:-]+\]?:\d+", address or ""):  # none found (or a ray:// client address)
            if address in (None, "", "auto"):
                raise RayUnavailableError("--ray auto found no Ray cluster on this machine (none started with "
                                          "`ray start --head`, no RAY_ADDRESS): start one, or use --ray local")
            return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        reason = "no answer" if isinstance(err, TimeoutError) else (err.strerror or str(err)).lower()
        raise RayUnavailableError(
            f"cannot reach a Ray cluster at {address} ({reason} within {timeout:g} s): start one there with "
            f"`ray start --head --port {port}`, or run on this machine with --ray local") from None


def run_ray(tasks: list[Task], address: str, workers: int | None = None,
            episode_timeout: float = EPISODE_TIMEOUT) -> Iterator[dict]:
    """Ray tasks on a cluster: address "auto" (an existing cluster), "local" (start one here, with
    `workers` CPUs) or host:port. Workers import our packages: locally through PYTHONPATH, on a
    remote cluster from the copies of them that Ray uploads (py_modules: PACKAGES).

    Each episode is a generator task that yields its worker first, then its record: the driver
    times an episode from its start (a task waits in Ray's queue while every CPU is busy), and an
    episode still running episode_timeout [s] later is hung: it is cancelled (Ray kills its
    worker) and a ScoringWorkerError naming it ends the run. So does a cluster on which nothing
    starts or finishes for episode_timeout (it never runs our tasks)."""
    with ray_session(address, workers) as ray:
        yield from _ray_episodes(ray, tasks, episode_timeout, address)


@contextlib.contextmanager
def ray_session(address: str, workers: int | None):
    """connect(), then ray.shutdown() and this process's SIGINT/SIGTERM handlers as they were:
    ray.init installs a SIGTERM handler that exits with code 15 and leaves it after shutdown, so
    processes forked later (scoring's pool workers) would answer the pool's SIGTERM with exit
    code 15 instead of ending by the signal."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ray = connect(address, workers)
        try:
            yield ray
        finally:
            ray.shutdown()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def connect(address: str, workers: int | None):
    """Ray, initialised on the cluster at `address` ("local": one started here with `workers` CPUs),
    with our packages importable by its workers; RayUnavailableError in one line if there is none."""
    check_ray(address)
    import ray

    env_vars = {"PYTHONPATH": str(PACKAGES_ROOT), "SDL_VIDEODRIVER": os.environ.get("SDL_VIDEODRIVER", "offscreen")}
    try:
        if address == "local":  # "local", not None: ray.init() alone joins a cluster `ray start` left running here
            ray.init(address="local", num_cpus=workers or os.cpu_count(), include_dashboard=False,
                     log_to_driver=False, runtime_env={"env_vars": env_vars})
        else:
            runtime_env = {  # the packages only, not their folder: in an install that is all of site-packages
                "py_modules": [str(PACKAGES_ROOT / name) for name in PACKAGES],
                "excludes": ["**/__pycache__"],
                "env_vars": {"SDL_VIDEODRIVER": env_vars["SDL_VIDEODRIVER"]},
            }
            ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)
    except (ConnectionError, ValueError, RuntimeError) as err:  # no cluster for "auto", a refused handshake
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RayUnavailableError(f"cannot connect to the Ray cluster at {address}: {first}") from None
    return ray


def _run_streamed(task: Task):
    """A Ray task's body: (worker pid, node address) as soon as it starts, then the record."""
    import ray

    yield os.getpid(), ray.util.get_node_ip_address()
    yield run_task(task)


def _ray_episodes(ray, tasks: list[Task], timeout: float, address: str = "local") -> Iterator[dict]:
    """Like the pool: if a worker dies, its episode runs again once the others in flight are done,
    on its own (Ray loses only the dead worker's task), and a second death ends the run naming it."""
    from ray import exceptions

    died = (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.LocalRayletDiedError,
            exceptions.OutOfMemoryError, exceptions.ObjectLostError)  # a record lost with its node too
    remote = ray.remote(num_cpus=1, max_retries=0)(_run_streamed)
    slots = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))  # in flight: an interrupt cancels little
    pending: dict = {}  # episode generator -> task
    begun: dict = {}  # episode generator -> ((worker pid, node), start [s, time.monotonic]) once it started
    queue, suspects, deaths, alone = list(reversed(tasks)), [], 0, None  # alone: the suspect running on its own
    plan = {id(task): i for i, task in enumerate(tasks)}  # where each task is in the plan: suspects rerun in it
    progress = time.monotonic()  # [s] when an episode last started, finished or died
    try:
        while queue or suspects or pending:
            if suspects or alone in pending:  # episodes whose worker died: one at a time, nothing beside them
                if not pending:
                    task = suspects.pop()
                    alone = remote.remote(task)
                    pending[alone] = task
            else:
                while queue and len(pending) < slots:
                    task = queue.pop()
                    pending[remote.remote(task)] = task
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=min(POLL, timeout))
            for episode in ready:
                progress = time.monotonic()
                try:
                    item = ray.get(next(episode))
                except died as err:
                    task, worker = pending.pop(episode), begun.pop(episode, (None,))[0]
                    cause = type(err).__name__ + (f", pid {worker[0]} on {worker[1]}" if worker else "")
                    deaths += 1
                    if episode is alone:
                        raise ScoringWorkerError(f"a scoring worker died ({cause}) while running {describe_task(task)} "
                                                 "on its own, after an earlier death running it") from None
                    if deaths > MAX_POOL_RESTARTS:
                        raise ScoringWorkerError(f"scoring workers died {deaths} times (last: {cause})") from None
                    print(f"a scoring worker died ({cause}); running its episode again once the others in flight "
                          "are done, on its own", file=sys.stderr)
                    suspects = sorted(suspects + [task], key=lambda t: -plan[id(t)])  # popped from the end
                    continue
                if episode not in begun:
                    begun[episode] = (item, time.monotonic())
                    continue
                del pending[episode], begun[episode]
                yield item
            now = time.monotonic()
            hung = [e for e in pending if e in begun and now - begun[e][1] > timeout]
            if hung:
                (pid, node), _ = begun[hung[0]]
                raise ScoringWorkerError(f"a scoring worker is hung (pid {pid} on {node}): "
                                         f"{describe_task(pending[hung[0]])} did not finish within {timeout:g} s")
            if pending and now - progress > timeout:  # Ray accepted the tasks but runs none of them
                raise ScoringWorkerError(
                    f"no episode started or finished on the Ray cluster at {address} for {timeout:g} s "
                    f"({len(pending)} submitted): it is busy with other work, or cannot run this process's "
                    f"tasks ({AUTH_HINT})")
    finally:
        for episode in pending:  # force: the worker is killed, also one that is hung
            ray.cancel(episode, force=True)
