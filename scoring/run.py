"""Running a suite: plan the (agent, scenario, seed, episode) tasks, skip those already in
results.json, run the rest on a backend with a progress bar, record each as it finishes."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from agents.resolve import AgentSpec
from scenarios.suite import Suite
from scoring.backends import EPISODE_TIMEOUT, run_processes
from scoring.episodes import Task
from scoring.ray_backend import run_ray
from scoring.report import printable
from scoring.results import Results, ResultsError
from sim.replay import Replay


def plan(suite: Suite, specs: list[AgentSpec], replays: bool = False, engine: str = "highway-env") -> list[Task]:
    """Every task of the suite, in a fixed order: agent, scenario, seed, episode."""
    return [
        Task(spec, scenario, seed, episode, replays, engine)
        for spec in specs
        for scenario in suite.scenarios
        for seed in suite.seeds
        for episode in range(suite.episodes)
    ]


def inside(base: Path, *names: tuple[str, str]) -> Path:
    """base/<name>/...: each (what, name) must be one folder name, so that no report is written
    outside `base`. The CLI checks --run and suite file names, but score_suite is also an API: a
    Suite built in code, the zoo's --run or a replay's agent label reach here unchecked."""
    for what, name in names:
        if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
            raise ResultsError(f"{what} {name!r} must be one folder name (not empty, '.', '..' or a path): "
                               f"reports stay inside {base}")
    return Path(base).joinpath(*(name for _, name in names))


def replay_path(folder: Path, record: dict) -> Path:
    """Where a scored episode's replay goes: <run>/replays/<agent>/<scenario>/<seed>-<episode>.json."""
    path = inside(folder / "replays", ("agent name", record["agent"]), ("scenario name", record["scenario"]))
    path = path / f"{record['seed']}-{record['episode']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def default_run_name() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")


def latest_run(suite_dir: Path) -> Path | None:
    runs = sorted(p for p in Path(suite_dir).glob("*") if (p / "results.json").is_file())
    return runs[-1] if runs else None


def open_results(reports: Path, suite: Suite, specs: list[AgentSpec], run: str | None, resume: bool,
                 engine: str = "highway-env") -> Results:
    """A new run folder, or (resume) the named or latest one, checked against suite, agents and engine."""
    suite_dir = inside(reports, ("suite name", suite.name))
    for label, scenario in ((s.label, sc.name) for s in specs for sc in suite.scenarios):
        inside(suite_dir, ("agent name", label), ("scenario name", scenario))  # replays/<agent>/<scenario>/
    if not resume:
        folder = inside(suite_dir, ("run name", run or default_run_name()))
        if (folder / "results.json").exists():
            raise ResultsError(f"{folder} already holds results; add --resume to continue it or pick another --run")
        header = {
            "suite": suite.name,
            "run": folder.name,
            "agents": {s.label: s.checkpoint_hash for s in specs},
            "seeds": list(suite.seeds),
            "episodes": suite.episodes,
            "scenarios": [s.name for s in suite.scenarios],
            "engine": engine,
        }
        results = Results(folder, header)
        results.write()
        return results
    folder = inside(suite_dir, ("run name", run)) if run else latest_run(suite_dir)
    if folder is None:
        raise ResultsError(f"nothing to resume: no run under {suite_dir}")
    results = Results.load(folder)
    wanted = {s.label: s.checkpoint_hash for s in specs}
    if results.header.get("agents") != wanted:
        raise ResultsError(
            f"{folder} was run with agents {results.header.get('agents')}, not {wanted}; resume with the same --agent list"
        )
    if results.header.get("engine", "highway-env") != engine:  # runs older than the engines are highway-env's
        raise ResultsError(f"{folder} was run on --engine {results.header.get('engine')}; resume it with that engine")
    return results


def run_suite(
    suite: Suite,
    specs: list[AgentSpec],
    results: Results,
    workers: int = 1,
    ray_address: str | None = None,
    console: Console | None = None,
    replays: bool = False,
    engine: str = "highway-env",
    episode_timeout: float = EPISODE_TIMEOUT,
) -> dict:
    """Run the tasks missing from results; returns {"ran", "skipped", "seconds", "interrupted"}.

    replays: also save each episode's replay file under the run folder (replay_path).
    episode_timeout [s]: a worker running one episode longer is hung, and the run stops
    (ScoringWorkerError; not with workers=1 and no Ray, which runs episodes in this process).

    Ctrl-C stops cleanly: every finished episode is already on disk; --resume continues."""
    console = console or Console(stderr=True)
    tasks = plan(suite, specs, replays, engine)
    todo = [t for t in tasks if t.key not in results]
    skipped = len(tasks) - len(todo)
    start, ran, interrupted = time.perf_counter(), 0, False
    if ray_address and todo:
        stream = run_ray(todo, ray_address, workers, episode_timeout)
    else:
        stream = run_processes(todo, workers, episode_timeout)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        # Names are folder names: a '[' would be read as rich markup, bytes that are not UTF-8 as surrogates.
        bar = progress.add_task(escape(printable(suite.name)), total=len(tasks), completed=skipped)
        try:
            for record in stream:
                replay = record.pop("replay", None)
                if replay is not None:
                    Replay.from_dict(replay).save(replay_path(results.folder, record))
                results.add(record)
                ran += 1
                shown = printable(f"{suite.name}: {record['agent']} {record['scenario']}")
                progress.update(bar, advance=1, description=escape(shown))
        except KeyboardInterrupt:
            interrupted = True
        finally:
            stream.close()
    return {"ran": ran, "skipped": skipped, "seconds": time.perf_counter() - start, "interrupted": interrupted}
