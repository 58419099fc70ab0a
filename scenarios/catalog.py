"""The scenario catalog: one YAML file per scenario, loaded into frozen dataclasses.

highway-env accepts any config dict and silently ignores keys it does not know. Here every
key is checked against what the highway-env class behind the scenario accepts, so a typo is
an error that names the key and lists the valid ones.
"""

from __future__ import annotations

import copy
import functools
import inspect
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from scenarios.config_values import check_action_value, check_config_value, check_null_default
from scenarios.errors import ScenarioError
from scenarios.load import SMALL_FILE_BYTES, LoadError, read_yaml
from scenarios.route import Route, parse_route, route_yaml

CATALOG_DIR = Path(__file__).parent / "catalog"

# How each scenario decides that an episode succeeded (sim/metrics.py implements them). Both also
# require no collision and never leaving the road.
SUCCESS_RULES = {
    "reach_goal": "reach the goal at the end of the route (route.goal metres along its last lane)",
    "cover_distance": "cover route.success_progress of the reference distance along the road (open roads)",
}

# Config keys a scenario may not set: the observation is chosen by sim.make_env(obs=...),
# the action by the scenario's own `action:` entry.
RESERVED_CONFIG_KEYS = {"observation", "action"}
MAX_BUDGET = 10**9  # [steps] any budget above is a typo (10**9 env steps are weeks of CPU)
@dataclass(frozen=True)
class Budgets:
    max_steps: int  # episode length cap [policy steps]; the episode is truncated there
    train_steps: int  # default training budget [env steps]


@dataclass(frozen=True)
class Scenario:
    name: str
    env_id: str  # highway-env gymnasium id, e.g. "merge-generic-v0"
    description: str  # plain words, one or two sentences
    success: str  # rule name, a key of SUCCESS_RULES
    success_description: str  # what success means for this scenario, in plain words
    action: Mapping[str, Any]  # highway-env action config: {"type": ..., **kwargs}
    config: Mapping[str, Any]  # highway-env config overrides (validated keys)
    budgets: Budgets
    route: Route  # the ego's route, its reference speed and goal (progress, success, the score)
    base: str | None = None  # the scenario this variant overrides, if any

    @property
    def action_type(self) -> str:
        return self.action["type"]

    @property
    def policy_frequency(self) -> float:
        """[Hz] decisions per simulated second."""
        return float(self.config.get("policy_frequency", _env_default_config(self.name, self.env_id)["policy_frequency"]))

    @property
    def duration(self) -> float:
        """[s] the episode budget in simulated time: max_steps policy steps."""
        return self.budgets.max_steps / self.policy_frequency

    @property
    def reference_distance(self) -> float | None:
        """[m] on an open road, the distance covered at the reference speed in the budget; a goal
        scenario's is the route length from the ego's start to the goal, measured at each reset."""
        return None if self.route.goal is not None else self.route.reference_speed * self.duration

    def __reduce__(self):
        """Pickled as plain data (a MappingProxyType cannot be), so that vector-env workers get
        the scenario itself, suite variants included, not a name they would look up again."""
        state = {f.name: getattr(self, f.name) for f in fields(self)}
        state["action"], state["config"] = dict(self.action), dict(self.config)
        return (_scenario_from_state, (state,))

    def env_config(self) -> dict:
        """A fresh, mutable highway-env config dict (overrides + action)."""
        config = copy.deepcopy(dict(self.config))
        config["action"] = copy.deepcopy(dict(self.action))
        return config


YAML_KEYS = {f.name for f in fields(Scenario)} - {"name"}


def _scenario_from_state(state: dict) -> Scenario:
    """A pickled Scenario (Scenario.__reduce__), validated when it was first built."""
    return Scenario(**state | {"action": MappingProxyType(state["action"]), "config": MappingProxyType(state["config"])})


@functools.cache
def _catalog_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(CATALOG_DIR.glob("*.yaml"), key=lambda p: p.stem)}


def clear_cache() -> None:
    """Forget loaded scenarios (after CATALOG_DIR or a YAML file changed)."""
    _catalog_files.cache_clear()
    _load.cache_clear()
    _variant.cache_clear()


def names() -> list[str]:
    """All scenario names in the catalog, sorted."""
    return list(_catalog_files())


def get(name: str) -> Scenario:
    """Load and validate one scenario by name; raises ScenarioError on any problem."""
    return _load(name, ())


def lineage(name: str) -> list[str]:
    """The scenario and the bases it overrides, nearest first: `highway-dense` -> [highway-dense,
    highway]. A name outside the catalog (a suite's own variant) is only itself."""
    names = [name]
    try:
        while (base := get(names[-1]).base) is not None:
            names.append(base)
    except ScenarioError:
        pass
    return names


