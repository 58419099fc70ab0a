"""The model zoo: a trained agent for every scenario, shipped under zoo/ with a manifest.

    python -m agents.zoo train --agent dqn --scenario all    train by zoo/recipes.yaml, ship the best checkpoints
        [--workers N | --ray local|auto|host:port] [--resume]  (a queue of (scenario, seed) jobs: agents/zoo_queue.py)
    python -m agents.zoo score                                score the zoo, idm and the floors on the standard suite
                                                              and write docs/zoo.md
    python -m agents.zoo list                                 what is shipped (zoo/manifest.json)

A shipped agent is an ordinary checkpoint (agents/checkpoint.py) without optimiser and target
network state: it plays, and stays small (heads on the shared frozen encoder). Its config.json
records the recipe and the command that trained it; zoo/manifest.json records, per agent,
steps, training time, hardware, held-out results and the files' sha256.
`run_sim.py --scenario X --agent Y` plays zoo/X/Y when the user has no run of their own.
`--agent zoo` plays the scenario's default zoo agent (in a suite, each scenario's) and `--agent
zoo:dqn` the zoo's dqn (agents/resolve.py maps those labels to zoo folders).

zoo/ lies beside the packages: the checkout's, or the installed copy's (pyproject.toml ships it);
its training runs (runs/zoo/) and reports (reports/) go under the current folder.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import platform
import sys
from pathlib import Path

from agents.base import AgentError, read_config
from agents.runs import ZOO_DIR
from scenarios.errors import ScenarioError
from scenarios.load import SMALL_FILE_BYTES, LoadError, read_json, read_yaml

RECIPES_FILE = ZOO_DIR / "recipes.yaml"
MANIFEST_FILE = ZOO_DIR / "manifest.json"
ZOO_RUNS_DIR = Path("runs/zoo")  # training runs of the zoo, apart from a user's runs/<scenario>/
ENCODER_FILE = "perception/weights/default.pt"
RECIPE_KEYS = {"steps", "seed", "set"}


def read_recipes(path: Path = RECIPES_FILE) -> dict[str, dict[str, dict]]:
    """{agent: {scenario: recipe}}, checked: known agents and scenarios, known keys."""
    import agents
    import scenarios

    try:
        table = read_yaml(path, max_bytes=SMALL_FILE_BYTES) or {}
    except (LoadError, OSError) as err:  # not YAML, or a FIFO, too big, too deep, an alias bomb (scenarios/load.py)
        raise AgentError(f"cannot read the recipes {path}: {getattr(err, 'reason', None) or err.strerror or err}") from None
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise AgentError(f"{path}: expected {{agent: {{scenario: recipe}}}}, got {table!r:.60}")
    for agent, per_scenario in table.items():
        agents.get_class(agent)  # raises with the valid names
        for scenario, recipe in per_scenario.items():
            scenarios.get(scenario)
            unknown = set(recipe) - RECIPE_KEYS if isinstance(recipe, dict) else {"?"}
            if unknown or not isinstance(recipe.get("steps"), int):
                raise AgentError(f"{path}: recipe {agent}/{scenario} needs an integer 'steps' and only {sorted(RECIPE_KEYS)}")
    return table


def read_manifest() -> dict:
    try:
        manifest = read_json(MANIFEST_FILE, max_bytes=SMALL_FILE_BYTES)
    except FileNotFoundError:
        manifest = {}
    except (LoadError, OSError) as err:  # not JSON, or a FIFO, too big, too deep (scenarios/load.py)
        raise AgentError(f"{MANIFEST_FILE} is corrupt: {getattr(err, 'reason', None) or err.strerror or err}") from None
    if not isinstance(manifest, dict):
        raise AgentError(f"{MANIFEST_FILE} is corrupt: expected a JSON object")
    return {"format": 1, "encoder": {}, "defaults": {}, "agents": {}, **manifest}


def write_manifest(manifest: dict) -> None:
    from sim.files import write_json_atomic

    encoder = Path(__file__).resolve().parents[1] / ENCODER_FILE
    manifest["encoder"] = {"path": ENCODER_FILE, "sha256": sha256(encoder), "bytes": encoder.stat().st_size}
    manifest["shipped_bytes"] = manifest["encoder"]["bytes"] + sum(e["bytes"] for e in manifest["agents"].values())
    write_json_atomic(MANIFEST_FILE, manifest)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):  # 1 MiB at a time: memory stays bounded
            digest.update(chunk)
    return digest.hexdigest()


def verify_shipped(folder: str | os.PathLike) -> None:
    """Refuse a folder under zoo/ that zoo/manifest.json does not list, or whose files differ from
    the sha256 it lists: a shipped agent must be the one its published numbers were measured with,
    and a changed file there (a crafted one too) is one line before anything loads it. Called
    wherever a zoo folder is resolved to play or score (agents/resolve.py). A folder outside zoo/
    is a checkpoint of the user's own: nothing to check."""
    folder = Path(folder).resolve()
    try:
        key = folder.relative_to(ZOO_DIR.resolve()).as_posix()
    except ValueError:
        return
    shown = folder.relative_to(ZOO_DIR.resolve().parent).as_posix()
    fix = (f"restore the shipped files (git checkout -- {shown}) or ship a run of your own there "
           "(python -m agents.zoo ship RUN)")
    entry = read_manifest()["agents"].get(key)
    files = entry.get("files") if isinstance(entry, dict) else None
    if not isinstance(files, dict) or not files:
        raise AgentError(f"{folder} is not in {MANIFEST_FILE}, which lists every shipped agent: {fix}")
    for name, listed in sorted(files.items()):
        file = folder / name
        actual = sha256(file) if file.is_file() else None
        if actual != listed:
            found = "is missing" if actual is None else f"has sha256 {actual[:12]}..., listed {str(listed)[:12]}..."
            raise AgentError(f"{file} differs from {MANIFEST_FILE} (it {found}): {fix}")


