"""Scores that were silently wrong or crashed (issue 23, classes 5, 13 and 16).

MME is checked against an independent re-implementation of the official eval_tool rule
(calculation.py: each result line read with ``readlines()``, split on tabs, the response
lower-cased and nothing else, exactly "yes"/"no" or else its first four characters decide;
acc and acc+ per subtask). The re-implementation below is written from that rule, not from
the project's scorer, and is run on a mutated copy of the LaVIN result set.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from infmllm_eval.catalog import resolve_task
from infmllm_eval.data.mmbench import load_mmbench
from infmllm_eval.errors import BadInputError
from infmllm_eval.families.yes_no import YES_NO
from infmllm_eval.metrics.mme import COGNITION, PERCEPTION, yes_no_label
from infmllm_eval.scoring import check_samples
from infmllm_eval.taskspec import TaskSpec, build_task
from infmllm_eval.types import Sample
from tests.bad_inputs.gen_scores import scores_mmbench
from tests.conftest import CliResult

Cli = Callable[..., CliResult]


# --- the official rule, re-implemented from calculation.py ------------------------------

def official_label(pred_ans: str) -> str:
    """calculation.py's parse_pred_ans after its ``pred_ans.lower()``."""
    pred_ans = pred_ans.lower()
    if pred_ans in ["yes", "no"]:
        return pred_ans
    prefix = pred_ans[:4]
    if "yes" in prefix:
        return "yes"
    if "no" in prefix:
        return "no"
    return "other"


def official_totals(results_dir: Path) -> dict[str, float]:
    """Perception and Cognition as calculation.py's process_result computes them."""
    totals = {}
    for name, tasks in (("perception", PERCEPTION), ("cognition", COGNITION)):
        total = 0.0
        for task in tasks:
            with open(results_dir / f"{task}.txt", encoding="utf-8") as handle:
                lines = handle.readlines()  # each line keeps its "\n", as in calculation.py
            chunks = [lines[i:i + 2] for i in range(0, len(lines), 2)]
            right = questions = both = 0
            for chunk in chunks:
                assert len(chunk) == 2
                correct = 0
                for line in chunk:
                    _, _, gt_ans, pred_ans = line.split("\t")
                    gt = gt_ans.lower()
                    assert gt in ("yes", "no")
                    questions += 1
                    if official_label(pred_ans) == gt:
                        correct += 1
                        right += 1
                both += correct == 2
            total += right / questions * 100 + both / len(chunks) * 100
        totals[name] = total
    return totals


MUTATIONS: list[Callable[[str], str]] = [
    lambda r: "   " + r,             # leading spaces: the first four characters change
    lambda r: " " + r,
    lambda r: "  " + r.capitalize(),
    lambda _: "Nope",
    lambda _: "yess",
    lambda _: "No, there is",
    lambda _: "Yes, there is",
    lambda _: "I think yes",
    lambda _: "  no",
    lambda _: "   no",
    lambda _: "n o",
    lambda _: "",
    lambda _: "NO.",
    lambda _: "Yes ",
    lambda _: "none of them",
    lambda r: r.upper(),
]


def mutate_results(source: Path, target: Path, seed: int = 23) -> int:
    """Copy the result set, rewriting about half of the responses; returns how many."""
    rng = random.Random(seed)
    target.mkdir()
    changed = 0
    for path in sorted(source.glob("*.txt")):
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            image, question, answer, response = line.split("\t")
            if rng.random() < 0.5:
                response = rng.choice(MUTATIONS)(response)
                changed += 1
            out.append("\t".join((image, question, answer, response)))
        (target / path.name).write_text("\n".join(out) + "\n", encoding="utf-8")
    return changed


def test_mutated_lavin_results_score_as_the_official_tool(cli: Cli, conformance: Path,
                                                          tmp_path: Path) -> None:
    mutated = tmp_path / "mutated"
    changed = mutate_results(conformance / "mme_lavin", mutated)
    assert 1000 < changed < 1400  # about half of the 2,374 responses
    expected = official_totals(mutated)
    out = tmp_path / "mme.json"
    res = cli("score", "--task", "mme", "--file", f"root={mutated}", "--predictions",
              str(mutated), "--output", str(out))
    assert res.code == 0, res.err
    got = json.loads(out.read_text())["metrics"]
    assert got["perception"] == pytest.approx(expected["perception"], abs=1e-9)
    assert got["cognition"] == pytest.approx(expected["cognition"], abs=1e-9)
    # the mutations matter: stripping first (the old scorer) would give other totals
    stripped = official_totals_stripped(mutated, tmp_path / "stripped")
    assert abs(stripped["perception"] - expected["perception"]) > 1.0


def official_totals_stripped(source: Path, target: Path) -> dict[str, float]:
    """The totals when every response is stripped first (what the project used to do)."""
    target.mkdir()
    for path in source.glob("*.txt"):
        lines = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
        (target / path.name).write_text(
            "".join("\t".join((*parts[:3], parts[3].strip())) + "\n" for parts in lines),
            encoding="utf-8")
    return official_totals(target)


