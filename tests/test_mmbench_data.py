"""MMBench TSV loading and scoring on a real mini set built at test time from
../shared/conformance/mmbench_samples (20 real images; questions and answers in an HTML table),
plus generated passes, the judge plug-in, the submission rows and bad input."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from infmllm_eval.data.images import image_identity, load_image
from infmllm_eval.data.mmbench import load_mmbench
from infmllm_eval.errors import BadInputError
from infmllm_eval.families.multiple_choice import MULTIPLE_CHOICE
from tests.conftest import CliResult

Cli = Callable[..., CliResult]
COLUMNS = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category",
           "l2-category", "image"]
_CELL = re.compile(r"<td colspan=2><p>(.*?)</p></td>", re.S)
_IMAGE = re.compile(r'<img src="MMBench/(\d+)\.jpg"')
_HEAD = re.compile(r"<th[^>]*><b>(.*?)</b></th>", re.S)
_QUESTION = re.compile(r"QUESTION\. (.*?)(?:<br>HINT\. (.*?))?<br><br>Options:<br>(.*)"
                       r"<br><br>ANSWER\. ([A-Z])<br>$", re.S)


def _text(fragment: str) -> str:
    return html.unescape(fragment.replace("<br>", "\n")).strip()


def _options(body: str) -> list[str]:
    """Split 'A. x<br>B. y...' at the next expected letter only (option texts hold code)."""
    texts, letters = [], "ABCD"
    rest = re.sub(r"^A\. ?", "", body)
    for letter in letters[1:]:
        parts = re.split(rf"<br>{letter}\. ?", rest, maxsplit=1)
        texts.append(parts[0])
        if len(parts) == 1:
            return [_text(t) for t in texts]
        rest = parts[1]
    return [_text(t) for t in [*texts, rest]]


def _snake(name: str) -> str:
    head, _, tail = name.partition(" (")
    return head.strip().lower().replace(" ", "_") + (f" ({tail}" if tail else "")


def parse_samples(conf: Path, language: str) -> list[dict[str, Any]]:
    """The MMBench rows of samples_with_answers.md: EN is the first question row of each
    image pair, CN the second."""
    text = (conf / "mmbench_samples" / "samples_with_answers.md").read_text(encoding="utf-8")
    section = text.split("## MMBench (EN / CN)", 1)[1]
    rows = []
    for block in re.split(r"(?=<tr>\s*<th)", section):
        heads, images, cells = _HEAD.findall(block), _IMAGE.findall(block), _CELL.findall(block)
        if not images:
            continue
        assert len(heads) == len(images) == 2 and len(cells) == 4
        chosen = cells[:2] if language == "en" else cells[2:]
        for head, image, cell in zip(heads, images, chosen, strict=True):
            found = _QUESTION.match(cell)
            assert found, cell
            l2, _, category = head.partition(":<br>")
            options = _options(found.group(3))
            rows.append({"index": int(image), "question": _text(found.group(1)),
                         "hint": _text(found.group(2) or ""), "options": options,
                         "answer": found.group(4), "category": _snake(category),
                         "l2-category": _snake(l2),
                         "image": conf / "mmbench_samples" / "images" / f"{image}.jpg"})
    return rows


def write_tsv(path: Path, rows: list[dict[str, Any]], copies: bool) -> Path:
    """An MMBench TSV as the official files are: base64 images, and (``copies``) the
    CircularEval passes as rows of their own whose image cell names the original row."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        options = row["options"]
        n = len(options)
        for shift in range(n if copies else 1):
            moved = [options[(i + shift) % n] for i in range(n)]
            answer = "ABCD"[("ABCD".index(row["answer"]) - shift) % n]
            image = (base64.b64encode(row["image"].read_bytes()).decode("ascii") if shift == 0
                     else str(row["index"]))
            writer.writerow([row["index"] + shift * 1_000_000, row["question"],
                             row["hint"] or "nan", *moved, *[""] * (4 - n), answer,
                             row["category"], row["l2-category"], image])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


@pytest.fixture
def mini(conformance: Path) -> list[dict[str, Any]]:
    rows = parse_samples(conformance, "en")
    assert len(rows) == 20
    return rows


