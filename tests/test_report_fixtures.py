"""Hand-written run directories (metrics.json + run.json, as engine/store.py writes them) for
the report, diff and gate tests; no model is run. Also checks that every results source a
report accepts is read back, and that malformed ones fail with one clear line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer

from infmllm_eval.cli_report import register
from infmllm_eval.errors import BadInputError
from infmllm_eval.metrics.mme import COGNITION, PERCEPTION, SUBTASKS
from infmllm_eval.report.runs import load_run, load_runs, variant_text

MODEL_B = "tuned_50%&more"  # survives LaTeX: '_', '%' and '&' must all be escaped


def entry(family: str, primary: str, scores: list[float], *, variant: dict[str, str] | None
          = None, metrics: dict[str, float] | None = None, groups: list[int] | None = None,
          breakdown: dict[str, Any] | None = None, ids: list[Any] | None = None,
          ci: tuple[float, float] | None = None, partial: bool = False) -> dict[str, Any]:
    """A metrics.json task entry whose primary metric is the mean of its per-sample scores
    (of its question groups' minimum with ``groups``, as CircularEval) unless ``metrics``
    sets it."""
    ids = ids if ids is not None else list(range(1, len(scores) + 1))
    rows: list[dict[str, Any]] = [{"id": i, "score": s, "prediction": f"answer {i}"}
                                  for i, s in zip(ids, scores, strict=True)]
    if groups is not None:
        for row, group in zip(rows, groups, strict=True):
            row["group"] = group
        units = [min(s for s, g in zip(scores, groups, strict=True) if g == key)
                 for key in dict.fromkeys(groups)]
    else:
        units = scores
    values = {primary: sum(units) / len(units), **(metrics or {})}
    return {"family": family, "primary_metric": primary, "metrics": values,
            "variant": variant or {}, "n_samples": len(scores), "n_scored": len(scores),
            "n_missing": 0, "missing_ids": [], "partial": partial, "parse_failures": 0,
            "ci95": {primary: list(ci) if ci else None}, "breakdown": breakdown or {},
            "per_sample": rows}


def mme_entry(scale: float) -> dict[str, Any]:
    """MME: subtask scores (perception = sum of ten, cognition = sum of four)."""
    base = {name: 100.0 + 7.25 * i for i, name in enumerate(SUBTASKS)}
    scores = {name: round(value * scale, 2) for name, value in base.items()}
    subtasks = {name: {"n_images": 2, "n_questions": 4, "acc": s / 2, "acc_plus": s / 2,
                       "score": s, "other_num": 0} for name, s in scores.items()}
    metrics = {"perception": sum(scores[n] for n in PERCEPTION),
               "cognition": sum(scores[n] for n in COGNITION)}
    metrics["total"] = metrics["perception"] + metrics["cognition"]
    found = entry("yes_no", "perception", [100.0, 0.0, 100.0, 100.0], metrics=metrics,
                  ids=["existence/1.jpg#0", "existence/1.jpg#1", "count/2.jpg#0",
                       "count/2.jpg#1"], breakdown={"subtasks": subtasks})
    found["ci95"] = {"perception": None}
    return found


def tasks_a() -> dict[str, Any]:
    """The first run: every family, and a submission-only task."""
    always = {"normalization": "always", "postprocess": "none"}
    return {
        "coco_karpathy_test": entry("caption", "CIDEr", [120.0, 95.5, 130.25, 110.0],
                                    variant={"spice": "off"}, ci=(101.0, 125.5)),
        "vqav2_val": entry("vqa", "accuracy", [100, 100, 60, 0, 100, 30, 100, 0, 100, 90],
                           variant=always, ci=(40.0, 88.0)),
        "okvqa_val": entry("vqa", "accuracy", [100, 0, 30, 100, 60, 100, 0, 100],
                           variant=always, ci=(30.0, 85.0)),
        "gqa_testdev_balanced": entry("gqa", "accuracy", [100, 0, 100, 100, 0, 100],
                                      variant={"match": "official"}, ci=(16.67, 100.0)),
        "refcoco_testA": entry("grounding", "acc@0.5", [100, 100, 0, 100, 100, 100, 0, 100],
                               variant={"box_format": "unit", "image_transform": "squash"},
                               metrics={"acc@0.3": 87.5, "miou": 70.1}, ci=(50.0, 100.0)),
        "mme": mme_entry(1.0),
        "mmbench_dev_en": entry(
            "multiple_choice", "circular_accuracy", [100, 100, 100, 100, 100, 0, 100, 100,
                                                     100, 100, 100, 100],
            groups=[0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2], variant={"judge": "none"},
            metrics={"single_pass_accuracy": 100.0}, ci=(0.0, 100.0),
            breakdown={"category": {"attribute_recognition": 100.0, "ocr": 0.0,
                                    "celebrity_recognition": 100.0}}),
        "vqav2_testdev": {"submission": "submissions/vqav2_testdev.json", "n_samples": 10,
                          "n_missing": 0, "variant": always},
    }


def tasks_b() -> dict[str, Any]:
    """The second run: some samples fixed or broken, another okvqa variant, no captions."""
    tasks = tasks_a()
    del tasks["coco_karpathy_test"]
    tasks["vqav2_val"] = entry("vqa", "accuracy", [100, 100, 100, 0, 100, 30, 100, 100, 0, 90],
                               variant=tasks["vqav2_val"]["variant"], ci=(45.0, 92.0))
    tasks["okvqa_val"] = entry("vqa", "accuracy", [100, 0, 30, 100, 60, 100, 30, 100],
                               variant={"normalization": "evalai", "postprocess": "none"},
                               ci=(32.5, 86.0))
    tasks["refcoco_testA"] = entry("grounding", "acc@0.5", [100, 100, 100, 100, 100, 100, 0, 100],
                                   variant=tasks["refcoco_testA"]["variant"],
                                   metrics={"acc@0.3": 87.5, "miou": 72.4}, ci=(62.5, 100.0))
    tasks["mme"] = mme_entry(1.05)
    tasks["mmbench_dev_en"]["breakdown"]["category"]["ocr"] = 50.0
    return tasks


def write_run(root: Path, name: str, model: str, tasks: dict[str, Any]) -> Path:
    """A run directory with run.json and metrics.json."""
    run = root / name
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({
        "run_id": name, "config": {"model": model, "tasks": list(tasks)},
        "versions": {"infmllm-eval": "0.1.0"}}))
    (run / "metrics.json").write_text(json.dumps({"run_id": name, "model": model,
                                                  "tasks": tasks}, indent=1))
    return run


def make_runs(root: Path) -> tuple[Path, Path]:
    """Run A (infmllm-7b) and run B (MODEL_B)."""
    return (write_run(root, "infmllm-7b-20240101-000000", "infmllm-7b", tasks_a()),
            write_run(root, "tuned-20240102-000000", MODEL_B, tasks_b()))


def use_report_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make main() (the `cli` fixture) reach the report commands: the real app once cli.py
    calls register(), else an app that has only them."""
    from infmllm_eval import cli

    if not any(c.name == "gate" for c in cli.app.registered_commands):
        app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                          add_completion=False)
        register(app)
        monkeypatch.setattr(cli, "app", app)


