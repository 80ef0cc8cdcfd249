"""Named post-processors of raw model text."""

from __future__ import annotations

import pytest

from infmllm_eval.errors import UnknownNameError
from infmllm_eval.metrics.postprocess import POSTPROCESSORS, get_postprocessor


def test_none_is_identity() -> None:
    assert get_postprocessor("none")("  Yes, it is.\n") == "  Yes, it is.\n"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("yes", "yes"),
        ("  cat  ", "cat"),
        ("red, blue", "red"),
        ("a, b, c", "a"),
        ("red,blue", "red,blue"),  # only ", " cuts
        ("two Question: how many dogs?", "two"),
        ("dogAnswer: cat", "dog"),  # markers are found anywhere, even inside a word
        ("blue Answer, red", "blue"),
        ("Short answer: yes", ""),
        ("Shortstop", ""),
        ("no questions", "no questions"),  # case-sensitive: "questions" is no marker
        ("yes, Question: is it?", "yes"),
        ("Answer first", ""),
    ],
)
def test_infmllm_vqa(raw: str, expected: str) -> None:
    assert get_postprocessor("infmllm-vqa")(raw) == expected


def test_registry_and_unknown_name() -> None:
    assert {"none", "infmllm-vqa"} <= set(POSTPROCESSORS)
    assert get_postprocessor("infmllm-vqa") is POSTPROCESSORS.get("infmllm-vqa")
    with pytest.raises(UnknownNameError, match="infmllm-vqa"):
        get_postprocessor("lowercase")
