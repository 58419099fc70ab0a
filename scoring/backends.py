"""Where episodes run: inline, or local worker processes (Ray tasks: scoring/ray_backend.py). Same
Task in, same record out.

Each backend is a generator of records in completion order; closing it early (Ctrl-C) stops
submitting, cancels what has not started and leaves the finished records to the caller.

A local worker process that dies (killed, out of memory, crashed) takes the episodes in flight
with it: the pool is restarted and they run again, one at a time, so that an episode that
kills its worker again is named in a ScoringWorkerError and the run ends (finished episodes
are already in results.json; --resume continues).

A worker still running an episode episode_timeout after it started it is hung (stopped, stuck
in a system call, in an endless loop): it is killed and a ScoringWorkerError naming the episode
ends the run. Inline (workers=1) nothing times out: the episode runs in the caller's process.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterator

from scoring.episodes import Task, run_task
from sim.vector import exit_cause


def run_inline(tasks: list[Task]) -> Iterator[dict]:
    for task in tasks:
        yield run_task(task)


_starts = None  # in a pool worker: the queue it reports each episode's start to (_run_reported)


def _worker_init(starts) -> None:
    global _starts
    _starts = starts
    # A core each: torch's default thread pool per worker (all cores) oversubscribes the machine,
    # and these small networks run 5-7x slower for it on a loaded 2-core box. (Ray does the same.)
    os.environ["OMP_NUM_THREADS"] = "1"
    if "torch" in sys.modules:  # forked from a parent that loaded checkpoints
        sys.modules["torch"].set_num_threads(1)
    # Ctrl-C goes to the whole process group: the parent handles it (stops, keeps what is
    # done); workers finish nothing new but must not die with a traceback each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # If the parent is killed outright (SIGKILL), its workers must not live on as orphans.
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


MAX_POOL_RESTARTS = 5  # worker deaths tolerated in one run before it stops (something keeps killing them)
EPISODE_TIMEOUT = 300.0  # [s] an episode running longer has a hung worker (the slowest real one: well under a minute)
POLL = 1.0  # [s] how often a run with episodes in flight looks for hung ones


class ScoringWorkerError(RuntimeError):
    """A scoring worker process died in a way a restart does not cure, or hung; the run stops.

    what: what happened, without the hint on resuming."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"{what}; the episodes finished so far are kept: --resume continues the run")


def run_processes(tasks: list[Task], workers: int, episode_timeout: float = EPISODE_TIMEOUT) -> Iterator[dict]:
    """A pool of `workers` processes (fork: they start in milliseconds with everything imported).

    If a worker dies, every episode in flight is lost (ProcessPoolExecutor fails them all with
    BrokenProcessPool, not only the dead worker's): the pool restarts and those episodes run
    again one at a time, so that a second death pins the episode that causes it.
    episode_timeout [s]: counted from when a worker starts the episode, not from its submission."""
    if workers <= 1:
        yield from run_inline(tasks)
        return
    context = multiprocessing.get_context("fork")
    pool, starts = _start_pool(context, workers)
    pending: dict = {}  # future -> task
    begun: dict = {}  # task key -> (worker pid, start [s, time.monotonic]), as this pool's workers report them
    queue, suspects, restarts = list(reversed(tasks)), [], 0
    try:
        while queue or suspects or pending:
            alone = None  # the suspect running on its own, if any
            if suspects:  # episodes in flight when a worker died: one at a time
                if not pending:
                    alone = suspects.pop()
                    pending[_submit(pool, alone)] = alone
            else:  # at most 2 tasks per worker in flight, so an interrupt cancels little and leaks nothing
                while queue and len(pending) < 2 * workers:
                    task = queue.pop()
                    pending[_submit(pool, task)] = task
            done = _wait_or_hang(pool, pending, starts, begun, episode_timeout)
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                done, _ = wait(pending)  # the pool fails every unfinished future at once
            lost = []
            for future in [f for f in pending if f in done]:  # in plan order, so suspects rerun in it too
                task = pending.pop(future)
                if isinstance(future.exception(), BrokenProcessPool):
                    lost.append(task)
                else:
                    yield future.result()
            if not lost:
                continue
            cause = _death_cause(pool)
            pool.shutdown(wait=True)
            starts.close()
            restarts += 1
            if alone is not None:
                raise ScoringWorkerError(f"a scoring worker died ({cause}) while running {describe_task(alone)} "
                                         "on its own, after an earlier death with it in flight")
            if restarts > MAX_POOL_RESTARTS:
                raise ScoringWorkerError(f"scoring workers died {restarts} times (last: {cause})")
            print(f"a scoring worker died ({cause}); restarting the pool and running the {len(lost)} "
                  f"episode(s) in flight again, one at a time", file=sys.stderr)
            suspects += reversed(lost)
            pool, starts = _start_pool(context, workers)
            begun.clear()  # the lost episodes' starts: their reruns report new ones
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        starts.close()


