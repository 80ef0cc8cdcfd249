"""Write one state dict (original key names) in the checkpoint layouts InfMLLM is released in.

The layouts follow shared/BENCHMARKS.md §1: the original ``visual_encoder.*`` names (.pth,
``model_state_dict``, ``module.``), the LLaVA-style chat class (``model.*`` LLaMA,
``model.vision_tower.*``, ``model.mm_projector.*``, ``lm_head`` on top; sharded with an index,
config.json, tokenizer.model), a plain HF LLaMA folder beside a vision checkpoint, and a
nesting the detection cannot place (for a card ``key_map``)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import Tensor

from infmllm_eval.modeling.tokenizer import TINY_TOKENIZER

State = dict[str, Tensor]


def _renamed(state: State, rules: list[tuple[str, str]]) -> State:
    out = {}
    for key, value in state.items():
        for old, new in rules:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out


def llava(state: State) -> State:
    """The chat release's names (the vision tower's inner nesting is a guess: any works)."""
    return _renamed(state, [("lm_model.model.", "model."), ("lm_model.lm_head.", "lm_head."),
                            ("visual_encoder.", "model.vision_tower.vision_tower."),
                            ("ln_vision.", "model.vision_tower.ln_vision."),
                            ("pooler.", "model.mm_projector.")])


def hf_llama(state: State) -> tuple[State, State]:
    """(a plain LlamaForCausalLM state dict, the ViT + ln_vision + pool adapter)."""
    llm = {k.removeprefix("lm_model."): v for k, v in state.items() if k.startswith("lm_model.")}
    vision = {k: v for k, v in state.items() if not k.startswith("lm_model.")}
    return llm, vision


#: a nesting the detection cannot place: the ViT's blocks and position embedding renamed
UNKNOWN_KEY_MAP = {r"^trunk\.resblocks\.": "visual_encoder.blocks.",
                   r"^trunk\.positional_embedding$": "visual_encoder.pos_embed",
                   r"^trunk\.": "visual_encoder."}


def unknown(state: State) -> State:
    """The ViT under 'trunk.' with 'resblocks' and 'positional_embedding' (needs key_map)."""
    out = {}
    for key, value in state.items():
        if key.startswith("visual_encoder."):
            key = "trunk." + key.removeprefix("visual_encoder.")
            key = key.replace("trunk.blocks.", "trunk.resblocks.").replace(
                "trunk.pos_embed", "trunk.positional_embedding")
        out[key] = value
    return out


def save_sharded(state: State, folder: Path, shards: int, kind: str = "safetensors") -> Path:
    """``state`` in ``shards`` files with an index (as the hub shards), in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = list(state)
    size = -(-len(keys) // shards)
    stem, suffix = ("model", "safetensors") if kind == "safetensors" else ("pytorch_model", "bin")
    weight_map = {}
    for i in range(shards):
        part = {k: state[k].contiguous() for k in keys[i * size:(i + 1) * size]}
        name = f"{stem}-{i + 1:05d}-of-{shards:05d}.{suffix}"
        if kind == "safetensors":
            save_file(part, str(folder / name), metadata={"format": "pt"})
        else:
            torch.save(part, folder / name)
        weight_map.update(dict.fromkeys(part, name))
    index = folder / f"{stem}.{suffix}.index.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return index


def hf_config(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A LLaVA-style config.json for a parity-sized model (HF LLaMA names + vision fields)."""
    out = {"architectures": ["InfMLLMLlamaForCausalLM"], "model_type": "infmllm",
           "hidden_size": config["llm_hidden"], "num_hidden_layers": config["llm_layers"],
           "num_attention_heads": config["llm_heads"], "num_key_value_heads": config["llm_heads"],
           "intermediate_size": config["llm_intermediate"], "vocab_size": config["vocab"],
           "rms_norm_eps": config.get("rms_norm_eps", 1e-6), "rope_theta": 10000.0,
           "max_position_embeddings": 4096, "bos_token_id": 1, "eos_token_id": 2,
           "image_size": config["image_size"], "pool_out_size": config["pool_out_size"],
           "mm_hidden_size": config["vit_width"], "torch_dtype": "float32", "rope_scaling": None}
    out.update(changes)
    return out


def parity_world(tmp: Path, monkeypatch: Any, cards: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The parity reference (or a skip saying why) and model cards for it in a folder on
    $INFMLLM_EVAL_CARD_PATH: name → {"architecture": changes, "key_map": rules}."""
    import pytest
    import yaml

    from infmllm_eval.modeling import load_state_dict
    from tests.conftest import CONFORMANCE

    parity = CONFORMANCE / "infmllm_parity"
    if not (parity / "config.json").is_file():
        pytest.skip(f"{parity} is not present (reference material lives outside the repository)")
    config = json.loads((parity / "config.json").read_text())
    folder = tmp / "cards" / "models"
    folder.mkdir(parents=True)
    for name, spec in cards.items():
        card = {"name": name, "adapter": "infmllm", "prompt_style": "multitask",
                "architecture": {**config, **spec.get("architecture", {})},
                "options": {"tokenizer": "tiny"}, "task_options": {"image_transform": "squash"},
                "key_map": spec.get("key_map", {})}
        # key_map rules apply in order (the first that matches): keep the card's order
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    monkeypatch.setenv("INFMLLM_EVAL_CARD_PATH", str(tmp / "cards"))
    return {"tmp": tmp, "config": config,
            "state": load_state_dict(parity / "original_format_checkpoint.pth")}


def release_folder(state: State, folder: Path, config: dict[str, Any],
                   layout: Callable[[State], State] = llava, shards: int = 3,
                   kind: str = "safetensors", **config_changes: Any) -> Path:
    """A chat-release-like folder: shards + index, config.json, tokenizer.model."""
    save_sharded(layout(state), folder, shards, kind)
    (folder / "config.json").write_text(json.dumps(hf_config(config, **config_changes)))
    shutil.copyfile(TINY_TOKENIZER / "tokenizer.model", folder / "tokenizer.model")
    return folder
