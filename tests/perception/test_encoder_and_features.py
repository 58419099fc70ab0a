import os

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from stable_baselines3 import PPO

from perception import collect
from perception.dataset import perception_targets
from perception.encoder import Encoder, EncoderConfig, perception_loss
from perception.features import EncoderExtractor
from perception.weights import WeightsError, load_encoder, save_encoder
from sim import CameraConfig, make_env, make_vec_env


@pytest.fixture(scope="module")
def small_encoder():
    torch.manual_seed(0)
    return Encoder(EncoderConfig(features=32)).eval()


def test_encoder_accepts_other_camera_sizes():
    camera = CameraConfig(height=96, width=48, stack=2)  # 2 scene frames + the route: 3 channels
    encoder = Encoder(EncoderConfig(camera=camera.contract(), features=16))
    dense, slots, lane = encoder(torch.rand(3, 3, 96, 48))
    assert dense.shape == (3, 7, 24, 12) and slots.shape == (3, 11, 7) and lane.shape == (3, 6)
    assert encoder.features(torch.rand(3, 3, 96, 48)).shape == (3, 16)
    assert encoder.predict_truth(np.zeros((3, 3, 96, 48), np.uint8), encoder.view()).shape == (3, 11, 6)
    lane = encoder.predict_lane(np.zeros((3, 3, 96, 48), np.uint8))
    assert lane.shape == (3, 6) and ((lane[:, 0] >= 0) & (lane[:, 0] <= 1)).all()  # on_road is a probability


def test_training_on_a_tiny_dataset_reduces_the_loss():
    arrays = collect.collect_job("racetrack", "train", samples=32)["arrays"]
    frames = torch.from_numpy(arrays["frames"]).float() / 255
    views, lanes = torch.from_numpy(arrays["view"]), torch.from_numpy(arrays["lane"])
    targets = torch.from_numpy(np.stack([perception_targets(t, v) for t, v in zip(arrays["truth"], arrays["view"])]))
    torch.manual_seed(0)
    encoder = Encoder(EncoderConfig(features=64))
    optimizer = torch.optim.Adam(encoder.parameters(), lr=2e-3)
    losses, lane_losses = [], []
    for _ in range(25):
        loss, parts = perception_loss(encoder(frames), targets, views, lanes, (encoder.config.height, encoder.config.width))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        lane_losses.append(parts["lane"])
    assert losses[-1] < 0.5 * losses[0], losses
    assert lane_losses[-1] < 0.5 * lane_losses[0], lane_losses  # the lane head learns too (racetrack: bends, drift)


def test_weights_round_trip_and_bad_files_are_refused(tmp_path, small_encoder):
    path = tmp_path / "enc.pt"
    save_encoder(small_encoder, path, {"note": "test"})
    loaded = load_encoder(path)
    x = torch.rand(2, 5, 128, 64)
    torch.testing.assert_close(loaded.features(x), small_encoder.features(x))
    path.write_bytes(path.read_bytes()[:1000])  # truncated
    with pytest.raises(WeightsError, match="cannot load"):
        load_encoder(path)
    with pytest.raises(WeightsError, match="no encoder weights"):
        load_encoder(tmp_path / "missing.pt")


class _RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_and_never_executed(tmp_path, small_encoder):
    path = tmp_path / "evil.pt"
    save_encoder(small_encoder, path, {})
    marker = tmp_path / "pwned"
    payload = _RunsCode()
    payload.marker = marker
    torch.save({"weights": payload}, path)  # torch.save pickles: loading it unsafely would run `touch`
    with pytest.raises(WeightsError, match="not plain weights"):
        load_encoder(path)
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:.*different from the unwrapped version", "ignore:.*infinity")
def test_features_env_with_the_shipped_encoder_passes_check_env():
    env = make_env("merge", obs="features")
    obs, info = env.reset(seed=0)
    assert obs.shape == (256,) and obs.dtype == np.float32
    assert info["camera"].shape == (4, 128, 64)
    check_env(env, skip_render_check=True)


def test_vector_features_are_one_batched_pass_and_encode_terminal_observations(small_encoder):
    venv = make_vec_env("u-turn", n_envs=2, obs="features", seed=0, encoder=small_encoder, subprocess=False)
    obs = venv.reset()
    assert obs.shape == (2, 32)
    for _ in range(11):
        obs, _, dones, infos = venv.step(np.array([1, 1]))
        for info, done in zip(infos, dones):
            if done:
                assert info["terminal_observation"].shape == (32,)
    venv.close()


def test_sb3_ppo_cnn_policy_keeps_the_pretrained_encoder_frozen(small_encoder):
    env = make_env("merge", obs="camera", seed=0)
    before = {k: v.clone() for k, v in small_encoder.state_dict().items()}
    model = PPO("CnnPolicy", env, n_steps=16, batch_size=8, n_epochs=1, seed=0, device="cpu",
                policy_kwargs={"features_extractor_class": EncoderExtractor,
                               "features_extractor_kwargs": {"encoder": small_encoder, "finetune": False}})
    model.learn(16)
    after = small_encoder.state_dict()
    # Neither SB3's orthogonal initialisation nor the optimiser may touch the pretrained weights.
    assert all(torch.equal(before[k], after[k]) for k in before), "a frozen encoder does not change"
    assert isinstance(model.policy.features_extractor, EncoderExtractor)


def test_sb3_extractor_can_finetune():
    torch.manual_seed(1)
    encoder = Encoder(EncoderConfig(features=16))
    first_conv = encoder.stem[0].weight.detach().clone()
    env = make_env("merge", obs="camera", seed=0)
    model = PPO("CnnPolicy", env, n_steps=16, batch_size=8, n_epochs=1, seed=0, device="cpu",
                policy_kwargs={"features_extractor_class": EncoderExtractor,
                               "features_extractor_kwargs": {"encoder": encoder, "finetune": True}})
    model.learn(16)
    assert not torch.equal(first_conv, encoder.stem[0].weight)
