"""GQA exact match: the official eval.py rule and LLaVA's prediction clean-up."""

from __future__ import annotations

import pytest

from infmllm_eval.errors import UnknownNameError
from infmllm_eval.metrics.gqa import GQA_VARIANTS, gqa_match


@pytest.mark.parametrize(
    ("prediction", "answer", "official", "llava"),
    [
        ("yes", "yes", 1.0, 1.0),
        ("Yes", "yes", 0.0, 1.0),  # official: no lower-casing at all
        ("yes.", "yes", 0.0, 1.0),
        ("Yes...", "yes", 0.0, 1.0),  # rstrip(".") removes every trailing period
        (" yes", "yes", 0.0, 0.0),  # neither strips whitespace
        ("Yes. ", "yes", 0.0, 0.0),  # the period is not trailing
        ("traffic light", "traffic light", 1.0, 1.0),
        ("the traffic light", "traffic light", 0.0, 0.0),  # no article removal
        ("left", "Left", 0.0, 0.0),  # LLaVA lower-cases the prediction only
        ("3.5", "3.5", 1.0, 1.0),
        ("", "no", 0.0, 0.0),
    ],
)
def test_gqa_match(prediction: str, answer: str, official: float, llava: float) -> None:
    assert gqa_match(prediction, answer, "official") == official
    assert gqa_match(prediction, answer, "llava") == llava


def test_variants_and_unknown_name() -> None:
    assert GQA_VARIANTS == ("official", "llava", "strip-lower")
    with pytest.raises(UnknownNameError, match="official, llava"):
        gqa_match("yes", "yes", "infmllm")
