"""MMBench choice extraction on realistic model outputs, and CircularEval on hand-made sets."""

from __future__ import annotations

import pytest

from infmllm_eval.families.multiple_choice import MULTIPLE_CHOICE
from infmllm_eval.metrics.choice import circular_outcomes, extract_choice, rotations
from infmllm_eval.types import Sample

SHAPES = [("A", "Circle"), ("B", "Octagon"), ("C", "Triangle"), ("D", "Rectangle")]
SOLUTIONS = [("A", "neither; their concentrations are the same"), ("B", "Solution B"),
             ("C", "Solution A")]
CAPTIONS = [("A", "A man rides a surfboard on a large wave."),
            ("B", "a young boy barefoot holding an umbrella touching the horn of a cow"),
            ("C", "A giraffe standing by a stall in a field."),
            ("D", "A stop sign that has been vandalized with graffiti.")]
CITIES = [("A", "北京"), ("B", "上海"), ("C", "广州"), ("D", "深圳")]
NUMBERS = [("A", "six"), ("B", "five"), ("C", "seven"), ("D", "sixteen")]


@pytest.mark.parametrize(("answer", "options", "expected"), [
    # a bare letter, in the shapes models write it
    ("B", SHAPES, "B"), ("b", SHAPES, "B"), ("(C)", SHAPES, "C"), ("D.", SHAPES, "D"),
    (" A\n", SHAPES, "A"), ("Ｂ", SHAPES, "B"), ("（C）", SHAPES, "C"),
    # a letter with the option text or an explanation
    ("B. Octagon", SHAPES, "B"), ("C) Triangle", SHAPES, "C"), ("D: Rectangle", SHAPES, "D"),
    ("B\nThe umbrella has eight sides.", SHAPES, "B"), ("Option B: Octagon", SHAPES, "B"),
    # stated answers
    ("The answer is D.", SHAPES, "D"), ("Answer: C", SHAPES, "C"),
    ("I think the answer is b.", SHAPES, "B"), ("The correct option is (B) octagon", SHAPES, "B"),
    ("I would choose option A because the edge is round.", SHAPES, "A"),
    ("The answer is B, not C.", SHAPES, "B"),
    ("A. Circle B. Octagon C. Triangle D. Rectangle. Answer: B", SHAPES, "B"),
    ("答案是B", CITIES, "B"), ("答案：Ｃ", CITIES, "C"), ("我选择D。", CITIES, "D"),
    # one letter somewhere (an "A" before a lower-case word is the article)
    ("B is correct.", SHAPES, "B"), ("It is C.", SHAPES, "C"),
    ("A picture of an umbrella; it matches D", SHAPES, "D"),
    # the option text instead of the letter
    ("Octagon", SHAPES, "B"), ("The umbrella is an octagon.", SHAPES, "B"),
    ("The answer is a circle.", SHAPES, "A"),
    ("Solution A", SOLUTIONS, "C"),                       # option C's text, not letter A
    ("The answer is Solution A.", SOLUTIONS, "C"),
    ("Solution B has the higher concentration.", SOLUTIONS, "B"),
    ("A man rides a surfboard on a large wave.", CAPTIONS, "A"),
    ("A young boy barefoot holding an umbrella touching the horn of a cow.", CAPTIONS, "B"),
    ("北京", CITIES, "A"), ("这是北京的美食。", CITIES, "A"),
    ("There are sixteen trucks.", NUMBERS, "D"),         # "six" inside "sixteen" not counted
    ("six", NUMBERS, "A"),
    # refusals, ambiguity and nonsense stay unresolved: never a guess
    ("I'm sorry, I cannot determine that from the image.", SHAPES, None),
    ("Sorry, I can't answer this question.", SHAPES, None),
    ("None of the options is correct.", SHAPES, None),
    ("It could be A or B.", SHAPES, None), ("Both A and C are possible.", SHAPES, None),
    ("It is not a circle, it is an octagon.", SHAPES, None),
    ("A man is surfing.", CAPTIONS, None), ("E", SHAPES, None), ("", SHAPES, None),
    ("   ", SHAPES, None), ("Neither", SOLUTIONS, None), ("yes", SHAPES, None),
    ("这个问题无法回答。", CITIES, None),
])
def test_extraction_table(answer: str, options: list[tuple[str, str]],
                          expected: str | None) -> None:
    assert extract_choice(answer, options) == expected


def test_rotations_shift_options_and_move_the_answer() -> None:
    passes = rotations(SHAPES, "B")
    assert len(passes) == 3
    first, answer = passes[0]
    assert first == [("A", "Octagon"), ("B", "Triangle"), ("C", "Rectangle"), ("D", "Circle")]
    assert answer == "A"
    for moved, letter in passes:  # every pass keeps the right text under its answer
        assert letter is not None and dict(moved)[letter] == "Octagon"
    assert [a for _, a in rotations(SOLUTIONS[:2], "A")] == ["B"]


def test_circular_outcome_needs_every_pass() -> None:
    rows = [(7, True), (7, True), (7, True), (7, False), (8, True), (8, True)]
    assert circular_outcomes(rows) == {7: False, 8: True}


def _passes(group: int, answers: list[str]) -> list[Sample]:
    out = []
    for p, answer in enumerate(answers):
        index = group + p * 1_000_000
        out.append(Sample(index, "data:image/jpeg;base64,AAAA",
                          {"question": "Q?", "hint": "", "options": [list(o) for o in SHAPES]},
                          answer, {"group": group, "pass": p, "category": f"cat{group % 2}",
                                   "l2-category": "l2"}))
    return out


def test_circular_scoring_on_hand_made_answers() -> None:
    samples = _passes(1, ["A", "B", "C", "D"]) + _passes(2, ["C", "D", "A", "B"]) \
        + _passes(3, ["B", "C"])
    predictions = {
        # question 1: right in 3 of 4 passes -> scores 0
        "1": "A", "1000001": "B", "2000001": "C", "3000001": "A",
        # question 2: right in every pass, in four different answer styles
        "2": "C", "1000002": "The answer is D.", "2000002": "Circle", "3000002": "(B)",
        # question 3: first pass right, second unresolved (a refusal)
        "3": "B", "1000003": "Sorry, I cannot tell.",
    }
    result = MULTIPLE_CHOICE.score(samples, predictions, {"judge": "none"})
    assert result.metrics["circular_accuracy"] == pytest.approx(100 / 3)
    assert result.metrics["single_pass_accuracy"] == 100.0  # the three index < 1e6 rows
    assert result.ci_units == [0.0, 100.0, 0.0]
    assert result.parse_failures == 1
    assert result.breakdown["category"] == {"cat0": 100.0, "cat1": 0.0}
    assert result.breakdown["l2-category"] == {"l2": pytest.approx(100 / 3)}
    assert result.breakdown["counts"] == {"questions": 3, "rows": 10, "rule": 9, "judge": 0,
                                          "unresolved": 1, "missing": 0}
    extra = {r.id: r.extra for r in result.per_sample}
    assert extra[1000003] == {"choice": None, "resolved_by": "unresolved", "group": 3,
                              "pass": 1}
    assert [r.score for r in result.per_sample[:4]] == [100.0, 100.0, 100.0, 0.0]


def test_missing_prediction_is_wrong_but_not_a_parse_failure() -> None:
    samples = _passes(5, ["A", "B"])
    result = MULTIPLE_CHOICE.score(samples, {"5": "A"}, {"judge": "none"})
    assert result.metrics["circular_accuracy"] == 0.0
    assert result.parse_failures == 0
    assert result.breakdown["counts"]["missing"] == 1
