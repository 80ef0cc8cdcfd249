"""GQA: exact match against the single answer, split binary/open as the official eval.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infmllm_eval.families.base import (
    FamilyScores,
    MetricSpec,
    OptionSpec,
    QuestionFamily,
    ScoredSample,
    accuracy_metrics,
    cleaned_submission,
    means_by_meta,
    postprocess_option,
)
from infmllm_eval.metrics.gqa import GQA_VARIANTS, gqa_match
from infmllm_eval.metrics.postprocess import get_postprocessor
from infmllm_eval.types import Sample

#: the breakdown's groups (the loader's meta: see data.gqa)
GROUP_KEYS = ("answer_type", "structural", "semantic")


class GqaFamily(QuestionFamily):
    """Official exact match (or LLaVA's lower-case/trailing-period variant), per type."""

    name = "gqa"
    metrics = (MetricSpec("accuracy", help="exact-match accuracy"),
               MetricSpec("accuracy_*", help="accuracy per answer type (binary, open)"))
    primary_metric = "accuracy"
    options = (
        OptionSpec("match", "official", GQA_VARIANTS,
                   "official: eval.py exact match; llava: lower-case and strip a trailing "
                   "period first; strip-lower: both sides stripped and lower-cased (InfMLLM's "
                   "OCR-VQA)"),
        postprocess_option("cleaning of the raw model text before matching"),
    )

    def score(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> FamilyScores:
        clean = get_postprocessor(options["postprocess"])
        scored = []
        for sample in samples:
            raw = predictions.get(sample.key)
            hit = raw is not None and isinstance(sample.targets, str) and gqa_match(
                clean(raw), sample.targets, options["match"]) == 1.0
            scored.append(ScoredSample(sample.id, 100.0 if hit else 0.0, raw))
        breakdown = means_by_meta(samples, scored, GROUP_KEYS)
        return FamilyScores(accuracy_metrics((r.score for r in scored), breakdown), breakdown,
                            scored)

    def submission(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> Any:
        return cleaned_submission(samples, predictions, options["postprocess"], "questionId",
                                  "prediction")


GQA = GqaFamily()
