"""Where trained agents live, and the entry point that trains one.

    runs/<scenario>/<agent>/<run>/      a user's training runs (best checkpoint at the top level)
    zoo/<scenario>/<agent>/             checkpoints shipped with the repository
"""

from __future__ import annotations

import time
from pathlib import Path

from agents.base import AgentError, read_config

RUNS_DIR = Path("runs")
ZOO_DIR = Path(__file__).resolve().parents[1] / "zoo"


def runs_of(scenario: str, agent: str, runs_dir: Path = RUNS_DIR) -> list[Path]:
    """Run folders of (scenario, agent), oldest first."""
    folder = runs_dir / scenario / agent
    return sorted((p for p in folder.glob("*") if p.is_dir()), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []


def find_checkpoint(scenario: str, agent: str, runs_dir: Path = RUNS_DIR) -> Path | None:
    """The newest run's best checkpoint for (scenario, agent), else the shipped one; for a variant
    (highway-dense) without either, its base scenario's the same way; else None."""
    import scenarios

    for name in scenarios.lineage(scenario):  # a suite's own variant: its name only (callers try its base)
        for run in reversed(runs_of(name, agent, runs_dir)):
            if (run / "model.pt").exists():
                return run
        shipped = ZOO_DIR / name / agent
        if (shipped / "model.pt").exists():
            return shipped
    return None


def checkpoint_obs(path: Path) -> str:
    return read_config(path).get("obs", "features")


def train_agent(agent_class, scenario: str, steps: int | None, device, run: str | None, resume: bool,
                settings: dict, seed: int, runs_dir: Path = RUNS_DIR, engine: str | None = None,
                **learn_options) -> Path:
    """Train (or resume) an agent on a scenario; returns the run folder. engine: "highway-env"
    or "envpool" (default: highway-env, or the engine of the run being resumed)."""
    import scenarios
    from agents.training import EVALUATION_DEFAULTS
    from sim import make_env

    if not agent_class.trainable:
        raise AgentError(f"agent {agent_class.name!r} is not trainable")
    budget = steps or scenarios.get(scenario).budgets.train_steps
    if resume:
        runs = runs_of(scenario, agent_class.name, runs_dir)
        run_dir = (runs_dir / scenario / agent_class.name / run) if run else (runs[-1] if runs else None)
        if run_dir is None or not (run_dir / "last" / "model.pt").exists():
            raise AgentError(f"nothing to resume for {agent_class.name} on {scenario} (no runs/.../last checkpoint)")
        if settings:
            raise AgentError("--set cannot change a run being resumed (its schedule must stay the same)")
        obs = checkpoint_obs(run_dir / "last")
        from agents.checkpoint import checkpoint_encoder

        encoder = checkpoint_encoder(read_config(run_dir / "last"))
        agent = agent_class.load(run_dir / "last", make_env(scenario, obs=obs, encoder=encoder), device=device)
        total = steps or agent.total_steps or budget  # the interrupted run's budget keeps its schedule
    else:
        run_dir = runs_dir / scenario / agent_class.name / (run or time.strftime("%Y%m%d-%H%M%S"))
        if run_dir.exists():
            raise AgentError(f"run folder {run_dir} already exists; pick another --run or add --resume")
        config = agent_class.config_class.from_dict({**agent_class.default_settings(scenario), **settings})
        encoder = config.encoder if config.obs == "features" else None
        agent = agent_class(make_env(scenario, obs=config.obs, encoder=encoder), seed=seed, config=config, device=device,
                            scenario=scenario)
        total = budget
    agent.total_steps = total
    if resume and engine is not None and engine != agent.engine:
        raise AgentError(f"{run_dir} trains on --engine {agent.engine}; resume it there (or start a new run)")
    agent.engine = engine or agent.engine
    kept = agent.evaluation if resume else {}  # a resumed run evaluates as it did, unless told otherwise
    agent.evaluation = {key: learn_options.pop(key, None) or kept.get(key) or default
                        for key, default in EVALUATION_DEFAULTS.items()}
    agent.learn(total, run_dir=run_dir, engine=agent.engine, **agent.evaluation, **learn_options)
    return run_dir