def test_unmutated_lavin_results_still_match(conformance: Path) -> None:
    totals = official_totals(conformance / "mme_lavin")
    expected = json.loads((conformance / "mme_lavin" / "expected_scores.json").read_text())
    assert totals["perception"] == pytest.approx(expected["Perception_total"], abs=1e-9)
    assert totals["cognition"] == pytest.approx(expected["Cognition_total"], abs=1e-9)


@pytest.mark.parametrize("response", [
    "   yes", "  yes", " yes", "yes", "Yes ", "\nyes", "  no", " no", "   no", "Nope", "yess",
    "noo", "No, there is", "n o", "", " ", "YES", "Not sure", "I think yes", "y e s", "nyes",
    "\u00a0yes", "ＹＥＳ", "İyes",
])
def test_label_is_the_official_one_on_raw_text(response: str) -> None:
    assert yes_no_label(response) == official_label(response)


def test_leading_spaces_are_not_stripped() -> None:
    assert yes_no_label("   yes") == "other"  # "   y"
    assert yes_no_label("  Yes  ") == "other"  # "  ye"
    assert yes_no_label(" yes") == "yes"  # " yes"


@pytest.mark.parametrize("response", [
    "   yes", "yes\tno", "no\nyes", "\tyes", "x  no", "a\r\nyes", "  no  ", "yes, \t there is",
])
def test_submission_lines_give_the_official_tool_the_same_label(response: str) -> None:
    sample = Sample("color/0001#0", None, {"question": "Is it red?"}, "Yes",
                    {"subtask": "color", "image": "0001", "image_file": "0001.jpg"})
    (line,) = YES_NO.submission([sample], {sample.key: response}, {})["color"]
    fields = (line + "\n").split("\t")
    assert len(fields) == 4 and "\n" not in line and "\r" not in line
    assert official_label(fields[3]) == yes_no_label(response)


# --- answers: test splits and partly answered files ---------------------------------

def _spec(task: str, key: str, path: Path, submission_only: bool = False) -> TaskSpec:
    spec = build_task(resolve_task(task), path.parent, {key: str(path)}, {})
    card = dataclasses.replace(spec.card, submission_only=submission_only)
    return dataclasses.replace(spec, card=card)


def test_a_test_split_is_refused_unless_the_card_is_submission_only(tmp_path: Path) -> None:
    from infmllm_eval.taskspec import load_samples

    path = tmp_path / "testdev_balanced_questions.json"
    path.write_text(json.dumps({"1": {"imageId": "n1", "question": "Is it?"}}))
    spec = _spec("gqa_testdev_balanced", "questions", path)
    samples = load_samples(spec, images=False)
    with pytest.raises(BadInputError, match=r"has no answers \(a test split\?\)"):
        check_samples(spec, samples)
    check_samples(_spec("gqa_testdev_balanced", "questions", path, True),
                  samples)


def test_submission_only_textvqa_card_writes_the_submission(cli: Cli, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            ) -> None:
    cards = tmp_path / "cards" / "tasks"
    cards.mkdir(parents=True)
    (cards / "textvqa_test_mine.yaml").write_text(
        "name: textvqa_test_mine\ndescription: TextVQA test (no answers)\nfamily: vqa\n"
        "loader: textvqa\nsplit: test\nsize: 1\nprimary_metric: accuracy\n"
        "submission_only: true\nfiles:\n  annotations: TextVQA_0.5.1_test.json\n"
        "options:\n  normalization: evalai\n")
    monkeypatch.setenv("INFMLLM_EVAL_CARD_PATH", str(tmp_path / "cards"))
    data = tmp_path / "TextVQA_0.5.1_test.json"
    data.write_text(json.dumps({"data": [{"question_id": 5, "image_id": "a",
                                          "question": "what brand?"}]}))
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": 5, "prediction": "Nokia"}\n')
    res = cli("score", "--task", "textvqa_test_mine", "--file", f"annotations={data}",
              "--predictions", str(preds), "--output", str(tmp_path / "sub.json"))
    assert res.code == 0, res.err
    assert json.loads((tmp_path / "sub.json").read_text()) == [
        {"question_id": 5, "answer": "Nokia"}]


# --- MMBench CircularEval copies --------------------------------------------------------

def test_consistent_copies_load_and_an_always_a_model_scores_zero(tmp_path: Path) -> None:
    from infmllm_eval.families.multiple_choice import MULTIPLE_CHOICE

    tsv = tmp_path / "mmbench.tsv"
    scores_mmbench(str(tsv), "valid")
    samples = load_mmbench({"tsv": tsv}, {})
    assert len(samples) == 6 and {s.meta["pass"] for s in samples} == {0, 1, 2, 3}
    result = MULTIPLE_CHOICE.score(samples, {s.key: "A" for s in samples}, {"judge": "none"})
    assert result.metrics["circular_accuracy"] == 0.0


