"""Issue 28, daily use: bundled toy / demo data found without --data-root, runs without Java
scoring every other task (exit 2, 'run partial'), and --threads."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pytest

import infmllm_eval
from infmllm_eval.engine.run import (
    RunConfig,
    apply_threads,
    check_threads,
    default_threads,
    run_identity,
)
from infmllm_eval.errors import BadInputError
from infmllm_eval.listing import check_data, task_rows
from infmllm_eval.taskspec import BUNDLED_ROOTS, build_specs, missing_files
from infmllm_eval.toy import DATA_ROOT
from tests.conftest import CliResult

Cli = Callable[..., CliResult]
SCRIPTED = ("--model", "scripted", "--model-option", "default=a")


@pytest.fixture
def no_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder, no $INFMLLM_EVAL_DATA: the default data root ./data is absent."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INFMLLM_EVAL_DATA", raising=False)
    return tmp_path


def test_toy_tasks_fall_back_to_the_bundled_data(tmp_path: Path) -> None:
    specs = {s.name: s for s in build_specs([], tmp_path / "data", [], [])}
    bundled = set(infmllm_eval.toy.BUNDLED_TASKS)  # the demo's tasks + toy_mmbench_likelihood
    assert {n for n, s in specs.items() if s.bundled == "toy"} == bundled
    assert {n for n, s in specs.items() if s.bundled} == bundled
    assert specs["toy_vqa"].files["questions"].is_relative_to(DATA_ROOT)
    assert not missing_files(specs["toy_vqa"])
    # a real benchmark card is never served the demo's 24 drawn questions (a mistyped
    # --data-root would give a number on them)
    assert missing_files(specs["vqav2_val"])
    # real cards with the same layout as a toy card are never served toy data
    assert not specs["mme"].bundled and missing_files(specs["mme"])
    assert not specs["vqav2_val_lmms"].bundled


def test_the_data_root_comes_first_and_is_never_mixed_with_bundled_files(
        tmp_path: Path) -> None:
    toy = build_specs(["toy"], DATA_ROOT, [], [])
    assert all(not s.bundled and s.data_source == "data root" for s in toy)
    root = tmp_path / "data"
    (root / "vqav2").mkdir(parents=True)
    (root / "vqav2" / "v2_OpenEnded_mscoco_val2014_questions.json").write_text("{}")
    vqa, ok = build_specs(["vqav2_val", "okvqa_val"], root, [], [])
    assert not vqa.bundled and set(missing_files(vqa)) == {"annotations", "images"}
    assert not ok.bundled and missing_files(ok)
    # a --file override: the task's files are the user's, none from the package
    (spec,) = build_specs(["toy_vqa"], root, [f"questions={tmp_path / 'q.json'}"], [])
    assert not spec.bundled and set(missing_files(spec)) == {"questions", "annotations",
                                                             "images"}


def test_list_tasks_and_data_check_agree_on_bundled_data(tmp_path: Path) -> None:
    root = tmp_path / "data"
    listed = {r["name"]: r["data"] for r in task_rows(root, False)}
    assert listed["toy_vqa"].startswith("ready (bundled: toy data")
    assert not listed["vqav2_val"].startswith("ready")
    assert listed["mme"].startswith("no data root")
    checked = check_data(root, ["toy_vqa", "vqav2_val"], [], True)
    rows, ok = checked[0], checked[-1]
    by_task = {r["task"]: r for r in rows}
    assert by_task["toy_vqa"]["status"] == "ok" and "bundled: toy data" in by_task[
        "toy_vqa"]["found"]
    assert by_task["vqav2_val"]["status"] == "INCOMPLETE" and not ok


def test_toy_run_without_data_root_uses_the_bundled_toy_data(cli: Cli, no_root: Path) -> None:
    res = cli("run", "--model", "infmllm-tiny-toy", "--tasks", "toy_vqa", "--limit", "3",
              "--output-dir", "out")
    assert res.code == 0, res.err
    assert "note: toy_vqa: the data root holds none of their files; used bundled: toy" in res.err
    (run_dir,) = (no_root / "out").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["tasks"]["toy_vqa"]["n_scored"] == 3
    assert metrics["tasks"]["toy_vqa"]["data_source"].startswith("bundled: toy data")
    config = json.loads((run_dir / "run.json").read_text())["config"]
    assert config["bundled_data"] == {"toy_vqa": "toy"} and config["data_root"] == "data"


def test_resume_refuses_when_the_data_root_now_holds_the_files(cli: Cli, no_root: Path) -> None:
    first = cli("run", *SCRIPTED, "--tasks", "toy_mme", "--limit", "4", "--output-dir", "out")
    assert first.code == 0, first.err
    (run_dir,) = (no_root / "out").iterdir()
    shutil.copytree(DATA_ROOT / "mme", no_root / "data" / "mme")
    res = cli("run", "--resume", str(run_dir))
    assert res.code == 2 and "bundled_data: {'toy_mme': 'toy'} -> {}" in res.err
    # the same command now names another run (its data differs): it does not resume this one
    again = cli("run", *SCRIPTED, "--tasks", "toy_mme", "--limit", "4", "--output-dir", "out")
    assert again.code == 0 and len(list((no_root / "out").iterdir())) == 2


def test_run_identity_of_runs_on_the_data_root_is_unchanged() -> None:
    config = RunConfig(model="m", tasks=("toy_vqa",), data_root="d", threads=3)
    legacy = {k: v for k, v in asdict(config).items()
              if k not in ("batch_size", "on_image_error", "threads", "bundled_data")}
    digest = hashlib.sha1(json.dumps(legacy, sort_keys=True, default=str).encode())
    assert run_identity(config) == digest.hexdigest()[:10]
    assert run_identity(RunConfig("m", ("toy_vqa",), "d", threads=1)) == run_identity(config)
    bundled = RunConfig("m", ("toy_vqa",), "d", bundled_data={"toy_vqa": "toy"})
    assert run_identity(bundled) != run_identity(config)


def test_without_java_the_other_tasks_are_scored_and_the_run_is_partial(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-java"))
    res = cli("run", *SCRIPTED, "--tasks", "toy_caption,toy_vqa", "--limit", "5",
              "--data-root", str(DATA_ROOT), "--output-dir", str(tmp_path / "out"))
    assert res.code == 2
    assert "toy_vqa" in res.out and "Traceback" not in res.err
    assert "not scored: toy_caption: Java not found on PATH" in res.err
    last = res.err.strip().splitlines()[-1]
    assert last.startswith("run partial: 1 of 2 tasks not scored (toy_caption)")
    (run_dir,) = (tmp_path / "out").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert list(metrics["tasks"]) == ["toy_vqa"]
    assert metrics["tasks"]["toy_vqa"]["n_scored"] == 5
    skipped = metrics["not_scored"]["toy_caption"]
    assert skipped["n_predictions"] == 5 and (run_dir / skipped["predictions"]).is_file()
    assert len(json.loads((run_dir / skipped["submission_file"]).read_text())) == 5
    monkeypatch.undo()  # Java is back (when installed): the rerun scores the kept answers
    if shutil.which("java") is None:
        pytest.skip("no Java here to score the rerun")
    again = cli("run", "--resume", str(run_dir))
    assert again.code == 0, again.err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "not_scored" not in metrics and set(metrics["tasks"]) == {"toy_caption", "toy_vqa"}
    assert metrics["tasks"]["toy_caption"]["n_scored"] == 5


def test_api_reports_tasks_not_scored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-java"))
    result = infmllm_eval.evaluate("scripted", ["toy_caption", "toy_mme"], data_root=DATA_ROOT,
                                   output_dir=tmp_path, limit=4,
                                   model_options={"default": "yes"}, threads=1)
    assert set(result.tasks) == {"toy_mme"}
    assert result.not_scored["toy_caption"].startswith("Java not found on PATH")


def test_threads_recorded_validated_and_free_on_resume(cli: Cli, tmp_path: Path) -> None:
    args = (*SCRIPTED, "--tasks", "toy_mme", "--limit", "3", "--data-root", str(DATA_ROOT),
            "--output-dir", str(tmp_path))
    assert cli("run", *args, "--threads", "0").code == 2
    assert cli("run", *args, "--threads", "3").code == 0
    (run_dir,) = tmp_path.iterdir()
    assert json.loads((run_dir / "run.json").read_text())["config"]["threads"] == 3
    res = cli("run", "--resume", str(run_dir), "--threads", "1")
    assert res.code == 0, res.err
    assert json.loads((run_dir / "run.json").read_text())["config"]["threads"] == 1
    with pytest.raises(BadInputError, match="--threads 0"):
        check_threads(0)


def test_default_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    assert default_threads() == 7 == check_threads(None)
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.setattr("os.getloadavg", lambda: (0.4, 0.0, 0.0))
    assert default_threads() == 4  # an idle machine: at most 4
    monkeypatch.setattr("os.getloadavg", lambda: (61.7, 0.0, 0.0))
    assert default_threads() == 3  # what the load leaves free
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr("os.getloadavg", lambda: (1.2, 0.0, 0.0))
    assert default_threads() == 1  # a busy 2-core machine: one thread
    monkeypatch.setattr("os.getloadavg", lambda: (7.0, 0.0, 0.0))
    assert default_threads() == 1
    monkeypatch.setattr("os.getloadavg", lambda: (0.9, 0.0, 0.0))
    assert default_threads() == 2


def test_apply_threads_sets_torch() -> None:
    import torch

    before = torch.get_num_threads()
    try:
        apply_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_bundled_roots_exist() -> None:
    assert BUNDLED_ROOTS == {"toy": DATA_ROOT} and DATA_ROOT.is_dir()


def test_a_run_with_no_task_scored_is_partial_too(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the caption task and no Java: the empty task list was taken for 'another rank
    reports', so the run exited 0 and printed nothing (found in review)."""
    monkeypatch.setenv("PATH", str(tmp_path / "no-java"))
    res = cli("run", *SCRIPTED, "--tasks", "toy_caption", "--limit", "3",
              "--data-root", str(DATA_ROOT), "--output-dir", str(tmp_path / "out"))
    assert res.code == 2, res.err
    assert res.err.strip().splitlines()[-1].startswith(
        "run partial: 1 of 1 tasks not scored (toy_caption)")
