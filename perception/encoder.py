"""The perception network: frame stack -> feature vector -> decoded vector space.

Encoder.features(frames)  (B, C, H, W) float in [0, 1] -> (B, F)       what agents consume
Encoder.decode(features)  (B, F) -> (B, S, 7)                           per slot: presence logit,
                                                                         x, y, vx, vy, cos h, sin h (scaled)
Encoder.predict_truth(frames_uint8) -> (B, S, 6) in sim's truth layout, presence as probability

Design for the 4 x 128 x 64 camera: four stride-2 convolutions take it to an 8 x 4 grid of 64
channels (a cell is 16 px = 9 m), flattened into a linear layer so that every slot can attend
to every cell. Two coordinate channels (CoordConv) tell the convolutions where they are: the
regression target is a position. Other frame sizes work too: an adaptive pooling layer brings
any grid to 8 x 4 (it is a no-op at the default size).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

# Regression targets are divided by these so that all are O(1): [m], [m], [m/s], [m/s], 1, 1.
TARGET_SCALE = torch.tensor([20.0, 10.0, 10.0, 10.0, 1.0, 1.0])


@dataclass(frozen=True)
class EncoderConfig:
    in_channels: int = 4  # frames in the stack
    height: int = 128  # [px]
    width: int = 64  # [px]
    features: int = 256  # size of the feature vector agents see
    slots: int = 11  # ego + 10 vehicles, as sim's truth array


class Encoder(nn.Module):
    def __init__(self, config: EncoderConfig = EncoderConfig()) -> None:
        super().__init__()
        self.config = config
        c = config.in_channels + 2  # + x, y coordinate channels

        def block(cin: int, cout: int, k: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, k, stride=2, padding=k // 2), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.cnn = nn.Sequential(
            *block(c, 32, 5),  # (B, 32, 64, 32)
            *block(32, 64, 3),  # (B, 64, 32, 16)
            *block(64, 64, 3),  # (B, 64, 16, 8)
            *block(64, 64, 3),  # (B, 64, 8, 4)
            nn.AdaptiveAvgPool2d((8, 4)),
            nn.Flatten(),  # (B, 2048)
        )
        self.project = nn.Sequential(nn.Linear(64 * 8 * 4, config.features), nn.ReLU(inplace=True))
        self.head = nn.Sequential(
            nn.Linear(config.features, config.features), nn.ReLU(inplace=True), nn.Linear(config.features, config.slots * 7)
        )
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, config.height), torch.linspace(-1, 1, config.width), indexing="ij")
        self.register_buffer("coords", torch.stack([ys, xs])[None], persistent=False)  # (1, 2, H, W)

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float in [0, 1] -> (B, F)."""
        coords = self.coords
        if coords.shape[-2:] != frames.shape[-2:]:
            coords = nn.functional.interpolate(coords, size=frames.shape[-2:], mode="bilinear", align_corners=True)
        x = torch.cat([frames, coords.expand(frames.shape[0], -1, -1, -1)], dim=1)
        return self.project(self.cnn(x))

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """(B, F) -> (B, S, 7): presence logit and scaled regression targets per slot."""
        return self.head(features).view(-1, self.config.slots, 7)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.decode(self.features(frames))

    @torch.no_grad()
    def predict_truth(self, frames: np.ndarray | torch.Tensor) -> np.ndarray:
        """uint8 frames (B, C, H, W) -> (B, S, 6) like sim's truth; presence is a probability."""
        device = next(self.parameters()).device
        frames = torch.as_tensor(frames, device=device).float().div_(255)
        out = self(frames).cpu()
        return decode_output(out).numpy()

    def config_dict(self) -> dict:
        return asdict(self.config)


def decode_output(out: torch.Tensor) -> torch.Tensor:
    """(B, S, 7) network output -> (B, S, 6) truth layout in SI units."""
    presence = torch.sigmoid(out[..., :1])
    values = out[..., 1:] * TARGET_SCALE.to(out.device)
    heading = torch.atan2(values[..., 5], values[..., 4])[..., None]
    return torch.cat([presence, values[..., :4], heading], dim=-1)


def encode_target(target: torch.Tensor) -> torch.Tensor:
    """(B, S, 6) truth layout -> (B, S, 7): presence, scaled x, y, vx, vy, cos h, sin h."""
    h = target[..., 5]
    values = torch.stack([target[..., 1], target[..., 2], target[..., 3], target[..., 4], torch.cos(h), torch.sin(h)], -1)
    return torch.cat([target[..., :1], values / TARGET_SCALE.to(target.device)], dim=-1)


def perception_loss(out: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Presence BCE over vehicle slots + smooth L1 on present slots (ego row: velocity and heading).

    out: (B, S, 7) network output; target: (B, S, 6) perception targets (see dataset.perception_targets).
    """
    encoded = encode_target(target)
    presence = encoded[:, 1:, 0]
    bce = nn.functional.binary_cross_entropy_with_logits(out[:, 1:, 0], presence)
    mask = presence[..., None].expand(-1, -1, 6)
    regression = nn.functional.smooth_l1_loss(out[:, 1:, 1:], encoded[:, 1:, 1:], reduction="none")
    vehicles = (regression * mask).sum() / mask.sum().clamp(min=1)
    ego = nn.functional.smooth_l1_loss(out[:, 0, 3:], encoded[:, 0, 3:])  # ego vx, vy, cos h, sin h
    loss = bce + vehicles + ego
    return loss, {"presence_bce": bce.item(), "vehicle_regression": vehicles.item(), "ego_regression": ego.item()}
