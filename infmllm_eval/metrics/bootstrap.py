"""Percentile bootstrap interval for a mean of per-sample scores."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bootstrap_mean_ci(
    scores: Sequence[float], resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """95% percentile interval of the mean, or None for fewer than two scores.

    Resampling n scores with replacement only changes how often each distinct value is drawn,
    so when the scores take few distinct values (VQA: 0/30/60/90/100) the draw is done as a
    multinomial over those values: the same distribution as index resampling, far cheaper.
    """
    values = np.asarray(scores, dtype=np.float64)
    n = values.size
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    distinct, counts = np.unique(values, return_counts=True)
    if distinct.size <= 4096:
        draws = rng.multinomial(n, counts / n, size=resamples)
        means = draws @ distinct / n
    else:
        means = np.empty(resamples)
        chunk = max(1, 2_000_000 // n)
        for start in range(0, resamples, chunk):
            stop = min(resamples, start + chunk)
            idx = rng.integers(0, n, size=(stop - start, n))
            means[start:stop] = values[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)
