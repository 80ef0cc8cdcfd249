"""POPE's group figure: the mean F1 of the three splits (LLaVA-1.5's eval_pope.py prints it
as "average f1"; InfMLLM's docs expect "POPE-f1 86.56"), shown in the report next to the
paper's 86.5; and `score` on the official answer JSONL shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import infmllm_eval
from infmllm_eval.cards import load_task_card, task_cards
from infmllm_eval.errors import BadInputError, CardError
from infmllm_eval.report.leaderboard import build_leaderboard
from infmllm_eval.report.reference import load_reference
from infmllm_eval.report.runs import RunResult

SPLITS = ("random", "popular", "adversarial")


def entry(f1: float, n: int = 3000, partial: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"family": "yes_no", "primary_metric": "f1", "n_samples": n,
                           "metrics": {"f1": f1, "accuracy": 50.0},
                           "variant": {"answer_rule": "pope", "aggregate": "pope"}}
    if partial:
        out |= {"partial": True, "n_scored": n - 1}
    return out


def run(**f1: float) -> RunResult:
    return RunResult("r", Path("r"), "m", {f"pope_{s}": entry(v) for s, v in f1.items()})


def test_group_figure_is_the_mean_f1_of_the_three_splits() -> None:
    table = build_leaderboard([run(random=90.0, popular=85.0, adversarial=79.0)],
                              [load_reference("infmllm-paper")])
    keys = [c.key for c in table.columns]
    at = keys.index("pope.mean_f1")
    assert table.columns[at].label == "pope mean_f1"
    assert {c.group for c in table.columns} == {"Yes/no (F1)"}
    assert table.rows[0].cells[at].value == pytest.approx((90.0 + 85.0 + 79.0) / 3)
    assert table.rows[0].cells[at].n == 9000
    paper = next(r for r in table.rows if r.label == "InfMLLM-7B-Chat (paper)")
    assert paper.cells[at].value == 86.5
    notes = " ".join(n.text for n in table.notes)
    assert ("pope mean_f1: unweighted mean of f1 over pope_adversarial, pope_popular, "
            "pope_random") in notes
    assert "POPE COCO val2014" not in notes.split("not in this table")[-1]


def test_no_group_figure_without_every_split_in_full() -> None:
    table = build_leaderboard([run(random=90.0, popular=85.0)])
    assert "pope.mean_f1" not in [c.key for c in table.columns]
    cut = RunResult("r", Path("r"), "m", {"pope_random": entry(90.0),
                                          "pope_popular": entry(85.0),
                                          "pope_adversarial": entry(80.0, partial=True)})
    assert "pope.mean_f1" not in [c.key for c in build_leaderboard([cut]).columns]


def test_no_group_figure_for_a_limit_run() -> None:
    """`run --limit 3`: each split scored on 3 of its 3,000 questions (n=9 of 9,000) - a
    mean over that cut is not POPE's figure; the splits' own cells stay, marked as subsets."""
    cut = {f"pope_{s}": entry(80.0, n=3) for s in SPLITS}
    for config in ({"limit": 3}, {}):  # also without the run's record of the limit
        table = build_leaderboard([RunResult("r", Path("r"), "m", cut, config=config)])
        keys = [c.key for c in table.columns]
        assert "pope.mean_f1" not in keys
        cell = table.rows[0].cells[keys.index("pope_random.f1")]
        assert cell.value == 80.0 and cell.subset and cell.coverage() == "n=3 of 3,000"
    limited = RunResult("r", Path("r"), "m", {f"pope_{s}": entry(80.0) for s in SPLITS},
                        config={"limit": 5000})  # a limit above every split's size cuts none
    assert "pope.mean_f1" in [c.key for c in build_leaderboard([limited]).columns]


def test_cards_declare_one_group_mean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert {task_cards()[f"pope_{s}"].group_mean for s in SPLITS} == {"f1"}
    card = Path(task_cards()["pope_random"].path).read_text()
    (tmp_path / "tasks").mkdir()
    bad = tmp_path / "tasks" / "pope_x.yaml"
    bad.write_text(card.replace("name: pope_random", "name: pope_x")
                   .replace("group_mean: f1", "group_mean: f2"))
    with pytest.raises(CardError, match="field 'group_mean': 'f2' is not a metric"):
        load_task_card(bad)
    bad.write_text(card.replace("name: pope_random", "name: pope_x")
                   .replace("group_mean: f1", "group_mean: accuracy"))
    monkeypatch.setenv("INFMLLM_EVAL_CARD_PATH", str(tmp_path))
    with pytest.raises(CardError, match="'accuracy' differs from 'f1'"):
        task_cards()


def test_reference_names_the_group_figure(tmp_path: Path) -> None:
    ref = json.loads(load_reference_text())
    ref["models"][1]["results"] = [r for r in ref["models"][1]["results"]
                                   if r["benchmark"] == "POPE"]
    ref["models"][1]["results"][0]["metric"] = "f1"
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(ref))
    with pytest.raises(BadInputError, match="group 'pope' reports mean_f1, not 'f1'"):
        load_reference(str(path))


def load_reference_text() -> str:
    return (Path(__file__).parents[1] / "results" / "reference" / "infmllm-paper.json").read_text()


@pytest.mark.parametrize("text_key", ["answer", "text"])
def test_score_reads_the_official_answer_jsonl(tmp_path: Path, text_key: str) -> None:
    """POPE's answer files: one {question_id, answer} (or LLaVA's {question_id, text}) a line."""
    questions = tmp_path / "q.json"
    questions.write_text("".join(json.dumps(
        {"question_id": i, "image": "a.jpg", "text": "Is there a cat in the image?",
         "label": label}) + "\n" for i, label in ((1, "yes"), (2, "no"), (3, "no"))))
    answers = tmp_path / "a.jsonl"
    answers.write_text("".join(json.dumps({"question_id": i, text_key: t}) + "\n" for i, t in (
        (1, "Yes, there is a cat."), (2, "There is not a cat."), (3, "Yes"))))
    result = infmllm_eval.score("pope_random", answers, files={"questions": questions})
    assert (result.metrics["tp"], result.metrics["tn"], result.metrics["fp"]) == (1, 1, 1)
