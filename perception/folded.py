"""The encoder's features for inference, folded into fewer operations: the same function, half the work.

Everything before the first non-linearity of Encoder.features is linear, so it folds into the
first convolution (exact up to float rounding, ~1e-6 of the features):
- the motion channels are differences of scene frames: their kernels move onto the frames
  (conv over [s1..sK, m1..mK-1] = conv over s1..sK with W[s_j] + W[m_j-1] - W[m_j]);
- the coordinate channels are the same for every frame: their convolution is a constant map,
  added as a bias of shape (C, H/2, W/2);
- dividing by 255 scales the weights, so uint8 frames go straight in;
- every BatchNorm (eval statistics) folds into the convolution before it.
The first convolution then reads 5 channels instead of 10 (half the trunk's multiply-adds).
Measured on one core at batch 2-8 (benchmarks/training_throughput.py): see docs/engines.md.

Used wherever frames become agents' features without gradients (perception/features.py
encode_frames); training and fine-tuning go through Encoder itself.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

from perception.encoder import Encoder


def _fold_blocks(blocks: nn.Sequential) -> list[nn.Module]:
    """(Conv, BatchNorm, ReLU)* -> (Conv with the BatchNorm in it, ReLU)*."""
    modules, out = list(blocks), []
    for i, module in enumerate(modules):
        if isinstance(module, nn.BatchNorm2d):
            continue
        if isinstance(module, nn.Conv2d):
            module = fuse_conv_bn_eval(module, modules[i + 1])
        out.append(module)
    return out


class FoldedFeatures(nn.Module):
    """Encoder.features of a (frozen) encoder: (B, C, H, W) frames in [0, 255] (uint8 or float)
    -> (B, F). A snapshot: later changes to the encoder's weights do not reach it."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        encoder = encoder.eval()
        config = encoder.config
        stack, channels = config.stack, config.in_channels  # scene frames, then the route channel if any
        first = fuse_conv_bn_eval(encoder.stem[0], encoder.stem[1])  # stem: conv, BatchNorm, ReLU, ...
        weight = first.weight.detach()  # (16, frames + motion + 2 coordinates, k, k)
        frames, motion, coords = weight[:, :channels], weight[:, channels:channels + stack - 1], weight[:, -2:]
        folded = frames.clone()
        folded[:, 1:stack] += motion  # s_j appears as + in m_(j-1) = s_j - s_(j-1)
        folded[:, : stack - 1] -= motion  # and as - in m_j = s_(j+1) - s_j
        self.conv = nn.Conv2d(channels, first.out_channels, first.kernel_size, first.stride, first.padding, bias=False)
        self.conv.weight.data = folded / 255.0
        with torch.no_grad():  # (1, 16, H/2, W/2): the coordinates' share, the bias included
            bias_map = F.conv2d(encoder.coords, coords, first.bias, first.stride, first.padding)
        self.register_buffer("bias_map", bias_map)
        self.body = nn.Sequential(*_fold_blocks(encoder.stem[3:]), *_fold_blocks(encoder.deep), *encoder.project)
        self.requires_grad_(False)
        self.eval()

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.conv(frames.float()) + self.bias_map
        return self.body(F.relu(x, inplace=True))
