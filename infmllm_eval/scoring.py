"""Score one task's predictions against its samples: the metrics.json entry of a task."""

from __future__ import annotations

import math
import sys
from collections.abc import Collection, Mapping
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.families.base import FamilyScores, TargetError, recorded_variant
from infmllm_eval.jsonio import write_json
from infmllm_eval.metrics.bootstrap import bootstrap_mean_ci
from infmllm_eval.predictions import Predictions
from infmllm_eval.registry import PluginError
from infmllm_eval.taskspec import TaskSpec
from infmllm_eval.types import Sample, Samples

# the files a task's ground truth comes from, in the order a message names them
_TRUTH_KEYS = ("annotations", "tsv", "questions", "refs", "instances", "root")
_MAX_ID_BITS = 128  # an integer id beyond this is no benchmark's (str() fails past 4,300 digits)


def truth_file(spec: TaskSpec) -> str:
    """The file holding the task's ground truth, for messages (or the task's name)."""
    for key in (*_TRUTH_KEYS, *spec.files):
        if key in spec.files and key != "images":
            return str(spec.files[key])
    return f"task {spec.name}"


def check_samples(spec: TaskSpec, samples: list[Sample]) -> None:
    """Refuse samples that cannot be scored: an integer id too long to write, and (unless
    the card is submission-only) samples without ground truth, e.g. a test split."""
    try:  # in C: the ids of a task are all integers or all strings (abs() refuses these)
        largest = max(map(abs, map(itemgetter(0), samples)), default=0)
    except TypeError:
        largest = 0
    if isinstance(largest, int) and largest.bit_length() > _MAX_ID_BITS:
        huge = next(s.id for s in samples if isinstance(s.id, int)
                    and s.id.bit_length() > _MAX_ID_BITS)
        raise BadInputError(f"{truth_file(spec)}: sample id {shown(huge)} is not a usable id "
                            "(an integer far beyond 64 bits); fix the file")
    if spec.card.submission_only or None not in map(itemgetter(3), samples):
        return
    where = truth_file(spec)
    if all(s.targets is None for s in samples):
        raise BadInputError(
            f"{where}: has no answers (a test split?), so task {spec.name} cannot be scored; "
            "write its submission file with a task card that sets submission_only: true, or "
            "pass the file of a split with answers")
    first = next(s.id for s in samples if s.targets is None)
    raise BadInputError(f"{where}: sample {shown(first)} has no answer while others have "
                        "answers; fix the file (every question needs its answer)")


def check_ids(spec: TaskSpec, samples: list[Sample], preds: Predictions) -> list[str]:
    """Refuse ids the task does not have; return the keys of samples without a prediction."""
    check_samples(spec, samples)
    keys = sample_keys(samples)
    unknown = preds.text.keys() - set(keys)
    if unknown and isinstance(samples, Samples) and unknown & samples.outside:
        ignored = unknown & samples.outside
        unknown -= ignored
        print(f"note: {preds.path}: {len(ignored):,} prediction(s) for items of the benchmark "
              f"that task {spec.name} does not score ({samples.outside_what}) ignored",
              file=sys.stderr)
    if unknown:
        first = next(k for k in preds.text if k in unknown)
        raise BadInputError(
            f"{preds.path}: {len(unknown)} id(s) are not in task {spec.name} "
            f"(first: {shown(first)} at {preds.position(first)}); wrong task or file?"
        )
    if len(preds.text) == len(keys):
        return []
    return [k for k in keys if k not in preds.text]


def sample_keys(samples: list[Sample]) -> list[str]:
    """``[s.key for s in samples]``, with the loop in C (it runs over 214k samples)."""
    return list(map(str, map(itemgetter(0), samples)))


def _check_result(spec: TaskSpec, result: object, count: int) -> None:
    """What a family's ``score`` returned (a plug-in's too) holds only declared, numeric
    metrics and one finite score per sample: else reports and gates would refuse, or misread,
    the metrics file later."""
    where = f"the {spec.family.name} family (task {spec.name})"
    if not isinstance(result, FamilyScores):
        raise PluginError(f"{where}: score() returned {type(result).__name__}, not "
                          "FamilyScores")
    for name, value in result.metrics.items():
        if spec.family.metric(name, spec.options) is None:
            raise PluginError(f"{where}: metric {shown(name)} is not among the family's "
                              "declared metrics")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise PluginError(f"{where}: metric {shown(name)} is {shown(value)}, not a number")
    if len(result.per_sample) != count:
        raise PluginError(f"{where}: {len(result.per_sample)} per-sample scores for {count} "
                          "samples")
    try:
        total = sum(map(attrgetter("score"), result.per_sample))
    except TypeError:
        total = float("nan")
    if not math.isfinite(total):
        raise PluginError(f"{where}: a per-sample score is not a finite number")


