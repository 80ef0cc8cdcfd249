"""Per-unit scores of a primary metric and the paired bootstrap of a difference between runs.

A unit is what the primary metric averages, as its family declares (``unit_key`` and the
metric's ``aggregate``, see families.base): a sample (VQA, grounding, captions: the per-image
CIDEr), or a question made of the rows sharing the ``unit_key`` field (MMBench CircularEval:
``group``; a question is right only when every pass is, so its score is the rows' minimum).
Only a metric declared as a ``mean`` has units: MME's sum of subtask scores gets no interval.

The units are used only when their mean reproduces the recorded metric: a results file can
be edited or cut, a plug-in may declare its aggregate wrongly, and a family unknown here
declares nothing (its rows are then taken as samples), so this check stays as the net that
keeps a wrong pairing from ever being tested.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from infmllm_eval.metrics.bootstrap import bootstrap_means
from infmllm_eval.report.declared import Declared, declared

RESAMPLES = 10_000


@dataclass(frozen=True)
class Units:
    """Unit ids and their scores; ``kind`` is 'sample', or 'question' for units of several
    rows (the family's ``unit_key``)."""

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
    ``per_sample`` (absent, a metric that is not a mean, only some rows with the unit
    field, or scores whose mean is not the recorded metric). Rows none of which has the
    family's unit field are samples."""
    rows = entry.get("per_sample") or []
    metric = entry.get("primary_metric", "")
    value = entry.get("metrics", {}).get(metric)
    found = declared(entry, metric) if isinstance(metric, str) else Declared()
    if not rows or found.aggregate not in ("mean", None):
        return None
    key = found.unit_key
    grouped = 0 if key is None else sum(key in r for r in rows)
    if key is not None and grouped:  # rows without the field are samples; a mix is damage
        if grouped != len(rows):
            return None
        units: dict[str, float] = {}
        for row in rows:
            name = str(row[key])
            units[name] = min(units.get(name, math.inf), float(row["score"]))
        if _matches(list(units.values()), value):
            return Units(tuple(units), tuple(units.values()), "question")
        return None
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