def hardware() -> str:
    """What trained it, e.g. 'CPU: 2 cores (AMD EPYC 7B13)' or 'GPU: NVIDIA H200'."""
    import torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        model = names[0] if names else model
    return f"CPU: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} cores ({model})"


def inference_state(state: dict) -> dict:
    """A checkpoint's state without what only training needs: optimiser moments and dqn's target
    network (loading rebuilds it from the online network)."""
    learner = {k: v for k, v in state.get("learner", {}).items() if k not in ("optimizer", "target")}
    model = {k: v for k, v in state.get("model", {}).items() if "optimizer" not in k}
    return {**state, **({"learner": learner} if "learner" in state else {}), **({"model": model} if "model" in state else {})}


def best_evaluation(run_dir: Path) -> dict | None:
    """The evaluation the shipped (best) checkpoint won with, from the run's metrics.json."""
    from agents.training import evaluation_rank, read_history

    history = read_history(run_dir / "metrics.json")
    return max(history, key=evaluation_rank, default=None)


def ship(run_dir: Path, command: str, recipe: dict | None = None) -> Path:
    """Copy a run's best checkpoint into zoo/<scenario>/<agent>/ (inference state only) and
    record it in the manifest; it becomes the scenario's default if it evaluated better."""
    import agents
    import scenarios
    from agents.checkpoint import load_checkpoint, save_checkpoint

    config = read_config(run_dir)
    agent = agents.get_class(str(config.get("agent"))).name
    scenario = scenarios.get(str(config.get("scenario"))).name  # a catalog name: zoo/<scenario>/ stays in zoo/
    state = load_checkpoint(run_dir, agent)[0]  # the one safe path: weights only, one line if refused
    machine = hardware()
    evaluation = best_evaluation(run_dir)
    last = read_config(run_dir / "last") if (run_dir / "last" / "config.json").exists() else {}
    zoo_config = {"command": command, "recipe": recipe, "hardware": machine, "run": str(run_dir)}
    keep = {k: v for k, v in config.items() if k not in ("format_version", "versions")}
    folder = save_checkpoint(ZOO_DIR / scenario / agent, inference_state(state), {**keep, "zoo": zoo_config})
    with _manifest_lock():  # two `zoo train` queues may ship at once: no lost entries
        return _record(folder, config, last, command, machine, evaluation)


