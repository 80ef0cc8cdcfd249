"""VQA accuracy: official conformance data, hand-written rule cases, a naive re-statement."""

from __future__ import annotations

import importlib.util
import json
import random
from types import ModuleType
from typing import Any

import pytest

from infmllm_eval.errors import BadInputError, UnknownNameError
from infmllm_eval.metrics.vqa_accuracy import VQA_VARIANTS, VqaAccuracy, normalize_for_variant
from infmllm_eval.metrics.vqa_normalize import (
    evalai_word_tokenize,
    process_digit_article,
    process_punctuation,
)
from tests.conftest import CONFORMANCE, ROOT

EDGE = CONFORMANCE / "vqa_edge_cases"
EXPECTED = {
    "official-current": "expected_official_current.json",
    "official-2017": "expected_official_2017.json",
    "always": "expected_always_normalize.json",
    "evalai": "expected_evalai_processor.json",
}


def _load_bench_loop() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "official_vqa_loop", ROOT / "bench" / "official_vqa_loop.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def edge() -> dict[str, Any]:
    if not EDGE.is_dir():
        pytest.skip(f"../shared/conformance not present: {EDGE} is missing")
    load = lambda name: json.loads((EDGE / name).read_text(encoding="utf-8"))  # noqa: E731
    return {
        "questions": load("edge_questions.json")["questions"],
        "annotations": load("edge_annotations.json")["annotations"],
        "results": load("edge_results.json"),
        "expected": {variant: load(name) for variant, name in EXPECTED.items()},
    }


def _grouped_mean(accs: dict[int, float], anns: list[dict[str, Any]], key: str) -> dict[str, float]:
    groups: dict[str, list[float]] = {}
    for ann in anns:
        groups.setdefault(ann[key], []).append(accs[ann["question_id"]])
    return {name: round(100 * sum(v) / len(v), 2) for name, v in groups.items()}


def _check_against_expected(accs: dict[int, float], edge: dict[str, Any], variant: str) -> None:
    expected = edge["expected"][variant]
    per_question = {int(qid): entry["acc"] for qid, entry in expected["perQuestion"].items()}
    assert set(per_question) == set(accs)
    got = {qid: round(100 * acc, 2) for qid, acc in accs.items()}
    assert got == per_question
    if "overall" in expected:
        assert round(100 * sum(accs.values()) / len(accs), 2) == expected["overall"]
    if "overall_mean_of_rounded" in expected:
        assert round(sum(got.values()) / len(got), 2) == expected["overall_mean_of_rounded"]
    anns = edge["annotations"]
    if "perAnswerType" in expected:
        assert _grouped_mean(accs, anns, "answer_type") == expected["perAnswerType"]
    if "perQuestionType" in expected:
        assert _grouped_mean(accs, anns, "question_type") == expected["perQuestionType"]


@pytest.mark.parametrize("variant", VQA_VARIANTS)
def test_conformance_vqa_accuracy(edge: dict[str, Any], variant: str) -> None:
    scorer = VqaAccuracy(variant)
    anns = {ann["question_id"]: ann for ann in edge["annotations"]}
    accs = {
        r["question_id"]: scorer(
            r["answer"], [a["answer"] for a in anns[r["question_id"]]["answers"]]
        )
        for r in edge["results"]
    }
    _check_against_expected(accs, edge, variant)


@pytest.mark.parametrize("variant", VQA_VARIANTS)
def test_conformance_bench_official_loop(edge: dict[str, Any], variant: str) -> None:
    loop = _load_bench_loop()
    accs = loop.official_loop_accuracy(
        edge["questions"], edge["annotations"], edge["results"], variant
    )
    _check_against_expected(accs, edge, variant)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("t-shirt", "t shirt"),  # not next to a space: replaced by a space
        ("t -shirt", "t shirt"),  # next to a space: deleted
        ("hello, world", "hello world"),
        ("a,b", "a b"),
        ("1,000", "1000"),  # digit,digit: deleted
        ("1,000 t-shirt", "1000 tshirt"),  # digit,digit anywhere switches every char to deletion
        ("yes!", "yes "),
        ("(a) b-c", " a b c"),  # ")" next to a space is deleted, "(" and "-" become spaces
        ("3.5.", "3.5"),  # a period is kept only when a digit follows
        ("1.a", "1a"),
        ("mr. smith", "mr smith"),
        ("e.g.", "eg"),
        ("no punctuation", "no punctuation"),
    ],
)
def test_process_punctuation(text: str, expected: str) -> None:
    assert process_punctuation(text) == expected


