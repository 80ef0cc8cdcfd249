"""The grouped-means and accuracy-metrics helpers every family's breakdown goes through."""

from __future__ import annotations

from typing import Any

import pytest

from infmllm_eval.families.base import (
    ScoredSample,
    accuracy_metrics,
    grouped_means,
    means_by_meta,
)
from infmllm_eval.types import Sample


def test_grouped_means_per_key_sorted_and_missing_names_left_out() -> None:
    metas: list[dict[str, Any]] = [
        {"kind": "b", "size": "big"}, {"kind": "a"}, {"kind": "b", "size": ""},
        {"kind": None, "size": "big"}, {"kind": "a", "size": "small"}]
    got = grouped_means(metas, [10.0, 20.0, 30.0, 40.0, 50.0], ("kind", "size", "colour"))
    assert got == {"kind": {"a": 35.0, "b": 20.0}, "size": {"big": 25.0, "small": 50.0}}
    assert list(got["kind"]) == ["a", "b"]  # names sorted; "colour" (no meta has it) omitted


def test_grouped_means_sums_in_the_given_order() -> None:
    # one by one: 1e16 + 1.0 rounds back to 1e16, so the group sums to 0.0 (not 1.0)
    got = grouped_means([{"k": "x"}] * 3, iter([1e16, 1.0, -1e16]), ("k",))
    assert got == {"k": {"x": 0.0}}


def test_grouped_means_needs_one_value_per_meta() -> None:
    with pytest.raises(ValueError):
        grouped_means([{"k": "x"}] * 2, [1.0], ("k",))
    assert grouped_means([], [], ("k",)) == {}


def test_grouped_means_over_units_as_circular_eval_does() -> None:
    """Per-unit values (a question of several passes right or not) by the unit's meta."""
    units = {7: True, 8: False, 9: True}
    meta = {7: {"category": "ocr"}, 8: {"category": "ocr"}, 9: {"category": "count"}}
    got = grouped_means((meta[g] for g in units),
                        (100.0 if right else 0.0 for right in units.values()), ("category",))
    assert got == {"category": {"count": 100.0, "ocr": 50.0}}


def test_means_by_meta_reads_samples_and_scores() -> None:
    samples = [Sample(i, None, {}, None, {"split": s}) for i, s in enumerate("xyx")]
    scored = [ScoredSample(i, v, None) for i, v in enumerate([0.0, 100.0, 100.0])]
    assert means_by_meta(samples, scored, ("split",)) == {"split": {"x": 50.0, "y": 100.0}}


def test_accuracy_metrics() -> None:
    breakdown = {"answer_type": {"number": 0.0, "yes/no": 75.0}, "question_type": {"how": 1.0}}
    assert accuracy_metrics(iter([0.0, 50.0, 100.0]), breakdown) == {
        "accuracy": 50.0, "accuracy_number": 0.0, "accuracy_yes/no": 75.0}
    assert list(accuracy_metrics([1.0], breakdown)) == [
        "accuracy", "accuracy_number", "accuracy_yes/no"]
    assert accuracy_metrics([1.0], {}) == {"accuracy": 1.0}


def test_vqa_and_gqa_submissions_share_the_cleaned_rows() -> None:
    from infmllm_eval.families.gqa import GQA
    from infmllm_eval.families.vqa import VQA

    samples = [Sample(i, None, {"question": "q"}, None, {}) for i in (7, 8)]
    predictions = {"7": "two dogs, Question: more"}  # 8 has no prediction
    options = {"postprocess": "infmllm-vqa"}
    assert VQA.submission(samples, predictions, options) == [
        {"question_id": 7, "answer": "two dogs"}, {"question_id": 8, "answer": ""}]
    assert GQA.submission(samples, predictions, {"postprocess": "none"}) == [
        {"questionId": 7, "prediction": "two dogs, Question: more"},
        {"questionId": 8, "prediction": ""}]
