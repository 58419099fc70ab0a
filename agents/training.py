"""What every training loop shares: the vector env, held-out evaluation, the run folder's
bookkeeping (metrics.json, last/ and best checkpoints), Ctrl-C/SIGTERM as a stop request, the
progress bar. Env seeds come from the seed plan (scenarios/seeds.py): training workers from
training_env_seeds, held-out evaluations from validation_seeds, never an evaluation seed.

Layout of a run folder (runs/<scenario>/<agent>/<run>/):
    model.pt, config.json   the best checkpoint so far (by mean driving score on the validation episodes)
    last/                   the latest state, for --resume (also written on Ctrl-C / SIGTERM)
    metrics.json            every evaluation
    metrics.png             the evaluations as a chart (agents/curves.py), redrawn after each
    events.*                TensorBoard curves
"""

from __future__ import annotations

import contextlib
import signal
import time
import warnings
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from stable_baselines3.common.vec_env import VecEnvWrapper

import scenarios
from agents.base import AgentError
from scenarios.fields import FieldError, check_fields, integer, number
from scenarios.load import LARGE_FILE_BYTES, LoadError, read_json
from scenarios.seeds import training_env_seeds, validation_seeds
from sim import make_env, make_vec_env
from sim.files import atomic_write, write_json_atomic
from sim.rollout import play_episodes
from sim.score import TTC_THRESHOLD, score_episode
from sim.table import summary

TTC_MARGIN = 2 * TTC_THRESHOLD  # [s] the TTC below which ttc_penalty shaping starts (VecTrainingShaping)

# How often and how long a run evaluates, unless told; a resumed run keeps its own (config.json "evaluation").
EVALUATION_DEFAULTS = {"eval_every": 5_000, "eval_episodes": 20}


def training_vec_env(scenario: str, n_envs: int, obs: str, run_seed: int | None, start_step: int,
                     crash_penalty: float = 0.0, encoder=None, engine: str = "highway-env",
                     progress_reward: float = 0.0, ttc_penalty: float = 0.0):
    """The vector env a training loop learns on: worker seeds from the seed plan for (run seed,
    the step it starts at), so a resumed run does not replay its first episodes; training-only
    reward shaping (VecTrainingShaping) when crash_penalty, progress_reward or ttc_penalty is not 0. engine:
    "highway-env" (subprocess workers) or "envpool" (one EnvPool on threads); held-out
    evaluations run on highway-env."""
    seeds = training_env_seeds(run_seed or 0, start_step, n_envs)
    venv = make_vec_env(scenario, n_envs, obs=obs, seeds=seeds, encoder=encoder, engine=engine)
    if not (crash_penalty or progress_reward or ttc_penalty):
        return venv
    return VecTrainingShaping(venv, crash_penalty, progress_reward, ttc_penalty)


def check_training_engine(engine: str, obs: str, encoder: str) -> None:
    """Refuse, before anything is built, what an engine cannot train on (and weights that are not there)."""
    from perception.weights import CAMERA_WEIGHTS, WeightsError, load_encoder
    from scenarios.engines import ENGINES

    if engine not in ENGINES:
        raise AgentError(f"unknown engine {engine!r}; valid engines: {', '.join(ENGINES)}")
    if obs != "features":
        return
    try:
        camera = load_encoder(encoder).config.camera_config
    except WeightsError as err:
        raise AgentError(f"encoder {encoder!r}: {err}") from None
    if engine == "envpool" and camera.renderer != "world-state":
        raise AgentError(f"encoder {encoder!r} reads highway-env's own camera, which EnvPool cannot draw; on --engine "
                         f"envpool train on the world-state camera's features with --set encoder={CAMERA_WEIGHTS} "
                         "(or --set obs=camera / obs=kinematics)")


def evaluate(policy, scenario: str | scenarios.Scenario, obs: str, episodes: int, encoder=None) -> dict:
    """Greedy episodes on the plan's validation seeds (the same ones at every evaluation):
    success / collision rates, mean return and speed, and the mean driving score (sim/score.py)."""
    env = make_env(scenario, obs=obs, encoder=encoder)
    try:
        records = play_episodes(env, policy, validation_seeds(episodes))
    finally:
        env.close()
    result = summary(records)
    result["mean_driving_score"] = float(np.mean([score_episode(r).driving_score for r in records]))
    return result


