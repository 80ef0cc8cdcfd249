"""The InfMLLM network: EVA ViT → ln_vision → pool-adapter → LLaMA (original state-dict names)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import LlamaForCausalLM

from infmllm_eval.errors import BadInputError
from infmllm_eval.modeling.config import InfMLLMConfig
from infmllm_eval.modeling.eva_vit import EvaViT
from infmllm_eval.modeling.pool_adapter import PoolAdapter


class FP32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32 whatever the input/parameter dtype; output in the input dtype."""

    def forward(self, x: Tensor) -> Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        out = F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps)
        return out.to(x.dtype)


class InfMLLM(nn.Module):
    """InfMLLM with state-dict keys visual_encoder.*, ln_vision.*, pooler.mlp.{0,2}.*, lm_model.*.

    Build on CPU in fp32, or call `to_dtype(torch.bfloat16)` (ln_vision stays fp32).
    `attn_implementation` ("sdpa" or "eager") applies to both the ViT and LLaMA.
    """

    def __init__(self, config: InfMLLMConfig, attn_implementation: str = "sdpa") -> None:
        super().__init__()
        self.config = config
        self.visual_encoder = EvaViT(config.image_size, config.patch_size, config.vit_width,
                                     config.vit_depth, config.vit_heads, config.vit_mlp_hidden,
                                     config.vit_ln_eps, attn_implementation)
        self.ln_vision = FP32LayerNorm(config.vit_width, eps=config.ln_vision_eps)
        self.pooler = PoolAdapter(config.vit_width, config.llm_hidden, config.pool_out_size)
        self.lm_model = LlamaForCausalLM(config.llama_config(attn_implementation))

    def to_dtype(self, dtype: torch.dtype) -> InfMLLM:
        """Cast to `dtype`, except ln_vision and the RoPE inv_freq buffers, which stay fp32.

        (transformers' from_pretrained(dtype=...) also leaves inv_freq in fp32.)
        """
        rope = {name: buf.detach().float().clone() for name, buf in self.named_buffers()
                if name.endswith("inv_freq")}
        norm = {name: value.detach().float().clone()
                for name, value in self.ln_vision.state_dict().items()}
        self.to(dtype)
        self.ln_vision.float()
        self.ln_vision.load_state_dict(norm)  # its fp32 values, not rounded through `dtype`
        for name, buf in rope.items():
            owner, _, attr = name.rpartition(".")
            setattr(self.get_submodule(owner), attr, buf.to(self.device))
        return self

    def _embedding(self) -> nn.Embedding:
        embedding = self.lm_model.get_input_embeddings()
        assert isinstance(embedding, nn.Embedding)
        return embedding

    @property
    def llm_dtype(self) -> torch.dtype:
        """Dtype of the language model's embeddings."""
        return self._embedding().weight.dtype

    @property
    def device(self) -> torch.device:
        """Device of the language model's embeddings."""
        return self._embedding().weight.device

    def vision_features(self, pixels: Tensor) -> Tensor:
        """ViT output after ln_vision (fp32 compute): [B, 1 + g*g, vit_width], CLS first."""
        features: Tensor = self.ln_vision(self.visual_encoder(pixels))
        return features

    def encode_images(self, pixels: Tensor) -> Tensor:
        """Visual tokens [B, pool_out_size**2, llm_hidden] for normalized images [B, 3, S, S]."""
        return self.pool_features(self.vision_features(pixels))

    def pool_features(self, features: Tensor) -> Tensor:
        """Pool-adapter on (cached) ln_vision features → visual tokens in the LLM dtype."""
        tokens: Tensor = self.pooler(features)
        return tokens.to(self.llm_dtype)

    def embed_tokens(self, ids: Tensor | Sequence[int]) -> Tensor:
        """LLaMA input embeddings of token ids (a tensor of any shape, or a list → [L, hidden])."""
        if not isinstance(ids, Tensor):
            ids = torch.tensor(list(ids), dtype=torch.long, device=self.device)
        embeddings: Tensor = self._embedding()(ids.to(self.device))
        return embeddings

    def assemble_multitask(self, before_ids: Sequence[int], visual: Tensor,
                           after_ids: Sequence[int]) -> Tensor:
        """[BOS] + embed(before) + visual + embed(after) for one sample → [L, hidden]."""
        if visual.dim() != 2 or visual.shape[1] != self.config.llm_hidden:
            raise BadInputError(f"visual tokens must be [n, {self.config.llm_hidden}], got "
                                f"{list(visual.shape)}")
        head = self.embed_tokens([self.config.bos_id, *before_ids])
        tail = self.embed_tokens(list(after_ids))
        return torch.cat((head, visual.to(device=head.device, dtype=head.dtype), tail), dim=0)

    def forward_embeds(self, inputs_embeds: Tensor, attention_mask: Tensor,
                       position_ids: Tensor | None = None) -> Tensor:
        """LLM logits [B, L, vocab] for [B, L, hidden] embeddings (left padding allowed)."""
        if position_ids is None:
            position_ids = default_position_ids(attention_mask)
        out = self.lm_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                            position_ids=position_ids, use_cache=False)
        logits: Tensor = out.logits
        return logits

    def left_pad(self, sequences: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """Stack [L_i, hidden] embeddings, left-padded with the pad embedding → (embeds, mask)."""
        return left_pad(sequences, self.embed_tokens([self.config.pad_id])[0])


def default_position_ids(attention_mask: Tensor) -> Tensor:
    """cumsum(mask) - 1, clamped at 0 (pads on the left get position 0)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def left_pad(sequences: Sequence[Tensor], pad: Tensor) -> tuple[Tensor, Tensor]:
    """Left-pad [L_i, hidden] tensors with `pad` ([hidden]) → ([B, L, hidden], mask [B, L])."""
    if not sequences:
        raise BadInputError("left_pad needs at least one sequence")
    length = max(seq.shape[0] for seq in sequences)
    first = sequences[0]
    embeds = pad.to(device=first.device, dtype=first.dtype).expand(
        len(sequences), length, first.shape[-1]).clone()
    mask = torch.zeros(len(sequences), length, dtype=torch.long, device=first.device)
    for row, seq in enumerate(sequences):
        if seq.shape[0]:
            embeds[row, length - seq.shape[0]:] = seq
            mask[row, length - seq.shape[0]:] = 1
    return embeds, mask
