"""Statistics of a suite run (scipy.stats underneath; see docs/metrics.md).

Per scenario and agent: mean driving score with a 95% percentile-bootstrap CI
(scipy.stats.bootstrap), Wilson 95% intervals for success and collision rates
(scipy.stats.binomtest(...).proportion_ci(method="wilson")), collisions per km.
Across the suite: mean and IQM (scipy.stats.trim_mean, 25% cut each side) of the driving score
with stratified bootstrap CIs (seeds resampled within each scenario, as rliable does), and the
probability of improvement P(X > Y) between two agents (Mann-Whitney U / (n m) per scenario,
averaged over scenarios, as rliable defines it; scipy.stats.mannwhitneyu), with a stratified
bootstrap CI. (rliable itself pins arch<8, which does not import with pandas 3 here.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000
RNG_SEED = 0  # bootstrap resampling is seeded: the same results give the same report


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.2f} [{self.low:.2f}, {self.high:.2f}]"


def mean_ci(scores) -> Interval:
    x = np.asarray(scores, dtype=float)
    if len(x) == 0:
        return Interval(math.nan, math.nan, math.nan)
    if len(x) == 1 or np.ptp(x) == 0:
        return Interval(float(x.mean()), float(x.min()), float(x.max()))  # no spread to resample
    res = stats.bootstrap(
        (x,),
        np.mean,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(RNG_SEED),
    )
    return Interval(float(x.mean()), float(res.confidence_interval.low), float(res.confidence_interval.high))


def wilson(successes: int, n: int) -> Interval:
    if n == 0:
        return Interval(math.nan, math.nan, math.nan)
    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return Interval(successes / n, float(ci.low), float(ci.high))


def iqm(x) -> float:
    return float(stats.trim_mean(np.asarray(x, dtype=float), 0.25))


def _stratified_resamples(groups: list[np.ndarray], rng) -> list[np.ndarray]:
    """For each stratum (scenario) of size n: a (RESAMPLES, n) index array, drawn with replacement."""
    return [rng.integers(0, len(g), size=(RESAMPLES, len(g))) for g in groups]


def suite_aggregates(groups: list) -> dict[str, Interval]:
    """Mean and IQM over all episodes of a suite, with stratified bootstrap CIs.
    groups: one array of driving scores per scenario."""
    groups = [np.asarray(g, dtype=float) for g in groups if len(g)]
    pooled = np.concatenate(groups)
    rng = np.random.default_rng(RNG_SEED)
    samples = np.concatenate([g[idx] for g, idx in zip(groups, _stratified_resamples(groups, rng))], axis=1)
    alpha = (1 - CONFIDENCE) / 2 * 100
    out = {}
    for name, point, boot in (
        ("mean", pooled.mean(), samples.mean(axis=1)),
        ("iqm", iqm(pooled), stats.trim_mean(samples, 0.25, axis=1)),
    ):
        low, high = np.percentile(boot, [alpha, 100 - alpha])
        out[name] = Interval(float(point), float(low), float(high))
    return out


def probability_of_improvement(x_groups: list, y_groups: list) -> Interval:
    """P(X > Y): per scenario, the chance that a random episode of X scores above one of Y
    (ties count half), averaged over scenarios; stratified bootstrap CI."""
    pairs = [(np.asarray(x, float), np.asarray(y, float)) for x, y in zip(x_groups, y_groups) if len(x) and len(y)]
    point = np.mean([stats.mannwhitneyu(x, y).statistic / (len(x) * len(y)) for x, y in pairs])
    rng = np.random.default_rng(RNG_SEED)
    boot = np.zeros(RESAMPLES)
    for x, y in pairs:
        # Pairwise wins (1), ties (0.5), losses (0); a resample picks rows and columns.
        wins = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
        ix = rng.integers(0, len(x), size=(RESAMPLES, len(x)))
        iy = rng.integers(0, len(y), size=(RESAMPLES, len(y)))
        boot += wins[ix[:, :, None], iy[:, None, :]].mean(axis=(1, 2))
    boot /= len(pairs)
    alpha = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(boot, [alpha, 100 - alpha])
    return Interval(float(point), float(low), float(high))
