"""Cross-check a model card's architecture with a checkpoint: its config.json and its shapes.

Both checks run on headers only, before any model memory is allocated; a disagreement stops the
run in one line naming both values."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from infmllm_eval.errors import BadInputError, shown
from infmllm_eval.jsonio import read_json
from infmllm_eval.modeling.config import InfMLLMConfig
from infmllm_eval.modeling.layout import Placement, derived_sizes, few

#: config.json key → card field. HF LLaMA names, the LLaVA-style chat fields, and the card's
#: own names (what `weights convert` writes and the parity reference uses).
CONFIG_KEYS = {
    "hidden_size": "llm_hidden", "num_hidden_layers": "llm_layers",
    "num_attention_heads": "llm_heads", "num_key_value_heads": "llm_kv_heads",
    "intermediate_size": "llm_intermediate", "vocab_size": "vocab",
    "mm_hidden_size": "vit_width", "bos_token_id": "bos_id", "eos_token_id": "eos_id",
    **{name: name for name in ("image_size", "patch_size", "pool_out_size", "rms_norm_eps",
                               "rope_theta", "max_position_embeddings", "vit_width", "vit_depth",
                               "vit_heads", "vit_mlp_ratio", "vit_ln_eps", "ln_vision_eps",
                               "llm_hidden", "llm_layers", "llm_heads", "llm_kv_heads",
                               "llm_intermediate", "vocab", "bos_id", "eos_id", "pad_id")},
}
MAX_CONFIG_BYTES = 1 << 20
#: derived size (from shapes) → what the card says, as a function of its config
CARD_SIZES: dict[str, Callable[[InfMLLMConfig], int]] = {
    "image_size": lambda c: c.image_size, "patch_size": lambda c: c.patch_size,
    "vit_width": lambda c: c.vit_width, "vit_depth": lambda c: c.vit_depth,
    "vit_mlp_hidden": lambda c: c.vit_mlp_hidden, "vocab": lambda c: c.vocab,
    "llm_hidden": lambda c: c.llm_hidden, "llm_layers": lambda c: c.llm_layers,
    "llm_intermediate": lambda c: c.llm_intermediate,
    "llm_kv_width": lambda c: c.llm_hidden // c.llm_heads * (c.llm_kv_heads or c.llm_heads),
}


def config_json_path(location: Path) -> Path | None:
    """The config.json beside a checkpoint (in its folder, or its file's folder), if any."""
    folder = location if location.is_dir() else location.parent
    path = folder / "config.json"
    return path if path.is_file() else None


def read_config_values(path: Path) -> dict[str, Any]:
    """The architecture values a config.json states, under the card's field names."""
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise BadInputError(f"{path}: {path.stat().st_size:,} bytes is not a model config.json")
    raw = read_json(path, "model config")
    if not isinstance(raw, dict):
        raise BadInputError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    rope = raw.get("rope_parameters") or raw.get("rope_scaling")
    if isinstance(rope, dict):
        kind = rope.get("rope_type", rope.get("type", "default"))
        if kind not in ("default", None):
            raise BadInputError(f"{path}: rope scaling {shown(kind)} is not supported by the "
                                "native InfMLLM (plain RoPE only)")
        if "rope_theta" in rope:
            raw = {**raw, "rope_theta": rope["rope_theta"]}
    if rope is not None and not isinstance(rope, dict):
        raise BadInputError(f"{path}: rope_scaling {shown(rope)} is not an object; plain RoPE "
                            "(null) is supported")
    values: dict[str, Any] = {}
    for key, name in CONFIG_KEYS.items():
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool) or \
                not math.isfinite(value):
            raise BadInputError(f"{path}: {key} is {shown(value)}, expected a number")
        values[name] = value
    return values