def _read_yaml(name: str) -> dict:
    files = _catalog_files()
    if name not in files:
        raise ScenarioError(f"unknown scenario {name!r}; valid scenarios: {', '.join(files)}")
    try:
        raw = read_yaml(files[name], max_bytes=SMALL_FILE_BYTES)
    except LoadError as err:  # also a FIFO, a huge file, deep nesting, an alias bomb (scenarios/load.py)
        raise ScenarioError(f"scenario {name!r}: {files[name]} is not valid YAML ({err.reason})") from None
    except OSError as err:
        raise ScenarioError(f"scenario {name!r}: {files[name]} is not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"scenario {name!r}: {files[name]} must hold a mapping of keys")
    unknown = sorted(map(str, set(raw) - YAML_KEYS))  # str: YAML keys may be numbers
    if unknown:
        raise ScenarioError(
            f"scenario {name!r}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(YAML_KEYS))}"
        )
    return raw


@functools.cache
def _load(name: str, chain: tuple[str, ...]) -> Scenario:
    """A catalog scenario; its errors name its file (or the base's file, when the base is at fault),
    so that whichever command reads it says which file to fix."""
    try:
        return _load_file(name, chain)
    except ScenarioError as err:
        files = _catalog_files()
        if name not in files or any(str(file) in str(err) for file in files.values()):
            raise  # an unknown name, or the message names its file already
        raise ScenarioError(f"{files[name]}: {err}") from None


def _load_file(name: str, chain: tuple[str, ...]) -> Scenario:
    if name in chain:
        raise ScenarioError(f"scenario {name!r}: circular 'base' chain {' -> '.join(chain + (name,))}")
    raw = _read_yaml(name)
    if raw.get("base") is not None:
        parent = _load(_typed(name, "base", raw["base"], str), chain + (name,))
        raw = _merge_over(name, parent, raw)
    missing = sorted(YAML_KEYS - {"base"} - set(raw))
    if missing:
        raise ScenarioError(f"scenario {name!r}: missing key(s) {', '.join(missing)}")
    return _build(name, raw, raw.get("base"))


def _build(name: str, raw: dict, base: str | None) -> Scenario:
    """The validated Scenario from complete YAML data (a catalog file's, or a variant's merged over its base)."""
    scenario = Scenario(
        name=name,
        env_id=_typed(name, "env_id", raw["env_id"], str),
        description=_typed(name, "description", raw["description"], str).strip(),
        success=_typed(name, "success", raw["success"], str),
        success_description=_typed(name, "success_description", raw["success_description"], str).strip(),
        action=MappingProxyType(dict(_typed(name, "action", raw["action"], dict))),
        config=MappingProxyType(dict(_typed(name, "config", raw["config"] or {}, dict))),
        budgets=_budgets(name, raw["budgets"]),
        route=parse_route(name, raw["route"]),
        base=base,
    )
    _validate(scenario)
    return scenario


def _merge_over(name: str, parent: Scenario, raw: dict) -> dict:
    """A variant: the parent's fields, with config/action/budgets merged key by key."""
    for key in ("action", "config", "budgets", "route"):  # merged key by key, so each must be a mapping
        _typed(name, key, raw.get(key) or {}, dict)
    merged = {
        "env_id": parent.env_id,
        "description": parent.description,
        "success": parent.success,
        "success_description": parent.success_description,
        "action": dict(parent.action) | dict(raw.get("action") or {}),
        "route": route_yaml(parent.route) | dict(raw.get("route") or {}),
        "config": dict(parent.config) | dict(raw.get("config") or {}),
        "budgets": {"max_steps": parent.budgets.max_steps, "train_steps": parent.budgets.train_steps}
        | dict(raw.get("budgets") or {}),
    }
    for key in ("env_id", "description", "success", "success_description"):
        if key in raw:
            merged[key] = raw[key]
    merged["base"] = raw["base"]
    return merged


def variant(base: str, name: str, overrides: Mapping[str, Any]) -> Scenario:
    """A variant defined outside the catalog (e.g. by a suite): `base` with `overrides`
    (config/action/budgets merged key by key, like a variant YAML), validated like one."""
    if not isinstance(base, str):
        raise ScenarioError(f"variant {name!r}: base must be a scenario name, got {base!r}")
    if not isinstance(overrides, Mapping) or not all(isinstance(k, str) for k in overrides):
        raise ScenarioError(f"variant {name!r} of {base!r}: overrides must be a mapping of scenario keys, got {overrides!r:.80}")
    raw = dict(overrides)
    unknown = sorted(set(raw) - (YAML_KEYS - {"base"}))
    if unknown:
        raise ScenarioError(
            f"variant {name!r} of {base!r}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(YAML_KEYS - {'base'}))}"
        )
    return _variant(base, name, _freeze(raw))


@functools.cache
def _variant(base: str, name: str, frozen: tuple) -> Scenario:
    return _build(name, _merge_over(name, get(base), _thaw(frozen) | {"base": base}), base)


def _freeze(value: Any) -> Any:
    """A hashable copy of nested YAML data, so variants can be cached."""
    if isinstance(value, Mapping):
        # Sorted by repr: YAML keys may mix types (1 and "a"), which do not compare.
        return ("__map__", tuple(sorted(((k, _freeze(v)) for k, v in value.items()), key=lambda kv: repr(kv[0]))))
    if isinstance(value, (list, tuple)):
        return ("__list__", tuple(_freeze(v) for v in value))
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple) and value and value[0] == "__map__":
        return {k: _thaw(v) for k, v in value[1]}
    if isinstance(value, tuple) and value and value[0] == "__list__":
        return [_thaw(v) for v in value[1]]
    return value