@pytest.mark.parametrize(("kind", "message"), [
    ("other_answer", "row index 1000000: answer B"),
    ("other_question", "row index 2000000: its question differs"),
    ("other_options", "row index 1000000: its options are not those"),
    ("no_base", "row index 1000005: a CircularEval copy (pass 1) without its base row 5"),
    ("pass_beyond", "row index 2000001: pass 2 of question 1"),
    ("some_questions", "row index 1: the file carries CircularEval copies"),
    ("missing_pass", "missing: row index 3000000"),
])
def test_inconsistent_copies_are_refused(tmp_path: Path, kind: str, message: str) -> None:
    tsv = tmp_path / "mmbench.tsv"
    scores_mmbench(str(tsv), kind)
    with pytest.raises(BadInputError) as info:
        load_mmbench({"tsv": tsv}, {})
    assert message in str(info.value) and str(tsv) in str(info.value)


def test_mmbench_row_without_answer_among_answered_rows(tmp_path: Path) -> None:
    tsv = tmp_path / "mmbench.tsv"
    scores_mmbench(str(tsv), "valid")
    lines = tsv.read_text().splitlines()
    cells = lines[2].split("\t")
    cells[7] = "nan"
    lines[2] = "\t".join(cells)
    tsv.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInputError, match=f"row index {cells[0]}: no answer while other"):
        load_mmbench({"tsv": tsv}, {})


def test_generated_passes_still_work_without_copies(tmp_path: Path) -> None:
    tsv = tmp_path / "mmbench.tsv"
    scores_mmbench(str(tsv), "valid")
    lines = [ln for ln in tsv.read_text().splitlines() if int(ln.split("\t")[0] if
             ln[0].isdigit() else 0) < 1_000_000]
    lines[2] = lines[2].rsplit("\t", 1)[0] + "\t" + lines[1].rsplit("\t", 1)[1]  # own image
    tsv.write_text("\n".join(lines) + "\n")
    samples = load_mmbench({"tsv": tsv}, {})
    assert len(samples) == 6  # 4 + 2 passes generated


# --- MME release folder --------------------------------------------------------------

def test_two_images_of_one_stem_are_refused_naming_both(tmp_path: Path) -> None:
    from infmllm_eval.data.mme import load_mme
    from tests.bad_inputs.gen_scores import scores_mme_release

    root = tmp_path / "MME_Benchmark"
    scores_mme_release(str(root))
    with pytest.raises(BadInputError) as info:
        load_mme({"root": root}, {"subtasks": "existence"})
    assert "0001.jpg and 0001.png" in str(info.value)
    (root / "existence" / "0001.png").unlink()
    assert len(load_mme({"root": root}, {"subtasks": "existence"})) == 2


# --- captions ------------------------------------------------------------------------

def test_caption_set_without_reference_words_is_refused_before_pycocoevalcap() -> None:
    from infmllm_eval.metrics.caption import compute_caption_metrics

    with pytest.raises(BadInputError, match="no reference caption of the 2 image"):
        compute_caption_metrics({"a": [""], "b": ["", ""]}, {"a": ["x"], "b": ["y"]},
                                metrics=("CIDEr",))
    # one image without words among others: pycocoevalcap scores it, and so do we
    scores = compute_caption_metrics({"a": [""], "b": ["a red box"], "c": ["a cat"]},
                                     {"a": ["a red box"], "b": ["a red box"],
                                      "c": ["a dog"]}, metrics=("CIDEr",))
    assert scores.per_image["CIDEr"][0] == 0.0 and scores.per_image["CIDEr"][1] > 0.0


@pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer needs Java")
def test_tokenizer_survives_a_lone_surrogate() -> None:
    from infmllm_eval.metrics.caption import tokenize

    assert tokenize(["a \ud800 cat", "a dog."]) == ["a cat", "a dog"]


@pytest.mark.parametrize(("cell", "index"), [
    ("12.0", 12), ("7", 7), ("999999", 999_999), ("0012", 12), ("5e2", 500),
])
def test_mmbench_index_is_exact(tmp_path: Path, cell: str, index: int) -> None:
    tsv = tmp_path / "mmbench.tsv"
    scores_mmbench(str(tsv), "valid")
    lines = [ln for ln in tsv.read_text().splitlines()
             if not ln[0].isdigit() or int(ln.split("\t")[0]) < 1_000_000]
    cells = lines[1].split("\t")
    cells[0] = cell
    tsv.write_text("\n".join([lines[0], "\t".join(cells)]) + "\n")
    assert load_mmbench({"tsv": tsv}, {"generate_passes": "false"})[0].id == index


@pytest.mark.parametrize("cell", ["9007199254740993.0", "1e300", "-1", "1.5", "nan", "inf"])
def test_mmbench_index_that_is_no_exact_integer_is_refused(tmp_path: Path, cell: str) -> None:
    tsv = tmp_path / "mmbench.tsv"
    scores_mmbench(str(tsv), "valid")
    lines = tsv.read_text().splitlines()[:2]
    cells = lines[1].split("\t")
    cells[0] = cell
    tsv.write_text("\n".join([lines[0], "\t".join(cells)]) + "\n")
    with pytest.raises(BadInputError, match="'index' must be a non-negative integer"):
        load_mmbench({"tsv": tsv}, {})
