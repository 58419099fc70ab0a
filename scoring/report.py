"""Reports of a suite run, from its records: leaderboard.md, results.csv and scores.png.

The three are rendered in memory, then written together atomically (sim/files.py): a full
disk or an interrupt while rewriting them leaves the previous three whole and consistent.

Agent, suite and scenario names come from folder and file names, so they may hold anything a file
name can: bytes that are not UTF-8, `$...$` (matplotlib reads it as mathtext and fails on most),
'|' (a markdown table cell). Every name is escaped where it is drawn or written (printable,
markdown, mathtext_free): the reports of a run whose episodes all played are always written.
"""

from __future__ import annotations

import csv
import io
import itertools

import numpy as np

from scoring.stats import Interval, mean_ci, probability_of_improvement, suite_aggregates, wilson
from sim.files import atomic_write_all

CSV_FIELDS = (
    "agent",
    "agent_name",
    "checkpoint_hash",
    "scenario",
    "seed",
    "episode",
    "env_seed",
    "outcome",
    "driving_score",
    "error",
)


def printable(name: str) -> str:
    """A name as text any file or terminal takes: bytes that are not UTF-8 (a file name decodes them
    to surrogates) as \\xff, control characters (a newline) as escapes such as \\n."""
    try:
        text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file name decodes to (JSON "\\ud800" in results.json)
        text = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def markdown(name: str) -> str:
    """A name inside a markdown table: a '|' would end its cell."""
    return printable(name).replace("|", "\\|")


def mathtext_free(name: str) -> str:
    """A name matplotlib draws as it is: an unescaped pair of '$' would be parsed as mathtext."""
    return printable(name).replace("$", "\\$")


def summarise(records: list[dict], agents: list[str], scenarios: list[str]) -> dict:
    """{"per_scenario": {(agent, scenario): {...}}, "suite": {agent: {...}}, "improvement": {(a, b): Interval},
    "too_easy": {scenario: [floors]}} (too_easy_floors). Failed (error) episodes count with a driving
    score of 0 and as neither success nor collision."""
    by = {(a, s): [r for r in records if r["agent"] == a and r["scenario"] == s] for a in agents for s in scenarios}
    per_scenario = {key: _summary(rs) for key, rs in by.items() if rs}
    suite = {}
    for agent in agents:
        rs = [r for s in scenarios for r in by[(agent, s)]]
        if not rs:
            continue
        groups = [[r["driving_score"] for r in by[(agent, s)]] for s in scenarios]
        suite[agent] = _summary(rs) | suite_aggregates(groups)
    improvement = {}
    for a, b in itertools.permutations([a for a in agents if a in suite], 2):
        common = [s for s in scenarios if by[(a, s)] and by[(b, s)]]
        improvement[(a, b)] = probability_of_improvement(
            [[r["driving_score"] for r in by[(a, s)]] for s in common],
            [[r["driving_score"] for r in by[(b, s)]] for s in common],
        )
    too_easy = {s: floors for s in scenarios if (floors := too_easy_floors(per_scenario, s))}
    return {"per_scenario": per_scenario, "suite": suite, "improvement": improvement, "too_easy": too_easy}


def _summary(rs: list[dict]) -> dict:
    n = len(rs)
    ok = [r for r in rs if r["metrics"] is not None]
    collisions = sum(r["metrics"]["collisions"] for r in ok)
    km = sum(r["metrics"]["distance"] for r in ok) / 1000
    # Keys newer than some results.json files: read with .get, and counted only where present.
    progress = [r["score"]["progress"] for r in rs if r["score"] and "progress" in r["score"]]
    fault = [r["metrics"].get("collision_at_fault") for r in ok if "collision_at_fault" in r["metrics"]]
    return {
        "episodes": n,
        "errors": n - len(ok),
        "score": mean_ci([r["driving_score"] for r in rs]),
        "progress": mean_ci(progress),  # nan when no record has it
        "success": wilson(sum(r["outcome"] == "success" for r in rs), n),
        "collision": wilson(sum(r["outcome"] == "collision" for r in rs), n),
        "collisions_per_km": collisions / km if km > 0 else float("nan"),
        "at_fault_collisions": sum(f is True for f in fault) if fault else None,  # None: not recorded
    }


REFERENCE = "idm"  # the rule-based driver a learning agent has to beat
FLOORS = ("idle", "brake")  # constant policies: a scenario they do well on cannot tell agents apart
TOO_EASY_MARK = "†"


def too_easy_floors(per_scenario: dict, scenario: str) -> list[str]:
    """The constant floors (FLOORS) whose mean score on `scenario` reaches idm's 95% CI or above it
    (floor.value >= idm.low). A scenario where doing nothing scores like idm does not rank agents,
    so the leaderboard marks it. Empty when idm or every floor was not scored there."""
    idm = per_scenario.get((REFERENCE, scenario))
    if not idm:
        return []
    floors = [(f, per_scenario.get((f, scenario))) for f in FLOORS]
    return [f for f, s in floors if s and s["score"].value >= idm["score"].low]