@contextlib.contextmanager
def _manifest_lock():
    import fcntl

    ZOO_DIR.mkdir(parents=True, exist_ok=True)
    with open(ZOO_DIR / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _record(folder: Path, config: dict, last: dict, command: str, machine: str, evaluation) -> Path:
    """The manifest entry of a shipped folder (config: its best checkpoint's, last: the run's end)."""
    from agents.checkpoint import MODEL_FILE

    manifest = read_manifest()
    scenario, agent = config["scenario"], config["agent"]
    key = f"{scenario}/{agent}"
    files = {name: sha256(folder / name) for name in (MODEL_FILE, "config.json")}
    manifest["agents"][key] = {
        "scenario": scenario, "agent": agent, "path": f"zoo/{key}", "steps": config.get("steps"),
        "train_seconds": config.get("train_seconds"), "hardware": machine, "command": command,
        # the whole budget's learning time (the shipped checkpoint may be an earlier, better one)
        "run_steps": last.get("steps"), "run_train_seconds": last.get("train_seconds"),
        "held_out_during_training": evaluation, "files": files,
        "bytes": sum((folder / name).stat().st_size for name in files),
    }
    current = manifest["agents"].get(f"{scenario}/{manifest['defaults'].get(scenario)}")
    if current is None or current is manifest["agents"][key] or _rank(manifest["agents"][key]) > _rank(current):
        manifest["defaults"][scenario] = agent
    write_manifest(manifest)
    return folder


def _rank(entry: dict) -> tuple:
    """How a shipped agent did on the validation seeds during training (agents.training.evaluation_rank)."""
    from agents.training import evaluation_rank

    return evaluation_rank(entry.get("held_out_during_training") or {})


def train(agent: str, names: list[str], recipes: dict, device, resume: bool, workers: int = 1,
          ray: str | None = None) -> int:
    """Run the queue of (scenario, seed) jobs (agents/zoo_queue.py), then ship each scenario's best
    seed on validation. A job whose environment worker dies is reported in one line and the
    others still train; --resume continues the queue."""
    from agents.zoo_queue import INTERRUPTED, best_seed, exit_code, job_state, jobs_of, run_queue, summary_line

    jobs = jobs_of(agent, names, recipes, ZOO_RUNS_DIR)
    earlier = [job for job in jobs if job_state(job) != "new"]
    if earlier and not resume:
        raise AgentError(f"{earlier[0].folder} holds an earlier queue's run: add --resume to continue that queue, "
                         f"or move {ZOO_RUNS_DIR} away to start again")
    print(f"[zoo] {len(jobs)} job{'s' * (len(jobs) != 1)} ({agent}: {', '.join(names)}; seeds per recipe) on "
          f"{'Ray ' + ray if ray else f'{workers} local worker' + ('s' if workers > 1 else '')}")
    results = run_queue(jobs, str(device), workers, ray)
    code = exit_code(results)
    if code == INTERRUPTED:
        return code
    for scenario in names:
        folder, scores = best_seed(results, scenario)
        print(summary_line(scenario, agent, scores))
        if folder is None:
            print(f"[zoo] error: no finished {agent} run on {scenario} to ship", file=sys.stderr)
            continue
        recipe = {**recipes[agent][scenario], "validation_driving_score_by_seed": scores}
        shipped = ship(folder, f"python -m agents.zoo train --agent {agent} --scenario {scenario}", recipe)
        print(f"[zoo] shipped {shipped} from {folder.name} ({read_config(folder / 'last').get('train_seconds')} s of training)")
    return code


def list_zoo() -> int:
    from rich.console import Console
    from rich.table import Table

    manifest = read_manifest()
    table = Table(title=f"zoo/manifest.json ({manifest.get('shipped_bytes', 0) / 1e6:.1f} MB shipped with the encoder)")
    for column in ("scenario", "agent", "default", "steps", "train [s]", "held-out success", "suite score", "hardware"):
        table.add_column(column)
    for entry in sorted(manifest["agents"].values(), key=lambda e: (e["scenario"], e["agent"])):
        held = entry.get("held_out_during_training") or {}
        suite = entry.get("suite", {}).get(entry["scenario"], {})
        table.add_row(entry["scenario"], entry["agent"], "yes" if manifest["defaults"].get(entry["scenario"]) == entry["agent"] else "",
                      str(entry["steps"]), str(entry["train_seconds"]), f"{held.get('success_rate', float('nan')):.2f}",
                      suite.get("score", "-"), entry["hardware"])
    Console().print(table)
    return 0


def in_installed_copy(folder: Path) -> bool:
    """Whether `folder` lies in this interpreter's site-packages: an installed copy of the project,
    whose zoo/ a pip upgrade or uninstall would replace without a word."""
    import sysconfig

    purelib = Path(sysconfig.get_paths()["purelib"]).resolve()
    return Path(folder).resolve().is_relative_to(purelib)


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but an error is one line (and exit code 2), as run_sim.py's: --help has the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(prog="python -m agents.zoo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    trainer = commands.add_parser("train", help="train by zoo/recipes.yaml and ship the best checkpoints")
    trainer.add_argument("--agent", required=True, help="an agent with recipes in zoo/recipes.yaml (dqn, ppo, sac)")
    trainer.add_argument("--scenario", nargs="+", default=["all"], help="scenarios, or 'all' of the agent's recipes (default)")
    trainer.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    trainer.add_argument("--resume", action="store_true", help="continue an interrupted queue: finished jobs are kept")
    trainer.add_argument("--workers", type=int, default=1, help="jobs trained at once on this machine (default: 1)")
    trainer.add_argument("--ray", metavar="ADDRESS", help="train the jobs as Ray tasks: local, auto or host:port")
    shipper = commands.add_parser("ship", help="ship a training run's best checkpoint (a runs/... folder) into zoo/")
    shipper.add_argument("run", type=Path)
    scorer = commands.add_parser("score", help="score the zoo, idm and the floors on a suite; write docs/zoo.md")
    scorer.add_argument("--suite", default="standard")
    scorer.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    scorer.add_argument("--reports", type=Path, default=Path("reports"), help="where run folders go (default: reports)")
    scorer.add_argument("--run", default="zoo", help="run folder under <reports>/<suite>/ (default: zoo)")
    scorer.add_argument("--resume", action="store_true", help="continue an interrupted scoring run")
    commands.add_parser("list", help="what is shipped")
    args = parser.parse_args(argv)
    if args.command in ("train", "ship") and in_installed_copy(ZOO_DIR):
        parser.error(f"{args.command} writes the zoo beside the code, and {ZOO_DIR} is an installed copy's "
                     "(site-packages): run it in a clone of the repository (pip install -e . there)")
    try:
        if args.command == "list":
            return list_zoo()
        if args.command == "ship":
            config = read_config(args.run)
            ship(args.run, f"python run_sim.py --scenario {config.get('scenario')} --agent {config.get('agent')} --train "
                           f"--steps {config.get('total_steps')}  (shipped with python -m agents.zoo ship {args.run})")
            return 0
        if args.command == "score":
            import scoring
            from agents.zoo_report import score_zoo

            try:
                return score_zoo(args.suite, args.workers, args.run, args.resume, reports_dir=args.reports)
            except scoring.SuiteSetupError as err:
                parser.error(str(err))
        recipes = read_recipes()
        if args.agent not in recipes:
            parser.error(f"no recipes for {args.agent!r} in {RECIPES_FILE}; there are: {', '.join(recipes)}")
        names = list(recipes[args.agent]) if args.scenario == ["all"] else args.scenario
        unknown = [name for name in names if name not in recipes[args.agent]]
        if unknown:
            parser.error(f"no {args.agent} recipe for {', '.join(unknown)}; there are: {', '.join(recipes[args.agent])}")
        from perception.device import resolve_device
        from scoring.ray_backend import RayUnavailableError

        if not 1 <= args.workers <= 256:
            parser.error(f"--workers must be from 1 to 256, got {args.workers}")
        try:
            return train(args.agent, names, recipes, resolve_device(args.device), args.resume, args.workers, args.ray)
        except RayUnavailableError as err:
            parser.error(str(err))
    except (AgentError, ScenarioError) as err:  # a bad checkpoint, run or catalog file: one line
        parser.error(str(err))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
