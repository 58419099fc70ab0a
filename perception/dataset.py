"""Perception data: shards of (frame stack, truth) pairs, and the training targets built from them.

A shard is one compressed .npz per (split, scenario):
    frames  (N, C, H, W) uint8   the camera observation
    truth   (N, V+1, 6) float32  sim's info["truth"] at the same instant (see sim/truth.py)
    lane    (N, 5) float32       sim's info["lane"]: the ego's place on its lane (LANE_FEATURES)
    view    (N, 4) float32       camera view (x_min, x_max, y_min, y_max) [m] around the ego
    seed    (N,) int64           episode seed (splits are disjoint by seed)
    step    (N,) int32           step within the episode
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from sim.camera import in_view
from sim.files import atomic_write

SHARD_KEYS = ("frames", "truth", "lane", "view", "seed", "step")


def write_shard(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Compressed, and atomic: written to a temp name in the same folder, then renamed."""
    missing = set(SHARD_KEYS) - set(arrays)
    if missing:
        raise ValueError(f"shard is missing {sorted(missing)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda out: np.savez_compressed(out, **{k: arrays[k] for k in SHARD_KEYS}))


def read_shard(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        missing = set(SHARD_KEYS) - set(data.files)
        if missing:
            raise ValueError(f"shard {path} lacks {sorted(missing)} (an older format): "
                             "collect again with `python -m perception.collect`")
        return {k: data[k] for k in SHARD_KEYS}


def perception_targets(truth: np.ndarray, view: tuple[float, float, float, float]) -> np.ndarray:
    """What the camera can be asked to see: (V+1, 6) like truth, but rows 1.. hold only the
    vehicles inside the view, packed first and sorted by distance (nearest first).

    Slot assignment by distance: an order the network can read off the image (the ego sits at a
    fixed pixel), so a slot's target never depends on hidden bookkeeping such as vehicle ids.
    Row 0 stays the ego (its velocity and heading are visible from the lane markings' motion).
    """
    target = np.zeros_like(truth)
    target[0] = truth[0]
    visible = truth[in_view(truth, view)]
    order = np.argsort(np.hypot(visible[:, 1], visible[:, 2]), kind="stable")
    target[1 : 1 + len(visible)] = visible[order]
    return target


class FrameDataset(Dataset):
    """All samples of some shards in memory: uint8 frames, perception targets, camera views and lane states."""

    def __init__(self, paths: list[Path]) -> None:
        if not paths:
            raise ValueError("no shards given")
        shards = [read_shard(p) for p in paths]
        self.frames = torch.from_numpy(np.concatenate([s["frames"] for s in shards]))  # (N, C, H, W) uint8
        targets = [
            perception_targets(t, v) for s in shards for t, v in zip(s["truth"], s["view"], strict=True)
        ]
        self.targets = torch.from_numpy(np.stack(targets).astype(np.float32))  # (N, V+1, 6)
        self.views = torch.from_numpy(np.concatenate([s["view"] for s in shards]).astype(np.float32))  # (N, 4) [m]
        self.lanes = torch.from_numpy(np.concatenate([s["lane"] for s in shards]).astype(np.float32))  # (N, 5)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int):
        return self.frames[index], self.targets[index], self.views[index], self.lanes[index]
