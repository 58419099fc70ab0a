"""Values of a scenario's highway-env config: their types, ranges, class paths and the keys whose
highway-env default is null (scenarios/catalog.py validates every definition through these)."""

from __future__ import annotations

import math
from typing import Any

from scenarios.errors import ScenarioError

# Config keys whose highway-env default is null, so the default shows no type: what else each takes
# (rule text, test of a value given the merged config). A null-default key not listed here may only
# stay null: highway-env would find a value of the wrong type only in a worker, in every episode.
NULL_DEFAULTS = {
    "initial_lane_id": (lambda c: f"a lane index from 0 to {_lanes(c) - 1} (lanes_count {_lanes(c)})",
                        lambda v, c: is_count(v) and v < _lanes(c)),
    "incoming_vehicle_destination": (lambda c: "0, 1 or 2 (the roundabout exit the incoming car takes)",
                                     lambda v, c: is_count(v) and v <= 2),
    "offscreen_rendering": (lambda c: "true, false", lambda v, c: isinstance(v, bool)),
}
# highway-env takes any number for these and fails (0 lanes, 0 Hz: a division by zero) or never
# finishes a reset (10**9 vehicles) only later, inside a worker. Other numbers (rewards) must be finite.
CONFIG_RANGES = {
    "vehicles_count": (0, 500), "initial_vehicle_count": (0, 500), "other_vehicles": (0, 500),
    "lanes_count": (1, 20), "controlled_vehicles": (1, 1),  # the sandbox drives one ego vehicle
    "simulation_frequency": (1, 1000), "policy_frequency": (1, 1000),  # [Hz]
    "duration": (1, 100_000),  # [s]
    "vehicles_density": (0, 100), "spawn_probability": (0, 1), "ego_spacing": (0, 100),
    "screen_width": (1, 10_000), "screen_height": (1, 10_000), "scaling": (0.01, 1000),  # [px], [px/m]
    "before_merge_length": (1, 10_000), "converge_merge_length": (1, 10_000),  # [m]
    "parallel_merge_length": (1, 10_000), "after_merge_length": (1, 10_000),  # [m]
}
# Counts and frequencies: highway-env takes them to range() or a step count, so 2.5 vehicles is a
# TypeError in every episode's worker. They must be whole numbers (an int in YAML, not 2.0).
INTEGER_KEYS = {"vehicles_count", "initial_vehicle_count", "other_vehicles", "lanes_count", "controlled_vehicles",
                "simulation_frequency", "policy_frequency", "screen_width", "screen_height"}


def check_config_value(name: str, key: str, value: Any, default: Any) -> None:
    """One highway-env config value: its type, its range, and (for class paths) the class."""
    check_value_type(name, f"config.{key}", value, default)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = CONFIG_RANGES.get(key, (-math.inf, math.inf))
        if not (math.isfinite(value) and low <= value <= high):
            bounds = "a finite number" if key not in CONFIG_RANGES else f"from {low} to {high}"
            raise ScenarioError(f"scenario {name!r}: config.{key} must be {bounds}, got {value!r}")
        if key in INTEGER_KEYS and not isinstance(value, int):
            raise ScenarioError(f"scenario {name!r}: config.{key} must be a whole number (like {default!r}), got {value!r}")
    if isinstance(default, str) and default.startswith("highway_env.vehicle."):
        check_vehicle_class(name, f"config.{key}", value)


def check_null_default(name: str, key: str, value: Any, config: dict) -> None:
    """A value for a config key whose highway-env default is null (NULL_DEFAULTS)."""
    if key not in NULL_DEFAULTS:
        raise ScenarioError(f"scenario {name!r}: config.{key} must stay null (highway-env's default): the sandbox "
                            f"does not know what else it takes, got {value!r:.40}")
    rule, test = NULL_DEFAULTS[key]
    if not test(value, config):
        raise ScenarioError(f"scenario {name!r}: config.{key} must be {rule(config)} or null, got {value!r:.40}")


def _lanes(config: dict) -> int:
    lanes = config.get("lanes_count")
    return int(lanes) if isinstance(lanes, (int, float)) and not isinstance(lanes, bool) else 1


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_value_type(name: str, key: str, value: Any, default: Any) -> None:
    """Reject values whose type cannot be what highway-env expects (its default shows the type)."""
    if default is None or value is None:
        return
    number = (int, float)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, number):
        ok = isinstance(value, number) and not isinstance(value, bool)
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ScenarioError(
            f"scenario {name!r}: {key} must be like the highway-env default {default!r}, got {value!r}"
        )


def check_vehicle_class(name: str, key: str, path: str) -> None:
    """highway-env imports a class path such as other_vehicles_type at every reset: allow only
    its own vehicle classes, so that a suite file can neither import arbitrary modules (running
    their code) nor name a class that fails in a worker halfway through a run."""
    import importlib

    from highway_env.vehicle.kinematics import Vehicle

    module_name, _, class_name = path.rpartition(".")
    vehicle_class = None
    if module_name.startswith("highway_env.vehicle"):
        try:
            vehicle_class = getattr(importlib.import_module(module_name), class_name, None)
        except ImportError:
            pass
    if not (isinstance(vehicle_class, type) and issubclass(vehicle_class, Vehicle)):
        raise ScenarioError(f"scenario {name!r}: {key} must name a highway-env vehicle class, "
                            f"e.g. highway_env.vehicle.behavior.IDMVehicle; got {path!r}")


ACTION_FLAGS = {"longitudinal", "lateral", "dynamical", "clip"}
ACTION_RANGES = {"acceleration_range", "steering_range", "speed_range"}  # [m/s2], [rad], [m/s]


def check_action_value(name: str, key: str, value: Any) -> None:
    """One value of a scenario's action entry (its key is known valid): highway-env would read a
    wrong one only in a worker, in every episode (target_speeds: abc is np.array('abc'))."""
    def finite(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if key in ACTION_FLAGS:
        ok, rule = isinstance(value, bool), "true or false"
    elif key in ACTION_RANGES:
        ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(map(finite, value)) and value[0] < value[1]
        rule = "[low, high]: two finite numbers, low < high"
    elif key == "target_speeds":
        ok = (isinstance(value, (list, tuple)) and 0 < len(value) <= 100 and all(map(finite, value))
              and all(0 <= v <= 100 for v in value) and all(a < b for a, b in zip(value, value[1:])))
        rule = "a list of 1 to 100 increasing speeds from 0 to 100 [m/s]"
    elif key == "actions_per_axis":
        ok, rule = isinstance(value, int) and not isinstance(value, bool) and 2 <= value <= 101, "a whole number from 2 to 101"
    else:
        return
    if not ok:
        raise ScenarioError(f"scenario {name!r}: action.{key} must be {rule}, got {value!r:.60}")
