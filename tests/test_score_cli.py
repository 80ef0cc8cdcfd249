"""`score` end to end: official files in, metrics JSON out, and every kind of bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult

Cli = Callable[..., CliResult]
EXPECTED = {
    "official-current": "expected_official_current.json",
    "official-2017": "expected_official_2017.json",
    "always": "expected_always_normalize.json",
    "evalai": "expected_evalai_processor.json",
}


def edge_args(conf: Path) -> list[str]:
    edge = conf / "vqa_edge_cases"
    return ["--task", "vqav2_val", "--file", f"questions={edge / 'edge_questions.json'}",
            "--file", f"annotations={edge / 'edge_annotations.json'}"]


@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_score_matches_official_per_question(cli: Cli, conformance: Path, tmp_path: Path,
                                             variant: str) -> None:
    out = tmp_path / "m.json"
    res = cli("score", *edge_args(conformance), "--predictions",
              str(conformance / "vqa_edge_cases" / "edge_results.json"),
              "--option", f"normalization={variant}", "--output", str(out))
    assert res.code == 0, res.err
    got = json.loads(out.read_text())
    expected = json.loads((conformance / "vqa_edge_cases" / EXPECTED[variant]).read_text())
    per_q = {str(r["id"]): round(r["score"], 2) for r in got["per_sample"]}
    assert per_q == {qid: v["acc"] for qid, v in expected["perQuestion"].items()}
    assert got["variant"]["normalization"] == variant
    overall = expected.get("overall", expected.get("overall_mean_of_rounded"))
    assert round(got["metrics"]["accuracy"], 2) == overall
    for atype, value in expected.get("perAnswerType", {}).items():
        assert round(got["metrics"][f"accuracy_{atype}"], 2) == value
    lo, hi = got["ci95"]["accuracy"]
    assert lo <= got["metrics"]["accuracy"] <= hi


def test_annotations_in_any_order_score_the_same(cli: Cli, conformance: Path,
                                                 tmp_path: Path) -> None:
    """The official files list questions and annotations in the same order (the loader's fast
    path); another order, or annotations of other questions, give the same metrics file."""
    edge = conformance / "vqa_edge_cases"
    doc = json.loads((edge / "edge_annotations.json").read_text())
    extra = {**doc["annotations"][0], "question_id": 999_999}
    shuffled = tmp_path / "annotations.json"
    shuffled.write_text(json.dumps({**doc, "annotations": [*reversed(doc["annotations"]), extra]}))
    outputs = []
    for ann_file in (edge / "edge_annotations.json", shuffled):
        out = tmp_path / f"m{len(outputs)}.json"
        res = cli("score", "--task", "vqav2_val", "--file",
                  f"questions={edge / 'edge_questions.json'}", "--file",
                  f"annotations={ann_file}", "--predictions",
                  str(edge / "edge_results.json"), "--output", str(out))
        assert res.code == 0, res.err
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_missing_predictions_count_as_wrong_and_are_listed(cli: Cli, conformance: Path,
                                                           tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           ) -> None:
    monkeypatch.chdir(tmp_path)  # score writes into the current folder
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": 1000, "prediction": "yes"},
                                                {"id": 1002, "prediction": "2"}])
    res = cli("score", *edge_args(conformance), "--predictions", str(preds))
    assert res.code == 0
    assert "18 of 20 samples have no prediction" in res.err
    got = json.loads((tmp_path / "p.metrics.json").read_text())
    assert got["n_missing"] == 18 and len(got["missing_ids"]) == 18
    assert got["metrics"]["accuracy"] == pytest.approx(200 / 20)
    assert not got["partial"]
    res = cli("score", *edge_args(conformance), "--predictions", str(preds), "--allow-partial")
    got = json.loads((tmp_path / "p.metrics.json").read_text())
    assert got["partial"] and got["n_scored"] == 2
    assert got["metrics"]["accuracy"] == pytest.approx(100.0)


@pytest.mark.parametrize(("content", "message"), [
    ('{"id": 1000, "prediction": "yes"}\n{"id": 1000, "prediction": "no"}\n',
     "line 2: duplicate id 1000 (first at line 1)"),
    ('{"id": 1000, "prediction": "yes"}\n{"id": 1000, "prediction": \n',
     "malformed JSON on line 2"),
    ('{"id": 999999, "prediction": "yes"}\n', "1 id(s) are not in task vqav2_val"),
    ('{"id": 1000, "prediction": null}\n', "'prediction' must be a string, got null"),
    ('{"id": 1000, "prediction": 3}\n', "'prediction' must be a string, got 3"),
    ('{"id": null, "prediction": "x"}\n', "'id' must be an integer or string"),
    ('{"id": NaN, "prediction": "x"}\n', "malformed JSON on line 1, column 8"),
    ('{"id": 1000.5, "prediction": "x"}\n', "'id' must be an integer or string"),
    ('{"qid": 1000, "prediction": "x"}\n', "no id field"),
    ('[{"question_id": 1000, "answer": "yes"},\n {"question_id": 1001 "answer": "no"}]',
     "malformed JSON at line 2, column 23"),
    ('[1, 2]', "item 0: expected an object"),
])
def test_bad_predictions(cli: Cli, conformance: Path, tmp_path: Path, content: str,
                         message: str) -> None:
    preds = tmp_path / ("p.json" if content.startswith("[") else "p.jsonl")
    preds.write_text(content)
    res = cli("score", *edge_args(conformance), "--predictions", str(preds))
    assert res.code == 2
    assert message in res.err
    assert "Traceback" not in res.err and len(res.err.strip().splitlines()) == 1
    assert not (tmp_path / "p.metrics.json").exists()


def test_non_utf8_predictions(cli: Cli, conformance: Path, tmp_path: Path) -> None:
    preds = tmp_path / "p.jsonl"
    preds.write_bytes(b'{"id": 1000, "prediction": "\xff"}\n')
    res = cli("score", *edge_args(conformance), "--predictions", str(preds))
    assert res.code == 2 and "not UTF-8" in res.err


def test_bad_input_lines(cli: Cli, conformance: Path, tmp_path: Path) -> None:
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": 1000, "prediction": "yes"}])
    cases = [
        (["score", "--task", "vqav2_vall", "--predictions", str(preds)],
         "Did you mean 'vqav2_val'"),
        (["score", *edge_args(conformance), "--predictions", str(tmp_path / "nope.jsonl")],
         "predictions file not found"),
        (["score", *edge_args(conformance), "--predictions", str(preds), "--option",
          "normalization=strict"], "normalization='strict' is not one of"),
        (["score", *edge_args(conformance), "--predictions", str(preds), "--option",
          "normalisation=always"], "Did you mean 'normalization'"),
        (["score", *edge_args(conformance), "--predictions", str(preds), "--option", "x"],
         "expected KEY=VALUE"),
        (["score", *edge_args(conformance), "--predictions", str(preds), "--file",
          "image=/x"], "has no file 'image'. Did you mean 'images'"),
        (["score", "--task", "vqav2_val", "--data-root", str(tmp_path), "--predictions",
          str(preds)], "file 'questions' not found at"),
    ]
    for args, message in cases:
        res = cli(*args)
        assert res.code == 2, args
        assert message in res.err, (args, res.err)
        assert "Traceback" not in res.err


def test_debug_shows_traceback(cli: Cli, tmp_path: Path) -> None:
    from infmllm_eval.errors import UnknownNameError

    with pytest.raises(UnknownNameError):
        cli("--debug", "score", "--task", "nope", "--predictions", str(tmp_path / "p"))


def test_malformed_annotations(cli: Cli, conformance: Path, tmp_path: Path) -> None:
    ann = tmp_path / "ann.json"
    ann.write_text('{"annotations": [{"question_id": 1000, "answers": "yes"}]}')
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": 1000, "prediction": "yes"}])
    res = cli("score", *edge_args(conformance), "--file", f"annotations={ann}",
              "--predictions", str(preds))
    assert res.code == 2
    assert "ann.json: Expected `array`, got `str` - at `$.annotations[0].answers`" in res.err


def test_submission_only_task(cli: Cli, conformance: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # score writes into the current folder
    qfile = conformance / "vqa_edge_cases" / "edge_questions.json"
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": 1000, "prediction": "Yes"}])
    res = cli("score", "--task", "vqav2_testdev", "--file", f"questions={qfile}",
              "--predictions", str(preds))
    assert res.code == 0, res.err
    sub = json.loads((tmp_path / "p.submission.json").read_text())
    assert len(sub) == 20 and sub[0] == {"question_id": 1000, "answer": "Yes"}
    assert {"question_id", "answer"} == set(sub[1])


def test_gqa_official_format_and_variants(cli: Cli, tmp_path: Path) -> None:
    from infmllm_eval.commands import demo_root

    data = demo_root() / "data"
    questions = json.loads((data / "gqa" / "testdev_balanced_questions.json").read_text())
    rows = []
    for qid, q in questions.items():  # every answer right, but capitalised with a period
        rows.append({"questionId": qid, "prediction": q["answer"].capitalize() + "."})
    preds = tmp_path / "gqa.json"
    preds.write_text(json.dumps(rows))
    scores = {}
    for variant in ("official", "llava"):
        out = tmp_path / f"{variant}.json"
        res = cli("score", "--task", "gqa_testdev_balanced", "--data-root", str(data),
                  "--predictions", str(preds), "--option", f"match={variant}", "--output", str(out))
        assert res.code == 0, res.err
        scores[variant] = json.loads(out.read_text())
    assert scores["official"]["metrics"]["accuracy"] == 0.0  # eval.py: exact string match
    assert scores["llava"]["metrics"]["accuracy"] == 100.0
    llava = scores["llava"]
    assert set(llava["breakdown"]["answer_type"]) == {"binary", "open"}
    assert llava["variant"] == {"match": "llava", "postprocess": "none"}


def test_infmllm_postprocess_option(cli: Cli, conformance: Path, tmp_path: Path) -> None:
    preds = write_jsonl(tmp_path / "p.jsonl", [
        {"id": 1000, "prediction": "yes Question: is it?"},
        {"id": 1003, "prediction": "two, maybe three"},
    ])
    for option, expected in (("none", 0.0), ("infmllm-vqa", 190.0 / 20)):
        out = tmp_path / f"{option}.json"
        res = cli("score", *edge_args(conformance), "--predictions", str(preds),
                  "--option", f"postprocess={option}", "--output", str(out))
        assert res.code == 0, res.err
        assert json.loads(out.read_text())["metrics"]["accuracy"] == pytest.approx(expected)
