"""GQA: exact match against the single answer, split binary/open as the official eval.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infmllm_eval.metrics.gqa import GQA_VARIANTS, gqa_match
from infmllm_eval.metrics.postprocess import POSTPROCESSORS, get_postprocessor
from infmllm_eval.families.base import FamilyScores, OptionSpec, ScoredSample, mean, means_by_meta
from infmllm_eval.types import Sample


class GqaFamily:
    """Official exact match (or LLaVA's lower-case/trailing-period variant), per type."""

    name = "gqa"
    options = (
        OptionSpec("match", "official", GQA_VARIANTS,
                   "official: eval.py exact match; llava: lower-case and strip a trailing "
                   "period first"),
        OptionSpec("postprocess", "none", tuple(POSTPROCESSORS),
                   "cleaning of the raw model text before matching"),
    )

    def request_fields(self, sample: Sample) -> dict[str, Any]:
        return {"question": sample.fields["question"]}

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
        breakdown = means_by_meta(samples, scored, ("answer_type", "structural", "semantic"))
        metrics = {"accuracy": mean(r.score for r in scored)}
        for name, value in breakdown.get("answer_type", {}).items():
            metrics[f"accuracy_{name}"] = value
        return FamilyScores(metrics, breakdown, scored)

    def submission(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> Any:
        clean = get_postprocessor(options["postprocess"])
        return [{"questionId": s.id, "prediction": clean(predictions.get(s.key) or "")}
                for s in samples]


GQA = GqaFamily()
