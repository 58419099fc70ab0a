"""Draws camera frames from WorldStates with OpenCV: the scene as highway-env draws it, and the route.

Scene: grey ground, white lane markings, vehicles as filled rectangles with two light headlights
and a dark outline, obstacles yellow; grey levels are highway-env's colours through its luma
weights, so a frame in the `world` frame looks like highway-env's GrayscaleObservation. The ego
is always green (highway-env colours it by class: yellow on the racetrack) and crashed vehicles
red. Points are placed with 1/16 px precision and edges antialiased, so that motion smaller than
a pixel between frames dt apart still changes the image.

Route: a band ROUTE_WIDTH wide along the route polyline on black; all black on open roads.
"""

from __future__ import annotations

import dataclasses
from math import floor

import cv2
import gymnasium as gym
import numpy as np

from sim.camera import LUMA_WEIGHTS, CameraConfig
from sim.raster_boxes import Corners
from sim.world import HISTORY, V, WorldState

SHIFT = 4  # fractional bits of OpenCV point coordinates: 1/16 px
ONE = 1 << SHIFT
MARGIN = 10.0  # [m] beyond the frame's half diagonal: vehicles reaching into view from outside are kept
SPILL = 2.0  # [m] beyond the frame's ground: a marking piece's half width and antialiasing reach less (1.5 px)
ROUTE_WIDTH = 2.0  # [m] the route band
MARKING_WIDTH = 0.3  # [m] highway-env's stripe width (at least 1 px)
# highway-env's RGB colours (road/graphics.py, vehicle/graphics.py)
GREY, WHITE, GREEN, BLUE, RED, YELLOW, OUTLINE = (100, 100, 100), (255, 255, 255), (50, 200, 0), (100, 200, 255), \
    (255, 100, 100), (200, 200, 0), (60, 60, 60)


def luma(rgb: tuple[int, int, int]) -> int:
    """highway-env's grey level of a colour: the weighted sum, truncated as its uint8 cast does."""
    return int(np.dot(rgb, LUMA_WEIGHTS))


def lighten(rgb: tuple[int, int, int]) -> tuple[int, ...]:
    return tuple(min(int(c / 0.68), 255) for c in rgb)  # highway-env's VehicleGraphics.lighten


