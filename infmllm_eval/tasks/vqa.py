"""Open-ended VQA (VQAv2, OK-VQA, TextVQA): VQA accuracy over the human answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infmllm_eval.metrics.postprocess import POSTPROCESSORS, get_postprocessor
from infmllm_eval.metrics.vqa_accuracy import VQA_VARIANTS, VqaAccuracy
from infmllm_eval.tasks.base import FamilyScores, OptionSpec, ScoredSample, mean, means_by_meta
from infmllm_eval.types import Sample


class VqaFamily:
    """Scores with one of the named answer normalisations; the variant is recorded."""

    name = "vqa"
    options = (
        OptionSpec("normalization", "always", VQA_VARIANTS,
                   "answer normalisation: official-current (vqaEval.py 2021), official-2017 "
                   "(older vqaEval.py, as copied by LAVIS), always (original InfMLLM "
                   "vqa_metric.py), evalai (EvalAI processor: TextVQA/m4c)"),
        OptionSpec("postprocess", "none", tuple(POSTPROCESSORS),
                   "cleaning of the raw model text before scoring (infmllm-vqa: the original "
                   "InfMLLM answer cut)"),
    )

    def request_fields(self, sample: Sample) -> dict[str, Any]:
        return {"question": sample.fields["question"]}

    def score(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> FamilyScores:
        accuracy = VqaAccuracy(options["normalization"])
        clean = get_postprocessor(options["postprocess"])
        scored: list[ScoredSample] = []
        append, get = scored.append, predictions.get
        for sample in samples:
            raw = get(str(sample.id))
            if raw is None or not sample.targets:
                append(ScoredSample(sample.id, 0.0, raw))
            else:
                append(ScoredSample(sample.id, 100.0 * accuracy(clean(raw), sample.targets), raw))
        breakdown = means_by_meta(samples, scored, ("answer_type", "question_type"))
        metrics = {"accuracy": mean(r.score for r in scored)}
        for name, value in breakdown.get("answer_type", {}).items():
            metrics[f"accuracy_{name}"] = value
        return FamilyScores(metrics, breakdown, scored)

    def submission(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> Any:
        clean = get_postprocessor(options["postprocess"])
        return [{"question_id": s.id, "answer": clean(predictions.get(s.key) or "")}
                for s in samples]


VQA = VqaFamily()
