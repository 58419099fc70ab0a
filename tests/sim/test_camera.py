"""The world-state camera: drawn where things are, in both frames, deterministic, and a contract
the encoder enforces."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import scenarios
from perception.encoder import Encoder, EncoderConfig
from sim import CameraConfig, make_env
from sim.raster import BLUE, GREEN, GREY, Rasteriser, luma
from sim.world import OBJECT_FIELDS, VEHICLE_FIELDS, RoadGeometry, WorldState, V

GROUND = luma(GREY)


@pytest.mark.parametrize("name", scenarios.names())
@pytest.mark.filterwarnings("ignore:.*different from the unwrapped version")
def test_check_env_passes_for_the_world_frame(name):
    """The ego frame is the default camera: tests/sim/test_env.py runs check_env on it for every scenario."""
    env = make_env(name, obs="camera", camera=CameraConfig(frame="world"), seed=0)
    check_env(env, skip_render_check=True)


def test_the_same_seed_gives_the_same_frames():
    runs = []
    for _ in range(2):
        env = make_env("roundabout", obs="camera", seed=5)
        obs, _ = env.reset()
        frames = [obs]
        for _ in range(3):
            frames.append(env.step(1)[0])
        runs.append(np.stack(frames))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0][-1, -2].std() > 0 and runs[0][-1, -1].max() == 255  # a scene, and the route in view


def test_the_first_frames_of_an_episode_show_the_motion_the_truth_has():
    """highway-env starts cars moving: before the reset the history is the first state moved back
    at constant velocity, so the first stack is not four copies of one image."""
    env = make_env("highway", obs="camera", seed=1)
    obs, info = env.reset()
    assert all((obs[k] != obs[3]).any() for k in range(3))
    wrapper = env
    while not hasattr(wrapper, "history"):
        wrapper = wrapper.env
    first, earlier = wrapper.history[-1], wrapper.history[-2]
    assert earlier.time == -0.2  # highway: 5 Hz simulation
    np.testing.assert_allclose(first.vehicles[:, :2] - earlier.vehicles[:, :2], 0.2 * first.vehicles[:, 4:6], atol=1e-4)


def test_frames_are_dt_apart_from_the_simulation_substeps():
    camera = CameraConfig(dt=0.4, stack=3)
    env = make_env("highway", obs="camera", camera=camera, seed=1)  # 5 Hz simulation, 1 Hz policy
    env.reset()
    obs = env.step(1)[0]
    wrapper = env
    while not hasattr(wrapper, "history"):
        wrapper = wrapper.env
    states = list(wrapper.history)
    assert [s.time for s in states[-1::-2][:3]] == [1.0, 0.6, 0.2]  # every substep is recorded
    drawer = Rasteriser(camera, env.unwrapped.config["centering_position"])
    for k, state in enumerate([states[-5], states[-3], states[-1]]):
        np.testing.assert_array_equal(obs[k], drawer.scene(state))
    with pytest.raises(ValueError, match="not a whole number of this scenario's simulation steps"):
        make_env("highway", obs="camera", camera=CameraConfig(dt=0.1)).reset(seed=0)


def _constructed_world() -> WorldState:
    """The ego at (100, 50) heading 0.4 rad; one car 10 m ahead of it, heading 30 deg more; a route
    that starts at the ego and bends right (towards +heading) on a 30 m radius."""
    heading = 0.4
    forward = np.array([np.cos(heading), np.sin(heading)])
    ego = np.array([100.0, 50.0])
    vehicles = np.zeros((2, len(VEHICLE_FIELDS)), np.float32)
    for row, position, h in ((0, ego, heading), (1, ego + 10 * forward, heading + np.radians(30))):
        vehicles[row, [V["x"], V["y"], V["heading"], V["length"], V["width"], V["on_road"]]] = \
            (*position, h, 5.0, 2.0, 1.0)
    angles = np.linspace(0, 1.2, 40)  # [rad] of arc, turning towards +heading (the ego's right)
    centre = ego + 30 * np.array([-np.sin(heading), np.cos(heading)])  # 30 m to the ego's right
    route = centre + 30 * np.stack([np.sin(heading + angles), -np.cos(heading + angles)], axis=1)
    road = RoadGeometry(np.zeros((0, 2, 2), np.float32), (), (), np.zeros(0, np.float32))
    return WorldState(0.0, vehicles, np.zeros((0, len(OBJECT_FIELDS)), np.float32), road, route.astype(np.float32))


def _pixel(camera: CameraConfig, world: WorldState, point, centering) -> tuple[int, int]:
    """(row, column) of a world point, computed independently of the rasteriser."""
    s, ego, heading = camera.scaling, world.ego[[V["x"], V["y"]]], world.ego[V["heading"]]
    d = np.asarray(point) - ego
    if camera.frame == "ego":
        forward = d @ [np.cos(heading), np.sin(heading)]
        right = d @ [-np.sin(heading), np.cos(heading)]
        return int(camera.ego_row * camera.height - forward * s), int(camera.width / 2 + right * s)
    return int(centering[0] * camera.height + d[0] * s), int(centering[1] * camera.width + d[1] * s)


@pytest.mark.parametrize("frame", ["ego", "world"])
def test_a_constructed_world_is_drawn_where_it_is(frame):
    camera, centering = CameraConfig(frame=frame, width=128, scaling=4.0), (0.3, 0.5)  # 32 x 32 m
    world = _constructed_world()
    drawer = Rasteriser(camera, centering)
    scene, route = drawer.scene(world), drawer.route(world)
    ego, heading = world.ego[[V["x"], V["y"]]], world.ego[V["heading"]]
    car, car_heading = world.vehicles[1, [V["x"], V["y"]]], world.vehicles[1, V["heading"]]
    along = np.array([np.cos(car_heading), np.sin(car_heading)])
    straight = np.array([np.cos(heading), np.sin(heading)])

    assert scene[_pixel(camera, world, ego, centering)] == luma(GREEN)  # the ego's body
    assert scene[_pixel(camera, world, car, centering)] == luma(BLUE)  # the car 10 m ahead
    for d in (-1.5, 1.2):  # along the car's own axis: still the car (it is turned 30 deg)
        assert scene[_pixel(camera, world, car + d * along, centering)] == luma(BLUE)
    for d in (-3.0, 3.0):  # along the ego's heading instead: beside the turned car (1.5 m off its axis), ground
        assert scene[_pixel(camera, world, car + d * straight, centering)] == GROUND
    assert scene[_pixel(camera, world, ego + 20 * straight, centering)] == GROUND

    for point in world.route[[0, 10, 20]]:  # the band follows the bend
        assert route[_pixel(camera, world, point, centering)] == 255
    assert route[_pixel(camera, world, ego + 15 * straight, centering)] == 0  # straight on is off the route
    assert route[_pixel(camera, world, ego - 8 * straight, centering)] == 0


def test_the_ego_frame_turns_with_the_ego():
    world = _constructed_world()
    drawer = Rasteriser(CameraConfig(frame="ego", scaling=4.0))
    row, col = _pixel(drawer.camera, world, world.vehicles[1, [V["x"], V["y"]]], None)
    assert col == drawer.camera.width // 2 and row < drawer.camera.ego_row * drawer.camera.height  # straight up


def test_the_newest_anchor_draws_older_frames_from_the_newest_pose():
    """A parked car stays on its pixel across the stack when frames are drawn from the newest pose,
    while the ego, which was 8 m back and turned 0.3 rad less, is drawn where it was."""
    now = _constructed_world()
    before_vehicles = now.vehicles.copy()
    heading = now.ego[V["heading"]] - 0.3
    before_vehicles[0, [V["x"], V["y"], V["heading"]]] = (*(now.ego[:2] - 8 * np.array([np.cos(heading), np.sin(heading)])), heading)
    before = WorldState(-1.0, before_vehicles, now.objects, now.road, now.route)
    drawer = Rasteriser(CameraConfig(frame="ego", width=128, scaling=4.0))
    car = now.vehicles[1, [V["x"], V["y"]]]
    anchored = drawer.scene(before, pose=now)
    assert anchored[_pixel(drawer.camera, now, car, None)] == luma(BLUE)  # the car where it is in the newest frame
    assert anchored[_pixel(drawer.camera, now, before.ego[:2], None)] == luma(GREEN)  # the ego where it was
    assert anchored[_pixel(drawer.camera, now, now.ego[:2], None)] == GROUND  # not where it is now
    own = drawer.scene(before)  # each frame from its own pose: the whole scene turns and slides
    assert own[_pixel(drawer.camera, now, car, None)] != luma(BLUE)
    assert CameraConfig.from_contract({k: v for k, v in CameraConfig().contract().items() if k != "anchor"}).anchor == "own"


def test_the_heading_anchor_keeps_the_older_frames_own_position_and_the_newest_heading():
    """The ego 8 m back and turned 0.3 rad less: drawn from there but facing the newest heading, a
    parked car is where that pose sees it, so between frames it moves by the ego's displacement
    only, without the turn (own: it also swings by the 0.3 rad)."""
    from sim.raster import anchor_pose

    now = _constructed_world()
    before_vehicles = now.vehicles.copy()
    heading = now.ego[V["heading"]] - 0.3
    before_vehicles[0, [V["x"], V["y"], V["heading"]]] = (*(now.ego[:2] - 8 * np.array([np.cos(heading), np.sin(heading)])), heading)
    before = WorldState(-1.0, before_vehicles, now.objects, now.road, now.route)
    pose = anchor_pose(before, now, "heading")
    assert np.array_equal(pose.ego[:2], before.ego[:2]) and pose.ego[V["heading"]] == now.ego[V["heading"]]
    drawer = Rasteriser(CameraConfig(frame="ego", width=128, scaling=4.0, anchor="heading"))
    car = now.vehicles[1, [V["x"], V["y"]]]
    frame = drawer.scene(before, pose=pose)
    assert frame[_pixel(drawer.camera, pose, car, None)] == luma(BLUE)
    assert frame[_pixel(drawer.camera, pose, before.ego[:2], None)] == luma(GREEN)  # the ego at its own position
    assert _pixel(drawer.camera, pose, car, None) != _pixel(drawer.camera, before, car, None)  # not the own pose's view
    assert anchor_pose(before, now, "own") is before and anchor_pose(before, now, "newest") is now


def test_both_anchors_share_the_newest_frame_and_differ_before_it_on_a_bend():
    stacks = {}
    for anchor in ("own", "newest", "heading"):
        env = make_env("roundabout", obs="camera", camera=CameraConfig(anchor=anchor), seed=0)
        obs, _ = env.reset(seed=3)
        for _ in range(2):  # into the ring: the ego turns 0.085 rad across the stack (it crashes at step 3)
            obs, _, terminated, *_ = env.step(1)
            assert not terminated
        stacks[anchor] = obs
    stack = CameraConfig().stack
    for anchor in ("newest", "heading"):
        assert np.array_equal(stacks["own"][stack - 1:], stacks[anchor][stack - 1:])  # newest scene and route
        assert not np.array_equal(stacks["own"][0], stacks[anchor][0])
    assert not np.array_equal(stacks["newest"][0], stacks["heading"][0])


def test_the_encoder_refuses_frames_of_another_contract_in_one_line():
    encoder = Encoder(EncoderConfig(camera=CameraConfig().contract(), features=16))
    encoder.check_camera(CameraConfig())
    with pytest.raises(ValueError) as err:
        encoder.check_camera(CameraConfig(frame="world"))
    assert "\n" not in str(err.value) and "frame 'world' (encoder: 'ego')" in str(err.value)
    with pytest.raises(ValueError, match="dt 0.4"):
        make_env("merge", obs="features", encoder=encoder, camera=CameraConfig(dt=0.4))
    env = make_env("merge", obs="features", encoder=encoder)  # no camera given: the encoder's own
    assert env.camera == CameraConfig() and env.reset(seed=0)[0].shape == (16,)


def test_bad_camera_values_are_one_line_errors():
    for kwargs, message in [(dict(frame="sky"), "unknown camera frame 'sky'; valid: ego, world"),
                            (dict(renderer="x"), "unknown camera renderer"),
                            (dict(channels=("route",)), "channels must be"),
                            (dict(dt=0.0), "dt must be in"),
                            (dict(scaling=-1.0), "scaling must be > 0"),
                            (dict(anchor="oldest"), "unknown camera anchor 'oldest'; valid: newest, own, heading")]:
        with pytest.raises(ValueError, match=message):
            CameraConfig(**kwargs)
    with pytest.raises(ValueError, match="highway-env camera is world-aligned"):
        CameraConfig(renderer="highway-env")
    assert CameraConfig.from_contract(CameraConfig().contract()) == CameraConfig()
