"""Build InfMLLM from a placed checkpoint without a random init or an fp32 copy.

The network is built on the meta device (no memory), then each parameter is materialised once,
directly in its target dtype and on its target device, from the (memory-mapped) checkpoint
tensor: a CPU tensor already in the target dtype is used as it is (its pages are read when the
model first touches them); anything else is converted in one copy. ln_vision and the RoPE
frequencies stay fp32, as `InfMLLM.to_dtype` leaves them."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from infmllm_eval.errors import BadInputError
from infmllm_eval.modeling.config import InfMLLMConfig
from infmllm_eval.modeling.eva_vit import interpolate_pos_embed
from infmllm_eval.modeling.layout import Placement
from infmllm_eval.modeling.model import InfMLLM

FP32_PREFIXES = ("ln_vision.",)
POS_EMBED = "visual_encoder.pos_embed"


def build_lean(config: InfMLLMConfig, tensors: Mapping[str, Tensor], placement: Placement,
               device: torch.device, dtype: torch.dtype, attn_implementation: str = "sdpa",
               source: str = "checkpoint") -> InfMLLM:
    """The model with every tensor of ``placement`` loaded (the caller checked shapes and
    dtypes: arch_check.check_shapes); a pos_embed for another grid is resized bicubically."""
    with torch.device("meta"):
        model = InfMLLM(config, attn_implementation=attn_implementation)
    state: dict[str, Tensor] = {}
    for canonical, key in placement.mapping.items():
        value = tensors[key]
        target = torch.float32 if canonical.startswith(FP32_PREFIXES) else dtype
        if canonical == POS_EMBED and value.shape[1] != config.grid_size ** 2 + 1:
            try:
                value = interpolate_pos_embed(value.float(), config.grid_size)
            except BadInputError as exc:
                raise BadInputError(f"{source}: {key}: {exc}") from None
        state[canonical] = value.to(device=device, dtype=target)
    model.load_state_dict(state, strict=True, assign=True)
    _rebuild_buffers(model, device)
    return model.eval()


def _rebuild_buffers(model: InfMLLM, device: torch.device) -> None:
    """Recompute the non-persistent buffers (RoPE inv_freq), which a checkpoint does not hold
    and the meta build left without data."""
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    llama = model.lm_model.model
    llama.rotary_emb = LlamaRotaryEmbedding(model.lm_model.config).to(device)
    left = [name for name, tensor in [*model.named_parameters(), *model.named_buffers()]
            if tensor.is_meta]
    if left:  # a new transformers version added state this code does not know how to build
        raise RuntimeError(f"tensors left without data after loading: {', '.join(left[:5])}")


def build_random(config: InfMLLMConfig, device: torch.device, dtype: torch.dtype,
                 attn_implementation: str = "sdpa", seed: int = 0) -> InfMLLM:
    """The model with seeded random weights (built in fp32, moved, then cast): tiny test
    models, and what a partial ``strict=false`` load leaves without a checkpoint tensor."""
    torch.manual_seed(seed)
    model = InfMLLM(config, attn_implementation=attn_implementation).to(device)
    return (model.to_dtype(dtype) if dtype != torch.float32 else model).eval()
