"""POPE (issue 27, first part): the three official COCO question files score, through `score`,
exactly as the official evaluate.py prints for the same answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import infmllm_eval
from infmllm_eval.catalog import resolve_tasks
from infmllm_eval.errors import BadInputError
from tests.conftest import CONFORMANCE, CliResult

Cli = Callable[..., CliResult]
POPE = CONFORMANCE / "pope"
NAMES = {"accuracy": "Accuracy", "precision": "Precision", "recall": "Recall",
         "f1": "F1 score", "yes_ratio": "Yes ratio"}
needs_pope = pytest.mark.skipif(not POPE.is_dir(),
                                reason="../shared/conformance/pope is absent")


@needs_pope
@pytest.mark.parametrize("split", ["random", "popular", "adversarial"])
def test_score_reproduces_every_official_figure(cli: Cli, split: str, tmp_path: Path) -> None:
    want = json.loads((POPE / "expected_official.json").read_text())["per_split"][split]
    out = tmp_path / "m.json"
    res = cli("score", "--task", f"pope_{split}", "--file",
              f"questions={POPE / f'coco_pope_{split}.json'}", "--predictions",
              str(POPE / f"answers_{split}.jsonl"), "--output", str(out))
    assert res.code == 0, res.err
    got = json.loads(out.read_text())
    assert got["n_samples"] == 3000 and got["n_missing"] == 0
    metrics = got["metrics"]
    for ours, theirs in NAMES.items():  # the official fraction, as a percentage
        assert metrics[ours] == want[theirs] * 100, ours
    assert {k: metrics[k.lower()] for k in ("TP", "FP", "TN", "FN")} == {
        k: want[k] for k in ("TP", "FP", "TN", "FN")}
    assert got["primary_metric"] == "f1" and got["variant"] == {"answer_rule": "pope",
                                                               "aggregate": "pope"}


def test_cards_and_group() -> None:
    cards = resolve_tasks(["pope"])
    assert sorted(c.name for c in cards) == ["pope_adversarial", "pope_popular", "pope_random"]
    assert all(c.size == 3000 and c.family == "yes_no" and c.loader == "pope" for c in cards)


def test_loader_refuses_what_would_change_the_figures(tmp_path: Path) -> None:
    questions = tmp_path / "q.json"
    lines = ['{"question_id": 1, "image": "a.jpg", "text": "Is there a cat?", "label": "yes"}',
             '{"question_id": 2, "image": "a.jpg", "text": "Is there a dog?", "label": "Yes"}']
    questions.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInputError, match="line 2: label 'Yes' must be yes or no"):
        infmllm_eval.score("pope_random", {"1": "yes"}, files={"questions": questions})
    questions.write_text(lines[0] + "\n" + lines[0] + "\n")
    with pytest.raises(BadInputError, match="duplicate question_id 1"):
        infmllm_eval.score("pope_random", {"1": "yes"}, files={"questions": questions})
    questions.write_text(lines[0] + "\n")
    result = infmllm_eval.score("pope_random", {"1": "Yes, there is a cat."},
                                files={"questions": questions})
    assert result.metrics["f1"] == 100.0 and result.metrics["tp"] == 1
