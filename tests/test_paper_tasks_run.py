"""`run` end to end with the tiny model on generated data in the official formats of
ScienceQA, SEED-Bench and OCR-VQA: scored, resumed, and missing OCR-VQA images failing or
skipped as --on-image-error says; and the golden prompts of their first samples."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from infmllm_eval.catalog import resolve_task
from infmllm_eval.families import get_family
from infmllm_eval.modeling.prompts import get_style
from infmllm_eval.taskspec import build_task, load_samples
from tests.conftest import ROOT, CliResult
from tests.paper_fixtures import make_ocrvqa, make_scienceqa, make_seed

Cli = Callable[..., CliResult]
FAST = ["--generation", "num_beams=1", "--generation", "max_new_tokens=4"]
TASKS = ("scienceqa_img_test", "seedbench_img", "ocrvqa_test")
GOLDEN = ROOT / "tests" / "golden" / "prompts_paper_tasks.json"


def data(root: Path, missing: tuple[str, ...] = ()) -> Path:
    make_scienceqa(root)
    make_seed(root)
    make_ocrvqa(root, missing)
    return root


def test_run_scores_and_resumes(cli: Cli, tmp_path: Path) -> None:
    root = data(tmp_path / "data")
    args = ["run", "--model", "infmllm-tiny", "--tasks", ",".join(TASKS), "--data-root",
            str(root), "--output-dir", str(tmp_path / "runs"), "--run-name", "a", *FAST]
    res = cli(*args)
    assert res.code == 0, res.err
    run_dir = tmp_path / "runs" / "a"
    metrics = json.loads((run_dir / "metrics.json").read_text())["tasks"]
    assert {t: metrics[t]["n_samples"] for t in TASKS} == {
        "scienceqa_img_test": 3, "seedbench_img": 4, "ocrvqa_test": 3}
    assert metrics["scienceqa_img_test"]["variant"] == {"circular": "off", "judge": "none",
                                                        "extraction": "llava_sqa"}
    assert "accuracy_has_image" in metrics["scienceqa_img_test"]["metrics"]
    assert "accuracy_scene_understanding" in metrics["seedbench_img"]["metrics"]
    assert metrics["ocrvqa_test"]["variant"]["match"] == "strip-lower"
    before = {t: (run_dir / "predictions" / f"{t}.jsonl").read_bytes() for t in TASKS}
    res = cli(*args)  # the same command resumes: everything is journaled already
    assert res.code == 0, res.err
    again = json.loads((run_dir / "metrics.json").read_text())["tasks"]
    assert all(again[t]["throughput"]["resumed"] == metrics[t]["n_samples"] for t in TASKS)
    assert {t: (run_dir / "predictions" / f"{t}.jsonl").read_bytes() for t in TASKS} == before


def test_missing_ocrvqa_images_fail_or_are_skipped(cli: Cli, tmp_path: Path) -> None:
    root = data(tmp_path / "data", missing=("3000",))
    base = ["run", "--model", "infmllm-tiny", "--tasks", "ocrvqa_test", "--data-root",
            str(root), "--output-dir", str(tmp_path / "runs"), *FAST]
    res = cli(*base, "--run-name", "fail")
    assert res.code == 2 and "3000.gif" in res.err and "--on-image-error skip" in res.err
    res = cli(*base, "--run-name", "skip", "--on-image-error", "skip")
    assert res.code == 0, res.err
    entry = json.loads((tmp_path / "runs" / "skip" / "metrics.json").read_text())["tasks"][
        "ocrvqa_test"]
    assert list(entry["failed"]["errors"]) == ["3000_0"] and entry["failed"]["count"] == 1


def prompts(root: Path) -> dict[str, dict[str, str]]:
    out = {}
    for task in TASKS:
        spec = build_task(resolve_task(task), root)
        sample = load_samples(spec)[0]
        fields = get_family(spec.card.family).request_fields(sample)
        for style in ("multitask", "chat"):
            prompt = get_style(style).render(fields)
            out[f"{task}/{style}"] = {"before": prompt.before, "after": prompt.after}
    return out


def test_golden_prompts(tmp_path: Path) -> None:
    """Regenerate with UPDATE_GOLDEN=1 after an intended change, and review the diff."""
    current = prompts(data(tmp_path))
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(current, indent=1, ensure_ascii=False) + "\n")
    assert current == json.loads(GOLDEN.read_text())
    chat = current["scienceqa_img_test/chat"]["after"]
    assert chat == ("\nContext: Look closely.\nWhich is a mammal?\nA. cat\nB. trout\nAnswer "
                    "with the option's letter from the given choices directly. ASSISTANT:")
    assert current["ocrvqa_test/multitask"]["after"] == (
        "Question:who wrote this book? Short answer:")
