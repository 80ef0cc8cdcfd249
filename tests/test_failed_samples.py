"""A sample whose input failed (`run --on-image-error skip`) is scored wrong by every family
through one mechanism (scoring.without_failed: its prediction becomes None, the prediction
every family scores wrong), whatever its placeholder text would say: POPE's rule reads '' as
"yes", so a failed yes-question used to count as right. A genuinely empty answer is still
scored by the official rule."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

import infmllm_eval
from infmllm_eval.catalog import resolve_task
from infmllm_eval.scoring import score_task
from infmllm_eval.taskspec import build_task, load_samples
from infmllm_eval.toy import DATA_ROOT
from infmllm_eval.types import Sample, ScoredText
from tests.conftest import ROOT, CliResult

Cli = Callable[..., CliResult]
DEMO_ROOT = ROOT / "infmllm_eval" / "demo" / "data"
FAST = ["--generation", "num_beams=1", "--generation", "max_new_tokens=4"]


def pope(root: Path, labels: tuple[str, ...] = ("yes", "no", "yes")) -> Path:
    """An official coco_pope_random.json (JSON lines) and its COCO val2014 images."""
    folder = root / "pope"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"question_id": i + 1, "image": f"COCO_val2014_{i:012d}.jpg",
             "text": "Is there a cat in the image?", "label": label}
            for i, label in enumerate(labels)]
    (folder / "coco_pope_random.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    images = root / "coco" / "val2014"
    images.mkdir(parents=True, exist_ok=True)
    for row in rows:
        Image.new("RGB", (32, 24), (10, 200, 10)).save(images / str(row["image"]))
    return root


def right_text(task: str, sample: Sample) -> str:
    """A prediction the official rule scores right for ``sample``."""
    targets = sample.targets
    if task == "toy_grounding":  # box_format unit: the box over the image's size
        x1, y1, x2, y2 = (float(v) for v in targets)  # type: ignore[union-attr]
        w, h = sample.meta["width"], sample.meta["height"]
        return f"[{x1 / w:.3f},{y1 / h:.3f},{x2 / w:.3f},{y2 / h:.3f}]"
    if task == "toy_mmbench_likelihood":
        index = "ABCD".index(str(targets))
        logprobs = tuple(-0.1 if i == index else -5.0 for i in range(4))
        return ScoredText("x", logprobs, (1, 1, 1, 1))
    if task == "pope_random":
        return ""  # POPE's rule: '' is "yes" (the sample's label is yes)
    return str(targets[0]) if isinstance(targets, list) else str(targets)


@pytest.mark.parametrize("task", ["pope_random", "toy_mme", "toy_mmbench",
                                  "toy_mmbench_likelihood", "toy_vqa", "gqa_testdev_balanced",
                                  "toy_grounding", "toy_caption"])
def test_every_family_scores_a_failed_sample_wrong(task: str, tmp_path: Path) -> None:
    root = (pope(tmp_path) if task == "pope_random" else
            DEMO_ROOT if task.startswith("gqa") else DATA_ROOT)
    spec = build_task(resolve_task(task), root)
    samples = load_samples(spec, images=False)
    first = samples[0]
    preds = {s.key: right_text(task, s) for s in samples}
    clean = score_task(spec, samples, preds, missing=[])
    assert clean["per_sample"][0]["score"] > 0  # the text alone would be right
    failed = score_task(spec, samples, preds, missing=[], failed=[first.key])
    row = failed["per_sample"][0]
    assert row["score"] == 0.0 and row["prediction"] is None
    assert failed["per_sample"][1:] == clean["per_sample"][1:]


def test_pope_failed_yes_question_counts_as_a_false_negative(tmp_path: Path) -> None:
    spec = build_task(resolve_task("pope_random"), pope(tmp_path))
    samples = load_samples(spec, images=False)
    preds = {"1": "", "2": "No.", "3": "Yes"}
    empty = score_task(spec, samples, preds, missing=[])["metrics"]
    assert (empty["tp"], empty["tn"], empty["fp"], empty["fn"]) == (2, 1, 0, 0)  # '' is yes
    failed = score_task(spec, samples, preds, missing=[], failed=["1"])["metrics"]
    assert (failed["tp"], failed["tn"], failed["fp"], failed["fn"]) == (1, 1, 0, 1)
    no_question = score_task(spec, samples, {"1": "Yes", "2": "", "3": "Yes"}, missing=[],
                             failed=["2"])["metrics"]
    assert (no_question["tn"], no_question["fp"]) == (0, 1)  # wrong on a no-question too


def test_run_skip_then_score_the_journal(cli: Cli, tmp_path: Path) -> None:
    """End to end: the failed POPE sample is wrong in the run's metrics, and `score` of the
    run's predictions file reads its `error` mark and agrees."""
    root = pope(tmp_path / "data")
    bad = root / "coco" / "val2014" / "COCO_val2014_000000000000.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    res = cli("run", "--model", "infmllm-tiny", "--tasks", "pope_random", "--data-root",
              str(root), "--output-dir", str(tmp_path / "runs"), "--run-name", "s",
              "--on-image-error", "skip", *FAST)
    assert res.code == 0, res.err
    run_dir = tmp_path / "runs" / "s"
    entry = json.loads((run_dir / "metrics.json").read_text())["tasks"]["pope_random"]
    assert list(entry["failed"]["errors"]) == ["1"]
    row = entry["per_sample"][0]
    assert row["id"] == 1 and row["score"] == 0.0 and row["label"] is None
    journal = run_dir / "predictions" / "pope_random.jsonl"
    assert json.loads(journal.read_text().splitlines()[0])["prediction"] == ""
    again = infmllm_eval.score("pope_random", journal, data_root=root)
    assert again.metrics == entry["metrics"]
    out = tmp_path / "m.json"
    res = cli("score", "--task", "pope_random", "--data-root", str(root), "--predictions",
              str(journal), "--output", str(out))
    assert res.code == 0, res.err
    scored = json.loads(out.read_text())
    assert scored["metrics"] == entry["metrics"] and scored["failed"]["count"] == 1


def test_an_error_field_that_is_not_text_marks_nothing(tmp_path: Path) -> None:
    """Only a run's mark (a string `error`) makes a sample failed; a genuinely empty answer
    is scored by the official rule."""
    root = pope(tmp_path)
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (
        {"id": 1, "prediction": "", "error": None}, {"id": 2, "prediction": "no"},
        {"id": 3, "prediction": ""})))
    result = infmllm_eval.score("pope_random", path, data_root=root)
    assert (result.metrics["tp"], result.metrics["tn"]) == (2, 1)
