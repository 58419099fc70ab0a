"""Replays: saved episodes re-render frame for frame, bitwise, without the agent."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pygame
import pytest
from PIL import Image, ImageSequence

import agents
from agents.resolve import checkpoint_hash
from sim import make_env
from sim.replay import Replay, ReplayError
from sim.viewer import Viewer, encoder_perception, title_for

ROOT = Path(__file__).resolve().parents[2]


def watch(name, seeds, obs=None):
    """Frames and replay log of `name` playing merge."""
    cls = agents.get_class(name)
    checkpoint, obs = agents.checkpoint_for(cls, "merge", "zoo/merge/dqn" if cls.trainable else None, obs)
    env = make_env("merge", obs=obs, render_mode="rgb_array")
    agent = cls.load(checkpoint, env) if checkpoint else cls(env, seed=0)
    log = Replay("merge", obs, name, checkpoint and str(checkpoint), checkpoint and checkpoint_hash(checkpoint))
    frames = []
    title = title_for("merge", name, log.checkpoint_hash)
    viewer = Viewer(env, agent, seeds, title=title, sink=frames.append, perceive=encoder_perception(), log=log)
    return env, viewer, frames, log


def rerender(replay, interactive=False):
    env = make_env(replay.scenario, obs=replay.obs, render_mode="rgb_array")
    frames = []
    title = title_for(replay.scenario, replay.agent, replay.checkpoint_hash)
    records = Viewer(env, replay=replay, title=title, sink=frames.append, perceive=encoder_perception(),
                     interactive=interactive).run()
    env.close()
    return frames, records


def test_dqn_replay_rerenders_the_recording_bitwise(tmp_path):
    env, viewer, frames, log = watch("dqn", [0])
    records = viewer.run()
    env.close()
    path = log.save(tmp_path / "ep.json")
    data = json.loads(path.read_text())
    assert data["agent"] == "dqn" and data["obs"] == "features" and len(data["checkpoint_hash"]) == 16
    episode = data["episodes"][0]
    assert episode["complete"] and len(episode["actions"]) == records[0]["length"] == len(frames) - 1
    assert all(isinstance(a, int) for a in episode["actions"]) and len(episode["values"][0]) == 5
    assert path.stat().st_size < 20_000, "a replay is small"

    replay = Replay.load(path)
    again, replayed = rerender(replay)
    assert len(again) == len(frames)
    for i, (a, b) in enumerate(zip(frames, again)):
        assert np.array_equal(a, b), f"frame {i} differs"
    assert replayed[0]["episode_return"] == records[0]["episode_return"]

    # The check can fail: another action, or other values, change the frames.
    replay.episodes[0].actions[3] = (replay.episodes[0].actions[3] + 1) % 5
    replay.episodes[0].values[1][0] += 1.0
    changed, _ = rerender(replay)
    assert not np.array_equal(changed[2], frames[2]), "values drawn from the file"
    assert not np.array_equal(changed[-1], frames[-1]), "actions fed from the file"


def test_cut_short_episodes_replay_as_they_were_shown(tmp_path):
    pygame.display.init()
    pygame.display.set_mode((16, 16))
    try:
        env, viewer, frames, log = watch("idm", [5, 6])
        viewer.interactive = True
        for _ in range(4):
            viewer.tick()
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_r, unicode="r", mod=0, scancode=0))
        for _ in range(3):
            viewer.tick()
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_n, unicode="n", mod=0, scancode=0))
        viewer.run()
        env.close()
        assert [(e.seed, e.complete, len(e.actions)) for e in log.episodes][:2] == [(5, False, 3), (5, False, 2)]
        assert log.episodes[2].seed == 6 and log.episodes[2].complete
        pygame.display.init()  # env.close() quit pygame
        again, records = rerender(Replay.load(log.save(tmp_path / "cut.json")), interactive=True)
        assert len(again) == len(frames) and [r["seed"] for r in records] == [6]
        assert all(np.array_equal(a, b) for a, b in zip(frames, again))
    finally:
        pygame.display.quit()


def test_bad_replay_files(tmp_path):
    with pytest.raises(ReplayError, match="no replay file"):
        Replay.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ReplayError, match="not a replay file"):
        Replay.load(tmp_path / "bad.json")
    (tmp_path / "old.json").write_text(json.dumps({"format": 1, "scenario": "merge"}))
    with pytest.raises(ReplayError, match="corrupt"):
        Replay.load(tmp_path / "old.json")


def gif_frames(path):
    with Image.open(path) as gif:
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]


def test_cli_save_replay_then_replay(tmp_path):
    env = dict(os.environ, SDL_VIDEODRIVER="dummy")

    def run_sim(*args):
        return subprocess.run([sys.executable, str(ROOT / "run_sim.py"), *args], capture_output=True, text=True,
                              timeout=120, env=env, cwd=ROOT)

    saved = run_sim("--scenario", "merge", "--agent", "idm", "--episodes", "1", "--seed", "2",
                    "--save-replay", str(tmp_path / "r.json"), "--record", str(tmp_path / "a.gif"))
    assert saved.returncode == 0, saved.stderr
    assert "saved a replay of 1 episodes" in saved.stdout
    replayed = run_sim("--replay", str(tmp_path / "r.json"), "--record", str(tmp_path / "b.gif"))
    assert replayed.returncode == 0, replayed.stderr
    actions = Replay.load(tmp_path / "r.json").episodes[0].actions
    assert f"recorded {len(actions) + 1} frames" in replayed.stdout and "(replay)" in replayed.stdout
    original, again = (gif_frames(tmp_path / name) for name in ("a.gif", "b.gif"))
    assert len(original) == len(again) == len(actions) + 1
    assert all(np.array_equal(a, b) for a, b in zip(original, again)), "another process re-renders the same frames"
    # its one-line errors (a missing file, --save-replay with --suite) are checked in-process:
    # tests/reliability/test_inputs.py test_replay_paths_that_are_no_file
