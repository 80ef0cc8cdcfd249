"""InfMLLM pool-adapter: average-pool the ViT patch grid to p x p, then a 2-layer GELU MLP."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from infmllm_eval.errors import BadInputError


def pool_patch_grid(features: Tensor, out_size: int) -> Tensor:
    """Drop CLS, average non-overlapping blocks of the s x s grid down to out_size x out_size.

    `features` is [B, 1 + s*s, C] (CLS first); returns [B, out_size**2, C], row-major.
    Equal to avg_pool2d(kernel = stride = s / out_size); s % out_size != 0 is an error.
    """
    if features.dim() != 3:
        raise BadInputError(f"ViT features must be [B, 1 + s*s, C], got {list(features.shape)}")
    batch, tokens, width = features.shape
    side = math.isqrt(tokens - 1) if tokens > 1 else 0
    if side == 0 or side * side != tokens - 1:
        raise BadInputError(f"ViT features have {tokens - 1} patch tokens, not a square grid")
    if side % out_size:
        raise BadInputError(f"cannot pool a {side}x{side} patch grid to {out_size}x{out_size}: "
                            f"{side} is not a multiple of {out_size}")
    k = side // out_size
    grid = features[:, 1:].reshape(batch, side, side, width).permute(0, 3, 1, 2)
    pooled = F.avg_pool2d(grid, kernel_size=k, stride=k)
    return pooled.flatten(2).transpose(1, 2)


class PoolAdapter(nn.Module):
    """Pool to out_size² tokens, then Linear(vit_width→hidden) → GELU → Linear(hidden→hidden)."""

    def __init__(self, vit_width: int, llm_hidden: int, out_size: int) -> None:
        super().__init__()
        self.out_size = out_size
        self.mlp = nn.Sequential(nn.Linear(vit_width, llm_hidden), nn.GELU(),
                                 nn.Linear(llm_hidden, llm_hidden))

    def forward(self, features: Tensor) -> Tensor:
        pooled = pool_patch_grid(features, self.out_size)
        out: Tensor = self.mlp(pooled.to(next(self.mlp.parameters()).dtype))
        return out
