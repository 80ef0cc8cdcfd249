"""Read InfMLLM checkpoints (.pth/.pt/.bin, .safetensors, sharded folders) and load them checked."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from infmllm_eval.errors import BadInputError
from infmllm_eval.modeling.eva_vit import interpolate_pos_embed

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
WRAPPER_KEYS = ("model_state_dict", "state_dict", "model")
DIR_CANDIDATES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                  "pytorch_model.bin.index.json")
POS_EMBED_KEY = "visual_encoder.pos_embed"
IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)  # recomputed buffers that old LLaMA dumps carry
_CHUNK = 1 << 20


def load_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a checkpoint file or folder, on CPU, with wrappers and `module.` removed."""
    path = Path(path).expanduser()
    if path.is_dir():
        for name in DIR_CANDIDATES:
            if (path / name).is_file():
                return load_state_dict(path / name)
        raise BadInputError(f"checkpoint folder {path} has none of {', '.join(DIR_CANDIDATES)}")
    if not path.is_file():
        raise BadInputError(f"checkpoint {path} does not exist")
    if path.name.endswith(".index.json"):
        raw: object = _load_sharded(path)
    elif path.suffix == ".safetensors":
        raw = _load_safetensors(path)
    elif path.suffix in TORCH_SUFFIXES:
        raw = _load_torch(path)
    else:
        raise BadInputError(f"checkpoint {path}: unknown file type (expected .pth, .pt, .bin, "
                            ".safetensors, a *.index.json or a folder)")
    return _normalize(raw, path)


