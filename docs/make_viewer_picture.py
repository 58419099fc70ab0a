"""Regenerate docs/viewer-merge-dqn.png, the README's picture of the viewer:

    python docs/make_viewer_picture.py [--step 9] [--out docs/viewer-merge-dqn.png]

It runs the README's command, `run_sim.py --scenario merge --agent dqn` (the shipped zoo/merge/dqn
unless runs/merge/dqn holds a run of yours), for one episode of seed 0 with --save-replay, then
re-renders that replay with the viewer (sim/viewer.py) as `run_sim.py --replay` does. A replay's
frames are the live viewer's, bit for bit (tests/sim/test_replay.py), and written here as PNG they
stay lossless (a --record video would not). Rerun it when the viewer, the zoo or the encoders change.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["SDL_VIDEODRIVER"] = "offscreen"  # before pygame starts: no window, the same pixels everywhere

COMMAND = ["run_sim.py", "--scenario", "merge", "--agent", "dqn", "--episodes", "1", "--seed", "0", "--no-window"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--step", type=int, default=9, help="the step shown (default: 9, mid-episode)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "viewer-merge-dqn.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        replay_file = Path(tmp) / "merge-dqn.json"
        # from the repository root: runs/ (a run of yours) is looked up relative to it, as for a user
        subprocess.run([sys.executable, *COMMAND, "--save-replay", str(replay_file)], cwd=ROOT, check=True)
        frames = render(replay_file)
    step = min(args.step, len(frames) - 1)  # frame 0 is the reset, frame k the one after step k
    from PIL import Image

    Image.fromarray(frames[step]).save(args.out)
    print(f"wrote {args.out} (step {step} of {len(frames) - 1})")


def render(replay_file: Path) -> list:
    """Every frame of the replay's first episode, composed as run_sim.py --replay composes them."""
    from sim import make_env
    from sim.replay import Replay
    from sim.viewer import Viewer, encoder_perception, title_for

    replay = Replay.load(replay_file)
    env = make_env(replay.load_scenario(), obs=replay.obs, render_mode="rgb_array")
    frames: list = []
    try:
        Viewer(env, replay=replay, title=title_for(replay.scenario, replay.agent, replay.checkpoint_hash),
               sink=frames.append, perceive=encoder_perception(env.camera)).run()
    finally:
        env.close()
    return frames


if __name__ == "__main__":
    main()