def leaderboard_markdown(summary: dict, suite: str, run: str, agents: list[str], scenarios: list[str]) -> str:
    ranked = sorted(summary["suite"], key=lambda a: -summary["suite"][a]["mean"].value)
    md = markdown
    lines = [
        f"# Leaderboard: suite `{printable(suite)}`, run `{printable(run)}`",  # a code span: no escapes
        "",
        "Driving score in [0, 1] (docs/metrics.md); value [95% CI]. Mean and IQM: stratified bootstrap over "
        "seeds within scenarios; success/collision: Wilson intervals.",
        "",
        "| rank | agent | episodes | errors | mean score | IQM score | success | collision | collisions/km |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rank, agent in enumerate(ranked, 1):
        s = summary["suite"][agent]
        lines.append(
            f"| {rank} | {md(agent)} | {s['episodes']} | {s['errors']} | {s['mean']} | {s['iqm']} | "
            f"{s['success']} | {s['collision']} | {_per_km(s['collisions_per_km'])} |"
        )
    lines += [
        "",
        "## Per scenario",
        "",
        "Progress: the share of the route driven [95% CI]. At fault: collisions the ego caused.",
        "",
        "| scenario | agent | episodes | score | progress | success | collision | at-fault collisions | collisions/km |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    too_easy = summary.get("too_easy", {})
    for scenario in scenarios:
        mark = f"{md(scenario)} {TOO_EASY_MARK}" if scenario in too_easy else md(scenario)
        for agent in ranked:
            s = summary["per_scenario"].get((agent, scenario))
            if s:
                progress = "-" if s["progress"].value != s["progress"].value else str(s["progress"])  # nan: none
                fault = "-" if s["at_fault_collisions"] is None else s["at_fault_collisions"]
                lines.append(
                    f"| {mark} | {md(agent)} | {s['episodes']} | {s['score']} | {progress} | {s['success']} | "
                    f"{s['collision']} | {fault} | {_per_km(s['collisions_per_km'])} |"
                )
    for scenario, floors in too_easy.items():  # one paragraph each
        lines += ["", f"{TOO_EASY_MARK} {md(scenario)}: too easy to rank agents: a constant policy "
                      f"({', '.join(floors)}) "
                      f"scores within {REFERENCE}'s CI or above it, so {REFERENCE} does not tell driving from a constant "
                      "action here (the scenario is too easy, or idm fails it too)"]
    if summary["improvement"]:
        lines += [
            "",
            "## Probability of improvement",
            "",
            "P(row agent scores above column agent) on a random "
            "episode of a scenario, averaged over scenarios [95% CI].",
            "",
            "| | " + " | ".join(map(md, ranked)) + " |",
            "|---" * (len(ranked) + 1) + "|",
        ]
        for a in ranked:
            cells = [str(summary["improvement"][(a, b)]) if a != b else "-" for b in ranked]
            lines.append(f"| {md(a)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _per_km(value: float) -> str:
    return "-" if value != value else f"{value:.2f}"  # nan: no distance driven (only failed episodes)


def csv_text(records: list[dict]) -> str:
    metric_keys = sorted(
        {k for r in records if r["metrics"] for k, v in r["metrics"].items() if not isinstance(v, dict)} - {"outcome"}
    )
    score_keys = sorted({k for r in records if r["score"] for k in r["score"]} - {"driving_score"})
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow([*CSV_FIELDS, *metric_keys, *score_keys])
    for r in records:
        row = ([r.get(k) for k in CSV_FIELDS] + [(r["metrics"] or {}).get(k) for k in metric_keys]
               + [(r["score"] or {}).get(k) for k in score_keys])
        writer.writerow([printable(v) if isinstance(v, str) else v for v in row])  # names, errors naming paths
    return out.getvalue()


def chart_png(summary: dict, agents: list[str], scenarios: list[str], title: str) -> bytes:
    """Per-scenario mean driving score with its 95% CI, one bar per agent, as PNG bytes. Drawn on an
    Agg canvas of its own, not pyplot (as agents/curves.py): scoring from a notebook or beside a
    pygame window leaves matplotlib's backend and figure registry as they were."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(min(14, 3 + 0.9 * len(scenarios)), 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(agents))
    x = np.arange(len(scenarios))
    for i, agent in enumerate(agents):
        cells = [
            summary["per_scenario"].get((agent, s), {}).get("score", Interval(np.nan, np.nan, np.nan))
            for s in scenarios
        ]
        values = np.array([c.value for c in cells])
        err = np.array([[c.value - c.low for c in cells], [c.high - c.value for c in cells]])
        ax.bar(x + (i - (len(agents) - 1) / 2) * width, values, width, yerr=err, capsize=3, label=mathtext_free(agent))
    ax.set_xticks(x, [mathtext_free(s) for s in scenarios], rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("driving score (95% CI)")
    ax.set_title(mathtext_free(title))
    ax.legend()
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)
    return png.getvalue()


def write_reports(results, agents: list[str], scenarios: list[str]) -> dict:
    """leaderboard.md, results.csv and scores.png next to results.json; returns the summary."""
    records = results.sorted_records()
    summary = summarise(records, agents, scenarios)
    suite, run = results.header["suite"], results.header["run"]
    board = leaderboard_markdown(summary, suite, run, agents, scenarios).encode("utf-8")
    table = csv_text(records).encode("utf-8")
    png = chart_png(summary, agents, scenarios, f"{suite} / {run}")
    atomic_write_all({results.folder / "leaderboard.md": lambda out: out.write(board),
                      results.folder / "results.csv": lambda out: out.write(table),
                      results.folder / "scores.png": lambda out: out.write(png)})
    return summary