def _load_torch(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True,
                          mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as exc:
        detail = re.search(r"(Unsupported (global|operand)[^\n]*|invalid load key[^\n]*)",
                           str(exc))
        raise BadInputError(
            f"checkpoint {path} was refused by torch.load(weights_only=True): it is not a plain "
            "tensor checkpoint (it may be a pickle with code, or not a PyTorch file)"
            + (f" [{detail.group(0).strip()}]" if detail else "")) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise BadInputError(f"checkpoint {path} cannot be read: {_first_line(exc)}") from exc


def _load_safetensors(path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError) as exc:
        raise BadInputError(f"checkpoint {path} is not a readable safetensors file: "
                            f"{_first_line(exc)}") from exc


def _load_sharded(index: Path) -> dict[str, Tensor]:
    """Merge the shards named by an index's weight_map (paths relative to the index)."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInputError(f"checkpoint index {index} has no readable weight_map: "
                            f"{_first_line(exc)}") from exc
    if not isinstance(weight_map, dict) or not weight_map:
        raise BadInputError(f"checkpoint index {index}: weight_map must be a non-empty object")
    merged: dict[str, Tensor] = {}
    for shard_name in sorted(set(map(str, weight_map.values()))):
        shard = index.parent / shard_name
        if not shard.is_file():
            raise BadInputError(f"checkpoint index {index} names shard {shard_name!r}, which "
                                "does not exist")
        if shard.suffix == ".safetensors":
            merged.update(_load_safetensors(shard))
        else:
            merged.update(_normalize(_load_torch(shard), shard))
    absent = [key for key in weight_map if key not in merged]
    if absent:
        raise BadInputError(f"checkpoint index {index}: {len(absent)} key(s) listed in weight_map "
                            f"are in no shard: {_few(absent)}")
    return merged


def _normalize(raw: object, path: Path) -> dict[str, Tensor]:
    """Unwrap model_state_dict/state_dict/model, check the entries, strip `module.`."""
    while isinstance(raw, Mapping):
        inner = next((raw[k] for k in WRAPPER_KEYS
                      if k in raw and isinstance(raw[k], Mapping)), None)
        if inner is None:
            break
        raw = inner
    if not isinstance(raw, Mapping):
        raise BadInputError(f"checkpoint {path} holds a {type(raw).__name__}, not a state dict")
    out: dict[str, Tensor] = {}
    for key, value in raw.items():
        if not isinstance(value, Tensor):
            raise BadInputError(f"checkpoint {path}: entry {key!r} is a {type(value).__name__}, "
                                "not a tensor")
        name = str(key).removeprefix("module.")
        if name in out:
            raise BadInputError(f"checkpoint {path}: key {name!r} appears twice once the "
                                "'module.' prefix is removed")
        out[name] = value
    if not out:
        raise BadInputError(f"checkpoint {path} holds no tensors")
    return out


@dataclass
class LoadReport:
    """What load_weights found: loaded keys and every difference from the model."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    interpolated: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every model key was loaded and nothing was left over."""
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        """One line naming the first few keys of each kind of difference, with counts."""
        parts = [f"{len(self.loaded)} loaded"]
        if self.missing:
            parts.append(f"{len(self.missing)} missing: {_few(self.missing)}")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected: {_few(self.unexpected)}")
        if self.mismatched:
            shapes = [f"{k} (checkpoint {list(a)} vs model {list(b)})"
                      for k, a, b in self.mismatched]
            parts.append(f"{len(self.mismatched)} shape mismatch(es): {_few(shapes)}")
        if self.interpolated:
            parts.append(f"interpolated: {_few(self.interpolated)}")
        return "; ".join(parts)


def load_weights(model: nn.Module, state_dict: Mapping[str, Tensor], strict: bool = True,
                 interpolate_pos: bool = True) -> LoadReport:
    """Compare `state_dict` with model.state_dict() and load it.

    A ViT pos_embed for another grid is bicubically resized when `interpolate_pos`.
    strict: any missing/unexpected/mis-shaped key raises BadInputError (nothing is loaded);
    otherwise the matching keys are loaded and the report says what was not.
    """
    own = model.state_dict()
    report = LoadReport()
    usable: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        if key not in own:
            (report.ignored if key.endswith(IGNORED_SUFFIXES) else report.unexpected).append(key)
            continue
        target = own[key]
        if (value.shape != target.shape and interpolate_pos and key.endswith(POS_EMBED_KEY)
                and value.dim() == 3 and value.shape[2] == target.shape[2]):
            side = round((target.shape[1] - 1) ** 0.5)
            value = interpolate_pos_embed(value, side)
            report.interpolated.append(key)
        if value.shape != target.shape:
            report.mismatched.append((key, tuple(value.shape), tuple(target.shape)))
            continue
        usable[key] = value
    report.loaded = list(usable)
    mismatched = {key for key, _, _ in report.mismatched}
    report.missing = [key for key in own if key not in usable and key not in mismatched]
    if strict and not report.ok:
        raise BadInputError(f"checkpoint does not match the model ({report.summary()})")
    result = model.load_state_dict(usable, strict=False)
    if result.unexpected_keys:  # cannot happen: every key was checked against state_dict()
        raise BadInputError(f"unexpected keys while loading: {_few(result.unexpected_keys)}")
    return report


def checkpoint_sha256(path: str | Path) -> str:
    """SHA-256 of a checkpoint file, or of a folder: each file's relative path, size and bytes,
    in sorted path order, streamed in 1 MiB chunks."""
    path = Path(path).expanduser()
    digest = hashlib.sha256()
    if path.is_file():
        for chunk in _chunks(path):
            digest.update(chunk)
    elif path.is_dir():
        files = sorted((p for p in path.rglob("*") if p.is_file()),
                       key=lambda p: p.relative_to(path).as_posix())
        if not files:
            raise BadInputError(f"checkpoint folder {path} is empty")
        for file in files:
            digest.update(f"{file.relative_to(path).as_posix()}\0{file.stat().st_size}\0"
                          .encode())
            for chunk in _chunks(file):
                digest.update(chunk)
    else:
        raise BadInputError(f"checkpoint {path} does not exist")
    return digest.hexdigest()


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def _few(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", … (+{len(items) - limit} more)" if len(items) > limit else "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
