"""A plain pygame window that shows rendered frames at the scenario's real-time rate."""

from __future__ import annotations

import os
import sys

import numpy as np


def has_display() -> bool:
    """True when a window can actually be shown (not headless, not SDL's dummy/offscreen drivers)."""
    if os.environ.get("SDL_VIDEODRIVER") in ("dummy", "offscreen"):
        return False
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Window:
    def __init__(self, title: str, fps: float) -> None:
        import pygame  # pygame-ce

        self._pygame = pygame
        pygame.display.init()
        pygame.display.set_caption(title)
        self._screen = None
        self._clock = pygame.time.Clock()
        self.fps = fps
        self.closed = False

    def show(self, frame: np.ndarray, handle_events: bool = True, fps: float | None = None) -> bool:
        """Draw one (H, W, 3) frame and wait for its turn; False once the user closed the window.

        handle_events=False leaves the event queue to the caller (sim/viewer.py reads the keys);
        fps overrides the rate for this frame (playback speed, a paused screen).
        """
        pg = self._pygame
        for event in pg.event.get() if handle_events else ():
            if event.type == pg.QUIT or (event.type == pg.KEYDOWN and event.key in (pg.K_ESCAPE, pg.K_q)):
                self.close()
        if self.closed:
            return False
        height, width = frame.shape[:2]
        if self._screen is None or self._screen.get_size() != (width, height):
            self._screen = pg.display.set_mode((width, height))
        pg.surfarray.blit_array(self._screen, np.ascontiguousarray(frame.swapaxes(0, 1)))
        pg.display.flip()
        self._clock.tick(fps or self.fps)
        return True

    def close(self) -> None:
        if not self.closed:
            self._pygame.display.quit()
            self.closed = True
