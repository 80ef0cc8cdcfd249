"""Facet accuracies: a loader may put ``meta["facets"]`` (a tuple of names) on a sample,
naming the overlapping subsets it belongs to (ScienceQA: subject, context, grade band; SEED:
its evaluation dimension); a family then reports ``accuracy_<facet>`` = % right over the
samples of each facet. A facet no sample has is left out (ScienceQA's evaluate_acc.py
prints -1 there)."""

from __future__ import annotations

from collections.abc import Sequence

from infmllm_eval.families.base import MetricSpec, ScoredSample, mean
from infmllm_eval.types import Sample

FACET_METRICS = MetricSpec(
    "accuracy_*", help="% right over the samples of each facet the loader names "
    "(ScienceQA: subject, context, grade; SEED: dimension)")


def facet_accuracies(samples: Sequence[Sample], scored: Sequence[ScoredSample],
                     ) -> dict[str, float]:
    """``accuracy_<facet>`` for every facet the samples name, in first-seen order."""
    groups: dict[str, list[float]] = {}
    for sample, result in zip(samples, scored, strict=True):
        for facet in sample.meta.get("facets", ()):
            groups.setdefault(str(facet), []).append(result.score)
    return {f"accuracy_{name}": mean(values) for name, values in groups.items()}
