"""`python -m agents.zoo score`: the zoo and the floor baselines on a suite, and docs/zoo.md from it.

The suite runs through scoring.score_suite, as `run_sim.py --suite` does (<reports>/<suite>/<run>/,
resumable), so the leaderboard here and the CLI's are the same numbers by construction.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

from agents.resolve import zoo_checkpoints
from agents.zoo import MANIFEST_FILE, ZOO_DIR, read_manifest, write_manifest
from scoring.report import TOO_EASY_MARK

DOC_FILE = ZOO_DIR.parent / "docs" / "zoo.md"
NOTES_FILE = ZOO_DIR / "notes.md"
V1_FILE = ZOO_DIR.parent / "docs" / "score_v1.json"  # the v1 scores the zoo was published with, for the v1 -> v2 column
VALIDATION_EPISODES = 20  # per scenario, on validation seeds: how each scenario's default zoo agent is chosen
BASELINES = ("idm", "random", "idle", "brake")  # idm: the bar to clear; the rest: floors (a constant policy)


def score_zoo(suite_name: str, workers: int, run: str, resume: bool, *, reports_dir: Path) -> int:
    """Score the zoo labels and BASELINES on the suite into reports_dir/<suite>/<run>/, then write
    the manifest's suite cells and docs/zoo.md. Setup errors (scoring.SuiteSetupError) propagate."""
    if not DOC_FILE.parent.is_dir():  # an installed copy: site-packages has no docs/ of ours to rewrite
        raise SystemExit(f"python -m agents.zoo: error: score rewrites a checkout's docs/zoo.md, and there is no "
                         f"{DOC_FILE.parent}: run it in a clone of the repository (pip install -e . there)")
    manifest = read_manifest()
    if not manifest["agents"]:
        raise SystemExit("python -m agents.zoo: error: the zoo is empty; train it first: python -m agents.zoo train --agent dqn")
    from scenarios.suite import load_suite

    code = choose_defaults(manifest, load_suite(suite_name), workers, run, resume, reports_dir)
    if code:
        return code
    # `zoo` plays each scenario's default; zoo:<agent> only for agents that are not the default
    # everywhere they are shipped (the rest would replay the same episodes).
    others = sorted({e["agent"] for e in manifest["agents"].values() if manifest["defaults"].get(e["scenario"]) != e["agent"]})
    labels = ["zoo", *(f"zoo:{agent}" for agent in others), *BASELINES]
    score = _run_scoring(suite_name, suite_name, labels, workers, run, resume, reports_dir)
    if isinstance(score, int):
        return score
    names = [s.name for s in score.suite.scenarios]
    records, summary = score.records, score.summary
    played = _played(labels, score.suite.scenarios)  # (label, scenario) -> manifest key of the checkpoint that drove
    for entry in manifest["agents"].values():
        entry["suite"] = {}
    for (label, scenario), key in played.items():  # `zoo` and `zoo:ppo` may replay one checkpoint: same cell
        if (label, scenario) in summary["per_scenario"]:
            manifest["agents"][key]["suite"].setdefault(scenario, _cell(summary["per_scenario"][(label, scenario)]))
    write_manifest(manifest)
    speeds = mean_speeds(records)
    DOC_FILE.write_text(zoo_markdown(summary, manifest, score.suite.name, score.folder, names, played, speeds),
                        encoding="utf-8")
    print(f"wrote {DOC_FILE} and {MANIFEST_FILE} (reports: {score.folder})")
    return 0


def choose_defaults(manifest: dict, suite, workers: int, run: str, resume: bool, reports_dir: Path) -> int:
    """Each scenario's default zoo agent: of the agents shipped for it, the one with the highest
    mean driving score on VALIDATION_EPISODES validation seeds (scenarios.seeds.VALIDATION, never
    an evaluation seed), scored like any suite into reports_dir/validation/<run>/. Scenarios of
    `suite` with one shipped agent keep it. Writes the manifest's defaults."""
    from scenarios.seeds import validation_seeds
    from scenarios.suite import Suite

    shipped: dict[str, list[str]] = {}
    for entry in manifest["agents"].values():
        shipped.setdefault(entry["scenario"], []).append(entry["agent"])
    contested = tuple(s for s in suite.scenarios if s.base is None and len(shipped.get(s.name, [])) > 1)
    if not contested:
        return 0
    validation = Suite("validation", f"default zoo agents of {suite.name}, chosen on validation seeds",
                       tuple(validation_seeds(VALIDATION_EPISODES)), 1, contested)
    labels = [f"zoo:{agent}" for agent in sorted({a for s in contested for a in shipped[s.name]})]
    score = _run_scoring(validation, suite.name, labels, workers, run, resume, reports_dir)
    if isinstance(score, int):
        return score
    per = score.summary["per_scenario"]
    for scenario in contested:
        scored = {a: per[(f"zoo:{a}", scenario.name)]["score"].value for a in shipped[scenario.name]
                  if (f"zoo:{a}", scenario.name) in per}
        if scored:
            manifest["defaults"][scenario.name] = max(sorted(scored), key=scored.get)  # ties: the first by name
            for agent, value in scored.items():
                manifest["agents"][f"{scenario.name}/{agent}"]["validation_score"] = round(value, 4)
    manifest["defaults_chosen_by"] = (f"mean driving score v2 on validation seeds {validation.seeds[0]}-"
                                      f"{validation.seeds[-1]} ({score.folder.as_posix()})")
    write_manifest(manifest)
    return 0


