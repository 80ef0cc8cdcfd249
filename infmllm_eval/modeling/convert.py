"""`weights convert`: write any supported layout as one canonical folder.

The folder holds the original key names in safetensors shards with an index, a config.json of
the card's architecture (``model_type: infmllm-eval``) and the tokenizer: later loads place it
directly, and its hash no longer depends on how the release was packed. It is written to a
temporary sibling folder and renamed when complete, so an interrupted conversion leaves no
half folder; one shard's tensors are in memory at a time."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

import torch

from infmllm_eval.cards import ModelCard
from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.jsonio import write_atomic
from infmllm_eval.modeling.arch_check import model_shapes
from infmllm_eval.modeling.checkpoint import checkpoint_sha256
from infmllm_eval.modeling.config import InfMLLMConfig
from infmllm_eval.modeling.weights import open_weights

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
INDEX = "model.safetensors.index.json"


def parse_size(text: str) -> int:
    """'2GB', '500MB', '1.5G', '123456' → bytes."""
    units = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9,
             "GB": 10**9, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30}
    upper = text.strip().upper()
    unit = "".join(c for c in upper if c.isalpha())
    try:
        value = float(upper[:len(upper) - len(unit)].strip()) * units[unit]
    except (ValueError, KeyError):
        raise BadInputError(f"--shard-size {shown(text)}: expected a size such as 2GB or "
                            "500MB") from None
    if not 10**6 <= value <= 10**12:
        raise BadInputError(f"--shard-size {shown(text)}: expected 1 MB to 1 TB")
    return int(value)


def convert(src: str, dst: Path, card: ModelCard, vision_weights: str | None = None,
            tokenizer: str | None = None, dtype: str | None = None,
            shard_bytes: int = 2 * 10**9,
            progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Convert ``src`` (+ ``vision_weights``) for ``card`` into the folder ``dst``; returns
    what was written (files, bytes, sha256)."""
    if dtype is not None and dtype not in DTYPES:
        raise BadInputError(f"--dtype {shown(dtype)}: expected one of {', '.join(DTYPES)}")
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise BadInputError(f"output {dst} exists and is not an empty folder; give a new folder")
    config = InfMLLMConfig.from_dict(dict(card.architecture), source=card.path)
    ws = open_weights(src, vision_weights, card.key_map, card.path, hash_now=False)
    ws.check(config, f"{card.name} ({card.path})", strict=True, interpolate_pos=False)
    from infmllm_eval.adapters.infmllm import tokenizer_for

    tok = tokenizer_for({"tokenizer": tokenizer or str(card.options.get("tokenizer", ""))}, src)
    if tok.vocab_size > config.vocab:
        raise BadInputError(f"tokenizer {tok.path} has {tok.vocab_size} pieces but the model's "
                            f"vocab is {config.vocab}")
    order = [key for key in model_shapes(config) if key in ws.placement.mapping]
    target = DTYPES[dtype] if dtype else None
    shards = _plan_shards(order, ws.tensors, ws.placement.mapping, target, shard_bytes)
    tmp = dst.with_name(f".{dst.name}.partial-{os.getpid()}")
    _remove_stale_partials(dst)
    try:
        tmp.mkdir(parents=True)
        weight_map = _write_shards(tmp, shards, ws.tensors, ws.placement.mapping, target,
                                   progress)
        total = sum((tmp / name).stat().st_size for name in set(weight_map.values()))
        if len(shards) > 1:
            index = {"metadata": {"total_size": total, "source": src,
                                  "source_layout": ws.placement.layout},
                     "weight_map": weight_map}
            write_atomic(tmp / INDEX, json.dumps(index, indent=1, sort_keys=True) + "\n")
        write_atomic(tmp / "config.json", json.dumps(
            {"model_type": "infmllm-eval", **config.to_dict()}, indent=1) + "\n")
        shutil.copyfile(tok.path, tmp / "tokenizer.model")
        if dst.exists():
            dst.rmdir()
        tmp.rename(dst)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BadInputError(f"cannot write {dst}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"output": str(dst), "files": sorted(p.name for p in dst.iterdir()),
            "tensors": len(order), "bytes": total, "source_layout": ws.placement.layout,
            "sha256": checkpoint_sha256(dst)}


def _remove_stale_partials(dst: Path) -> None:
    """Remove the temporary folders of conversions to ``dst`` whose process is gone (a
    conversion killed with SIGKILL cannot clean up after itself)."""
    try:
        siblings = list(dst.parent.glob(f".{glob_escape(dst.name)}.partial-*"))
    except OSError:
        return
    for folder in siblings:
        pid = folder.name.rpartition("-")[2]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (PermissionError, OverflowError):
            pass


def _plan_shards(order: list[str], tensors: dict[str, torch.Tensor], mapping: dict[str, str],
                 target: torch.dtype | None, shard_bytes: int) -> list[list[str]]:
    shards: list[list[str]] = [[]]
    size = 0
    for key in order:
        tensor = tensors[mapping[key]]
        width = torch.empty(0, dtype=target).element_size() if target and \
            not key.startswith("ln_vision.") else tensor.element_size()
        nbytes = tensor.numel() * width
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(key)
        size += nbytes
    return shards


def _write_shards(folder: Path, shards: list[list[str]], tensors: dict[str, torch.Tensor],
                  mapping: dict[str, str], target: torch.dtype | None,
                  progress: Callable[[str], None]) -> dict[str, str]:
    from safetensors.torch import save_file

    weight_map: dict[str, str] = {}
    for number, keys in enumerate(shards, 1):
        name = ("model.safetensors" if len(shards) == 1
                else f"model-{number:05d}-of-{len(shards):05d}.safetensors")
        part = {}
        for key in keys:
            tensor = tensors[mapping[key]]
            if target is not None and not key.startswith("ln_vision."):
                tensor = tensor.to(target)
            part[key] = tensor.contiguous()
        save_file(part, str(folder / name), metadata={"format": "pt"})
        del part
        weight_map.update(dict.fromkeys(keys, name))
        progress(f"wrote {name} ({number}/{len(shards)}, {len(keys)} tensors)")
    return weight_map
