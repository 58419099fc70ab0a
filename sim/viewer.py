"""The inspection viewer: plays episodes step by step and composes, for every step, the scene,
the agent's input frames, perception's estimate against the truth, the action values, the
reward terms and the running metrics (sim/viewer_draw.py draws them).

    viewer = Viewer(env, agent, seeds=range(3), title=title_for("merge", "dqn", hash), sink=recorder.add,
                    window=Window(...), interactive=True, log=Replay(...))
    records = viewer.run()

The agent is anything with reset(), act(obs, deterministic) and, optionally,
action_values(obs) or action_probabilities(obs) (None: the chart says n/a); the viewer never
asks which agent it is. With replay=Replay(...) there is no agent: the recorded actions and
values are fed back, and the frames come out identical (tests/sim/test_replay.py).

Keys (interactive=True, read from pygame's event queue): space pause/resume, right arrow one
step while paused, r restart the episode (same seed), n next episode, +/- playback speed,
s screenshot PNG, q/Esc or closing the window quit. Recorded frames (sink) are one per reset
and one per env step, like sim.rollout.play_episodes: a paused screen adds none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from sim.camera import CameraConfig, camera_view
from sim.truth import to_ego_frame
from sim.replay import Replay, ReplayEpisode
from sim.viewer_draw import ViewState, compose, speed_of

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # playback speed multipliers (window only)
PAUSED_FPS = 30  # how often a paused window reads keys


def title_for(scenario: str, agent: str, checkpoint_hash: str | None = None) -> str:
    """The title line: the same for a run and its replay."""
    return f"{scenario}  /  {agent}" + (f"  (checkpoint {checkpoint_hash})" if checkpoint_hash else "")


def encoder_perception(camera: CameraConfig | None = None, weights: str | None = None) -> Callable | None:
    """perceive(frames (C, H, W) uint8, view) -> (S, 6) in the camera's frame, from perception
    weights (default: the shipped ones for that camera) that read `camera`'s frames, or None when
    they are not installed or read another camera (the overlay then shows the truth only)."""
    try:
        from perception.weights import DEFAULT_WEIGHTS, PERCEPTION_WEIGHTS, load_encoder

        ours = camera is not None and camera.renderer == "world-state"
        encoder = load_encoder(weights or (PERCEPTION_WEIGHTS if ours else DEFAULT_WEIGHTS)).eval()
        if camera is not None:
            encoder.check_camera(camera)
    except (ImportError, OSError, ValueError):
        return None
    return lambda frames, view: encoder.predict_truth(frames[None], view)[0]


class Viewer:
    def __init__(self, env, policy=None, seeds: Iterable[int] = (), *, replay: Replay | None = None, title: str = "",
                 sink: Callable[[np.ndarray], Any] | None = None, window=None, interactive: bool = False,
                 perceive: Callable | None = None, camera: CameraConfig | None = None,
                 screenshot_dir: str | Path = ".", log: Replay | None = None,
                 on_episode: Callable[[dict], None] | None = None) -> None:
        if (policy is None) == (replay is None):
            raise ValueError("Viewer needs a policy or a replay, not both")
        self.env, self.policy, self.replay = env, policy, replay
        self.seeds = [e.seed for e in replay.episodes] if replay is not None else list(seeds)
        self.title, self.sink, self.window, self.interactive = title, sink, window, interactive
        camera = camera or getattr(env, "camera", None) or CameraConfig()
        self.perceive, self.camera, self.screenshot_dir = perceive, camera, Path(screenshot_dir)
        self.log, self.on_episode = log, on_episode
        unwrapped = env.unwrapped
        actions = getattr(getattr(unwrapped, "action_type", None), "actions", None)
        self.action_names = [actions[i] for i in sorted(actions)] if isinstance(actions, dict) else []
        self.fps = float(unwrapped.config["policy_frequency"])
        self.view = camera_view(camera, unwrapped.config.get("centering_position", (0.3, 0.5)))
        self.value_kind = replay.value_kind if replay is not None else "action values"
        self.paused = self.quit = self.finished = False
        self.speed = 1.0
        self.steps = 0  # env steps taken in this run (all episodes): what pausing holds
        self.starts = 0  # episodes started, restarts included
        self.records: list[dict] = []
        self.screenshots: list[Path] = []
        self.last_frame: np.ndarray | None = None
        self._index = 0
        self._single = False
        self._pending: str | None = None

    # ---- the loop ----------------------------------------------------------------------
    def run(self) -> list[dict]:
        """Play until every episode is done or the user quits; returns the finished episodes' metrics."""
        while self.tick():
            pass
        return self.records

    def tick(self) -> bool:
        """Read the keys, then do one thing: start an episode, take one step, or wait while
        paused. False once the run is over."""
        if self.finished:
            return False
        self.handle_events()
        if self.quit:
            self.finished = True
            return False
        if self.starts == 0 or self._pending or self.done:
            self._next_episode()
        elif self.paused and not self._single:
            self._show(self.last_frame, PAUSED_FPS)
        else:
            self._single = False
            self.step()
        return not self.finished

    def _next_episode(self) -> None:
        if self.starts and self._pending != "restart":
            self._index += 1
        self._pending = None
        if self._index >= len(self.seeds):
            self.finished = True
        else:
            self.start(self.seeds[self._index])

    def start(self, seed: int) -> None:
        if self.policy is not None:
            self.policy.reset()
        self.episode = self.replay.episodes[self._index] if self.replay is not None else ReplayEpisode(seed)
        if self.log is not None and self.replay is None:
            self.log.episodes.append(self.episode)
        self.starts += 1
        self.obs, self.info = self.env.reset(seed=seed)
        self.seed, self.t, self.done, self.outcome, self.episode_return = seed, 0, False, None, 0.0
        self.step_rewards, self.episode_rewards = {}, {}
        self.values, self.action = None, None
        self._emit()

    def step(self) -> None:
        """One env step with the agent's (or the replay's) action."""
        if self.replay is not None:
            if self.t >= len(self.episode.actions):  # the recorded episode was cut short here
                self.done = True
                return
            action, self.values = self.episode.action(self.t), self.episode.value(self.t)
        else:
            self.values = self._agent_values(self.obs)
            action = self.policy.act(self.obs, deterministic=True)
            self.episode.add(action, self.values)
        self.action = action
        self.obs, reward, terminated, truncated, self.info = self.env.step(action)
        self.t += 1
        self.steps += 1
        self.episode_return += float(reward)
        self.step_rewards = {k: float(v) for k, v in self.info.get("rewards", {}).items()}
        for term, value in self.step_rewards.items():
            self.episode_rewards[term] = self.episode_rewards.get(term, 0.0) + value
        self.done = terminated or truncated
        if self.done:
            self.episode.complete = True
            record = dict(self.info.get("episode", {}), seed=self.seed)
            self.outcome = record.get("outcome")
            self.records.append(record)
            if self.on_episode is not None:
                self.on_episode(record)
        self._emit()

    def _agent_values(self, obs) -> np.ndarray | None:
        for method, kind in (("action_values", "action values"), ("action_probabilities", "action probabilities")):
            values = getattr(self.policy, method, lambda _obs: None)(obs)
            if values is not None:
                self.value_kind = kind
                if self.log is not None:
                    self.log.value_kind = kind
                return np.asarray(values)
        return None

    # ---- keys --------------------------------------------------------------------------
    def handle_events(self) -> None:
        if not self.interactive:
            return
        import pygame

        if not pygame.display.get_init():  # e.g. after env.close(): highway-env calls pygame.quit()
            return
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                self.quit = True
            elif event.type == pygame.KEYDOWN:
                self.key(event.key, getattr(event, "unicode", ""))

    def key(self, key: int, char: str = "") -> None:
        import pygame

        if key in (pygame.K_q, pygame.K_ESCAPE):
            self.quit = True
        elif key == pygame.K_SPACE:
            self.paused = not self.paused
        elif key == pygame.K_RIGHT and self.paused:
            self._single = True
        elif key == pygame.K_r:
            self._pending = "restart"
        elif key == pygame.K_n:
            self._pending = "next"
        elif key in (pygame.K_PLUS, pygame.K_KP_PLUS, pygame.K_EQUALS) or char == "+":
            self.speed = SPEEDS[min(SPEEDS.index(self.speed) + 1, len(SPEEDS) - 1)]
        elif key in (pygame.K_MINUS, pygame.K_KP_MINUS) or char == "-":
            self.speed = SPEEDS[max(SPEEDS.index(self.speed) - 1, 0)]
        elif key == pygame.K_s:
            self.screenshot()
        if self.paused and self.last_frame is not None and not self.quit:
            self.last_frame = compose(self.state())  # show the new status at once

    def screenshot(self) -> Path | None:
        if self.last_frame is None:
            return None
        from PIL import Image

        self.screenshot_dir.mkdir(parents=True, exist_ok=True)
        path = self.screenshot_dir / f"viewer-seed{self.seed}-ep{self.starts}-step{self.t}.png"
        Image.fromarray(self.last_frame).save(path)
        self.screenshots.append(path)
        print(f"screenshot: {path}")
        return path

    # ---- frames ------------------------------------------------------------------------
    def state(self) -> ViewState:
        camera = self.info.get("camera")
        if camera is None and isinstance(self.obs, np.ndarray) and self.obs.dtype == np.uint8 and self.obs.ndim == 3:
            camera = self.obs  # obs="camera": the observation is the frame stack
        fits = camera is not None and tuple(camera.shape) == self.camera.shape
        predicted = self.perceive(camera, np.asarray(self.view, np.float32)) if fits and self.perceive else None
        truth = self.info.get("truth")
        in_frame = to_ego_frame(truth) if truth is not None and self.camera.frame == "ego" else truth
        status = ""
        if self.interactive:
            status = f"PAUSED  (x{self.speed:g})  right arrow steps" if self.paused else f"playing x{self.speed:g}"
        return ViewState(
            scene=self.env.render(), title=self.title, camera=camera, truth=in_frame, predicted=predicted,
            view=self.view if fits else None, camera_scaling=self.camera.scaling, camera_frame=self.camera.frame,
            scene_frames=self.camera.stack, values=self.values,
            value_kind=self.value_kind, action_names=self.action_names, chosen=self.action,
            step_rewards=self.step_rewards, episode_rewards=self.episode_rewards, episode_return=self.episode_return,
            speed=speed_of(truth) if truth is not None else 0.0, time=self.t / self.fps, step=self.t,
            episode=self.starts - 1, seed=self.seed, outcome=self.outcome, status=status,
        )

    def _emit(self) -> None:
        if self.sink is None and self.window is None and not self.interactive:
            return  # nothing shows or records: just play (and log)
        self.last_frame = compose(self.state())
        if self.sink is not None:
            self.sink(self.last_frame)
        self._show(self.last_frame, self.fps * self.speed)

    def _show(self, frame: np.ndarray | None, fps: float) -> None:
        if self.window is not None and frame is not None:
            if not self.window.show(frame, handle_events=False, fps=fps):
                self.quit = True