def _run_scoring(suite, suite_name: str, labels: list[str], workers: int, run: str, resume: bool, reports_dir: Path):
    """scoring.score_suite, or the exit code after saying in one line how to continue."""
    import scoring

    again = f"python -m agents.zoo score --suite {suite_name} --reports {reports_dir} --run {run} --resume"
    if isinstance(suite, str):
        from scenarios.suite import load_suite

        suite = load_suite(suite)
    # --resume continues the stage that was interrupted: a stage not reached yet starts afresh.
    resume = resume and (Path(reports_dir) / suite.name / run / "results.json").exists()
    try:
        score = scoring.score_suite(suite, labels, reports_dir=reports_dir, run=run, resume=resume, workers=workers)
    except scoring.SuiteStoppedError as err:
        print(f"python -m agents.zoo: error: {err}: continue with {again}", file=sys.stderr)
        return 1
    if score.interrupted:
        print(f"interrupted: continue with {again}", file=sys.stderr)
        return 130
    return score


def _played(labels: list[str], suite_scenarios) -> dict[tuple[str, str], str]:
    """Which shipped checkpoint each zoo label played on each scenario (a variant without an
    agent of its own plays its base's), as manifest keys "<scenario>/<agent>"."""
    played = {}
    for label in (label for label in labels if label.partition(":")[0] == "zoo"):
        for scenario, folder, _ in zoo_checkpoints(label, suite_scenarios):
            if folder:
                played[(label, scenario)] = f"{Path(folder).parent.name}/{Path(folder).name}"  # zoo/<scenario>/<agent>
    return played


def mean_speeds(records: list[dict]) -> dict[tuple[str, str], float]:
    """Mean ego speed [m/s] per (agent, scenario) over its episodes: a policy that waits out the
    clock (survive rules) shows here, not in success."""
    sums: dict[tuple[str, str], list[float]] = {}
    for r in records:
        if r["metrics"] is not None:
            sums.setdefault((r["agent"], r["scenario"]), []).append(r["metrics"]["mean_speed"])
    return {key: sum(v) / len(v) for key, v in sums.items()}


def _cell(s: dict) -> dict:
    return {"score": str(s["score"]), "score_mean": s["score"].value, "success": str(s["success"]),
            "collision": str(s["collision"]), "collision_rate": s["collision"].value, "episodes": s["episodes"],
            "errors": s["errors"]}


