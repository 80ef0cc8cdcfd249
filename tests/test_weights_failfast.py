"""Bad weights stop `run` in one line (exit 2) before any model memory is allocated (issue 24).

Every case runs `infmllm-eval run` in-process with InfMLLM construction watched: a build on
the meta device (shape checks) costs nothing; any other build fails the test. The huge card
(~4 trillion parameters) would take 16 TB to build, so it proves the order on its own."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from infmllm_eval.modeling.model import InfMLLM
from infmllm_eval.modeling.tokenizer import TINY_TOKENIZER
from tests import layouts
from tests.conftest import CONFORMANCE, CliResult

PARITY = CONFORMANCE / "infmllm_parity"
HUGE = {"llm_hidden": 65536, "llm_intermediate": 262144, "llm_layers": 64, "llm_heads": 64,
        "vocab": 256000}


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Devices of every InfMLLM built while the test runs (meta builds are free)."""
    devices: list[str] = []
    original = InfMLLM.__init__

    def watched(self: InfMLLM, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        devices.append(self.lm_model.lm_head.weight.device.type)

    monkeypatch.setattr(InfMLLM, "__init__", watched)
    yield devices


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Model cards (parity-sized, huge, smaller vocabulary) and a chat-layout release folder."""
    world = layouts.parity_world(tmp_path, monkeypatch, {
        "parity": {}, "parity_huge": {"architecture": HUGE},
        "parity_vocab500": {"architecture": {"vocab": 500}},
        "parity_112": {"architecture": {"image_size": 112}}})
    world["release"] = layouts.release_folder(world["state"], tmp_path / "chat", world["config"])
    return world


def run(cli: Callable[..., CliResult], tmp: Path, model: str, *options: str) -> CliResult:
    args = ["run", "--model", model, "--tasks", "toy_vqa", "--limit", "2", "--output-dir",
            str(tmp / "runs")]
    for option in options:
        args += ["--model-option", option]
    return cli(*args)


def refused(res: CliResult, *parts: str) -> str:
    lines = [line for line in res.err.splitlines() if line.strip()
             and not line.startswith("progress: ")]
    assert res.code == 2, res.err
    assert len(lines) == 1 and lines[0].startswith("error: "), res.err
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def test_the_release_folder_runs(cli: Callable[..., CliResult], world: dict[str, Any],
                                 built: list[str]) -> None:
    res = run(cli, world["tmp"], "parity", f"weights={world['release']}")
    assert res.code == 0, res.err
    assert "cpu" not in built  # materialised from the checkpoint, never built with random init


@pytest.mark.parametrize("model", ["parity", "parity_huge"])
def test_a_wrong_path(cli: Callable[..., CliResult], world: dict[str, Any], built: list[str],
                      model: str) -> None:
    refused(run(cli, world["tmp"], model, "weights=/nonexistent/ckpt"),
            "checkpoint /nonexistent/ckpt does not exist")
    assert built == []


def test_a_card_far_too_large(cli: Callable[..., CliResult], world: dict[str, Any],
                              built: list[str]) -> None:
    """The release's config.json says hidden_size 128: the 4-trillion-parameter card is
    refused from it, naming both values, before anything is built."""
    refused(run(cli, world["tmp"], "parity_huge", f"weights={world['release']}"),
            "disagrees with model card parity_huge", "llm_hidden 128 in config.json vs 65536 in "
            "the card")
    assert built == []
    (world["release"] / "config.json").unlink()  # then the tensor shapes say it
    refused(run(cli, world["tmp"], "parity_huge", f"weights={world['release']}"),
            "does not fit model card parity_huge", "llm_hidden 128 in the checkpoint vs 65536")
    assert set(built) <= {"meta"}


def test_config_json_disagreeing_with_the_card(cli: Callable[..., CliResult],
                                               world: dict[str, Any], built: list[str]) -> None:
    path = world["release"] / "config.json"
    path.write_text(json.dumps(layouts.hf_config(world["config"], rms_norm_eps=1e-5,
                                                 pool_out_size=4)))
    refused(run(cli, world["tmp"], "parity", f"weights={world['release']}"),
            f"{path} disagrees with model card parity", "pool_out_size 4 in config.json vs 2",
            "rms_norm_eps 1e-05 in config.json vs 1e-06")
    assert built == []


@pytest.mark.parametrize("shard,problem", [("../outside.safetensors", "is outside the index's "
                                            "folder"), ("model-gone.safetensors",
                                                        "which does not exist")])
def test_index_naming_a_bad_shard(cli: Callable[..., CliResult], world: dict[str, Any],
                                  built: list[str], shard: str, problem: str) -> None:
    index = world["release"] / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    first = next(iter(data["weight_map"]))
    data["weight_map"][first] = shard
    index.write_text(json.dumps(data))
    shutil.copyfile(world["release"] / "model-00001-of-00003.safetensors",
                    world["tmp"] / "outside.safetensors")
    refused(run(cli, world["tmp"], "parity", f"weights={world['release']}"), problem)
    assert built == []


def test_a_tokenizer_larger_than_the_vocabulary(cli: Callable[..., CliResult],
                                                world: dict[str, Any], built: list[str]) -> None:
    refused(run(cli, world["tmp"], "parity_vocab500", f"weights={world['release']}"),
            "has 512 pieces but the model's vocab is 500")
    assert built == []


def test_another_image_size_needs_interpolate_pos(cli: Callable[..., CliResult],
                                                  world: dict[str, Any], built: list[str]
                                                  ) -> None:
    (world["release"] / "config.json").unlink()  # it states image_size 56 itself
    refused(run(cli, world["tmp"], "parity_112", f"weights={world['release']}"),
            "position embeddings are for 56x56 images but model card parity_112 (",
            "runs at 112x112", "interpolate_pos=true")
    assert set(built) <= {"meta"}
    res = run(cli, world["tmp"], "parity_112", f"weights={world['release']}",
              "interpolate_pos=true")
    assert res.code == 0, res.err


def test_a_padded_vocabulary_never_breaks_decoding(world: dict[str, Any]) -> None:
    """A model whose embedding matrix is larger than its tokenizer (vocab 640, 512 pieces) may
    generate ids the tokenizer lacks: they decode to nothing and are counted."""
    from infmllm_eval.adapters import create_adapter
    from infmllm_eval.cards import ModelCard
    from infmllm_eval.modeling.tokenizer import load_tokenizer

    tok = load_tokenizer(TINY_TOKENIZER)
    assert tok.decode([5, 600, 6, 639, tok.eos_id, 700]) == tok.decode([5, 6])
    assert tok.beyond([5, 600, 6, 639, tok.eos_id, 700]) == 2
    card = ModelCard(name="padded", adapter="infmllm", prompt_style="multitask",
                     architecture={**world["config"], "vocab": 640}, path="padded.yaml")
    adapter = create_adapter(card, {"init": "random", "tokenizer": "tiny"})
    head = adapter.model.lm_model.lm_head.weight  # type: ignore[attr-defined]
    with torch.no_grad():
        head[:600] = 0.0  # logits 0 for the tokenizer's ids: the padded rows win every step
    from infmllm_eval.types import GenerationConfig, Request

    image = str(sorted((Path(__file__).parent.parent / "infmllm_eval" / "demo").rglob(
        "*.jpg"))[0])
    out = adapter.generate([Request("a", image, "vqa", {"question": "What?"},
                                    GenerationConfig(max_new_tokens=5, min_new_tokens=1))])
    assert out[0].text == ""
    assert adapter.stats()["ids_beyond_tokenizer"] == 5  # type: ignore[attr-defined]
