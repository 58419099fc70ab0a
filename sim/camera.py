"""The bird's-eye camera contract: what a frame shows, from where, how big, how many and how far apart.

Two renderers share the contract:
- "world-state" (the default, sim/raster.py): frames drawn with OpenCV from the WorldState
  (sim/world.py), in the `ego` frame (the ego fixed, heading up) or the `world` frame
  (highway-env's layout), with a `scene` and a `route` channel, K frames dt seconds apart.
- "highway-env" (the reference): highway-env's own GrayscaleObservation, one world-aligned
  scene frame per policy step, exactly what highway-env's CNN recipe sees.

An observation is uint8 (C, H, W): the `stack` scene frames, oldest first, then one route frame
(the newest instant) when "route" is among the channels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

RENDERERS = ("world-state", "highway-env")
FRAMES = {
    "ego": "the ego fixed in the image, heading up, its right to the right",
    "world": "highway-env's layout: rows along world x, columns along world y, the ego at the scenario's centering",
}
CHANNELS = ("scene", "route")
ANCHORS = {
    "newest": "every frame of the stack drawn from the ego's pose at the newest instant: between frames only "
              "the others move (relative to the ego now) and the road slides, it does not turn",
    "own": "each frame drawn from the ego's pose at its own instant: a turning ego turns the whole scene "
           "between frames (perception v2's first camera)",
    "heading": "each frame drawn from the ego's position at its own instant but the newest instant's heading: "
               "the scene does not turn between frames, and the others' displacement is their motion "
               "relative to the ego (no omega x r from the ego's turning)",
}


@dataclass(frozen=True)
class CameraConfig:
    """The camera contract. The encoder stores it and refuses frames of another (perception/encoder.py)."""

    renderer: str = "world-state"  # one of RENDERERS
    frame: str = "ego"  # one of FRAMES; the highway-env renderer is always "world"
    channels: tuple[str, ...] = ("scene", "route")  # "scene" first; "route" adds one channel
    height: int = 128  # [px] rows: 128 px / 1.75 px/m = 73 m along the ego's heading (ego) or world x (world)
    width: int = 64  # [px] columns: 37 m across
    scaling: float = 1.75  # [px/m] zoom; with ego_row 0.7 the ego sees 51 m ahead (benchmarks/camera_throughput.py)
    stack: int = 4  # scene frames, oldest first
    dt: float | None = 0.2  # [s] between frames (a multiple of the simulation step); None: one per policy step
    ego_row: float = 0.7  # ego frame: the ego's row as a share of the height from the top (more road ahead)
    # one of ANCHORS: whose pose the older frames of the stack are drawn from. "heading" (measured in
    # docs/camera.md: perception's velocity error fell on 9 of 10 scenarios against "own", v3 -> v4)
    anchor: str = "heading"

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        if self.renderer not in RENDERERS:
            raise ValueError(f"unknown camera renderer {self.renderer!r}; valid: {', '.join(RENDERERS)}")
        if self.frame not in FRAMES:
            raise ValueError(f"unknown camera frame {self.frame!r}; valid: {', '.join(FRAMES)}")
        if not self.channels or self.channels[0] != "scene" or set(self.channels) - set(CHANNELS) \
                or len(set(self.channels)) != len(self.channels):
            raise ValueError(f"camera channels must be ('scene',) or ('scene', 'route'), got {self.channels!r}")
        for name in ("height", "width", "stack"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"camera {name} must be a positive integer, got {value!r}")
        if self.height < 16 or self.width < 16:
            raise ValueError(f"camera frames must be at least 16x16 px, got {self.height}x{self.width}")
        if isinstance(self.scaling, bool) or not isinstance(self.scaling, (int, float)) or not self.scaling > 0:
            raise ValueError(f"camera scaling must be > 0 px/m, got {self.scaling!r}")
        if self.dt is not None and (isinstance(self.dt, bool) or not isinstance(self.dt, (int, float))
                                    or not 0 < self.dt <= 2):
            raise ValueError(f"camera dt must be in (0, 2] s or None (one frame per policy step), got {self.dt!r}")
        if self.anchor not in ANCHORS:
            raise ValueError(f"unknown camera anchor {self.anchor!r}; valid: {', '.join(ANCHORS)}")
        if not (isinstance(self.ego_row, (int, float)) and 0 <= self.ego_row <= 1):
            raise ValueError(f"camera ego_row must be a share of the height in [0, 1], got {self.ego_row!r}")
        if self.renderer == "highway-env" and (self.frame, self.channels, self.dt, self.anchor) != \
                ("world", ("scene",), None, "own"):
            raise ValueError("the highway-env camera is world-aligned, scene only, one frame per policy step: "
                             "use CameraConfig.highway_env(...)")

    @classmethod
    def highway_env(cls, height: int = 128, width: int = 64, scaling: float = 1.75, stack: int = 4) -> CameraConfig:
        """highway-env's GrayscaleObservation; the defaults are those of highway-env's own CNN example."""
        return cls("highway-env", "world", ("scene",), height, width, scaling, stack, None, anchor="own")

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.stack + ("route" in self.channels), self.height, self.width)

    def contract(self) -> dict:
        """The contract as plain values (stored in model cards and checkpoints)."""
        out = asdict(self)
        out["channels"] = list(self.channels)
        return out

    @classmethod
    def from_contract(cls, contract: dict) -> CameraConfig:
        valid = set(cls.__dataclass_fields__)
        if not isinstance(contract, dict) or set(contract) - valid:
            raise ValueError(f"a camera contract has keys {', '.join(sorted(valid))}, got {contract!r:.120}")
        return cls(**{"anchor": "own", **contract})  # contracts from before `anchor` drew each frame from its own pose

    def describe(self) -> str:
        if self.renderer == "highway-env":
            return f"highway-env {self.stack}x{self.height}x{self.width} @ {self.scaling} px/m, one frame per step"
        return (f"{self.frame} frame, {'+'.join(self.channels)}, {self.stack}x{self.height}x{self.width} "
                f"@ {self.scaling} px/m, dt {self.dt} s, {self.anchor} pose")

    def observation_config(self) -> dict:
        """highway-env observation config: GrayscaleObservation for the reference renderer; for ours
        the cheapest highway-env observation (ours replaces it)."""
        if self.renderer == "world-state":  # one presence flag: ~0.1 ms; make_env replaces it
            return {"type": "Kinematics", "vehicles_count": 1, "features": ["presence"]}
        return {
            "type": "GrayscaleObservation",
            "observation_shape": (self.height, self.width),  # highway-env's (screen width, screen height)
            "stack_size": self.stack,
            "weights": list(LUMA_WEIGHTS),
            "scaling": self.scaling,
        }


LUMA_WEIGHTS = (0.2989, 0.5870, 0.1140)  # ITU-R 601 luma, as in highway-env's example


def camera_view(camera: CameraConfig, centering: tuple[float, float]) -> tuple[float, float, float, float]:
    """Ground coordinates [m] relative to the ego, in the camera's frame, at the frame's edges:
    (x at the first row, x at the last row, y at the first column, y at the last column).

    world frame: x, y are world axes; highway-env puts the ego at `centering` (fractions of the
        frame), e.g. [0.3, 0.5] on highways, so the view reaches 22 m behind and 51 m ahead.
    ego frame: x is along the ego's heading (forward), y to its right; the first row is ahead.
    """
    length, across = camera.height / camera.scaling, camera.width / camera.scaling  # [m]
    if camera.frame == "ego":
        return (camera.ego_row * length, -(1 - camera.ego_row) * length, -across / 2, across / 2)
    return (-centering[0] * length, (1 - centering[0]) * length, -centering[1] * across, (1 - centering[1]) * across)


def in_view(truth: np.ndarray, view: tuple[float, float, float, float]) -> np.ndarray:
    """Mask (N,) of truth rows 1.. whose vehicle centre lies inside the camera view (row 0, the ego, is False)."""
    x, y = truth[:, 1], truth[:, 2]
    (x0, x1), (y0, y1) = sorted(view[:2]), sorted(view[2:])
    mask = (truth[:, 0] > 0) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    mask[0] = False
    return mask
