"""Which engines can run a scenario exactly.

highway-env (the reference) runs every scenario. EnvPool's C++ port runs highway-env's
registered tasks at their registered configs: the action must be the registered one, and of the
config only what EnvPool's task takes with the same meaning may differ (the highway tasks take
lanes, traffic, reward weights, durations and frequencies; the others only the duration). A
scenario outside that is refused on EnvPool with the reason; it is never approximated.
"""

from __future__ import annotations

ENGINES = ("highway-env", "envpool")

# highway-env ids whose EnvPool task of the same id is tested against highway-env (envpool 1.2.5).
ENVPOOL_TASKS = ("highway-v0", "highway-fast-v0", "merge-v0", "roundabout-v0", "intersection-v0", "intersection-v1",
                 "exit-v0", "two-way-v0", "u-turn-v0", "racetrack-v0", "racetrack-large-v0", "racetrack-oval-v0",
                 "lane-keeping-v0")
HIGHWAY_TASKS = ("highway-v0", "highway-fast-v0")
# EnvPool 1.2.5 ports whose traffic ignores the seed: every episode is the same one (highway-env
# draws positions, speeds and destinations from its RNG). Training there would see one episode,
# so they are refused (benchmarks/engine_parity.json measured it).
SEEDLESS_TASKS = ("roundabout-v0", "intersection-v0", "intersection-v1", "exit-v0", "two-way-v0", "u-turn-v0",
                  "racetrack-v0", "racetrack-large-v0", "racetrack-oval-v0", "lane-keeping-v0")
# highway-env config keys EnvPool's highway tasks take under the same name; reward_speed_range
# becomes reward_speed_low/high. The frequencies are taken as given.
HIGHWAY_KEYS = ("lanes_count", "vehicles_count", "controlled_vehicles", "initial_lane_id", "duration", "ego_spacing",
                "vehicles_density", "collision_reward", "right_lane_reward", "high_speed_reward", "lane_change_reward",
                "reward_speed_range", "normalize_reward", "offroad_terminal", "simulation_frequency", "policy_frequency")
NATIVE_KEYS = ("duration",)


def envpool_refusal(scenario) -> str | None:
    """Why EnvPool cannot run `scenario` exactly, or None when it can."""
    from scenarios.catalog import _env_default_config

    if scenario.env_id not in ENVPOOL_TASKS:
        return f"EnvPool has no port of {scenario.env_id} (it ports highway-env's registered tasks)"
    if scenario.env_id in SEEDLESS_TASKS:
        return (f"EnvPool 1.2.5's port of {scenario.env_id} draws no random traffic (every seed gives the same "
                "episode), where highway-env draws it from the seed")
    registered = _env_default_config(scenario.name, scenario.env_id)
    if _action(scenario.action) != _action(registered["action"]):
        return (f"its action {_action(scenario.action)} is not {scenario.env_id}'s registered "
                f"{_action(registered['action'])}, and EnvPool's actions are fixed")
    allowed = HIGHWAY_KEYS if scenario.env_id in HIGHWAY_TASKS else NATIVE_KEYS
    changed = sorted(k for k, v in scenario.config.items() if _plain(v) != _plain(registered.get(k)))
    fixed = [k for k in changed if k not in allowed]
    if fixed:
        return (f"it changes {', '.join(fixed)} of {scenario.env_id}, which EnvPool's port does not take "
                f"(it takes {', '.join(allowed)})")
    return None


def envpool_config(scenario) -> dict:
    """The EnvPool task keyword arguments of a scenario EnvPool runs (envpool_refusal is None)."""
    from scenarios.catalog import _env_default_config

    registered = _env_default_config(scenario.name, scenario.env_id)
    out = {}
    for key, value in scenario.config.items():
        if _plain(value) == _plain(registered.get(key)):
            continue
        if key == "reward_speed_range":
            out["reward_speed_low"], out["reward_speed_high"] = (float(v) for v in value)
        elif key == "initial_lane_id":
            out[key] = -1 if value is None else int(value)
        else:
            out[key] = value
    return out


def engines(scenario) -> tuple[str, ...]:
    """The engines that run `scenario` exactly."""
    return ENGINES if envpool_refusal(scenario) is None else ENGINES[:1]


def _action(config) -> dict:
    """An action config without the keys its class ignores (racetrack-v0 registers target_speeds
    for a ContinuousAction, which takes none)."""
    import inspect

    from highway_env.envs.common import action as action_module

    params = inspect.signature(getattr(action_module, config["type"]).__init__).parameters
    return {k: _plain(v) for k, v in config.items() if k == "type" or k in params}


def _plain(value):
    """A config value with tuples, mappingproxies and numpy scalars made plain, for comparison."""
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value
