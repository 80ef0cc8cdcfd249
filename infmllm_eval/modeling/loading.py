"""Load checkpoint tensors into a model, checked key by key (see checkpoint.py for reading)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor, nn

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.modeling.checkpoint import (
    Checkpoint,
    _few,
    _name,
    checkpoint_sha256,
    load_state_dict,
    read_checkpoint,
)
from infmllm_eval.modeling.eva_vit import interpolate_pos_embed
from infmllm_eval.modeling.layout import IGNORED_SUFFIXES

__all__ = ["COMPONENTS", "Checkpoint", "LoadReport", "checkpoint_sha256", "load_state_dict",
           "load_weights", "read_checkpoint"]

POS_EMBED_KEY = "visual_encoder.pos_embed"


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


#: the parts of the model, by state-dict prefix: each must get at least one tensor from a
#: checkpoint, or it would silently keep its random initialization
COMPONENTS = {"visual_encoder": "the ViT (visual_encoder.*)", "ln_vision": "ln_vision",
              "pooler": "the pool adapter (pooler.*)", "lm_model": "the LLM (lm_model.*)"}


def load_weights(model: nn.Module, state_dict: Mapping[str, Tensor], strict: bool = True,
                 interpolate_pos: bool = True, source: str | Path = "") -> LoadReport:
    """Compare `state_dict` with model.state_dict() and load it.

    A ViT pos_embed for another grid is bicubically resized when `interpolate_pos`.
    strict: any missing/unexpected/mis-shaped key raises BadInputError (nothing is loaded);
    otherwise the matching keys are loaded and the report says what was not. Strict or not, a
    checkpoint that leaves a whole component (see COMPONENTS) without a tensor, or that holds a
    non-floating-point tensor (bool, integer, complex) for a floating-point weight, is refused.
    `source` (the checkpoint's path) is named in the messages.
    """
    where = f"checkpoint {source}" if source else "checkpoint"
    own = model.state_dict()
    report = LoadReport()
    usable: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        if key not in own:
            (report.ignored if key.endswith(IGNORED_SUFFIXES) else report.unexpected).append(key)
            continue
        target = own[key]
        if target.is_floating_point() and not value.is_floating_point():
            raise BadInputError(f"{where}: tensor {_name(key)} has dtype "
                                f"{str(value.dtype).removeprefix('torch.')}, but the model's "
                                f"weight is {str(target.dtype).removeprefix('torch.')}; bool, "
                                "integer and complex tensors are not weights (save the "
                                "checkpoint in float32, float16 or bfloat16)")
        if (value.shape != target.shape and interpolate_pos and key.endswith(POS_EMBED_KEY)
                and value.dim() == 3 and value.shape[0] == 1 and value.shape[1] >= 2
                and value.shape[2] == target.shape[2]):
            side = round((target.shape[1] - 1) ** 0.5)
            try:
                value = interpolate_pos_embed(value, side)
            except BadInputError as exc:
                raise BadInputError(f"{where}: {key}: {exc}") from None
            report.interpolated.append(key)
        if value.shape != target.shape:
            report.mismatched.append((key, tuple(value.shape), tuple(target.shape)))
            continue
        usable[key] = value
    report.loaded = list(usable)
    mismatched = {key for key, _, _ in report.mismatched}
    report.missing = [key for key in own if key not in usable and key not in mismatched]
    parts = {key.split(".", 1)[0] for key in own}
    empty = [name for prefix, name in COMPONENTS.items() if prefix in parts
             and not any(key.startswith(prefix + ".") for key in usable)]
    if empty:
        examples = f" (e.g. {_few(report.unexpected, 2)})" if report.unexpected else ""
        raise BadInputError(
            f"{where}: no tensor for {', '.join(empty)}, which would keep random weights: "
            f"{len(usable)} of {len(own)} model tensors loaded, {len(report.mismatched)} of "
            f"another shape, {len(report.unexpected)} checkpoint keys unknown to the model"
            f"{examples}{_prefix_hint(report.unexpected, own)}; use a checkpoint of this model "
            "(strict=false does not allow a component without weights)")
    if strict and not report.ok:
        raise BadInputError(f"{where} does not match the model ({report.summary()}); "
                            "--model-option strict=false loads the matching tensors")
    result = model.load_state_dict(usable, strict=False)
    if result.unexpected_keys:  # cannot happen: every key was checked against state_dict()
        raise BadInputError(f"unexpected keys while loading: {_few(result.unexpected_keys)}")
    return report


def _prefix_hint(unexpected: list[str], own: Mapping[str, Tensor]) -> str:
    """' (the keys carry an extra prefix 'X.')' when unexpected keys are model keys behind a
    common prefix, else ''."""
    counts: dict[str, int] = {}
    for key in unexpected[:200]:
        parts = key.split(".")
        for i in range(1, len(parts)):
            if ".".join(parts[i:]) in own:
                prefix = ".".join(parts[:i]) + "."
                counts[prefix] = counts.get(prefix, 0) + 1
                break
    if not counts:
        return ""
    prefix = max(counts, key=lambda p: counts[p])
    return f"; its keys carry an extra prefix {shown(prefix)} (save the state dict without it)"
