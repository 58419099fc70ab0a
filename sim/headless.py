"""Pick an SDL video driver that lets highway-env draw without a screen.

highway-env's EnvViewer skips all drawing when SDL_VIDEODRIVER is "dummy" (every camera frame
and video comes out black), and pygame cannot initialise its display at all on a machine
without one. SDL's "offscreen" driver draws correctly in both cases, so sim switches to it
before pygame starts. A real display, or any other driver the user chose, is left alone.
"""

from __future__ import annotations

import os
import sys


def choose_video_driver() -> str | None:
    driver = os.environ.get("SDL_VIDEODRIVER")
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if driver == "dummy" or (driver is None and headless):
        os.environ["SDL_VIDEODRIVER"] = "offscreen"
    return os.environ.get("SDL_VIDEODRIVER")
