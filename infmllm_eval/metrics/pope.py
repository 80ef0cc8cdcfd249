"""POPE's yes/no rule and its binary-classification figures, as the official evaluate.py.

Rule: keep the text before the first ``.``, delete every ``,``, split on single spaces; the
answer is "no" when one of the words is exactly ``No``, ``not`` or ``no``, otherwise "yes"
(so an empty or off-topic answer is "yes"). Positive class = yes. The official script prints
fractions; these figures are percent, except the four counts.
"""

from __future__ import annotations

from collections.abc import Iterable

_NO_WORDS = frozenset(("No", "not", "no"))


def pope_label(response: str) -> str:
    """'yes' or 'no' for a model response, by POPE's rule."""
    words = response.split(".", 1)[0].replace(",", "").split(" ")
    return "no" if any(w in _NO_WORDS for w in words) else "yes"


def binary_counts(pairs: Iterable[tuple[str | None, str]]) -> dict[str, int]:
    """TP/FP/TN/FN (positive = yes) from (predicted label, true label) pairs. A missing
    prediction (None), or a label that is neither yes nor no (MME's rule gives "other"),
    counts as the wrong label, so it is wrong everywhere (POPE's rule always gives yes or no)."""
    tp = fp = tn = fn = 0
    for predicted, truth in pairs:
        if predicted not in ("yes", "no"):
            predicted = "no" if truth == "yes" else "yes"
        if predicted == "yes":
            tp += truth == "yes"
            fp += truth != "yes"
        else:
            tn += truth != "yes"
            fn += truth == "yes"
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn}


def official_figures(counts: dict[str, int]) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and yes-ratio as fractions, with the official
    script's operations (so each matches what it prints to the bit)."""
    tp, fp, tn, fn = counts["tp"], counts["fp"], counts["tn"], counts["fn"]
    total = tp + fp + tn + fn
    precision = float(tp) / float(tp + fp) if tp + fp else 0.0
    recall = float(tp) / float(tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": (tp + tn) / total if total else float("nan"),
            "precision": precision, "recall": recall, "f1": f1,
            "yes_ratio": (tp + fp) / total if total else float("nan")}


def binary_figures(pairs: Iterable[tuple[str | None, str]]) -> dict[str, float]:
    """The official figures in percent, and the four counts."""
    counts = binary_counts(pairs)
    return {**{k: v * 100 for k, v in official_figures(counts).items()}, **counts}
