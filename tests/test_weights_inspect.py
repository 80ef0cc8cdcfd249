"""`weights inspect` and `weights convert` on every tiny layout (issue 24).

The counts are checked against the reference state dict itself; the text output against
golden files (tests/golden/weights/*.txt; INFMLLM_EVAL_UPDATE_GOLDEN=1 rewrites them)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from infmllm_eval.modeling import checkpoint_sha256, load_state_dict
from tests import layouts
from tests.conftest import CONFORMANCE, CliResult

PARITY = CONFORMANCE / "infmllm_parity"
GOLDEN = Path(__file__).parent / "golden" / "weights"
PREFIXES = {"vit": "visual_encoder.", "ln_vision": "ln_vision.", "pooler": "pooler.",
            "llm": "lm_model.model.", "lm_head": "lm_model.lm_head."}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)
    return layouts.parity_world(tmp_path, monkeypatch, {
        "parity": {}, "parity_keymap": {"key_map": layouts.UNKNOWN_KEY_MAP}})


def _make(layout: str, world: dict[str, Any]) -> list[str]:
    """Write ``layout`` under the test folder; the arguments that name it (relative paths)."""
    state, tmp = world["state"], world["tmp"]
    if layout == "original":
        torch.save({"model_state_dict": state}, tmp / "ckpt.pth")
        return ["ckpt.pth"]
    if layout == "llava":
        layouts.release_folder(state, tmp / "chat", world["config"])
        return ["chat"]
    if layout == "llava-bin":
        layouts.release_folder(state, tmp / "chat", world["config"], kind="bin", shards=2)
        return ["chat"]
    if layout == "hf-llama":
        llm, vision = layouts.hf_llama(state)
        layouts.save_sharded(llm, tmp / "vicuna", 2)
        torch.save(vision, tmp / "vision.pth")
        return ["vicuna", "--vision-weights", "vision.pth", "--tokenizer", _tiny()]
    torch.save(layouts.unknown(state), tmp / "odd.pth")
    return ["odd.pth"]


def _tiny() -> str:
    from infmllm_eval.modeling.tokenizer import TINY_TOKENIZER

    return str(TINY_TOKENIZER)


LAYOUTS = ["original", "llava", "llava-bin", "hf-llama", "keymap"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_inspect_each_layout(cli: Callable[..., CliResult], world: dict[str, Any],
                             layout: str) -> None:
    args = _make(layout, world)
    model = "parity_keymap" if layout == "keymap" else "parity"
    res = cli("weights", "inspect", *args, "--model", model, "--json")
    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert report["layout"] == {"llava-bin": "llava", "hf-llama": "hf-llama + vision_weights",
                                "keymap": "original + key_map"}.get(layout, layout)
    for part, prefix in PREFIXES.items():  # counted from the reference state dict itself
        keys = [k for k in world["state"] if k.startswith(prefix)]
        assert report["parts"][part]["tensors"] == len(keys)
        assert report["parts"][part]["parameters"] == sum(world["state"][k].numel()
                                                          for k in keys)
        assert report["parts"][part]["dtypes"] == ["float32"]
    assert report["unplaced"] == [] and report["problems"] == []
    assert report["cards"][model]["fits"] is True
    assert report["tokenizer"]["pieces"] == 512
    text = cli("weights", "inspect", *args, "--model", model)
    assert text.code == 0, text.err
    golden = GOLDEN / f"{layout}.txt"
    shown = text.out.replace(_tiny(), "<tiny tokenizer>")
    if os.environ.get("INFMLLM_EVAL_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(shown)
    assert shown == golden.read_text()


def test_inspect_compares_every_card(cli: Callable[..., CliResult],
                                     world: dict[str, Any]) -> None:
    _make("llava", world)
    res = cli("weights", "inspect", "chat", "--json")
    report = json.loads(res.out)
    assert res.code == 0 and report["cards"]["parity"]["fits"]
    assert {"infmllm-7b", "infmllm-7b-chat", "infmllm-13b-chat"} <= set(report["cards"])
    assert "llm_hidden 128 in config.json vs 4096 in the card" in \
        report["cards"]["infmllm-7b-chat"]["reason"]
    assert report["config"]["llm_hidden"] == 128 and report["sizes"]["vit_depth"] == 2


def test_inspect_an_unusable_checkpoint(cli: Callable[..., CliResult],
                                        world: dict[str, Any]) -> None:
    _make("keymap", world)
    res = cli("weights", "inspect", "odd.pth")
    assert res.code == 2
    assert "layout      unknown" in res.out and "the EVA ViT not found" in res.out
    assert res.err.startswith("error: checkpoint odd.pth cannot be loaded: parts not found")
    wrong = cli("weights", "inspect", "/nonexistent/x.pth")
    assert wrong.code == 2 and "does not exist" in wrong.err and wrong.out == ""


@pytest.mark.parametrize("layout", ["llava", "hf-llama", "keymap"])
def test_convert_writes_the_canonical_folder(cli: Callable[..., CliResult],
                                             world: dict[str, Any], layout: str) -> None:
    args = _make(layout, world)
    model = "parity_keymap" if layout == "keymap" else "parity"
    res = cli("weights", "convert", *args, "canon", "--model", model, "--shard-size", "1MB",
              "--dtype", "bfloat16")
    assert res.code == 0, res.err
    canon = world["tmp"] / "canon"
    shards = sorted(canon.glob("model-*.safetensors"))
    assert len(shards) >= 2 and (canon / "tokenizer.model").is_file()
    config = json.loads((canon / "config.json").read_text())
    assert config.pop("model_type") == "infmllm-eval"
    loaded = load_state_dict(canon)
    assert set(loaded) == set(world["state"])
    for key, value in loaded.items():
        want = torch.float32 if key.startswith("ln_vision.") else torch.bfloat16
        assert value.dtype == want and torch.equal(value, world["state"][key].to(want)), key
    again = cli("weights", "inspect", "canon", "--model", "parity", "--json")
    assert again.code == 0 and json.loads(again.out)["layout"] == "original"
    assert checkpoint_sha256(canon) in res.out
    refused = cli("weights", "convert", *args, "canon", "--model", model)
    assert refused.code == 2 and "exists and is not an empty folder" in refused.err


def test_convert_refuses_bad_options(cli: Callable[..., CliResult],
                                     world: dict[str, Any]) -> None:
    args = _make("original", world)
    for extra, message in ((["--shard-size", "lots"], "expected a size such as 2GB"),
                           (["--dtype", "int8"], "expected one of float32"),
                           (["--model", "scripted"], "convert needs an InfMLLM card")):
        model = [] if "--model" in extra else ["--model", "parity"]
        res = cli("weights", "convert", *args, "out", *model, *extra)
        assert res.code == 2 and message in res.err, res.err
        assert not (world["tmp"] / "out").exists()