def _typed(name: str, key: str, value: Any, kind: type) -> Any:
    if not isinstance(value, kind):
        raise ScenarioError(f"scenario {name!r}: {key} must be a {kind.__name__}, got {value!r}")
    return value


def _budgets(name: str, raw: Any) -> Budgets:
    raw = _typed(name, "budgets", raw, dict)
    valid = {f.name for f in fields(Budgets)}
    unknown = sorted(set(raw) - valid)
    if unknown or set(raw) != valid:
        raise ScenarioError(
            f"scenario {name!r}: budgets must have exactly {', '.join(sorted(valid))}; got {', '.join(sorted(map(str, raw)))}"
        )
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_BUDGET:
            raise ScenarioError(f"scenario {name!r}: budgets.{key} must be a positive integer up to {MAX_BUDGET:,}, got {value!r}")
    return Budgets(**raw)


def _validate(scenario: Scenario) -> None:
    """Check success rule, env id, config keys and action keys against highway-env."""
    name = scenario.name
    if scenario.success not in SUCCESS_RULES:
        raise ScenarioError(
            f"scenario {name!r}: unknown success rule {scenario.success!r}; valid rules: {', '.join(SUCCESS_RULES)}"
        )
    if (scenario.success == "reach_goal") != (scenario.route.goal is not None):
        raise ScenarioError(f"scenario {name!r}: success reach_goal needs route.goal, and only it may have one "
                            "(open roads succeed by cover_distance)")
    env_defaults = _env_default_config(name, scenario.env_id)
    reserved = sorted(RESERVED_CONFIG_KEYS & set(scenario.config))
    if reserved:
        raise ScenarioError(
            f"scenario {name!r}: config may not set {', '.join(reserved)} "
            "(the observation comes from make_env(obs=...), the action from the scenario's 'action' entry)"
        )
    valid = sorted(set(env_defaults) - RESERVED_CONFIG_KEYS)
    for key, value in scenario.config.items():
        if key not in env_defaults:
            raise ScenarioError(
                f"scenario {name!r}: unknown config key {key!r} for {scenario.env_id}; valid keys: {', '.join(valid)}"
            )
        check_config_value(name, key, value, env_defaults[key])
    for key, value in scenario.config.items():  # after the numbers they depend on (lanes_count)
        if env_defaults[key] is None and value is not None:
            check_null_default(name, key, value, {**env_defaults, **scenario.config})
    frequencies = {k: scenario.config.get(k, env_defaults.get(k)) for k in ("policy_frequency", "simulation_frequency")}
    if None not in frequencies.values() and frequencies["policy_frequency"] > frequencies["simulation_frequency"]:
        # highway-env simulates sim // policy steps per decision: 0, and time stands still.
        raise ScenarioError(f"scenario {name!r}: config.policy_frequency must be at most simulation_frequency, got {frequencies}")
    _validate_action(name, dict(scenario.action))


@functools.cache
def _env_default_config(name: str, env_id: str) -> dict:
    # Imported here so that listing scenario names stays instant; highway-env is only needed
    # to validate a definition.
    import gymnasium
    import highway_env  # noqa: F401  (registers the highway-env ids)

    gymnasium.register_envs(highway_env)
    if env_id not in gymnasium.registry:
        ids = sorted(k for k in gymnasium.registry if k.startswith(tuple("hmrietup")) and "-v" in k)
        raise ScenarioError(f"scenario {name!r}: unknown highway-env id {env_id!r}; e.g. {', '.join(ids[:12])}")
    entry_point = gymnasium.registry[env_id].entry_point
    module_name, class_name = entry_point.split(":")
    env_class = getattr(__import__(module_name, fromlist=[class_name]), class_name)
    return env_class.default_config()


def _validate_action(name: str, action: dict) -> None:
    from highway_env.envs.common import action as action_module

    types = {"DiscreteMetaAction", "ContinuousAction", "DiscreteAction"}
    kind = action.get("type")
    if kind not in types:
        raise ScenarioError(f"scenario {name!r}: action.type {kind!r} unknown; valid types: {', '.join(sorted(types))}")
    params = inspect.signature(getattr(action_module, kind).__init__).parameters
    valid = sorted(p for p, spec in params.items() if p not in ("self", "env") and spec.kind is not spec.VAR_KEYWORD)
    for key in action:
        if key != "type" and key not in valid:
            raise ScenarioError(
                f"scenario {name!r}: unknown action key {key!r} for {kind}; valid keys: type, {', '.join(valid)}"
            )
        check_action_value(name, key, action[key])
