"""FoldedFeatures: the encoder's features with the motion, coordinate, /255 and BatchNorm steps
folded into the convolutions, which every features env now uses; it must be the same function."""

import numpy as np
import pytest
import torch

from perception.encoder import Encoder, EncoderConfig
from perception.features import encode_frames
from perception.folded import FoldedFeatures
from perception.weights import CAMERA_WEIGHTS, load_encoder
from sim import CameraConfig, make_env


def _trained_looking(encoder: Encoder) -> Encoder:
    """BatchNorm statistics and affine terms away from their defaults, so that folding them is tested."""
    generator = torch.Generator().manual_seed(1)
    for module in encoder.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator))
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.randn(n, generator=generator))
            module.bias.data.copy_(torch.randn(n, generator=generator))
    return encoder.eval()


@pytest.mark.parametrize("camera", [CameraConfig(), CameraConfig(channels=("scene",), stack=3, height=96, width=48)],
                         ids=["scene+route, 4 frames", "scene only, 3 frames"])
def test_folded_features_equal_the_encoders(camera):
    torch.manual_seed(0)
    encoder = _trained_looking(Encoder(EncoderConfig(camera=camera.contract(), features=32)))
    frames = torch.randint(0, 256, (6, *camera.shape), dtype=torch.uint8)
    with torch.no_grad():
        expected = encoder.features(frames.float() / 255)
    torch.testing.assert_close(FoldedFeatures(encoder)(frames), expected, rtol=1e-4, atol=1e-4)


def test_shipped_encoder_folds_and_features_envs_use_it():
    encoder = load_encoder(CAMERA_WEIGHTS)
    env = make_env("highway-fast-v0", obs="features", encoder=encoder, seed=3)
    features, info = env.reset()
    for _ in range(3):
        features, *_, info = env.step(1)
    with torch.no_grad():
        expected = encoder.features(torch.from_numpy(info["camera"][None]).float() / 255)[0].numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-3)  # features reach ~500
    assert np.abs(expected).max() > 1  # real features, not an all-zero frame
    np.testing.assert_array_equal(encode_frames(FoldedFeatures(encoder), info["camera"][None])[0], features)
    env.close()
