"""Scenario catalog: `names()` lists them, `get(name)` returns a validated `Scenario`.

The lowest layer (docs/architecture.md, Layers): imports no other package of the sandbox, nor torch
or pygame; it reads YAML and checks it against highway-env's env classes.
"""

from scenarios.catalog import SUCCESS_RULES, Budgets, Scenario, ScenarioError, get, lineage, names
from scenarios.route import Route

__all__ = ["SUCCESS_RULES", "Budgets", "Route", "Scenario", "ScenarioError", "get", "lineage", "names"]
