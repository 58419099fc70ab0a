"""The inspection viewer, headless: every registered agent, the recorded video, the panels, the keys."""

import cv2
import numpy as np
import pygame
import pytest

import agents
from sim import make_env
from sim.replay import Replay
from sim.video import VideoRecorder
from sim.viewer import Viewer, encoder_perception, title_for
from sim.viewer_draw import BACKGROUND, BAR, CHOSEN, PANEL, PREDICTED_COLOUR, TRUTH_COLOUR, ViewState, compose, layout
from sim.window import Window


def agent_on_merge(name):
    """The agent on merge: dqn from its shipped checkpoint, an untrained SB3 agent (sac drives
    racetrack, the one with continuous actions), a baseline as it is."""
    cls = agents.get_class(name)
    scenario = "racetrack" if name == "sac" else "merge"
    if name == "dqn" or not cls.trainable:
        checkpoint, obs = agents.checkpoint_for(cls, scenario, "zoo/merge/dqn" if cls.trainable else None, None)
    else:
        checkpoint, obs = None, cls.default_obs
    env = make_env(scenario, obs=obs, render_mode="rgb_array")
    if checkpoint:
        return env, cls.load(checkpoint, env)
    return env, (cls(env, seed=0, scenario=scenario) if cls.trainable else cls(env, seed=0))


def read_video(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


def region(frame, box):
    x, y, w, h = box
    return frame[y : y + h, x : x + w]


def has_colour(pixels, colour, tolerance=0):
    return bool((np.abs(pixels.astype(int) - colour).max(axis=-1) <= tolerance).any())


@pytest.mark.parametrize("name", agents.names())
def test_viewer_records_an_episode_with_each_agent(tmp_path, name):
    env, agent = agent_on_merge(name)
    raw = []
    recorder = VideoRecorder(tmp_path / "episode.mp4", env.unwrapped.config["policy_frequency"])

    def sink(frame):
        raw.append(frame)
        recorder.add(frame)

    viewer = Viewer(env, agent, [0], title=title_for("merge", name), sink=sink, perceive=encoder_perception())
    obs, _ = env.reset(seed=0)
    has_chart = agent.action_values(obs) is not None or agent.action_probabilities(obs) is not None
    records = viewer.run()
    recorder.close()
    boxes = layout(env.render().shape)
    env.close()

    assert len(records) == 1 and records[0]["seed"] == 0
    assert len(raw) == records[0]["length"] + 1, "the reset frame + one per step"
    width, height = boxes["size"]
    video = read_video(tmp_path / "episode.mp4")
    assert len(video) == len(raw)
    assert video[0].shape == (height + height % 2, width + width % 2, 3) and raw[0].shape == (height, width, 3)
    k = min(5, len(raw) - 1)  # an untrained agent's episode can be short
    assert np.abs(video[k][:height, :width].astype(int) - raw[k]).mean() < 3, "the video shows the composed frames"

    middle = raw[len(raw) // 2]
    assert region(middle, boxes["scene"]).std() > 10, "the road is drawn"
    for panel, least in (("camera", 0.01), ("actions", 0.005), ("metrics", 0.01)):  # continuous actions: text only
        pixels = region(middle, boxes[panel])
        assert (pixels != PANEL).any(axis=-1).mean() > least, f"the {panel} panel has content"
    assert (region(middle, boxes["controls"]) != BACKGROUND).any(), "the controls are shown"
    actions = region(middle, boxes["actions"])
    if has_chart:  # the chosen action's bar is highlighted
        assert has_colour(actions, CHOSEN) and has_colour(actions, BAR)
    else:  # no values: the chart says n/a, no bar is drawn
        assert not has_colour(actions, BAR, tolerance=10)
    if agent.default_obs == "features" and name != "sac":  # merge: the frames the encoder saw, with what it perceived
        camera = np.concatenate([region(frame, boxes["camera"]) for frame in raw])
        assert has_colour(camera, TRUTH_COLOUR) and has_colour(camera, PREDICTED_COLOUR), "perception overlay"
    last = raw[-1]
    assert not np.array_equal(region(last, boxes["scene"]), region(raw[-2], boxes["scene"])), "outcome banner"


def test_compose_panels_follow_the_state():
    scene = np.full((150, 600, 3), 100, np.uint8)
    plain = compose(ViewState(scene=scene))
    boxes = layout(scene.shape)
    with_values = compose(ViewState(scene=scene, values=np.array([1.0, -2.0, 3.0]), action_names=["A", "B", "C"], chosen=2))
    assert not np.array_equal(region(plain, boxes["actions"]), region(with_values, boxes["actions"]))
    assert np.array_equal(region(plain, boxes["metrics"]), region(with_values, boxes["metrics"]))
    banner = compose(ViewState(scene=scene, outcome="collision"))
    assert not np.array_equal(region(plain, boxes["scene"]), region(banner, boxes["scene"]))
    assert np.array_equal(compose(ViewState(scene=scene, outcome="collision")), banner), "pure: same state, same pixels"


def press(key, unicode=""):
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, unicode=unicode, mod=0, scancode=0))


