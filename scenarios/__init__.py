"""Scenario catalog: `names()` lists them, `get(name)` returns a validated `Scenario`.

Knows nothing of sim, agents or rendering (see ../DESIGN.md): it only reads YAML and checks it.
"""

from scenarios.catalog import SUCCESS_RULES, Budgets, Scenario, ScenarioError, get, lineage, names
from scenarios.route import Route

__all__ = ["SUCCESS_RULES", "Budgets", "Route", "Scenario", "ScenarioError", "get", "lineage", "names"]
