"""Suites: a fixed list of scenarios (catalog names or variants defined in the suite) x a fixed
list of evaluation seeds x episodes per seed. One YAML file per suite in scenarios/suites/.

Seeds follow the seed plan (scenarios/seeds.py): every suite seed, and every episode seed
derived from it, is an evaluation seed (>= EVAL_SEED_BASE), which training and checkpoint
selection never use, so an agent is never scored on an episode it trained or was picked on.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.catalog import Scenario, ScenarioError, get, lineage, names, variant
from scenarios.load import SUITE_FILE_BYTES, LoadError, read_yaml
# EVAL_SEED_BASE, MAX_SEED and episode_seed are also imported from here (run_sim.py, scoring/).
from scenarios.seeds import EVAL_SEED_BASE, MAX_SEED, episode_seed, is_evaluation_seed  # noqa: F401

SUITES_DIR = Path(__file__).parent / "suites"
SUITE_KEYS = {"description", "seeds", "episodes", "scenarios"}
VARIANT_KEYS = {"name", "base"}  # plus any scenario keys to override (config, action, budgets, ...)
VARIANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
MAX_SEEDS = 100_000  # per suite; seeds.count: 10**9 would otherwise build a billion-seed tuple
MAX_EPISODES = 1_000  # per (scenario, seed)
MAX_SUITE_EPISODES = 1_000_000  # per agent: scenarios x seeds x episodes


@dataclass(frozen=True)
class SuiteScenario:
    name: str  # unique within the suite
    base: str | None  # None: a catalog scenario as is; else the catalog scenario it overrides
    overrides: tuple  # ((key, value), ...) scenario keys the variant overrides

    def load(self) -> Scenario:
        """The validated Scenario (cached; cheap to call in every worker)."""
        return get(self.name) if self.base is None else variant(self.base, self.name, dict(self.overrides))

    @property
    def lineage(self) -> list[str]:
        """Its name, then the catalog scenarios it derives from, nearest first: whose trained agents may play it."""
        return [self.name, *lineage(self.base)] if self.base else lineage(self.name)


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    seeds: tuple[int, ...]  # evaluation seeds, all >= EVAL_SEED_BASE
    episodes: int  # episodes per (scenario, seed)
    scenarios: tuple[SuiteScenario, ...]

    def scenario(self, name: str) -> SuiteScenario:
        return next(s for s in self.scenarios if s.name == name)


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def load_suite(name_or_path: str) -> Suite:
    """A suite by name (scenarios/suites/<name>.yaml) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SUITES_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ScenarioError(f"unknown suite {name_or_path!r}; valid suites: {', '.join(suite_names())}")
    elif not path.is_file():
        raise ScenarioError(f"no suite file at {name_or_path}")
    return _load(str(path.resolve()))


