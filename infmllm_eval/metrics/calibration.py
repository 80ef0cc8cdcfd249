"""Calibration of option probabilities: expected calibration error and Brier score.

Pure functions over ``probabilities`` (one list per question, summing to 1) and the index of
each question's right option.

- ECE (Guo et al. 2017) with equal-width bins: a question's confidence is its highest
  probability, it is right when that option is the answer; confidences fall in ``bins``
  equal-width bins of [0, 1] (bin ``min(floor(conf * bins), bins - 1)``: 1.0 is in the last
  one); ECE = sum over bins of |mean confidence - accuracy| x (questions in bin / all). A
  fraction, 0 to 1. ChEF (``compute_ECE`` in ``src/ChEF/metric/desiderata.py`` of
  OpenGVLab/LAMM) uses ``num_bins=10``, the default here; note that ChEF's bins hold equal
  counts of questions, these are equal-width, as the more common definition.
- Brier score (Brier 1950, the multi-class form): the mean over questions of
  sum_k (p_k - [k is the answer])^2; 0 to 2.
Both are lower-is-better.
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_BINS = 10


def expected_calibration_error(probabilities: Sequence[Sequence[float]],
                               answers: Sequence[int], bins: int = DEFAULT_BINS) -> float:
    """ECE with ``bins`` equal-width confidence bins (nan for no questions)."""
    if bins < 1:
        raise ValueError(f"bins={bins}: expected at least 1")
    count = [0] * bins
    confidence = [0.0] * bins
    right = [0] * bins
    for probs, answer in zip(probabilities, answers, strict=True):
        top = max(range(len(probs)), key=probs.__getitem__)
        conf = probs[top]
        where = min(int(conf * bins), bins - 1)
        count[where] += 1
        confidence[where] += conf
        right[where] += top == answer
    total = sum(count)
    if not total:
        return float("nan")
    return sum(abs(confidence[b] - right[b]) / total for b in range(bins) if count[b])


def brier_score(probabilities: Sequence[Sequence[float]], answers: Sequence[int]) -> float:
    """Multi-class Brier score (nan for no questions)."""
    total, n = 0.0, 0
    for probs, answer in zip(probabilities, answers, strict=True):
        total += sum((p - (k == answer)) ** 2 for k, p in enumerate(probs))
        n += 1
    return total / n if n else float("nan")
