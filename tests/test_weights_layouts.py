"""Every supported checkpoint layout, built from the parity reference checkpoint, reproduces
the reference outputs through the adapter's lean loading (issue 24)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from infmllm_eval.adapters import create_adapter
from infmllm_eval.adapters.infmllm import InfMLLMAdapter
from infmllm_eval.cards import ModelCard
from infmllm_eval.commands import demo_root
from infmllm_eval.modeling import InfMLLM, InfMLLMConfig, load_state_dict, load_weights
from infmllm_eval.types import GenerationConfig, Request
from tests import layouts
from tests.conftest import CONFORMANCE

PARITY = CONFORMANCE / "infmllm_parity"


@pytest.fixture(scope="module")
def parity() -> dict[str, Any]:
    """The reference state dict, config and expected outputs, or a skip saying why."""
    if not (PARITY / "expected.pt").is_file():
        pytest.skip(f"{PARITY} is not present (reference material lives outside the repository)")
    return {"state": load_state_dict(PARITY / "original_format_checkpoint.pth"),
            "config": json.loads((PARITY / "config.json").read_text()),
            "expected": torch.load(PARITY / "expected.pt", weights_only=True)}


def card(config: dict[str, Any], key_map: dict[str, str | None] | None = None) -> ModelCard:
    return ModelCard(name="parity", adapter="infmllm", prompt_style="multitask",
                     architecture=dict(config), key_map=dict(key_map or {}),
                     task_options={"image_transform": "squash"}, path="parity.yaml")


def load(config: dict[str, Any], key_map: dict[str, str | None] | None = None,
         **options: str) -> InfMLLMAdapter:
    built = create_adapter(card(config, key_map), {"tokenizer": "tiny", **options})
    assert isinstance(built, InfMLLMAdapter)
    return built


@torch.no_grad()
def outputs(model: InfMLLM, expected: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Visual tokens and logits for the reference images and prompt (multitask assembly)."""
    tokens = model.encode_images(expected["images"])
    before, after = expected["token_ids_before"].tolist(), expected["token_ids_after"].tolist()
    embeds = torch.stack([model.assemble_multitask(before, t, after) for t in tokens])
    return tokens, model.forward_embeds(embeds, torch.ones(embeds.shape[:2], dtype=torch.long))


def _original_pth(state: layouts.State, tmp: Path) -> dict[str, str]:
    torch.save({"model_state_dict": {f"module.{k}": v for k, v in state.items()}},
               tmp / "ckpt.pth")
    return {"weights": str(tmp / "ckpt.pth")}


def _original_sharded(state: layouts.State, tmp: Path) -> dict[str, str]:
    return {"weights": str(layouts.save_sharded(state, tmp / "canon", 3).parent)}


def _llava_safetensors(state: layouts.State, tmp: Path) -> dict[str, str]:
    return {"weights": str(layouts.release_folder(state, tmp / "chat", CONFIG))}


def _llava_bin(state: layouts.State, tmp: Path) -> dict[str, str]:
    return {"weights": str(layouts.release_folder(state, tmp / "chat", CONFIG, kind="bin"))}


def _hf_llama_plus_vision(state: layouts.State, tmp: Path) -> dict[str, str]:
    llm, vision = layouts.hf_llama(state)
    folder = tmp / "vicuna"
    layouts.save_sharded(llm, folder, 2)
    torch.save(vision, tmp / "vision.pth")
    return {"weights": str(folder), "vision_weights": str(tmp / "vision.pth")}


def _prefixed(state: layouts.State, tmp: Path) -> dict[str, str]:
    save_file({f"base_model.model.{k}": v for k, v in state.items()}, str(tmp / "w.safetensors"))
    return {"weights": str(tmp / "w.safetensors")}


