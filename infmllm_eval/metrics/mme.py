"""MME scoring as the official eval_tool (calculation.py) computes it.

A response is lower-cased and nothing else (no whitespace is stripped: "   yes" has the first
four characters "   y" and is "other"); exactly "yes"/"no" is taken as is, otherwise its
first four characters decide: "yes" in them -> yes, else "no" in them -> no, else "other"
(always wrong, and counted). The official tool reads each result line with its line end,
which can never complete a "yes" or "no", so the label of a response does not depend on it.
Per subtask: acc = % of questions right, acc+ = % of images with both questions right,
score = acc + acc+ (max 200). Perception sums ten subtasks (max 2000), Cognition four
(max 800).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene",
              "landmark", "artwork", "OCR")
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation",
             "code_reasoning")
SUBTASKS = PERCEPTION + COGNITION
CATEGORY = {**{name: "perception" for name in PERCEPTION},
            **{name: "cognition" for name in COGNITION}}


def yes_no_label(response: str) -> str:
    """'yes', 'no' or 'other' for a model response, by the official rule, on the text exactly
    as given (the official calculation.py strips nothing; generated text is stripped once, by
    the model adapter, before it is journaled)."""
    answer = response.lower()
    if answer in ("yes", "no"):
        return answer
    head = answer[:4]
    if "yes" in head:
        return "yes"
    if "no" in head:
        return "no"
    return "other"


@dataclass(frozen=True)
class SubtaskScore:
    """One subtask's official figures (acc and acc_plus in percent)."""

    n_images: int
    n_questions: int
    acc: float
    acc_plus: float
    score: float
    other_num: int

    def as_dict(self) -> dict[str, Any]:
        """The figures under the names of the official output."""
        return asdict(self)


def score_subtask(outcomes: Iterable[tuple[str, bool, bool]]) -> SubtaskScore:
    """Figures of one subtask from (image, correct, other) per question.

    An image counts for acc+ when every question asked about it is right (two in MME).
    """
    images: dict[str, bool] = {}
    questions = right = other = 0
    for image, correct, is_other in outcomes:
        questions += 1
        right += correct
        other += is_other
        images[image] = images.get(image, True) and correct
    if not questions:
        return SubtaskScore(0, 0, 0.0, 0.0, 0.0, 0)
    # the official order of operations (fraction, then x100), so figures match to the bit
    acc = right / questions * 100
    acc_plus = sum(images.values()) / len(images) * 100
    return SubtaskScore(len(images), questions, acc, acc_plus, acc + acc_plus, other)


def totals(scores: Mapping[str, SubtaskScore]) -> dict[str, float]:
    """Perception, cognition and their sum over the subtasks present (official order)."""
    perception = sum(scores[name].score for name in PERCEPTION if name in scores)
    cognition = sum(scores[name].score for name in COGNITION if name in scores)
    return {"perception": perception, "cognition": cognition, "total": perception + cognition}
