"""Simulation layer: scenario -> gymnasium Env with camera or ground-truth observations,
info["world"] (the WorldState), info["truth"] and info["lane"] every step, info["episode"]
metrics at the end, vector envs and video.

Knows nothing of agents, training or scoring; perception only inside make_env / make_vec_env
(obs="features") and the viewer's overlay (docs/architecture.md, Layers).
"""

from sim.headless import choose_video_driver

choose_video_driver()  # before anything imports pygame's display: see sim/headless.py

from sim.camera import CameraConfig  # noqa: E402
from sim.env import OBS_MODES, make_env  # noqa: E402
from sim.metrics import OUTCOMES, EpisodeRecord  # noqa: E402
from sim.truth import TRUTH_FEATURES  # noqa: E402
from sim.vector import make_vec_env  # noqa: E402
from sim.world import WorldState  # noqa: E402

__all__ = ["OBS_MODES", "OUTCOMES", "TRUTH_FEATURES", "CameraConfig", "EpisodeRecord", "WorldState", "make_env",
           "make_vec_env"]