CONFIG: dict[str, Any] = {}
LAYOUTS: dict[str, tuple[Callable[[layouts.State, Path], dict[str, str]], str]] = {
    "original .pth, model_state_dict, module.": (_original_pth, "original"),
    "original names, 3 safetensors shards + index": (_original_sharded, "original"),
    "llava chat, safetensors shards, config.json": (_llava_safetensors, "llava"),
    "llava chat, .bin shards + index": (_llava_bin, "llava"),
    "HF LLaMA folder + vision_weights": (_hf_llama_plus_vision, "hf-llama + vision_weights"),
    "every key behind a prefix": (_prefixed, "custom"),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_layout_reproduces_the_reference(name: str, parity: dict[str, Any],
                                         tmp_path: Path) -> None:
    CONFIG.update(parity["config"])
    make, layout = LAYOUTS[name]
    adapter = load(parity["config"], **make(parity["state"], tmp_path))
    assert adapter.source is not None and adapter.source.placement.layout == layout
    assert adapter.load_summary == f"{len(parity['state'])} loaded"
    tokens, logits = outputs(adapter.model, parity["expected"])
    assert (tokens - parity["expected"]["visual_tokens"]).abs().max().item() <= 1e-5
    assert (logits - parity["expected"]["logits"]).abs().max().item() <= 1e-4


def test_unknown_nesting_needs_and_loads_through_a_key_map(parity: dict[str, Any],
                                                           tmp_path: Path) -> None:
    torch.save(layouts.unknown(parity["state"]), tmp_path / "odd.pth")
    with pytest.raises(Exception, match="the EVA ViT not found"):
        load(parity["config"], weights=str(tmp_path / "odd.pth"))
    adapter = load(parity["config"], layouts.UNKNOWN_KEY_MAP, weights=str(tmp_path / "odd.pth"))
    assert adapter.source is not None
    assert adapter.source.placement.layout == "original + key_map"
    tokens, logits = outputs(adapter.model, parity["expected"])
    assert (tokens - parity["expected"]["visual_tokens"]).abs().max().item() <= 1e-5
    assert (logits - parity["expected"]["logits"]).abs().max().item() <= 1e-4


def test_key_map_null_drops_a_tensor(parity: dict[str, Any], tmp_path: Path) -> None:
    state = {**parity["state"], "visual_encoder.head.weight": torch.zeros(3, 88)}
    torch.save(state, tmp_path / "extra.pth")
    with pytest.raises(Exception, match=r"1 unexpected: visual_encoder\.head\.weight"):
        load(parity["config"], weights=str(tmp_path / "extra.pth"))
    adapter = load(parity["config"], {r"^visual_encoder\.head\.": None},
                   weights=str(tmp_path / "extra.pth"))
    assert adapter.source is not None
    assert adapter.source.placement.ignored == ["visual_encoder.head.weight"]


def test_bf16_checkpoint_loads_as_the_old_path_loads_it(parity: dict[str, Any],
                                                        tmp_path: Path) -> None:
    """A bf16 release loaded in fp32 (one copy per tensor) equals the old path's model (fp32
    random init, load, nothing cast) exactly: the bf16 values are kept, not re-rounded."""
    halved = {k: v.to(torch.bfloat16) for k, v in parity["state"].items()}
    layouts.save_sharded(layouts.llava(halved), tmp_path / "bf16", 2)
    lean = load(parity["config"], weights=str(tmp_path / "bf16"), dtype="float32").model
    old = InfMLLM(InfMLLMConfig.from_dict(parity["config"])).eval()
    load_weights(old, {k: v.float() for k, v in halved.items()})
    assert all(torch.equal(a, b) for a, b in zip(lean.state_dict().values(),
                                                 old.state_dict().values(), strict=True))
    assert all(p.dtype == torch.float32 for p in lean.parameters())
    assert torch.equal(outputs(lean, parity["expected"])[1], outputs(old, parity["expected"])[1])


def test_bf16_generation_equals_the_old_way(parity: dict[str, Any], tmp_path: Path) -> None:
    """Greedy generation at batch 8 with a bf16 checkpoint loaded lean equals generation with
    the same weights loaded the old way (fp32 random init, load_state_dict, to_dtype)."""
    halved = {k: v.to(torch.bfloat16) for k, v in parity["state"].items()}
    layouts.release_folder(halved, tmp_path / "chat", parity["config"])
    lean = load(parity["config"], weights=str(tmp_path / "chat"), dtype="bfloat16")
    old = InfMLLM(InfMLLMConfig.from_dict(parity["config"]))
    load_weights(old, {k: v.float() for k, v in halved.items()})
    old = old.to_dtype(torch.bfloat16).eval()
    assert [k for k, v in lean.model.named_parameters() if v.dtype != torch.bfloat16] == \
        ["ln_vision.weight", "ln_vision.bias"]
    for (name, a), b in zip(lean.model.state_dict().items(), old.state_dict().values(),
                            strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b), name
    for name in ("inv_freq", "original_inv_freq"):
        assert torch.equal(getattr(lean.model.lm_model.model.rotary_emb, name),
                           getattr(old.lm_model.model.rotary_emb, name))
    images = sorted((demo_root() / "data" / "coco" / "val2014").glob("*.jpg"))
    greedy = GenerationConfig(max_new_tokens=8, min_new_tokens=1, num_beams=1)
    reqs = [Request(str(i), str(images[i % len(images)]), "vqa", {"question": q}, greedy)
            for i, q in enumerate(["What?", "How many circles?", "Is it red?", "Where?",
                                   "What colour is the square on the left?", "Why?", "Yes?",
                                   "Count the triangles in the picture."])]
    new_text = [r.text for r in lean.generate(reqs)]
    assert any(new_text) and len(set(new_text)) > 1  # real, differing answers are compared
    twin = load(parity["config"], weights=str(tmp_path / "chat"), dtype="bfloat16")
    twin.model = old
    assert new_text == [r.text for r in twin.generate(reqs)]


def test_to_dtype_keeps_ln_vision_values_in_fp32(parity: dict[str, Any]) -> None:
    model = InfMLLM(InfMLLMConfig.from_dict(parity["config"]))
    load_weights(model, parity["state"])
    model.to_dtype(torch.bfloat16)
    assert model.ln_vision.weight.dtype == torch.float32
    assert torch.equal(model.ln_vision.weight, parity["state"]["ln_vision.weight"])
    assert model.pooler.mlp[0].weight.dtype == torch.bfloat16
