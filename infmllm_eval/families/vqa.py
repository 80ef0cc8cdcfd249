"""Open-ended VQA (VQAv2, OK-VQA, TextVQA): VQA accuracy over the human answers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import partial, reduce
from itertools import repeat
from operator import add, itemgetter
from typing import Any

from infmllm_eval.families.base import (
    Family,
    FamilyScores,
    MetricSpec,
    OptionSpec,
    ScoredSample,
    mean,
)
from infmllm_eval.metrics.postprocess import POSTPROCESSORS, get_postprocessor, identity
from infmllm_eval.metrics.vqa_accuracy import VQA_VARIANTS, VqaAccuracy
from infmllm_eval.types import Sample

#: ScoredSample from an (id, score, prediction, extra) tuple without its Python-level __new__
_scored = partial(tuple.__new__, ScoredSample)


class VqaFamily(Family):
    """Scores with one of the named answer normalisations; the variant is recorded."""

    name = "vqa"
    metrics = (MetricSpec("accuracy", help="VQA accuracy: min(#humans giving the answer / 3, 1)"),
               MetricSpec("accuracy_*", help="accuracy per answer type (yes/no, number, other)"))
    primary_metric = "accuracy"
    options = (
        OptionSpec("normalization", "always", VQA_VARIANTS,
                   "answer normalisation: official-current (vqaEval.py 2021), official-2017 "
                   "(older vqaEval.py, as copied by LAVIS), always (original InfMLLM "
                   "vqa_metric.py), evalai (EvalAI processor: TextVQA/m4c)"),
        OptionSpec("postprocess", "none", tuple(POSTPROCESSORS.names()),
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
        # column by column, the loops in C where possible (VQAv2 val: 214k samples)
        ids = list(map(itemgetter(0), samples))
        raws = list(map(predictions.get, map(str, ids)))
        texts = raws if clean is identity else [None if r is None else clean(r) for r in raws]
        scores = accuracy.percents(texts, map(itemgetter(3), samples))
        scored = list(map(_scored, zip(ids, scores, raws, repeat(None))))
        breakdown = _breakdown(map(itemgetter(4), samples), scores)
        metrics = {"accuracy": mean(scores)}
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


def _breakdown(metas: Iterable[Mapping[str, Any]],
               scores: list[float]) -> dict[str, dict[str, float]]:
    """``means_by_meta(samples, scored, ("answer_type", "question_type"))`` in one pass: the
    same values (each group's scores summed one by one, in sample order), names sorted."""
    by_answer: defaultdict[Any, list[float]] = defaultdict(list)
    by_question: defaultdict[Any, list[float]] = defaultdict(list)
    for meta, score in zip(metas, scores, strict=True):
        by_answer[meta.get("answer_type")].append(score)
        by_question[meta.get("question_type")].append(score)
    breakdown = {}
    for key, groups in (("answer_type", by_answer), ("question_type", by_question)):
        means = {name: reduce(add, values, 0.0) / len(values)
                 for name, values in sorted((k, v) for k, v in groups.items() if k)}
        if means:  # keys no sample has are omitted
            breakdown[key] = means
    return breakdown