def zoo_markdown(summary: dict, manifest: dict, suite: str, report: Path, scenarios: list[str], played: dict,
                 speeds: dict) -> str:
    per = summary["per_scenario"]
    picks = {scenario: _agent_of(played[(label, scenario)]) for label, scenario in played if label == "zoo"}
    v1 = json.loads(V1_FILE.read_text(encoding="utf-8")) if V1_FILE.exists() else {"suite": {}, "per_scenario": {}}
    too_easy = summary.get("too_easy", {})
    lines = [
        "# Model zoo",
        "",
        "Trained agents shipped under `zoo/`, so that `python run_sim.py --scenario X --agent Y` shows competent "
        "driving without training first (it says which checkpoint it loaded; a run of your own in `runs/` takes "
        "precedence). Every agent is a small head on the shared frozen perception encoder.",
        "",
        f"Scored on suite `{suite}` (50 evaluation seeds per scenario, seeds from 1,000,000, never seen in training), "
        f"report `{Path(report).as_posix()}/`, {datetime.date.today().isoformat()}. Driving score v2 in [0, 1] "
        "(docs/metrics.md: progress along the route, gates, at-fault penalties, speed ratio, TTC and comfort), "
        "value [95% CI]: mean by bootstrap, success and collision by Wilson intervals. v1 is the score the zoo was "
        f"published with before (`{V1_FILE.name}`: time survived, a speed range that included 0).",
        "",
        "Reproduce: `python -m agents.zoo train --agent dqn` (and `--agent ppo`, `--agent sac`; recipes in "
        "`zoo/recipes.yaml`), then `python -m agents.zoo score`.",
        "",
        "## The suite",
        "",
        "`zoo` plays each scenario's default zoo agent: the one with the highest driving score on validation seeds "
        f"({manifest.get('defaults_chosen_by', 'held-out seeds during training')}). `idle` and `brake` are constant "
        "floors (always IDLE; always SLOWER): an agent that does not beat them on a scenario has not learnt to drive it.",
        "",
        "| agent | mean score (v1 -> v2) | IQM score | success | collision | at-fault collisions |",
        "|---|---|---|---|---|---|",
    ]
    for label in [label for label in summary["suite"] if label.startswith("zoo")] + list(BASELINES):
        s = summary["suite"].get(label)
        if s:
            old = v1["suite"].get(label)
            lines.append(f"| {label} | {_v1(old)}{s['mean']} | {s['iqm']} | {s['success']} | {s['collision']} | "
                         f"{s.get('at_fault_collisions', '-')} |")
    lines += ["", "## Per scenario", "",
              "| scenario | zoo agent | zoo score (v1 -> v2) | idm (v1 -> v2) | idle | brake | random | "
              "progress zoo / idm | zoo success | zoo collision (at fault) | mean speed zoo / idm [m/s] | "
              "best shipped agent vs idm |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for scenario in scenarios:
        cells = {label: per.get((label, scenario)) for label in ("zoo", *BASELINES)}
        zoo = cells["zoo"]
        if not zoo:
            continue
        old = v1["per_scenario"].get(scenario, {})
        mark = f" {TOO_EASY_MARK}" if scenario in too_easy else ""
        lines.append(
            f"| {scenario}{mark} | {picks.get(scenario, '-')} | {_v1(old.get('zoo'))}{zoo['score']} | "
            f"{_v1(old.get('idm'))}{_score(cells['idm'])} | {_score(cells['idle'])} | {_score(cells['brake'])} | "
            f"{_score(cells['random'])} | {_progress(zoo)} / {_progress(cells['idm'])} | {zoo['success']} | "
            f"{zoo['collision']} ({zoo.get('at_fault_collisions', '-')}) | "
            f"{_speed(speeds, 'zoo', scenario)} / {_speed(speeds, 'idm', scenario)} | {_versus_idm(per, scenario, played)} |")
    if too_easy:
        lines += ["", f"{TOO_EASY_MARK} too easy to rank agents: a constant policy scores within idm's 95% CI or above "
                  "it, so idm does not tell driving from a constant action there: the scenario is too easy, or idm "
                  "fails it too (" + "; ".join(f"{s}: {', '.join(f)} against idm's {per[('idm', s)]['score'].value:.2f}"
                                               for s, f in too_easy.items()) + ")."]
    machines = sorted({entry["hardware"] for entry in manifest["agents"].values()})
    lines += ["", "## Every shipped agent", "",
              f"Trained on {', '.join(machines)}. Training time is learning wall-clock alone (evaluations excluded), "
              "to the shipped checkpoint and for the recipe's whole budget; the shipped checkpoint is the one that "
              "did best on held-out seeds during training (seeds from 900,000).", "",
              "| agent | default | shipped at | whole run | held-out success (training) | validation score | suite score | "
              "suite collision | size |",
              "|---|---|---|---|---|---|---|---|---|"]
    for key, entry in sorted(manifest["agents"].items()):
        held = entry.get("held_out_during_training") or {}
        default = "yes" if manifest["defaults"].get(entry["scenario"]) == entry["agent"] else ""
        for scenario, cell in (entry.get("suite") or {"-": {}}).items():
            lines.append(f"| {key} ({scenario}) | {default} | {entry['steps']} steps, {_duration(entry['train_seconds'])} | "
                         f"{entry.get('run_steps', '-')} steps, {_duration(entry.get('run_train_seconds'))} | "
                         f"{held.get('success_rate', float('nan')):.0%} | {entry.get('validation_score', '-')} | "
                         f"{cell.get('score', '-')} | "
                         f"{cell.get('collision', '-')} | {entry['bytes'] / 1e6:.2f} MB |")
    encoder = manifest["encoder"]
    lines += ["", f"Shipped size: {manifest['shipped_bytes'] / 1e6:.1f} MB in all, of which the encoder "
              f"(`{encoder['path']}`) {encoder['bytes'] / 1e6:.1f} MB. Hashes: `zoo/manifest.json`."]
    if NOTES_FILE.exists():  # what the numbers do not say: written by hand, kept across regenerations
        lines += ["", NOTES_FILE.read_text(encoding="utf-8").strip()]
    return "\n".join(lines) + "\n"


def _agent_of(key: str) -> str:
    return key.partition("/")[2]  # manifest key "<scenario>/<agent>"


def _versus_idm(per: dict, scenario: str, played: dict) -> str:
    """The best-scoring shipped agent that drove `scenario` (as `zoo` or `zoo:<agent>`) against
    idm: "yes (ppo)" or "no (sac, -0.882)"."""
    idm = per.get(("idm", scenario))
    drove = {_agent_of(key): per[(label, name)] for (label, name), key in played.items()
             if name == scenario and (label, name) in per}
    if not idm or not drove:
        return "-"
    agent, best = max(drove.items(), key=lambda kv: kv[1]["score"].value)
    margin = best["score"].value - idm["score"].value
    return f"yes ({agent})" if margin >= 0 else f"no ({agent}, {margin:+.3f})"


def _v1(value) -> str:
    return "" if value is None else f"{value:.2f} -> "


def _score(cell: dict | None) -> str:
    return str(cell["score"]) if cell else "-"


def _progress(cell: dict | None) -> str:
    value = cell["progress"].value if cell else float("nan")
    return "-" if value != value else f"{value:.2f}"


def _speed(speeds: dict, label: str, scenario: str) -> str:
    return f"{speeds[(label, scenario)]:.1f}" if (label, scenario) in speeds else "-"


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"