@pytest.fixture
def display():
    pygame.display.init()
    pygame.display.set_mode((16, 16))
    pygame.event.clear()
    yield
    pygame.display.quit()


def test_keys_pause_step_restart_next_speed_screenshot_quit(tmp_path, display):
    env, agent = agent_on_merge("idm")
    frames, log = [], Replay("merge", "kinematics", "idm")
    viewer = Viewer(env, agent, [3, 4], sink=frames.append, interactive=True, screenshot_dir=tmp_path, log=log)
    assert viewer.tick() and viewer.steps == 0 and len(frames) == 1  # the episode starts
    viewer.tick()
    assert viewer.steps == 1 and len(frames) == 2
    press(pygame.K_SPACE)
    for _ in range(3):
        viewer.tick()
    assert viewer.paused and viewer.steps == 1 and len(frames) == 2, "pause holds the step counter"
    press(pygame.K_RIGHT)
    viewer.tick()
    assert viewer.steps == 2 and len(frames) == 3, "one step when paused"
    viewer.tick()
    assert viewer.steps == 2
    press(pygame.K_SPACE)
    viewer.tick()
    assert not viewer.paused and viewer.steps == 3
    press(pygame.K_PLUS, "+")
    press(pygame.K_PLUS, "+")
    press(pygame.K_MINUS, "-")
    viewer.tick()
    assert viewer.speed == 2.0
    press(pygame.K_s)
    viewer.tick()
    assert len(viewer.screenshots) == 1 and viewer.screenshots[0].is_file()
    press(pygame.K_r)
    viewer.tick()
    assert (viewer.seed, viewer.t, viewer.starts) == (3, 0, 2), "restart: same seed, from step 0"
    press(pygame.K_n)
    viewer.tick()
    assert (viewer.seed, viewer.t, viewer.starts) == (4, 0, 3), "next episode"
    viewer.tick()
    press(pygame.K_q)
    assert not viewer.tick() and viewer.quit and not viewer.tick()
    assert [(e.seed, e.complete, len(e.actions)) for e in log.episodes] == [(3, False, 5), (3, False, 0), (4, False, 1)]
    env.close()


def test_closing_the_window_ends_the_run(display):
    env, agent = agent_on_merge("random")
    window = Window("test", fps=1000)
    viewer = Viewer(env, agent, [0, 1], window=window, interactive=True)
    viewer.speed = 8.0  # the window waits 1 / (policy frequency x speed) per frame
    for _ in range(3):
        viewer.tick()
    pygame.event.post(pygame.event.Event(pygame.QUIT))
    assert viewer.run() == [] and viewer.quit and viewer.steps == 2
    window.close()
    env.close()
