"""ScienceQA-IMG: LLaVA's eval_science_qa.py answer rule (every branch), the IMG subset of
the official problems.json/pid_splits.json, and evaluate_acc.py's breakdowns."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import infmllm_eval
from infmllm_eval.errors import BadInputError
from infmllm_eval.families.multiple_choice import EXTRACTORS
from infmllm_eval.metrics.choice_rules import extract_llava_sqa
from tests.conftest import CliResult
from tests.paper_fixtures import SQA_PROBLEMS, make_scienceqa

FOUR = [("A", "w"), ("B", "x"), ("C", "y"), ("D", "z")]


@pytest.mark.parametrize(("answer", "want"), [
    ("B", "B"),                        # a bare letter
    ("E", None),                       # a bare letter past the options: index -1
    ("b", None),                       # not one of A-E (case kept)
    (" B\n", "B"),                     # LLaVA's answer file holds outputs.strip()
    ("B\nC", None),                     # nothing else is removed
    ("C. y", "C"),                     # an "X. " prefix
    ("C.y", None),                     # prefix needs ". "
    ("E. e", None),                    # prefix letter past the options
    ("F. f", None),                    # F is not a prefix letter; no "The answer is"
    ("The answer is D.", "D"),          # exactly one statement
    ("I think The answer is A, yes", "A"),  # the '.' of the pattern is any character
    ("The answer is A", None),         # a letter at the very end: the pattern needs one more
    ("The answer is A. The answer is B.", None),  # two statements: FAILED
    ("The answer is Z.", None),        # a letter past the options
    ("the answer is A.", None),        # case kept
    ("Option A", None),                # anything else is FAILED, never a random letter
    ("", None),
])
def test_llava_sqa_rule(answer: str, want: str | None) -> None:
    assert extract_llava_sqa(answer, FOUR) == want
    assert EXTRACTORS.get("llava_sqa") is extract_llava_sqa


def test_loader_keeps_the_test_problems_with_an_image(tmp_path: Path) -> None:
    from infmllm_eval.data.scienceqa import load_scienceqa

    folder = make_scienceqa(tmp_path)
    files = {"problems": folder / "problems.json", "pid_splits": folder / "pid_splits.json",
             "images": folder / "images"}
    samples = load_scienceqa(files, {"split": "test"})
    assert [s.id for s in samples] == ["1", "2", "4"]  # 3 has no image, 5 is train
    first = samples[0]
    assert first.image == str(folder / "images" / "test" / "1" / "image.png")
    # LLaVA-1.5's CQM-A prompt: a non-empty hint reads "Context: <hint>"
    assert first.fields == {"question": "Which is a mammal?", "hint": "Context: Look closely.",
                            "options": [("A", "cat"), ("B", "trout")]}
    assert samples[1].fields["hint"] == ""  # an empty hint adds nothing
    assert first.targets == "A"
    assert first.meta["facets"] == ("natural", "has_text", "has_image", "grade_1_6")
    assert samples[1].meta["facets"] == ("social", "has_image", "grade_7_12")
    every = load_scienceqa(files, {"split": "test", "with_image": False})
    assert [s.id for s in every] == ["1", "2", "3", "4"]
    assert every[2].meta["facets"] == ("language", "no_context", "grade_1_6")


def _write(tmp_path: Path, problems: dict[str, object], test: list[str]) -> dict[str, Path]:
    (tmp_path / "p.json").write_text(json.dumps(problems))
    (tmp_path / "s.json").write_text(json.dumps({"test": test}))
    return {"problems": tmp_path / "p.json", "pid_splits": tmp_path / "s.json"}


@pytest.mark.parametrize(("change", "message"), [
    ({"answer": 2}, "problem '1': answer index 2 is not one of the 2 choices"),
    ({"choices": ["a", "b", "c", "d", "e", "f"]}, "field 'choices' must be 2 to 5 strings"),
    ({"answer": "A"}, "problem '1': field 'answer' must be int"),
    ({"question": None}, "field 'question' must be str"),
    ({"subject": "astrology"}, "problem '1': subject 'astrology' is not one of ScienceQA's "
                               r"\(natural science, social science, language science\)"),
    ({"grade": "grade13"}, "problem '1': grade 'grade13' is not one of ScienceQA's"),
    ({"grade": 3}, "problem '1': field 'grade' must be str"),
    ({"topic": ["physics"]}, "problem '1': fields 'category' and 'topic' must be strings"),
])
def test_loader_errors_name_file_and_problem(tmp_path: Path, change: dict[str, object],
                                             message: str) -> None:
    from infmllm_eval.data.scienceqa import load_scienceqa

    problems = {"1": {**SQA_PROBLEMS["1"], **change}}
    with pytest.raises(BadInputError, match=message):
        load_scienceqa(_write(tmp_path, problems, ["1"]), {})


@pytest.mark.parametrize("problem", [["not", "an", "object"], "text", None, 7])
def test_a_problem_that_is_not_an_object_is_refused(tmp_path: Path, problem: object) -> None:
    """Never skipped silently (before, with_image dropped it as a problem without image)."""
    from infmllm_eval.data.scienceqa import load_scienceqa

    files = _write(tmp_path, {"1": SQA_PROBLEMS["1"], "2": problem}, ["1", "2"])
    for with_image in (True, False):
        with pytest.raises(BadInputError, match=r"p\.json: problem '2': expected an object, "
                                                f"got {type(problem).__name__}$"):
            load_scienceqa(files, {"with_image": with_image})


def test_loader_errors_on_splits(tmp_path: Path) -> None:
    from infmllm_eval.data.scienceqa import load_scienceqa

    files = _write(tmp_path, {"1": SQA_PROBLEMS["1"]}, ["1", "9"])
    with pytest.raises(BadInputError, match="problem '9' of split 'test' is not in"):
        load_scienceqa(files, {})
    with pytest.raises(BadInputError, match="no split 'val'"):
        load_scienceqa(files, {"split": "val"})
    files = _write(tmp_path, {"3": SQA_PROBLEMS["3"]}, ["3"])
    with pytest.raises(BadInputError, match="holds no problems with an image"):
        load_scienceqa(files, {})


def test_score_breakdowns_as_evaluate_acc(tmp_path: Path) -> None:
    """Problem 1 (natural, hint, grade3) right by prefix; 2 (social, grade8) wrong letter;
    4 (natural, hint, grade11) right by 'The answer is B.'. Percentages as evaluate_acc.py:
    % right within each subset; subsets without problems are left out (it prints -1)."""
    make_scienceqa(tmp_path)
    answers = tmp_path / "merged.jsonl"  # LLaVA's answer file: question_id, prompt, text
    answers.write_text("".join(json.dumps({"question_id": q, "prompt": "<image>\n...",
                                           "text": t}) + "\n" for q, t in (
        ("1", "A. cat"), ("2", "B"), ("4", "The answer is B."))))
    result = infmllm_eval.score("scienceqa_img_test", answers, data_root=tmp_path)
    m = result.metrics
    assert m["accuracy"] == pytest.approx(200 / 3)
    assert (m["accuracy_natural"], m["accuracy_social"]) == (100.0, 0.0)
    assert (m["accuracy_has_text"], m["accuracy_has_image"]) == (100.0, pytest.approx(200 / 3))
    assert (m["accuracy_grade_1_6"], m["accuracy_grade_7_12"]) == (100.0, 50.0)
    assert "accuracy_language" not in m and "accuracy_no_context" not in m


def test_unresolved_answers_are_wrong_and_counted(tmp_path: Path) -> None:
    make_scienceqa(tmp_path)
    result = infmllm_eval.score("scienceqa_img_test",
                                {"1": "cat", "2": "The answer is C.", "4": "F"},
                                data_root=tmp_path)
    assert result.metrics["accuracy"] == pytest.approx(100 / 3)  # only problem 2
    assert result.entry["parse_failures"] == 2


def test_data_check_names_a_missing_image_by_its_folder(
        cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """Every ScienceQA image is image.png: the row names it under the images folder."""
    folder = make_scienceqa(tmp_path)
    (folder / "images" / "test" / "2" / "image.png").unlink()
    res = cli("data", "check", "--tasks", "scienceqa_img_test", "--data-root", str(tmp_path))
    assert res.code == 2
    assert ("1 image file(s) missing or not regular files (2 of 3 present): test/2/image.png"
            in " ".join(res.out.split()))
    res = cli("data", "check", "--tasks", "scienceqa_img_test", "--data-root", str(tmp_path),
              "--json")
    assert json.loads(res.out)[0]["missing_images"] == [
        str(folder / "images" / "test" / "2" / "image.png")]  # --json: full paths


def test_with_image_must_be_a_boolean_and_topics_are_the_coarser_level(tmp_path: Path) -> None:
    from infmllm_eval.data.scienceqa import load_scienceqa

    files = _write(tmp_path, {"1": {**SQA_PROBLEMS["1"], "category": "Velocity",
                                    "topic": "physics"}}, ["1"])
    with pytest.raises(BadInputError, match=r"loader_args\.with_image 'false': expected true"):
        load_scienceqa(files, {"with_image": "false"})
    (sample,) = load_scienceqa(files, {"with_image": False})
    assert sample.meta["category"] == "Velocity" and sample.meta["l2-category"] == "physics"