# The fields of an evaluation that choosing the best checkpoint (evaluation_rank) and the zoo read;
# optional: absent from runs older than them. A NaN score would never rank, a string would crash.
EVALUATION = {"steps": integer(), "success_rate": number(0, 1), "mean_return": number()}
EVALUATION_OPTIONAL = {"mean_driving_score": number(), "collision_rate": number(0, 1), "mean_speed": number(),
                       "train_seconds": number(0), "episodes": integer(1)}


def read_history(path: Path) -> list[dict]:
    """A run's metrics.json: its evaluations, oldest first ([] before the first). A corrupt one is an
    AgentError naming it and the field, not a traceback when --resume starts or the zoo ships the run."""
    try:
        history = read_json(path, max_bytes=LARGE_FILE_BYTES, max_values=None)  # bounded by its size
    except FileNotFoundError:
        return []
    except (LoadError, OSError) as err:  # not JSON, or a FIFO, too big, too deep (scenarios/load.py)
        raise AgentError(f"{path} is corrupt: {getattr(err, 'reason', None) or err.strerror or err}") from None
    if not isinstance(history, list):
        raise AgentError(f"{path} is corrupt: expected a JSON list of evaluations")
    try:
        for i, evaluation in enumerate(history):
            check_fields(evaluation, EVALUATION, EVALUATION_OPTIONAL, where=f"evaluation {i}: ")
    except FieldError as err:
        raise AgentError(f"{path} is corrupt: {err}") from None
    return history


def evaluation_rank(result: dict) -> tuple:
    """How evaluations on the validation seeds compare: by mean driving score. The best checkpoint
    of a run, the zoo's best seed, the manifest's held-out record and its default all rank by it.
    Evaluations from before the score was recorded (old runs' metrics.json, resumed) rank below any
    that has one, and among themselves as they were chosen: by success rate, then return."""
    if "mean_driving_score" in result:
        return 1, result["mean_driving_score"]
    return 0, result.get("success_rate", -1.0), result.get("mean_return", float("-inf"))


