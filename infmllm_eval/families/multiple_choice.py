"""Multiple choice (MMBench): choice extraction by rules, CircularEval, per-category results.

Circular accuracy (primary) = % of questions whose every pass picks the right option; the
passes of a question share ``index % 1,000,000``. Single-pass accuracy = % right over the
rows with index < 1,000,000. A per-row score is that row's correctness (0/100); the bootstrap
interval of the primary metric resamples questions. Unresolved answers are wrong and counted
(``parse_failures``); an optional judge plug-in may resolve them first (see metrics.judge).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infmllm_eval.errors import BadInputError
from infmllm_eval.families.base import (
    Family,
    FamilyScores,
    MetricSpec,
    OptionSpec,
    ScoredSample,
    mean,
    means_by_meta,
)
from infmllm_eval.metrics.choice import circular_outcomes, extract_choice
from infmllm_eval.metrics.judge import CachedJudge, judge_names, open_judge
from infmllm_eval.types import Sample

GROUP_KEYS = ("category", "l2-category")


def _options(sample: Sample) -> list[tuple[str, str]]:
    return [(str(letter), str(text)) for letter, text in sample.fields["options"]]


def _choose(sample: Sample, raw: str | None, judge: CachedJudge | None,
            ) -> tuple[str | None, str]:
    """(letter, how it was found): how is rule, judge, unresolved or missing."""
    if raw is None:
        return None, "missing"
    options = _options(sample)
    choice = extract_choice(raw, options)
    if choice is not None:
        return choice, "rule"
    if judge is not None:
        choice = judge.resolve(sample.fields["question"], options, raw)
        if choice is not None:
            return choice, "judge"
    return None, "unresolved"


def _circular_breakdown(samples: list[Sample], scored: list[ScoredSample],
                        ) -> tuple[dict[int, bool], dict[str, dict[str, float]]]:
    """Per-question outcomes, and circular accuracy per category and l2-category."""
    groups = circular_outcomes(
        (s.meta["group"], r.score > 0) for s, r in zip(samples, scored, strict=True))
    meta: dict[int, dict[str, Any]] = {}
    for s in samples:
        if s.meta["group"] not in meta or s.meta["pass"] == 0:
            meta[s.meta["group"]] = s.meta
    out: dict[str, dict[str, float]] = {}
    for key in GROUP_KEYS:
        sums: dict[str, list[float]] = {}
        for group, right in groups.items():
            name = meta[group].get(key)
            if name:
                acc = sums.setdefault(name, [0.0, 0.0])
                acc[0] += 100.0 if right else 0.0
                acc[1] += 1
        if sums:
            out[key] = {name: total / count for name, (total, count) in sorted(sums.items())}
    return groups, out


class MultipleChoiceFamily(Family):
    """Rule-based choice extraction (never a random letter), CircularEval over the passes."""

    name = "multiple_choice"
    metrics = (MetricSpec("circular_accuracy",
                          help="% of questions whose every pass picks the right option"),
               MetricSpec("single_pass_accuracy", help="% right over the first passes"))
    primary_metric = "circular_accuracy"
    unit_key = "group"  # the passes of a question form one unit of circular_accuracy
    always_submit = True  # the official submission file is written next to the metrics

    @property  # computed: judges may be installed after import
    def options(self) -> tuple[OptionSpec, ...]:  # type: ignore[override]
        """The judge choice lists the judges installed now (see metrics.judge)."""
        return (OptionSpec("judge", "none", ("none", *judge_names()),
                           "plug-in judge for answers the rules cannot resolve (cached; "
                           "none: unresolved answers are wrong)"),)

    def request_fields(self, sample: Sample) -> dict[str, Any]:
        return {"question": sample.fields["question"], "hint": sample.fields["hint"],
                "options": [list(o) for o in _options(sample)]}

    def score(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> FamilyScores:
        if any(s.targets is None for s in samples):
            raise BadInputError("this MMBench file has no answer column: it can only be "
                                "submitted (set submission_only in the task card)")
        judge = open_judge(options.get("judge", "none"))
        scored: list[ScoredSample] = []
        counts = {"rule": 0, "judge": 0, "unresolved": 0, "missing": 0}
        try:
            for s in samples:
                raw = predictions.get(s.key)
                choice, how = _choose(s, raw, judge)
                counts[how] += 1
                scored.append(ScoredSample(s.id, 100.0 if choice == s.targets else 0.0, raw,
                                           {"choice": choice, "resolved_by": how,
                                            "group": s.meta["group"], "pass": s.meta["pass"]}))
        finally:
            if judge is not None:
                judge.save()
        groups, breakdown = _circular_breakdown(samples, scored)
        first = [i for i, s in enumerate(samples) if s.meta["pass"] == 0]
        single = means_by_meta([samples[i] for i in first], [scored[i] for i in first],
                               GROUP_KEYS)
        breakdown.update({f"{key}_single_pass": value for key, value in single.items()})
        breakdown["counts"] = {"questions": len(groups), "rows": len(samples), **counts}
        units = [100.0 if right else 0.0 for right in groups.values()]
        metrics = {"circular_accuracy": mean(units),
                   "single_pass_accuracy": mean(scored[i].score for i in first)}
        return FamilyScores(metrics, breakdown, scored, parse_failures=counts["unresolved"],
                            ci_units=units)

    def submission(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> Any:
        """The official submission table as a list of rows (index, question, hint, A-D,
        [answer], prediction = the raw model text, category, l2-category)."""
        rows = []
        for s in samples:
            row: dict[str, Any] = {"index": s.id, "question": s.fields["question"],
                                   "hint": s.fields["hint"], "A": "", "B": "", "C": "", "D": ""}
            row.update(dict(_options(s)))
            if s.targets is not None:
                row["answer"] = s.targets
            row.update({"prediction": predictions.get(s.key) or "",
                        "category": s.meta.get("category", ""),
                        "l2-category": s.meta.get("l2-category", "")})
            rows.append(row)
        return rows


MULTIPLE_CHOICE = MultipleChoiceFamily()