class Rasteriser:
    """Frames of one camera contract. centering: the scenario's (row, column) shares of the ego in
    the `world` frame (highway-env's centering_position); the `ego` frame uses camera.ego_row."""

    def __init__(self, camera: CameraConfig, centering: tuple[float, float] = (0.5, 0.5)) -> None:
        if camera.renderer != "world-state":
            raise ValueError(f"the rasteriser draws the world-state camera, not {camera.renderer!r}")
        self.camera = camera
        self.centering = (float(centering[0]), float(centering[1]))
        s = camera.scaling
        self._reach = np.hypot(camera.height, camera.width) / s / 2 + MARGIN  # [m] culling radius
        self._marking_px = max(int(round(MARKING_WIDTH * s)), 1)
        self._route_px = max(int(round(ROUTE_WIDTH * s)), 1)
        self._cell = self._reach  # [m] grid cells of the markings' index: the view spans at most 3 x 3
        # [m] half extents (x, y) of the ground whose marking cells are drawn: the `world` frame's
        # rectangle (rows along x); any rotation's in the `ego` frame. A piece is indexed in every
        # cell it spans, so one reaching into view is in a cell that overlaps it.
        half_diagonal = np.hypot(camera.height, camera.width) / 2
        extents = (camera.height / 2, camera.width / 2) if camera.frame == "world" else (half_diagonal, half_diagonal)
        self._view = tuple(float(e / s + SPILL) for e in extents)
        self._index = None  # (road, cells, {cell range: pieces}): the markings of the last road, by grid cell
        self._world = None  # (M, b - 0.5, centre - origin): the `world` frame's constant parts of _affine
        self._moved = None  # (pieces, M, pieces @ M) of the last frame
        self._corners = Corners()  # vehicles' corner pixels, with what it keeps between frames
        self._objects = None  # (objects, their vehicle rows) of the last episode
        self._grey = {name: luma(rgb) for name, rgb in
                      dict(ground=GREY, marking=WHITE, outline=OUTLINE, obstacle=YELLOW).items()}
        # (body, headlight) grey levels
        self._body_grey = {kind: (luma(rgb), luma(lighten(rgb))) for kind, rgb in dict(ego=GREEN, other=BLUE, crashed=RED).items()}

    # --- geometry -------------------------------------------------------------------------
    def transform(self, world: WorldState) -> tuple[np.ndarray, np.ndarray]:
        """(A (2, 2), b (2,)): pixel (column, row) = A @ (point - ego position) + b, for the ego's
        pose in `world`."""
        cam, s = self.camera, self.camera.scaling
        if cam.frame == "world":  # rows along x, columns along y
            return np.array([[0.0, s], [s, 0.0]]), np.array([self.centering[1] * cam.width, self.centering[0] * cam.height])
        c, n = np.cos(world.ego[V["heading"]]), np.sin(world.ego[V["heading"]])
        # forward (c, n) goes up the rows, the ego's right (-n, c) along the columns
        return np.array([[-s * n, s * c], [-s * c, -s * n]]), np.array([cam.width / 2, cam.ego_row * cam.height])

    def _affine(self, world: WorldState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(M (2, 2), m (2,), centre (2,)): OpenCV fixed-point pixels = world point @ M + m, with
        pixel centres at integers; centre [m]: the ground at the frame's centre."""
        if self.camera.frame == "world":
            return self._world_affine(world)
        A, b = self.transform(world)
        origin = world.ego[:2].astype(np.float64)
        mid = np.array([self.camera.width / 2, self.camera.height / 2])
        centre = origin + A.T @ (mid - b) / self.camera.scaling**2  # A is the zoom times a rotation (or swap)
        return A.T * ONE, (b - 0.5 - origin @ A.T) * ONE, centre

    def _world_affine(self, world: WorldState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """_affine in the `world` frame, where only the translation changes: M is kept, and m and
        centre are the same float64 sums in Python floats (A swaps x and y: each product has one
        nonzero term, so `origin @ A.T` is exactly (y s, x s)); ~1 us instead of ~8."""
        if self._world is None:
            A, b = self.transform(world)
            mid = np.array([self.camera.width / 2, self.camera.height / 2])
            self._world = (A.T * ONE, (b - 0.5).tolist(), (A.T @ (mid - b) / self.camera.scaling**2).tolist())
        M, (b0, b1), (d0, d1) = self._world
        x, y, s = float(world.ego[0]), float(world.ego[1]), self.camera.scaling
        return M, np.array([(b0 - y * s) * ONE, (b1 - x * s) * ONE]), np.array([x + d0, y + d1])

    def _visible_segments(self, road, centre: np.ndarray) -> np.ndarray:
        """The marking pieces (K, 2, 2) in the grid cells that overlap the frame's ground around
        `centre` [m] (at most 3 x 3 cells, kept until the frame's centre moves to other cells; OpenCV clips what
        lies outside the frame)."""
        if self._index is None or self._index[0] is not road:
            self._index = (road, grid_index(road.segments, self._cell), {})
        _, cells, drawn = self._index
        x, y = centre.tolist()  # Python floats: four floors cost less than numpy's calls on a (2,) array
        (dx, dy), cell = self._view, self._cell
        key = (floor((x - dx) / cell), floor((y - dy) / cell), floor((x + dx) / cell), floor((y + dy) / cell))
        if key not in drawn:  # the pieces of these cells, kept while the ego stays in them
            near = [cells[c] for c in ((i, j) for i in range(key[0], key[2] + 1) for j in range(key[1], key[3] + 1))
                    if c in cells]
            drawn.clear()
            drawn[key] = road.segments[np.unique(np.concatenate(near))] if near else road.segments[:0]
        return drawn[key]

    def _marking_pixels(self, road, M: np.ndarray, m: np.ndarray, centre: np.ndarray) -> np.ndarray:
        """(K, 2, 2) int32 fixed-point pixels of the visible marking pieces: rint(pieces @ M + m).
        `pieces @ M` is kept while the pieces and M are (the `world` frame keeps one M: only m,
        the translation, changes between frames; it cannot be folded in as whole pixels, as m has
        1/16 px steps and a fraction)."""
        segments = self._visible_segments(road, centre)
        if self._moved is None or self._moved[0] is not segments or self._moved[1] is not M:
            self._moved = (segments, M, segments @ M)  # (K, 2, 2) float
        pixels = self._moved[2] + m
        return np.rint(pixels, out=pixels).astype(np.int32)

    # --- drawing --------------------------------------------------------------------------
    def scene(self, world: WorldState, pose: WorldState | None = None) -> np.ndarray:
        """(H, W) uint8 luminance of road, markings, obstacles, vehicles and ego of `world`, seen from
        the ego's pose in `pose` (default: in `world`; the camera's anchor "newest" passes the newest state)."""
        cam = self.camera
        image = np.full((cam.height, cam.width), self._grey["ground"], np.uint8)
        M, m, centre = self._affine(pose if pose is not None else world)
        segments = self._marking_pixels(world.road, M, m, centre)
        if len(segments):
            cv2.polylines(image, segments, False, self._grey["marking"], self._marking_px, cv2.LINE_AA, SHIFT)
        self._boxes(image, world.vehicles, world.objects, M, m, centre)
        return image

    def route(self, world: WorldState) -> np.ndarray:
        """(H, W) uint8: 255 on the route band, 0 elsewhere."""
        cam = self.camera
        image = np.zeros((cam.height, cam.width), np.uint8)
        if len(world.route) > 1:
            M, m, _ = self._affine(world)
            cv2.polylines(image, [np.rint(world.route @ M + m).astype(np.int32)], False, 255, self._route_px,
                          cv2.LINE_AA, SHIFT)
        return image

    def _boxes(self, image, vehicles: np.ndarray, objects: np.ndarray, M: np.ndarray, m: np.ndarray,
               centre: np.ndarray) -> None:
        """Obstacles, then vehicles, then the ego (vehicles row 0): rotated rectangles with, for
        vehicles, highway-env's two headlights, and 1 px outlines; those far from the frame are
        skipped, OpenCV clips the rest. The hot path: each numpy call costs 0.3-1.5 us on these few
        rows, about what OpenCV takes to draw them, so calls are few (the corners' arithmetic:
        sim/raster_boxes.py)."""
        away = np.abs(vehicles[:, :2] - centre)  # (N, 2) [m]
        near = np.maximum(away[:, 0], away[:, 1]) <= self._reach
        if np.count_nonzero(near) < len(near):  # count_nonzero: ~0.5 us against .all()'s ~1.5
            near[0] = True  # the ego stays row 0
            vehicles = vehicles[near]
        k = len(objects)
        if k:  # an obstacle's "headlights" are in its own colour: one code path for both
            vehicles = np.concatenate([vehicles[:1], self._object_rows(objects, vehicles.shape[1]), vehicles[1:]])
        pixels = self._corners(vehicles, M, m)  # (N, 3, 4, 2) int32: body, left and right headlight
        grey, rest = self._grey, pixels[1:]  # rest: obstacles, then the other vehicles
        if k:
            cv2.fillPoly(image, rest[:k, 0], grey["obstacle"], cv2.LINE_AA, SHIFT)
        if np.count_nonzero(vehicles[:, V["crashed"]]):  # 0 or 1
            crashed = vehicles[:, V["crashed"]] > 0
            layers = [(rest[k:][~crashed[1 + k:]], "other"), (rest[k:][crashed[1 + k:]], "crashed"),
                      (pixels[:1], "crashed" if crashed[0] else "ego")]
        else:
            layers = [(rest[k:], "other"), (pixels[:1], "ego")]
        for group, kind in layers:
            if len(group):
                body, light = self._body_grey[kind]
                cv2.fillPoly(image, group[:, 0], body, cv2.LINE_AA, SHIFT)
                cv2.fillPoly(image, group[:, 1:].reshape(-1, 4, 2), light, cv2.LINE_AA, SHIFT)
        cv2.polylines(image, pixels[:, 0], True, grey["outline"], 1, cv2.LINE_AA, SHIFT)

    def _object_rows(self, objects: np.ndarray, fields: int) -> np.ndarray:
        """(M, fields) float32 vehicle rows of the obstacles; kept while the episode's objects array is
        (it is read once per episode and shared by its states)."""
        if self._objects is None or self._objects[0] is not objects:
            rows = np.zeros((len(objects), fields), np.float32)
            rows[:, [V["x"], V["y"], V["heading"], V["length"], V["width"]]] = objects
            self._objects = (objects, rows)
        return self._objects[1]


def grid_index(segments: np.ndarray, cell: float) -> dict:
    """Marking pieces by grid cell (cell [m] square): {(i, j): piece indices}. A long piece (a
    10 km straight edge) is in every cell it spans."""
    low, high = segments.min(axis=1), segments.max(axis=1)
    first, last = np.floor(low / cell).astype(int), np.floor(high / cell).astype(int)
    cells: dict[tuple[int, int], list[int]] = {}
    single = (first == last).all(axis=1)
    for n in np.flatnonzero(single):
        cells.setdefault((first[n, 0], first[n, 1]), []).append(n)
    for n in np.flatnonzero(~single):
        for i in range(first[n, 0], last[n, 0] + 1):
            for j in range(first[n, 1], last[n, 1] + 1):
                cells.setdefault((i, j), []).append(n)
    return {key: np.array(value) for key, value in cells.items()}


class StateCamera(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """The world-state camera as the observation: `stack` scene frames camera.dt apart, oldest
    first, from the recorder's substep history (the first frames of an episode repeat its
    first state), then the route frame of the newest state. (C, H, W) uint8. With the anchor
    "newest" every frame is drawn from the newest state's ego pose.

    env: a sim.world.WorldRecorder (reading every substep), whose history the frames come from."""

    def __init__(self, env: gym.Env, camera: CameraConfig) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, camera=camera)
        super().__init__(env)
        if not hasattr(env, "history"):
            raise TypeError("StateCamera wraps a sim.world.WorldRecorder")
        self.recorder, self.camera = env, camera
        self.observation_space = gym.spaces.Box(0, 255, camera.shape, np.uint8)
        self.rasteriser: Rasteriser | None = None
        self._cache: dict = {}  # {(id(state), id(pose)): scene frame} of the last frames drawn, shared by consecutive steps

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        config = self.env.unwrapped.config
        self.spacing = frame_spacing(self.camera, config["simulation_frequency"], config["policy_frequency"])
        centering = tuple(config.get("centering_position") or (0.5, 0.5))
        if self.rasteriser is None or self.rasteriser.centering != centering:
            # kept across episodes: on a road that outlives them (EnvPool's) so does its marking index
            self.rasteriser = Rasteriser(self.camera, centering)
        self._cache, self._states = {}, []
        return self.observation(obs), info

    def observation(self, _obs) -> np.ndarray:
        cam, history = self.camera, self.recorder
        frames = np.empty(cam.shape, np.uint8)
        states = [history.at((cam.stack - 1 - k) * self.spacing) for k in range(cam.stack)]
        newest = states[-1]
        # whose pose each frame is seen from: its own state's, or (also) the newest's
        keys = [(id(state), id(state) if cam.anchor == "own" else id(newest)) for state in states]
        for k, (key, state) in enumerate(zip(keys, states, strict=True)):
            frames[k] = self._cache[key] if key in self._cache else self.rasteriser.scene(state, anchor_pose(state, newest, cam.anchor))
        # the states are kept alive with their frames, so their ids are not reused while cached
        self._cache = {key: frames[k].copy() for k, key in enumerate(keys)}
        self._states = states
        if "route" in cam.channels:
            frames[cam.stack] = self.rasteriser.route(states[-1])
        return frames


def anchor_pose(state: WorldState, newest: WorldState, anchor: str) -> WorldState:
    """The state whose ego pose a frame of `state` is drawn from (the camera's anchor, sim/camera.py)."""
    if anchor == "own":
        return state
    if anchor == "newest":
        return newest
    vehicles = state.vehicles.copy()  # "heading": own position, the newest heading
    vehicles[0, V["heading"]] = newest.ego[V["heading"]]
    return dataclasses.replace(state, vehicles=vehicles)


def frame_spacing(camera: CameraConfig, simulation_frequency: float, policy_frequency: float) -> float:
    """[s] between frames: camera.dt, or one policy step; checked to be whole simulation steps
    that the recorder's history reaches back to."""
    dt = camera.dt if camera.dt is not None else 1.0 / policy_frequency
    substeps = dt * simulation_frequency
    if abs(substeps - round(substeps)) > 1e-6 or round(substeps) < 1:
        raise ValueError(f"camera dt {dt} s is not a whole number of this scenario's simulation steps "
                         f"(1/{simulation_frequency:g} s); use a multiple of {1 / simulation_frequency:.4g} s")
    if round(substeps) * (camera.stack - 1) >= HISTORY:
        raise ValueError(f"camera stack {camera.stack} x dt {dt} s reaches back further than the "
                         f"{HISTORY} simulation steps kept; use fewer frames or a smaller dt")
    return round(substeps) / simulation_frequency
