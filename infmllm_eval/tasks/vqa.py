"""Open-ended VQA (VQAv2, OK-VQA, TextVQA): VQA accuracy over the human answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infmllm_eval.metrics.postprocess import POSTPROCESSORS, get_postprocessor
from infmllm_eval.metrics.vqa_accuracy import VQA_VARIANTS, VqaAccuracy
from infmllm_eval.tasks.base import FamilyScores, OptionSpec, ScoredSample, mean, mean_by
from infmllm_eval.types import Sample


class VqaFamily:
    """Scores with one of the named answer normalisations; the variant is recorded."""

    name = "vqa"
    options = (
        OptionSpec("normalization", "always", VQA_VARIANTS,
                   "answer normalisation: official-current (vqaEval.py 2021), official-2017, "
                   "always (LAVIS/InfMLLM/lmms-eval), evalai (TextVQA/m4c)"),
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
        scored = []
        for sample in samples:
            raw = predictions.get(sample.key)
            value = 0.0
            if raw is not None and sample.targets:
                value = 100.0 * accuracy(clean(raw), sample.targets)
            scored.append(ScoredSample(sample.id, value, raw))
        by_answer = mean_by(samples, scored, lambda s: s.meta.get("answer_type"))
        by_question = mean_by(samples, scored, lambda s: s.meta.get("question_type"))
        metrics = {"accuracy": mean(r.score for r in scored)}
        metrics.update({f"accuracy_{name}": value for name, value in by_answer.items()})
        breakdown = {"answer_type": by_answer, "question_type": by_question}
        return FamilyScores(metrics, {k: v for k, v in breakdown.items() if v}, scored)

    def submission(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> Any:
        clean = get_postprocessor(options["postprocess"])
        return [{"question_id": s.id, "answer": clean(predictions.get(s.key) or "")}
                for s in samples]


VQA = VqaFamily()