def without_failed(predictions: Mapping[str, str | None],
                   failed: Collection[str]) -> Mapping[str, str | None]:
    """``predictions`` with each failed sample's (its input failed under ``--on-image-error
    skip``: journaled as '' with an ``error``) set to None, the prediction every family scores
    wrong, so no answer rule reads the placeholder '' (POPE's would call it "yes")."""
    if not failed:
        return predictions
    return {**predictions, **dict.fromkeys((k for k in failed if k in predictions), None)}


def score_task(
    spec: TaskSpec, samples: list[Sample], predictions: Mapping[str, str | None],
    *, missing: list[str], partial: bool = False, per_sample: bool = True,
    failed: Collection[str] = (),
) -> dict[str, Any]:
    """Metrics of one task, with the variant, counts, the missing ids and a bootstrap CI.

    With ``partial`` only the samples that have a prediction are scored and the result is
    labelled partial; otherwise missing predictions count as wrong. ``failed`` samples (their
    input failed) are scored wrong in every case (see ``without_failed``).
    """
    check_samples(spec, samples)
    predictions = without_failed(predictions, failed)
    missing_set = set(missing)
    scored_samples = [s for s in samples if s.key not in missing_set] if partial else samples
    if not scored_samples:
        raise BadInputError(f"task {spec.name}: no prediction matches any sample id")
    try:
        result = spec.family.score(scored_samples, predictions, spec.options)
    except TargetError as exc:  # a family names the item; the file is known here
        raise BadInputError(f"{truth_file(spec)}: {exc}") from None
    primary = spec.card.primary_metric
    _check_result(spec, result, len(scored_samples))
    if primary not in result.metrics:
        raise BadInputError(
            f"{spec.card.path}: primary_metric {shown(primary)} is not produced by the "
            f"{spec.family.name} family (it gives {', '.join(result.metrics)})"
        )
    if result.metrics[primary] != result.metrics[primary]:
        raise PluginError(f"the {spec.family.name} family scored task {spec.name}'s primary "
                          f"metric {primary} as NaN")
    declared = spec.family.metric(primary, spec.options)
    ci = None
    if declared is None or declared.bootstrap:  # only a mean of units has an interval
        units = (result.ci_units if result.ci_units is not None
                 else [r.score for r in result.per_sample])
        ci = bootstrap_mean_ci(units)
    entry: dict[str, Any] = {
        "family": spec.family.name,
        "primary_metric": primary,
        "metrics": result.metrics,
        "variant": recorded_variant(spec.family, spec.options),
        "n_samples": len(samples),
        "n_scored": len(scored_samples),
        "n_missing": len(missing),
        "missing_ids": missing,
        "partial": partial,
        "parse_failures": result.parse_failures,
        "ci95": {primary: list(ci) if ci else None},
        "breakdown": result.breakdown,
    }
    if per_sample:
        entry["per_sample"] = [
            {"id": r.id, "score": r.score, "prediction": r.prediction, **r.extra} if r.extra
            else {"id": r.id, "score": r.score, "prediction": r.prediction}
            for r in result.per_sample
        ]
    return entry


def write_submission(spec: TaskSpec, samples: list[Sample],
                     predictions: Mapping[str, str | None], path: Path) -> None:
    """Write the task's official submission file (``run`` and ``score`` alike)."""
    write_json(path, spec.family.submission(samples, predictions, spec.options))


def submission_entry(spec: TaskSpec, samples: list[Sample],
                     predictions: Mapping[str, str | None], path: Path, recorded: str,
                     missing: list[str]) -> dict[str, Any]:
    """A submission-only task: write its submission file; the metrics entry that names it
    (as ``recorded``)."""
    write_submission(spec, samples, predictions, path)
    return {"submission": recorded, "n_samples": len(samples), "n_missing": len(missing),
            "variant": recorded_variant(spec.family, spec.options)}
