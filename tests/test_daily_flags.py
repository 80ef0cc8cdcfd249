"""Issue 28, items 7-9: flags that were ignored or mis-handled, scripted re-scoring of a
multi-task run, and where `score` writes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infmllm_eval.adapters.scripted import create
from infmllm_eval.cards import ModelCard, generation_with
from infmllm_eval.catalog import resolve_task
from infmllm_eval.errors import BadInputError, CardError
from infmllm_eval.taskspec import build_task
from infmllm_eval.types import GenerationConfig, Request
from tests.conftest import CliResult

Cli = Callable[..., CliResult]

TOY = Path(__file__).resolve().parents[1] / "infmllm_eval" / "toy" / "data"
VQA_ANSWERS = TOY / "vqa" / "annotations.json"


def _run(cli: Cli, out: Path, name: str, *extra: str) -> Any:
    res = cli("run", "--data-root", str(TOY), "--tasks", "toy_vqa,toy_mme", "--limit", "10",
              "--output-dir", str(out), "--run-name", name, *extra)
    return res


def _metrics(run_dir: Path) -> dict[str, Any]:
    tasks = json.loads((run_dir / "metrics.json").read_text())["tasks"]
    return {name: entry["metrics"] for name, entry in tasks.items()}


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines()
             if line.strip() and not line.startswith("progress: ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]


# 7a -------------------------------------------------------------------------------------

def test_resume_refuses_limit_and_model(cli: Cli, tmp_path: Path) -> None:
    res = _run(cli, tmp_path, "r", "--model", "scripted", "--model-option", "default=yes")
    assert res.code == 0, res.err
    before = (tmp_path / "r" / "run.json").read_bytes()
    res = cli("run", "--resume", str(tmp_path / "r"), "--limit", "20", "--model", "infmllm-tiny")
    line = _one_error_line(res.err)
    assert res.code == 2 and "--model" in line and "--limit" in line
    assert "cannot be changed" in line
    assert (tmp_path / "r" / "run.json").read_bytes() == before


# 7b -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("setting", "says"), [
    ("temperature=0.7", "temperature=0.7 does nothing: decoding is greedy (do_sample=false)"),
    ("length_penalty=0.5", "length_penalty=0.5 does nothing: num_beams=1"),
])
def test_generation_setting_without_effect_is_refused(cli: Cli, tmp_path: Path, setting: str,
                                                      says: str) -> None:
    res = _run(cli, tmp_path, "g", "--model", "scripted", "--model-option", "default=yes",
               "--generation", setting)
    assert res.code == 2
    line = _one_error_line(res.err)
    assert "--generation" in line and says in line
    assert not (tmp_path / "g").exists()  # refused before any work


def test_generation_settings_with_effect_or_neutral_are_kept() -> None:
    gen = generation_with(GenerationConfig(), {"do_sample": "true", "temperature": "0.7"}, "w")
    assert gen.do_sample and gen.temperature == 0.7
    assert generation_with(GenerationConfig(), {"num_beams": 3, "length_penalty": 0.5},
                           "w").length_penalty == 0.5
    # neutral values: greedy spelled as temperature 0 (lmms-eval's habit), the defaults
    assert generation_with(GenerationConfig(), {"temperature": 0, "do_sample": False},
                           "w").temperature == 0
    assert generation_with(GenerationConfig(), {"length_penalty": 1.0}, "w").num_beams == 1
    with pytest.raises(CardError, match=r"temperature=2\.0 does nothing"):
        generation_with(GenerationConfig(num_beams=5), {"temperature": 2.0}, "w")


def test_only_the_settings_given_are_checked() -> None:
    """vqav2_val's card sets length_penalty 0 for its beam search: --generation num_beams=1
    turns beam search off, which is legal (the card's setting was not the user's)."""
    card = resolve_task("vqav2_val")
    assert card.generation.length_penalty == 0.0 and card.generation.num_beams == 5
    gen = generation_with(card.generation, {"num_beams": "1"}, "--generation")
    assert gen.num_beams == 1
    with pytest.raises(CardError, match=r"--generation: length_penalty=0\.0 does nothing"):
        generation_with(card.generation, {"num_beams": "1", "length_penalty": "0"},
                        "--generation")


# 7c -------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", ["", "\n\n", "[]"])
@pytest.mark.parametrize("partial", [False, True])
def test_empty_predictions_are_exit_2(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      content: str, partial: bool) -> None:
    monkeypatch.chdir(tmp_path)
    preds = tmp_path / "p.jsonl"
    preds.write_text(content)
    res = cli("score", "--task", "toy_vqa", "--data-root", str(TOY), "--predictions",
              str(preds), *(["--allow-partial"] if partial else []))
    assert res.code == 2
    assert f"--predictions {preds}: holds no predictions; nothing to score" in \
        _one_error_line(res.err)
    assert not (tmp_path / "p.metrics.json").exists()


# 7d -------------------------------------------------------------------------------------

def test_bare_command_prints_help_and_is_not_gate_failed(cli: Cli) -> None:
    res = cli()
    assert res.code == 2  # 1 means "gate failed"
    assert "Usage: infmllm-eval" in res.out and "run" in res.out and "score" in res.out


# 8 --------------------------------------------------------------------------------------

def test_scripted_rescoring_of_a_multi_task_run(cli: Cli, tmp_path: Path) -> None:
    first = _run(cli, tmp_path, "first", "--model", "scripted", "--model-option", "default=yes")
    assert first.code == 0, first.err
    answers = tmp_path / "first" / "predictions"
    again = _run(cli, tmp_path, "again", "--model", "scripted", "--model-option",
                 f"answers={answers}")
    assert again.code == 0, again.err
    assert _metrics(tmp_path / "again") == _metrics(tmp_path / "first")


def test_scripted_answers_each_task_from_its_own_file(cli: Cli, tmp_path: Path) -> None:
    """Ids of different tasks may coincide (toy_caption and toy_mmbench share 60): a task's
    own file answers it, whatever other files say about the same ids."""
    first = _run(cli, tmp_path, "first", "--model", "scripted", "--model-option", "default=no")
    assert first.code == 0, first.err
    folder = tmp_path / "answers"
    folder.mkdir()
    vqa = (tmp_path / "first" / "predictions" / "toy_vqa.jsonl").read_text()
    mme = (tmp_path / "first" / "predictions" / "toy_mme.jsonl").read_text()
    (folder / "toy_vqa.jsonl").write_text(vqa)
    clash = "".join(json.dumps({"id": json.loads(line)["id"], "prediction": "other"}) + "\n"
                    for line in vqa.splitlines())
    (folder / "toy_mme.jsonl").write_text(mme + clash)  # toy_vqa's ids, other answers
    again = _run(cli, tmp_path, "again", "--model", "scripted", "--model-option",
                 f"answers={folder}")
    assert again.code == 0, again.err
    assert _metrics(tmp_path / "again") == _metrics(tmp_path / "first")


def test_scripted_ids_answered_differently_need_the_tasks_own_file(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": 1, "prediction": "x"}\n')
    (tmp_path / "b.jsonl").write_text('{"id": 1, "prediction": "y"}\n'
                                      '{"id": 2, "prediction": "z"}\n')
    adapter = create(ModelCard(name="scripted", adapter="scripted"),
                     {"answers": str(tmp_path)})
    request = Request("1", None, "vqa", {}, GenerationConfig())
    for task, text in (("a", "x"), ("b", "y")):
        adapter.start_task(task)
        assert adapter.generate([request])[0].text == text
    adapter.start_task("c")  # no c.jsonl: ids all files agree on are answered
    assert adapter.generate([Request("2", None, "vqa", {}, GenerationConfig())])[0].text == "z"
    with pytest.raises(BadInputError, match="whose files answer it differently"):
        adapter.generate([request])


# 9 --------------------------------------------------------------------------------------

def test_score_writes_into_the_current_folder(cli: Cli, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Not next to the predictions (bundled ones live inside the installed package)."""
    data = tmp_path / "elsewhere"
    data.mkdir()
    spec = build_task(resolve_task("toy_vqa"), TOY, {}, {})
    assert spec.files["annotations"] == VQA_ANSWERS
    preds = data / "toy_vqa.jsonl"
    preds.write_text('{"id": 10100000, "prediction": "yellow"}\n')
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    res = cli("score", "--task", "toy_vqa", "--data-root", str(TOY), "--predictions", str(preds),
              "--allow-partial")
    assert res.code == 0, res.err
    assert json.loads((work / "toy_vqa.metrics.json").read_text())["n_scored"] == 1
    assert "wrote toy_vqa.metrics.json" in res.out
    assert sorted(p.name for p in data.iterdir()) == ["toy_vqa.jsonl"]
    out = tmp_path / "m.json"
    assert cli("score", "--task", "toy_vqa", "--data-root", str(TOY), "--predictions",
               str(preds), "--allow-partial", "--output", str(out)).code == 0
    assert json.loads(out.read_text())["n_scored"] == 1


def test_scripted_never_answers_a_task_from_another_tasks_file(tmp_path: Path) -> None:
    """A folder with toy_mme.jsonl but no toy_vqa.jsonl: toy_vqa's ids must not be answered
    from toy_mme's file even where the ids coincide (found in review)."""
    from infmllm_eval.adapters.scripted import ScriptedAdapter

    adapter = ScriptedAdapter({"1": "yes"}, per_task={"toy_mme": {"1": "yes"}})
    adapter.start_task("toy_vqa")
    request = Request("1", None, "vqa", {"question": "q"}, GenerationConfig())
    with pytest.raises(BadInputError, match=r"holds toy_mme\.jsonl, no toy_vqa\.jsonl"):
        adapter.generate([request])
    adapter.start_task("toy_mme")
    assert adapter.generate([request])[0].text == "yes"
