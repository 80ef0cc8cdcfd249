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


def scored_record(rec: Mapping[str, Any], where: str) -> ScoredText:
    """The prediction of a record with per-option scores; a bad value is an error naming
    ``where`` (file and line or item)."""
    text, logprobs, tokens = rec.get("prediction"), rec.get("logprobs"), rec.get("tokens")
    if not isinstance(text, str):
        raise BadInputError(f"{where}: 'prediction' must be a string, got {shown(text)}")
    if not isinstance(logprobs, list) or not logprobs or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            and v <= 0 for v in logprobs):
        raise BadInputError(f"{where}: 'logprobs' must be a non-empty list of finite "
                            f"log-probabilities <= 0, got {shown(logprobs)}")
    if not isinstance(tokens, list) or len(tokens) != len(logprobs) or not all(
            type(n) is int and n > 0 for n in tokens):
        raise BadInputError(f"{where}: 'tokens' must list a positive token count for each of "
                            f"the {len(logprobs)} logprobs, got {shown(tokens)}")
    return ScoredText(text, tuple(float(v) for v in logprobs), tuple(tokens))


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