def test_period_strip_stops_after_32_periods() -> None:
    # re.UNICODE (32) was passed as the positional ``count`` of re.sub in the official code
    assert process_punctuation("." * 40) == "." * 8
    assert process_punctuation("a." * 33) == "a" * 33 + "."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Two Dogs", "2 dogs"),
        ("an apple a day", "apple day"),
        ("none", "0"),
        ("zero", "0"),
        ("ten", "10"),
        ("eleven", "eleven"),  # only zero..ten
        ("twenty two", "twenty 2"),
        ("dont know", "don't know"),
        ("Whats up", "what's up"),
        ("Im here", "im here"),  # capitalised keys of the table never fire (words are lowered)
        ("  a   b  ", "b"),
        ("", ""),
    ],
)
def test_process_digit_article(text: str, expected: str) -> None:
    assert process_digit_article(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Man's Hat, Red?", "the man 's hat red"),
        ("  YES  ", "yes"),
        ("1,000", "1000"),
    ],
)
def test_evalai_word_tokenize(text: str, expected: str) -> None:
    assert evalai_word_tokenize(text) == expected


def test_normalize_for_variant() -> None:
    assert normalize_for_variant("  The Two DOGS!\n", "always") == "2 dogs"
    assert normalize_for_variant("  The Two DOGS!\n", "official-current") == "2 dogs"
    assert normalize_for_variant("The man's hat?", "evalai") == "man 's hat"
    with pytest.raises(UnknownNameError):
        normalize_for_variant("x", "lavis")


def test_unanimous_answers_with_case_difference() -> None:
    answers = ["yes"] * 10
    assert VqaAccuracy("official-current")("Yes", answers) == 0.0
    for variant in ("official-2017", "always", "evalai"):
        assert VqaAccuracy(variant)("Yes", answers) == 1.0
    # unanimous digits, number word predicted: only when the prediction is normalised
    assert VqaAccuracy("official-current")("two", ["2"] * 10) == 0.0
    assert VqaAccuracy("official-2017")("two", ["2"] * 10) == 1.0
    # unanimous number words, digit predicted: only when the answers are normalised too
    assert VqaAccuracy("official-2017")("2", ["two"] * 10) == 0.0
    assert VqaAccuracy("always")("2", ["two"] * 10) == 1.0


def test_unanimity_is_decided_after_stripping_only_in_official_current() -> None:
    answers = ["yes"] * 2 + ["yes "] * 8
    assert VqaAccuracy("official-current")("yes", answers) == 1.0  # stripped: unanimous
    # 2017: answers are never stripped; punctuation alone keeps "yes " -> 2 matches
    assert round(VqaAccuracy("official-2017")("yes", answers), 10) == 0.6


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (["cat"], 0.0),  # one answer: never any "other" answer to match
        (["cat"] * 3, 2 / 3),
        (["cat"] * 4, 1.0),
        (["cat", "cat", "dog", "dog", "dog"], 8 / 15),
        (["cat", "dog"] * 6, 1.0),
        (["cat"] + ["dog"] * 11, 11 / 36),
    ],
)
def test_number_of_answers_other_than_ten(answers: list[str], expected: float) -> None:
    for variant in VQA_VARIANTS:
        assert VqaAccuracy(variant)("cat", answers) == pytest.approx(expected, abs=1e-12)


def test_per_question_levels_for_ten_answers() -> None:
    scorer = VqaAccuracy("official-current")
    levels = [round(scorer("a1", ["a1"] * m + ["zz"] * (10 - m)), 10) for m in range(6)]
    assert levels == [0.0, 0.3, 0.6, 0.9, 1.0, 1.0]


def test_bad_inputs() -> None:
    with pytest.raises(UnknownNameError, match="official-current"):
        VqaAccuracy("lavis")
    with pytest.raises(BadInputError):
        VqaAccuracy("always")("yes", [])


# --- an independent, deliberately naive re-statement of the per-question loop -------------------


