"""Word counting: the answer is a number; exact match, absolute error and answered share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infmllm_eval.families.base import (
    Family,
    FamilyScores,
    MetricSpec,
    OptionSpec,
    ScoredSample,
    mean,
)
from infmllm_eval.types import Sample


def _number(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except ValueError:
        return None


class WordCountFamily(Family):
    """Scores a count of words against the truth."""

    name = "word_count"
    options = (OptionSpec("miss_error", "10", ("10", "100"),
                          "the error charged for an answer that is not a number"),)
    metrics = (MetricSpec("exact", help="% of answers equal to the count"),
               MetricSpec("abs_error", "lower", help="mean absolute error of the count"),
               MetricSpec("answered", "none", "ratio", help="% of answers that are numbers"))
    primary_metric = "exact"

    def request_fields(self, sample: Sample) -> dict[str, Any]:
        return {"sentence": sample.fields["sentence"]}

    def score(self, samples: list[Sample], predictions: Mapping[str, str | None],
              options: Mapping[str, str]) -> FamilyScores:
        scored, errors, answered = [], [], []
        for s in samples:
            raw = predictions.get(s.key)
            value = _number(raw)
            answered.append(100.0 if value is not None else 0.0)
            error = abs(value - s.targets) if value is not None else int(options["miss_error"])
            errors.append(float(error))
            scored.append(ScoredSample(s.id, 100.0 if error == 0 else 0.0, raw))
        metrics = {"exact": mean(r.score for r in scored), "abs_error": mean(errors),
                   "answered": mean(answered)}
        return FamilyScores(metrics, {}, scored)


WORD_COUNT = WordCountFamily()
