"""Statistics against hand-computed values."""

import math

import numpy as np
import pytest

from scoring.stats import iqm, mean_ci, probability_of_improvement, suite_aggregates, wilson


def test_wilson_matches_the_formula():
    k, n, z = 3, 10, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    interval = wilson(k, n)
    assert interval.value == pytest.approx(0.3)
    assert (interval.low, interval.high) == pytest.approx((centre - half, centre + half), abs=1e-9)
    assert wilson(0, 20).low == 0.0 and wilson(20, 20).high == pytest.approx(1.0)


def test_bootstrap_ci_brackets_the_mean_and_shrinks_with_more_data():
    rng = np.random.default_rng(1)
    small, large = rng.uniform(size=10), rng.uniform(size=400)
    a, b = mean_ci(small), mean_ci(large)
    assert a.low < a.value < a.high and b.low < b.value < b.high
    assert (b.high - b.low) < (a.high - a.low)
    constant = mean_ci([0.5, 0.5, 0.5])
    assert (constant.value, constant.low, constant.high) == (0.5, 0.5, 0.5)


def test_iqm_drops_the_top_and_bottom_quarter():
    assert iqm([0, 0, 1, 2, 3, 4, 100, 100]) == pytest.approx(2.5)


def test_suite_aggregates_are_stratified_and_seeded():
    groups = [[1.0, 0.9, 0.8, 1.0], [0.1, 0.2, 0.0, 0.1]]
    out = suite_aggregates(groups)
    assert out["mean"].value == pytest.approx(np.mean(np.concatenate(groups)))
    # Stratified: every resample keeps 4 episodes of each scenario, so the mean cannot stray far.
    assert 0.45 < out["mean"].low <= out["mean"].value <= out["mean"].high < 0.6
    assert suite_aggregates(groups) == out  # same data, same report


def test_probability_of_improvement():
    better, worse = [[0.9, 0.8, 1.0], [0.7, 0.6]], [[0.1, 0.2, 0.0], [0.3, 0.2]]
    assert probability_of_improvement(better, worse).value == 1.0
    assert probability_of_improvement(worse, better).value == 0.0
    tie = probability_of_improvement([[0.5, 0.5]], [[0.5, 0.5]])
    assert (tie.value, tie.low, tie.high) == (0.5, 0.5, 0.5)
    mixed = probability_of_improvement([[0.0, 1.0]], [[0.5, 0.5]])
    assert mixed.value == 0.5 and mixed.low < 0.5 < mixed.high
