"""The run loop: run directory contents, journal, resume, batch invariance, data check."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from infmllm_eval.adapters.scripted import ScriptedAdapter
from infmllm_eval.catalog import resolve_tasks
from infmllm_eval.commands import DEMO_TASKS, demo_root
from infmllm_eval.engine.journal import Journal
from infmllm_eval.engine.run import RunConfig, run_evaluation
from infmllm_eval.errors import BadInputError
from infmllm_eval.predictions import read_predictions
from infmllm_eval.taskspec import build_task
from infmllm_eval.types import Request, Response
from tests.conftest import CliResult

Cli = Callable[..., CliResult]
DATA = demo_root() / "data"


def demo_answers() -> dict[str, str]:
    answers: dict[str, str] = {}
    for path in (demo_root() / "predictions").glob("*.jsonl"):
        answers |= read_predictions(path).text
    return answers


def run_demo(run_dir: Path, adapter: ScriptedAdapter, batch_size: int = 8,
             tasks: str = "vqa", seed: int = 0) -> dict[str, object]:
    specs = [build_task(c, DATA) for c in resolve_tasks(tasks)]
    config = RunConfig(model="scripted", tasks=tuple(s.name for s in specs),
                       data_root=str(DATA), batch_size=batch_size, seed=seed)
    return run_evaluation(config, specs, adapter, run_dir)


def test_demo_command_writes_run_directory(cli: Cli, tmp_path: Path) -> None:
    res = cli("demo", "--replay", "--output-dir", str(tmp_path))
    assert res.code == 0, res.err
    (run_dir,) = tmp_path.iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert list(metrics["tasks"]) == list(DEMO_TASKS)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["config"]["tasks"] == list(DEMO_TASKS)
    assert set(run["cards"]) == set(DEMO_TASKS) and all(run["cards"].values())
    assert run["versions"]["infmllm-eval"] and run["model"]["adapter"] == "scripted"
    for task in DEMO_TASKS:
        saved = read_predictions(demo_root() / "predictions" / f"{task}.jsonl").text
        assert read_predictions(run_dir / "predictions" / f"{task}.jsonl").text == saved
        assert f"| {task} | accuracy |" in (run_dir / "summary.md").read_text()
    assert "vqav2_val" in res.out and "accuracy" in res.out


def test_scores_of_run_equal_score_command(cli: Cli, tmp_path: Path) -> None:
    metrics = run_demo(tmp_path / "r", ScriptedAdapter(demo_answers()), tasks="vqav2_val")
    preds = demo_root() / "predictions" / "vqav2_val.jsonl"
    out = tmp_path / "m.json"
    res = cli("score", "--task", "vqav2_val", "--data-root", str(DATA), "--predictions",
              str(preds), "--output", str(out))
    assert res.code == 0, res.err
    tasks = metrics["tasks"]
    assert isinstance(tasks, dict)
    assert json.loads(out.read_text())["metrics"] == tasks["vqav2_val"]["metrics"]


def test_batch_size_does_not_change_predictions(tmp_path: Path) -> None:
    one = ScriptedAdapter(demo_answers())
    run_demo(tmp_path / "b1", one, batch_size=1)
    run_demo(tmp_path / "b7", ScriptedAdapter(demo_answers()), batch_size=7)
    assert max(one.calls) == 1
    for task in ("vqav2_val", "okvqa_val", "textvqa_val", "gqa_testdev_balanced"):
        a = (tmp_path / "b1" / "predictions" / f"{task}.jsonl").read_bytes()
        assert a == (tmp_path / "b7" / "predictions" / f"{task}.jsonl").read_bytes()


def test_resume_skips_journaled_samples(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    first = run_demo(run_dir, ScriptedAdapter(demo_answers()))
    again = ScriptedAdapter(demo_answers())
    second = run_demo(run_dir, again)
    assert again.calls == []
    tasks_a, tasks_b = first["tasks"], second["tasks"]
    assert isinstance(tasks_a, dict) and isinstance(tasks_b, dict)
    for name, entry in tasks_a.items():
        assert entry["metrics"] == tasks_b[name]["metrics"]
        assert tasks_b[name]["throughput"]["resumed"] == entry["n_samples"]


class Crashing(ScriptedAdapter):
    """Dies (like a killed process) on its third call."""

    def generate(self, requests: list[Request]) -> list[Response]:
        if len(self.calls) == 2:
            raise KeyboardInterrupt
        return super().generate(requests)


def test_interrupted_run_keeps_finished_batches(tmp_path: Path) -> None:
    answers = demo_answers()
    with pytest.raises(KeyboardInterrupt):
        run_demo(tmp_path / "r", Crashing(answers), batch_size=4, tasks="vqav2_val")
    kept = Journal(tmp_path / "r" / "predictions" / "vqav2_val.jsonl").read()
    assert len(kept) == 8  # two batches of 4 were journaled before the crash
    resumed = ScriptedAdapter(answers)
    run_demo(tmp_path / "r", resumed, batch_size=4, tasks="vqav2_val")
    assert sum(resumed.calls) == 24 - len(kept)


def test_missing_answer_names_the_sample(tmp_path: Path) -> None:
    partial = {k: v for k, v in demo_answers().items() if k != "4200013"}
    with pytest.raises(BadInputError, match="sample 4200013: scripted model: no saved answer"):
        run_demo(tmp_path / "r", ScriptedAdapter(partial), batch_size=4, tasks="vqav2_val")


def test_torn_last_line_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"id": 1, "prediction": "a"}\n{"id": 2, "predic')
    journal = Journal(path)
    assert journal.read() == {"1": "a"}
    assert journal.dropped_torn_line
    assert path.read_text() == '{"id": 1, "prediction": "a"}\n'


def test_changed_configuration_is_refused(tmp_path: Path) -> None:
    run_demo(tmp_path / "r", ScriptedAdapter(demo_answers()), tasks="vqav2_val")
    # the batch size does not change outputs: resuming with another one is fine
    run_demo(tmp_path / "r", ScriptedAdapter(demo_answers()), batch_size=3, tasks="vqav2_val")
    with pytest.raises(BadInputError, match=r"seed: 0 -> 1.*--new-run"):
        run_demo(tmp_path / "r", ScriptedAdapter(demo_answers()), tasks="vqav2_val", seed=1)
    with pytest.raises(BadInputError, match="model answers_sha256 changed"):
        run_demo(tmp_path / "r", ScriptedAdapter({**demo_answers(), "4200001": "x"}),
                 tasks="vqav2_val")


def test_run_cli_bad_input(cli: Cli, tmp_path: Path) -> None:
    res = cli("run", "--model", "scripted", "--tasks", "vqav2", "--data-root", str(DATA),
              "--output-dir", str(tmp_path))
    assert res.code == 2 and "set --model-option answers=FILE_OR_DIR" in res.err
    res = cli("run", "--model", "scripted", "--tasks", "vqa2", "--output-dir", str(tmp_path))
    assert res.code == 2 and "Did you mean 'vqav2'" in res.err
    res = cli("run", "--model", "scripted", "--tasks", "vqav2", "--model-option",
              "default=yes", "--data-root", str(DATA), "--output-dir", str(tmp_path),
              "--limit", "5", "--run-name", "x")
    assert res.code == 0, res.err
    metrics = json.loads((tmp_path / "x" / "metrics.json").read_text())
    assert metrics["tasks"]["vqav2_val"]["n_samples"] == 5


def test_submission_task_in_run(tmp_path: Path) -> None:
    qfile = DATA / "vqav2" / "v2_OpenEnded_mscoco_val2014_questions.json"
    card = resolve_tasks("vqav2_testdev")[0]
    spec = build_task(card, DATA, {"questions": str(qfile)})
    config = RunConfig(model="scripted", tasks=(spec.name,), data_root=str(DATA))
    metrics = run_evaluation(config, [spec], ScriptedAdapter({}, default="yes"), tmp_path / "r")
    entry = metrics["tasks"]["vqav2_testdev"]
    submission = json.loads((tmp_path / "r" / entry["submission"]).read_text())
    assert len(submission) == 24 and submission[0]["answer"] == "yes"


def test_data_check(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    res = cli("data", "check", "--data-root", str(DATA), "--tasks", "vqav2_val,textvqa_val")
    assert res.code == 2  # the demo sets are far smaller than the official splits
    assert "24 / 214,354" in res.out and "8 / 5,000" in res.out
    monkeypatch.chdir(tmp_path)  # a short data root path: never wrapped in the table
    Path("data/gqa/images").mkdir(parents=True)  # the root holds some of its files: none of
    res = cli("data", "check", "--data-root", "data", "--tasks", "gqa")  # the bundled ones
    assert res.code == 2 and "bundled" not in res.out
    assert "data/gqa/testdev_balanced_questions.json" in res.out
