"""Perception data: shards of (frame stack, truth) pairs, and the training targets built from them.

A shard is one compressed .npz per (split, scenario):
    frames  (N, C, H, W) uint8   the camera observation (the contract is in the data's manifest.json)
    truth   (N, V+1, 6) float32  sim's info["truth"] at the same instant, in the camera's frame (sim/truth.py)
    lane    (N, L) float32       sim's info["lane"]: the ego's place on its lane (LANE_FEATURES; L = 5 in v1 data)
    view    (N, 4) float32       the ground [m] at the frame's edges, around the ego (sim.camera.camera_view)
    seed    (N,) int64           episode seed (splits are disjoint by seed)
    step    (N,) int32           step within the episode
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from scenarios.load import SMALL_FILE_BYTES, read_json
from sim.camera import CameraConfig, in_view
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
        self.lanes = torch.from_numpy(np.concatenate([s["lane"] for s in shards]).astype(np.float32))  # (N, L)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int):
        return self.frames[index], self.targets[index], self.views[index], self.lanes[index]


def data_camera(data: Path, dataset: "FrameDataset") -> CameraConfig:
    """The camera contract the shards were collected with (their manifest; shards of the v1
    collector, without one, are highway-env's camera), checked against the frames' shape."""
    manifest = data / "manifest.json"
    contract = read_json(manifest, max_bytes=SMALL_FILE_BYTES).get("camera") if manifest.exists() else None
    _, channels, height, width = dataset.frames.shape
    camera = CameraConfig.from_contract(contract) if contract else CameraConfig.highway_env(height, width, stack=channels)
    if camera.shape != (channels, height, width):
        raise ValueError(f"{data}: frames {(channels, height, width)} do not match the manifest's camera {camera.shape}")
    return camera
