"""Percentile bootstrap interval for a mean of per-sample scores."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bootstrap_means(values: np.ndarray, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """Means of ``resamples`` resamples of ``values`` with replacement.

    Resampling n values only changes how often each distinct value is drawn, so when they take
    few distinct values (VQA: 0/30/60/90/100) the draw is a multinomial over those values: the
    same distribution as index resampling, far cheaper."""
    rng = np.random.default_rng(seed)
    n = values.size
    distinct, counts = np.unique(values, return_counts=True)
    if distinct.size <= 4096:
        return np.asarray(rng.multinomial(n, counts / n, size=resamples) @ distinct / n)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        means[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return means


def bootstrap_mean_ci(
    scores: Sequence[float], resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean, or None for fewer than two scores."""
    values = np.asarray(scores, dtype=np.float64)
    if values.size < 2:
        return None
    means = bootstrap_means(values, resamples, seed)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)
