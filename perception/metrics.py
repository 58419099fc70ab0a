"""Perception metrics for vehicles in the camera's view.

Per frame, predicted vehicles (presence probability > 0.5) are matched one-to-one to the true
in-view vehicles by the Hungarian algorithm on centre distance; a pair counts as a true
positive when its centres are within MATCH_RADIUS. Then:
    precision = TP / predicted, recall = TP / true, F1 = their harmonic mean (all pooled over frames)
    position error [m]  = mean Euclidean distance between matched centres
    velocity error [m/s] = mean Euclidean distance between matched relative velocities, also by
                           the true relative speed (SPEED_BINS): where a car's motion is hard to read
(Euclidean errors are at least as large as per-axis MAEs: the stricter reading of "MAE".)

The lane head (the ego's place on its lane, sim/truth.py LANE_FEATURES) is scored per frame:
on-road accuracy, and the mean absolute error and R^2 of the lateral offset [m], the heading
error [rad] and the bend 25 m ahead [rad]. R^2 is nan where the truth does not vary (a straight
highway has no bends): there is nothing to explain.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

MATCH_RADIUS = 2.5  # [m] half a car length: farther than this is a different car (lanes are 4 m apart)
PRESENCE_THRESHOLD = 0.5
SPEED_BINS = (5.0, 10.0, 20.0)  # [m/s] relative speed bin edges: 0-5, 5-10, 10-20, 20+ (20+: oncoming traffic)
SPEED_BIN_NAMES = ("0-5", "5-10", "10-20", "20+")


@dataclass
class PerceptionScores:
    frames: int = 0
    true_vehicles: int = 0
    predicted_vehicles: int = 0
    true_positives: int = 0
    position_error_sum: float = 0.0  # [m]
    velocity_error_sum: float = 0.0  # [m/s]
    by_speed_count: list = field(default_factory=lambda: [0] * len(SPEED_BIN_NAMES))  # matched cars per SPEED_BINS bin
    by_speed_error_sum: list = field(default_factory=lambda: [0.0] * len(SPEED_BIN_NAMES))  # [m/s]

    def add(self, predicted: np.ndarray, target: np.ndarray) -> None:
        """predicted: (S, 6) truth layout with presence probability; target: (S, 6) perception targets."""
        self.frames += 1
        pred = predicted[1:][predicted[1:, 0] > PRESENCE_THRESHOLD]
        true = target[1:][target[1:, 0] > 0]
        self.predicted_vehicles += len(pred)
        self.true_vehicles += len(true)
        if len(pred) == 0 or len(true) == 0:
            return
        distance = np.linalg.norm(pred[:, None, 1:3] - true[None, :, 1:3], axis=-1)
        rows, cols = linear_sum_assignment(distance)
        good = distance[rows, cols] <= MATCH_RADIUS
        rows, cols = rows[good], cols[good]
        self.true_positives += len(rows)
        self.position_error_sum += float(distance[rows, cols].sum())
        errors = np.linalg.norm(pred[rows, 3:5] - true[cols, 3:5], axis=-1)
        self.velocity_error_sum += float(errors.sum())
        bins = np.digitize(np.linalg.norm(true[cols, 3:5], axis=-1), SPEED_BINS)
        for b, e in zip(bins, errors, strict=True):
            self.by_speed_count[b] += 1
            self.by_speed_error_sum[b] += float(e)

    def summary(self) -> dict:
        tp = self.true_positives
        precision = tp / self.predicted_vehicles if self.predicted_vehicles else 1.0
        recall = tp / self.true_vehicles if self.true_vehicles else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            **asdict(self),
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "position_mae": self.position_error_sum / tp if tp else float("nan"),
            "velocity_mae": self.velocity_error_sum / tp if tp else float("nan"),
            "velocity_mae_by_relative_speed": {name: (e / n if n else float("nan"), n) for name, e, n in
                                               zip(SPEED_BIN_NAMES, self.by_speed_error_sum, self.by_speed_count)},
        }


def score(predicted: np.ndarray, targets: np.ndarray) -> dict:
    """Scores of a batch: predicted (N, S, 6) with presence probabilities, targets (N, S, 6)."""
    scores = PerceptionScores()
    for p, t in zip(predicted, targets, strict=True):
        scores.add(p, t)
    return scores.summary()


LANE_REGRESSION = {"lateral": 1, "heading_error": 2, "bend_25m": 4, "route_25m": 5}  # name -> column of info["lane"]


def lane_scores(predicted: np.ndarray, target: np.ndarray) -> dict:
    """predicted (N, L) with on_road as a probability, target (N, >= L) sim's info["lane"]
    (v1 encoders predict no route_25m: L = 5)."""
    out = {"on_road_accuracy": float(np.mean((predicted[:, 0] > 0.5) == (target[:, 0] > 0.5)))}
    for name, column in LANE_REGRESSION.items():
        if column >= predicted.shape[1] or column >= target.shape[1]:
            continue
        error = predicted[:, column] - target[:, column]
        variance = float(np.var(target[:, column]))
        out[f"{name}_mae"] = float(np.mean(np.abs(error)))
        out[f"{name}_r2"] = 1 - float(np.mean(error**2)) / variance if variance > 1e-6 else float("nan")
    return out
