"""The ego-centred bird's-eye camera: highway-env's GrayscaleObservation, configured once here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraConfig:
    """Frame stack shape and zoom.

    The observation is a uint8 array (C, H, W) = (stack, height, width). Rows (H) follow the
    world x axis and columns (W) the world y axis, exactly as highway-env's GrayscaleObservation
    lays them out: on a highway the road runs down the rows. The defaults are those of
    highway-env's own CNN example (4 x 128 x 64 at 1.75 px/m), so results compare like for like.
    """

    height: int = 128  # [px] along world x; 128 px / 1.75 px/m = 73 m of road
    width: int = 64  # [px] along world y; 64 px / 1.75 px/m = 37 m across
    stack: int = 4  # frames, oldest first; one frame per policy step
    scaling: float = 1.75  # [px/m]

    def __post_init__(self) -> None:
        for name in ("height", "width", "stack"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"camera {name} must be a positive integer, got {value!r}")
        if self.height < 16 or self.width < 16:
            raise ValueError(f"camera frames must be at least 16x16 px, got {self.height}x{self.width}")
        if not self.scaling > 0:
            raise ValueError(f"camera scaling must be > 0 px/m, got {self.scaling!r}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.stack, self.height, self.width)

    def observation_config(self) -> dict:
        """highway-env observation config producing this camera."""
        return {
            "type": "GrayscaleObservation",
            "observation_shape": (self.height, self.width),  # highway-env's (screen width, screen height)
            "stack_size": self.stack,
            "weights": [0.2989, 0.5870, 0.1140],  # ITU-R 601 luma, as in highway-env's example
            "scaling": self.scaling,
        }


def camera_view(camera: CameraConfig, centering: tuple[float, float]) -> tuple[float, float, float, float]:
    """(x_min, x_max, y_min, y_max) [m] of the ground the camera sees, relative to the ego.

    highway-env puts the ego at `centering` (fractions of the frame) of the env config:
    e.g. [0.3, 0.5] on highways, so the view reaches 22 m behind and 51 m ahead.
    """
    length, across = camera.height / camera.scaling, camera.width / camera.scaling  # [m]
    return (-centering[0] * length, (1 - centering[0]) * length, -centering[1] * across, (1 - centering[1]) * across)


def in_view(truth: np.ndarray, view: tuple[float, float, float, float]) -> np.ndarray:
    """Mask (N,) of truth rows 1.. whose vehicle centre lies inside the camera view (row 0, the ego, is False)."""
    x, y = truth[:, 1], truth[:, 2]
    mask = (truth[:, 0] > 0) & (x >= view[0]) & (x <= view[1]) & (y >= view[2]) & (y <= view[3])
    mask[0] = False
    return mask
