"""The one scoring API: score a suite for a list of agents on a backend, get results and summary.

    score = score_suite("smoke", ["idm", "random"], reports_dir="reports", workers=2)
    score.summary["suite"]["idm"]["mean"]      # an Interval; score.records: every episode

run_sim.py --suite and `python -m agents.zoo score` both call it, so their numbers are the same
by construction. Errors a user can cause are ScoringError subclasses with a one-line message;
the callers add their own hint on how to resume (a flag for the CLI, a command for the zoo).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

import scoring.report  # looked up at call time: tests stand a full disk in for write_reports
from scenarios.suite import Suite
from scoring.results import Results


class ScoringError(Exception):
    """A suite run that cannot start or did not finish, for a reason the user can act on."""


class SuiteSetupError(ScoringError):
    """Bad input, found before any episode runs: unknown suite or agent, an agent named twice, a
    checkpoint its agent would refuse to load (agents/resolve.py verifies each one), results that
    cannot be resumed (other agents, corrupt values), a name that would put reports outside
    reports_dir. Nothing new is written."""


class SuiteStoppedError(ScoringError):
    """The run stopped after it started; every finished episode is in results.json, and a
    resume (same agents, same run folder) continues it."""

    def __init__(self, message: str, results: Results) -> None:
        super().__init__(message)
        self.results = results

    @property
    def run(self) -> str:
        return self.results.folder.name


class WorkerDiedError(SuiteStoppedError):
    """A scoring worker died in a way a restart does not cure, or hung (scoring/backends.py)."""


class ResultsWriteError(SuiteStoppedError):
    """results.json could not be rewritten mid-run (a full disk); the previous file is whole."""


class ReportsWriteError(SuiteStoppedError):
    """Every episode ran, but the reports could not be written (a full disk); the old ones stay."""


@dataclass(frozen=True)
class SuiteScore:
    suite: Suite
    labels: list[str]  # the agents as results and reports name them, in the order given
    results: Results
    summary: dict | None  # scoring.report.summarise's; None when interrupted (no reports written)
    ran: int  # episodes played by this call
    skipped: int  # episodes already in results.json (resume)
    seconds: float  # [s] wall-clock of the episodes
    interrupted: bool  # Ctrl-C: the finished episodes are kept; resume continues

    @property
    def folder(self) -> Path:
        return self.results.folder

    @property
    def records(self) -> list[dict]:
        return self.results.sorted_records()


def check_suite_engine(suite: Suite, engine: str) -> None:
    from scenarios.engines import ENGINES, envpool_refusal

    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid engines: {', '.join(ENGINES)}")
    if engine == "envpool":
        refused = [s.name for s in suite.scenarios if envpool_refusal(s.load()) is not None]
        if refused:
            raise ValueError(f"suite {suite.name!r} has scenarios EnvPool cannot run exactly ({', '.join(refused)}); "
                             "score it with --engine highway-env (docs/engines.md says why)")


def score_suite(suite: str | Suite, agents: list[str], *, reports_dir: str | Path, run: str | None = None,
                resume: bool = False, workers: int = 1, ray: str | None = None, replays: bool = False,
                console: Console | None = None, engine: str = "highway-env",
                episode_timeout: float | None = None) -> SuiteScore:
    """Score `agents` (registry names, zoo labels or checkpoint folders) on `suite` (a name in
    scenarios/suites/, a YAML path, or a loaded Suite) and write the reports.

    reports_dir/<suite>/<run>/ holds results.json, leaderboard.md, results.csv and scores.png;
    run defaults to the date-time, or with resume to the latest run. workers: local processes
    (1: in this process); ray: a Ray address ("auto", "local", host:port) instead. replays: also
    save each episode's replay file. console: where the progress bar goes (default stderr).
    engine: "highway-env" or "envpool"; a suite scenario EnvPool cannot run exactly is refused
    before any episode runs. episode_timeout [s]: a worker still running one episode after it
    is hung and the run stops (WorkerDiedError); default scoring.backends.EPISODE_TIMEOUT; on Ray
    also a cluster on which nothing starts or finishes for that long.

    Before any file is written (SuiteSetupError otherwise): the agents resolve, every checkpoint
    they will play loads into its network, and a Ray cluster answers at its address.
    """
    import agents as registry
    import scenarios
    from agents.resolve import resolve_agent
    from scenarios.suite import load_suite
    from scoring.backends import EPISODE_TIMEOUT, ScoringWorkerError
    from scoring.episodes import check_agent_loads
    from scoring.ray_backend import RayUnavailableError, check_ray
    from scoring.results import ResultsError
    from scoring.run import open_results, run_suite

    try:
        suite = suite if isinstance(suite, Suite) else load_suite(suite)
        specs = [resolve_agent(name, suite.scenarios) for name in agents]
        if len({s.label for s in specs}) != len(specs):
            raise ValueError(f"--agent names repeat: {', '.join(agents)}")
        check_suite_engine(suite, engine)
        if ray:
            check_ray(ray)  # before any file: an unreachable cluster is a setup error
        for spec in specs:
            check_agent_loads(spec, suite.scenarios, engine)  # a model.pt that fits no network stops here
        results = open_results(reports_dir, suite, specs, run, resume, engine)
    except (scenarios.ScenarioError, registry.AgentError, ResultsError, ValueError, RayUnavailableError) as err:
        raise SuiteSetupError(str(err)) from None
    try:
        outcome = run_suite(suite, specs, results, workers=workers, ray_address=ray, console=console,
                            replays=replays, engine=engine, episode_timeout=episode_timeout or EPISODE_TIMEOUT)
    except ScoringWorkerError as err:
        raise WorkerDiedError(f"{err.what}; the {len(results)} finished episodes are kept in {results.path}",
                              results) from None
    except RayUnavailableError as err:  # the cluster went away between the check and ray.init
        raise SuiteStoppedError(f"{err}; the {len(results)} finished episodes are kept in {results.path}",
                                results) from None
    except ResultsError as err:
        raise ResultsWriteError(f"{err}; the episodes finished before it are kept there", results) from None
    labels = [s.label for s in specs]
    summary = None
    if not outcome["interrupted"]:
        try:
            summary = scoring.report.write_reports(results, labels, [s.name for s in suite.scenarios])
        except OSError as err:  # e.g. a full disk: the reports are written as one set, so the old ones stay
            raise ReportsWriteError(f"cannot write the reports in {results.folder}: {err.strerror or err}; "
                                    f"every episode is kept in {results.path}", results) from None
    return SuiteScore(suite, labels, results, summary, outcome["ran"], outcome["skipped"], outcome["seconds"],
                      outcome["interrupted"])
