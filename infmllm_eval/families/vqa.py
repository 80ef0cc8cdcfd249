"""Open-ended VQA (VQAv2, OK-VQA, TextVQA): VQA accuracy over the human answers."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from itertools import repeat
from operator import itemgetter
from typing import Any

from infmllm_eval.families.base import (
    FamilyScores,
    MetricSpec,
    OptionSpec,
    QuestionFamily,
    ScoredSample,
    accuracy_metrics,
    cleaned_submission,
    grouped_means,
    postprocess_option,
)
from infmllm_eval.metrics.postprocess import get_postprocessor, identity
from infmllm_eval.metrics.vqa_accuracy import VQA_VARIANTS, VqaAccuracy
from infmllm_eval.types import Sample

#: ScoredSample from an (id, score, prediction, extra) tuple without its Python-level __new__
_scored = partial(tuple.__new__, ScoredSample)
#: the breakdown's groups, from the annotations (a split without them has none)
GROUP_KEYS = ("answer_type", "question_type")


class VqaFamily(QuestionFamily):
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
        postprocess_option("cleaning of the raw model text before scoring (infmllm-vqa: the "
                           "original InfMLLM answer cut)"),
    )

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
        breakdown = grouped_means(map(itemgetter(4), samples), scores, GROUP_KEYS)
        return FamilyScores(accuracy_metrics(scores, breakdown), breakdown, scored)

    def submission(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> Any:
        return cleaned_submission(samples, predictions, options["postprocess"], "question_id",
                                  "answer")


VQA = VqaFamily()