def test_real_mini_set_loads_with_its_passes(mini: list[dict[str, Any]], tmp_path: Path) -> None:
    samples = load_mmbench({"tsv": write_tsv(tmp_path / "dev.tsv", mini, True)}, {})
    assert len(samples) == sum(len(r["options"]) for r in mini) == 78  # two 3-option questions
    by_id = {s.id: s for s in samples}
    egg = by_id[2222]
    assert egg.fields["options"] == [["A", "This egg will become cooked"],
                                     ["B", "This egg will fall down"],
                                     ["C", "The egg will be broken"]]
    assert egg.targets == "C" and egg.fields["hint"] == ""
    assert by_id[1002222].targets == "B" and by_id[2002222].targets == "A"
    assert 3002222 not in by_id
    assert by_id[318].fields["hint"].startswith("The diagram below is a model")
    assert by_id[1].fields["options"][0][1].startswith('for x in range(6):\n')
    assert egg.meta == {"group": 2222, "pass": 0, "category": "future_prediction",
                        "l2-category": "logic_reasoning"}
    assert by_id[1_000_672].meta["pass"] == 1 and by_id[1_000_672].meta["group"] == 672
    assert by_id[672].meta["l2-category"] == "finegrained_perception (instance-level)"


def test_passes_share_one_image_that_decodes_to_the_real_file(mini: list[dict[str, Any]],
                                                              tmp_path: Path) -> None:
    samples = load_mmbench({"tsv": write_tsv(tmp_path / "dev.tsv", mini, True)}, {})
    by_id = {s.id: s for s in samples}
    for row in mini:
        refs = [by_id[row["index"] + p * 1_000_000].image for p in range(len(row["options"]))]
        assert refs[0] is not None and refs[0].startswith("data:image/jpeg;base64,")
        assert len({image_identity(r) for r in refs if r}) == 1
    assert len({s.image for s in samples}) == 20
    decoded = load_image(str(by_id[812].image))
    with Image.open(mini[0]["image"].parent / "812.jpg") as original:
        assert decoded.size == original.size
        assert decoded.tobytes() == original.convert("RGB").tobytes()


def test_request_fields_render(mini: list[dict[str, Any]], tmp_path: Path) -> None:
    samples = load_mmbench({"tsv": write_tsv(tmp_path / "dev.tsv", mini, True)}, {})
    fields = MULTIPLE_CHOICE.request_fields(next(s for s in samples if s.id == 1_000_318))
    assert fields["question"] == "Which solution has a higher concentration of green particles?"
    assert fields["hint"].endswith("Each green ball represents one particle of solute.")
    assert fields["options"] == [["A", "Solution B"], ["B", "Solution A"],
                                 ["C", "neither; their concentrations are the same"]]


def _jsonl(path: Path, answers: dict[int, str]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "prediction": v}) + "\n"
                            for k, v in answers.items()))
    return path


def test_mini_set_scores_through_the_cli(cli: Cli, mini: list[dict[str, Any]],
                                         tmp_path: Path) -> None:
    tsv = write_tsv(tmp_path / "dev.tsv", mini, True)
    samples = load_mmbench({"tsv": tsv}, {})
    answers = {int(s.id): f"The answer is {s.targets}." for s in samples}
    answers[1_000_812] = "Sorry, I cannot tell."        # scene question 812: one pass unresolved
    answers[1_000_544] = "sadness"                    # emotion 544: a wrong option's text
    preds = _jsonl(tmp_path / "p.jsonl", answers)
    res = cli("score", "--task", "mmbench_dev_en", "--file", f"tsv={tsv}", "--predictions",
              str(preds), "--output", str(tmp_path / "m.json"))
    assert res.code == 0, res.err
    got = json.loads((tmp_path / "m.json").read_text())
    assert got["primary_metric"] == "circular_accuracy"
    assert got["metrics"]["circular_accuracy"] == pytest.approx(100 * 18 / 20)
    assert got["metrics"]["single_pass_accuracy"] == 100.0
    assert got["parse_failures"] == 1 and got["n_samples"] == 78
    assert got["breakdown"]["category"]["image_scene"] == 0.0
    assert got["breakdown"]["category"]["image_emotion"] == 0.0
    assert got["breakdown"]["category_single_pass"]["image_scene"] == 100.0
    assert got["breakdown"]["l2-category"]["coarse_perception"] == pytest.approx(100 * 3 / 5)
    lo, hi = got["ci95"]["circular_accuracy"]
    assert lo <= 90.0 <= hi
    submission = json.loads((tmp_path / "m.submission.json").read_text())
    assert len(submission) == 78 and got["submission_file"].endswith("m.submission.json")
    res = cli("data", "check", "--tasks", "mmbench_dev_en", "--file", f"tsv={tsv}")
    assert "78 / 4,329" in res.out and "Traceback" not in res.err  # data: URIs are not files


