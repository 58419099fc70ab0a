"""Perception metrics of shipped weights on the held-out test split, per scenario.

    python -m perception.evaluate [--weights v4] [--data data/perception] [--out metrics.json]

Rows: every scenario's test seeds (seeds never used in training), the held-out scenario (never
seen at all), then the mean and the worst over the trained scenarios.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

import scenarios
from perception.collect import held_out
from perception.dataset import FrameDataset, data_camera
from perception.metrics import lane_scores, score
from perception.weights import PERCEPTION_WEIGHTS, WeightsError, load_encoder

METRICS = ("f1", "precision", "recall", "position_mae", "velocity_mae", "on_road_accuracy", "lateral_mae",
           "heading_error_mae")
HIGHER_IS_BETTER = ("f1", "precision", "recall", "on_road_accuracy")


def predict(encoder, frames: torch.Tensor, views: torch.Tensor, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(truth layout (N, S, 6), lane layout (N, 5)) for uint8 frames, in batches."""
    chunks = [slice(i, i + batch) for i in range(0, len(frames), batch)]
    truth = np.concatenate([encoder.predict_truth(frames[c], views[c].numpy()) for c in chunks])
    return truth, np.concatenate([encoder.predict_lane(frames[c]) for c in chunks])


def evaluate_split(encoder, data: Path, split: str = "test") -> dict[str, dict]:
    """{scenario: metrics} over the split's shards, plus 'mean' and 'worst' over trained scenarios."""
    shards = sorted((data / split).glob("*.npz"))
    if not shards:
        raise FileNotFoundError(f"no {split} shards in {data / split}; run `python -m perception.collect` first")
    results = {}
    for shard in shards:
        dataset = FrameDataset([shard])
        encoder.check_camera(data_camera(data, dataset))  # frames of another camera: one line, not nonsense
        truth, lane = predict(encoder, dataset.frames, dataset.views)
        results[shard.stem] = {**score(truth, dataset.targets.numpy()), **lane_scores(lane, dataset.lanes.numpy())}
    trained = [r for name, r in results.items() if not held_out(name)]
    if trained:
        results["mean"] = {m: float(np.mean([r[m] for r in trained])) for m in METRICS}
        worst = {m: min if m in HIGHER_IS_BETTER else max for m in METRICS}
        results["worst"] = {m: float(worst[m](r[m] for r in trained)) for m in METRICS}
    return results


def print_results(results: dict[str, dict], title: str) -> None:
    table = Table(title=title)
    for header in ("scenario", "F1", "precision", "recall", "position [m]", "velocity [m/s]", "on road",
                   "lateral [m]", "heading [rad]", "true vehicles"):
        table.add_column(header, justify="right")
    for name, r in results.items():
        label = f"{name} (held out)" if name in scenarios.names() and held_out(name) else name
        table.add_row(label, *(_fmt(r[m]) for m in METRICS), str(r.get("true_vehicles", "")))
    Console().print(table)


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perception.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=PERCEPTION_WEIGHTS,
                        help=f"name under perception/weights/ or a .pt path (default: {PERCEPTION_WEIGHTS}; "
                             "default = v1, highway-env's camera)")
    parser.add_argument("--data", type=Path, default=Path("data/perception"), help="collected shards")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--out", type=Path, help="also write the metrics as JSON here")
    args = parser.parse_args(argv)
    try:
        encoder = load_encoder(args.weights)
        results = evaluate_split(encoder, args.data, args.split)
    except (WeightsError, FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    print_results(results, f"perception on {args.split} seeds ({args.weights})")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