def _naive_clean(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def _naive_full(text: str) -> str:
    return process_digit_article(process_punctuation(_naive_clean(text)))


def _naive_accuracy(prediction: str, answers: list[str], variant: str) -> float:
    if variant == "official-current":
        gts = [_naive_clean(a) for a in answers]
        pred = _naive_clean(prediction)
        if len(set(gts)) > 1:
            gts = [_naive_full(a) for a in gts]
            pred = _naive_full(pred)
    elif variant == "official-2017":
        pred = _naive_full(prediction)
        gts = [process_punctuation(a) for a in answers] if len(set(answers)) > 1 else list(answers)
    elif variant == "always":
        gts = [_naive_full(a) for a in answers]
        pred = _naive_full(prediction)
    else:
        gts = [_naive_full(evalai_word_tokenize(a)) for a in answers]
        pred = _naive_full(evalai_word_tokenize(prediction))
    per_answer = []
    for i in range(len(gts)):
        others = [gts[j] for j in range(len(gts)) if j != i]
        matching = [o for o in others if o == pred]
        per_answer.append(min(1, float(len(matching)) / 3))
    return float(sum(per_answer)) / len(per_answer)


WORDS = ["yes", "no", "2", "two", "the dog", "dog", "a cat", "t-shirt", "t shirt", "1,000",
         "1000", "3.5", "dont know", "don't know", "man's hat", "red, white", "none",
         "0"]  # fmt: skip


def _noise(rng: random.Random, word: str) -> str:
    r = rng.random()
    if r < 0.1:
        return word.upper()
    if r < 0.2:
        return word + rng.choice([".", "!", "?", " ", "\n", "\t"])
    if r < 0.25:
        return " " + word.capitalize()
    if r < 0.3:
        return word.replace(" ", "-")
    return word


def _random_questions(seed: int, count: int) -> list[tuple[str, list[str]]]:
    """(prediction, answers) pairs over WORDS with surface noise, 1 to 12 answers each."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        n = rng.choice([1, 2, 3, 5, 10, 10, 10, 12])
        pool = rng.sample(WORDS, rng.randint(1, 4))
        answers = [_noise(rng, rng.choice(pool)) for _ in range(n)]
        pairs.append((_noise(rng, rng.choice([*pool, rng.choice(WORDS)])), answers))
    return pairs


@pytest.mark.parametrize("variant", VQA_VARIANTS)
def test_matches_naive_loop_on_random_questions(variant: str) -> None:
    scorer = VqaAccuracy(variant)
    for prediction, answers in _random_questions(1234, 3000):
        assert scorer(prediction, answers) == _naive_accuracy(prediction, answers, variant), (
            prediction,
            answers,
        )


@pytest.mark.parametrize("variant", VQA_VARIANTS)
def test_percents_equals_one_call_per_question(variant: str) -> None:
    """The batch loop `score` uses gives exactly 100 x the per-question value, and 100 x the
    naive re-statement, bit for bit; no prediction or no answers scores 0."""
    pairs: list[tuple[str | None, list[str] | tuple[str, ...]]] = [
        (p, tuple(a) if i % 2 else a) for i, (p, a) in enumerate(_random_questions(99, 3000))]
    pairs += [(None, ["yes"] * 10), ("yes", []), ("yes", ())]
    got = VqaAccuracy(variant).percents([p for p, _ in pairs], [a for _, a in pairs])
    scorer = VqaAccuracy(variant)
    per_call = [0.0 if p is None or not a else 100.0 * scorer(p, a) for p, a in pairs]
    naive = [0.0 if p is None or not a else 100.0 * _naive_accuracy(p, list(a), variant)
             for p, a in pairs]
    assert got == per_call
    assert got == naive
    assert got[-3:] == [0.0, 0.0, 0.0] and max(got) == 100.0


@pytest.mark.parametrize("variant", VQA_VARIANTS)
def test_percents_on_the_official_edge_cases(edge: dict[str, Any], variant: str) -> None:
    """On the official edge-case file (needs ../shared/conformance, skipped without it): the
    batch loop gives 100 x the per-question value and the official rounded per-question
    accuracy."""
    anns = {a["question_id"]: [x["answer"] for x in a["answers"]] for a in edge["annotations"]}
    results = edge["results"]
    got = VqaAccuracy(variant).percents([r["answer"] for r in results],
                                        [anns[r["question_id"]] for r in results])
    scorer = VqaAccuracy(variant)
    assert got == [100.0 * scorer(r["answer"], anns[r["question_id"]]) for r in results]
    expected = edge["expected"][variant]["perQuestion"]
    assert [round(g, 2) for g in got] == [expected[str(r["question_id"])]["acc"]
                                          for r in results]
