"""EVA-CLIP vision transformer as used by InfMLLM (pre-norm, q/v bias, CLS kept, no final norm)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from infmllm_eval.errors import BadInputError


def interpolate_pos_embed(pos_embed: Tensor, grid_size: int) -> Tensor:
    """Resize a [1, 1 + g*g, C] position embedding to a grid_size x grid_size patch grid.

    The CLS entry is kept as is; the patch part is resized bicubically (align_corners=False).
    """
    if pos_embed.dim() != 3 or pos_embed.shape[0] != 1:
        raise BadInputError(f"pos_embed must have shape [1, 1 + g*g, C], got "
                            f"{list(pos_embed.shape)}")
    num_patches = pos_embed.shape[1] - 1
    old = math.isqrt(num_patches)
    if old * old != num_patches:
        raise BadInputError(f"pos_embed has {num_patches} patch positions, not a square grid")
    if old == grid_size:
        return pos_embed
    cls_pos, patch_pos = pos_embed[:, :1], pos_embed[:, 1:]
    width = pos_embed.shape[2]
    grid = patch_pos.reshape(1, old, old, width).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=(grid_size, grid_size), mode="bicubic",
                         align_corners=False).to(pos_embed.dtype)
    patch_pos = grid.permute(0, 2, 3, 1).reshape(1, grid_size * grid_size, width)
    return torch.cat((cls_pos, patch_pos), dim=1)


class PatchEmbed(nn.Module):
    """Non-overlapping patches via Conv2d(kernel = stride = patch) → [B, N, C]."""

    def __init__(self, patch_size: int, width: int, in_chans: int = 3) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, width, kernel_size=patch_size, stride=patch_size)

    def forward(self, pixels: Tensor) -> Tensor:
        if pixels.dim() != 4:
            raise BadInputError(f"images must be [B, 3, H, W], got {list(pixels.shape)}")
        height, width = pixels.shape[-2:]
        if height != width or height % self.patch_size:
            raise BadInputError(f"image size {height}x{width} must be square and a multiple of "
                                f"the patch size {self.patch_size}")
        out: Tensor = self.proj(pixels)
        return out.flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention: qkv Linear without bias + (q_bias, 0, v_bias).

    `attn_implementation` "sdpa" uses F.scaled_dot_product_attention; "eager" the explicit
    softmax(q·scale @ kᵀ) @ v of the original (bit-identical to it in fp32).
    """

    def __init__(self, width: int, heads: int, attn_implementation: str = "sdpa") -> None:
        super().__init__()
        if attn_implementation not in ("sdpa", "eager"):
            raise BadInputError(f"attn_implementation must be 'sdpa' or 'eager', got "
                                f"{attn_implementation!r}")
        self.attn_implementation = attn_implementation
        self.heads = heads
        self.head_dim = width // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(width))
        self.v_bias = nn.Parameter(torch.zeros(width))
        self.proj = nn.Linear(width, width)

    def qkv_bias(self) -> Tensor:
        """The concatenated bias (q_bias, zeros, v_bias)."""
        return torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))

    def split_qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q, k, v, each [B, heads, N, head_dim]."""
        batch, tokens, _ = x.shape
        qkv = F.linear(x, self.qkv.weight, self.qkv_bias())
        qkv = qkv.reshape(batch, tokens, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]

    def forward(self, x: Tensor) -> Tensor:
        batch, tokens, width = x.shape
        q, k, v = self.split_qkv(x)
        if self.attn_implementation == "eager":
            out = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        out = out.transpose(1, 2).reshape(batch, tokens, width)
        result: Tensor = self.proj(out)
        return result


class Mlp(nn.Module):
    """fc1 → GELU (exact) → fc2."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.fc2(self.act(self.fc1(x)))
        return out


class Block(nn.Module):
    """Pre-norm transformer block without layer-scale."""

    def __init__(self, width: int, heads: int, mlp_hidden: int, ln_eps: float,
                 attn_implementation: str = "sdpa") -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=ln_eps)
        self.attn = Attention(width, heads, attn_implementation)
        self.norm2 = nn.LayerNorm(width, eps=ln_eps)
        self.mlp = Mlp(width, mlp_hidden)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        out: Tensor = x + self.mlp(self.norm2(x))
        return out


class EvaViT(nn.Module):
    """EVA-CLIP ViT: returns all tokens [B, 1 + g*g, width], CLS first, without a final norm."""

    def __init__(self, image_size: int, patch_size: int, width: int, depth: int, heads: int,
                 mlp_hidden: int, ln_eps: float = 1e-6, attn_implementation: str = "sdpa",
                 ) -> None:
        super().__init__()
        if width % heads:
            raise BadInputError(f"ViT width {width} is not divisible by heads {heads}")
        self.width = width
        self.grid_size = image_size // patch_size
        self.patch_embed = PatchEmbed(patch_size, width)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid_size ** 2, width))
        self.blocks = nn.ModuleList(Block(width, heads, mlp_hidden, ln_eps, attn_implementation)
                                    for _ in range(depth))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Random init (truncated normal, std 0.02) so that untrained models are non-trivial."""
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for block in self.blocks:
            assert isinstance(block, Block)
            nn.init.trunc_normal_(block.attn.q_bias, std=0.02)
            nn.init.trunc_normal_(block.attn.v_bias, std=0.02)

    def forward(self, pixels: Tensor) -> Tensor:
        x = self.patch_embed(pixels.to(self.patch_embed.proj.weight.dtype))
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1)
        grid = math.isqrt(x.shape[1] - 1)
        pos: Tensor = self.pos_embed
        if grid != self.grid_size:
            pos = interpolate_pos_embed(pos, grid)
        x = x + pos
        for block in self.blocks:
            x = block(x)
        out: Tensor = x
        return out
