"""Image preprocessing of the two prompt styles: squash-resize, or pad-to-square then resize."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
TRANSFORMS = ("squash", "expand2square")


def expand2square(img: Image.Image, fill: tuple[int, int, int]) -> Image.Image:
    """Pad the short side equally on both sides (LLaVA's expand2square): the image sits at
    ((side - w) // 2, (side - h) // 2) on a side x side canvas of ``fill``."""
    width, height = img.size
    if width == height:
        return img
    side = max(width, height)
    canvas = Image.new(img.mode, (side, side), fill)
    canvas.paste(img, ((side - width) // 2, (side - height) // 2))
    return canvas


def preprocess(img: Image.Image, size: int, transform: str) -> torch.Tensor:
    """RGB PIL image → normalised float tensor [3, size, size] (bicubic resize, CLIP stats)."""
    if transform == "expand2square":
        img = expand2square(img, tuple(int(m * 255) for m in CLIP_MEAN))  # type: ignore[arg-type]
    elif transform != "squash":
        raise ValueError(f"unknown image transform {transform!r}; expected one of {TRANSFORMS}")
    resized = img.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    array = np.asarray(resized, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array).permute(2, 0, 1)
    mean = torch.tensor(CLIP_MEAN).view(3, 1, 1)
    std = torch.tensor(CLIP_STD).view(3, 1, 1)
    return (tensor - mean) / std
