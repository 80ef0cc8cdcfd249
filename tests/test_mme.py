"""MME: the official yes/no rule, acc/acc+/score per subtask, totals, both release layouts,
the official result folder, and bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from infmllm_eval.data.mme import load_mme
from infmllm_eval.errors import BadInputError
from infmllm_eval.families.yes_no import YES_NO
from infmllm_eval.metrics.mme import COGNITION, PERCEPTION, SUBTASKS, score_subtask, yes_no_label
from tests.conftest import CliResult

Cli = Callable[..., CliResult]
SPLIT_SUBTASKS = ("artwork", "celebrity", "landmark", "posters", "scene")


def test_score_reproduces_the_official_scores(cli: Cli, conformance: Path,
                                              tmp_path: Path) -> None:
    folder = conformance / "mme_lavin"
    out = tmp_path / "mme.json"
    res = cli("score", "--task", "mme", "--file", f"root={folder}", "--predictions",
              str(folder), "--output", str(out))
    assert res.code == 0, res.err
    got = json.loads(out.read_text())
    expected = json.loads((folder / "expected_scores.json").read_text())
    for name in SUBTASKS:
        mine, official = got["breakdown"]["subtasks"][name], expected[name]
        assert mine.keys() == official.keys()
        for key, value in official.items():
            assert mine[key] == pytest.approx(value, abs=1e-9), (name, key)
    assert round(got["metrics"]["perception"], 2) == 963.61
    assert round(got["metrics"]["cognition"], 2) == 249.64
    assert got["metrics"]["perception"] == pytest.approx(expected["Perception_total"], abs=1e-9)
    assert got["metrics"]["cognition"] == pytest.approx(expected["Cognition_total"], abs=1e-9)
    assert got["primary_metric"] == "perception" and got["n_samples"] == 2374
    assert got["parse_failures"] == sum(expected[n]["other_num"] for n in SUBTASKS) == 12
    assert got["ci95"]["perception"] is None  # a sum has no mean to bootstrap
    first = got["per_sample"][0]
    assert first["id"] == "existence/000000006040#0" and first["label"] == "yes"


@pytest.mark.parametrize(("response", "label"), [
    ("Yes", "yes"), ("no", "no"), ("NO.", "no"), ("yes, there is a train", "yes"),
    ("No, there is no bed", "no"), ("  Yes  ", "other"),  # nothing stripped: "  ye"
    ("none of them", "no"),          # "no" within the first four characters
    ("nothing", "no"),
    ("I think yes", "other"),        # the official rule only looks at the first 4 chars
    ("the answer is no", "other"), ("based on the image, no", "other"), ("", "other"),
    ("Yesterday", "yes"), ("Not sure", "no"),
])
def test_yes_no_rule(response: str, label: str) -> None:
    assert yes_no_label(response) == label


def test_acc_plus_needs_both_questions_of_an_image() -> None:
    s = score_subtask([("a", True, False), ("a", True, False), ("b", True, False),
                       ("b", False, True)])
    assert (s.n_images, s.n_questions, s.other_num) == (2, 4, 1)
    assert (s.acc, s.acc_plus, s.score) == (75.0, 50.0, 125.0)


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (200, 10, 10)).save(path)


def make_release(root: Path) -> Path:
    """A two-image MME_Benchmark folder per subtask, SPLIT layout where the release uses it."""
    for subtask in SUBTASKS:
        folder = root / subtask
        qa, images = ((folder / "questions_answers_YN", folder / "images")
                      if subtask in SPLIT_SUBTASKS else (folder, folder))
        qa.mkdir(parents=True, exist_ok=True)
        for n, ext in (("0001", ".jpg"), ("0002", ".png")):
            _image(images / f"{n}{ext}")
            (qa / f"{n}.txt").write_text(
                f"Is it {n}? Please answer yes or no.\tYes\n"
                f"Is it not {n}? Please answer yes or no.\tNo \n\n")
    return root


def test_release_loader_reads_both_layouts(tmp_path: Path) -> None:
    root = make_release(tmp_path / "MME_Benchmark")
    samples = load_mme({"root": root}, {})
    assert len(samples) == 14 * 4
    by_id = {s.key: s for s in samples}
    flat, split = by_id["existence/0002#1"], by_id["artwork/0001#0"]
    assert flat.image == str(root / "existence" / "0002.png")
    assert split.image == str(root / "artwork" / "images" / "0001.jpg")
    assert flat.targets == "No" and split.targets == "Yes"
    assert flat.fields == {"question": "Is it not 0002? Please answer yes or no."}
    assert flat.meta == {"subtask": "existence", "image": "0002", "image_file": "0002.png",
                         "category": "perception"}
    assert by_id["code_reasoning/0001#0"].meta["category"] == "cognition"
    # both questions of an image share one image reference: the engine encodes it once
    assert by_id["scene/0001#0"].image == by_id["scene/0001#1"].image
    assert YES_NO.request_fields(flat) == {"question": flat.fields["question"]}


def test_jsonl_predictions_scored_against_the_release(cli: Cli, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # score writes into the current folder
    root = make_release(tmp_path / "MME_Benchmark")
    rows = []
    for subtask in SUBTASKS:
        rows += [{"id": f"{subtask}/0001#0", "prediction": "Yes"},
                 {"id": f"{subtask}/0001#1", "prediction": "No, it is not."},
                 {"id": f"{subtask}/0002#0", "prediction": "Sorry, I cannot tell."},
                 {"id": f"{subtask}/0002#1", "prediction": "no"}]
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = cli("score", "--task", "mme", "--file", f"root={root}", "--predictions", str(preds))
    assert res.code == 0, res.err
    got = json.loads((tmp_path / "p.metrics.json").read_text())
    sub = got["breakdown"]["subtasks"]["OCR"]
    assert sub == {"n_images": 2, "n_questions": 4, "acc": 75.0, "acc_plus": 50.0,
                   "score": 125.0, "other_num": 1}
    assert got["metrics"]["perception"] == 125.0 * len(PERCEPTION)
    assert got["metrics"]["cognition"] == 125.0 * len(COGNITION)
    assert got["parse_failures"] == 14


def test_result_folder_and_release_give_the_same_ids(tmp_path: Path) -> None:
    root = make_release(tmp_path / "MME_Benchmark")
    results = tmp_path / "results"
    results.mkdir()
    folder = YES_NO.submission(load_mme({"root": root}, {}), {}, {})
    for subtask, lines in folder.items():
        (results / f"{subtask}.txt").write_text("".join(f"{line}yes\n" for line in lines))
    from_results = load_mme({"root": results}, {})
    assert [s.key for s in from_results] == [s.key for s in load_mme({"root": root}, {})]
    assert all(s.image is None for s in from_results)
    assert set(YES_NO.read_result_folder(results).values()) == {"yes"}


def _results(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "res"
    folder.mkdir(exist_ok=True)
    (folder / "OCR.txt").write_text(text)
    return folder


@pytest.mark.parametrize(("text", "message"), [
    ("0001.jpg\tIs it?\tYes\n", "expected image<TAB>question<TAB>answer<TAB>response"),
    ("0001.jpg\tIs it?\tMaybe\tyes\n", "line 1: the answer must be Yes or No"),
    # calculation.py unpacks exactly four columns: a tab inside the response is unreadable
    ("0001.jpg\tIs it?\tYes\tyes\tno\n", "line 1: more than four tab-separated columns"),
])
def test_bad_result_folder(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        YES_NO.read_result_folder(_results(tmp_path, text))


def test_result_folder_needs_two_lines_per_image(tmp_path: Path) -> None:
    folder = _results(tmp_path, "0001.jpg\tIs it?\tYes\n")
    with pytest.raises(BadInputError, match="image '0001' has 1 line"):
        load_mme({"root": folder}, {})


def test_folder_without_result_files(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    res = cli("score", "--task", "mme", "--file", f"root={empty}", "--predictions", str(empty))
    assert res.code == 2
    assert "no MME result file" in res.err and "Traceback" not in res.err


@pytest.mark.parametrize(("damage", "message"), [
    (lambda r: (r / "existence" / "0001.txt").write_text("Is it?\tYes\n"),
     "expected two question lines, found 1"),
    (lambda r: (r / "existence" / "0001.txt").write_text("Is it?\tYes\nIs it not?\tPerhaps\n"),
     "line 2: the answer must be Yes or No"),
    (lambda r: (r / "count" / "0001.txt").write_text("Is it? Yes\nIs it not?\tNo\n"),
     "line 1: expected question<TAB>answer"),
    (lambda r: (r / "scene" / "images" / "0002.png").unlink(), "no image 0002.* in"),
    (lambda r: (r / "OCR" / "0001.txt").write_bytes(b"\xff\xfe\tYes\nx\tNo\n"),
     "not UTF-8 text"),
])
def test_bad_release_folder(tmp_path: Path, damage: Callable[[Path], object],
                            message: str) -> None:
    root = make_release(tmp_path / "MME_Benchmark")
    damage(root)
    with pytest.raises(BadInputError, match=message):
        load_mme({"root": root}, {})


def test_missing_subtask_folder(tmp_path: Path) -> None:
    root = make_release(tmp_path / "MME_Benchmark")
    for path in sorted((root / "OCR").iterdir()):
        path.unlink()
    (root / "OCR").rmdir()
    with pytest.raises(BadInputError, match="subtask folder 'OCR' not found"):
        load_mme({"root": root}, {})


def test_unknown_prediction_id_is_refused(cli: Cli, tmp_path: Path) -> None:
    root = make_release(tmp_path / "MME_Benchmark")
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "existence/0003#0", "prediction": "yes"}\n')
    res = cli("score", "--task", "mme", "--file", f"root={root}", "--predictions", str(preds))
    assert res.code == 2 and "not in task mme" in res.err