@functools.cache
def _load(path: str) -> Suite:
    name = Path(path).stem
    # The name becomes a folder, reports/<suite>/: `...yaml` (stem '..') would put the runs outside
    # reports/, `..yaml` (stem '.') into reports/ itself. Any other file name is one folder name.
    if not name.strip("."):
        raise ScenarioError(f"suite file {path}: its name becomes the reports folder, and {name!r} is not a "
                            "folder name; rename the file")
    try:
        raw = read_yaml(path, max_bytes=SUITE_FILE_BYTES)
    except LoadError as err:  # also a FIFO, a huge file, deep nesting, an alias bomb (scenarios/load.py)
        raise ScenarioError(f"suite {name!r}: {path} is not valid YAML ({err.reason})") from None
    except OSError as err:
        raise ScenarioError(f"suite {name!r}: {path} is not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"suite {name!r}: {path} must hold a mapping of keys, got {type(raw).__name__}")
    unknown = sorted(map(str, set(raw) - SUITE_KEYS))  # str: YAML keys may be numbers
    missing = sorted(SUITE_KEYS - set(raw))
    if unknown or missing:
        raise ScenarioError(
            f"suite {name!r}: unknown key(s) {unknown} / missing key(s) {missing}; valid keys: {', '.join(sorted(SUITE_KEYS))}"
        )
    if not isinstance(raw["description"], str):
        raise ScenarioError(f"suite {name!r}: description must be text, got {raw['description']!r:.60}")
    episodes = raw["episodes"]
    if isinstance(episodes, bool) or not isinstance(episodes, int) or not 1 <= episodes <= MAX_EPISODES:
        raise ScenarioError(f"suite {name!r}: episodes must be a positive integer up to {MAX_EPISODES}, got {episodes!r:.60}")
    entries = _entries(name, raw["scenarios"])
    seeds = _seeds(name, raw["seeds"])
    if len(entries) * len(seeds) * episodes > MAX_SUITE_EPISODES:
        raise ScenarioError(f"suite {name!r}: {len(entries)} scenarios x {len(seeds)} seeds x {episodes} episodes "
                            f"is more than {MAX_SUITE_EPISODES:,} episodes per agent")
    for entry in entries:
        try:
            entry.load()  # validate every variant now, not in a worker halfway through a run
        except ScenarioError as err:  # a variant's error names the suite it is defined in
            raise ScenarioError(f"suite {name!r}: {err}" if entry.base else str(err)) from None
    return Suite(name, raw["description"].strip(), seeds, episodes, entries)


def _entries(suite: str, raw: Any) -> tuple[SuiteScenario, ...]:
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(f"suite {suite!r}: scenarios must be a non-empty list, got {raw!r:.60}")
    entries = tuple(_entry(suite, e) for e in raw)
    seen = [e.name for e in entries]
    if len(set(seen)) != len(seen):
        raise ScenarioError(f"suite {suite!r}: scenario names repeat: {seen}")
    return entries


def _entry(suite: str, raw: Any) -> SuiteScenario:
    if isinstance(raw, str):
        if raw not in names():
            raise ScenarioError(f"suite {suite!r}: unknown scenario {raw!r}; valid scenarios: {', '.join(names())}")
        return SuiteScenario(raw, None, ())
    if not isinstance(raw, dict) or not VARIANT_KEYS <= set(raw) or not all(isinstance(k, str) for k in raw):
        raise ScenarioError(
            f"suite {suite!r}: a scenario entry is a catalog name or a mapping with name, base and overrides; got {raw!r:.80}"
        )
    name, base = raw["name"], raw["base"]
    # The name becomes a folder (reports/.../replays/<agent>/<name>/): one plain path component.
    if not isinstance(name, str) or not VARIANT_NAME.fullmatch(name):
        raise ScenarioError(f"suite {suite!r}: variant name {name!r:.60} must be letters, digits, '.', '-' or '_'")
    if name in names():
        raise ScenarioError(f"suite {suite!r}: variant name {name!r} is already a catalog scenario")
    if not isinstance(base, str) or base not in names():
        raise ScenarioError(f"suite {suite!r}: variant {name!r}: unknown base {base!r:.60}; valid scenarios: {', '.join(names())}")
    overrides = {k: v for k, v in raw.items() if k not in VARIANT_KEYS}
    return SuiteScenario(name, base, tuple(sorted(overrides.items())))


def _seeds(suite: str, raw: Any) -> tuple[int, ...]:
    rule = f"seeds must be integers >= {EVAL_SEED_BASE} (training and validation use the ones below) and <= {MAX_SEED}"
    if isinstance(raw, dict) and set(raw) == {"first", "count"}:
        first, count = raw["first"], raw["count"]
        if not _is_int(count) or not 1 <= count <= MAX_SEEDS:
            raise ScenarioError(f"suite {suite!r}: seeds.count must be an integer from 1 to {MAX_SEEDS}, got {count!r:.60}")
        if not _is_int(first) or first < EVAL_SEED_BASE or first + count - 1 > MAX_SEED:
            raise ScenarioError(f"suite {suite!r}: {rule}; got first {first!r:.60}, count {count}")
        seeds = tuple(range(first, first + count))
    elif isinstance(raw, list) and 0 < len(raw) <= MAX_SEEDS:
        seeds = tuple(raw)
    else:
        raise ScenarioError(f"suite {suite!r}: seeds must be a list of 1 to {MAX_SEEDS} seeds or "
                            f"{{first: N, count: K}}, got {raw!r:.60}")
    if not all(map(is_evaluation_seed, seeds)):
        raise ScenarioError(f"suite {suite!r}: {rule}")
    if len(set(seeds)) != len(seeds):
        raise ScenarioError(f"suite {suite!r}: seeds repeat")
    return seeds


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