def _start_pool(context, workers: int):
    """(pool, the queue its workers report starts to). A queue per pool: a worker killed while
    writing to it may hold its lock, and the pool it belonged to is gone with it."""
    starts = context.SimpleQueue()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init, initargs=(starts,))
    return pool, starts


def _run_reported(task: Task) -> dict:
    """run_task in a pool worker, first telling the parent which worker started it when."""
    _starts.put((task.key, os.getpid(), time.monotonic()))  # one clock for every process of a machine
    return run_task(task)


def _wait_or_hang(pool: ProcessPoolExecutor, pending: dict, starts, begun: dict, timeout: float) -> set:
    """The futures done, once some are; raises ScoringWorkerError (after killing its worker) for an
    episode running longer than timeout [s]."""
    while True:
        done, _ = wait(pending, timeout=min(POLL, timeout), return_when=FIRST_COMPLETED)
        while not starts.empty():
            key, pid, start = starts.get()
            begun[key] = (pid, start)
        if done:
            return done
        now = time.monotonic()
        hung = [task for task in pending.values() if task.key in begun and now - begun[task.key][1] > timeout]
        if hung:
            pids = [begun[task.key][0] for task in hung]
            # SIGKILL: a stopped process never acts on the SIGTERM the pool ends its workers with.
            for pid in set(pids) & set(getattr(pool, "_processes", None) or {}):  # ours, not yet reaped
                os.kill(pid, signal.SIGKILL)
            raise ScoringWorkerError(f"a scoring worker is hung (pid {pids[0]}): {describe_task(hung[0])} did not "
                                     f"finish within {timeout:g} s")


def _submit(pool: ProcessPoolExecutor, task: Task) -> Future:
    """pool.submit, except that a pool a worker broke since the last wait fails the task the way
    it fails those in flight (a future holding BrokenProcessPool), instead of raising here."""
    try:
        return pool.submit(_run_reported, task)
    except BrokenProcessPool as err:
        future = Future()
        future.set_exception(err)
        return future


def _death_cause(pool: ProcessPoolExecutor) -> str:
    """How the dead worker ended ("pid 123 killed by SIGKILL"). The pool terminates the others
    with SIGTERM right after, so a SIGTERM exit is only reported when nothing else is known."""
    processes = dict(getattr(pool, "_processes", None) or {})  # pid -> Process; private, hence the care
    for process in processes.values():
        process.join(2.0)  # the pool is terminating them all; their exit codes show a moment later
    ends = [(pid, process.exitcode) for pid, process in processes.items()]
    ends = [(pid, code) for pid, code in ends if code not in (None, 0)]
    ends.sort(key=lambda end: end[1] == -signal.SIGTERM)
    return f"pid {ends[0][0]} {exit_cause(ends[0][1])}" if ends else "it ended abruptly"


def describe_task(task: Task) -> str:
    return f"agent {task.agent.label} on {task.scenario.name}, seed {task.seed}, episode {task.episode}"