def test_cn_rows_load(conformance: Path, tmp_path: Path) -> None:
    rows = parse_samples(conformance, "cn")
    samples = load_mmbench({"tsv": write_tsv(tmp_path / "cn.tsv", rows, True)}, {})
    by_id = {s.id: s for s in samples}
    assert by_id[2870].fields["options"][3] == ["D", "南"]
    result = MULTIPLE_CHOICE.score(samples, {"2870": "南", "1002870": "答案是C"},
                                   {"judge": "none"})
    assert [r.score for r in result.per_sample if r.id in (2870, 1002870)] == [100.0, 100.0]


def test_passes_are_generated_only_for_a_file_without_copies(mini: list[dict[str, Any]],
                                                             tmp_path: Path) -> None:
    tsv = write_tsv(tmp_path / "plain.tsv", mini, False)
    generated = load_mmbench({"tsv": tsv}, {})
    official = load_mmbench({"tsv": write_tsv(tmp_path / "dev.tsv", mini, True)}, {})
    as_rows = {s.id: (s.fields, s.targets, s.meta, s.image) for s in official}
    assert {s.id: (s.fields, s.targets, s.meta, s.image) for s in generated} == as_rows
    assert len(load_mmbench({"tsv": tsv}, {"generate_passes": False})) == 20


def test_submission_rows(mini: list[dict[str, Any]], tmp_path: Path) -> None:
    samples = load_mmbench({"tsv": write_tsv(tmp_path / "dev.tsv", mini, True)}, {})
    rows = MULTIPLE_CHOICE.submission(samples, {"2222": "C"}, {"judge": "none"})
    assert MULTIPLE_CHOICE.always_submit
    egg = next(r for r in rows if r["index"] == 2222)
    assert egg == {"index": 2222, "question": "Based on this image, please predict what will "
                   "happen next?", "hint": "", "A": "This egg will become cooked",
                   "B": "This egg will fall down", "C": "The egg will be broken", "D": "",
                   "answer": "C", "prediction": "C", "category": "future_prediction",
                   "l2-category": "logic_reasoning"}
    assert len(rows) == 78 and json.dumps(rows)


def _tsv(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "bad.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


HEADER = "\t".join(COLUMNS)
GOOD = "\t".join(["1", "Q?", "nan", "x", "y", "", "", "A", "c", "l2", "QUJD"])


@pytest.mark.parametrize(("lines", "message"), [
    (["index\tquestion\tA\tB", "1\tQ\tx\ty"], "missing column(s) image"),
    ([HEADER, "1\tQ?"], "line 2: 2 cells, the header has 11"),
    ([HEADER, GOOD.replace("1", "one", 1)], "line 2: 'index' must be a non-negative integer"),
    ([HEADER, GOOD, GOOD], "line 3: duplicate index 1 (first at line 2)"),
    ([HEADER, GOOD.replace("\tA\tc", "\tC\tc")], "answer 'C' is not one of its options A, B"),
    ([HEADER, GOOD.replace("\ty\t", "\tnan\t")], "fewer than two options"),
    ([HEADER, GOOD.replace("QUJD", "7")], "image refers to row 7, which is absent"),
    ([HEADER, GOOD.replace("QUJD", "")], "empty image cell"),
    ([HEADER], "no rows"),
])
def test_bad_tsv(tmp_path: Path, lines: list[str], message: str) -> None:
    with pytest.raises(BadInputError, match=re.escape(message)):
        load_mmbench({"tsv": _tsv(tmp_path, lines)}, {})


def test_missing_tsv_is_one_line(cli: Cli, tmp_path: Path) -> None:
    preds = _jsonl(tmp_path / "p.jsonl", {1: "A"})
    res = cli("score", "--task", "mmbench_dev_cn", "--file", f"tsv={tmp_path / 'no.tsv'}",
              "--predictions", str(preds))
    assert res.code == 2 and "file 'tsv' not found" in res.err and "Traceback" not in res.err


def test_file_without_answers_cannot_be_scored(tmp_path: Path) -> None:
    no_answer = [line.replace("\tanswer", "").replace("\tA\tc", "\tc")
                 for line in (HEADER, GOOD)]
    samples = load_mmbench({"tsv": _tsv(tmp_path, no_answer)}, {})
    assert samples[0].targets is None
    with pytest.raises(BadInputError, match="no answer column"):
        MULTIPLE_CHOICE.score(samples, {"1": "A"}, {"judge": "none"})
