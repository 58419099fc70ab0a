"""The README's tables, made from their sources so that no figure in it can go stale:

    python docs/make_readme_tables.py           # rewrite the generated blocks of README.md
    python docs/make_readme_tables.py --check   # exit 1, naming each block that differs (tests/test_readme.py)

A block sits between `<!-- generated: NAME -->` and `<!-- end: NAME -->`; everything else in the
README is prose and links. Sources: the scenario catalog (scenarios.table), docs/zoo.md's suite
table (written by `python -m agents.zoo score`) and benchmarks/*.json and *.py.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
sys.path.insert(0, str(ROOT))

FLOORS_AND_REFERENCES = ("zoo", "idm", "brake", "idle", "random")  # rows of docs/zoo.md's suite table, in this order


def _json(name: str) -> dict:
    return json.loads((ROOT / "benchmarks" / f"{name}.json").read_text(encoding="utf-8"))


def scenarios_block() -> str:
    from scenarios.table import markdown_table

    return markdown_table()


def _zoo_suite_rows() -> dict[str, list[str]]:
    """{agent: its cells} of the table under docs/zoo.md's "## The suite"."""
    text = (ROOT / "docs" / "zoo.md").read_text(encoding="utf-8")
    section = text.split("## The suite", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in FLOORS_AND_REFERENCES:
            rows[cells[0]] = cells
    missing = [a for a in FLOORS_AND_REFERENCES if a not in rows]
    if missing:
        raise SystemExit(f"docs/zoo.md's suite table has no row for {', '.join(missing)}: rerun python -m agents.zoo score")
    return rows


def standing_block() -> str:
    rows = _zoo_suite_rows()
    out = ["| agent | mean driving score v2 [95% CI] | success | collision |", "|---|---|---|---|"]
    for agent in FLOORS_AND_REFERENCES:
        cells = rows[agent]
        score = cells[1].split("->")[-1].strip()  # "0.73 -> 0.42 [0.39, 0.44]": the v2 figure
        out.append(f"| {agent} | {score} | {cells[3]} | {cells[4]} |")
    return "\n".join(out) + "\n"


def measured_block() -> str:
    camera = _json("camera_throughput")["summary"]
    perception = _json("perception_metrics")
    mean, worst = perception["mean"], perception["worst"]
    lane, alone = _json("lane_keeping")["predicted"], _json("lane_keeping_no_traffic")["predicted"]
    training = _json("training_throughput")["ratios_envpool_over_highway_env"]
    rows = [
        ("camera: frames/s against highway-env's on the same states, slowest scenario",
         f"{camera['min_world_speedup']:.1f}x (world frame), {camera['min_ego_speedup']:.1f}x (ego frame)",
         "camera_throughput"),
        ("perception on held-out test frames: F1, position, velocity, lateral offset, heading error (mean of the trained scenarios)",
         f"{mean['f1']:.3f}, {mean['position_mae']:.2f} m, {mean['velocity_mae']:.2f} m/s, {mean['lateral_mae']:.3f} m, "
         f"{mean['heading_error_mae']:.3f} rad", "perception_metrics"),
        ("the same, worst scenario for each",
         f"{worst['f1']:.3f}, {worst['position_mae']:.2f} m, {worst['velocity_mae']:.2f} m/s, {worst['lateral_mae']:.3f} m, "
         f"{worst['heading_error_mae']:.3f} rad", "perception_metrics"),
        ("Stanley lane keeping on racetrack from perception's lane state: episodes off the road",
         f"{lane['offroad']} of {len(lane['episodes'])} with traffic, {alone['offroad']} of {len(alone['episodes'])} without",
         "lane_keeping"),
        ("training env steps/s on EnvPool over highway-env, features (dqn, ppo)",
         f"{training['training dqn/features']:.1f}x, {training['training ppo/features']:.1f}x", "training_throughput"),
        ("our camera on EnvPool over raw highway-env (env steps/s)",
         f"{training['ours camera on envpool / raw highway-env']:.1f}x", "training_throughput"),
    ]
    out = ["| what | figure | source |", "|---|---|---|"]
    out += [f"| {what} | {figure} | [benchmarks/{src}.json](benchmarks/{src}.json) |" for what, figure, src in rows]
    return "\n".join(out) + "\n"


def benchmarks_block() -> str:
    out = []
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        first = " ".join(doc.split("\n\n")[0].split()).split("; writes")[0].split(". Writes")[0].rstrip(".")
        out.append(f"- `python benchmarks/{path.name}`: {first}.")
    return "\n".join(out) + "\n"


BLOCKS = {"scenarios": scenarios_block, "standing": standing_block, "measured": measured_block,
          "benchmarks": benchmarks_block}


def pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- generated: {name} -->\n)(.*?)(<!-- end: {name} -->)", re.S)


def regenerate(text: str) -> tuple[str, list[str]]:
    """(text with every block regenerated, names of the blocks that changed)."""
    changed = []
    for name, make in BLOCKS.items():
        match = pattern(name).search(text)
        if match is None:
            raise SystemExit(f"README.md has no '<!-- generated: {name} -->' ... '<!-- end: {name} -->' block")
        fresh = make()
        if match.group(2) != fresh:
            changed.append(name)
            text = text[:match.start(2)] + fresh + text[match.end(2):]
    return text, changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block differs from its source")
    args = parser.parse_args()
    text, changed = regenerate(README.read_text(encoding="utf-8"))
    if args.check:
        if changed:
            sys.exit(f"README.md's generated blocks differ from their sources: {', '.join(changed)}; "
                     "run python docs/make_readme_tables.py")
        return
    README.write_text(text, encoding="utf-8")
    print(f"README.md: {', '.join(changed) or 'nothing'} regenerated")


if __name__ == "__main__":
    main()
