"""Multiple choice: choice extraction by a named rule, CircularEval on or off, per-category
results.

With ``circular=on`` (MMBench): circular accuracy (primary) = % of questions whose every pass
picks the right option (the passes of a question share ``meta["group"]``; MMBench's loader
sets it to ``index % 1,000,000``); single-pass accuracy = % right over the first passes
(``meta["pass"] == 0``); the bootstrap interval resamples questions. With ``circular=off``:
accuracy = % of rows right, each row a question of its own. A per-row score is that row's
correctness (0/100). Unresolved answers are wrong and counted (``parse_failures``); an
optional judge plug-in may resolve them first (see metrics.judge). With
``inferencer=likelihood`` the model scores the options instead and calibration metrics are
added (see families.choice_likelihood).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from infmllm_eval.errors import BadInputError
from infmllm_eval.families import choice_likelihood as by_likelihood
from infmllm_eval.families.base import (
    Family,
    FamilyScores,
    MetricSpec,
    OptionSpec,
    ScoredSample,
    grouped_means,
    mean,
    means_by_meta,
)
from infmllm_eval.families.facets import FACET_METRICS, facet_accuracies
from infmllm_eval.metrics.choice import circular_outcomes, extract_choice
from infmllm_eval.metrics.judge import CachedJudge, judge_names, open_judge
from infmllm_eval.registry import Registry
from infmllm_eval.types import Sample

GROUP_KEYS = ("category", "l2-category")
#: answer -> option letter rules, by the name a card's ``extraction`` option gives
#: (other packages add rules through the ``infmllm_eval.choice_rules`` entry-point group)
EXTRACTORS: Registry[Callable[[str, list[tuple[str, str]]], str | None]] = Registry(
    "choice extraction rule", "infmllm_eval.choice_rules")
EXTRACTORS.add("mmbench", extract_choice)
EXTRACTORS.lazy("llava_sqa", "infmllm_eval.metrics.choice_rules:extract_llava_sqa")
EXTRACTORS.lazy("exact_letter", "infmllm_eval.metrics.choice_rules:extract_exact_letter")


def _options(sample: Sample) -> list[tuple[str, str]]:
    return [(str(letter), str(text)) for letter, text in sample.fields["options"]]


def _group(sample: Sample) -> Any:
    return sample.meta.get("group", sample.id)


def _pass(sample: Sample) -> int:
    return int(sample.meta.get("pass", 0))


def _letters(sample: Sample) -> list[str]:
    return [letter for letter, _ in _options(sample)]


def _by_likelihood(sample: Sample, raw: str | None, options: Mapping[str, str],
                   ) -> tuple[str | None, str, list[float] | None]:
    try:
        return by_likelihood.choose(_options(sample), raw, options)
    except BadInputError as exc:
        raise BadInputError(f"sample {sample.key}: {exc}") from None


def _choose(sample: Sample, raw: str | None, judge: CachedJudge | None,
            extract: Callable[[str, list[tuple[str, str]]], str | None],
            ) -> tuple[str | None, str]:
    """(letter, how it was found): how is rule, judge, unresolved or missing."""
    if raw is None:
        return None, "missing"
    options = _options(sample)
    choice = extract(raw, options)
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
        (_group(s), r.score > 0) for s, r in zip(samples, scored, strict=True))
    meta: dict[int, dict[str, Any]] = {}
    for s in samples:
        if _group(s) not in meta or _pass(s) == 0:
            meta[_group(s)] = s.meta
    out = grouped_means((meta[g] for g in groups),
                        (100.0 if right else 0.0 for right in groups.values()), GROUP_KEYS)
    return groups, out


class MultipleChoiceFamily(Family):
    """Rule-based choice extraction (never a random letter), CircularEval over the passes
    when ``circular=on``."""

    name = "multiple_choice"
    metrics = (MetricSpec("circular_accuracy",
                          help="% of questions whose every pass picks the right option"),
               MetricSpec("single_pass_accuracy", help="% right over the first passes"),
               MetricSpec("accuracy", help="% of rows right (circular=off)"),
               FACET_METRICS)
    primary_metric = "circular_accuracy"
    unit_key = "group"  # circular=on: the passes of a question form one unit (rows without
    # the field, as with circular=off, are units of their own)
    always_submit = True  # the official submission file is written next to the metrics

    @property  # computed: judges may be installed after import
    def options(self) -> tuple[OptionSpec, ...]:  # type: ignore[override]
        """The judge choice lists the judges installed now (see metrics.judge)."""
        return (OptionSpec("judge", "none", ("none", *judge_names()),
                           "plug-in judge for answers the rules cannot resolve (cached; "
                           "none: unresolved answers are wrong)"),
                OptionSpec("circular", "on", ("on", "off"),
                           "on: CircularEval over the passes of each question (MMBench); "
                           "off: every row is a question of its own", record_default=False),
                OptionSpec("extraction", "mmbench", tuple(EXTRACTORS.names()),
                           "the rules that find the option an answer picks (mmbench: see "
                           "infmllm_eval.metrics.choice)", record_default=False),
                *by_likelihood.OPTIONS)

    def metric_specs(self, options: Mapping[str, str]) -> tuple[MetricSpec, ...]:
        circular = options.get("circular", "on") == "on"
        specs = tuple(m for m in self.metrics if m.name.startswith("accuracy") != circular)
        return specs + by_likelihood.METRICS if self.uses_likelihood(options) else specs

    def uses_likelihood(self, options: Mapping[str, str]) -> bool:
        return by_likelihood.uses_likelihood(options)

    def continuations(self, sample: Sample, options: Mapping[str, str]) -> tuple[str, ...]:
        return by_likelihood.continuations(_options(sample), options)

    def request_fields(self, sample: Sample) -> dict[str, Any]:
        return {"question": sample.fields["question"], "hint": sample.fields["hint"],
                "options": [list(o) for o in _options(sample)]}

    def score(
        self, samples: list[Sample], predictions: Mapping[str, str | None],
        options: Mapping[str, str],
    ) -> FamilyScores:
        if any(s.targets is None for s in samples):
            raise BadInputError("this file has no answers (MMBench: no answer column): it can "
                                "only be submitted (set submission_only in the task card)")
        judge = open_judge(options.get("judge", "none"))
        extract = EXTRACTORS.get(options.get("extraction", "mmbench"))
        circular = options.get("circular", "on") == "on"
        likelihood = self.uses_likelihood(options)
        if likelihood:
            by_likelihood.check_scored(predictions, samples)
        scored: list[ScoredSample] = []
        counts = {"rule": 0, "judge": 0, "unresolved": 0, "missing": 0}
        if likelihood:
            counts = {"likelihood": 0, "unresolved": 0, "missing": 0}
        calibrated: list[tuple[list[float], int]] = []
        try:
            for s in samples:
                raw = predictions.get(s.key)
                probs = None
                if likelihood:
                    choice, how, probs = _by_likelihood(s, raw, options)
                    if probs is not None and (not circular or _pass(s) == 0):
                        calibrated.append((probs, _letters(s).index(s.targets)))
                else:
                    choice, how = _choose(s, raw, judge, extract)
                counts[how] += 1
                extra: dict[str, Any] = {"choice": choice, "resolved_by": how,
                                         **by_likelihood.extra(probs)}
                if circular:
                    extra |= {"group": _group(s), "pass": _pass(s)}
                scored.append(ScoredSample(s.id, 100.0 if choice == s.targets else 0.0,
                                           None if raw is None else str(raw), extra))
        finally:
            if judge is not None:
                judge.save()
        calibration = by_likelihood.calibration(calibrated, options) if likelihood else {}
        if not circular:
            breakdown = means_by_meta(samples, scored, GROUP_KEYS)
            breakdown["counts"] = {"questions": len(samples), "rows": len(samples), **counts}
            breakdown |= by_likelihood.settings(options) if likelihood else {}
            return FamilyScores({"accuracy": mean(r.score for r in scored),
                                 **facet_accuracies(samples, scored), **calibration},
                                breakdown, scored, parse_failures=counts["unresolved"])
        groups, breakdown = _circular_breakdown(samples, scored)
        first = [i for i, s in enumerate(samples) if _pass(s) == 0]
        single = means_by_meta([samples[i] for i in first], [scored[i] for i in first],
                               GROUP_KEYS)
        breakdown.update({f"{key}_single_pass": value for key, value in single.items()})
        breakdown["counts"] = {"questions": len(groups), "rows": len(samples), **counts}
        breakdown |= by_likelihood.settings(options) if likelihood else {}
        units = [100.0 if right else 0.0 for right in groups.values()]
        metrics = {"circular_accuracy": mean(units),
                   "single_pass_accuracy": mean(scored[i].score for i in first), **calibration}
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
            row.update({"prediction": str(predictions.get(s.key) or ""),
                        "category": s.meta.get("category", ""),
                        "l2-category": s.meta.get("l2-category", "")})
            rows.append(row)
        return rows


MULTIPLE_CHOICE = MultipleChoiceFamily()
