"""The corners of vehicles' boxes in OpenCV fixed-point pixels: the rasteriser's hot path.

A vehicle is drawn as its body and two headlights (highway-env's VehicleGraphics): 12 corners
at fixed offsets forward and to the right of its centre, linear in its length and width. Their
pixels are

    rint(centre @ M + m  +  forward offset x ahead  +  right offset x right)

with ahead and right the pixels per metre along the vehicle's heading and to its right. A frame
holds a handful of vehicles, so each numpy call costs ~0.3 us on same-shape arrays and ~1 us when
it broadcasts: the sum is taken with every operand laid out as one value per corner coordinate
(N x 12 corners x 2 axes), with the same products and sums in the same order (the same rounding)
as the plain broadcast form, and what depends on the vehicles' sizes alone is kept between frames.
"""

from __future__ import annotations

import numpy as np

from sim.world import V

HEADLIGHT_LENGTH, HEADLIGHT_WIDTH = 0.72, 0.6  # [m]
# 12 corners: the body's 4, then each headlight's 4; forward offsets RECT_F[0] x length + RECT_F[1] [m],
# right offsets RECT_R[0] x width + RECT_R[1] [m].
RECT_F = (np.array([-0.5, 0.5, 0.5, -0.5] + [0.5] * 8),
          np.array([0, 0, 0, 0] + [-HEADLIGHT_LENGTH, 0, 0, -HEADLIGHT_LENGTH] * 2, float))
RECT_R = (np.array([-0.5, -0.5, 0.5, 0.5] + [-1.4 / 3] * 4 + [0.6 / 5] * 4),
          np.array([0, 0, 0, 0] + [0, 0, HEADLIGHT_WIDTH, HEADLIGHT_WIDTH] * 2, float))
CORNERS = len(RECT_F[0])
assert V["width"] == V["length"] + 1  # the sizes are read as one slice


class Corners:
    """corners(vehicles, M, m) -> (N, 3, 4, 2) int32 fixed-point pixels of each vehicle row's body
    and two headlights, for the affine pixel = point @ M + m (M (2, 2), m (2,))."""

    def __init__(self) -> None:
        self._sizes = (None, None, None)  # (bytes of the rows' (length, width), forward, right (N * 24,) [m])
        self._axes = {}  # {N: (2, N * 24) int: index of M's element each corner coordinate multiplies}

    def __call__(self, vehicles: np.ndarray, M: np.ndarray, m: np.ndarray) -> np.ndarray:
        n = len(vehicles)
        forward, right = self._offsets(vehicles)  # (N * 24,) float64 [m]
        rows = M.take(self._axis_index(n))  # (2, N * 24): M[0, axis] and M[1, axis] per corner coordinate
        heading = vehicles[:, V["heading"]].repeat(2 * CORNERS)  # (N * 24,) float32 [rad]
        c, s = np.cos(heading), np.sin(heading)
        ahead, across = c * rows[0] + s * rows[1], c * rows[1] - s * rows[0]  # (N * 24,) [px / m] (M's dtype)
        pixels = (vehicles[:, :2] @ M + m)[:, None] + (forward * ahead).reshape(n, CORNERS, 2)  # (N, 12, 2)
        pixels += (right * across).reshape(n, CORNERS, 2)
        return np.rint(pixels, out=pixels).astype(np.int32).reshape(n, 3, 4, 2)

    def _offsets(self, vehicles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(forward, right) (N * 24,) float64 [m] of each corner coordinate; kept while the rows'
        sizes are the same (vehicles keep their size; the rows change when one comes into view)."""
        sizes = vehicles[:, V["length"]:V["width"] + 1]  # (N, 2) float32
        key = sizes.tobytes()
        if key != self._sizes[0]:
            forward = sizes[:, :1] * RECT_F[0] + RECT_F[1]  # (N, 12) float64
            right = sizes[:, 1:] * RECT_R[0] + RECT_R[1]
            self._sizes = (key, np.repeat(forward, 2, axis=1).ravel(), np.repeat(right, 2, axis=1).ravel())
        return self._sizes[1], self._sizes[2]

    def _axis_index(self, n: int) -> np.ndarray:
        """(2, N * 24) flat indices into M: row 0 then row 1, the pixel axis alternating (column, row)."""
        if n not in self._axes:
            axis = np.tile([0, 1], n * CORNERS)
            self._axes[n] = np.stack([axis, axis + 2])
        return self._axes[n]
