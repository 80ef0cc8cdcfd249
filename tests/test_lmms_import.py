"""lmms-eval interoperability without lmms-eval: `import lmms-eval` (samples files in the
writer's formats, 0.3 to 0.7), the request bridge, and the optional extra staying optional."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from infmllm_eval.errors import BadInputError
from infmllm_eval.lmms.bridge import (
    generate_all,
    generation_from_kwargs,
    image_reference,
    make_request,
    trim,
    with_image,
)
from infmllm_eval.modeling.prompts import SHORT_ANSWER, get_style
from infmllm_eval.types import GenerationConfig, Request, Response
from tests.conftest import ROOT, CliResult

Cli = Callable[..., CliResult]
SAMPLES = ROOT / "tests" / "lmms_samples"
DEMO = ROOT / "infmllm_eval" / "demo" / "data"
TEXTVQA_073 = SAMPLES / "20260105_101500_samples_textvqa_val.jsonl"
VQAV2_073 = SAMPLES / "20260105_102000_samples_vqav2_val.jsonl"
VQAV2_035 = SAMPLES / "20240611_093000_samples_vqav2_val.jsonl"
OKVQA_073 = SAMPLES / "20260105_103000_samples_ok_vqa_val2014.jsonl"


def import_and_score(cli: Cli, tmp_path: Path, samples: Path, task: str,
                     *extra: str) -> dict[str, Any]:
    preds = tmp_path / f"{task}.jsonl"
    res = cli("import", "lmms-eval", str(samples), "--task", task, "--output", str(preds))
    assert res.code == 0, res.err
    metrics = tmp_path / f"{task}.metrics.json"
    res = cli("score", "--task", task, "--predictions", str(preds), "--data-root", str(DEMO),
              "--output", str(metrics), *extra)
    assert res.code == 0, res.err
    return dict(json.loads(metrics.read_text()))


def test_round_trip_textvqa_073(cli: Cli, tmp_path: Path) -> None:
    """lmms-eval 0.7 textvqa_val: ids from the submission record, every sample scored."""
    result = import_and_score(cli, tmp_path, TEXTVQA_073, "textvqa_val")
    assert result["metrics"]["accuracy"] == pytest.approx(75.0)
    assert result["n_missing"] == 0 and result["variant"]["normalization"] == "evalai"
    records = [json.loads(line) for line in (tmp_path / "textvqa_val.jsonl").open()]
    assert records[1] == {"id": 34603, "prediction": "Exit.", "lmms_doc_id": 1}  # raw, not
    # the submission's normalised "exit": our scorer applies the task's normalisation


def test_round_trip_vqav2_old_writer(cli: Cli, tmp_path: Path) -> None:
    """lmms-eval 0.3: the doc (with question_id) is in the file, responses nested."""
    result = import_and_score(cli, tmp_path, VQAV2_035, "vqav2_val", "--allow-partial")
    assert result["metrics"]["accuracy"] == pytest.approx(100.0)
    assert result["n_scored"] == 3 and result["partial"]


def test_round_trip_okvqa_image_name(cli: Cli, tmp_path: Path) -> None:
    result = import_and_score(cli, tmp_path, OKVQA_073, "okvqa_val", "--allow-partial")
    assert result["n_scored"] == 2 and result["metrics"]["accuracy"] == pytest.approx(100.0)


def test_import_reports_sources_and_default_output(cli: Cli, tmp_path: Path) -> None:
    samples = tmp_path / TEXTVQA_073.name
    samples.write_bytes(TEXTVQA_073.read_bytes())
    res = cli("import", "lmms-eval", str(samples), "--task", "textvqa_val")
    assert res.code == 0
    assert "8 from submission" in res.err and "lmms-eval task textvqa_val" in res.err
    assert (tmp_path / "20260105_101500_samples_textvqa_val.predictions.jsonl").is_file()


def test_raw_responses(cli: Cli, tmp_path: Path) -> None:
    lines = [json.loads(line) for line in VQAV2_035.open()]
    lines[0]["resps"] = [["The answer is red."]]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    out = tmp_path / "p.jsonl"
    assert cli("import", "lmms-eval", str(path), "--task", "vqav2_val", "--response", "raw",
               "--output", str(out)).code == 0
    assert json.loads(out.read_text().splitlines()[0])["prediction"] == "The answer is red."


def _bad(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad_samples.jsonl"
    path.write_text(text)
    return path


GOOD = {"doc_id": 0, "filtered_resps": "red", "submission": {"question_id": 4200001}}


@pytest.mark.parametrize(("text", "message"), [
    ("{not json\n", "malformed JSON on line 1"),
    ("[1, 2]\n", "line 1: expected an lmms-eval sample object, got list"),
    ('{"doc_id": 0}\n', "not an lmms-eval --log_samples record"),
    ('{"doc_id": "0", "filtered_resps": "x"}\n', "not an lmms-eval --log_samples record"),
    (json.dumps({**GOOD, "filtered_resps": ["a", "b"]}) + "\n", "holds 2 responses"),
    (json.dumps({**GOOD, "filtered_resps": None}) + "\n", "must be the response text"),
    (json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "doc_id": 1}) + "\n",
     "line 2: question_id 4200001 again (first on line 1)"),
    (json.dumps({**GOOD, "submission": {"question_id": True}}) + "\n",
     "must be an integer or string"),
    ("\n", "no samples in the file"),
])
def test_malformed_samples(cli: Cli, tmp_path: Path, text: str, message: str) -> None:
    res = cli("import", "lmms-eval", str(_bad(tmp_path, text)), "--task", "vqav2_val")
    assert res.code == 2
    assert message in res.err
    assert res.err.startswith("error:") and res.err.count("\n") == 1  # one line


def test_missing_ids_ask_for_the_dataset(cli: Cli) -> None:
    res = cli("import", "lmms-eval", str(VQAV2_073), "--task", "vqav2_val")
    assert res.code == 2
    assert "doc_id 0 carries no question_id" in res.err and "--dataset PATH" in res.err


@pytest.mark.parametrize(("args", "message"), [
    (["--task", "vqav2_vall"], "Did you mean 'vqav2_val'"),
    (["--task", "gqa_testdev_balanced"], "only VQA tasks"),
    (["--task", "vqav2_val", "--response", "final"], "--response 'final'"),
])
def test_bad_options(cli: Cli, args: list[str], message: str) -> None:
    res = cli("import", "lmms-eval", str(TEXTVQA_073), *args)
    assert res.code == 2 and message in res.err


def test_folder_and_missing_file(cli: Cli, tmp_path: Path) -> None:
    res = cli("import", "lmms-eval", str(tmp_path), "--task", "vqav2_val")
    assert res.code == 2 and "is a folder" in res.err
    res = cli("import", "lmms-eval", str(tmp_path / "nope.jsonl"), "--task", "vqav2_val")
    assert res.code == 2 and "nope.jsonl" in res.err


@pytest.mark.parametrize("args", [["import"], ["import", "lmms-eval"]])
def test_import_commands_have_help(cli: Cli, args: list[str]) -> None:
    res = cli(*args, "--help")
    assert res.code == 0 and "Usage" in res.out


def test_pyarrow_missing_is_one_clear_line(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    from infmllm_eval.data.lmms_hf import read_columns

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    (tmp_path / "validation-00000-of-00001.parquet").write_bytes(b"PAR1")
    with pytest.raises(BadInputError, match=r"needs pyarrow: pip install 'infmllm-eval\[lmms\]'"):
        read_columns(tmp_path, "validation", ("question_id",))


def test_core_does_not_import_lmms_eval() -> None:
    code = ("import sys, infmllm_eval.cli, infmllm_eval.lmms, infmllm_eval.lmms.samples, "
            "infmllm_eval.lmms.bridge, infmllm_eval.data.lmms_hf; "
            "assert 'lmms_eval' not in sys.modules and 'pyarrow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_packaging_declares_the_extra_and_the_entry_point() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '[project.entry-points."lmms_eval.models"]' in pyproject
    assert 'infmllm = "infmllm_eval.lmms:manifest"' in pyproject
    assert '"lmms-eval>=' in pyproject
    assert (ROOT / "infmllm_eval" / "lmms" / "tasks" / "infmllm_demo_vqav2.yaml").is_file()


# --- the request bridge (what the lmms-eval model class delegates to) ---

BASE = GenerationConfig(max_new_tokens=128)


def test_generation_kwargs() -> None:
    gen, until = generation_from_kwargs(
        {"max_new_tokens": 16, "temperature": 0, "top_p": None, "num_beams": 1,
         "until": ["ASSISTANT:"], "image_aspect_ratio": "pad"}, BASE, "t")
    assert gen == GenerationConfig(max_new_tokens=16) and until == ("ASSISTANT:",)
    gen, until = generation_from_kwargs({"temperature": 0.7, "until": "\n\n"}, BASE, "t")
    assert gen.do_sample and gen.temperature == 0.7 and until == ("\n\n",)
    gen, _ = generation_from_kwargs({"num_beams": 5, "length_penalty": 0.0,
                                     "max_new_tokens": 10}, BASE, "t")
    assert (gen.num_beams, gen.length_penalty, gen.max_new_tokens) == (5, 0.0, 10)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"repetition_penalty": 1.2}, "repetition_penalty are not supported"),
    ({"temperature": 0.7, "top_p": 0.9}, "top_p=0.9 sampling is not supported"),
    ({"max_new_tokens": "many"}, "max_new_tokens='many' is not a number"),
    ({"until": [1]}, "'until' must be a string or a list"),
])
def test_generation_kwargs_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        generation_from_kwargs(kwargs, BASE, "task t, doc 3")


def test_trim_at_the_first_stop_string() -> None:
    assert trim("red\n\nQuestion: x ASSISTANT: y", ["ASSISTANT:", "\n\n"]) == "red"
    assert trim("red", []) == "red"


def test_one_image_per_request() -> None:
    red = Image.new("RGB", (4, 4), (255, 0, 0))
    assert image_reference([red], "w") == image_reference(red.copy(), "w")
    assert image_reference([red], "w").startswith("data:image/png;base64,")
    with pytest.raises(BadInputError, match="exactly one image per request, the task gave 2"):
        image_reference([red, red], "task t, doc 1")
    with pytest.raises(BadInputError, match="gave 0 visual"):
        image_reference([], "w")
    with pytest.raises(BadInputError, match=r"\(str\)"):
        image_reference(["video.mp4"], "w")


def test_prompt_families() -> None:
    red = Image.new("RGB", (4, 4), (255, 0, 0))
    instruction = with_image(make_request("0", "Why?", lambda: [red], {}, BASE, "instruction",
                                          "w"))
    question = make_request("0", "Why?", lambda: [red], {}, BASE, "question", "w").request
    assert instruction.image == image_reference(red, "w") and question.image is None
    assert (instruction.family, instruction.fields) == ("instruction", {"text": "Why?"})
    assert (question.family, question.fields) == ("vqa", {"question": "Why?"})
    chat = get_style("chat")
    assert (chat.render({"text": f"Why?\n{SHORT_ANSWER}"})
            == chat.render({"question": "Why?"}))
    assert get_style("multitask").render({"text": "Why?"}).after == "Why?"


def test_batches_keep_order_and_group_settings() -> None:
    red = Image.new("RGB", (4, 4), (255, 0, 0))
    greedy, beams = {"max_new_tokens": 5}, {"max_new_tokens": 5, "num_beams": 3}
    fetched: list[int] = []

    def visuals(i: int) -> Callable[[], list[Image.Image]]:
        def fetch() -> list[Image.Image]:
            fetched.append(i)
            return [red]
        return fetch

    pending = [make_request(str(i), "q" * (i + 1), visuals(i), beams if i % 2 else greedy,
                            BASE, "instruction", "w") for i in range(7)]
    pending[0] = replace(pending[0], until=("STOP",))
    assert not fetched  # images are read batch by batch, not up front
    batches: list[list[str]] = []

    def generate(requests: list[Request]) -> list[Response]:
        assert all(r.image for r in requests)
        assert len(fetched) == sum(map(len, batches)) + len(requests)  # only this batch's
        batches.append([r.key for r in requests])
        return [Response(r.key, f"answer {r.key} STOP junk") for r in requests]

    texts = generate_all(pending, generate, 2, lambda r: len(r.fields["text"]))
    assert texts[0] == "answer 0" and texts[1:] == [f"answer {i} STOP junk" for i in range(1, 7)]
    assert all(len(b) <= 2 for b in batches)
    # settings in a fixed order (greedy's text sorts first), each cut by the engine's planner
    assert batches == [["6", "4"], ["2", "0"], ["5", "3"], ["1"]]
    assert sorted(key for b in batches for key in b) == sorted(str(i) for i in range(7))
    for batch in batches:  # one decoding setting per batch, longest prompt first
        assert len({int(k) % 2 for k in batch}) == 1
        assert [int(k) for k in batch] == sorted((int(k) for k in batch), reverse=True)
