"""Suites: a fixed list of scenarios (catalog names or variants defined in the suite) x a fixed
list of evaluation seeds x episodes per seed. One YAML file per suite in scenarios/suites/.

Seed convention: training uses seeds below EVAL_SEED_BASE (1_000_000); every suite seed is at
or above it, so an agent is never scored on an episode it may have trained on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from scenarios.catalog import Scenario, ScenarioError, get, names, variant

SUITES_DIR = Path(__file__).parent / "suites"
EVAL_SEED_BASE = 1_000_000  # seeds >= this are evaluation seeds; training seeds stay below
SUITE_KEYS = {"description", "seeds", "episodes", "scenarios"}
VARIANT_KEYS = {"name", "base"}  # plus any scenario keys to override (config, action, budgets, ...)


@dataclass(frozen=True)
class SuiteScenario:
    name: str  # unique within the suite
    base: str | None  # None: a catalog scenario as is; else the catalog scenario it overrides
    overrides: tuple  # ((key, value), ...) scenario keys the variant overrides

    def load(self) -> Scenario:
        """The validated Scenario (cached; cheap to call in every worker)."""
        return get(self.name) if self.base is None else variant(self.base, self.name, dict(self.overrides))


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


def episode_seed(seed: int, episode: int) -> int:
    """The env/agent seed of episode `episode` of a suite seed: the seed itself for episode 0,
    else a seed derived from both, still an evaluation seed (>= EVAL_SEED_BASE)."""
    if episode == 0:
        return seed
    derived = int(np.random.SeedSequence([seed, episode]).generate_state(1)[0])
    return EVAL_SEED_BASE + derived % (2**31 - EVAL_SEED_BASE)


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
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ScenarioError(f"suite {name!r}: {path} is not valid YAML ({err})") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"suite {name!r}: {path} must hold a mapping of keys")
    unknown = sorted(set(raw) - SUITE_KEYS)
    missing = sorted(SUITE_KEYS - set(raw))
    if unknown or missing:
        raise ScenarioError(
            f"suite {name!r}: unknown key(s) {unknown} / missing key(s) {missing}; valid keys: {', '.join(sorted(SUITE_KEYS))}"
        )
    episodes = raw["episodes"]
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ScenarioError(f"suite {name!r}: episodes must be a positive integer, got {episodes!r}")
    entries = tuple(_entry(name, e) for e in raw["scenarios"] or [])
    if not entries:
        raise ScenarioError(f"suite {name!r}: scenarios is empty")
    seen = [e.name for e in entries]
    if len(set(seen)) != len(seen):
        raise ScenarioError(f"suite {name!r}: scenario names repeat: {seen}")
    for entry in entries:
        entry.load()  # validate every variant now, not in a worker halfway through a run
    return Suite(name, str(raw["description"]).strip(), _seeds(name, raw["seeds"]), episodes, entries)


def _entry(suite: str, raw: Any) -> SuiteScenario:
    if isinstance(raw, str):
        if raw not in names():
            raise ScenarioError(f"suite {suite!r}: unknown scenario {raw!r}; valid scenarios: {', '.join(names())}")
        return SuiteScenario(raw, None, ())
    if not isinstance(raw, dict) or not VARIANT_KEYS <= set(raw):
        raise ScenarioError(
            f"suite {suite!r}: a scenario entry is a catalog name or a mapping with name, base and overrides; got {raw!r}"
        )
    if raw["name"] in names():
        raise ScenarioError(f"suite {suite!r}: variant name {raw['name']!r} is already a catalog scenario")
    overrides = {k: v for k, v in raw.items() if k not in VARIANT_KEYS}
    return SuiteScenario(str(raw["name"]), str(raw["base"]), tuple(sorted(overrides.items())))


def _seeds(suite: str, raw: Any) -> tuple[int, ...]:
    if isinstance(raw, dict) and set(raw) == {"first", "count"}:
        seeds = tuple(range(raw["first"], raw["first"] + raw["count"]))
    elif isinstance(raw, list):
        seeds = tuple(raw)
    else:
        raise ScenarioError(f"suite {suite!r}: seeds must be a list or {{first: N, count: K}}, got {raw!r}")
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= EVAL_SEED_BASE for s in seeds):
        raise ScenarioError(
            f"suite {suite!r}: seeds must be integers >= {EVAL_SEED_BASE} (training uses the ones below)"
        )
    if len(set(seeds)) != len(seeds):
        raise ScenarioError(f"suite {suite!r}: seeds repeat")
    return seeds