def test_run_directory_metrics_json_and_score_file_are_read(tmp_path: Path) -> None:
    run_a, _ = make_runs(tmp_path)
    from_dir, from_file = load_run(run_a), load_run(run_a / "metrics.json")
    assert from_dir.label == from_file.label == "infmllm-7b"
    assert from_dir.tasks == from_file.tasks
    assert from_dir.value("mme", "perception") == pytest.approx(
        sum(100.0 + 7.25 * i for i in range(10)))
    assert from_dir.value("vqav2_testdev", "accuracy") is None  # submission only
    score = tmp_path / "preds.metrics.json"
    score.write_text(json.dumps({"task": "vqav2_val", "predictions": "preds.jsonl",
                                 **tasks_a()["vqav2_val"]}))
    single = load_run(score)
    assert single.label == "preds" and list(single.tasks) == ["vqav2_val"]
    assert variant_text(single.tasks["vqav2_val"]) == "normalization=always"


def test_runs_of_the_same_model_are_told_apart(tmp_path: Path) -> None:
    first = write_run(tmp_path, "m-1", "m", tasks_a())
    second = write_run(tmp_path, "m-2", "m", tasks_a())
    assert [r.label for r in load_runs([first, second])] == ["m (m-1)", "m (m-2)"]


@pytest.mark.parametrize("content, message", [
    ("[1, 2]", "expected a JSON object"),
    ('{"foo": 1}', "neither 'tasks' nor 'task' found"),
    ('{"tasks": {"vqav2_val": {"metrics": {}}}}', "no 'primary_metric'"),
    ('{"tasks": {"t": {"primary_metric": "a", "metrics": {"a": "x"}}}}', "'metrics' must map"),
    ('{"tasks": {"t": {"primary_metric": "a", "metrics": {}, "per_sample": [1]}}}',
     "'per_sample' must be"),
    ('{"tasks": {}, "tolerances": {"x": 1}}', "'tolerances' must map"),
    ('{"tasks": ', "malformed JSON"),
])
def test_malformed_results_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(BadInputError, match=message) as info:
        load_run(path)
    assert str(path) in str(info.value)


def test_missing_results_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="not found"):
        load_run(tmp_path / "nope.json")
    with pytest.raises(BadInputError, match="not a run directory"):
        load_run(tmp_path)
