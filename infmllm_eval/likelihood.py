"""Likelihood inference records: the per-option scores a journal line or a predictions file
carries next to its prediction text (``logprobs``: summed log-probability of each option's
continuation, natural log; ``tokens``: its token count), and what is made of them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.types import ScoredText

#: how options are ranked: ``sum`` (summed log-probability, SEED-Bench's and ChEF's rule)
#: or ``mean`` (per-token mean, length-normalised)
RANKINGS = ("sum", "mean")


MAX_TOKENS = 1 << 31


def scored_record(rec: Mapping[str, Any], where: str) -> ScoredText:
    """The prediction of a record with per-option scores; a bad value is an error naming
    ``where`` (file and line or item)."""
    text = rec.get("prediction")
    if not isinstance(text, str):
        raise BadInputError(f"{where}: 'prediction' must be a string, got {shown(text)}")
    return scored(text, rec.get("logprobs"), rec.get("tokens"), where)


def scored(text: str, logprobs: Any, tokens: Any, where: str) -> ScoredText:
    """``text`` carrying per-option scores, checked: a non-empty list of finite
    log-probabilities <= 0 and, for each, a positive integer token count."""
    values = [_logprob(v) for v in logprobs] if isinstance(logprobs, list) else []
    if not values or None in values:
        raise BadInputError(f"{where}: 'logprobs' must be a non-empty list of finite "
                            f"log-probabilities <= 0, got {shown(logprobs)}")
    if not isinstance(tokens, list) or len(tokens) != len(values) or not all(
            type(n) is int and 0 < n < MAX_TOKENS for n in tokens):
        raise BadInputError(f"{where}: 'tokens' must list a positive token count for each of "
                            f"the {len(values)} logprobs, got {shown(tokens)}")
    return ScoredText(text, tuple(v for v in values if v is not None), tuple(tokens))


def _logprob(value: Any) -> float | None:
    """``value`` as a finite log-probability <= 0, or None (a bool, a huge int …)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number <= 0 else None


def ranking_scores(pred: ScoredText, ranking: str) -> list[float]:
    """Each option's score under ``ranking`` (higher is better)."""
    if ranking == "mean":
        return [lp / n for lp, n in zip(pred.logprobs, pred.tokens, strict=True)]
    return list(pred.logprobs)


def best_option(scores: Sequence[float]) -> int:
    """Index of the highest score (the first on a tie)."""
    return max(range(len(scores)), key=scores.__getitem__)


def option_probabilities(scores: Sequence[float]) -> list[float]:
    """Softmax over the options' scores (stable: the maximum is subtracted first)."""
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    total = sum(weights)
    return [w / total for w in weights]
