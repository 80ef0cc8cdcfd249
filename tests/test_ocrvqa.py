"""OCR-VQA test: the official dataset.json, InfMLLM's evaluate_vqa.py comparison (both sides
stripped and lower-cased, exact match), and `data check` on partly downloaded images."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import infmllm_eval
from infmllm_eval.data.ocrvqa import load_ocrvqa, url_extension
from infmllm_eval.errors import BadInputError
from infmllm_eval.metrics.gqa import gqa_match
from tests.conftest import CliResult
from tests.paper_fixtures import OCRVQA, make_ocrvqa

Cli = Callable[..., CliResult]


@pytest.mark.parametrize(("prediction", "answer", "hit"), [
    ("Ann Author", "Ann Author", 1.0),
    ("  ann author\n", "Ann Author", 1.0),   # both stripped and lower-cased
    ("Ann Author ", " ann AUTHOR", 1.0),
    ("Ann Author.", "Ann Author", 0.0),     # nothing else is normalised
    ("Ann  Author", "Ann Author", 0.0),
    ("Author", "Ann Author", 0.0),
    ("no", "No", 1.0),
])
def test_infmllm_exact_match(prediction: str, answer: str, hit: float) -> None:
    assert gqa_match(prediction, answer, "strip-lower") == hit


def test_loader_reads_the_test_split(tmp_path: Path) -> None:
    folder = make_ocrvqa(tmp_path)
    samples = load_ocrvqa({"dataset": folder / "dataset.json", "images": folder / "images"},
                          {"split": 3})
    assert [s.id for s in samples] == ["1000_0", "1000_1", "3000_0"]  # 2000 is train
    assert samples[0].image == str(folder / "images" / "1000.jpg")
    assert samples[2].image == str(folder / "images" / "3000.gif")
    assert (samples[1].fields, samples[1].targets) == (
        {"question": "What is the title of this book?"}, "A Book")
    assert url_extension("http://x/images/P/0439.01.LZZZZZZZ.jpg?x=1") == ".jpg"


@pytest.mark.parametrize(("change", "message"), [
    ({"answers": ["Ann Author"]}, "item '1000': 2 questions but 1 answers"),
    ({"split": "3"}, "item '1000': field 'split' must be int"),
    ({"questions": ["Who?", 3]}, "item '1000': question 1 and its answer must be strings"),
    ({"imageURL": None}, "item '1000': field 'imageURL' must be str"),
    ({"answers": ["  ", "x"]}, "item '1000': question 0 and its answer must be strings, the "
                               "answer not blank"),
    ({"genre": ["Books"]}, "item '1000': field 'genre' must be a string"),
])
def test_loader_errors_name_the_item(tmp_path: Path, change: dict[str, object],
                                     message: str) -> None:
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps({"1000": {**OCRVQA["1000"], **change}}))
    with pytest.raises(BadInputError, match=message):
        load_ocrvqa({"dataset": path}, {"split": 3})
    path.write_text(json.dumps({"2000": OCRVQA["2000"]}))
    with pytest.raises(BadInputError, match="holds no questions of split 3"):
        load_ocrvqa({"dataset": path}, {"split": 3})


def test_score_as_evaluate_vqa(tmp_path: Path) -> None:
    make_ocrvqa(tmp_path)
    result = infmllm_eval.score("ocrvqa_test", {"1000_0": " ann author", "1000_1": "A Book.",
                                                "3000_0": "NO"}, data_root=tmp_path)
    assert result.metrics["accuracy"] == pytest.approx(200 / 3)


def test_data_check_counts_the_downloaded_images(cli: Cli, tmp_path: Path) -> None:
    make_ocrvqa(tmp_path, missing=("3000",))
    res = cli("data", "check", "--tasks", "ocrvqa_test", "--data-root", str(tmp_path),
              "--json")
    assert res.code == 2
    [record] = json.loads(res.out)
    assert record["missing_images"] == [str(tmp_path / "ocrvqa" / "images" / "3000.gif")]
    assert record["problems"] == ["1 image file(s) missing or not regular files"]
    res = cli("data", "check", "--tasks", "ocrvqa_test", "--data-root", str(tmp_path))
    assert "1 image file(s) missing or not regular files (1 of 2 present): 3000.gif" in " ".join(
        res.out.split())


def test_the_split_argument_must_be_a_number(tmp_path: Path) -> None:
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps(OCRVQA))
    with pytest.raises(BadInputError, match=r"loader_args\.split True: expected the split"):
        load_ocrvqa({"dataset": path}, {"split": True})
