"""A 2-node Ray cluster on this machine, scored on with run_sim.py, as a user would (tests).

    unshare -n python tests/reliability/ray_cluster.py SUITE_FILE REPORTS_DIR

Run inside a network namespace of its own (`unshare -n`): its only interface is loopback, so Ray
(which swaps 127.0.0.1 for the machine's own address when it can find one) keeps all its traffic
on 127.0.0.1. Starts a head and a second node joined to it (`ray start --block`, one CPU each,
their own temp folder, token authentication off on both and on the scorer, as the docs say a
cluster and its scorer must agree), scores SUITE_FILE with idm on it into REPORTS_DIR/<suite>/ray,
notes which nodes ran episodes (a worker that ran one has torch loaded); then scores it again with
token authentication on in the scorer only (a mismatch), and stops both nodes. Prints one JSON
line: {"returncode", "stderr", "nodes_that_ran_episodes", "seconds_to_start", "seconds_to_score",
"mismatched_returncode", "mismatched_error"}.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a script: the repository's tests package

from tests.reliability.test_interruptions import descendants  # noqa: E402

PORT = 6390
STARTUP = 90  # [s] for a node to say it started, on a loaded 2-core machine
SCORING = 240  # [s] for the suite


def _node(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    ray = Path(sys.executable).with_name("ray")
    return subprocess.Popen([str(ray), "start", "--num-cpus=1", "--block", "--disable-usage-stats", *args],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _wait_started(process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP
    while "Ray runtime started" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"ray start did not start ({log}):\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)


def _ran_episodes(pid: int) -> bool:
    """Has a Ray worker under this node's `ray start` process loaded torch (every episode does)?"""
    for child in descendants(pid):
        try:
            if "libtorch" in Path(f"/proc/{child}/maps").read_text(errors="replace"):
                return True
        except OSError:
            pass
    return False


def _stop(process: subprocess.Popen) -> None:
    """SIGKILL the node and everything under it: the namespace and the cluster are thrown away
    (a SIGTERM'd `ray start` drains its node first, which takes seconds)."""
    for pid in [*descendants(process.pid), process.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(30)


def _scorer(suite: str, reports: str, run: str, *options: str) -> list[str]:
    return [sys.executable, str(ROOT / "run_sim.py"), "--suite", suite, "--agent", "idm", "--ray", f"127.0.0.1:{PORT}",
            "--reports", reports, "--run", run, *options]


def main(suite: str, reports: str) -> dict:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    env = os.environ | {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "SDL_VIDEODRIVER": "offscreen"}
    env.pop("RAY_ADDRESS", None)
    temp = tempfile.mkdtemp(prefix="ray2n-", dir="/tmp")  # short: Ray's socket paths live under it
    logs = Path(temp)
    head = _node(["--head", f"--port={PORT}", "--include-dashboard=false", f"--temp-dir={temp}"], logs / "head.log", env)
    nodes, start = [head], time.monotonic()
    try:
        _wait_started(head, logs / "head.log")
        nodes.append(_node([f"--address=127.0.0.1:{PORT}"], logs / "node.log", env))
        _wait_started(nodes[1], logs / "node.log")
        started = time.monotonic()
        err = logs / "scorer.err"
        scorer = subprocess.Popen(_scorer(suite, reports, "ray"), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=err.open("w"))
        ran, deadline = [False, False], time.monotonic() + SCORING
        while scorer.poll() is None and time.monotonic() < deadline:  # a job's workers end with its driver
            ran = [seen or _ran_episodes(node.pid) for seen, node in zip(ran, nodes)]
            time.sleep(0.2)
        if scorer.poll() is None:
            scorer.kill()
        outcome = {"returncode": scorer.wait(), "stderr": err.read_text(errors="replace")[-3000:],
                   "nodes_that_ran_episodes": ran, "seconds_to_start": round(started - start, 1),
                   "seconds_to_score": round(time.monotonic() - started, 1)}
        # A scorer whose RAY_AUTH_MODE differs from the cluster's: Ray connects, takes the tasks and
        # runs none (it used to wait forever); it must end after --episode-timeout, in one line.
        token = env | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        stalled = subprocess.run(_scorer(suite, reports, "stalled", "--episode-timeout", "5"), cwd=ROOT, env=token,
                                 capture_output=True, text=True, timeout=SCORING)
        return outcome | {"mismatched_returncode": stalled.returncode,
                          "mismatched_error": (stalled.stderr.strip().splitlines() or [""])[-1]}
    finally:
        for node in reversed(nodes):
            _stop(node)
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:3])))
