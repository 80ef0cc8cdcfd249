"""Multiple choice by option likelihood (SEED-Bench's official rule, ChEF's PPL inferencer):
the options and metrics the ``multiple_choice`` family adds for ``inferencer=likelihood``.

The model scores each option's continuation after the rendered prompt (``scored_text``:
the letter ``A``, the option text, or ``A. text``); the prediction is the option with the
highest summed log-probability (``ranking=sum``) or per-token mean (``ranking=mean``,
length-normalised). Calibration (``ece``, ``brier``) uses the softmax over the options'
summed log-probabilities, over the first passes of CircularEval questions (as ChEF's
MMBench calibration does) or every row with ``circular=off``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.families.base import LOWER, MetricSpec, OptionSpec
from infmllm_eval.likelihood import RANKINGS, best_option, option_probabilities, ranking_scores
from infmllm_eval.metrics.calibration import (
    DEFAULT_BINS,
    brier_score,
    expected_calibration_error,
)
from infmllm_eval.types import Sample, ScoredText

SCORED_TEXT = ("letter", "text", "letter_text")
BIN_CHOICES = ("5", "10", "15", "20", "25", "50", "100")

OPTIONS = (
    OptionSpec("inferencer", "generation", ("generation", "likelihood"),
               "generation: the model's text, read by the extraction rule; likelihood: the "
               "option whose continuation the model scores highest", record_default=False),
    OptionSpec("ranking", "sum", RANKINGS,
               "likelihood: rank options by summed log-probability (sum) or its per-token "
               "mean (mean, length-normalised)", record_default=False),
    OptionSpec("scored_text", "letter", SCORED_TEXT,
               "likelihood: the continuation scored for an option: its letter (A), its text, "
               "or both (A. text)", record_default=False),
    OptionSpec("calibration_bins", str(DEFAULT_BINS), BIN_CHOICES,
               "likelihood: equal-width confidence bins of the expected calibration error "
               "(ChEF's default: 10)", record_default=False),
)

METRICS = (
    MetricSpec("ece", LOWER, "corpus",
               "likelihood: expected calibration error of the option probabilities (0-1)"),
    MetricSpec("brier", LOWER, "mean",
               "likelihood: multi-class Brier score of the option probabilities (0-2)"),
)


def uses_likelihood(options: Mapping[str, str]) -> bool:
    return options.get("inferencer", "generation") == "likelihood"


def continuation(letter: str, text: str, scored_text: str) -> str:
    """The text scored for one option."""
    if scored_text == "text":
        return text
    if scored_text == "letter_text":
        return f"{letter}. {text}"
    return letter


def continuations(options: list[tuple[str, str]], settings: Mapping[str, str]) -> tuple[str, ...]:
    how = settings.get("scored_text", "letter")
    return tuple(continuation(letter, text, how) for letter, text in options)


def choose(options: list[tuple[str, str]], raw: str | None, settings: Mapping[str, str],
           ) -> tuple[str | None, str, list[float] | None]:
    """(letter, how it was found, option probabilities) of a likelihood prediction: how is
    likelihood, unresolved (no scores: a failed sample) or missing."""
    if raw is None:
        return None, "missing", None
    if not isinstance(raw, ScoredText):
        return None, "unresolved", None
    if len(raw.logprobs) != len(options):
        raise BadInputError(f"a prediction scores {len(raw.logprobs)} options where the "
                            f"question has {len(options)}")
    best = best_option(ranking_scores(raw, settings.get("ranking", "sum")))
    return options[best][0], "likelihood", option_probabilities(list(raw.logprobs))


def check_scored(predictions: Mapping[str, str | None], samples: list[Sample]) -> None:
    """Refuse a prediction without per-option scores for a likelihood task (a failed
    sample has none: it is None here and scored wrong)."""
    plain = [s for s in samples if predictions.get(s.key) is not None
             and not isinstance(predictions[s.key], ScoredText)]
    if not plain:
        return
    scored_any = any(isinstance(predictions.get(s.key), ScoredText) for s in samples)
    raise BadInputError(
        f"inferencer=likelihood: {len(plain)} prediction(s) carry no per-option scores "
        f"('logprobs' and 'tokens'), e.g. sample {shown(plain[0].id)}"
        + ("; every prediction of a likelihood task needs them" if scored_any else
           "; score generated text with inferencer=generation"))


def calibration(rows: list[tuple[list[float], int]], settings: Mapping[str, str],
                ) -> dict[str, float]:
    """ECE and Brier of (probabilities, index of the right option) rows."""
    probs = [p for p, _ in rows]
    answers = [a for _, a in rows]
    bins = int(settings.get("calibration_bins", str(DEFAULT_BINS)))
    return {"ece": expected_calibration_error(probs, answers, bins),
            "brier": brier_score(probs, answers)}


def extra(probs: list[float] | None) -> dict[str, Any]:
    """Per-sample fields of a likelihood choice: the option probabilities."""
    return {} if probs is None else {"probabilities": [round(p, 6) for p in probs]}


def settings(options: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The breakdown entry naming how a likelihood number was made."""
    return {"inference": {"inferencer": "likelihood",
                          "ranking": options.get("ranking", "sum"),
                          "scored_text": options.get("scored_text", "letter"),
                          "calibration_bins": int(options.get("calibration_bins",
                                                              str(DEFAULT_BINS))),
                          "calibration_rows": "first passes" if options.get(
                              "circular", "on") == "on" else "all rows",
                          "calibration_ranking": "sum"}}
