"""Per-unit scores of a primary metric and the paired bootstrap of a difference between runs.

A unit is what the primary metric averages: a sample (VQA, grounding, captions: the per-image
CIDEr) or a question made of several rows (MMBench CircularEval: right only when every pass
is right). Units are only used when their mean reproduces the recorded primary metric, so a
metric that is not a mean (MME's sum of subtask scores) gets no interval instead of a wrong one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from infmllm_eval.metrics.bootstrap import bootstrap_means

RESAMPLES = 10_000


@dataclass(frozen=True)
class Units:
    """Unit ids and their scores; ``kind`` is 'sample' or 'question'."""

    ids: tuple[str, ...]
    scores: tuple[float, ...]
    kind: str


@dataclass(frozen=True)
class PairedResult:
    """B - A over the units both runs have: mean difference, 95% interval, two-sided p."""

    n: int
    delta: float
    ci95: tuple[float, float] | None
    p_value: float | None


def _matches(scores: list[float], value: Any) -> bool:
    if not scores or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return math.isclose(sum(scores) / len(scores), value, rel_tol=1e-9, abs_tol=1e-6)


def primary_units(entry: Mapping[str, Any]) -> Units | None:
    """The units of the entry's primary metric, or None when they cannot be rebuilt from
    ``per_sample`` (absent, or the metric is not their mean)."""
    rows = entry.get("per_sample") or []
    value = entry.get("metrics", {}).get(entry.get("primary_metric", ""))
    if rows and all("group" in r for r in rows):  # questions first: where every question's
        groups: dict[str, float] = {}  # passes agree both means match, and two runs must
        for row in rows:  # pair the same kind of unit
            key = str(row["group"])
            groups[key] = min(groups.get(key, math.inf), float(row["score"]))
        if _matches(list(groups.values()), value):
            return Units(tuple(groups), tuple(groups.values()), "question")
    scores = [float(r["score"]) for r in rows]
    if _matches(scores, value):
        return Units(tuple(str(r["id"]) for r in rows), tuple(scores), "sample")
    return None


def paired_bootstrap(a: Units, b: Units, resamples: int = RESAMPLES,
                     seed: int = 0) -> PairedResult | None:
    """Paired bootstrap of mean(B) - mean(A) over the common units (None when none).

    The interval is the 2.5/97.5 percentile of the resampled differences; the p-value tests
    "no difference" by shifting that distribution to mean 0 and counting resamples at least
    as far from 0 as the observed difference: (1 + count) / (1 + resamples)."""
    scores_a = dict(zip(a.ids, a.scores, strict=True))
    pairs = [(scores_a[i], s) for i, s in zip(b.ids, b.scores, strict=True) if i in scores_a]
    if not pairs:
        return None
    diffs = np.array([sb - sa for sa, sb in pairs], dtype=np.float64)
    delta = float(diffs.mean())
    if diffs.size < 2:
        return PairedResult(1, delta, None, None)
    means = bootstrap_means(diffs, resamples, seed)
    low, high = np.quantile(means, [0.025, 0.975])
    extreme = np.abs(means - delta) >= abs(delta) - 1e-12 if delta else np.ones(resamples, bool)
    p_value = (1.0 + float(extreme.sum())) / (1.0 + resamples)
    return PairedResult(diffs.size, delta, (float(low), float(high)), min(1.0, p_value))
