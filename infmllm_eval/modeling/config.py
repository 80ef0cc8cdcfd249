"""InfMLLM sizes: a frozen, validated dataclass and its LLaMA config."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infmllm_eval.errors import BadInputError, shown

if TYPE_CHECKING:
    from transformers import LlamaConfig

ATTN_IMPLEMENTATIONS = ("sdpa", "eager")


@dataclass(frozen=True)
class InfMLLMConfig:
    """Every size of the model; the defaults after `vocab` are optional keys.

    rms_norm_eps defaults to transformers' LlamaConfig default (1e-6, what the parity reference
    uses); a real Vicuna-7B v1.5 LLM needs 1e-5, as in its own config.json.
    """

    image_size: int
    patch_size: int
    vit_width: int
    vit_depth: int
    vit_heads: int
    vit_mlp_ratio: float
    pool_out_size: int
    llm_hidden: int
    llm_layers: int
    llm_heads: int
    llm_intermediate: int
    vocab: int
    vit_ln_eps: float = 1e-6
    ln_vision_eps: float = 1e-5
    llm_kv_heads: int | None = None
    rms_norm_eps: float = 1e-6
    max_position_embeddings: int = 4096
    rope_theta: float = 10000.0
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = 0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, (int, float)) and value <= 0 and not f.name.endswith("_id"):
                raise BadInputError(f"model config: {f.name} must be > 0, got {shown(value)}")
        if self.image_size % self.patch_size:
            raise BadInputError(f"model config: image_size {self.image_size} is not a multiple "
                                f"of patch_size {self.patch_size}")
        if self.vit_width % self.vit_heads:
            raise BadInputError(f"model config: vit_width {self.vit_width} is not divisible by "
                                f"vit_heads {self.vit_heads}")
        if self.grid_size % self.pool_out_size:
            raise BadInputError(f"model config: the {self.grid_size}x{self.grid_size} patch grid "
                                f"cannot be average-pooled to pool_out_size {self.pool_out_size} "
                                "(grid % pool_out_size != 0)")
        if self.llm_hidden % self.llm_heads:
            raise BadInputError(f"model config: llm_hidden {self.llm_hidden} is not divisible by "
                                f"llm_heads {self.llm_heads}")
        if self.llm_kv_heads is not None and self.llm_heads % self.llm_kv_heads:
            raise BadInputError(f"model config: llm_heads {self.llm_heads} is not a multiple of "
                                f"llm_kv_heads {self.llm_kv_heads}")
        for name in ("bos_id", "eos_id", "pad_id"):
            if not 0 <= getattr(self, name) < self.vocab:
                raise BadInputError(f"model config: {name} {getattr(self, name)} is outside the "
                                    f"vocabulary (size {self.vocab})")

    @property
    def grid_size(self) -> int:
        """Patches per side of the ViT input."""
        return self.image_size // self.patch_size

    @property
    def vit_mlp_hidden(self) -> int:
        """Hidden size of the ViT MLP: int(width * mlp_ratio), as in the original."""
        return int(self.vit_width * self.vit_mlp_ratio)

    @property
    def num_visual_tokens(self) -> int:
        """Visual tokens per image: pool_out_size squared."""
        return self.pool_out_size * self.pool_out_size

    def parameter_count(self) -> int:
        """The number of parameters (exact up to biases and norms: a sizing estimate)."""
        w, h = self.vit_width, self.llm_hidden
        kv = h // self.llm_heads * (self.llm_kv_heads or self.llm_heads)
        vit = (3 * self.patch_size ** 2 * w + (self.grid_size ** 2 + 1) * w
               + self.vit_depth * (4 * w * w + 2 * w * self.vit_mlp_hidden))
        pooler = w * h + h * h
        llm = 2 * self.vocab * h + self.llm_layers * (2 * h * h + 2 * h * kv
                                                      + 3 * h * self.llm_intermediate)
        return vit + pooler + llm

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "model config") -> InfMLLMConfig:
        """Build from a JSON-like mapping; unknown/missing keys, wrong types → BadInputError."""
        if not isinstance(data, Mapping):
            raise BadInputError(f"{source}: expected an object, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise BadInputError(f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; "
                                f"known keys: {', '.join(fields)}")
        missing = [name for name, f in fields.items() if name not in data
                   and f.default is dataclasses.MISSING]
        if missing:
            raise BadInputError(f"{source}: missing key(s) {', '.join(map(repr, missing))}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            values[key] = _check_type(source, key, fields[key].type, value)
        try:
            return cls(**values)
        except BadInputError as exc:  # consistency checks: name where the config came from
            raise BadInputError(f"{source}: {str(exc).removeprefix('model config: ')}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, suitable for JSON (round-trips through from_dict)."""
        return dataclasses.asdict(self)

    def llama_config(self, attn_implementation: str = "sdpa") -> LlamaConfig:
        """The transformers.LlamaConfig of the language model (built locally, no download)."""
        if attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise BadInputError(f"attn_implementation must be one of {ATTN_IMPLEMENTATIONS}, "
                                f"got {attn_implementation!r}")
        from transformers import LlamaConfig as _LlamaConfig

        config = _LlamaConfig(
            vocab_size=self.vocab,
            hidden_size=self.llm_hidden,
            intermediate_size=self.llm_intermediate,
            num_hidden_layers=self.llm_layers,
            num_attention_heads=self.llm_heads,
            num_key_value_heads=self.llm_kv_heads or self.llm_heads,
            hidden_act="silu",
            max_position_embeddings=self.max_position_embeddings,
            rms_norm_eps=self.rms_norm_eps,
            rope_parameters={"rope_type": "default", "rope_theta": float(self.rope_theta)},
            bos_token_id=self.bos_id,
            eos_token_id=self.eos_id,
            pad_token_id=self.pad_id,
            tie_word_embeddings=False,
        )
        config._attn_implementation = attn_implementation
        return config


def _check_type(source: str, key: str, annotation: object, value: Any) -> Any:
    """Validate one value against its (string) field annotation; ints are accepted as floats."""
    text = str(annotation)
    if value is None and "None" in text:
        return None
    if text.startswith("int"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        expected = "an integer"
    else:
        if (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value)):
            return float(value)
        expected = "a finite number"
    raise BadInputError(f"{source}: key {shown(key)} must be {expected}"
                        f"{' or null' if 'None' in text else ''}, got {shown(value)}")
