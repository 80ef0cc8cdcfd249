"""Open released InfMLLM weights, check them against a model card, and build the model.

``open_weights`` reads headers only (tensors are memory-mapped), finds the parts (layout.py)
and the config.json beside them; ``WeightSet.check`` compares both with the card
(arch_check.py) — all before any model memory is allocated; ``WeightSet.build`` then
materialises each tensor once in its target dtype and device (lean.py). A second checkpoint
(``vision_weights``) can hold the ViT, ln_vision and pool adapter beside a plain HF LLaMA."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from infmllm_eval.errors import BadInputError
from infmllm_eval.modeling.arch_check import (
    ShapeCheck,
    check_shapes,
    compare_config,
    config_json_path,
    read_config_values,
)
from infmllm_eval.modeling.checkpoint import Checkpoint, read_checkpoint
from infmllm_eval.modeling.config import InfMLLMConfig
from infmllm_eval.modeling.layout import Placement, compile_key_map, few, place
from infmllm_eval.modeling.lean import build_lean, build_random
from infmllm_eval.modeling.loading import load_weights
from infmllm_eval.modeling.model import InfMLLM


@dataclass
class WeightSet:
    """One checkpoint (or an LLM folder plus a vision checkpoint), opened and placed."""

    location: str
    checkpoints: list[Checkpoint]
    tensors: dict[str, Tensor]
    placement: Placement
    config_path: Path | None = None
    config_values: dict[str, Any] = field(default_factory=dict)
    shapes: ShapeCheck | None = None

    @property
    def files(self) -> list[Path]:
        """Every file the tensors come from (indexes included)."""
        return [file for ckpt in self.checkpoints for file in ckpt.files]

    @property
    def sha256(self) -> str:
        """The checkpoint's hash; with a vision checkpoint, the hash of both hashes."""
        if len(self.checkpoints) == 1:
            return self.checkpoints[0].sha256
        text = "\n".join(f"{ckpt.files[0].name}:{ckpt.sha256}" for ckpt in self.checkpoints)
        return hashlib.sha256(text.encode()).hexdigest()

    def cancel(self) -> None:
        """Stop hashing (the weights were refused)."""
        for ckpt in self.checkpoints:
            ckpt.cancel()

    def check(self, config: InfMLLMConfig, card: str, strict: bool,
              interpolate_pos: bool) -> ShapeCheck:
        """Refuse weights that do not fit the card (see the module doc); with ``strict``,
        anything left over, missing or of another shape is refused too."""
        source = f"checkpoint {self.location}"
        if strict or self.placement.problems:
            self.placement.check(source)
        if self.config_path is not None:
            compare_config(config, self.config_values, self.config_path, card)
        self.shapes = check_shapes(config, self.tensors, self.placement, card, source,
                                   interpolate_pos)
        if strict and not self.shapes.ok:
            raise BadInputError(f"{source} does not match the model ({self.shapes.summary()});"
                                " --model-option strict=false loads the matching tensors")
        return self.shapes

    def build(self, config: InfMLLMConfig, device: torch.device, dtype: torch.dtype,
              attn: str, seed: int) -> tuple[InfMLLM, str]:
        """The loaded model and a one-line summary of the load (call ``check`` first)."""
        source = f"checkpoint {self.location}"
        shapes = self.shapes or ShapeCheck()
        extra = set(shapes.extra)
        if shapes.ok or not (shapes.missing or shapes.mismatched):
            mapping = {c: k for c, k in self.placement.mapping.items() if c not in extra}
            placed = Placement(mapping=mapping)
            model = build_lean(config, self.tensors, placed, device, dtype, attn, source)
            summary = f"{len(mapping)} loaded"
            if extra or self.placement.unplaced:
                summary += (f"; {len(extra) + len(self.placement.unplaced)} unexpected: "
                            f"{few(sorted(extra) + self.placement.unplaced)}")
                _warn_partial(self.location, summary)
            return model, summary
        # strict=false with tensors missing or of another shape: they keep a seeded random
        # init, so the model is built the old way (fp32, load, then moved and cast)
        model = build_random(config, torch.device("cpu"), torch.float32, attn, seed)
        renamed = {c: self.tensors[k] for c, k in self.placement.mapping.items()}
        report = load_weights(model, renamed, strict=False,
                              interpolate_pos=shapes.interpolate, source=self.location)
        report.unexpected += self.placement.unplaced
        _warn_partial(self.location, report.summary())
        model = model.to(device)
        return (model.to_dtype(dtype) if dtype != torch.float32 else model).eval(), \
            report.summary()


def _warn_partial(location: str, summary: str) -> None:
    print(f"warning: checkpoint {location} loaded partially (strict=false): {summary}",
          file=sys.stderr)


def open_weights(weights: str, vision_weights: str | None = None,
                 key_map: Mapping[str, str | None] | None = None, card_path: str = "",
                 hash_now: bool = True) -> WeightSet:
    """Open ``weights`` (file, folder, index) and ``vision_weights``, read headers, find the
    parts. A wrong path, an unreadable header, a bad shard or index: BadInputError at once."""
    checkpoints = [read_checkpoint(weights, hash_now)]
    try:
        if vision_weights:
            checkpoints.append(read_checkpoint(vision_weights, hash_now))
        tensors = dict(checkpoints[0].tensors)
        if len(checkpoints) > 1:
            both = sorted(set(tensors) & set(checkpoints[1].tensors))
            if both:
                raise BadInputError(f"checkpoint {weights} and vision_weights {vision_weights} "
                                    f"both hold {len(both)} tensor(s): {few(both)}; give each "
                                    "part once")
            tensors.update(checkpoints[1].tensors)
        rules = compile_key_map(key_map or {}, card_path or "model card")
        placement = place(tensors, rules, source=f"checkpoint {weights}")
        placement.two_files = len(checkpoints) > 1
        config_path = config_json_path(Path(weights).expanduser())
        values = read_config_values(config_path) if config_path else {}
    except BaseException:
        for ckpt in checkpoints:
            ckpt.cancel()
        raise
    return WeightSet(weights, checkpoints, tensors, placement, config_path, values)
