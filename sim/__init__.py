"""Simulation layer: scenario -> gymnasium Env with camera or ground-truth observations,
info["truth"] every step, info["episode"] metrics at the end, vector envs and video.

Knows nothing of agents or training (see ../DESIGN.md).
"""

from sim.camera import CameraConfig
from sim.env import OBS_MODES, make_env
from sim.metrics import OUTCOMES, EpisodeRecord
from sim.truth import TRUTH_FEATURES
from sim.vector import make_vec_env

__all__ = ["OBS_MODES", "OUTCOMES", "TRUTH_FEATURES", "CameraConfig", "EpisodeRecord", "make_env", "make_vec_env"]
