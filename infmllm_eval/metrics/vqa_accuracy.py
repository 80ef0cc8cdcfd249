"""VQA accuracy (VQAv2, OK-VQA, TextVQA) under the four answer normalisations in use.

A question's accuracy averages, over the n human answers, min(1, matches among the *other*
answers / 3).  With m answers equal to the (normalised) prediction this is a function of n and m
only, up to the last bit of the official float summation, which depends on where the matches sit
when m is 2 or 3; the values are therefore computed once per (n, match positions) with the
official summation order and memoised.  Normalised strings are memoised per scorer, so scoring
the 214,354 VQAv2 val questions normalises each distinct string once. ``percents`` scores a
whole split in one loop; a call for one question runs the same loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Final

from infmllm_eval.errors import BadInputError, UnknownNameError
from infmllm_eval.metrics.vqa_normalize import (
    clean_whitespace,
    evalai_normalize,
    normalize_answer,
    process_punctuation,
)

VQA_VARIANTS: Final[tuple[str, ...]] = ("official-current", "official-2017", "always", "evalai")


def _check_variant(variant: str) -> None:
    if variant not in VQA_VARIANTS:
        raise UnknownNameError(
            f"unknown VQA normalization {variant!r}; valid: {', '.join(VQA_VARIANTS)}"
        )


class _Memo(dict[str, str]):
    """A dict that computes and stores missing keys with ``fn``."""

    def __init__(self, fn: Callable[[str], str]) -> None:
        super().__init__()
        self._fn = fn

    def __missing__(self, key: str) -> str:
        value = self[key] = self._fn(key)
        return value


def _official_average(n: int, positions: tuple[int, ...]) -> float:
    """The official per-question value: its loop, its float summation order."""
    m = len(positions)
    accs = [min(1, float(m - 1 if i in positions else m) / 3) for i in range(n)]
    return float(sum(accs)) / len(accs)


#: per-question values by (n, match positions) when m is 2 or 3, else by (n, -m)
_AVERAGES: dict[tuple[int, ...], float] = {}


def _accuracy(normalized: list[str], prediction: str) -> float:
    """Accuracy of ``prediction`` against already-normalised answers (by position)."""
    m = normalized.count(prediction)
    if m == 0:
        return 0.0
    n = len(normalized)
    if m == 2 or m == 3:  # only these sums depend on where the matches are
        i = normalized.index(prediction)
        j = normalized.index(prediction, i + 1)
        key: tuple[int, ...] = (n, i, j) if m == 2 else (
            n, i, j, normalized.index(prediction, j + 1))
    else:
        key = (n, -m)
    value = _AVERAGES.get(key)
    if value is None:
        positions = key[1:] if m == 2 or m == 3 else tuple(range(m))
        value = _AVERAGES[key] = _official_average(n, positions)
    return value


def normalize_for_variant(text: str, variant: str) -> str:
    """What a prediction is normalised to under ``variant`` when the answers are not unanimous."""
    _check_variant(variant)
    return evalai_normalize(text) if variant == "evalai" else normalize_answer(text)


class VqaAccuracy:
    """Per-question VQA accuracy in [0, 1] under one named normalisation variant.

    - ``official-current``: official vqaEval.py (2021): both sides have newlines/tabs replaced and
      are stripped; punctuation + digit/article steps on both only if the answers differ.
    - ``official-2017``: official vqaEval.py (2016-2021): the prediction always gets every step;
      the answers, untouched otherwise, get only the punctuation step if they differ.
    - ``always``: every step on both sides (original InfMLLM ``vqa_metric.py``).
    - ``evalai``: the EvalAI answer processor on both sides (TextVQA/m4c).

    Answers are matched by position: the official loop compares answer dicts, which carry
    distinct ``answer_id``s in every official file.
    """

    def __init__(self, variant: str) -> None:
        _check_variant(variant)
        self.variant = variant
        self._full = _Memo(evalai_normalize if variant == "evalai" else normalize_answer)
        self._clean = _Memo(clean_whitespace)
        self._punct = _Memo(process_punctuation)

    def __call__(self, prediction: str, answers: Sequence[str]) -> float:
        """Accuracy of ``prediction`` against the human ``answers`` (any number >= 1)."""
        if not answers:
            raise BadInputError("VQA accuracy needs at least one human answer; got none")
        return self._scaled((prediction,), (answers,), 1.0)[0]

    def percents(self, predictions: Iterable[str | None],
                 answer_lists: Iterable[Sequence[str] | None]) -> list[float]:
        """``100 * accuracy`` for each (prediction, answers) pair, 0.0 where the prediction is
        None or there are no answers (VQAv2 val's 214k questions in one loop)."""
        return self._scaled(predictions, answer_lists, 100.0)

    def _scaled(self, predictions: Iterable[str | None],
                answer_lists: Iterable[Sequence[str] | None], scale: float) -> list[float]:
        """``scale * accuracy`` for each pair: the rules of every variant, written once (a
        scale of 1.0 gives the accuracy itself, bit for bit)."""
        full, clean = self._full, self._clean
        normalized_of, cleaned_of = full.__getitem__, clean.__getitem__
        punct_of = self._punct.__getitem__
        every_step = self.variant in ("always", "evalai")
        current = self.variant == "official-current"
        unanimous: dict[int, float] = {}  # scaled value when all n answers match, by n
        out: list[float] = []
        append = out.append
        for prediction, answers in zip(predictions, answer_lists, strict=True):
            if prediction is None or not answers:
                append(0.0)
                continue
            if every_step:
                append(scale * _accuracy(list(map(normalized_of, answers)), full[prediction]))
                continue
            n = len(answers)
            first = answers[0]
            if answers.count(first) == n:  # raw answers unanimous
                # official-current compares whitespace-cleaned text; official-2017 the raw
                # answer with the fully normalised prediction
                hit = clean[first] == clean[prediction] if current else first == full[prediction]
            elif current:  # unanimity is decided again on the cleaned answers
                normalized = list(map(normalized_of, answers))
                cleaned = (list(map(cleaned_of, answers))
                           if normalized.count(normalized[0]) == n else None)
                if cleaned is None or cleaned.count(cleaned[0]) != n:
                    append(scale * _accuracy(normalized, full[prediction]))
                    continue
                hit = cleaned[0] == clean[prediction]  # unanimous after cleaning only
            else:  # official-2017: the answers get only the punctuation step
                append(scale * _accuracy(list(map(punct_of, answers)), full[prediction]))
                continue
            if not hit:
                append(0.0)
                continue
            value = unanimous.get(n)
            if value is None:
                value = unanimous[n] = scale * _accuracy([first] * n, first)
            append(value)
        return out
