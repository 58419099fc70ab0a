"""A scenario's route: the lanes of highway-env's lane graph that progress is measured along, its
goal and reference speed (the `route:` entry of a catalog YAML; sim/route.py tracks the ego on it)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scenarios.config_values import is_count
from scenarios.errors import ScenarioError

ROUTE_KEYS = {"lanes", "goal", "exact_from", "loop", "reference_speed", "success_progress"}


@dataclass(frozen=True)
class Route:
    """What progress is measured along (sim/route.py): lane centres of highway-env's lane graph.

    Goal scenarios: the reference distance is the route length from the ego's start to the goal.
    Open roads (goal None): it is reference_speed x the episode's duration."""

    lanes: tuple[tuple[str, str, int], ...]  # highway-env lane indices (from, to, id), in driving order
    reference_speed: float  # [m/s] the speed a good driver keeps here (traffic's free-flow speed)
    goal: float | None = None  # [m] along the last lane where the goal is; None on open roads
    exact_from: int | None = None  # route lanes from this index on count alone, not the lanes beside them
    loop: bool = False  # the lanes form a circuit: progress goes on lap after lap
    success_progress: float = 0.8  # open roads: share of the reference distance that is a success


def parse_route(name: str, raw: Any) -> Route:
    """A scenario's validated `route:` mapping (scenario `name`, for the messages)."""
    if not isinstance(raw, dict):
        raise ScenarioError(f"scenario {name!r}: route must be a dict, got {raw!r:.60}")
    unknown = sorted(map(str, set(raw) - ROUTE_KEYS))
    if unknown or not {"lanes", "reference_speed"} <= set(raw):
        raise ScenarioError(f"scenario {name!r}: route needs lanes and reference_speed, may have "
                            f"{', '.join(sorted(ROUTE_KEYS))}; got {', '.join(sorted(map(str, raw)))}")
    lanes = raw["lanes"]
    ok = isinstance(lanes, list) and lanes and all(
        isinstance(lane, list) and len(lane) == 3 and all(isinstance(p, str) for p in lane[:2]) and is_count(lane[2])
        for lane in lanes)
    if not ok:
        raise ScenarioError(f"scenario {name!r}: route.lanes must be a list of [from, to, lane id], got {lanes!r:.80}")
    numbers = {"reference_speed": (0.1, 100.0), "goal": (0.0, 10_000.0), "success_progress": (0.01, 1.0)}
    for key, (low, high) in numbers.items():
        value = raw.get(key)
        if key in raw and (value is None and key == "goal"):
            continue
        if key in raw and not (_is_number(value) and low <= value <= high):
            raise ScenarioError(f"scenario {name!r}: route.{key} must be a number from {low} to {high}, got {value!r:.40}")
    if "loop" in raw and not isinstance(raw["loop"], bool):
        raise ScenarioError(f"scenario {name!r}: route.loop must be true or false, got {raw['loop']!r:.40}")
    exact = raw.get("exact_from")
    if exact is not None and not (is_count(exact) and exact < len(lanes)):
        raise ScenarioError(f"scenario {name!r}: route.exact_from must be an index into route.lanes, got {exact!r:.40}")
    return Route(tuple((a, b, int(i)) for a, b, i in lanes), float(raw["reference_speed"]),
                 None if raw.get("goal") is None else float(raw["goal"]), exact,
                 raw.get("loop", False), float(raw.get("success_progress", Route.success_progress)))


def route_yaml(route: Route) -> dict:
    """A Route back as YAML data, for a variant to merge its overrides over."""
    return {"lanes": [list(lane) for lane in route.lanes], "reference_speed": route.reference_speed, "goal": route.goal,
            "exact_from": route.exact_from, "loop": route.loop, "success_progress": route.success_progress}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
