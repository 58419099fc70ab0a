"""The viewer's picture: one pure function, compose(ViewState) -> (H, W, 3) uint8.

Everything drawn comes from the ViewState, so the same state always gives the same pixels
(replays rely on it: tests/sim/test_replay.py compares frames bitwise). Layout:

    +---------------------------------------------------------------+
    | title line                                                    |
    | highway-env scene (scaled to the canvas width)  [outcome]     |
    +--------------------+--------------------+---------------------+
    | agent input frames | action values      | reward terms        |
    | perception overlay |  (chosen: yellow)  | speed, time, step   |
    +--------------------+--------------------+---------------------+
    | controls                                                      |
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

CANVAS_WIDTH = 960  # [px]
SCENE_MAX_HEIGHT = 320  # [px]
PANEL_HEIGHT = 330  # [px]
TITLE_HEIGHT = 24  # [px]
CONTROLS_HEIGHT = 24  # [px]
BACKGROUND = (24, 26, 30)
PANEL = (36, 39, 45)
TEXT = (225, 225, 225)
DIM = (140, 144, 150)
TRUTH_COLOUR = (60, 220, 90)
PREDICTED_COLOUR = (255, 80, 60)
BAR = (90, 140, 220)
CHOSEN = (250, 200, 40)
OUTCOME_COLOURS = {"success": (40, 160, 70), "collision": (200, 50, 40), "offroad": (200, 120, 30), "timeout": (90, 90, 160)}
CONTROLS = "space pause/resume   right-arrow step (paused)   r restart   n next   +/- speed   s screenshot   q/Esc quit"
VEHICLE_SIZE = (5.0, 2.0)  # [m] highway-env's default vehicle length, width
PERCEPTION_ZOOM = 2  # camera frame upscaling in the perception panel


@dataclass
class ViewState:
    """What one composed frame shows (all plain data, no env or agent)."""

    scene: np.ndarray  # (H, W, 3) uint8: env.render()
    title: str = ""
    camera: np.ndarray | None = None  # (C, H, W) uint8 frames as the agent got them, oldest first
    truth: np.ndarray | None = None  # (N+1, 6) sim.truth layout
    predicted: np.ndarray | None = None  # (S, 6) perception's estimate, same layout
    view: tuple[float, float, float, float] | None = None  # camera ground bounds [m] (sim.camera.camera_view)
    camera_scaling: float = 1.75  # [px/m]
    camera_frame: str = "world"  # sim.camera.FRAMES: truth and predicted are in this frame
    scene_frames: int | None = None  # how many of the camera's channels are scene frames (the rest: route)
    values: np.ndarray | None = None  # (A,) action values or probabilities
    value_kind: str = "action values"
    action_names: list[str] = field(default_factory=list)
    chosen: object = None  # the action taken (int for discrete actions)
    step_rewards: dict = field(default_factory=dict)
    episode_rewards: dict = field(default_factory=dict)
    episode_return: float = 0.0
    speed: float = 0.0  # [m/s]
    time: float = 0.0  # [s] simulated
    step: int = 0
    episode: int = 0
    seed: int = 0
    outcome: str | None = None
    status: str = ""


_FONTS: dict[int, object] = {}


def _font(size: int):
    import pygame

    if not pygame.font.get_init():
        pygame.font.init()
    if size not in _FONTS:
        _FONTS[size] = pygame.font.Font(None, size)  # pygame's bundled font: same pixels everywhere
    return _FONTS[size]


def _text(surface, text: str, pos: tuple[int, int], colour=TEXT, size: int = 20) -> int:
    """Draw one line; returns its height."""
    image = _font(size).render(text, True, colour)
    surface.blit(image, pos)
    return image.get_height()


def layout(scene_shape: tuple[int, ...]) -> dict:
    """Panel rectangles (x, y, w, h) for a scene of shape (H, W, 3)."""
    h, w = scene_shape[:2]
    zoom = min(CANVAS_WIDTH / w, SCENE_MAX_HEIGHT / h)
    scene_w, scene_h = int(w * zoom), int(h * zoom)
    top = TITLE_HEIGHT
    panels_y = top + scene_h + 6
    third = (CANVAS_WIDTH - 24) // 3
    return {
        "size": (CANVAS_WIDTH, panels_y + PANEL_HEIGHT + CONTROLS_HEIGHT),
        "scene": ((CANVAS_WIDTH - scene_w) // 2, top, scene_w, scene_h),
        "camera": (6, panels_y, third, PANEL_HEIGHT),
        "actions": (12 + third, panels_y, third, PANEL_HEIGHT),
        "metrics": (18 + 2 * third, panels_y, third, PANEL_HEIGHT),
        "controls": (0, panels_y + PANEL_HEIGHT, CANVAS_WIDTH, CONTROLS_HEIGHT),
    }


def compose(state: ViewState) -> np.ndarray:
    """The viewer frame for `state`, (H, W, 3) uint8."""
    import pygame

    _FONTS.clear()  # fonts per frame: highway-env's pygame.quit()/init() invalidates older ones
    boxes = layout(state.scene.shape)
    canvas = pygame.Surface(boxes["size"])
    canvas.fill(BACKGROUND)
    _text(canvas, state.title, (8, 4))
    if state.status:
        image = _font(20).render(state.status, True, CHOSEN)
        canvas.blit(image, (CANVAS_WIDTH - image.get_width() - 8, 4))
    _draw_scene(canvas, state, boxes["scene"])
    for name in ("camera", "actions", "metrics"):
        pygame.draw.rect(canvas, PANEL, boxes[name])
    _draw_camera(canvas, state, boxes["camera"])
    _draw_actions(canvas, state, boxes["actions"])
    _draw_metrics(canvas, state, boxes["metrics"])
    x, y, _, _ = boxes["controls"]
    _text(canvas, CONTROLS, (x + 8, y + 5), DIM, 18)
    return pygame.surfarray.array3d(canvas).swapaxes(0, 1).copy()


def _surface(rgb: np.ndarray):
    import pygame

    return pygame.surfarray.make_surface(np.ascontiguousarray(rgb.swapaxes(0, 1)))


def _draw_scene(canvas, state: ViewState, box) -> None:
    import pygame

    x, y, w, h = box
    canvas.blit(pygame.transform.scale(_surface(state.scene), (w, h)), (x, y))
    if state.outcome:
        colour = OUTCOME_COLOURS.get(state.outcome, DIM)
        banner = _font(40).render(f"{state.outcome.upper()}   return {state.episode_return:.2f}", True, TEXT)
        bw, bh = banner.get_width() + 40, banner.get_height() + 16
        rect = pygame.Rect(x + (w - bw) // 2, y + (h - bh) // 2, bw, bh)
        pygame.draw.rect(canvas, colour, rect)
        canvas.blit(banner, (rect.x + 20, rect.y + 8))


def _draw_camera(canvas, state: ViewState, box) -> None:
    import pygame

    x, y, w, h = box
    bottom = y + h
    if state.camera is None:
        _text(canvas, "agent input: no camera input", (x + 6, y + 6))
        _text(canvas, "(kinematics observation)", (x + 6, y + 28), DIM, 18)
        return
    stack, rows, cols = state.camera.shape
    y += 4 + _text(canvas, f"agent input: {stack} x {rows} x {cols} (as received)", (x + 6, y + 4), TEXT, 18)
    gap = 4
    shrink = min(1.0, (w - 12) / (stack * (cols + gap)))  # five ego frames are wider than the panel
    size = (max(int(cols * shrink), 1), max(int(rows * shrink), 1))
    for i, frame in enumerate(state.camera):  # raw orientation, as the agent got it
        grey = _surface(np.repeat(frame[:, :, None], 3, axis=2))
        canvas.blit(pygame.transform.scale(grey, size) if shrink < 1 else grey, (x + 6 + i * (size[0] + gap), y))
    y += size[1] + 6
    label_x = x + 6
    for text, colour in (("perception: ", TEXT), ("truth (boxes)  ", TRUTH_COLOUR), ("predicted (crosses)", PREDICTED_COLOUR)):
        _text(canvas, text, (label_x, y), colour, 18)
        label_x += _font(18).size(text)[0]
    y += 2 + _font(18).get_height()
    # Latest scene frame; a world-frame one turned so that world x runs right, as in the scene above.
    latest = state.camera[(state.scene_frames or len(state.camera)) - 1]
    ego_frame = state.camera_frame == "ego"
    latest = latest if ego_frame else latest.T  # world frame (W, H): rows = world y, columns = world x
    zoom = max(1, min(PERCEPTION_ZOOM, (bottom - y - 4) // latest.shape[0]))  # a tall ego frame fits the panel
    grey = np.repeat(np.repeat(np.repeat(latest[:, :, None], 3, axis=2), zoom, axis=0), zoom, axis=1)
    origin = (x + 6, y)
    canvas.blit(_surface(grey), origin)
    if state.view is None:
        return
    clip = pygame.Rect(origin, (grey.shape[1], grey.shape[0]))
    scale = state.camera_scaling * zoom  # [px/m]

    def box_at(dx: float, dy: float) -> pygame.Rect:
        length, width = VEHICLE_SIZE[0] * scale, VEHICLE_SIZE[1] * scale
        if ego_frame:  # x forward runs up the rows from view[0] (the top), y right along the columns
            px, py = origin[0] + (dy - state.view[2]) * scale, origin[1] + (state.view[0] - dx) * scale
            return pygame.Rect(round(px - width / 2), round(py - length / 2), round(width), round(length))
        px = origin[0] + (dx - state.view[0]) * scale
        py = origin[1] + (dy - state.view[2]) * scale
        return pygame.Rect(round(px - length / 2), round(py - width / 2), round(length), round(width))

    if state.truth is not None:
        for row in state.truth[1:]:
            if row[0] > 0:
                rect = box_at(row[1], row[2])
                if clip.colliderect(rect):
                    pygame.draw.rect(canvas, TRUTH_COLOUR, rect.clip(clip), 2)
    if state.predicted is not None:
        for row in state.predicted[1:]:
            if row[0] > 0:
                rect = box_at(row[1], row[2])
                if clip.collidepoint(rect.center):
                    pygame.draw.line(canvas, PREDICTED_COLOUR, rect.topleft, rect.bottomright, 2)
                    pygame.draw.line(canvas, PREDICTED_COLOUR, rect.bottomleft, rect.topright, 2)


def _draw_actions(canvas, state: ViewState, box) -> None:
    import pygame

    x, y, w, _ = box
    y += 4 + _text(canvas, state.value_kind if state.values is not None else "action values: n/a", (x + 6, y + 4))
    names = state.action_names or ([f"action {i}" for i in range(len(state.values))] if state.values is not None else [])
    values = None if state.values is None else np.asarray(state.values, dtype=np.float64)
    bar_x = x + 110
    bar_w = w - 110 - 60
    if values is not None and len(values):
        if "probabilit" in state.value_kind:
            low, high = 0.0, 1.0
        else:  # Q-values differ by little next to their size: the bars start below the smallest
            high = float(values.max())
            low = float(values.min()) - 0.5 * max(high - float(values.min()), 1e-3)
        span = (high - low) or 1.0
        zero = bar_x
    for i, name in enumerate(names):
        row_y = y + 6 + i * 30
        chosen = isinstance(state.chosen, (int, np.integer)) and int(state.chosen) == i
        _text(canvas, name[:12], (x + 6, row_y + 4), CHOSEN if chosen else TEXT, 18)
        if values is None or i >= len(values):
            continue
        end = bar_x + round((values[i] - low) / span * bar_w)
        rect = pygame.Rect(min(zero, end), row_y, max(abs(end - zero), 1), 22)
        pygame.draw.rect(canvas, CHOSEN if chosen else BAR, rect)
        _text(canvas, f"{values[i]:.2f}", (bar_x + bar_w + 6, row_y + 4), TEXT, 18)
    if not names and state.chosen is not None:  # continuous actions: just print them
        chosen = np.round(np.asarray(state.chosen, dtype=np.float64).ravel(), 2).tolist()
        _text(canvas, f"action {chosen}", (x + 6, y + 8), CHOSEN, 18)


def _draw_metrics(canvas, state: ViewState, box) -> None:
    x, y, w, _ = box
    lines = [
        f"episode {state.episode + 1}   seed {state.seed}",
        f"step {state.step}   time {state.time:.1f} s",
        f"speed {state.speed:.1f} m/s ({state.speed * 3.6:.0f} km/h)",
        f"return {state.episode_return:.2f}",
    ]
    y += 4
    for text in lines:
        y += 4 + _text(canvas, text, (x + 6, y))
    y += 8
    columns = (x + 6, x + w - 150, x + w - 70)  # term, this step, episode sum
    for text, column in zip(("reward terms", "step", "episode"), columns):
        _text(canvas, text, (column, y), DIM, 18)
    y += 22
    for term in sorted(set(state.step_rewards) | set(state.episode_rewards)):
        step = float(state.step_rewards.get(term, 0.0))
        total = float(state.episode_rewards.get(term, 0.0))
        for text, column in zip((term.removesuffix("_reward")[:18], f"{step:.2f}", f"{total:.2f}"), columns):
            _text(canvas, text, (column, y), TEXT, 18)
        y += 20


def speed_of(truth: np.ndarray) -> float:
    """Ego speed [m/s] from a truth array (row 0 holds the ego's absolute velocity)."""
    return float(math.hypot(truth[0, 3], truth[0, 4]))
