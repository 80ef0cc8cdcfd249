"""Yes/no questions (MME): the official acc, acc+ and score per subtask, and the totals."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infmllm_eval.data.mme import read_result_folder
from infmllm_eval.families.base import Family, FamilyScores, MetricSpec, OptionSpec, ScoredSample
from infmllm_eval.metrics.mme import SUBTASKS, SubtaskScore, score_subtask, totals, yes_no_label
from infmllm_eval.types import Sample

# what would split a result line for the official reader (tab: columns; text-mode newlines)
_LINE_SAFE = str.maketrans(dict.fromkeys("\t\r\n", " "))


class YesNoFamily(Family):
    """MME scoring exactly as the official eval_tool; "other" answers are wrong and counted."""

    name = "yes_no"
    options: tuple[OptionSpec, ...] = ()
    metrics = (MetricSpec("perception", aggregate="sum", help="sum of the perception scores"),
               MetricSpec("cognition", aggregate="sum", help="sum of the cognition scores"),
               MetricSpec("total", aggregate="sum", help="perception + cognition"))
    primary_metric = "perception"
    reads_result_folder = True

    def request_fields(self, sample: Sample) -> dict[str, Any]:
        return {"question": sample.fields["question"]}

    def read_result_folder(self, path: Path) -> dict[str, str]:
        """Responses of an official result folder (``<subtask>.txt``, four columns) by id;
        a line answers the sample of its subtask and image, in the order of the image's
        lines (the order of the image's question file)."""
        return {line.key: line.response or "" for line in read_result_folder(path, True)}

    def score(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> FamilyScores:
        per_sample: list[ScoredSample] = []
        outcomes: dict[str, list[tuple[str, bool, bool]]] = {}
        others = 0
        for sample in samples:
            raw = predictions.get(sample.key)
            label = yes_no_label(raw) if raw is not None else None
            right = label is not None and label == str(sample.targets).lower()
            others += label == "other"
            subtask = sample.meta["subtask"]
            outcomes.setdefault(subtask, []).append(
                (sample.meta["image"], right, label == "other"))
            per_sample.append(ScoredSample(sample.id, 100.0 if right else 0.0, raw,
                                           {"label": label, "subtask": subtask}))
        scores: dict[str, SubtaskScore] = {
            name: score_subtask(outcomes[name]) for name in SUBTASKS if name in outcomes}
        metrics = totals(scores)
        breakdown: dict[str, dict[str, Any]] = {
            "subtasks": {name: s.as_dict() for name, s in scores.items()}}
        # the primary metric is a sum over subtasks: no mean to bootstrap
        return FamilyScores(metrics, breakdown, per_sample, parse_failures=others, ci_units=[])

    def submission(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> Any:
        """The official result folder's content: per subtask, its tab-separated lines.

        A tab or line break inside a response would break the line format: each becomes one
        space, and nothing else changes (the official rule gives the text the same label)."""
        folder: dict[str, list[str]] = {}
        for s in samples:
            response = (predictions.get(s.key) or "").translate(_LINE_SAFE)
            line = "\t".join((s.meta["image_file"], s.fields["question"], str(s.targets),
                              response))
            folder.setdefault(s.meta["subtask"], []).append(line)
        return folder


YES_NO = YesNoFamily()
