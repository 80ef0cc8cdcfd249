"""Yes/no questions: an answer rule turns the response into yes/no, an aggregation into figures.

Both are chosen by the card (``options``):
- ``answer_rule``: ``mme`` (MME's eval_tool: lower-case, exact yes/no, else the first four
  characters decide; anything else is "other", wrong and counted) or ``pope`` (POPE's
  evaluate.py: the words before the first ``.`` decide).
- ``aggregate``: ``mme`` (acc, acc+ and score per subtask; perception, cognition and total
  as sums over MME's subtasks) or ``pope`` (accuracy, precision, recall, F1 with yes as the
  positive class, yes-ratio and the four counts; also per subtask when the samples have one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from infmllm_eval.data.mme import read_result_folder
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.families.base import (
    FamilyScores,
    MetricSpec,
    OptionSpec,
    QuestionFamily,
    ScoredSample,
)
from infmllm_eval.metrics.mme import SUBTASKS, SubtaskScore, score_subtask, totals, yes_no_label
from infmllm_eval.metrics.pope import binary_figures, pope_label
from infmllm_eval.types import Sample

# what would split a result line for the official reader (tab: columns; text-mode newlines)
_LINE_SAFE = str.maketrans(dict.fromkeys("\t\r\n", " "))

RULES: dict[str, Callable[[str], str]] = {"mme": yes_no_label, "pope": pope_label}

MME_METRICS = (
    MetricSpec("perception", aggregate="sum", help="sum of the perception scores"),
    MetricSpec("cognition", aggregate="sum", help="sum of the cognition scores"),
    MetricSpec("total", aggregate="sum", help="perception + cognition"))
POPE_METRICS = (
    MetricSpec("accuracy", help="% of answers right"),
    MetricSpec("precision", aggregate="ratio", help="% of yes answers that are right"),
    MetricSpec("recall", aggregate="ratio", help="% of yes questions answered yes"),
    MetricSpec("f1", aggregate="ratio", help="harmonic mean of precision and recall"),
    MetricSpec("yes_ratio", "none", "ratio", help="% of answers that are yes (a bias gauge)"),
    *(MetricSpec(n, "none", "count", help=f"{n.upper()} count (positive = yes)")
      for n in ("tp", "fp", "tn", "fn")))


class YesNoFamily(QuestionFamily):
    """Yes/no scoring by a named answer rule and aggregation; MME's by default."""

    name = "yes_no"
    options = (
        OptionSpec("answer_rule", "mme", tuple(RULES),
                   "mme: eval_tool's first-four-characters rule ('other' is wrong and "
                   "counted); pope: POPE's rule (a word No/not/no before the first '.')",
                   record_default=False),
        OptionSpec("aggregate", "mme", ("mme", "pope"),
                   "mme: acc + acc+ per subtask, perception/cognition sums; pope: accuracy, "
                   "precision, recall, F1, yes-ratio", record_default=False),
    )
    metrics = MME_METRICS + POPE_METRICS
    primary_metric = "perception"
    reads_result_folder = True

    def metric_specs(self, options: Mapping[str, str]) -> tuple[MetricSpec, ...]:
        return POPE_METRICS if options.get("aggregate") == "pope" else MME_METRICS

    def read_result_folder(self, path: Path) -> dict[str, str]:
        """Responses of an official MME result folder (``<subtask>.txt``, four columns) by
        id; a line answers the sample of its subtask and image, in the order of the image's
        lines (the order of the image's question file)."""
        return {line.key: line.response or "" for line in read_result_folder(path, True)}

    def score(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> FamilyScores:
        rule = RULES[options.get("answer_rule", "mme")]
        per_sample: list[ScoredSample] = []
        for sample in samples:
            raw = predictions.get(sample.key)
            label = rule(raw) if raw is not None else None
            right = label is not None and label == str(sample.targets).lower()
            extra = {"label": label}
            if "subtask" in sample.meta:
                extra["subtask"] = sample.meta["subtask"]
            per_sample.append(ScoredSample(sample.id, 100.0 if right else 0.0, raw, extra))
        others = sum(r.extra is not None and r.extra["label"] == "other" for r in per_sample)
        if options.get("aggregate") == "pope":
            return _pope(samples, per_sample, others)
        return _mme(samples, per_sample, others)

    def submission(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> Any:
        """With MME's aggregation, the official result folder's content: per subtask, its
        tab-separated lines (a tab or line break inside a response would break the line
        format: each becomes one space, which gives the text the same label). Otherwise one
        ``{"id", "prediction"}`` row per sample."""
        if options.get("aggregate") == "pope":
            return super().submission(samples, predictions, options)
        folder: dict[str, list[str]] = {}
        for s in samples:
            response = (predictions.get(s.key) or "").translate(_LINE_SAFE)
            line = "\t".join((s.meta["image_file"], s.fields["question"], str(s.targets),
                              response))
            folder.setdefault(s.meta["subtask"], []).append(line)
        return folder


def _mme(samples: list[Sample], per_sample: list[ScoredSample], others: int) -> FamilyScores:
    outcomes: dict[str, list[tuple[str, bool, bool]]] = {}
    for sample, result in zip(samples, per_sample, strict=True):
        subtask = sample.meta.get("subtask")
        if subtask not in SUBTASKS:
            raise BadInputError(
                f"subtask {shown(subtask)} is not one of MME's 14: MME's aggregation sums "
                "MME's subtasks; for other yes/no questions set the option aggregate=pope")
        label = result.extra["label"] if result.extra else None
        outcomes.setdefault(subtask, []).append(
            (sample.meta["image"], result.score > 0, label == "other"))
    scores: dict[str, SubtaskScore] = {
        name: score_subtask(outcomes[name]) for name in SUBTASKS if name in outcomes}
    breakdown: dict[str, dict[str, Any]] = {
        "subtasks": {name: s.as_dict() for name, s in scores.items()}}
    # the primary metric is a sum over subtasks: no mean to bootstrap
    return FamilyScores(totals(scores), breakdown, per_sample, parse_failures=others,
                        ci_units=[])


def _pope(samples: list[Sample], per_sample: list[ScoredSample], others: int) -> FamilyScores:
    by_subtask: dict[str, list[tuple[str | None, str]]] = {}
    pairs = []
    for sample, result in zip(samples, per_sample, strict=True):
        pair = (result.extra["label"] if result.extra else None, str(sample.targets).lower())
        pairs.append(pair)
        if sample.meta.get("subtask"):
            by_subtask.setdefault(str(sample.meta["subtask"]), []).append(pair)
    breakdown: dict[str, dict[str, Any]] = {}
    if len(by_subtask) > 1:
        breakdown["subtasks"] = {n: binary_figures(p) for n, p in sorted(by_subtask.items())}
    return FamilyScores(binary_figures(pairs), breakdown, per_sample, parse_failures=others)


YES_NO = YesNoFamily()
