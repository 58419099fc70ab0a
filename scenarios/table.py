"""The README's scenario table, made from the catalog so that it cannot go stale:
`python -m scenarios.table` prints it, docs/make_readme_tables.py writes it into README.md, and
tests/test_readme.py checks that README.md holds it as printed."""

from __future__ import annotations

from scenarios.catalog import get, names
from scenarios.engines import engines

HEADER = ("| name | highway-env id | actions | success (rule) | reference | episode [steps] | engines |\n"
          "|---|---|---|---|---|---|---|")


def _actions(action) -> str:
    if action["type"] == "ContinuousAction":
        parts = [p for p, on in (("acceleration", action.get("longitudinal", True)), ("steering", action.get("lateral", True))) if on]
        return "continuous " + " + ".join(parts)
    if action.get("lateral", True) is False:
        return "meta (speed only)"
    return "meta (lane, speed)"


def _reference(scenario) -> str:
    speed = f"{scenario.route.reference_speed:g} m/s"
    if scenario.reference_distance is not None:
        return f"{speed}, {scenario.reference_distance:g} m"
    return f"{speed}, route to the goal"


def markdown_table() -> str:
    rows = [HEADER]
    for name in names():
        s = get(name)
        rule = f"{s.success_description} (`{s.success}`)"
        rows.append(f"| {name} | {s.env_id} | {_actions(s.action)} | {rule} | {_reference(s)} | {s.budgets.max_steps} | {', '.join(engines(s))} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