class RunFolder:
    """A run folder's evaluation history and checkpoints; reloads both on --resume."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir)
        self.path.mkdir(parents=True, exist_ok=True)
        self.history_file = self.path / "metrics.json"
        self.chart_file = self.path / "metrics.png"
        self.history: list[dict] = read_history(self.history_file)
        self.best = max((self._rank(h) for h in self.history), default=(-1,))
        self._chart_warned = False

    _rank = staticmethod(evaluation_rank)

    def record(self, agent, result: dict) -> bool:
        """Append an evaluation, save last/ and, if it is the best so far, the top-level checkpoint;
        then redraw metrics.png."""
        self.history.append(result)
        write_json_atomic(self.history_file, self.history)
        agent.save(self.path / "last")
        best = self._rank(result) > self.best
        if best:
            self.best = self._rank(result)
            agent.save(self.path)
        self.draw(agent)
        return best

    def draw(self, agent) -> None:
        """Rewrite metrics.png from the history. A chart that cannot be drawn or written (full disk,
        a folder in its place) must not end hours of training: one warning, then the run goes on."""
        from agents.curves import curves_png

        names = (getattr(agent, "scenario", None), getattr(agent, "name", None), self.path.name)
        title = " / ".join(str(n) for n in names if n).replace("$", r"\$")  # '$' would start matplotlib's mathtext
        try:
            png = curves_png(self.history, title)
            atomic_write(self.chart_file, lambda out: out.write(png))
        except Exception as err:  # noqa: BLE001  metrics.json, written before, holds every number
            if not self._chart_warned:
                self._chart_warned = True
                reason = getattr(err, "strerror", None) or f"{type(err).__name__}: {err}"
                warnings.warn(f"cannot write {self.chart_file}: {reason}; training goes on, metrics.json has "
                              "every evaluation (this warning is not repeated)", RuntimeWarning, stacklevel=2)

    def save_interrupted(self, agent, steps: int) -> None:
        agent.save(self.path / "last")
        print(f"interrupted at step {steps}: saved {self.path / 'last'}; continue with --resume --run {self.path.name}")


class TrainingClock:
    """The wall-clock of learning alone [s], evaluations excluded, kept in agent.train_seconds
    so that it continues across interruptions and resumes."""

    def __init__(self, agent) -> None:
        self.agent, self.base = agent, agent.train_seconds
        self.start, self.excluded = time.perf_counter(), 0.0

    def tick(self) -> float:
        self.agent.train_seconds = round(self.base + time.perf_counter() - self.start - self.excluded, 1)
        return self.agent.train_seconds

    @contextlib.contextmanager
    def paused(self):
        began = time.perf_counter()
        try:
            yield
        finally:
            self.excluded += time.perf_counter() - began


@contextlib.contextmanager
def stop_requests():
    """Ctrl-C and SIGTERM set a flag that the loop checks between steps, instead of raising.

    An exception raised mid-way through the vector env's send/receive would leave a worker's
    reply unread, and closing the workers would then wait for it forever.
    """
    stop = {"requested": False}

    def request_stop(signum, frame):
        stop["requested"] = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def progress_bar(agent: str, scenario: str, total: int, completed: int, enabled: bool = True) -> tuple[Progress, int]:
    """A rich progress bar for training (steps, steps/s, recent return and crash rate, ETA) and its task id.

    Update it with bar.update(task, completed=steps, sps=..., ret=..., crash=...).
    """
    columns = [TextColumn(f"{agent} {scenario}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
               TextColumn("{task.fields[sps]:.0f} sps  return {task.fields[ret]:.2f}  crash {task.fields[crash]:.0%}"),
               TimeRemainingColumn()]
    bar = Progress(*columns, disable=not enabled)
    task = bar.add_task("train", total=total, completed=completed, sps=0.0, ret=0.0, crash=0.0)
    return bar, task


class VecTrainingShaping(VecEnvWrapper):
    """Training-only reward shaping; evaluation, info["episode"] (returns, outcomes) and
    TensorBoard's episode returns keep the scenario's own reward.

    crash_penalty [reward]: subtracted from the last reward of an episode that ends in a collision
        or off the road (info["episode"]["outcome"], sim/metrics.py). highway-env's rewards are
        normalised to [0, 1] per step, so a crash only costs the rewards that would have followed:
        with gamma 0.8 a 5% risk per step is worth 5 m/s more speed on highway. The penalty makes
        safety dominate.
    progress_reward [reward per route]: added in proportion to the route progress gained at each
        step (info["route_progress"], the share of the reference distance: what the driving
        score's progress measures), so that waiting (roundabout, intersection) earns nothing
        and covering the whole route earns progress_reward.
    ttc_penalty [reward per step]: subtracted at each driving step in proportion to how far the
        time-to-collision along the ego's path (info["ttc"], sim/metrics.py) is below TTC_MARGIN:
        all of it at contact, none at TTC_MARGIN or more. The score counts an episode as unsafe
        once that TTC falls below sim.score.TTC_THRESHOLD; the margin, twice that, asks for
        headway before the score's line is crossed.
    """

    FAILURES = ("collision", "offroad")

    def __init__(self, venv, penalty: float = 0.0, progress_reward: float = 0.0, ttc_penalty: float = 0.0) -> None:
        super().__init__(venv)
        self.penalty, self.progress_reward, self.ttc_penalty = float(penalty), float(progress_reward), float(ttc_penalty)
        self._progress = np.zeros(venv.num_envs)  # each env's route progress after its last step

    def reset(self):
        self._progress[:] = 0.0
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        failed = np.array([bool(done) and info.get("episode", {}).get("outcome") in self.FAILURES
                           for done, info in zip(dones, infos)])
        progress = np.array([info.get("route_progress", last) for info, last in zip(infos, self._progress)])
        gained = np.maximum(progress - self._progress, 0.0)
        self._progress = np.where(dones, 0.0, progress)  # the next step starts a new episode
        ttc = np.array([info.get("ttc", np.inf) for info in infos])
        short = np.clip(1.0 - ttc / TTC_MARGIN, 0.0, 1.0)  # 0 beyond the margin (and when not closing: inf)
        shaped = rewards - self.penalty * failed + self.progress_reward * gained - self.ttc_penalty * short
        return obs, shaped.astype(rewards.dtype), dones, infos
