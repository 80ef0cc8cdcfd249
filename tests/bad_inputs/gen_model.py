"""Generators for tests/bad_inputs/cases_model.json (merged into generators.GENERATORS):
checkpoints of the infmllm-tiny model card that load nothing, or leave a component empty,
hold tensors of the wrong kind, and sharded indexes that point outside their folder."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _tiny_state() -> dict[str, Any]:
    from infmllm_eval.cards import model_cards
    from infmllm_eval.modeling import InfMLLM, InfMLLMConfig

    card = model_cards()["infmllm-tiny"]
    return {k: v.clone() for k, v in
            InfMLLM(InfMLLMConfig.from_dict(dict(card.architecture))).state_dict().items()}


def _save(state: dict[str, Any], out: str) -> None:
    import torch

    if out.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, out)
    else:
        torch.save({"model_state_dict": state}, out)


def model_tiny_checkpoint(out: str, change: str, key: str = "") -> None:
    """The infmllm-tiny state dict, changed: ``prefix`` (every key behind ``key``, e.g.
    'base_model.'), ``rename`` (no key matches), ``drop`` (the keys starting with ``key``
    removed), ``int64``/``bool``/``complex64`` (tensor ``key`` cast to that dtype), ``quantized``
    / ``sparse`` / ``meta`` (tensor ``key`` replaced by such a tensor, same shape), or ``none``.
    Saved as .pth (wrapped in model_state_dict) or .safetensors after the suffix of ``out``."""
    import torch

    state = _tiny_state()
    if change == "prefix":
        state = {key + k: v for k, v in state.items()}
    elif change == "rename":
        state = {f"layer{i}.weight": v for i, v in enumerate(state.values())}
    elif change == "drop":
        state = {k: v for k, v in state.items() if not k.startswith(key)}
    elif change in ("int64", "bool", "complex64"):
        state[key] = state[key].to(getattr(torch, change))
    elif change == "quantized":
        with warnings.catch_warnings():  # quantized tensors are deprecated: still loadable
            warnings.simplefilter("ignore")
            state[key] = torch.quantize_per_tensor(state[key].float(), 0.1, 0, torch.qint8)
    elif change == "sparse":
        state[key] = state[key].to_sparse()
    elif change == "meta":
        state[key] = torch.empty(state[key].shape, device="meta")
    elif change != "none":
        raise ValueError(f"unknown change {change!r}")
    _save(state, out)


def model_sharded_index(out: str, shard: str, duplicate: str = "") -> None:
    """A sharded safetensors checkpoint of infmllm-tiny: the index ``out`` and two shards. The
    first shard is written at ``shard`` (relative to the index's folder, or absolute) and named
    so in the weight_map, e.g. '../outside.safetensors'; with ``duplicate`` the second shard
    holds the first shard's tensors too."""
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in _tiny_state().items()}
    keys = list(state)
    folder = Path(out).parent
    folder.mkdir(parents=True, exist_ok=True)
    first, second = keys[: len(keys) // 2], keys[len(keys) // 2:]
    target = Path(shard) if Path(shard).is_absolute() else folder / shard
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: state[k] for k in first}, str(target))
    save_file({k: state[k] for k in (keys if duplicate else second)},
              str(folder / "model-00002-of-00002.safetensors"))
    weight_map = {k: shard for k in first} | {k: "model-00002-of-00002.safetensors"
                                              for k in second}
    Path(out).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}),
                         encoding="utf-8")


def model_sparse_file(out: str, size: str) -> None:
    """A sparse file of ``size`` bytes (all zeros, next to no disk space)."""
    with open(out, "wb") as handle:
        handle.truncate(int(size))


GENERATORS: dict[str, Callable[..., None]] = {
    "model_tiny_checkpoint": model_tiny_checkpoint,
    "model_sharded_index": model_sharded_index,
    "model_sparse_file": model_sparse_file,
}
