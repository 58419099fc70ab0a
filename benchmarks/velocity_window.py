"""Where perception's velocity error can come from: how far the truth is from what a stack of
frames shows by displacement alone. Writes velocity_window.json here.

    python benchmarks/velocity_window.py [--scenarios highway,merge,...] [--states 400]

The truth (sim/truth.py) is each car's velocity relative to the ego's at the newest instant,
rotated into the newest ego frame. The camera's 4 frames span WINDOW = 0.6 s. Per scenario, over
idm-driven states on test seeds (200,000+; the ego's first 3 steps skipped), for every car within
35 m, the mean absolute error [m/s] against the truth of:
- mean_world_mae: the relative displacement in the world frame over the window / WINDOW, rotated
  into the newest ego frame: the floor of an estimator that reads displacement but not
  acceleration (the truth is the newest instant's velocity, the frames show its mean);
- apparent_ego_mae: the displacement of the car's position as each instant's own ego frame sees
  it (the camera's `own` anchor: each frame drawn from the ego's pose then) / WINDOW: adds the
  ego's own turning (omega x r), which the network must undo from the road's rotation;
- ego_turn_rate [rad/s] and truth_speed [m/s]: means, for scale.
Compare with perception's velocity MAE (perception/weights/v3.json's test metrics).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")  # highway-env draws nothing under "dummy"

WINDOW = 0.6  # [s] the default camera's stack: 4 frames 0.2 s apart
NEAR = 35.0  # [m] cars counted (about the view's reach ahead)
FIRST_SEED = 200_000  # perception's test seeds
SCENARIOS = "exit,highway-dense,highway,intersection,merge-dense,merge,racetrack,roundabout,two-way,u-turn"


def to_ego(heading: float) -> np.ndarray:
    """(2, 2): world vectors into the ego frame of this heading [rad] (x forward, y to the right)."""
    c, s = np.cos(heading), np.sin(heading)
    return np.array([[c, s], [-s, c]])


def recorder(env):
    while not hasattr(env, "history"):  # the WorldRecorder under the camera
        env = env.env
    return env


def measure(name: str, states: int) -> dict:
    import agents
    from sim import make_env
    from sim.world import V

    xy, v = [V["x"], V["y"]], [V["vx"], V["vy"]]
    env = make_env(name, obs="camera")  # the camera's recorder keeps every substep
    mean_world, apparent, turn, speed = [], [], [], []
    for seed in range(FIRST_SEED, FIRST_SEED + 100):
        obs, _ = env.reset(seed=seed)
        idm, history = agents.make("idm", env), recorder(env)
        for step in range(60):
            obs, _, terminated, truncated, _ = env.step(idm.act(obs))
            if terminated or truncated or len(mean_world) >= states:
                break
            now, then = history.at(0.0).vehicles.astype(float), history.at(WINDOW).vehicles.astype(float)
            if step < 3 or len(now) != len(then):  # rows are highway-env's vehicles in order: same count, same cars
                continue
            R, R_then = to_ego(now[0, V["heading"]]), to_ego(then[0, V["heading"]])
            turn.append(abs(np.angle(np.exp(1j * (now[0, V["heading"]] - then[0, V["heading"]])))) / WINDOW)
            for i in range(1, len(now)):
                p_now, p_then = now[i, xy] - now[0, xy], then[i, xy] - then[0, xy]  # [m] world frame
                if np.hypot(*p_now) > NEAR:
                    continue
                truth = R @ (now[i, v] - now[0, v])  # [m/s] (2,)
                mean_world.append(np.abs(R @ (p_now - p_then) / WINDOW - truth).mean())
                apparent.append(np.abs((R @ p_now - R_then @ p_then) / WINDOW - truth).mean())
                speed.append(np.hypot(*truth))
        if len(mean_world) >= states:
            break
    env.close()
    return {"cars": len(mean_world), "mean_world_mae": round(float(np.mean(mean_world)), 3),
            "apparent_ego_mae": round(float(np.mean(apparent)), 3), "ego_turn_rate": round(float(np.mean(turn)), 3),
            "truth_speed": round(float(np.mean(speed)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default=SCENARIOS, help="comma-separated catalog names")
    parser.add_argument("--states", type=int, default=400, help="cars measured per scenario (default: 400)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("velocity_window.json"))
    args = parser.parse_args()
    result = {"window_s": WINDOW, "near_m": NEAR, "first_seed": FIRST_SEED, "driver": "idm", "scenarios": {}}
    for name in args.scenarios.split(","):
        result["scenarios"][name] = measure(name, args.states)
        print(name, result["scenarios"][name], flush=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
