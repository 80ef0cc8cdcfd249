"""`lmms-eval --model infmllm`: the entry-point manifest, the model class against our adapter,
and lmms-eval's own CLI on the bundled demo task, whose samples file is imported and scored."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

lmms_eval = pytest.importorskip(
    "lmms_eval", reason="lmms-eval is not installed: it is the optional extra "
    "infmllm-eval[lmms] (the lmms CI step installs it and runs these tests)")

from lmms_eval.api.instance import Instance  # noqa: E402

from infmllm_eval.adapters import create_adapter  # noqa: E402
from infmllm_eval.catalog import resolve_model, resolve_task  # noqa: E402
from infmllm_eval.errors import BadInputError  # noqa: E402
from infmllm_eval.lmms import TASKS_DIR, manifest  # noqa: E402
from infmllm_eval.lmms.demo_task import doc_to_text, doc_to_visual  # noqa: E402
from infmllm_eval.lmms.model import InfMLLM, UnsupportedRequestError  # noqa: E402
from infmllm_eval.taskspec import build_task, load_samples  # noqa: E402
from infmllm_eval.types import GenerationConfig, Request  # noqa: E402
from tests.conftest import ROOT, CliResult  # noqa: E402

Cli = Callable[..., CliResult]
DEMO = ROOT / "infmllm_eval" / "demo" / "data"
GREEDY = {"max_new_tokens": 6, "min_new_tokens": 1, "num_beams": 1, "until": ["\n\n"]}


def demo_docs() -> list[dict[str, Any]]:
    return list(json.loads((DEMO / "vqav2" / "v2_OpenEnded_mscoco_val2014_questions.json")
                           .read_text())["questions"])


def instances(docs: list[dict[str, Any]], kwargs: dict[str, Any]) -> list[Instance]:
    return [Instance("generate_until", (doc_to_text(doc), dict(kwargs), doc_to_visual, i,
                                        "demo", "val"),
                     idx=0, metadata={"task": "demo", "doc_id": i, "repeats": 1})
            for i, doc in enumerate(docs)]


def make_model(**args: Any) -> InfMLLM:
    model = InfMLLM(card="infmllm-tiny", **args)
    model.task_dict = {"demo": {"val": demo_docs()}}
    return model


def test_entry_point_registers_the_model() -> None:
    from lmms_eval.models import get_model, get_model_manifest

    assert manifest().simple_class_path == "infmllm_eval.lmms.model.InfMLLM"
    assert get_model_manifest("infmllm").model_id == "infmllm"
    assert get_model("infmllm") is InfMLLM


def test_same_answers_as_our_run_and_batch_invariant() -> None:
    """prompt=question renders the card's own VQA template: the answers equal the adapter's
    on the same samples, at batch size 1 and 4 (greedy, fp32)."""
    docs = demo_docs()[:6]
    samples = load_samples(build_task(resolve_task("vqav2_val"), DEMO), limit=6)
    adapter = create_adapter(resolve_model("infmllm-tiny"), {})
    gen = GenerationConfig(max_new_tokens=6)  # what GREEDY gives
    want = [r.text for r in adapter.generate(
        [Request(str(s.id), s.image, "vqa", {"question": s.fields["question"]}, gen)
         for s in samples])]
    for batch in (1, 4):
        got = make_model(prompt="question", batch_size=batch).generate_until(
            instances(docs, GREEDY))
        assert got == [w.split("\n\n")[0].strip() for w in want]


def test_instruction_prompt_and_model_args() -> None:
    model = InfMLLM.create_from_arg_string("card=infmllm-tiny,seed=0,attn=eager",
                                           {"batch_size": "2", "device": "cpu"})
    model.task_dict = {"demo": {"val": demo_docs()}}
    assert model.batch_size == 2 and model.device == "cpu" and model.prompt == "instruction"
    texts = model.generate_until(instances(demo_docs()[:3], GREEDY))
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)


def test_any_registered_adapter() -> None:
    """A card of another adapter (scripted: no device option, lmms-eval's --device is not
    passed on) answers through the same batching."""
    model = InfMLLM(card="scripted", default="a cat\n\njunk", batch_size=2, device="cuda")
    model.task_dict = {"demo": {"val": demo_docs()}}
    assert model.device == "cpu" and model.batch_size == 2
    assert model.generate_until(instances(demo_docs()[:3], GREEDY)) == ["a cat"] * 3
    assert model.adapter.calls == [2, 1]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("args", "message"), [
    ({"card": "scripted", "colour": "red"}, "unknown option"),
    ({"card": "infmllm-tiny", "prompt": "chat"}, "prompt='chat'"),
    ({"card": "infmllm-tiny", "colour": "red"}, "unknown option"),
    ({"card": "infmllm-tinyy"}, "Did you mean 'infmllm-tiny'"),
])
def test_bad_model_args(args: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        InfMLLM(**args)


def test_unsupported_requests_are_clear() -> None:
    model = make_model()
    with pytest.raises(UnsupportedRequestError, match="multi-round generation"):
        model.generate_until_multi_round([])
    with pytest.raises(UnsupportedRequestError, match="cannot score loglikelihood"):
        InfMLLM(card="scripted", default="a").loglikelihood([])
    bad = instances(demo_docs()[:1], {**GREEDY, "top_k": 5})
    with pytest.raises(BadInputError, match="task demo, doc 0: generation setting"):
        model.generate_until(bad)


@pytest.mark.slow
def test_lmms_eval_cli_round_trip(cli: Cli, tmp_path: Path) -> None:
    """lmms-eval's own CLI runs the tiny model on the demo task; its samples file imports and
    scores to lmms-eval's number, with the answers of `infmllm-eval run`."""
    exe = shutil.which("lmms-eval", path=str(Path(sys.executable).parent))
    assert exe, "the lmms-eval console script is not installed next to this Python"
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf")}
    subprocess.run([exe, "--model", "infmllm", "--model_args", "card=infmllm-tiny,prompt=question",
                    "--tasks", "infmllm_demo_vqav2", "--include_path", str(TASKS_DIR),
                    "--limit", "4", "--batch_size", "2", "--log_samples",
                    "--output_path", str(tmp_path / "lmms")], check=True, env=env,
                   cwd=tmp_path, capture_output=True)
    (samples,) = (tmp_path / "lmms").rglob("*_samples_infmllm_demo_vqav2.jsonl")
    (results,) = (tmp_path / "lmms").rglob("*_results.json")
    lmms_accuracy = json.loads(results.read_text())["results"]["infmllm_demo_vqav2"][
        "vqa_accuracy,none"]
    preds = tmp_path / "preds.jsonl"
    assert cli("import", "lmms-eval", str(samples), "--task", "vqav2_val", "--output",
               str(preds)).code == 0
    metrics = tmp_path / "m.json"
    assert cli("score", "--task", "vqav2_val", "--predictions", str(preds), "--data-root",
               str(DEMO), "--allow-partial", "--output", str(metrics)).code == 0
    assert json.loads(metrics.read_text())["metrics"]["accuracy"] == pytest.approx(lmms_accuracy)
    res = cli("run", "--model", "infmllm-tiny", "--tasks", "vqav2_val", "--data-root",
              str(DEMO), "--limit", "4", "--batch-size", "2", "--output-dir",
              str(tmp_path / "runs"), "--run-name", "ours")
    assert res.code == 0, res.err
    ours = (tmp_path / "runs" / "ours" / "predictions" / "vqav2_val.jsonl").read_text()
    theirs = [{"id": r["id"], "prediction": r["prediction"]}
              for r in map(json.loads, preds.read_text().splitlines())]
    assert [json.loads(line) for line in ours.splitlines()] == theirs
