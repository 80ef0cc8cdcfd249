"""The Python API: the README's example runs as written, and bad input raises."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import infmllm_eval
from infmllm_eval.adapters import ModelAdapter
from infmllm_eval.errors import BadInputError, UnknownNameError
from infmllm_eval.toy import DATA_ROOT

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    section = README.read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "the README's Python API section has no python example"
    return found.group(1)


def test_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # the example writes results/runs under the current folder
    scope: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(readme_example(), "README.md", "exec"), scope)
    result = scope["result"]
    assert isinstance(result, infmllm_eval.EvalResult)
    toy = result["toy_vqa"]
    assert toy.primary_metric == "accuracy" and toy.value == toy.metrics["accuracy"]
    assert toy.entry["n_samples"] == 20 and (result.run_dir / "metrics.json").is_file()
    mme = scope["mme"]
    assert isinstance(mme, infmllm_eval.EvalResult)
    # toy MME asks a yes and a no question of every image: all-yes gets acc 50, acc+ 0
    assert mme["toy_mme"].metrics["perception"] == 100.0
    assert mme.run_dir.name.startswith("always-yes-")
    scored = scope["scored"]
    assert isinstance(scored, infmllm_eval.TaskResult) and scored.entry["n_scored"] == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed[1] == str(mme["toy_mme"].metrics)


def test_score_matches_the_run_and_refuses_bad_input(tmp_path: Path) -> None:
    run = infmllm_eval.evaluate("infmllm-tiny-toy", "toy_vqa", data_root=DATA_ROOT,
                                output_dir=tmp_path, limit=8)
    again = infmllm_eval.score("toy_vqa", run.run_dir / "predictions" / "toy_vqa.jsonl",
                               data_root=DATA_ROOT, allow_partial=True)
    assert again.metrics == run["toy_vqa"].metrics
    with pytest.raises(UnknownNameError, match="toy_vqaa"):
        infmllm_eval.score("toy_vqaa", {}, data_root=DATA_ROOT)
    with pytest.raises(BadInputError, match="not in task toy_vqa"):
        infmllm_eval.score("toy_vqa", {"no-such-id": "red"}, data_root=DATA_ROOT)
    with pytest.raises(BadInputError, match="model_options apply to a model card"):
        infmllm_eval.evaluate(run_adapter(), "toy_vqa", data_root=DATA_ROOT,
                              output_dir=tmp_path, model_options={"x": 1})


def run_adapter() -> ModelAdapter:
    from infmllm_eval.adapters.scripted import ScriptedAdapter

    return ScriptedAdapter({}, default="red")