def compare_config(config: InfMLLMConfig, values: Mapping[str, Any], config_path: Path,
                   card: str) -> None:
    """Refuse a card whose sizes disagree with the checkpoint's config.json."""
    card_values = config.to_dict()
    if card_values.get("llm_kv_heads") is None:
        card_values["llm_kv_heads"] = config.llm_heads
    wrong = [f"{name} {shown(value)} in config.json vs {shown(card_values[name])} in the card"
             for name, value in values.items()
             if name in card_values and not _same(value, card_values[name])]
    if wrong:
        raise BadInputError(f"{config_path} disagrees with model card {card}: {'; '.join(wrong)}"
                            "; use the card made for this checkpoint (weights inspect shows "
                            "which cards fit)")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    return bool(a == b)


@dataclass
class ShapeCheck:
    """What the shapes of a placed checkpoint say against a model's own tensors."""

    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    interpolate: bool = False

    @property
    def ok(self) -> bool:
        """True when every model tensor has a checkpoint tensor of its shape."""
        return not (self.missing or self.extra or self.mismatched)

    def summary(self) -> str:
        """One line with counts and the first few names of each difference."""
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing: {few(self.missing)}")
        if self.extra:
            parts.append(f"{len(self.extra)} unexpected: {few(self.extra)}")
        if self.mismatched:
            parts.append(f"{len(self.mismatched)} of another shape: " + few(
                [f"{k} (checkpoint {list(a)} vs model {list(b)})" for k, a, b in self.mismatched]))
        return "; ".join(parts)


def model_shapes(config: InfMLLMConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor of the model and its shape, from a build on the meta device (no memory)."""
    from infmllm_eval.modeling.model import InfMLLM

    with torch.device("meta"):
        model = InfMLLM(config, attn_implementation="eager")
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def check_shapes(config: InfMLLMConfig, tensors: Mapping[str, Tensor], placement: Placement,
                 card: str, source: str, interpolate_pos: bool) -> ShapeCheck:
    """Compare the placed tensors with the card's model. Sizes that disagree (ViT depth, widths,
    vocabulary …) are refused naming both values; a ViT trained at another image size is
    refused unless ``interpolate_pos``. Missing, unexpected or other mis-shaped tensors are
    returned for the caller's strictness to decide."""
    for key in placement.mapping.values():
        if not tensors[key].is_floating_point():
            raise BadInputError(f"{source}: tensor {key} has dtype "
                                f"{str(tensors[key].dtype).removeprefix('torch.')}; bool, "
                                "integer and complex tensors are not weights (save the "
                                "checkpoint in float32, float16 or bfloat16)")
    pos = placement.mapping.get("visual_encoder.pos_embed")
    if pos is not None:
        shape = tuple(tensors[pos].shape)
        cells = shape[1] - 1 if len(shape) == 3 else -1
        if cells < 1 or round(cells ** 0.5) ** 2 != cells:
            raise BadInputError(f"{source}: {pos} has shape {list(shape)}: not [1, 1 + g*g, "
                                "width] (a CLS position and a square grid of patches)")
    sizes = derived_sizes(tensors, placement)
    wrong = [f"{name} {value} in the checkpoint vs {CARD_SIZES[name](config)} in the card"
             for name, value in sizes.items()
             if name != "image_size" and CARD_SIZES[name](config) != value]
    if wrong:
        raise BadInputError(f"{source} does not fit model card {card}: {'; '.join(wrong)}; use "
                            "the card made for this checkpoint (weights inspect shows which "
                            "cards fit)")
    result = ShapeCheck()
    trained = sizes.get("image_size")
    if trained is not None and trained != config.image_size:
        if not interpolate_pos:
            raise BadInputError(
                f"{source}: the ViT's position embeddings are for {trained}x{trained} images but "
                f"model card {card} runs at {config.image_size}x{config.image_size}; use a card "
                f"for {trained} px, or --model-option interpolate_pos=true to resize them "
                "(bicubic), knowing the model was not trained at that size")
        result.interpolate = True
    own = model_shapes(config)
    for canonical, key in placement.mapping.items():
        if canonical not in own:
            result.extra.append(canonical)
        elif tuple(tensors[key].shape) != own[canonical] and not (
                result.interpolate and canonical == "visual_encoder.pos_embed"):
            result.mismatched.append((canonical, tuple(tensors[key].shape), own[canonical]))
    result.missing = [key for key in own if key not in placement.mapping]
    return result
