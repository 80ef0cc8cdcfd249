"""SEED-Bench image (dimensions 1-9): the official SEED-Bench.json, LLaVA-1.5's generation
convention (the stripped response must equal the answer letter, as
convert_seed_for_submission.py compares it) and accuracy per dimension."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import infmllm_eval
from infmllm_eval.data.seedbench import load_seedbench
from infmllm_eval.errors import BadInputError
from infmllm_eval.metrics.choice_rules import extract_exact_letter
from tests.conftest import CliResult
from tests.paper_fixtures import SEED_QUESTIONS, SEED_TYPES, make_seed, seed_question

ABCD = [("A", "red"), ("B", "green"), ("C", "blue"), ("D", "black")]


@pytest.mark.parametrize(("answer", "want"), [
    ("A", "A"), ("D\n", "D"), (" C ", "C"),  # LLaVA's answer files hold outputs.strip()
    ("A.", None), ("a", None), ("(A)", None), ("The answer is A", None), ("E", None),
    ("A red", None), ("", None),
])
def test_exact_letter_rule(answer: str, want: str | None) -> None:
    assert extract_exact_letter(answer, ABCD) == want


def files(folder: Path) -> dict[str, Path]:
    return {"questions": folder / "SEED-Bench.json", "images": folder / "SEED-Bench-image"}


def test_loader_reads_the_image_dimensions(tmp_path: Path) -> None:
    folder = make_seed(tmp_path)
    samples = load_seedbench(files(folder), {})
    assert [s.id for s in samples] == ["101669", "101670", "201", "901"]  # no video
    first = samples[0]
    assert first.image == str(folder / "SEED-Bench-image" / "1454426_2591111986.jpg")
    assert first.fields["options"] == ABCD and first.targets == "A"
    assert first.meta == {"category": "Scene Understanding",
                          "facets": ("scene_understanding",)}
    assert samples[2].meta["category"] == "Instances Counting"
    assert [s.id for s in load_seedbench(files(folder), {"dimensions": "5"})] == ["201"]


def write(tmp_path: Path, questions: list[dict[str, Any]]) -> dict[str, Path]:
    path = tmp_path / "SEED-Bench.json"
    path.write_text(json.dumps({"question_type": SEED_TYPES, "questions": questions}))
    return {"questions": path}


@pytest.mark.parametrize(("change", "message"), [
    ({"answer": "E"}, r"questions\[0\]: answer 'E' must be one of A, B, C, D"),
    ({"choice_c": None}, r"questions\[0\]: field 'choice_c' must be str"),
    ({"question_type_id": "1"}, "field 'question_type_id' must be int"),
    ({"data_type": "video"}, "dimension 1 question with data_type 'video'"),
    ({"question_type_id": 13}, r"questions\[0\]: question_type_id 13 is not a SEED-Bench v1 "
                               "dimension"),
])
def test_loader_errors_name_the_question(tmp_path: Path, change: dict[str, Any],
                                         message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        load_seedbench(write(tmp_path, [{**SEED_QUESTIONS[0], **change}]), {})


def test_loader_refuses_duplicates_and_empty_selection(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"SEED-Bench\.json: questions\[1\]: question_id "
                                            r"'101669' is also the id of questions\[0\]"):
        load_seedbench(write(tmp_path, [SEED_QUESTIONS[0], SEED_QUESTIONS[0]]), {})
    as_int = {**SEED_QUESTIONS[1], "question_id": 101669}  # one id to a predictions file
    with pytest.raises(BadInputError, match=r"questions\[2\]: question_id 101669 is also the "
                                            r"id of questions\[0\]"):
        load_seedbench(write(tmp_path, [SEED_QUESTIONS[0], SEED_QUESTIONS[4], as_int]), {})
    video_twice = [SEED_QUESTIONS[0], SEED_QUESTIONS[4], SEED_QUESTIONS[4]]
    with pytest.raises(BadInputError, match=r"questions\[2\]: question_id 'v1'"):
        load_seedbench(write(tmp_path, video_twice), {})  # also among other dimensions
    with pytest.raises(BadInputError, match="holds no questions of dimensions '1-9'"):
        load_seedbench(write(tmp_path, [seed_question("v", 11, "A", "v.mp4", "video")]), {})
    with pytest.raises(BadInputError, match="dimensions 'x': expected N or N-M"):
        load_seedbench(write(tmp_path, [SEED_QUESTIONS[0]]), {"dimensions": "x"})


def test_score_reads_the_official_upload_file(tmp_path: Path) -> None:
    """The upload format {question_id, prediction}: 101669 right, 101670 wrong ('B.' is not
    'B'), 201 right, 901 missing (wrong): overall 50, per dimension as the script prints."""
    make_seed(tmp_path)
    upload = tmp_path / "answers_upload.jsonl"
    upload.write_text("".join(json.dumps({"question_id": q, "prediction": p}) + "\n"
                              for q, p in (("101669", "A"), ("101670", "B."), ("201", "C"))))
    result = infmllm_eval.score("seedbench_img", upload, data_root=tmp_path)
    m = result.metrics
    assert m["accuracy"] == 50.0
    assert m["accuracy_scene_understanding"] == 50.0
    assert m["accuracy_instances_counting"] == 100.0
    assert m["accuracy_text_understanding"] == 0.0
    assert result.entry["breakdown"]["category"]["Scene Understanding"] == 50.0
    assert result.entry["n_missing"] == 1


def test_score_ignores_the_video_questions_of_a_full_result_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """LLaVA's SEED upload file answers every question of SEED-Bench.json, video ones
    (dimensions 10-12) too: those ids are ignored with a note; an id in no file is refused."""
    make_seed(tmp_path)
    upload = tmp_path / "answers_upload.jsonl"
    rows = (("101669", "A"), ("101670", "B"), ("201", "C"), ("901", "D"), ("v1", "A"))
    upload.write_text("".join(json.dumps({"question_id": q, "prediction": p}) + "\n"
                              for q, p in rows))
    result = infmllm_eval.score("seedbench_img", upload, data_root=tmp_path)
    assert result.metrics["accuracy"] == 100.0 and result.entry["n_missing"] == 0
    err = capsys.readouterr().err
    assert "1 prediction(s) for items of the benchmark that task seedbench_img does not " \
           "score" in err and "video questions of dimensions 10-12" in err
    upload.write_text(upload.read_text() + json.dumps({"question_id": "nowhere",
                                                       "prediction": "A"}) + "\n")
    with pytest.raises(BadInputError, match="1 id\\(s\\) are not in task seedbench_img "
                                            "\\(first: 'nowhere' at line 6\\)"):
        infmllm_eval.score("seedbench_img", upload, data_root=tmp_path)


def test_likelihood_variant_end_to_end(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """seedbench_img_likelihood: SEED-Bench's official rule (eval.py: lowest loss among the
    four choices; its interface scores each choice's text, loss summed over the tokens) with
    the tiny model on the generated SEED-Bench.json: every option text scored, the best
    summed log-probability is the prediction, the run resumes and `score` agrees."""
    from infmllm_eval.catalog import resolve_task
    from infmllm_eval.taskspec import build_task, load_samples

    root = tmp_path / "data"
    make_seed(root)
    spec = build_task(resolve_task("seedbench_img_likelihood"), root)
    first = load_samples(spec)[0]
    assert spec.family.continuations(first, spec.options) == ("red", "green", "blue", "black")
    args = ["run", "--model", "infmllm-tiny", "--tasks", "seedbench_img_likelihood",
            "--data-root", str(root), "--output-dir", str(tmp_path / "runs"), "--run-name", "l"]
    res = cli(*args)
    assert res.code == 0, res.err
    run_dir = tmp_path / "runs" / "l"
    entry = json.loads((run_dir / "metrics.json").read_text())["tasks"][
        "seedbench_img_likelihood"]
    assert {"inferencer": "likelihood", "scored_text": "text"}.items() <= \
        entry["variant"].items()  # the variant names how the number was made
    assert entry["breakdown"]["inference"]["ranking"] == "sum"
    assert {"accuracy", "ece", "brier", "accuracy_scene_understanding"} <= set(entry["metrics"])
    assert entry["breakdown"]["counts"]["likelihood"] == 4
    journal = run_dir / "predictions" / "seedbench_img_likelihood.jsonl"
    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    texts = ("red", "green", "blue", "black")
    for row in rows:  # the prediction is the option text of the highest summed log-prob
        assert len(row["logprobs"]) == 4
        assert row["prediction"] == texts[row["logprobs"].index(max(row["logprobs"]))]
    right = sum(texts.index(r["prediction"]) == "ABCD".index(q["answer"])
                for r, q in zip(rows, SEED_QUESTIONS[:4], strict=True))
    assert entry["metrics"]["accuracy"] == 100.0 * right / 4
    before = journal.read_bytes()
    res = cli(*args)
    assert res.code == 0, res.err
    assert journal.read_bytes() == before
    again = infmllm_eval.score("seedbench_img_likelihood", journal, data_root=root)
    assert again.metrics == entry["metrics"]
    with pytest.raises(BadInputError, match="carry no per-option scores"):
        infmllm_eval.score("seedbench_img_likelihood", {"101669": "A"}, data_root=root)


@pytest.mark.parametrize("spec", ["1-999999999", "0-9", "9-1", "x", "13"])
def test_a_dimension_range_outside_seed_bench_is_refused(tmp_path: Path, spec: str) -> None:
    with pytest.raises(BadInputError, match="expected N or N-M within 1-12"):
        load_seedbench(write(tmp_path, [SEED_QUESTIONS[0]]), {"dimensions": spec})


def test_dimension_names_are_the_papers_whatever_the_file_says(tmp_path: Path) -> None:
    path = write(tmp_path, [SEED_QUESTIONS[0]])["questions"]
    doc = json.loads(path.read_text())
    doc["question_type"] = {"Totally Wrong": 1}
    path.write_text(json.dumps(doc))
    (sample,) = load_seedbench({"questions": path}, {})
    assert sample.meta["category"] == "Scene Understanding"
