#!/usr/bin/env python
"""Episodes per minute for a suite (default: standard, idm) on 1 and 2 local worker processes
and on Ray local, side by side in one run; writes suite_scaling.json next to this file.

    python benchmarks/suite_scaling.py [--suite standard] [--agent idm] [--workers 1 2] [--no-ray]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")

from rich.console import Console  # noqa: E402

from agents.resolve import resolve_agent  # noqa: E402
from scenarios.suite import load_suite  # noqa: E402
from scoring.run import open_results, run_suite  # noqa: E402


def measure(suite, spec, workers: int, ray: str | None, folder: Path) -> tuple[dict, list]:
    results = open_results(folder, suite, [spec], "bench", resume=False)
    start = time.perf_counter()  # includes pool / Ray start-up: what a user waits for
    run_suite(suite, [spec], results, workers=workers, ray_address=ray, console=Console(stderr=True, quiet=True))
    seconds = time.perf_counter() - start
    n = len(results)
    row = {
        "backend": f"ray {ray}" if ray else "processes",
        "workers": workers,
        "episodes": n,
        "seconds": round(seconds, 2),
        "episodes_per_minute": round(60 * n / seconds, 1),
    }
    return row, results.sorted_records()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="standard")
    parser.add_argument("--agent", default="idm")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).with_name("suite_scaling.json")))
    args = parser.parse_args()
    suite, spec = load_suite(args.suite), resolve_agent(args.agent)
    runs = [(w, None) for w in args.workers] + ([] if args.no_ray else [(max(args.workers), "local")])
    rows, records = [], []
    load_before = os.getloadavg()  # other work on the machine skews the ratios: recorded with them
    with tempfile.TemporaryDirectory() as tmp:
        for i, (workers, ray) in enumerate(runs):
            row, recs = measure(suite, spec, workers, ray, Path(tmp) / str(i))
            rows.append(row)
            records.append(recs)
            print(json.dumps(row), flush=True)
    base = rows[0]["episodes_per_minute"]
    for row in rows:
        row["speedup_vs_first"] = round(row["episodes_per_minute"] / base, 2)
    out = {
        "suite": suite.name,
        "agent": spec.label,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1_5_15_min_before_and_after": [list(load_before), list(os.getloadavg())],
        "identical_records_across_backends": all(r == records[0] for r in records),
        "runs": rows,
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
