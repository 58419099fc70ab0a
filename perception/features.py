"""Encoder features as observations: for one env, for vector envs (one batched forward pass
across all workers), and as a stable-baselines3 features extractor. One Encoder class serves all.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from perception.encoder import Encoder
from perception.folded import FoldedFeatures
from sim.camera import CameraConfig
from perception.weights import CAMERA_WEIGHTS, DEFAULT_WEIGHTS, load_encoder


def features_space(encoder: Encoder) -> gym.spaces.Box:
    return gym.spaces.Box(0.0, np.inf, (encoder.config.features,), np.float32)  # after a ReLU


@torch.inference_mode()
def encode_frames(encoder: Encoder | FoldedFeatures, frames: np.ndarray) -> np.ndarray:
    """uint8 (B, C, H, W) -> float32 (B, F), on the encoder's device, in eval mode. A
    FoldedFeatures (what the wrappers below hold) computes the same features in half the time."""
    device = next(encoder.parameters()).device
    batch = torch.as_tensor(frames, device=device)
    if isinstance(encoder, FoldedFeatures):
        return encoder(batch).cpu().numpy()
    return encoder.features(batch.float().div_(255)).cpu().numpy()


def encoder_and_camera(encoder: Encoder | str | None = None, camera: CameraConfig | None = None):
    """(encoder, the camera contract it reads): the shipped default encoder when none is given, or
    the shipped weights of that name (perception/weights/); another camera asked for is refused
    in one line."""
    encoder = load_encoder(encoder) if isinstance(encoder, str) else (encoder or load_encoder())
    if camera is not None:
        encoder.check_camera(camera)
    return encoder, encoder.config.camera_config


def _check_camera(space: gym.Space, encoder: Encoder) -> None:
    expected = (encoder.config.in_channels, encoder.config.height, encoder.config.width)
    if space.shape != expected:
        raise ValueError(f"camera frames {space.shape} do not match the encoder's input {expected}")


class FeaturesObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Camera env -> feature vectors. info["camera"] keeps the frames the encoder saw."""

    def __init__(self, env: gym.Env, encoder: Encoder | None = None, weights: str = DEFAULT_WEIGHTS) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, weights=weights)
        super().__init__(env)
        self.encoder = (encoder or load_encoder(weights)).eval()
        _check_camera(env.observation_space, self.encoder)
        self.observation_space = features_space(self.encoder)
        self.folded = FoldedFeatures(self.encoder)  # a frozen snapshot of its features

    def reset(self, **kwargs):
        frames, info = self.env.reset(**kwargs)
        info["camera"] = frames
        return self.observation(frames), info

    def step(self, action):
        frames, reward, terminated, truncated, info = self.env.step(action)
        info["camera"] = frames
        return self.observation(frames), reward, terminated, truncated, info

    def observation(self, frames: np.ndarray) -> np.ndarray:
        return encode_frames(self.folded, frames[None])[0]


class VecFeatures(VecEnvWrapper):
    """Vector env of camera workers -> features, one batched forward pass for all workers per step.

    Terminal observations (info["terminal_observation"]) are encoded too, so that learners
    bootstrap from features of the true last state.
    """

    def __init__(self, venv: VecEnv, encoder: Encoder) -> None:
        _check_camera(venv.observation_space, encoder)
        self.encoder = encoder.eval()
        self.folded = FoldedFeatures(encoder)  # a frozen snapshot of its features
        super().__init__(venv, observation_space=features_space(encoder))

    def reset(self) -> np.ndarray:
        return encode_frames(self.folded, self.venv.reset())

    def step_wait(self):
        frames, rewards, dones, infos = self.venv.step_wait()
        terminal = [i for i, info in enumerate(infos) if "terminal_observation" in info]
        if terminal:
            stacked = np.stack([infos[i]["terminal_observation"] for i in terminal])
            for i, feats in zip(terminal, encode_frames(self.folded, stacked), strict=True):
                infos[i]["terminal_observation"] = feats
        return encode_frames(self.folded, frames), rewards, dones, infos


class EncoderExtractor(BaseFeaturesExtractor):
    """The pretrained encoder as an SB3 features extractor, for camera observations.

        PPO("CnnPolicy", camera_env, policy_kwargs=dict(
            features_extractor_class=EncoderExtractor,
            features_extractor_kwargs=dict(weights="v3", finetune=False)))

    SB3 divides image observations by 255 before the extractor, which is the [0, 1] input the
    encoder expects. Frozen by default (finetune=False): its parameters get no gradient and it
    stays in eval mode (batch-norm statistics fixed).
    """

    def __init__(self, observation_space: gym.spaces.Box, weights: str = CAMERA_WEIGHTS, finetune: bool = False,
                 encoder: Encoder | None = None) -> None:
        encoder = encoder or load_encoder(weights)
        _check_camera(observation_space, encoder)
        super().__init__(observation_space, features_dim=encoder.config.features)
        self.encoder = encoder
        self.finetune = finetune
        self.encoder.requires_grad_(finetune)

    def apply(self, fn):
        # SB3's actor-critic policies call extractor.apply(init_weights) for orthogonal
        # initialisation, which would overwrite the pretrained encoder; it keeps its weights.
        fn(self)
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.finetune:
            self.encoder.eval()
        return self

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.encoder.features(observations)
