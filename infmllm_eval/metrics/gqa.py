"""GQA exact match, as the official ``eval.py`` or after LLaVA's prediction clean-up."""

from __future__ import annotations

from typing import Final

from infmllm_eval.errors import UnknownNameError

GQA_VARIANTS: Final[tuple[str, ...]] = ("official", "llava", "strip-lower")


def gqa_match(prediction: str, answer: str, variant: str) -> float:
    """1.0 when ``prediction`` matches the gold ``answer`` under ``variant``, else 0.0.

    - ``official``: the official eval.py compares ``predicted == gold`` with no normalisation at
      all (no strip, no lower-casing).
    - ``llava``: LLaVA's ``convert_gqa_for_eval.py`` first applies ``rstrip(".")`` (every trailing
      period, but no whitespace) and ``lower()`` to the prediction only; then the exact match.
    - ``strip-lower``: InfMLLM's ``evaluate_vqa.py`` (``evaluate_exact_match_accuracy``,
      used for OCR-VQA): both sides stripped and lower-cased, then the exact match.
    """
    if variant == "official":
        return 1.0 if prediction == answer else 0.0
    if variant == "llava":
        return 1.0 if prediction.rstrip(".").lower() == answer else 0.0
    if variant == "strip-lower":
        return 1.0 if prediction.strip().lower() == answer.strip().lower() else 0.0
    raise UnknownNameError(
        f"unknown GQA match variant {variant!r}; valid: {', '.join(GQA_VARIANTS)}"
    )
