import numpy as np
import pytest

from perception.metrics import MATCH_RADIUS, score


def frame(*vehicles):
    """(11, 6) truth layout with the given (x, y, vx, vy) vehicles in slots 1.., presence 1."""
    out = np.zeros((11, 6), np.float32)
    out[0, 0] = 1
    for i, (x, y, vx, vy) in enumerate(vehicles, start=1):
        out[i] = [1, x, y, vx, vy, 0]
    return out


def test_perfect_prediction():
    truth = frame((10, 0, 1, 0), (-5, 4, -2, 0))
    result = score(truth[None], truth[None])
    assert result["f1"] == 1 and result["position_mae"] == 0 and result["velocity_mae"] == 0


def test_errors_are_euclidean_means_over_matched_pairs_in_any_slot_order():
    truth = frame((10, 0, 1, 0), (-5, 4, -2, 0))
    predicted = frame((-5, 4 + 1.0, -2, 0), (10 + 0.6, 0.8, 1, 3))  # swapped slots, 1 m off each
    result = score(predicted[None], truth[None])
    assert result["f1"] == 1
    assert result["position_mae"] == pytest.approx(1.0)
    assert result["velocity_mae"] == pytest.approx(1.5)  # (0 + 3) / 2


def test_missed_far_and_extra_vehicles_count_against_precision_and_recall():
    truth = frame((10, 0, 0, 0), (20, 4, 0, 0))
    predicted = frame((10, 0, 0, 0), (20 + MATCH_RADIUS + 0.5, 4, 0, 0), (30, -4, 0, 0))
    result = score(predicted[None], truth[None])
    assert result["true_positives"] == 1
    assert result["precision"] == pytest.approx(1 / 3) and result["recall"] == pytest.approx(1 / 2)
    no_vehicles = frame()
    assert score(no_vehicles[None], truth[None])["f1"] == 0


def test_velocity_error_is_also_given_by_the_true_relative_speed():
    """An oncoming car (-35 m/s relative) read 4 m/s off, a car keeping pace read 1 m/s off: the
    mean hides which one is hard; the bins by true relative speed show it."""
    truth = frame((10, 0, 0.5, 0), (30, -4, -35, 0))
    predicted = frame((10, 0, 1.5, 0), (30, -4, -31, 0))
    result = score(predicted[None], truth[None])
    assert result["velocity_mae"] == pytest.approx(2.5)
    by_speed = result["velocity_mae_by_relative_speed"]
    assert by_speed["0-5"] == (pytest.approx(1.0), 1) and by_speed["20+"] == (pytest.approx(4.0), 1)
    assert np.isnan(by_speed["5-10"][0]) and by_speed["5-10"][1] == 0
